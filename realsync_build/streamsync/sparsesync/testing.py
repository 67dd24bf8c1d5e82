"""Deterministic weights for a layout, shared by the fixture script (reference side) and the tests.

Every tensor is drawn from its own generator seeded by ``seed`` and a CRC32 of its key, so
a state dict of 810 tensors is rebuilt from a layout (keys + shapes) without storing it.
Scales keep activations finite through the deep S3D: He-scaled conv / linear weights,
BatchNorm running variances in [0.5, 2], small biases and means.
"""

from __future__ import annotations

import zlib
from typing import Mapping

import torch


def deterministic_tensor(key: str, shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(key.encode()))
    if key.endswith("num_batches_tracked"):
        return torch.zeros((), dtype=torch.long)
    if key.endswith("running_var"):
        return torch.rand(shape, generator=g) * 1.5 + 0.5
    if key.endswith(("running_mean", ".bias")):
        return torch.randn(shape, generator=g) * 0.1
    if len(shape) >= 2 and not key.endswith(("_tok", "selectors")) and "embed" not in key:
        fan_in = 1
        for s in shape[1:]:
            fan_in *= s
        return torch.randn(shape, generator=g) * (2.0 / fan_in) ** 0.5
    if len(shape) == 1:  # norm weights
        return 1.0 + torch.randn(shape, generator=g) * 0.1
    return torch.randn(shape, generator=g) * 0.5  # tokens, selectors, position tables


def deterministic_state(layout: Mapping[str, tuple[int, ...]], seed: int = 0) -> dict[str, torch.Tensor]:
    return {k: deterministic_tensor(k, tuple(s), seed) for k, s in layout.items()}


def small_inputs(seed: int = 0, batch: int = 2, frames: int = 16, size: int = 64, spec_frames: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Random ``vis (B, frames, 3, size, size)`` and ``aud (B, 1, 257, spec_frames)`` from a fixed seed."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, frames, 3, size, size, generator=g), torch.randn(batch, 1, 257, spec_frames, generator=g)
