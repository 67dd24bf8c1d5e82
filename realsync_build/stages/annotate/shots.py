"""Shot boundaries from colour-histogram differences between consecutive frames.

An online detector (one call per decoded frame, no look-ahead) so it runs in
the same single video pass as face detection.  Each frame is reduced to a
subsampled 16-bin-per-channel histogram of its HSV values (hue, saturation,
value); the distance to the previous frame is half the L1 distance of the
normalised histograms (0 = identical, 1 = disjoint).  A cut is declared when
the distance exceeds ``threshold`` and is also well above the recent level of
change (``ratio`` times the running median), which keeps fast motion and pans
from being cut; cuts closer than ``min_shot_frames`` are merged (a camera flash
gives one boundary, not two).
"""

from __future__ import annotations

from collections import deque

import cv2
import numpy as np

BINS = 16


def frame_histogram(frame: np.ndarray) -> np.ndarray:
    """The normalised HSV histogram (3 * BINS values) of a subsampled frame."""
    step = max(1, min(frame.shape[0], frame.shape[1]) // 96)
    small = np.ascontiguousarray(frame[::step, ::step])
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
    hists = [
        cv2.calcHist([hsv], [0], None, [BINS], [0, 180]),
        cv2.calcHist([hsv], [1], None, [BINS], [0, 256]),
        cv2.calcHist([hsv], [2], None, [BINS], [0, 256]),
    ]
    h = np.concatenate(hists).reshape(-1).astype(np.float32)
    return h / max(float(h.sum()) / 3.0, 1.0)


class ShotDetector:
    def __init__(self, threshold: float = 0.35, ratio: float = 3.0, min_shot_frames: int = 12, history: int = 25) -> None:
        self.threshold = threshold
        self.ratio = ratio
        self.min_shot_frames = min_shot_frames
        self.recent: deque[float] = deque(maxlen=history)
        self.prev: np.ndarray | None = None
        self.last_cut = 0
        self.cuts: list[int] = []  # first frame of each new shot
        self.index = -1

    def update(self, frame: np.ndarray) -> bool:
        """Feed the next frame; True when it starts a new shot."""
        self.index += 1
        h = frame_histogram(frame)
        cut = False
        if self.prev is not None:
            d = 0.5 * float(np.abs(h - self.prev).sum()) / 3.0
            level = float(np.median(self.recent)) if self.recent else 0.0
            if d > self.threshold and d > self.ratio * level and self.index - self.last_cut >= self.min_shot_frames:
                cut = True
                self.cuts.append(self.index)
                self.last_cut = self.index
            self.recent.append(d)
        self.prev = h
        return cut

    def shot_bounds(self, n_frames: int) -> list[tuple[int, int]]:
        """``[(first, end_exclusive), ...]`` for every shot of an ``n_frames`` clip."""
        starts = [0] + [c for c in self.cuts if 0 < c < n_frames]
        ends = starts[1:] + [n_frames]
        return list(zip(starts, ends))
