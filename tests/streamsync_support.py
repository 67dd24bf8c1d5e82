"""A small stand-in snapshot predictor for tests about StreamSync's own parts.

It is registered like any backbone and exposes ``classify`` (its class head on the OFF
feature), as the SparseSync network does.  Its features follow its input at once, which
the tiny SparseSync at initialisation does not (its OFF/PASS features move by ~1e-7 when a
window's pixels change; docs/benchmarks.md), so tests of the streaming head's history use it.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn as nn

from realsync_build.streamsync.model import SNAPSHOT_PREDICTORS, SnapshotOutput, SnapshotPredictor
from realsync_build.streamsync.task import NUM_CLASSES


class Probe(SnapshotPredictor):
    """video (N, F, S, S, 3), audio (N, L) -> features from a few linear maps; ``classify`` on OFF."""

    def __init__(self, cfg) -> None:
        super().__init__()
        self.feature_dim = 16
        self.enc = nn.Linear(2, 16)  # "the global transformer"
        self.pas = nn.Linear(2, 16)
        self.head = nn.Linear(16, NUM_CLASSES)

    def classify(self, cls: torch.Tensor) -> torch.Tensor:
        return self.head(cls)

    def forward(self, video, audio):
        x = torch.stack([video.float().mean(dim=(1, 2, 3, 4)) / 255, audio.float().mean(-1)], -1)
        cls = torch.tanh(self.enc(x))
        return SnapshotOutput(logits=self.classify(cls), cls=cls, pass_=torch.tanh(self.pas(x)))


@contextmanager
def probe_registered(name: str = "_probe"):
    """``SNAPSHOT_PREDICTORS[name] = Probe`` for the duration of the block."""
    SNAPSHOT_PREDICTORS[name] = Probe
    try:
        yield name
    finally:
        SNAPSHOT_PREDICTORS.pop(name)
