"""The tiny SparseSync (the published architecture at small sizes, no correlation path) learns audio-visual
alignment from scratch, and what it learned is the pairing of the two streams.

The recipe is in ``tests/learning_support.py`` (a curriculum over where the events are).  On held-out
windows of the standard task (flashes seen and tones heard at random gaps, the 21-class offset between
the two windows) the model must reach acc +/-1 >= 3x chance, and on the same windows, item by item,
each control (another window's audio at an offset two or more classes away, the audio silenced, the
video frozen) must fall to <= 1.5x chance.
A model reading one stream alone, or a flipped offset sign, fails it.  The bench with the project's
whole data path is ``bench/sync_learning.py`` (docs/benchmarks.md).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from realsync_build.streamsync.controls import chance_pm1, controls, hits_pm1
from tests.learning_support import fixed_threads, windows

N_HELD_OUT = 256


@pytest.mark.slow
def test_tiny_sparsesync_learns_alignment_and_fails_without_it(trained_snapshot):
    model = trained_snapshot
    b = windows(N_HELD_OUT, np.random.default_rng(123))  # the standard task
    video, audio, y = b["video"][:, 0], b["audio"][:, 0], b["target"]

    def predict(v, a):
        with torch.no_grad(), fixed_threads():
            return torch.cat([model(v[i : i + 64], a[i : i + 64]).logits.argmax(-1) for i in range(0, len(v), 64)])

    chance = chance_pm1(y)
    real = hits_pm1(predict(video, audio), y).mean().item()
    ctrl = {name: hits_pm1(predict(v, a), y).mean().item() for name, (v, a) in controls(video, audio, y).items()}
    print(f"held-out acc+/-1 {real:.3f} (chance {chance:.3f}); controls " + ", ".join(f"{k} {v:.3f}" for k, v in ctrl.items()))
    assert real >= 3 * chance
    for name, value in ctrl.items():
        assert value <= 1.5 * chance, (name, value)
