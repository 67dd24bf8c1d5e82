"""Learning for real, without the offset-correlation path: the tiny model learns offsets from
flash/click streams, and StreamSync at the last iteration beats APA and the best single window.

Low-resolution inputs keep it a CPU test: 32 px frames at 10 fps and 8 kHz audio (the tiny
config otherwise; no config has a correlation path).  Two stages, as in the paper, with the
project's ``set_phase``/``train_step``:

1. *Pretraining the snapshot predictor* (SparseSync's job in the paper) from scratch on single
   windows with the fast curriculum stage (``docs/sparsesync.md``, "Training tiny from scratch"):
   one event at the centre of the video or of the audio window, 200 steps.
2. *StreamSync phase 1* (``freeze_pretrained=True``: the snapshot predictor frozen, the streaming
   token, head and PASS token trained) on H-window streams of one clip at one offset, where only one window,
   at a random place in the stream, holds a flash/click pair; every other window holds an
   unpaired flash or click (an off-screen sound, a cut), which looks like an anchored window but
   says nothing about the offset.  A single window is right only where the pair is; averaging the
   snapshot probabilities (APA) mixes in the confident wrong answers of the unpaired windows; the
   streaming head, which sees every window so far, can learn which window to trust.

Then the same model goes through the real path: mp4 clips in WebDataset shards -> decoding ->
``run_evaluate`` (those clips have Poisson events, a task this CI-sized predictor has not learned:
that part checks the path, not the accuracy).  The full figures are in ``docs/benchmarks.md`` (bench/streamsync_learning.py).
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
from tests.streamsync_support import train_two_stage

H = 4
HOP_S = 7.0  # > window (5 s) + the largest offset (2 s): no window sees another window's events
# snapshot_batch "sequence": the tiny predictor trained from scratch keeps BatchNorm running statistics from all
# B x H windows of a step; with the code's per-iteration batches (8 windows, 4 updates a step) they are noisier and
# the paired-window accuracy fell below the bar (measured: paired +/-1 0.352, StreamSync 0.195 / 0.281; with
# "sequence" 0.445 and 0.461 / 0.586, 2026-12-02).
LOW_RES = dict(video_size=32, fps=10, sample_rate=8000, n_fft=128, hop_length=64, stream_dim=48, snapshot_batch="sequence")
PLACEMENT = "video_anchor+audio_anchor"
PRETRAIN_STEPS, PRETRAIN_BATCH, STREAM_STEPS, STREAM_BATCH, LR, WARMUP = 200, 16, 120, 8, 1e-3, 20
CHANCE_PM1 = 3 / NUM_CLASSES


def _streams(n: int, n_windows: int, rng: np.random.Generator, stream: bool) -> dict:
    return event_batch(n, n_windows, hop_s=HOP_S, size=32, fps=10, sample_rate=8000, rng=rng, placement=PLACEMENT,
                       event_window="random" if stream else "first", unpaired_distractors=stream)


@pytest.fixture(scope="module")
def trained():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same arithmetic (and trajectory) on any machine; 2 threads oversubscribe a loaded CI box
    try:
        yield _train()
    finally:
        torch.set_num_threads(threads)


def _train() -> StreamSync:
    torch.manual_seed(0)
    model = StreamSync(tiny_config(history=H, **LOW_RES))
    train_two_stage(model, lambda rng: _streams(PRETRAIN_BATCH, 1, rng, stream=False),
                    lambda rng: _streams(STREAM_BATCH, H, rng, stream=True), history=H, pretrain_steps=PRETRAIN_STEPS,
                    stream_steps=STREAM_STEPS, lr=LR, warmup=WARMUP, rng=np.random.default_rng(0))
    # StreamSync's phase 1 left the snapshot predictor frozen
    assert not any(p.requires_grad for n, p in model.named_parameters() if n.startswith("snapshot.") and not model.is_new_parameter(n))
    return model.eval()


@pytest.mark.slow
def test_tiny_model_learns_offsets_and_streaming_beats_apa_and_a_single_window(trained):
    test = _streams(128, H, np.random.default_rng(123), stream=True)
    out = trained.predict_windows(test["video"], test["audio"])
    y, holder = test["target"], test["event_window"]
    assert not hasattr(trained.cfg, "corr_dim") and not any("corr" in n for n, _ in trained.named_parameters())
    hit = lambda pred: (pred == y).float().mean().item()  # noqa: E731
    hit_pm1 = lambda pred: ((pred - y).abs() <= 1).float().mean().item()  # noqa: E731
    snap = out["snapshot"].argmax(-1)  # (N, H): one prediction per window
    apa = torch.softmax(out["snapshot"], -1).mean(1).argmax(-1)  # APA over all H windows
    stream = out["stream"][:, -1].argmax(-1)  # StreamSync at the last iteration
    snap_acc = max(hit(snap[:, i]) for i in range(H))  # its best iteration, as the paper reports it
    snap_pm1 = max(hit_pm1(snap[:, i]) for i in range(H))
    paired_pm1 = hit_pm1(snap.gather(1, holder[:, None])[:, 0])  # the snapshot on the one window that holds the pair
    apa_acc, apa_pm1, stream_acc, stream_pm1 = hit(apa), hit_pm1(apa), hit(stream), hit_pm1(stream)
    print(f"snapshot best window acc {snap_acc:.3f} pm1 {snap_pm1:.3f} (on the paired window pm1 {paired_pm1:.3f}); "
          f"APA acc {apa_acc:.3f} pm1 {apa_pm1:.3f}; streamsync(last) acc {stream_acc:.3f} pm1 {stream_pm1:.3f}")
    assert paired_pm1 >= 3 * CHANCE_PM1  # the snapshot predictor learned the pairing where there is one
    assert stream_pm1 >= 3 * CHANCE_PM1
    assert stream_acc >= apa_acc + 0.15 and stream_acc >= snap_acc + 0.15
    assert stream_pm1 >= apa_pm1 + 0.15 and stream_pm1 >= snap_pm1 + 0.15


@pytest.mark.slow
def test_the_trained_model_through_real_mp4_shards(trained, tmp_path):
    root = write_shard_dataset(DatasetRoot(tmp_path / "data"), splits={"test": 2}, duration_s=14.0, mean_gap_s=2.5,
                               segments_per_clip=8, seed=5, pattern="color", audio="silence")
    save_checkpoint(tmp_path / "model.pt", trained, None, {"train_config": {}, "step": PRETRAIN_STEPS + STREAM_STEPS})
    m = run_evaluate(root, tmp_path / "model.pt", "test", tmp_path / "eval",
                     EvalOptions(iterations=H, hop_s=1.0, cost=False, progress=False))
    saved = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert saved["n_segments"] == 16 and saved["n_failed"] == 0 and saved["iterations"] == H
    print({k: saved[k]["acc_pm1"] for k in ("snapshot", "apa", "streamsync")}, saved["ablation"]["statement"])
    # The clips' events are Poisson (the standard task), which this CI-sized snapshot predictor has not learned
    # (it needs ~1500 steps, docs/benchmarks.md): here the real path must run end to end and report sane
    # figures for every method, ablation and scenario, not beat chance.
    for method in ("snapshot", "apa", "streamsync"):
        assert 0.0 <= saved[method]["acc"] <= saved[method]["acc_pm1"] <= 1.0
        for kind in ("audio_silenced", "video_blanked"):
            assert 0.0 <= saved["ablation"][kind][method]["acc_pm1"] <= 1.0
    assert m["streamsync"]["per_scenario"]
