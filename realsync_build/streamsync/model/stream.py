"""StreamSync proper: the streaming token, the two streaming heads, and the model that ties them.

Streaming token (paper Sec. 3; StreamSync code ``model/modules/feature_selector.py``,
``StreamingSparseSync.forward``): for window i the snapshot predictor gives class
logits ``l_i`` and its global transformer's OFF (CLS) and PASS outputs.  A
learnable class embedding ``E`` (21 x d) is averaged with the softmax of the
logits, and ``S_i = W [E^T softmax(l_i); OFF_i; PASS_i] + b`` (:class:`StreamToken`).

Heads turn the tokens seen so far into a prediction at every iteration:

* ``trf``: the StreamSync code's ``StreamingTransformer``: a transformer over *every*
  token so far (no history limit: H bounds the training sequences, not what the head
  sees at evaluation), each with the code's gated sinusoidal position by age
  (0 = newest), plus its own OFF token whose output is classified; input LayerNorm,
  dropout 0.1.
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
from realsync_build.streamsync.model.layers import GatedSinusoidPositions, init_like_reference
from realsync_build.streamsync.model.snapshot import SnapshotOutput, make_snapshot
from realsync_build.streamsync.sparsesync.net import EncoderBlock, SparseSyncSizes
from realsync_build.streamsync.task import NUM_CLASSES, at_least_fp32


class StreamToken(nn.Module):
    """``[softmax-weighted class embedding; OFF; PASS]`` -> linear projection to the head's width."""

    def __init__(self, feature_dim: int, stream_dim: int, init_std: float = 0.02) -> None:
        super().__init__()
        # one learnable embedding per offset class (the reference initialises it N(0, 1): features are LayerNormed)
        self.offset_embed = nn.Parameter(torch.randn(NUM_CLASSES, feature_dim))
        self.proj = nn.Linear(3 * feature_dim, stream_dim)
        init_like_reference(self.proj, init_std)  # the code's streaming_down_proj: N(0, 0.02), zero bias

    def forward(self, logits: torch.Tensor, cls: torch.Tensor, pass_: torch.Tensor) -> torch.Tensor:
        probs = torch.softmax(at_least_fp32(logits), dim=-1).to(cls.dtype)
        off = probs @ self.offset_embed.to(cls.dtype)
        return self.proj(torch.cat([off, cls, pass_], dim=-1))


class TransformerHead(nn.Module):
    """The StreamSync code's ``StreamingTransformer``: input LayerNorm, gated sinusoidal positions by age,
    its own OFF token first, pre-norm blocks (SparseSync's minGPT layout), final LayerNorm, a linear
    classifier on OFF's output.  Parameter names map one to one (:mod:`realsync_build.streamsync.refnames`)."""

    def __init__(self, dim: int, layers: int, heads: int, dropout: float = 0.1, init_std: float = 0.02) -> None:
        super().__init__()
        sizes = SparseSyncSizes(n_embd=dim, n_head=heads, embd_pdrop=dropout, resid_pdrop=dropout, attn_pdrop=dropout)
        self.in_norm = nn.LayerNorm(dim)
        self.positions = GatedSinusoidPositions(dim)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(EncoderBlock(sizes) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, NUM_CLASSES)
        self.apply(lambda m: init_like_reference(m, init_std))
        self.cls = nn.Parameter(torch.randn(1, 1, dim))  # OFF: N(0, 1) as the code's OFF_tok

    def _run(self, seq: torch.Tensor, valid: torch.Tensor, ages: torch.Tensor) -> torch.Tensor:
        """seq ``(N, n, D)``, valid ``(N, n)`` bool, ages ``(N, n)`` or ``(n,)`` -> logits ``(N, 21)``."""
        n_batch, _, dim = seq.shape
        ages = ages.clamp(min=0)
        table = self.positions(torch.arange(int(ages.max()) + 1, device=seq.device))  # one vector per age, then looked up
        x = self.in_norm(seq) + table[ages].to(seq.dtype)
        x = self.drop(torch.cat([self.cls.to(seq.dtype).expand(n_batch, 1, dim), x], dim=1))
        keep = torch.cat([torch.ones(n_batch, 1, dtype=torch.bool, device=valid.device), valid], dim=1)
        mask = None if bool(keep.all()) else keep[:, None, None, :]  # keys a query may attend: OFF and the tokens so far
        for block in self.blocks:
            x = block(x, mask)
        return self.out(self.norm(x[:, 0]))

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
        return TransformerHead(cfg.stream_dim, cfg.stream_layers, cfg.stream_heads, cfg.stream_dropout, cfg.init_std)
    if kind == "lstm":
        return LSTMHead(cfg.stream_dim, cfg.stream_layers, cfg.stream_dropout)
    raise ValueError(f"unknown streaming head {kind!r}: use trf or lstm")


