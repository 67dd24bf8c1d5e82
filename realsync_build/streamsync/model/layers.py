"""Building blocks of the streaming heads: the StreamSync code's positions by age, and its init.

``GatedSinusoidPositions`` is the position embedding of the StreamSync code's transformer head
(``PositionEmbeddingSinusoidalStreamingHead`` with ``time_periodicity: 100, project: True`` in
``configs/streaming_sparse_sync.yaml``): for a token ``a`` iterations old (0 = the newest; the code
keeps its tokens newest first and numbers them from 0), channel pair ``(2j, 2j+1)`` holds
``sin / cos(2 pi a w_j / period)`` with ``w_j = 10000^(-2j/d)``, and a gated projection
``down(relu(gate(p)) * up(p))`` maps it before it is added to the token.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

POSITION_PERIOD = 100.0  # the code's time_periodicity (ages count iterations: its time_intervals default to 1)


def interleaved_sinusoid(ages: torch.Tensor, dim: int, period: float = POSITION_PERIOD) -> torch.Tensor:
    """``(...,)`` ages -> ``(..., dim)``: ``sin`` on even channels, ``cos`` on odd ones (``dim`` even)."""
    if dim % 2:
        raise ValueError(f"the streaming head's width must be even for its sinusoidal positions, got {dim}")
    freqs = torch.exp(torch.arange(0, dim, 2, device=ages.device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    ang = 2 * math.pi * ages.float()[..., None] * freqs / period
    return torch.stack([torch.sin(ang), torch.cos(ang)], dim=-1).flatten(-2)


class GatedSinusoidPositions(nn.Module):
    """Ages -> position vectors: the interleaved sinusoid through ``down(relu(gate(p)) * up(p))``."""

    def __init__(self, dim: int, period: float = POSITION_PERIOD) -> None:
        super().__init__()
        self.dim, self.period = dim, period
        self.up = nn.Linear(dim, dim, bias=False)
        self.gate = nn.Linear(dim, dim)
        self.down = nn.Linear(dim, dim, bias=False)

    def forward(self, ages: torch.Tensor) -> torch.Tensor:
        pos = interleaved_sinusoid(ages, self.dim, self.period).to(self.up.weight.dtype)  # float32 table, as the code's
        return self.down(torch.relu(self.gate(pos)) * self.up(pos))


def init_like_reference(module: nn.Module, std: float) -> None:
    """The StreamSync code's ``init_weights`` for its new parts: linears N(0, std) (0.02 there) with zero
    bias, LayerNorms at identity.  Applied with ``module.apply``."""
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, std=std)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
