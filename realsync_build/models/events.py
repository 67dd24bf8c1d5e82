"""AudioSet event taggers behind :class:`~realsync_build.models.base.EventTagger`.

- :class:`PannsTagger`: panns-inference's ``Cnn14`` model class with our own strict loader
  (never its ``AudioTagging`` wrapper, which re-downloads checkpoints under 300 MB).
  Default: the 16 kHz settings of ``Cnn14_16k_mAP=0.438`` (window 512, hop 160, 64 mel,
  50..8000 Hz) so 16 kHz clips need no resampling; ``Cnn14_mAP=0.431`` at 32 kHz as an
  option (clip audio is resampled 16 -> 32 kHz).
- :class:`YamnetTagger`: YAMNet TFLite on ``ai-edge-litert`` (optional extra ``yamnet``):
  0.975 s frames (15600 samples), every ``frame_hop_s``; a window's scores are the mean of
  the frames inside it.

panns-inference runs ``wget`` at import time unless ``~/panns_data/class_labels_indices.csv``
exists: :func:`import_panns_models` seeds it from the registry's copy first.
"""

from __future__ import annotations

import contextlib
import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch

from realsync_build.models.weights import WeightsLayoutError, load_strict, no_init, read_checkpoint

SAMPLE_RATE_HZ = 16000


@dataclass(frozen=True)
class PannsConfig:
    registry_name: str
    sample_rate: int
    window_size: int
    hop_size: int
    mel_bins: int
    fmin: int
    fmax: int
    classes_num: int = 527


PANNS_16K = PannsConfig("panns-cnn14-16k", 16000, 512, 160, 64, 50, 8000)
PANNS_32K = PannsConfig("panns-cnn14", 32000, 1024, 320, 64, 50, 14000)


