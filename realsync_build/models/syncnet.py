"""SyncNet scoring with the reference definitions (syncnet_python's ``SyncNetInstance.evaluate``).

Per face track:

1. face crops as the reference pipeline cuts them (:func:`crop_track`: box size and centre
   median-smoothed over 13 frames, a square of side ``2 s (1 + 0.4)`` padded with grey 110,
   resized to 224x224), fed BGR 0..255 to the lip tower in 5-frame windows;
2. MFCC of the int16-scaled 16 kHz audio (:mod:`realsync_build.models.mfcc`), 100 Hz, so
   4 MFCC steps per 25 fps video frame; window ``v`` uses MFCC steps ``4v .. 4v + 20``;
3. ``min(frames, samples // 640) - 5`` windows, as the reference counts them;
4. :func:`sync_offset`: for each video window ``i`` and each candidate ``k`` in
   ``0 .. 2 vshift``, the distance to the audio window ``i + k - vshift`` (zero features
   outside the clip); mean over windows per ``k``; AV offset = ``vshift - argmin``
   (the reference's sign), min distance, confidence = median - min.

:class:`RunEvaluation` is the same evaluation fed crop by crop (one evaluation of a whole
speech-and-face run, as the reference evaluates a whole track, with memory bounded by a
batch of crops); it gives the numbers :meth:`SyncNetScorer.score` gives on the whole run.

``video_stride=k`` (not in the reference, ``1`` is the reference): lip features only for
windows ``0, k, 2k, ...``, audio features for every window, and the mean in step 4 over the
sampled windows only (same offset search and definitions).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import torch

from realsync_build.core.avformat import FPS, SAMPLES_PER_FRAME  # 25 fps, 640 samples a frame: SyncNet's input is the clip format
from realsync_build.core.avformat import SAMPLE_RATE as SAMPLE_RATE_HZ
from realsync_build.models.base import SyncResult
from realsync_build.models.mfcc import mfcc
from realsync_build.models.syncnet_net import SyncNetV2, load_syncnet
from realsync_build.models.syncnet_math import (  # noqa: F401 - the reference maths, re-exported for the scorer's users
    CROP_SIZE,
    MFCC_PER_FRAME,
    PAIRWISE_EPS,
    WINDOW_FRAMES,
    n_windows,
    needed_frames,
    sampled_windows,
    sync_offset,
    window_distances,
)


def audio_features(audio: np.ndarray) -> np.ndarray:
    """``(13, T)`` MFCC at 100 Hz of mono 16 kHz float audio in [-1, 1], scaled to int16 as the reference reads it."""
    pcm = np.clip(np.round(np.asarray(audio, dtype=np.float64) * 32768.0), -32768, 32767)
    return mfcc(pcm, SAMPLE_RATE_HZ).T.astype(np.float32)


# ---------------------------------------------------------------- face crops


def medfilt(x: np.ndarray, kernel: int) -> np.ndarray:
    """1-D median filter with zero padding at the ends (``scipy.signal.medfilt``'s behaviour)."""
    x = np.asarray(x, dtype=float)
    half = kernel // 2
    padded = np.concatenate([np.zeros(half), x, np.zeros(half)])
    return np.median(np.lib.stride_tricks.sliding_window_view(padded, kernel), axis=1)


def crop_track(frames: np.ndarray, boxes: np.ndarray, crop_scale: float = 0.4, size: int = CROP_SIZE, smooth_kernel: int = 13) -> np.ndarray:
    """Cut a face track out of ``frames (T, H, W, 3)`` with per-frame ``boxes (T, >=4)`` (x1, y1, x2, y2).

    As the reference pipeline: half-size ``s = max(w, h) / 2`` and the centre are median
    smoothed over ``smooth_kernel`` frames; the frame is padded with value 110; the crop spans
    ``[cy - s, cy + s (1 + 2 cs)]`` x ``[cx - s (1 + cs), cx + s (1 + cs)]`` and is resized to
    ``size``. Returns ``(T, size, size, 3)`` uint8 in the input's colour order.
    """
    import cv2

    frames = np.asarray(frames)
    boxes = np.asarray(boxes, dtype=float)
    if len(frames) != len(boxes) or len(frames) == 0:
        raise ValueError("crop_track needs one box per frame")
    half = np.maximum(boxes[:, 3] - boxes[:, 1], boxes[:, 2] - boxes[:, 0]) / 2
    cy = (boxes[:, 1] + boxes[:, 3]) / 2
    cx = (boxes[:, 0] + boxes[:, 2]) / 2
    if smooth_kernel > 1 and len(frames) > 1:
        k = min(smooth_kernel, len(frames) if len(frames) % 2 else len(frames) - 1)
        half, cy, cx = medfilt(half, k), medfilt(cy, k), medfilt(cx, k)
    out = np.empty((len(frames), size, size, 3), dtype=np.uint8)
    for t, frame in enumerate(frames):
        bs = max(float(half[t]), 1.0)
        bsi = int(bs * (1 + 2 * crop_scale))
        padded = np.pad(frame, ((bsi, bsi), (bsi, bsi), (0, 0)), mode="constant", constant_values=110)
        my, mx = cy[t] + bsi, cx[t] + bsi
        face = padded[int(my - bs) : int(my + bs * (1 + 2 * crop_scale)), int(mx - bs * (1 + crop_scale)) : int(mx + bs * (1 + crop_scale))]
        out[t] = cv2.resize(face, (size, size))
    return out


# ---------------------------------------------------------------- the scorer


class SyncNetScorer:
    """:class:`~realsync_build.models.base.SyncScorer` running SyncNet v2 with the reference evaluation.

    ``video_stride=k`` computes lip features only for windows ``0, k, 2k, ...`` (audio
    features stay per window) and averages the distances over those windows; ``1`` is the
    reference. Frames no sampled window reads may be passed as ``None`` (not cropped).
    """

    name = "syncnet"

    def __init__(
        self,
        weights: str | Path | Mapping | SyncNetV2,
        device: str = "cpu",
        batch_size: int = 32,
        vshift: int = 15,
        trusted: bool = False,
        video_stride: int = 1,
        engine: str = "torch",
    ) -> None:
        from realsync_build.models.engine import resolve_engine

        self.net = weights if isinstance(weights, SyncNetV2) else load_syncnet(weights, trusted=trusted)
        self.device = torch.device(device)
        self.net = self.net.to(self.device).eval()
        self.engine = resolve_engine(engine, self.device)
        self._lip_onnx = self._aud_onnx = None
        if self.engine == "onnx":
            from realsync_build.models.engine import OnnxModule
            from realsync_build.models.syncnet_net import AudioTower, LipTower2d

            example = torch.zeros(1, 3 * WINDOW_FRAMES, CROP_SIZE, CROP_SIZE, dtype=torch.uint8)
            self._lip_onnx = OnnxModule(LipTower2d(self.net), [example], ["frames"], ["embedding"], "syncnet-lip")
            self._aud_onnx = OnnxModule(AudioTower(self.net), [torch.zeros(1, 1, 13, 20)], ["mfcc"], ["embedding"], "syncnet-audio")
        self.batch_size = max(1, int(batch_size))
        self.vshift = int(vshift)
        if int(video_stride) < 1:
            raise ValueError(f"video_stride must be >= 1, not {video_stride}")
        self.video_stride = int(video_stride)
        self.calls = 0
        self.lip_windows = 0  # lip-tower windows computed so far (all calls)

    @staticmethod
    def _frame(crop) -> np.ndarray:
        crop = np.asarray(crop)
        if crop.ndim != 3 or crop.shape[-1] != 3:
            raise ValueError(f"crops must be (T, H, W, 3), got a frame of shape {crop.shape}")
        if crop.shape[:2] != (CROP_SIZE, CROP_SIZE):
            import cv2

            crop = cv2.resize(crop, (CROP_SIZE, CROP_SIZE))
        return crop[..., ::-1]  # the reference reads frames with cv2: BGR, 0..255

    def _lip(self, frames: Mapping[int, np.ndarray], starts) -> torch.Tensor:
        """Lip features ``(len(starts), 1024)`` of the 5-frame windows starting at ``starts``.

        ``frames`` maps a frame index to its BGR 224x224 crop (:meth:`_frame`); only the frames
        these windows read go to float on the device, each once."""
        needed = sorted({int(t) + j for t in starts for j in range(WINDOW_FRAMES)})
        if any(frames.get(f) is None for f in needed):
            raise ValueError("a frame a sampled SyncNet window needs was not cropped")
        pos = {f: p for p, f in enumerate(needed)}
        self.lip_windows += len(starts)
        if self._lip_onnx is not None:  # the 2-D re-layout: a window is its 5 frames as 15 channels
            chw = np.ascontiguousarray(np.stack([frames[f] for f in needed]).transpose(0, 3, 1, 2))  # (F, 3, 224, 224) uint8
            at = np.asarray([pos[int(t)] for t in starts])[:, None] + np.arange(WINDOW_FRAMES)
            lip = chw[at].reshape(len(starts), 3 * WINDOW_FRAMES, CROP_SIZE, CROP_SIZE)  # uint8: the graph casts to float
            return torch.from_numpy(self._lip_onnx(lip)[0])
        clip = torch.from_numpy(np.ascontiguousarray(np.stack([frames[f] for f in needed]))).to(self.device)
        clip = clip.permute(3, 0, 1, 2).float()  # (3, F, 224, 224)
        lip = torch.stack([clip[:, pos[int(t)] : pos[int(t)] + WINDOW_FRAMES] for t in starts])  # (B, 3, 5, 224, 224)
        return self.net.forward_lip(lip).float().cpu()

    def _audio(self, audio: np.ndarray, n: int) -> np.ndarray:
        """Audio features ``(n, 1024)`` of every window (MFCC steps ``4v .. 4v + 20``)."""
        cc = torch.from_numpy(audio_features(audio)).to(self.device)  # (13, T)
        a_out = []
        for i in range(0, n, self.batch_size):
            idx = range(i, min(n, i + self.batch_size))
            aud = torch.stack([cc[None, :, j * MFCC_PER_FRAME : j * MFCC_PER_FRAME + 20] for j in idx])  # (B, 1, 13, 20)
            a_out.append(self._aud(aud))
        return torch.cat(a_out).numpy()

    def _aud(self, aud: torch.Tensor) -> torch.Tensor:
        """The audio tower on MFCC windows ``(B, 1, 13, 20)``, on the chosen engine."""
        if self._aud_onnx is not None:
            return torch.from_numpy(self._aud_onnx(aud.cpu().numpy())[0])
        return self.net.forward_aud(aud).float().cpu()

    @torch.inference_mode()
    def embed_sampled(self, crops, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Lip features of the sampled windows ``(M, 1024)``, audio features of every window ``(N, 1024)``, and the sampled window indices ``(M,)``."""
        if isinstance(crops, np.ndarray) and (crops.ndim != 4 or crops.shape[-1] != 3):
            raise ValueError(f"crops must be (T, H, W, 3), got {crops.shape}")
        n = n_windows(len(crops), len(audio))
        if n <= 0:
            raise ValueError(f"too short for SyncNet: {len(crops)} frames, {len(audio) / SAMPLE_RATE_HZ:.2f} s audio (need > {WINDOW_FRAMES} frames)")
        ts = sampled_windows(n, self.video_stride)
        v_out = []
        for i in range(0, len(ts), self.batch_size):
            batch = ts[i : i + self.batch_size]
            reads = {int(t) + j for t in batch for j in range(WINDOW_FRAMES)}
            frames = {f: (None if crops[f] is None else self._frame(crops[f])) for f in reads}
            v_out.append(self._lip(frames, batch))
        return torch.cat(v_out).numpy(), self._audio(audio, n), ts

    def open_run(self, hold_frames: int = 0, settle=None, audio: np.ndarray | None = None):
        """A :class:`RunEvaluation`: one evaluation of a whole run, fed frame by frame; with a
        :class:`~realsync_build.models.sync_settle.SettleRule` and the audio from the run's start,
        it settles as soon as the rule allows."""
        from realsync_build.models.syncnet_run import RunEvaluation

        return RunEvaluation(self, hold_frames, settle, audio)

    def _audio_windows(self, audio: np.ndarray, v0: int, v1: int) -> np.ndarray:
        """Audio features of windows ``v0 .. v1 - 1`` of a run whose audio starts at ``audio[0]``,
        equal to those of :meth:`_audio` on the whole run: MFCC is per 10 ms frame, and a slice
        starting one video frame before ``v0`` gives the same pre-emphasis at every frame used."""
        s0 = max(0, SAMPLES_PER_FRAME * (v0 - 1))
        end = 160 * (MFCC_PER_FRAME * (v1 - 1) + 19) + 400  # where the last window's 20th MFCC frame (25 ms) ends
        seg = np.asarray(audio[s0:end], dtype=np.float32)
        if len(seg) < end - s0:
            seg = np.pad(seg, (0, end - s0 - len(seg)))
        cc = torch.from_numpy(audio_features(seg)).to(self.device)  # (13, T) from sample s0
        first = s0 // 160
        out = []
        for i in range(v0, v1, self.batch_size):
            idx = range(i, min(v1, i + self.batch_size))
            aud = torch.stack([cc[None, :, j * MFCC_PER_FRAME - first : j * MFCC_PER_FRAME - first + 20] for j in idx])
            out.append(self._aud(aud))
        return torch.cat(out).numpy()

    def embed(self, crops, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-window features ``(N, 1024)`` of the lip and audio towers (reference windowing, every window)."""
        stride, self.video_stride = self.video_stride, 1
        try:
            v, a, _ = self.embed_sampled(crops, audio)
        finally:
            self.video_stride = stride
        return v, a

    def score(self, crops, audio: np.ndarray) -> SyncResult:
        """Score 25 fps face crops ``(T, H, W, 3)`` RGB uint8 against the matching 16 kHz audio."""
        self.calls += 1
        v, a, ts = self.embed_sampled(crops, audio)
        return sync_offset(v, a, self.vshift, video_index=None if self.video_stride == 1 else ts)

