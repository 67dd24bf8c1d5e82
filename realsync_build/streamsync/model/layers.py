"""Building blocks of the streaming heads: sinusoidal positions and a transformer encoder."""

from __future__ import annotations

import math

import torch
import torch.nn as nn


def sinusoid(positions: torch.Tensor, dim: int, scale: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of (fractional) positions: ``(...,)`` -> ``(..., dim)``."""
    half = dim // 2
    freqs = torch.exp(-math.log(scale) * torch.arange(half, device=positions.device, dtype=torch.float32) / max(half, 1))
    ang = positions.float()[..., None] * freqs
    emb = torch.cat([torch.sin(ang), torch.cos(ang)], dim=-1)
    if dim % 2:
        emb = torch.nn.functional.pad(emb, (0, 1))
    return emb


def encoder(d: int, heads: int, layers: int, ff_mult: int, dropout: float) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(d, heads, d * ff_mult, dropout, activation="gelu", batch_first=True, norm_first=True)
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
