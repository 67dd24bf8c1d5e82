"""The task: classify the audio offset of a 5 s window pair into 21 classes of 0.2 s.

Sign convention (used everywhere in realsync): ``offset_sec`` is where the audio
window starts relative to the video window, ``audio_start_s = video_start_s +
offset_sec``.  A positive offset therefore means the audio played with the video
comes from later in the source (audio *ahead* of the picture: the audio leads); ``0``
is in sync.  Audio delayed by 0.4 s (a sound 0.4 s after its picture: the audio lags)
is ``-0.4``, class 8; the monitor reports it as ``offset_ms = -400``, "audio lags"
(``tests/test_offset_sign.py``).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from realsync_build.core.avformat import (  # noqa: F401 - the clip format and the offset grid live in one place
    CLASS_STEP_S,
    FPS,
    MAX_OFFSET_S,
    NUM_CLASSES,
    OFFSETS_S,
    SAMPLE_RATE,
    class_to_offset,
    nearest_class,
    offset_to_class,
)

WINDOW_S = 5.0
LABEL_SMOOTHING = 0.1


def window_frames(window_s: float = WINDOW_S, fps: int = FPS) -> int:
    return int(round(window_s * fps))


def window_samples(window_s: float = WINDOW_S, sample_rate: int = SAMPLE_RATE) -> int:
    return int(round(window_s * sample_rate))


def neighbour_targets(target: torch.Tensor, smoothing: float = LABEL_SMOOTHING, num_classes: int = NUM_CLASSES) -> torch.Tensor:
    """Ordinal label smoothing: ``smoothing`` to each neighbouring class, the rest on the true one.

    ``target`` ``(...)`` class indices -> ``(..., C)`` probabilities.  With 0.1: 0.1 / 0.8 / 0.1; at an
    edge class (-2.0 s or +2.0 s) the one neighbour gets 0.1 and the true class 0.9, as the StreamSync
    code's ``TemporalCropAndOffsetRandomFeasibleStreaming`` does (``dataset/transforms.py``).
    """
    target = target.long()
    out = F.one_hot(target, num_classes).to(torch.float32)
    if smoothing:
        lo = F.one_hot((target - 1).clamp(min=0), num_classes).to(torch.float32) * (target > 0)[..., None]
        hi = F.one_hot((target + 1).clamp(max=num_classes - 1), num_classes).to(torch.float32) * (target < num_classes - 1)[..., None]
        out = out * (1.0 - smoothing * (lo.sum(-1, keepdim=True) + hi.sum(-1, keepdim=True))) + smoothing * (lo + hi)
    return out


def sync_loss(logits: torch.Tensor, target: torch.Tensor, smoothing: float = LABEL_SMOOTHING) -> torch.Tensor:
    """Cross-entropy against neighbour-smoothed targets, mean over any leading shape: logits ``(..., 21)``, target ``(...)``."""
    logits = at_least_fp32(logits)
    soft = neighbour_targets(target, smoothing, logits.shape[-1]).to(logits.dtype)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), soft.reshape(-1, logits.shape[-1]))


def at_least_fp32(x: torch.Tensor) -> torch.Tensor:
    """Half-precision outputs (autocast) in float32 for the loss and softmaxes; float32 and float64 as they are."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


SNAPSHOT_WEIGHT = 1.0 / 3.0
STREAM_WEIGHT = 2.0 / 3.0


def iteration_weights(n_iterations: int, backprop_iterations: int, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-iteration weights ``(snapshot, stream)`` of the StreamSync loss, normalised to sum to 1 together.

    Every iteration has ``1/3 * CE(snapshot_t)``; from iteration ``K-1`` (0-based) on it also has
    ``2/3 * CE(stream_t)`` (the first K-1 streaming predictions, on too little history, are not trained),
    and the sum is divided by the total weight (``train_sync.py``'s ``loss_norm_factor``).
    """
    t = torch.arange(n_iterations)
    snap = torch.full((n_iterations,), SNAPSHOT_WEIGHT, dtype=torch.float64)  # float64: exact to the loss's precision
    stream = torch.where(t >= backprop_iterations - 1, torch.tensor(STREAM_WEIGHT, dtype=torch.float64), torch.tensor(0.0, dtype=torch.float64))
    norm = snap.sum() + stream.sum()
    return (snap / norm).to(dtype), (stream / norm).to(dtype)


def streamsync_loss(
    snapshot_logits: torch.Tensor,
    stream_logits: torch.Tensor,
    target: torch.Tensor,
    backprop_iterations: int,
    smoothing: float = LABEL_SMOOTHING,
) -> tuple[torch.Tensor, dict[str, float]]:
    """``sum_t w_snap[t] * CE(snapshot_t) + w_stream[t] * CE(stream_t)`` (see :func:`iteration_weights`).

    ``*_logits``: ``(B, T, 21)``; ``target``: ``(B,)`` (one offset per sample, shared by its windows).
    """
    b, t = snapshot_logits.shape[:2]
    tgt = target[:, None].expand(b, t)
    w_snap, w_stream = (w.to(snapshot_logits.device) for w in iteration_weights(t, backprop_iterations, at_least_fp32(snapshot_logits).dtype))
    per_snap = torch.stack([sync_loss(snapshot_logits[:, i], tgt[:, i], smoothing) for i in range(t)])
    per_stream = torch.stack([sync_loss(stream_logits[:, i], tgt[:, i], smoothing) for i in range(t)])
    loss = (w_snap * per_snap).sum() + (w_stream * per_stream).sum()
    trained = w_stream > 0
    return loss, {
        "loss": float(loss.detach()),
        "loss_snapshot": float(per_snap.detach().mean()),
        "loss_stream": float(per_stream.detach()[trained].mean()) if trained.any() else float("nan"),
    }
