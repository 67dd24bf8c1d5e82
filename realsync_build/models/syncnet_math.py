"""SyncNet's reference maths, pure (numpy / torch, no model): the offset search over per-window
features, the window sampling of a video stride, and how many windows a run has.  Shared by the
scorer (:mod:`realsync_build.models.syncnet`) and the streamed run evaluation
(:mod:`realsync_build.models.syncnet_run`)."""

from __future__ import annotations

import numpy as np
import torch

from realsync_build.core.avformat import SAMPLES_PER_FRAME  # 640 samples a frame: SyncNet's input is the clip format
from realsync_build.models.base import SyncResult

MFCC_PER_FRAME = 4
WINDOW_FRAMES = 5
CROP_SIZE = 224
PAIRWISE_EPS = 1e-6  # torch.nn.functional.pairwise_distance's default, as in the reference


# ---------------------------------------------------------------- the reference maths (pure)


def sync_offset(video_feats, audio_feats, vshift: int = 15, video_index=None) -> SyncResult:
    """Offset, min distance and confidence from per-window features of both towers.

    Exactly the reference: audio features padded with ``vshift`` zero rows on both ends,
    ``d[i, k] = || v_i - a_pad[i + k] + eps ||``, ``mdist = mean_i d[i, :]``,
    ``offset = vshift - argmin(mdist)``, ``confidence = median(mdist) - min(mdist)``.

    ``video_index`` (the video stride): ``video_feats (M, D)`` are the lip features of the
    windows ``video_index`` only (e.g. ``0, k, 2k, ...``) while ``audio_feats (N, D)`` cover
    every window; ``d[j, k] = || v_j - a_pad[video_index[j] + k] + eps ||`` and the mean runs
    over those ``M`` windows. ``None`` is every window (``M == N``, the reference).
    """
    v = torch.as_tensor(np.asarray(video_feats), dtype=torch.float32)
    a = torch.as_tensor(np.asarray(audio_feats), dtype=torch.float32)
    if video_index is None:
        if v.ndim != 2 or v.shape != a.shape or len(v) == 0:
            raise ValueError(f"need two (N, D) feature arrays of one shape, got {tuple(v.shape)} and {tuple(a.shape)}")
        idx = torch.arange(len(v))
    else:
        idx = torch.as_tensor(np.asarray(video_index), dtype=torch.long)
        if v.ndim != 2 or a.ndim != 2 or v.shape[1] != a.shape[1] or len(v) == 0 or idx.shape != (len(v),):
            raise ValueError(f"need (M, D) video and (N, D) audio features and M window indices, got {tuple(v.shape)}, {tuple(a.shape)}, {tuple(idx.shape)}")
        if int(idx.min()) < 0 or int(idx.max()) >= len(a):
            raise ValueError("video_index outside the audio windows")
    win = 2 * vshift + 1
    a_pad = torch.nn.functional.pad(a, (0, 0, vshift, vshift))
    windows = a_pad.unfold(0, win, 1)  # (N, D, win) view: the candidates of every window
    total = torch.zeros(win, dtype=torch.float64)
    for start in range(0, len(v), 256):  # chunks bound memory: (chunk, D, win)
        vv = v[start : start + 256]
        cand = windows[idx[start : start + len(vv)]]  # (n, D, win)
        d = torch.linalg.vector_norm(vv[:, :, None] - cand + PAIRWISE_EPS, dim=1)  # (n, win)
        total += d.sum(0, dtype=torch.float64)
    mdist = (total / len(v)).float().numpy()
    k = int(np.argmin(mdist))
    min_dist = float(mdist[k])
    return SyncResult(offset_frames=vshift - k, min_dist=min_dist, confidence=float(np.median(mdist)) - min_dist, dists=mdist)


def window_distances(video_feats, audio_feats, vshift: int = 15, video_index=None, rows=None) -> np.ndarray:
    """The per-window distance rows ``d[j, k]`` (float32 ``(len(rows), 2 vshift + 1)``) whose mean
    :func:`sync_offset` takes; ``rows`` (default: all) selects which of the ``M`` video windows."""
    v = torch.as_tensor(np.asarray(video_feats), dtype=torch.float32)
    a = torch.as_tensor(np.asarray(audio_feats), dtype=torch.float32)
    idx = torch.arange(len(v)) if video_index is None else torch.as_tensor(np.asarray(video_index), dtype=torch.long)
    sel = torch.arange(len(v)) if rows is None else torch.as_tensor(np.asarray(rows), dtype=torch.long)
    windows = torch.nn.functional.pad(a, (0, 0, vshift, vshift)).unfold(0, 2 * vshift + 1, 1)  # (N, D, win)
    out = [torch.linalg.vector_norm(v[sel[i : i + 256], :, None] - windows[idx[sel[i : i + 256]]] + PAIRWISE_EPS, dim=1)
           for i in range(0, len(sel), 256)]  # fmt: skip
    return torch.cat(out).numpy() if out else np.zeros((0, 2 * vshift + 1), np.float32)


def sampled_windows(n: int, video_stride: int = 1) -> np.ndarray:
    """The windows whose lip features are computed: ``0, k, 2k, ... < n``."""
    return np.arange(0, max(0, n), max(1, int(video_stride)))


def needed_frames(n: int, video_stride: int = 1) -> np.ndarray:
    """Boolean mask over the first ``n + 4`` frames: those the sampled windows read."""
    mask = np.zeros(max(0, n) + WINDOW_FRAMES - 1, dtype=bool)
    for t in sampled_windows(n, video_stride):
        mask[t : t + WINDOW_FRAMES] = True
    return mask


def n_windows(n_frames: int, n_samples: int) -> int:
    """How many 5-frame windows the reference scores: ``min(frames, samples // 640) - 5``."""
    return max(0, min(n_frames, n_samples // SAMPLES_PER_FRAME) - WINDOW_FRAMES)
