"""Learning for real, without the offset-correlation path: the tiny model learns offsets from
flash/click streams, and StreamSync at the last iteration beats APA and the snapshot predictor.

Low-resolution inputs keep it a CPU test: 32 px frames at 10 fps and 8 kHz audio
(the tiny config otherwise; no config has a correlation path).  Events
are sparse (about one every 4 s, so a 5 s window often holds no matched
flash/click pair): a single window is often ambiguous, and the streaming head,
which sees every window so far, must beat both the best single window and the
average of the snapshot probabilities (APA), as the paper reports (Table 3).
Then the same model goes through the real path: mp4 clips in WebDataset shards
-> decoding -> ``run_evaluate``.

Not run for now: the tiny SparseSync stays at chance on this task within a CPU
budget (bench/sparsesync_learning.py, docs/benchmarks.md).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from realsync_build.core.root import DatasetRoot
from realsync_build.streamsync.checkpoint import save_checkpoint
from realsync_build.streamsync.evaluate import EvalOptions, run_evaluate
from realsync_build.streamsync.model import StreamSync, tiny_config
from realsync_build.streamsync.synthetic import event_batch, write_shard_dataset
from realsync_build.streamsync.task import NUM_CLASSES
from realsync_build.streamsync.train import TrainConfig, set_phase, train_step

H = 4
LOW_RES = dict(video_size=32, fps=10, sample_rate=8000, n_fft=128, hop_length=64, stream_dim=48)
# The snapshot predictor is now SparseSync (tiny: same architecture, small sizes, no correlation path).  Measured
# (bench/sparsesync_learning.py, docs/benchmarks.md): from scratch it needs ~1000 steps of one-event windows before
# the Poisson task moves (minutes of CPU), far beyond this test's 130 steps.  The snapshot predictor's learning is
# checked by tests/test_sparsesync_learning.py; this streaming test stays off until a recipe fits a CI budget.
pytestmark = pytest.mark.xfail(run=False, strict=True, reason="tiny SparseSync needs ~1000+ CPU steps on flash/click (docs/benchmarks.md); see tests/test_sparsesync_learning.py")
CHANCE_PM1 = 3 / NUM_CLASSES


def _batch(n, rng):
    return event_batch(n, H, size=32, fps=10, sample_rate=8000, mean_gap_s=4.0, rng=rng)


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    model = StreamSync(tiny_config(history=H, **LOW_RES))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    cfg = TrainConfig(history=H, backprop_iterations=2, grad_clip=1.0)
    rng = np.random.default_rng(0)
    set_phase(model, 1, freeze_pretrained=False)
    model.train()
    for step in range(130):
        phase = 1 if step < 110 else 2
        if step == 110:
            set_phase(model, 2, freeze_pretrained=False)
        train_step(model, _batch(32, rng), opt, cfg, phase, rng, "cpu")
    return model.eval()


@pytest.mark.slow
def test_tiny_model_learns_offsets_and_streaming_beats_a_single_window(trained):
    test = _batch(128, np.random.default_rng(123))
    with torch.no_grad():
        out = trained(test["video"], test["audio"])
    y = test["target"]
    assert not hasattr(trained.cfg, "corr_dim") and not any("corr" in n for n, _ in trained.named_parameters())
    snap = out["snapshot"].argmax(-1)  # (N, H): one prediction per window
    apa = torch.softmax(out["snapshot"], -1).mean(1).argmax(-1)  # APA over all H windows
    stream = out["stream"][:, -1].argmax(-1)
    snap_acc = max((snap[:, i] == y).float().mean().item() for i in range(H))  # its best iteration, as the paper reports it
    snap_pm1 = ((snap - y[:, None]).abs() <= 1).float().mean().item()
    apa_acc = (apa == y).float().mean().item()
    stream_acc = (stream == y).float().mean().item()
    stream_pm1 = ((stream - y).abs() <= 1).float().mean().item()
    print(f"snapshot acc {snap_acc:.3f} pm1 {snap_pm1:.3f}; APA acc {apa_acc:.3f}; streamsync(last) acc {stream_acc:.3f} pm1 {stream_pm1:.3f}")
    assert snap_pm1 >= 3 * CHANCE_PM1
    assert stream_pm1 >= 3 * CHANCE_PM1
    assert stream_acc > apa_acc and stream_acc > snap_acc


@pytest.mark.slow
def test_the_trained_model_through_real_mp4_shards(trained, tmp_path):
    root = write_shard_dataset(DatasetRoot(tmp_path / "data"), splits={"test": 2}, duration_s=14.0, mean_gap_s=2.5,
                               segments_per_clip=8, seed=5, pattern="color", audio="silence")
    save_checkpoint(tmp_path / "model.pt", trained, None, {"train_config": {}, "step": 130})
    m = run_evaluate(root, tmp_path / "model.pt", "test", tmp_path / "eval",
                     EvalOptions(iterations=H, hop_s=1.0, cost=False, progress=False))
    saved = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert saved["n_segments"] == 16 and saved["n_failed"] == 0 and saved["iterations"] == H
    print({k: saved[k]["acc_pm1"] for k in ("snapshot", "apa", "streamsync")}, saved["ablation"]["statement"])
    assert saved["streamsync"]["acc_pm1"] >= 2 * CHANCE_PM1
    # without either modality the offset is unknowable
    for kind in ("audio_silenced", "video_blanked"):
        assert saved["ablation"][kind]["streamsync"]["acc_pm1"] < saved["streamsync"]["acc_pm1"]
    assert m["streamsync"]["per_scenario"]