class StreamSync(nn.Module):
    """Snapshot predictor + streaming token + streaming head."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.snapshot = make_snapshot(cfg)
        self.stream_token = StreamToken(self.snapshot.feature_dim, cfg.stream_dim, cfg.init_std)
        self.head = make_head(cfg)

    # -- which parameters are "pretrained" (the backbone) and which are StreamSync's own
    def is_new_parameter(self, name: str) -> bool:
        if name.startswith("snapshot."):
            return self.snapshot.is_new_parameter(name[len("snapshot.") :])
        return True

    def token(self, out: SnapshotOutput) -> torch.Tensor:
        return self.stream_token(out.logits, out.cls, out.pass_)

    def _snap(self, video: torch.Tensor, audio: torch.Tensor, detach: bool) -> SnapshotOutput:
        """The snapshot predictor on one iteration's windows ``(B, ...)``; ``detach``: features without autograd."""
        if not detach:
            return self.snapshot(video, audio)
        with torch.no_grad():
            out = self.snapshot(video, audio)
        cls, pas = out.cls.detach(), out.pass_.detach()
        classify = getattr(self.snapshot, "classify", None)
        # the class head sits after the cut in the reference: it still learns from these windows
        logits = classify(cls) if callable(classify) else out.logits.detach()
        return SnapshotOutput(logits=logits, cls=cls, pass_=pas)

    def forward(self, video: torch.Tensor, audio: torch.Tensor, grad_range: tuple[int, int] | None = None) -> dict:
        """video ``(B, T, ...)``, audio ``(B, T, ...)`` -> snapshot and stream logits ``(B, T, 21)``.

        The snapshot predictor runs on one iteration's windows at a time, as the StreamSync code does
        (``train_sync.py`` calls the model once per streaming iteration): in training mode its BatchNorm
        layers normalise with the statistics of the B windows of that iteration and update their running
        statistics once per iteration.  ``cfg.snapshot_batch = "sequence"`` runs all windows of a sequence
        as one batch instead (statistics over B x H windows, one running-statistics update per step).  ``grad_range=(k0, k)``: only iterations ``k0 .. k0+k-1``
        backpropagate into the snapshot predictor's features (phase 2's truncated backprop); elsewhere
        those features are detached (the code's ``detach_base``).
        """
        t = video.shape[1]
        full = grad_range is None or (grad_range[0] <= 0 and grad_range[1] >= t) or not torch.is_grad_enabled()
        detach = [not full and not grad_range[0] <= i < grad_range[0] + grad_range[1] for i in range(t)]
        if self.cfg.snapshot_batch == "sequence":  # consecutive iterations alike in `detach` as one batch of B x n windows
            parts, i = [], 0
            while i < t:
                j = i
                while j < t and detach[j] == detach[i]:
                    j += 1
                b, n = video.shape[0], j - i
                o = self._snap(video[:, i:j].flatten(0, 1), audio[:, i:j].flatten(0, 1), detach[i])
                parts.append(SnapshotOutput(*(x.unflatten(0, (b, n)) for x in (o.logits, o.cls, o.pass_))))
                i = j
            out = SnapshotOutput(*(torch.cat([getattr(p, f) for p in parts], dim=1) for f in ("logits", "cls", "pass_")))
        else:
            outs = [self._snap(video[:, i], audio[:, i], detach[i]) for i in range(t)]
            out = SnapshotOutput(*(torch.stack([getattr(o, f) for o in outs], dim=1) for f in ("logits", "cls", "pass_")))
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
