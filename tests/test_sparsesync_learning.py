"""The tiny SparseSync (same architecture as the published one, no correlation path) learns from scratch.

CPU budget: 200 steps of batch 16 on 5 s windows at 32 px / 10 fps / 8 kHz.  The task is the
flash/click offset task's first curriculum stage (``docs/sparsesync.md``, "Training tiny from
scratch"): one event per window pair, at the centre of the video window or of the audio window
(alternating samples), so the 21-class offset is where the event is in the other modality.
To get it right the network must find the click in the spectrogram (ResNet + audio selector +
positions) on some samples and the flash in the frames (S3D + visual selector + positions) on
the others, and the global transformer must tell which; the full 21-class task with Poisson
events is the bench's (``bench/sparsesync_learning.py``, ``docs/benchmarks.md``).

Controls on the same trained model: on the windows anchored in the video, the audio of another
such window; on those anchored in the audio, the video of another such window.  Both must fall
clearly (towards chance): the prediction comes from the pair, so each stream's path is checked.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from realsync_build.streamsync.model import tiny_config
from realsync_build.streamsync.model.snapshot import SparseSyncPredictor
from realsync_build.streamsync.synthetic import event_batch
from realsync_build.streamsync.task import NUM_CLASSES

LOW_RES = dict(video_size=32, fps=10, sample_rate=8000, n_fft=128, hop_length=64)
PLACEMENT = "video_anchor+audio_anchor"
STEPS, BATCH, LR, WARMUP = 200, 16, 1e-3, 20
CHANCE_PM1 = 3 / NUM_CLASSES


def _batch(n: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    b = event_batch(n, 1, size=32, fps=10, sample_rate=8000, rng=rng, placement=PLACEMENT)
    return b["video"][:, 0], b["audio"][:, 0], b["target"]


@pytest.fixture(scope="module")
def trained():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same arithmetic (and trajectory) on any machine; 2 threads oversubscribe a loaded CI box
    try:
        yield _train()
    finally:
        torch.set_num_threads(threads)


def _train() -> SparseSyncPredictor:
    torch.manual_seed(0)
    model = SparseSyncPredictor(tiny_config(**LOW_RES))
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.01)
    rng = np.random.default_rng(0)
    model.train()
    for step in range(STEPS):
        for g in opt.param_groups:
            g["lr"] = LR * min(1.0, (step + 1) / WARMUP)
        video, audio, target = _batch(BATCH, rng)
        loss = torch.nn.functional.cross_entropy(model(video, audio).logits, target)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return model.eval()


def _hits_pm1(model: SparseSyncPredictor, video: torch.Tensor, audio: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        pred = torch.cat([model(video[i : i + 64], audio[i : i + 64]).logits.argmax(-1) for i in range(0, len(video), 64)])
    return ((pred - target).abs() <= 1).float()


@pytest.mark.slow
def test_tiny_sparsesync_learns_event_times_and_uses_the_pairing(trained):
    video, audio, target = _batch(192, np.random.default_rng(123))
    v_anchor = torch.arange(len(target)) % 2 == 0  # event_batch alternates: even samples video_anchor, odd audio_anchor
    real = _hits_pm1(trained, video, audio, target).mean().item()
    # rolling by 2 pairs each window with another window of the same placement
    other_audio = _hits_pm1(trained, video, torch.roll(audio, 2, dims=0), target)[v_anchor].mean().item()
    other_video = _hits_pm1(trained, torch.roll(video, 2, dims=0), audio, target)[~v_anchor].mean().item()
    print(f"held-out acc+/-1 {real:.3f} (chance {CHANCE_PM1:.3f}); another window's audio {other_audio:.3f}, video {other_video:.3f}")
    assert real >= 3 * CHANCE_PM1
    assert other_audio <= 0.5 * real
    assert other_video <= 0.5 * real
