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


def train_two_stage(model, pretrain_batch, stream_batch, *, history: int, pretrain_steps: int, stream_steps: int,
                    lr: float, warmup: int, rng) -> None:
    """The CPU recipe that teaches a tiny StreamSync from scratch (docs/streamsync.md, "Learning").

    1. the snapshot predictor alone, one window at a time (plain cross-entropy, linear warm-up);
    2. StreamSync's phase 1: snapshot frozen except its new parts, streaming token and head trained
       on ``history``-window streams.
    ``pretrain_batch(rng)`` and ``stream_batch(rng)`` make the batches; the optimiser is AdamW.
    """
    from realsync_build.streamsync.train import TrainConfig, set_phase, train_step

    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    model.train()
    set_phase(model, 1, freeze_pretrained=False)
    pretrain = TrainConfig(history=1, backprop_iterations=1, grad_clip=1.0, label_smoothing=0.0)
    for step in range(pretrain_steps):
        for g in opt.param_groups:
            g["lr"] = lr * min(1.0, (step + 1) / warmup)
        train_step(model, pretrain_batch(rng), opt, pretrain, 1, rng, "cpu")
    set_phase(model, 1, freeze_pretrained=True)
    stream = TrainConfig(history=history, backprop_iterations=2, grad_clip=1.0)
    for _ in range(stream_steps):
        train_step(model, stream_batch(rng), opt, stream, 1, rng, "cpu")
