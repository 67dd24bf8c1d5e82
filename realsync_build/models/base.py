"""The small interfaces the annotate pipeline sees; backends implement them.

The pipeline never knows which backend runs: it asks the factories in
:mod:`realsync_build.models.factory` for a detector, a scorer or a tagger by name.
Conventions: images are RGB uint8 arrays; audio is mono float32 in [-1, 1] at 16 kHz;
video runs at 25 fps; times are seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np


class ModelMissing(RuntimeError):
    """Weights are not in the model folder; the message names the command that fetches them."""

    def __init__(self, name: str, detail: str = "") -> None:
        self.name = name
        msg = f"model {name!r} is not available{': ' + detail if detail else ''}; run `realsync models download {name}`"
        super().__init__(msg)


class FaceDetector(Protocol):
    name: str

    def detect(self, frames: np.ndarray) -> list[np.ndarray]:
        """Faces in a batch of frames ``(N, H, W, 3)`` uint8 RGB.

        Returns one ``(k, 5)`` float array per frame: ``x1, y1, x2, y2, score`` in pixels.
        """
        ...


@dataclass
class SyncResult:
    """SyncNet's reference outputs for one face track window."""

    offset_frames: int  # audio-visual offset (reference sign convention), within +/- search range
    min_dist: float  # minimum over offsets of the mean feature distance
    confidence: float  # median minus minimum of those mean distances
    dists: np.ndarray  # mean distance per candidate offset, (2 * vshift + 1,)


class SyncScorer(Protocol):
    name: str
    vshift: int  # search range in frames (15 in the reference)

    def score(self, crops: np.ndarray, audio: np.ndarray) -> SyncResult:
        """Score face crops ``(T, H, W, 3)`` uint8 at 25 fps against the matching audio (16 kHz)."""
        ...


class EventTagger(Protocol):
    name: str
    labels: Sequence[str]  # display names, index = class
    mids: Sequence[str]  # AudioSet machine ids

    def tag(self, audio: np.ndarray, window_s: float, hop_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Clip-level scores over windows: ``(starts_s (n,), scores (n, n_classes))``."""
        ...
