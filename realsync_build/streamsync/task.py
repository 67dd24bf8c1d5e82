"""The task: classify the audio offset of a 5 s window pair into 21 classes of 0.2 s.

Sign convention (used everywhere in realsync): ``offset_sec`` is where the audio
window starts relative to the video window, ``audio_start_s = video_start_s +
offset_sec``.  A positive offset therefore means the audio played with the video
comes from later in the source (audio *ahead* of the picture); ``0`` is in sync.
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
    offset_to_class,
)

WINDOW_S = 5.0
LABEL_SMOOTHING = 0.1


def window_frames(window_s: float = WINDOW_S, fps: int = FPS) -> int:
    return int(round(window_s * fps))


def window_samples(window_s: float = WINDOW_S, sample_rate: int = SAMPLE_RATE) -> int:
    return int(round(window_s * sample_rate))


def sync_loss(logits: torch.Tensor, target: torch.Tensor, smoothing: float = LABEL_SMOOTHING) -> torch.Tensor:
    """Cross-entropy with label smoothing over any leading shape: logits ``(..., 21)``, target ``(...)``."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), label_smoothing=smoothing)


def streamsync_loss(
    snapshot_logits: torch.Tensor,
    stream_logits: torch.Tensor,
    target: torch.Tensor,
    alpha: float = 0.5,
    beta: float = 1.0,
    smoothing: float = LABEL_SMOOTHING,
) -> tuple[torch.Tensor, dict[str, float]]:
    """``alpha * CE(snapshot_t) + beta * CE(streaming_t)`` averaged over iterations t.

    ``*_logits``: ``(B, T, 21)``; ``target``: ``(B,)`` (one offset per sample, shared by its windows).
    """
    tgt = target[:, None].expand(snapshot_logits.shape[:2])
    l_snap = sync_loss(snapshot_logits, tgt, smoothing)
    l_stream = sync_loss(stream_logits, tgt, smoothing)
    loss = alpha * l_snap + beta * l_stream
    return loss, {"loss": float(loss.detach()), "loss_snapshot": float(l_snap.detach()), "loss_stream": float(l_stream.detach())}
