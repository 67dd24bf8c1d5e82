"""The reduced setting in which this project's StreamSync training step is compared with the StreamSync code's.

Shared by ``bench/streamsync_reference_step.py`` (which runs the code, jvoas655/StreamSync, outside the
project to make ``tests/fixtures/streamsync/reference_step.pt``, and compares) and
``tests/test_streamsync_reference.py``.  Imports nothing but torch at module level, so the fixture
script can use it in the reference's scratch venv.

The setting: the published network's extractors (full S3D and ResNet-18) and 512-d transformers cut to
one layer and 4 selectors, every dropout 0; 4 s windows at 4 fps (16 frames of 32 px) and 1.6 kHz
audio (n_fft 128: 50 spectrogram frames of 65 bins per window, cut from the span's); a batch of 2 streams of
H = 5 windows at a 1 s hop, K = 2; one evaluation stream of 18 windows at a 2 s hop.  Weights come from
:func:`~realsync_build.streamsync.sparsesync.testing.deterministic_state` over the code's parameter
names (``refnames`` maps them), inputs from a seed: nothing large is stored.

Both sides take the training steps in float64 (the inputs are made in float32 by each side's own
transforms; the project's steps start from the code's audio windows, stored in the fixture, because
MKL's FFT rounds the last bits differently on different CPUs) and run the evaluation in float32.
With random weights and grids this small, S3D's training-mode BatchNorm normalises some channels over a
handful of nearly equal values, which magnifies float32 rounding (a different but equally exact summation
order) about a thousand times by the last layers (measured: 1.8e-6 after the first convolution, 1.3e-3
after Mixed_5b).  In float64 the same magnification leaves the rounding far below the 1e-4 tolerance, so
what is compared is the arithmetic of the two steps, not their rounding.  Evaluation normalises with the
running statistics (an affine map), which magnifies nothing, so float32 is enough there.
"""

from __future__ import annotations

import zlib

import torch

SETTING = {
    "seed": 0,
    "batch": 2,
    "history": 5,  # H
    "k": 2,  # K
    "fps": 4,
    "sample_rate": 1600,
    "size": 32,
    "dtype": "float64",  # see below
    "window_s": 4.0,
    "n_fft": 128,
    "train_hop_s": 1.0,
    "eval_hop_s": 2.0,
    "eval_iterations": 18,
    "eval_batch": 1,
    "classes": (3, 20),  # the two streams' offset classes (-1.4 s; +2.0 s, an edge class)
    "lr": 0.1,  # large enough that Adam's first steps (about lr / 100, then lr / 4) move the weights by more than 1e-4
    "warmup_steps": 4,
    "constant_steps": 3,
    "decay_steps": 5,
    "phase2_micro_index": 1,  # the phase-2 step is the run's second micro-batch: the code's K window starts at 1 % (5 - 4) + 2 = 2
    "n_layer": 1,
    "num_selectors": 4,
    "visual_block_shape": (2, 1, 1),  # S3D's grid for 16 frames of 32 px
    "audio_block_shape": (3, 2),  # ResNet-18's grid for 65 x 50
}
TOLERANCE = 1e-4


def model_config():
    """This project's ModelConfig for the reduced network (the code's ``configs/streaming_sparse_sync.yaml``, cut)."""
    from realsync_build.streamsync.model.config import base_config

    s = SETTING
    return base_config(fps=s["fps"], sample_rate=s["sample_rate"], window_s=s["window_s"], video_size=s["size"], input_size=s["size"], n_fft=s["n_fft"],
                       audio_frontend="span", n_queries=s["num_selectors"], selector_layers=s["n_layer"], encoder_layers=s["n_layer"],
                       dropout=0.0, stream_layers=s["n_layer"], stream_dropout=0.0, history=s["history"])


def train_config():
    """The ``repo`` recipe, resolved for one process, with the reduced schedule and a visible learning rate."""
    from realsync_build.streamsync.recipes import resolve_recipe
    from realsync_build.streamsync.train import TrainConfig

    s = SETTING
    return resolve_recipe(TrainConfig(recipe="repo", history=s["history"], backprop_iterations=s["k"], lr=s["lr"],
                                      warmup_steps=s["warmup_steps"], constant_steps=s["constant_steps"], decay_steps=s["decay_steps"]), 1)


def spans(seed: int | None = None) -> dict[str, torch.Tensor]:
    """Seeded decoded spans, as the code's crop hands them on: uint8 RGB frames ``(B, F, S, S, 3)`` and a
    mono waveform ``(B, L)``, ``5 s + n x hop`` long (the code's crop), for training and for evaluation."""
    s = SETTING
    g = torch.Generator().manual_seed(s["seed"] if seed is None else seed)
    out = {}
    for kind, b, n, hop in (("train", s["batch"], s["history"], s["train_hop_s"]), ("eval", s["eval_batch"], s["eval_iterations"], s["eval_hop_s"])):
        span_s = s["window_s"] + n * hop
        n_frames, n_samples = int(s["fps"] * span_s), int(s["sample_rate"] * span_s)
        out[f"{kind}_video"] = torch.randint(0, 256, (b, n_frames, s["size"], s["size"], 3), generator=g, dtype=torch.uint8)
        out[f"{kind}_audio"] = (torch.randn(b, n_samples, generator=g) * 0.1).clamp(-1, 1)
    return out


def window_starts(n: int, hop_s: float) -> tuple[list[int], list[int]]:
    """Each window's first frame and first sample in the span (the loader's ``f_idx - f0``, ``a_idx - a0``)."""
    s = SETTING
    return [int(round(i * hop_s * s["fps"])) for i in range(n)], [int(round(i * hop_s * s["sample_rate"])) for i in range(n)]


def summary(x: torch.Tensor, name: str) -> torch.Tensor:
    """Nine numbers that pin a tensor down (float64): sum, sum of magnitudes, L2 norm, largest magnitude, a
    projection on a unit-variance random direction seeded by the name, and four entries at seeded places."""
    flat = x.detach().reshape(-1).to(torch.float64)
    g = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    direction = torch.randn(flat.numel(), generator=g, dtype=torch.float64)
    picks = torch.randint(0, flat.numel(), (4,), generator=g)
    scale = [flat.sum(), flat.abs().sum(), flat.norm(), flat.abs().max(), flat @ direction]
    return torch.cat([torch.stack(scale), flat[picks]])


def relative_error(ours: torch.Tensor, ref: torch.Tensor, floor: float = 0.0) -> float:
    """How far two summaries are apart, each number against its own scale in the reference tensor: the sum
    against the sum of magnitudes, the norm and the projection against the norm, entries and the largest
    magnitude against the largest magnitude; no scale below ``floor`` (for tensors that are zero in exact
    arithmetic and rounding noise in practice).  0 for two all-zero tensors."""
    d = (ours - ref).abs()
    tiny = max(floor, 1e-30)
    parts = [d[0] / max(float(ref[1]), tiny), d[1] / max(float(ref[1]), tiny), d[2] / max(float(ref[2]), tiny),
             d[4] / max(float(ref[2]), tiny), (d[[3, 5, 6, 7, 8]] / max(float(ref[3]), tiny)).max()]
    return float(torch.stack([torch.as_tensor(p, dtype=torch.float64) for p in parts]).max())
