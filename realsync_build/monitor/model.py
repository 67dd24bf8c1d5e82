"""Mode 1's model adapter: the ONLY place the monitor touches a sync model.

:func:`load_model` returns a :class:`MonitorModel` (a StreamSync checkpoint from ``realsync train``,
streaming head) or an :class:`ApaModel` (``--model sparsesync-...``, snapshot probabilities
averaged over the hops): its input spec (fps, sample rate, frame
size, window), ``reset()`` (drop the streaming state) and ``hop(video, audio)`` -> class
probabilities over the 21 offsets.  A change of the model API touches this file only.

Sign: the project's one convention (``streamsync.task``).  A class offset is ``audio_start -
video_start`` of the windows the model compares, so ``+0.4 s`` (class 12) means the audio played
with a frame comes from 0.4 s later in the source: sound *before* picture, the audio leads;
``-0.4 s`` (class 8): the audio lags (is delayed by) 0.4 s.  The monitor reports the same
number in ms, ``offset_ms = 1000 * class offset`` (``OFFSETS_MS``): ``-400`` = audio lags 400 ms.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from realsync_build.core.avformat import FPS, OFFSETS_S, SAMPLE_RATE, SHORT_SIDE
from realsync_build.streamsync.task import WINDOW_S

# The offset of each class in ms, the sign of offset_sec (class k -> OFFSETS_MS[k]; class 8 -> -400: audio lags).
OFFSETS_MS = np.round(1000.0 * OFFSETS_S.astype(np.float64), 1) + 0.0  # + 0.0: no -0.0


class ModelUnavailable(RuntimeError):
    """The checkpoint or the named model cannot be loaded (one line for the user)."""


@dataclass
class InputSpec:
    fps: int
    sample_rate: int
    video_size: int
    window_s: float


class MonitorModel:
    """A StreamSync model run one hop at a time with its streaming state.

    A live stream never ends, so the state is kept bounded: a token-buffer state (the trf
    head's ``(1, n, D)`` tokens) keeps its newest ``max_tokens`` (the checkpoint's training
    history H by default).  Without the bound the buffer, and each hop's cost, would grow for
    as long as the stream runs, and after an offset change hours of old tokens would outvote
    the new ones.  An LSTM head's state is fixed-size and is left alone.
    """

    def __init__(self, model: torch.nn.Module, spec: InputSpec, name: str, max_tokens: int | None = None) -> None:
        self.model, self.spec, self.name, self.max_tokens = model.eval(), spec, name, max_tokens
        self.state = None
        self.reset()

    def reset(self) -> None:
        self.state = self.model.init_state(1)

    @torch.no_grad()
    def hop(self, video: np.ndarray, audio: np.ndarray) -> np.ndarray:
        """video ``(F, S, S, 3)`` uint8, audio ``(L,)`` float32 -> probabilities ``(21,)`` (streaming head)."""
        v = torch.from_numpy(np.ascontiguousarray(video))[None]
        a = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))[None]
        _snapshot, stream, state = self.model.step(self.state, v, a)
        if self.max_tokens and isinstance(state, torch.Tensor) and state.dim() == 3 and state.shape[1] > self.max_tokens:
            state = state[:, -self.max_tokens :]
        self.state = state
        return torch.softmax(stream[0].float(), dim=-1).numpy()


def _load_streamsync(path: Path) -> MonitorModel:
    from realsync_build.streamsync.model import ModelConfig, StreamSync

    if not path.is_file():
        raise ModelUnavailable(f"checkpoint {path} not found")
    from realsync_build.models.safe_load import UnsafeCheckpointError, safe_load

    try:  # torch.load(weights_only=True); its advice to load with weights_only=False is never repeated
        ck = safe_load(path, what="checkpoint", map_location="cpu")
    except UnsafeCheckpointError as exc:
        raise ModelUnavailable(str(exc)) from None
    if not isinstance(ck, dict) or "model" not in ck or "model_config" not in ck:
        raise ModelUnavailable(f"{path} is not a realsync StreamSync checkpoint (no model / model_config)")
    cfg = ModelConfig.from_dict(ck["model_config"])
    model = StreamSync(cfg)
    try:
        model.load_state_dict(ck["model"])
    except RuntimeError as exc:
        raise ModelUnavailable(f"{path}: weights do not match its model_config: {str(exc).splitlines()[0]}") from exc
    spec = InputSpec(fps=int(cfg.fps), sample_rate=int(cfg.sample_rate), video_size=int(cfg.video_size), window_s=float(cfg.window_s))
    history = getattr(cfg, "history", None)
    return MonitorModel(model, spec, f"{cfg.name}/{cfg.stream_head} ({path.name})", max_tokens=int(history) if history else None)


class ApaModel:
    """A bare SparseSync network (no streaming head): each hop's snapshot probabilities, averaged
    over the hops since the last reset (APA, the paper's accumulated-probability baseline)."""

    def __init__(self, net: torch.nn.Module, to_inputs, spec: InputSpec, name: str) -> None:
        self.net, self.to_inputs, self.spec, self.name = net.eval(), to_inputs, spec, name
        self.sum: np.ndarray | None = None
        self.n = 0

    def reset(self) -> None:
        self.sum, self.n = None, 0

    @torch.no_grad()
    def hop(self, video: np.ndarray, audio: np.ndarray) -> np.ndarray:
        v = torch.from_numpy(np.ascontiguousarray(video))[None]
        a = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))[None]
        vis, aud = self.to_inputs(v, a)
        p = torch.softmax(self.net(vis, aud)[0].float(), dim=-1).numpy().astype(np.float64)
        self.sum = p if self.sum is None else self.sum + p
        self.n += 1
        return self.sum / self.n


