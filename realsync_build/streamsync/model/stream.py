"""StreamSync proper: streaming tokens, the two streaming heads, and the model that ties them.

For every window i the snapshot predictor's CLS and PASS outputs are projected to
a streaming token ``S_i``.  A streaming head turns the tokens seen so far into
a prediction at every iteration:

* ``trf``: a transformer over the last H tokens with sinusoidal positions (by
  age: 0 = newest) and its own CLS token; padded slots are masked.
* ``lstm``: a multi-layer LSTM whose learned initial state plays the CLS role; it
  keeps only its hidden state between checks (no token buffer), so streaming
  step by step equals running it over the whole sequence.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from realsync_build.streamsync.model.config import ModelConfig
from realsync_build.streamsync.model.layers import encoder, sinusoid
from realsync_build.streamsync.model.snapshot import SnapshotOutput, make_snapshot
from realsync_build.streamsync.task import NUM_CLASSES


class TransformerHead(nn.Module):
    def __init__(self, dim: int, layers: int, heads: int, history: int) -> None:
        super().__init__()
        self.history = history
        self.cls = nn.Parameter(torch.randn(dim) * 0.02)
        self.encoder = encoder(dim, heads, layers, 4, 0.0)
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, NUM_CLASSES)

    def _run(self, window: torch.Tensor, valid: torch.Tensor, ages: torch.Tensor) -> torch.Tensor:
        """window ``(N, n, D)`` oldest first, valid ``(N, n)`` bool, ages ``(n,)`` -> logits ``(N, 21)``."""
        n_batch, _, dim = window.shape
        x = window + sinusoid(ages, dim).to(window.dtype)
        seq = torch.cat([self.cls.expand(n_batch, 1, dim), x], dim=1)
        pad = torch.cat([torch.zeros(n_batch, 1, dtype=torch.bool, device=valid.device), ~valid], dim=1)
        out = self.encoder(seq, src_key_padding_mask=pad)
        return self.out(self.norm(out[:, 0]))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """All iterations at once: tokens ``(B, T, D)`` -> logits ``(B, T, 21)``; step t sees tokens max(0,t-H+1)..t."""
        b, t, d = tokens.shape
        h = self.history
        padded = torch.cat([tokens.new_zeros(b, h - 1, d), tokens], dim=1)
        windows = padded.unfold(1, h, 1).permute(0, 1, 3, 2)  # (B, T, H, D)
        idx = torch.arange(t, device=tokens.device)[:, None] - (h - 1) + torch.arange(h, device=tokens.device)[None]
        valid = (idx >= 0)[None].expand(b, t, h)
        ages = torch.arange(h - 1, -1, -1, device=tokens.device)
        logits = self._run(windows.reshape(b * t, h, d), valid.reshape(b * t, h), ages)
        return logits.reshape(b, t, NUM_CLASSES)

    def init_state(self, batch: int, device=None):
        return None

    def step(self, state, token: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One check: token ``(B, D)``; state = the last (up to H) tokens ``(B, n, D)``."""
        buf = token[:, None] if state is None else torch.cat([state, token[:, None]], dim=1)[:, -self.history :]
        n = buf.shape[1]
        valid = torch.ones(buf.shape[:2], dtype=torch.bool, device=buf.device)
        ages = torch.arange(n - 1, -1, -1, device=buf.device)
        return self._run(buf, valid, ages), buf


class LSTMHead(nn.Module):
    def __init__(self, dim: int, layers: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(dim, dim, layers, batch_first=True)
        # The learned initial state is this head's CLS: where every stream starts.
        self.h0 = nn.Parameter(torch.zeros(layers, dim))
        self.c0 = nn.Parameter(torch.zeros(layers, dim))
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, NUM_CLASSES)

    def init_state(self, batch: int, device=None):
        return (self.h0[:, None].expand(-1, batch, -1).contiguous(), self.c0[:, None].expand(-1, batch, -1).contiguous())

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        y, _ = self.lstm(tokens, self.init_state(tokens.shape[0]))
        return self.out(self.norm(y))

    def step(self, state, token: torch.Tensor):
        if state is None:
            state = self.init_state(token.shape[0])
        y, state = self.lstm(token[:, None], state)
        return self.out(self.norm(y[:, 0])), state


def make_head(cfg: ModelConfig, kind: str | None = None) -> nn.Module:
    kind = kind or cfg.stream_head
    if kind == "trf":
        return TransformerHead(cfg.stream_dim, cfg.stream_layers, cfg.stream_heads, cfg.history)
    if kind == "lstm":
        return LSTMHead(cfg.stream_dim, cfg.stream_layers)
    raise ValueError(f"unknown streaming head {kind!r}: use trf or lstm")


class StreamSync(nn.Module):
    """Snapshot predictor + PASS/CLS projection + streaming head."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.snapshot = make_snapshot(cfg)
        f = self.snapshot.feature_dim
        self.proj = nn.Sequential(nn.Linear(2 * f, cfg.stream_dim), nn.LayerNorm(cfg.stream_dim))
        self.head = make_head(cfg)

    # -- which parameters are "pretrained" (the backbone) and which are StreamSync's own
    def is_new_parameter(self, name: str) -> bool:
        if name.startswith("snapshot."):
            return self.snapshot.is_new_parameter(name[len("snapshot.") :])
        return True

    def token(self, out: SnapshotOutput) -> torch.Tensor:
        return self.proj(torch.cat([out.cls, out.pass_], dim=-1))

    def _snap(self, video: torch.Tensor, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, t = video.shape[:2]
        out = self.snapshot(video.reshape(b * t, *video.shape[2:]), audio.reshape(b * t, *audio.shape[2:]))
        return out.logits.reshape(b, t, -1), self.token(out).reshape(b, t, -1)

    def forward(self, video: torch.Tensor, audio: torch.Tensor, grad_range: tuple[int, int] | None = None) -> dict:
        """video ``(B, T, F, S, S, 3)``, audio ``(B, T, L)`` -> snapshot and stream logits ``(B, T, 21)``.

        ``grad_range=(k0, k)``: only iterations ``k0 .. k0+k-1`` run with autograd through the
        snapshot predictor (phase 2's truncated backprop); the others run under ``no_grad``.
        """
        t = video.shape[1]
        if grad_range is None or (grad_range[0] == 0 and grad_range[1] >= t):
            snap, tokens = self._snap(video, audio)
        else:
            k0, k = grad_range
            parts = []
            for lo, hi, grad in ((0, k0, False), (k0, min(k0 + k, t), True), (min(k0 + k, t), t, False)):
                if hi <= lo:
                    continue
                with torch.set_grad_enabled(grad and torch.is_grad_enabled()):
                    parts.append(self._snap(video[:, lo:hi], audio[:, lo:hi]))
            snap = torch.cat([p[0] for p in parts], dim=1)
            tokens = torch.cat([p[1] for p in parts], dim=1)
        return {"snapshot": snap, "stream": self.head(tokens), "tokens": tokens}

    # -- streaming inference, one check at a time
    def init_state(self, batch: int):
        return self.head.init_state(batch)

    def step(self, state, video: torch.Tensor, audio: torch.Tensor):
        """One check: video ``(B, F, S, S, 3)``, audio ``(B, L)`` -> (snapshot logits, stream logits, state)."""
        out = self.snapshot(video, audio)
        stream, state = self.head.step(state, self.token(out))
        return out.logits, stream, state
