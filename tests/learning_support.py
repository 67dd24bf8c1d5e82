"""What the two learning tests share: the tiny SparseSync trained from scratch on an alignment task, and the
per-item controls that show what it learned is the pairing of the two streams.

The task is learned on ``event_batch`` windows with a curriculum over where the event is: one event
(a flash seen, a tone heard) within 0.2 s, then 0.6 s, then 1.2 s of the video window's centre
(``spread_s``: from reading the offset in the audio to aligning the two), then anywhere
(``single``), then half of the windows from the standard task (``poisson``: events at random gaps,
mean 4 s, at least 1.2 s apart, so that a window holds none, one or several).  Same architecture, inputs and loss
throughout; no extra path.  The held-out test is the standard task: its windows are stationary
(where events fall in one stream says nothing about the offset), so a model that reads one stream
alone is at chance there, which a one-event window cannot promise (there, where the flash is bounds
the offset: docs/benchmarks.md).

Figures must not depend on the machine: a fixed thread count (the same arithmetic and order on any x86
CPU and under any load), seeded data, and bars with room (docs/benchmarks.md records the margins
measured with OMP_NUM_THREADS=1 and 2, and under load).
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import torch

from realsync_build.streamsync.model import tiny_config
from realsync_build.streamsync.model.snapshot import SparseSyncPredictor
from realsync_build.streamsync.synthetic import event_batch

LOW_RES = dict(video_size=32, fps=10, sample_rate=8000, n_fft=128, hop_length=64)
MEAN_GAP_S = 4.0
# (stage, steps): "spread<s>" one event within s of the video window's centre; "single" one event anywhere in both
# windows; "single+poisson" alternate windows of that and of the standard task
STAGES = (("spread0.2", 150), ("spread0.6", 150), ("spread1.2", 150), ("single", 250), ("single+poisson", 500))
BATCH, LR, WARMUP = 16, 1e-3, 20


def windows(n: int, rng: np.random.Generator, placement: str = "poisson", n_windows: int = 1, **kw) -> dict:
    """``event_batch`` at the tests' low rates (32 px, 10 fps, 8 kHz); a ``spread<s>`` placement is ``single``
    with ``spread_s``."""
    if placement.startswith("spread"):
        placement, kw = "single", {**kw, "spread_s": float(placement[len("spread"):])}
    return event_batch(n, n_windows, size=32, fps=10, sample_rate=8000, rng=rng, placement=placement, mean_gap_s=MEAN_GAP_S, **kw)


THREADS = 1


@contextmanager
def fixed_threads():
    """``THREADS`` intra-op threads whatever the machine or $OMP_NUM_THREADS: the same sums in the same order on
    any machine and under any load (a busy machine runs them slower, not differently)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def train_snapshot(seed: int = 0, stages=STAGES) -> SparseSyncPredictor:
    """The tiny SparseSync from scratch through ``stages``: AdamW lr 1e-3 (weight decay 0.01), 20-step warm-up,
    constant, then over the last stage a linear decay to lr / 10; grad-norm clip 1, plain cross-entropy."""
    torch.manual_seed(seed)
    model = SparseSyncPredictor(tiny_config(**LOW_RES))
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.01)
    rng = np.random.default_rng(seed)
    model.train()
    step = 0
    for k, (placement, n) in enumerate(stages):
        last = k == len(stages) - 1
        for i in range(n):
            decay = 1.0 - 0.9 * i / n if last else 1.0  # the last stage decays linearly to lr / 10
            for g in opt.param_groups:
                g["lr"] = LR * min(1.0, (step + 1) / WARMUP) * decay
            b = windows(BATCH, rng, placement)
            loss = torch.nn.functional.cross_entropy(model(b["video"][:, 0], b["audio"][:, 0]).logits, b["target"])
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
    return model.eval()
