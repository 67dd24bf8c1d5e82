"""The SparseSync network (Iashin et al., BMVC 2022) with the public checkpoints' parameter layout.

Data flow (shapes for the published 5 s windows, 125 frames 224 px and a 257 x 626 spectrogram):

1. ``vfeat_extractor`` S3D: ``(B,125,3,224,224) -> (B,16,1024,7,7)``; ``v_bridge``: 1x1x1 conv
   to ``n_embd`` + GELU.  ``afeat_extractor`` ResNet-18: ``(B,1,257,626) -> (B,512,9,20)``;
   the audio bridge is the identity (no parameters).
2. ``transformer``: channel-last, a LayerNorm per modality, learned positional embeddings
   (visual: concat of time / width / height tables, audio: frequency / time), then a
   feature selector per modality: ``num_selectors`` learned queries (+ a learned position
   table) through decoder blocks (self-attention, cross-attention to the dense features, MLP).
3. ``global_transformer`` over ``[OFF, (PASS,) v_1..v_S, MOD, a_1..a_S]`` (LayerNorm'd
   selectors), pre-norm blocks, final LayerNorm; ``off_head`` (no bias) on OFF's output -> 21 logits.

``pass_token=True`` adds StreamSync's PASS token (``global_transformer.PASS_tok``) right
after OFF, as jvoas655/StreamSync's ``StreamingGlobalTransformer`` does; its output is the
feature StreamSync carries to the next window.  It is the only parameter a public
SparseSync file lacks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
import torch.nn as nn
import torch.nn.functional as F

from realsync_build.streamsync.sparsesync.extractors import ResNet18AudioFeatures, S3DFeatures


@dataclass
class SparseSyncSizes:
    """Sizes of one SparseSync network (defaults: the ``22-07-28T15-49-45`` config)."""

    n_embd: int = 512
    n_head: int = 8
    selector_layers: int = 3
    global_layers: int = 3
    num_selectors: int = 16
    visual_block_shape: tuple[int, int, int] = (16, 7, 7)  # S3D output (t, h, w) of a 5 s window
    audio_block_shape: tuple[int, int] = (9, 20)  # ResNet output (f, t)
    num_offset_cls: int = 21
    width_div: int = 1  # extractor channel divisor (1 = published)
    tok_pdrop: float = 0.0
    embd_pdrop: float = 0.1
    resid_pdrop: float = 0.1
    attn_pdrop: float = 0.1
    pass_token: bool = False
    # training-from-scratch settings (no effect on loading a checkpoint): the reference's N(0, 0.02) init of the
    # transformer's linears and S3D's BatchNorm momentum 0.001 (the Kinetics port's); ``tiny`` changes both
    init_std: float = 0.02
    s3d_bn_momentum: float = 0.001

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "SparseSyncSizes":
        names = {f.name for f in fields(cls)}
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items() if k in names})


class Attention(nn.Module):
    """Multi-head attention with separate ``key``/``query``/``value``/``proj`` linears (minGPT's layout)."""

    def __init__(self, d: int, n_head: int, attn_pdrop: float, resid_pdrop: float) -> None:
        super().__init__()
        if d % n_head:
            raise ValueError(f"n_embd {d} is not divisible by n_head {n_head}")
        self.key, self.query, self.value, self.proj = (nn.Linear(d, d) for _ in range(4))
        self.n_head, self.attn_pdrop = n_head, attn_pdrop
        self.resid_drop = nn.Dropout(resid_pdrop)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``mask``: bool, broadcastable to ``(B, heads, Tq, Tk)``, True where a query may attend (StreamSync's
        streaming head runs all iterations of a sequence at once, each seeing the tokens so far)."""
        ctx = x if context is None else context
        b, tq, d = x.shape
        heads = lambda t: t.view(b, t.shape[1], self.n_head, d // self.n_head).transpose(1, 2)  # noqa: E731
        q, k, v = heads(self.query(x)), heads(self.key(ctx)), heads(self.value(ctx))
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.attn_pdrop if self.training else 0.0)
        return self.resid_drop(self.proj(y.transpose(1, 2).reshape(b, tq, d)))


def _mlp(d: int, resid_pdrop: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d), nn.Dropout(resid_pdrop))


class EncoderBlock(nn.Module):
    """Pre-norm self-attention + MLP (keys ``ln1 ln2 attn mlp``)."""

    def __init__(self, s: SparseSyncSizes) -> None:
        super().__init__()
        d = s.n_embd
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = Attention(d, s.n_head, s.attn_pdrop, s.resid_pdrop)
        self.mlp = _mlp(d, s.resid_pdrop)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), mask=mask)
        return x + self.mlp(self.ln2(x))


class SelectorBlock(nn.Module):
    """Pre-norm self-attention, cross-attention to the (un-normed) dense features, MLP (keys ``ln1..3 attn xattn mlp``)."""

    def __init__(self, s: SparseSyncSizes) -> None:
        super().__init__()
        d = s.n_embd
        self.ln1, self.ln2, self.ln3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = Attention(d, s.n_head, s.attn_pdrop, s.resid_pdrop)
        self.xattn = Attention(d, s.n_head, s.attn_pdrop, s.resid_pdrop)
        self.mlp = _mlp(d, s.resid_pdrop)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        x = x + self.xattn(self.ln2(x), context)
        return x + self.mlp(self.ln3(x))


class LearnedPositions(nn.Module):
    """Sum of per-axis learned tables, concatenated on channels (SparseSync's learned position embedding).

    Each axis gets ``n_embd // n_axes`` channels; ``time`` gets the remainder.  ``order``
    is the concatenation order of the channel blocks (visual: t, w, h; audio: f, t), while the
    input's axes are ``axes``.
    """

    def __init__(self, axes: tuple[str, ...], sizes: tuple[int, ...], order: tuple[str, ...], d: int) -> None:
        super().__init__()
        self.axes, self.order = axes, order
        dims = {a: d // len(axes) + (d % len(axes) if a == "time" else 0) for a in axes}
        for a, n in zip(axes, sizes):
            setattr(self, f"{a}_embed", nn.Embedding(n, dims[a]))
            nn.init.uniform_(getattr(self, f"{a}_embed").weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        grid = x.shape[1:-1]
        parts = []
        for a in self.order:
            i = self.axes.index(a)
            table = getattr(self, f"{a}_embed")(torch.arange(grid[i], device=x.device))
            view = [1] * len(grid) + [table.shape[-1]]
            view[i] = grid[i]
            parts.append(table.view(view).expand(*grid, table.shape[-1]))
        return x + torch.cat(parts, dim=-1).to(x.dtype)


class FeatureSelector(nn.Module):
    """``num_selectors`` learned queries attend to one modality's dense features -> ``(B, S, D)``."""

    def __init__(self, s: SparseSyncSizes) -> None:
        super().__init__()
        self.selectors = nn.Parameter(torch.randn(s.num_selectors, s.n_embd))
        self.selectors_pos_emb = nn.Module()
        self.selectors_pos_emb.time_embed = nn.Embedding(s.num_selectors, s.n_embd)
        nn.init.uniform_(self.selectors_pos_emb.time_embed.weight)
        self.selectors_drop, self.context_drop = nn.Dropout(s.embd_pdrop), nn.Dropout(s.embd_pdrop)
        self.blocks = nn.ModuleList(SelectorBlock(s) for _ in range(s.selector_layers))

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        b, d = context.shape[0], context.shape[-1]
        context = self.context_drop(context.reshape(b, -1, d))
        x = self.selectors + self.selectors_pos_emb.time_embed.weight[: self.selectors.shape[0]]
        x = self.selectors_drop(x.unsqueeze(0).expand(b, -1, -1))
        for block in self.blocks:
            x = block(x, context)
        return x


def _token_dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Drop whole tokens (the reference's Dropout2d on (B, S, D)); p = 0 in every published config."""
    if not training or p <= 0:
        return x
    keep = (torch.rand(x.shape[0], x.shape[1], 1, device=x.device) >= p).to(x.dtype)
    return x * keep / (1 - p)


class GlobalTransformer(nn.Module):
    """Encoder over ``[OFF, (PASS,) visual selectors, MOD, audio selectors]``."""

    def __init__(self, s: SparseSyncSizes) -> None:
        super().__init__()
        d = s.n_embd
        self.vis_in_lnorm, self.aud_in_lnorm = nn.LayerNorm(d), nn.LayerNorm(d)
        self.OFF_tok = nn.Parameter(torch.randn(1, 1, d))
        self.MOD_tok = nn.Parameter(torch.randn(1, 1, d))
        if s.pass_token:
            self.PASS_tok = nn.Parameter(torch.randn(1, 1, d))
        self.tok_pdrop = s.tok_pdrop
        self.drop = nn.Dropout(s.embd_pdrop)
        self.blocks = nn.Sequential(*(EncoderBlock(s) for _ in range(s.global_layers)))
        self.ln_f = nn.LayerNorm(d)

    def forward(self, v: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        b = v.shape[0]
        v = _token_dropout(self.vis_in_lnorm(v), self.tok_pdrop, self.training)
        a = _token_dropout(self.aud_in_lnorm(a), self.tok_pdrop, self.training)
        lead = [self.OFF_tok] + ([self.PASS_tok] if hasattr(self, "PASS_tok") else [])
        seq = torch.cat([t.expand(b, 1, -1) for t in lead] + [v, self.MOD_tok.expand(b, 1, -1), a], dim=1)
        return self.ln_f(self.blocks(self.drop(seq)))


class SparseSyncTransformer(nn.Module):
    """Per-modality norm + positions + selectors, the global transformer and the offset head."""

    def __init__(self, s: SparseSyncSizes) -> None:
        super().__init__()
        d = s.n_embd
        self.pre_lnorm_vis, self.pre_lnorm_aud = nn.LayerNorm(d), nn.LayerNorm(d)
        self.vis_pos_emb = LearnedPositions(("time", "height", "width"), tuple(s.visual_block_shape), ("time", "width", "height"), d)
        self.aud_pos_emb = LearnedPositions(("freq", "time"), tuple(s.audio_block_shape), ("freq", "time"), d)
        self.v_selector, self.a_selector = FeatureSelector(s), FeatureSelector(s)
        self.global_transformer = GlobalTransformer(s)
        self.off_head = nn.Linear(d, s.num_offset_cls, bias=False)
        self.apply(lambda m: _init_linear_and_norm(m, s.init_std))

    def forward(self, vis: torch.Tensor, aud: torch.Tensor) -> torch.Tensor:
        """``vis (B, T, D, H, W)``, ``aud (B, D, F, Ta)`` -> the global transformer's outputs ``(B, L, D)``."""
        vis = self.vis_pos_emb(self.pre_lnorm_vis(vis.permute(0, 1, 3, 4, 2)))
        aud = self.aud_pos_emb(self.pre_lnorm_aud(aud.permute(0, 2, 3, 1)))
        return self.global_transformer(self.v_selector(vis), self.a_selector(aud))


def _init_linear_and_norm(m: nn.Module, std: float = 0.02) -> None:
    """The reference's init for its transformer parts: N(0, std) linears (0.02 published), zero bias, unit LayerNorm."""
    if isinstance(m, nn.Linear):
        nn.init.normal_(m.weight, std=std)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


class SparseSyncNet(nn.Module):
    """The whole network: ``model(vis (B,T,3,H,W), aud (B,1,F,Ta)) -> logits (B, num_offset_cls)``.

    :meth:`features` also returns the OFF and PASS outputs StreamSync needs.
    """

    def __init__(self, sizes: SparseSyncSizes | None = None) -> None:
        super().__init__()
        s = self.sizes = sizes or SparseSyncSizes()
        self.vfeat_extractor = S3DFeatures(s.width_div)
        for m in self.vfeat_extractor.modules():
            if isinstance(m, nn.BatchNorm3d):
                m.momentum = s.s3d_bn_momentum
        self.afeat_extractor = ResNet18AudioFeatures(s.width_div)
        if self.afeat_extractor.out_channels != s.n_embd:
            raise ValueError(f"audio features have {self.afeat_extractor.out_channels} channels, n_embd is {s.n_embd} (the audio bridge is the identity)")
        self.v_bridge = nn.Module()
        self.v_bridge.bridge = nn.Sequential(nn.Conv3d(self.vfeat_extractor.out_channels, s.n_embd, 1), nn.GELU())
        self.transformer = SparseSyncTransformer(s)

    def features(self, vis: torch.Tensor, aud: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """-> (logits (B, C), OFF output (B, D), PASS output (B, D) or None without a PASS token)."""
        v = self.vfeat_extractor(vis)
        v = self.v_bridge.bridge(v.transpose(1, 2)).transpose(1, 2)
        a = self.afeat_extractor(aud)
        out = self.transformer(v, a)
        off = out[:, 0]
        pas = out[:, 1] if self.sizes.pass_token else None
        return self.transformer.off_head(off), off, pas

    def forward(self, vis: torch.Tensor, aud: torch.Tensor) -> torch.Tensor:
        return self.features(vis, aud)[0]


def param_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())