def _load_named(name: str) -> ApaModel:
    """``sparsesync-...``: a public SparseSync checkpoint run with APA (the SparseSync loader, imported lazily).

    SparseSync's published test-time inputs: 25 fps, short side 256 px centre-cropped to 224,
    16 kHz audio; the loader's :func:`model_inputs` applies the crop, normalisation and spectrogram.
    """
    try:
        from realsync_build.streamsync.sparsesync import load_sparsesync  # type: ignore[import-not-found]
        from realsync_build.streamsync.sparsesync.transforms import model_inputs  # type: ignore[import-not-found]
    except ImportError as exc:
        raise ModelUnavailable(f"--model {name}: the SparseSync loader (realsync_build.streamsync.sparsesync) is not available in this build") from exc
    try:
        net = load_sparsesync(name)
    except Exception as exc:  # noqa: BLE001 - whatever it raises (missing download, bad file), the user gets one line
        raise ModelUnavailable(f"--model {name}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc
    spec = InputSpec(fps=FPS, sample_rate=SAMPLE_RATE, video_size=SHORT_SIDE, window_s=WINDOW_S)
    return ApaModel(net, lambda v, a: model_inputs(v, a, input_size=224), spec, f"{name} (APA)")


def load_model(checkpoint: str | Path | None = None, name: str | None = None) -> MonitorModel | ApaModel:
    if checkpoint is not None:
        return _load_streamsync(Path(checkpoint))
    if name is not None:
        return _load_named(name)
    raise ModelUnavailable("give --checkpoint or --model")


EXPECTATION_RADIUS = 2  # classes either side of the top class that the expectation weighs (+/-0.4 s)


def expected_offset_ms(probs: np.ndarray, radius: int | None = EXPECTATION_RADIUS) -> float:
    """The probability-weighted offset (ms; + audio leads, - audio lags), finer than the 0.2 s classes.

    Weighted over the top class and its ``radius`` neighbours on each side (renormalised), so
    that probability left on far classes (a diffuse or two-peaked output) does not drag a
    confident peak towards 0; ``radius=None`` weighs all 21 classes.
    """
    p = np.asarray(probs, np.float64)
    if radius is not None:
        k = int(np.argmax(p))
        lo, hi = max(0, k - radius), min(len(p), k + radius + 1)
        w = p[lo:hi]
        return float(np.dot(w, OFFSETS_MS[lo:hi]) / max(w.sum(), 1e-12)) + 0.0
    return float(np.dot(p, OFFSETS_MS)) + 0.0


def class_offset_ms(probs: np.ndarray) -> float:
    return float(OFFSETS_MS[int(np.argmax(probs))]) + 0.0
