"""StreamSync proper: the streaming token, the two streaming heads, and the model that ties them.

Streaming token (paper Sec. 3; StreamSync code ``model/modules/feature_selector.py``,
``StreamingSparseSync.forward``): for window i the snapshot predictor gives class
logits ``l_i`` and its global transformer's OFF (CLS) and PASS outputs.  A
learnable class embedding ``E`` (21 x d) is averaged with the softmax of the
logits, and ``S_i = W [E^T softmax(l_i); OFF_i; PASS_i] + b`` (:class:`StreamToken`).

Heads turn the tokens seen so far into a prediction at every iteration:

* ``trf``: a transformer over *every* token so far (no history limit: H bounds
  the training sequences, not what the head sees at evaluation), each with a
  sinusoidal position by age (0 = newest), plus its own OFF token whose output
  is classified; input LayerNorm, dropout 0.1.
* ``lstm``: a multi-layer LSTM whose learned initial state plays the OFF role; it
  keeps only its hidden state between checks (no token buffer), so streaming
  step by step equals running it over the whole sequence.

K-truncated backprop (``grad_range``): outside the K window only the snapshot
predictor's features (its global transformer's output) are cut from autograd;
the class head (when the predictor exposes ``classify``), the class embedding,
the projection and the streaming head still get gradients from all windows.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from realsync_build.streamsync.model.config import ModelConfig
from realsync_build.streamsync.model.layers import encoder, sinusoid
from realsync_build.streamsync.model.snapshot import SnapshotOutput, make_snapshot
from realsync_build.streamsync.task import NUM_CLASSES


class StreamToken(nn.Module):
    """``[softmax-weighted class embedding; OFF; PASS]`` -> linear projection to the head's width."""

    def __init__(self, feature_dim: int, stream_dim: int) -> None:
        super().__init__()
        # one learnable embedding per offset class (the reference initialises it N(0, 1): features are LayerNormed)
        self.offset_embed = nn.Parameter(torch.randn(NUM_CLASSES, feature_dim))
        self.proj = nn.Linear(3 * feature_dim, stream_dim)

    def forward(self, logits: torch.Tensor, cls: torch.Tensor, pass_: torch.Tensor) -> torch.Tensor:
        probs = torch.softmax(logits.float(), dim=-1).to(cls.dtype)
        off = probs @ self.offset_embed.to(cls.dtype)
        return self.proj(torch.cat([off, cls, pass_], dim=-1))