def read_labels(csv_path: str | Path) -> tuple[list[str], list[str]]:
    """(display names, mids) from an ``index,mid,display_name`` CSV (AudioSet / YAMNet class map)."""
    try:
        with open(csv_path, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
        header = [c.strip() for c in rows[0][:3]] if rows else []
        body = [r for r in rows[1:] if r]
        indices = [int(r[0]) for r in body]
        labels, mids = [r[2] for r in body], [r[1] for r in body]
    except (OSError, UnicodeDecodeError, ValueError, IndexError) as exc:
        raise WeightsLayoutError(f"{csv_path}: not a class map CSV ({exc})") from exc
    if header != ["index", "mid", "display_name"]:
        raise WeightsLayoutError(f"{csv_path}: expected a header index,mid,display_name")
    if indices != list(range(len(body))):
        raise WeightsLayoutError(f"{csv_path}: indices are not 0..{len(body) - 1} in order")
    return labels, mids


def window_starts(duration_s: float, window_s: float, hop_s: float) -> np.ndarray:
    """Window starts every ``hop_s``; one more window ending at the clip end if the last leaves a tail of at least ``hop_s / 2``."""
    if window_s <= 0 or hop_s <= 0:
        raise ValueError("window and hop must be positive")
    if duration_s <= window_s:
        return np.zeros(1)
    starts = np.arange(0.0, duration_s - window_s + 1e-9, hop_s)
    if duration_s - (starts[-1] + window_s) >= hop_s / 2:
        starts = np.append(starts, duration_s - window_s)
    return np.round(starts, 6)


def _segments(audio: np.ndarray, sr: int, starts: np.ndarray, window_s: float) -> np.ndarray:
    n = int(round(window_s * sr))
    out = np.zeros((len(starts), n), dtype=np.float32)
    for i, s in enumerate(starts):
        a = int(round(s * sr))
        seg = audio[a : a + n]
        out[i, : len(seg)] = seg
    return out


def import_panns_models(models_root: Path | None = None):
    """``panns_inference.models``, imported only after its labels file is in place (no ``wget``)."""
    from realsync_build.models.registry import seed_panns_labels

    seed_panns_labels(models_root)
    import panns_inference.models as pm

    return pm


def build_cnn14(cfg: PannsConfig, models_root: Path | None = None, init: bool = True) -> torch.nn.Module:
    """panns-inference's Cnn14 with ``cfg``'s front end; ``init=False`` skips the random init (a load follows)."""
    pm = import_panns_models(models_root)
    with contextlib.nullcontext() if init else no_init():
        return pm.Cnn14(
            sample_rate=cfg.sample_rate,
            window_size=cfg.window_size,
            hop_size=cfg.hop_size,
            mel_bins=cfg.mel_bins,
            fmin=cfg.fmin,
            fmax=cfg.fmax,
            classes_num=cfg.classes_num,
        )


def load_cnn14(checkpoint: str | Path | Mapping, cfg: PannsConfig = PANNS_16K, models_root: Path | None = None, trusted: bool = False) -> torch.nn.Module:
    """Cnn14 with a PANNs checkpoint (``{"model": state_dict, ...}`` as PANNs ships it), strictly checked."""
    ck = read_checkpoint(checkpoint, cfg.registry_name, trusted) if isinstance(checkpoint, (str, Path)) else checkpoint
    if not isinstance(ck, Mapping) or not isinstance(ck.get("model"), Mapping):
        raise WeightsLayoutError(f"{cfg.registry_name}: expected a PANNs checkpoint (a dict with key 'model' holding the state dict)")
    model = build_cnn14(cfg, models_root, init=False)
    load_strict(model, ck["model"], cfg.registry_name)
    return model.eval()


class PannsTagger:
    """PANNs Cnn14 over windows; scores are the clip-wise sigmoid outputs (527 AudioSet classes)."""

    def __init__(self, model: torch.nn.Module, cfg: PannsConfig, labels: Sequence[str], mids: Sequence[str], device: str = "cpu", batch_size: int = 8) -> None:
        if len(labels) != cfg.classes_num:
            raise ValueError(f"{cfg.registry_name}: {len(labels)} labels for {cfg.classes_num} classes")
        self.cfg = cfg
        self.name = "panns" if cfg.sample_rate == 16000 else "panns-32k"
        self.labels, self.mids = list(labels), list(mids)
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.batch_size = max(1, int(batch_size))

    def _resample(self, audio: np.ndarray) -> np.ndarray:
        if self.cfg.sample_rate == SAMPLE_RATE_HZ:
            return audio
        from scipy.signal import resample_poly

        g = np.gcd(self.cfg.sample_rate, SAMPLE_RATE_HZ)
        return resample_poly(audio, self.cfg.sample_rate // g, SAMPLE_RATE_HZ // g).astype(np.float32)

    @torch.inference_mode()
    def tag(self, audio: np.ndarray, window_s: float, hop_s: float) -> tuple[np.ndarray, np.ndarray]:
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        if audio.size == 0:
            raise ValueError("no audio to tag")
        starts = window_starts(len(audio) / SAMPLE_RATE_HZ, window_s, hop_s)
        x = self._resample(audio)
        segs = _segments(x, self.cfg.sample_rate, starts, window_s)
        out = []
        for i in range(0, len(segs), self.batch_size):
            batch = torch.from_numpy(segs[i : i + self.batch_size]).to(self.device)
            out.append(self.model(batch)["clipwise_output"].float().cpu().numpy())
        return starts, np.concatenate(out)


@contextlib.contextmanager
def quiet_native_stderr():
    """Silence what native code writes to file descriptor 2 for the duration (e.g. TFLite's INFO
    lines, which no Python logging setting reaches). Python-level errors still surface as exceptions."""
    import os
    import sys

    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (embedded, some test runners): nothing to silence
        yield
        return
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class YamnetTagger:
    """YAMNet (TFLite, 521 classes) on ai-edge-litert; window scores = mean of its 0.975 s frame scores."""

    name = "yamnet"
    FRAME_SAMPLES = 15600  # 0.975 s at 16 kHz

    def __init__(self, model_path: str | Path, class_map: str | Path, frame_hop_s: float = 0.48, threads: int = 1) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as exc:  # the optional extra
            raise RuntimeError("YAMNet needs the optional extra: pip install 'realsync[yamnet]' (ai-edge-litert)") from exc
        self.labels, self.mids = read_labels(class_map)
        try:
            self.interp = Interpreter(model_path=str(model_path), num_threads=threads)
            with quiet_native_stderr():  # TFLite prints "Created ... XNNPACK delegate" here, once per worker
                self.interp.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise WeightsLayoutError(f"yamnet: {model_path} is not a loadable TFLite model ({exc})") from exc
        inp = self.interp.get_input_details()[0]
        if list(inp["shape"]) != [1, self.FRAME_SAMPLES]:
            raise WeightsLayoutError(f"yamnet: {model_path} takes input {list(inp['shape'])}, expected [1, {self.FRAME_SAMPLES}]")
        self._in = inp["index"]
        outs = [o for o in self.interp.get_output_details() if list(o["shape"]) == [1, len(self.labels)]]
        if not outs:
            raise WeightsLayoutError(f"yamnet: {model_path} has no [1, {len(self.labels)}] score output for {class_map}")
        self._out = outs[0]["index"]
        self.frame_hop_s = frame_hop_s

    def frame_scores(self, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(frame starts in s, scores (n, 521)) for 0.975 s frames every ``frame_hop_s``."""
        frame_s = self.FRAME_SAMPLES / SAMPLE_RATE_HZ
        starts = window_starts(len(audio) / SAMPLE_RATE_HZ, frame_s, self.frame_hop_s)
        segs = _segments(audio, SAMPLE_RATE_HZ, starts, frame_s)
        scores = np.empty((len(segs), len(self.labels)), dtype=np.float32)
        for i, seg in enumerate(segs):
            self.interp.set_tensor(self._in, seg[None, :])
            self.interp.invoke()
            scores[i] = self.interp.get_tensor(self._out)[0]
        return starts, scores

    def tag(self, audio: np.ndarray, window_s: float, hop_s: float) -> tuple[np.ndarray, np.ndarray]:
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        if audio.size == 0:
            raise ValueError("no audio to tag")
        f_starts, f_scores = self.frame_scores(audio)
        frame_s = self.FRAME_SAMPLES / SAMPLE_RATE_HZ
        starts = window_starts(len(audio) / SAMPLE_RATE_HZ, window_s, hop_s)
        f_mid = f_starts + frame_s / 2
        out = np.empty((len(starts), len(self.labels)), dtype=np.float32)
        for i, s in enumerate(starts):
            inside = (f_starts >= s - 1e-6) & (f_starts + frame_s <= s + window_s + 1e-6)
            if not inside.any():  # window shorter than a frame: the frames whose centre falls in it, else the nearest
                inside = (f_mid >= s) & (f_mid < s + window_s)
            if not inside.any():
                inside = np.zeros(len(f_starts), bool)
                inside[int(np.argmin(np.abs(f_mid - (s + window_s / 2))))] = True
            out[i] = f_scores[inside].mean(axis=0)
        return starts, out
