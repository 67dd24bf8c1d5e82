"""Building blocks: sinusoidal positions, log-mel front end, transformer helpers."""

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


def mel_filterbank(n_fft: int, n_mels: int, sample_rate: int, f_min: float = 0.0, f_max: float | None = None) -> torch.Tensor:
    """Triangular HTK-style mel filters ``(n_mels, n_fft // 2 + 1)``."""
    f_max = f_max or sample_rate / 2

    def hz_to_mel(f):
        return 2595.0 * math.log10(1.0 + f / 700.0)

    mels = torch.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2)
    hz = 700.0 * (10 ** (mels / 2595.0) - 1.0)
    bins = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    lower, centre, upper = hz[:-2, None], hz[1:-1, None], hz[2:, None]
    up = (bins[None] - lower) / (centre - lower).clamp(min=1e-6)
    down = (upper - bins[None]) / (upper - centre).clamp(min=1e-6)
    return torch.clamp(torch.minimum(up, down), min=0.0)


class LogMel(nn.Module):
    """Waveform ``(N, L)`` -> log-mel ``(N, n_mels, frames)``; no trainable weights."""

    def __init__(self, sample_rate: int, n_fft: int, hop_length: int, n_mels: int) -> None:
        super().__init__()
        self.n_fft, self.hop = n_fft, hop_length
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.register_buffer("fb", mel_filterbank(n_fft, n_mels, sample_rate), persistent=False)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(wav.float(), self.n_fft, self.hop, window=self.window, center=True, return_complex=True)
        power = spec.real**2 + spec.imag**2
        mel = torch.matmul(self.fb, power)
        return torch.log(mel + 1e-6)


def encoder(d: int, heads: int, layers: int, ff_mult: int, dropout: float) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(d, heads, d * ff_mult, dropout, activation="gelu", batch_first=True, norm_first=True)
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)


def decoder(d: int, heads: int, layers: int, ff_mult: int, dropout: float) -> nn.TransformerDecoder:
    layer = nn.TransformerDecoderLayer(d, heads, d * ff_mult, dropout, activation="gelu", batch_first=True, norm_first=True)
    return nn.TransformerDecoder(layer, layers)