class TransformerHead(nn.Module):
    def __init__(self, dim: int, layers: int, heads: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.in_norm = nn.LayerNorm(dim)
        self.cls = nn.Parameter(torch.randn(dim) * 0.02)
        self.drop = nn.Dropout(dropout)
        self.encoder = encoder(dim, heads, layers, 4, dropout)
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, NUM_CLASSES)

    def _run(self, seq: torch.Tensor, valid: torch.Tensor, ages: torch.Tensor) -> torch.Tensor:
        """seq ``(N, n, D)``, valid ``(N, n)`` bool, ages ``(N, n)`` or ``(n,)`` -> logits ``(N, 21)``."""
        n_batch, _, dim = seq.shape
        x = self.in_norm(seq) + sinusoid(ages.clamp(min=0), dim).to(seq.dtype)
        x = torch.cat([self.cls.to(seq.dtype).expand(n_batch, 1, dim), x], dim=1)
        pad = torch.cat([torch.zeros(n_batch, 1, dtype=torch.bool, device=valid.device), ~valid], dim=1)
        out = self.encoder(self.drop(x), src_key_padding_mask=pad)
        return self.out(self.norm(out[:, 0]))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """All iterations at once: tokens ``(B, T, D)`` -> logits ``(B, T, 21)``; step t sees tokens 0..t."""
        b, t, d = tokens.shape
        idx = torch.arange(t, device=tokens.device)
        ages = idx[:, None] - idx[None, :]  # (step, token): how many iterations old the token is at that step
        valid = (ages >= 0)[None].expand(b, t, t)
        seq = tokens[:, None].expand(b, t, t, d)
        logits = self._run(seq.reshape(b * t, t, d), valid.reshape(b * t, t), ages[None].expand(b, t, t).reshape(b * t, t))
        return logits.reshape(b, t, NUM_CLASSES)

    def init_state(self, batch: int, device=None):
        return None

    def step(self, state, token: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One check: token ``(B, D)``; state = every token so far ``(B, n, D)`` (no limit, as in the paper's evaluation)."""
        buf = token[:, None] if state is None else torch.cat([state, token[:, None]], dim=1)
        n = buf.shape[1]
        valid = torch.ones(buf.shape[:2], dtype=torch.bool, device=buf.device)
        ages = torch.arange(n - 1, -1, -1, device=buf.device)
        return self._run(buf, valid, ages), buf


class LSTMHead(nn.Module):
    def __init__(self, dim: int, layers: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.in_norm = nn.LayerNorm(dim)
        self.lstm = nn.LSTM(dim, dim, layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)
        # The learned initial state is this head's OFF token: where every stream starts.
        self.h0 = nn.Parameter(torch.zeros(layers, dim))
        self.c0 = nn.Parameter(torch.zeros(layers, dim))
        self.drop = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, NUM_CLASSES)

    def init_state(self, batch: int, device=None):
        return (self.h0[:, None].expand(-1, batch, -1).contiguous(), self.c0[:, None].expand(-1, batch, -1).contiguous())

    def _lstm(self, x: torch.Tensor, state):
        # the LSTM runs in its parameters' dtype (cuDNN under autocast would do the same)
        h, c = state
        y, (h, c) = self.lstm(x.to(self.h0.dtype), (h.to(self.h0.dtype), c.to(self.h0.dtype)))
        return y, (h, c)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        y, _ = self._lstm(self.in_norm(tokens), self.init_state(tokens.shape[0]))
        return self.out(self.norm(self.drop(y)))

    def step(self, state, token: torch.Tensor):
        if state is None:
            state = self.init_state(token.shape[0])
        y, state = self._lstm(self.in_norm(token[:, None]), state)
        return self.out(self.norm(self.drop(y[:, 0]))), state


def make_head(cfg: ModelConfig, kind: str | None = None) -> nn.Module:
    kind = kind or cfg.stream_head
    if kind == "trf":
        return TransformerHead(cfg.stream_dim, cfg.stream_layers, cfg.stream_heads, cfg.stream_dropout)
    if kind == "lstm":
        return LSTMHead(cfg.stream_dim, cfg.stream_layers, cfg.stream_dropout)
    raise ValueError(f"unknown streaming head {kind!r}: use trf or lstm")


class StreamSync(nn.Module):
    """Snapshot predictor + streaming token + streaming head."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.snapshot = make_snapshot(cfg)
        self.stream_token = StreamToken(self.snapshot.feature_dim, cfg.stream_dim)
        self.head = make_head(cfg)

    # -- which parameters are "pretrained" (the backbone) and which are StreamSync's own
    def is_new_parameter(self, name: str) -> bool:
        if name.startswith("snapshot."):
            return self.snapshot.is_new_parameter(name[len("snapshot.") :])
        return True

    def token(self, out: SnapshotOutput) -> torch.Tensor:
        return self.stream_token(out.logits, out.cls, out.pass_)

    def _snap(self, video: torch.Tensor, audio: torch.Tensor, detach: bool) -> SnapshotOutput:
        """The snapshot predictor over ``(B, t, ...)`` windows flattened; ``detach``: features without autograd."""
        b, t = video.shape[:2]
        flat_v, flat_a = video.reshape(b * t, *video.shape[2:]), audio.reshape(b * t, *audio.shape[2:])
        if not detach:
            out = self.snapshot(flat_v, flat_a)
        else:
            with torch.no_grad():
                out = self.snapshot(flat_v, flat_a)
            cls, pas = out.cls.detach(), out.pass_.detach()
            classify = getattr(self.snapshot, "classify", None)
            # the class head sits after the cut in the reference: it still learns from these windows
            logits = classify(cls) if callable(classify) else out.logits.detach()
            out = SnapshotOutput(logits=logits, cls=cls, pass_=pas)
        return SnapshotOutput(*(x.reshape(b, t, *x.shape[1:]) for x in (out.logits, out.cls, out.pass_)))

    def forward(self, video: torch.Tensor, audio: torch.Tensor, grad_range: tuple[int, int] | None = None) -> dict:
        """video ``(B, T, ...)``, audio ``(B, T, ...)`` -> snapshot and stream logits ``(B, T, 21)``.

        ``grad_range=(k0, k)``: only iterations ``k0 .. k0+k-1`` backpropagate into the snapshot
        predictor's features (phase 2's truncated backprop); elsewhere those features are detached.
        """
        t = video.shape[1]
        if grad_range is None or (grad_range[0] <= 0 and grad_range[1] >= t) or not torch.is_grad_enabled():
            parts = [self._snap(video, audio, detach=False)]
        else:
            k0, k = grad_range
            parts = []
            for lo, hi, detach in ((0, k0, True), (k0, min(k0 + k, t), False), (min(k0 + k, t), t, True)):
                if hi > lo:
                    parts.append(self._snap(video[:, lo:hi], audio[:, lo:hi], detach))
        out = SnapshotOutput(*(torch.cat([getattr(p, f) for p in parts], dim=1) for f in ("logits", "cls", "pass_")))
        tokens = self.token(out)
        return {"snapshot": out.logits, "stream": self.head(tokens), "tokens": tokens}

    @torch.no_grad()
    def predict_windows(self, video: torch.Tensor, audio: torch.Tensor) -> dict:
        """Inference over ``(B, T, ...)`` windows, one iteration's windows through the snapshot predictor at a
        time (memory does not grow with T); equal to :meth:`forward` without gradients."""
        outs = [self.snapshot(video[:, i], audio[:, i]) for i in range(video.shape[1])]
        out = SnapshotOutput(*(torch.stack([getattr(o, f) for o in outs], dim=1) for f in ("logits", "cls", "pass_")))
        tokens = self.token(out)
        return {"snapshot": out.logits, "stream": self.head(tokens), "tokens": tokens}

    # -- streaming inference, one check at a time
    def init_state(self, batch: int):
        return self.head.init_state(batch)

    def step(self, state, video: torch.Tensor, audio: torch.Tensor):
        """One check: one window of video and audio per stream -> (snapshot logits, stream logits, state)."""
        out = self.snapshot(video, audio)
        stream, state = self.head.step(state, self.token(out))
        return out.logits, stream, state
