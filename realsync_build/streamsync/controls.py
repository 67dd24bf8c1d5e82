"""Evidence taken away, item by item: the controls that show a sync model learned the pairing of the streams.

A model that aligns the two streams must fail, on the same held-out items, when the pairing is gone:
each item's audio replaced by another item's (at an offset two or more classes away), the audio
silenced, the video frozen (the first frame repeated).  Used by ``bench/sync_learning.py`` and the
learning tests; the bar is the acc +/-1 of a uniform guess on the same labels (:func:`chance_pm1`).
"""

from __future__ import annotations

import torch

from realsync_build.core.avformat import NUM_CLASSES


def swap_partner(target: torch.Tensor, apart: torch.Tensor | None = None) -> torch.Tensor:
    """For each item, another item whose class is at least two away (the next such one, in a fixed order);
    with ``apart`` (one value per item), also one whose value differs (streams: another paired window)."""
    t, n = target.tolist(), len(target)
    a = None if apart is None else apart.tolist()
    ok = lambda i, j: abs(t[j] - t[i]) >= 2 and (a is None or a[j] != a[i])  # noqa: E731
    return torch.as_tensor([next(j % n for j in range(i + 1, i + n) if ok(i, j % n)) for i in range(n)])


def chance_pm1(target: torch.Tensor) -> float:
    """acc +/-1 of a uniform guess on these labels (2 of 21 classes at the edges, else 3)."""
    near = 1 + (target > 0).long() + (target < NUM_CLASSES - 1).long()
    return float(near.float().mean() / NUM_CLASSES)


def controls(video: torch.Tensor, audio: torch.Tensor, target: torch.Tensor,
             apart: torch.Tensor | None = None) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """``{name: (video, audio)}`` with the evidence taken away (the target stays each item's own):
    ``audio_swapped``, ``audio_silenced``, ``video_frozen``.  ``video`` ``(N, ..., F, S, S, 3)``, ``audio``
    ``(N, ..., L)`` waveforms; ``apart``: see :func:`swap_partner`."""
    frame_axis = video.dim() - 4
    frozen = video.narrow(frame_axis, 0, 1).expand_as(video).contiguous()
    return {
        "audio_swapped": (video, audio[swap_partner(target, apart)]),
        "audio_silenced": (video, torch.zeros_like(audio)),
        "video_frozen": (frozen, audio),
    }


def hits_pm1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 where the predicted class is within one of the target, else 0 (per item)."""
    return ((pred - target).abs() <= 1).float()
