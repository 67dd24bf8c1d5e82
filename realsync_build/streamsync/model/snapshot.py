"""The snapshot predictor interface and the default SparseSync-style predictor.

A snapshot predictor looks at one video window and one audio window and returns
class logits plus two features: its CLS output and the output of the PASS token
(an extra learned input token whose output carries information to the streaming
head).  Any backbone that implements :class:`SnapshotPredictor` and registers in
:data:`SNAPSHOT_PREDICTORS` plugs into StreamSync unchanged.

Inputs: ``video`` ``(N, T, S, S, 3)`` uint8 RGB (T = window_s * fps frames);
``audio`` ``(N, L)`` float32 mono in [-1, 1] at ``sample_rate`` (L = window_s * sample_rate).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from realsync_build.streamsync.model.config import ModelConfig
from realsync_build.streamsync.model.layers import LogMel, decoder, encoder, sinusoid
from realsync_build.streamsync.task import NUM_CLASSES, OFFSETS_S


@dataclass
class SnapshotOutput:
    logits: torch.Tensor  # (N, 21)
    cls: torch.Tensor  # (N, feature_dim)
    pass_: torch.Tensor  # (N, feature_dim)


class SnapshotPredictor(nn.Module):
    """video + audio window -> :class:`SnapshotOutput`."""

    feature_dim: int
    # parameter-name prefixes that are StreamSync's own (trained in phase 1), not the backbone's
    new_parameter_prefixes: tuple[str, ...] = ("pass_token",)

    def forward(self, video: torch.Tensor, audio: torch.Tensor) -> SnapshotOutput:  # pragma: no cover - interface
        raise NotImplementedError

    def is_new_parameter(self, name: str) -> bool:
        return name.startswith(self.new_parameter_prefixes)


def _conv_stack(in_ch: int, channels: tuple[int, ...], stride_of: Callable[[int], tuple[int, int]]) -> nn.Sequential:
    layers: list[nn.Module] = []
    c = in_ch
    for i, out in enumerate(channels):
        layers += [nn.Conv2d(c, out, 3, stride=stride_of(i), padding=1), nn.GroupNorm(1, out), nn.GELU()]
        c = out
    return nn.Sequential(*layers)


class VideoFeatures(nn.Module):
    """Per-frame 2D CNN, pooled, then a temporal conv: ``(N, T, S, S, 3)`` -> ``(N, T, d)``."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cnn = _conv_stack(3, cfg.video_channels, lambda i: (2, 2))
        c = cfg.video_channels[-1]
        self.temporal = nn.Conv1d(2 * c, cfg.d_model, kernel_size=5, padding=2)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        n, t = video.shape[:2]
        x = video.reshape(n * t, *video.shape[2:]).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)
        f = self.cnn(x)
        f = torch.cat([f.mean(dim=(2, 3)), f.amax(dim=(2, 3))], dim=1).reshape(n, t, -1)
        return self.temporal(f.transpose(1, 2)).transpose(1, 2)


class AudioFeatures(nn.Module):
    """Log-mel + 2D CNN (time /4, i.e. 40 ms steps like the video), then a temporal conv: -> ``(N, Ta, d)``."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.mel = LogMel(cfg.sample_rate, cfg.n_fft, cfg.hop_length, cfg.n_mels)
        self.cnn = _conv_stack(1, cfg.audio_channels, lambda i: (2, 2) if i < 2 else (2, 1))
        c = cfg.audio_channels[-1]
        self.temporal = nn.Conv1d(2 * c, cfg.d_model, kernel_size=5, padding=2)
        self.time_step_s = cfg.hop_length * 4 / cfg.sample_rate

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        m = self.mel(audio)  # (N, M, F)
        m = (m - m.mean(dim=(1, 2), keepdim=True)) / (m.std(dim=(1, 2), keepdim=True) + 1e-3)
        f = self.cnn(m[:, None])  # (N, C, M', Ta)
        f = torch.cat([f.mean(dim=2), f.amax(dim=2)], dim=1)
        return self.temporal(f).transpose(1, 2)


class OffsetCorrelation(nn.Module):
    """Similarity of projected video and audio features at each of the 21 candidate offsets.

    ``c_k = mean_t <Pv v_t, Pa a_(t - s_k)>`` with ``s_k`` the class-k offset in feature steps
    (audio features are resampled to the video's rate first).  A SyncNet-like cue that
    lets a small predictor trained from scratch find the offset quickly.
    """

    def __init__(self, d: int, dim: int, fps: int) -> None:
        super().__init__()
        self.pv, self.pa = nn.Linear(d, dim), nn.Linear(d, dim)
        self.fps = fps

    def forward(self, v: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        t = v.shape[1]
        if a.shape[1] != t:
            a = F.interpolate(a.transpose(1, 2), size=t, mode="linear", align_corners=False).transpose(1, 2)
        pv = F.normalize(self.pv(v), dim=-1)
        pa = F.normalize(self.pa(a), dim=-1)
        out = []
        for off in OFFSETS_S:
            s = int(round(float(off) * self.fps))
            if s >= 0:
                sim = (pv[:, s:] * pa[:, : t - s]).sum(-1)
            else:
                sim = (pv[:, :s] * pa[:, -s:]).sum(-1)
            out.append(sim.mean(1) if sim.shape[1] else sim.new_zeros(sim.shape[0]))
        return torch.stack(out, dim=1)


class SparseSyncPredictor(SnapshotPredictor):
    """SparseSync-style: feature extractors, sparse selectors with learned queries, a joint transformer.

    Token sequence of the joint encoder: ``[CLS, PASS, video queries..., SEP, audio queries...]``.
    The dense features' :class:`OffsetCorrelation` (``corr_dim=0``: none) adds to the logits
    (class k's score gets ``scale * c_k``, a SyncNet-like prior); the CLS feature is the
    encoder's CLS output plus a linear embedding of the resulting (centred) logits, so the
    streaming token sees what the correlation contributed.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.cfg = cfg
        self.feature_dim = d
        self.video = VideoFeatures(cfg)
        self.audio = AudioFeatures(cfg)
        self.modality = nn.Parameter(torch.zeros(2, d))
        self.v_queries = nn.Parameter(torch.randn(cfg.n_queries, d) * 0.02)
        self.a_queries = nn.Parameter(torch.randn(cfg.n_queries, d) * 0.02)
        self.v_selector = decoder(d, cfg.n_heads, cfg.selector_layers, cfg.ff_mult, cfg.dropout)
        self.a_selector = decoder(d, cfg.n_heads, cfg.selector_layers, cfg.ff_mult, cfg.dropout)
        self.cls_token = nn.Parameter(torch.randn(d) * 0.02)
        self.sep_token = nn.Parameter(torch.randn(d) * 0.02)
        self.pass_token = nn.Parameter(torch.randn(d) * 0.02)
        self.corr = OffsetCorrelation(d, cfg.corr_dim, cfg.fps) if cfg.corr_dim else None
        if self.corr is not None:
            self.corr_embed = nn.Linear(NUM_CLASSES, d)
            nn.init.normal_(self.corr_embed.weight, std=1.0)  # the prediction must stand out of the CLS feature
            self.corr_scale = nn.Parameter(torch.tensor(1.0))
        self.seq_pos = nn.Parameter(torch.randn(3 + 2 * cfg.n_queries, d) * 0.02)
        self.encoder = encoder(d, cfg.n_heads, cfg.encoder_layers, cfg.ff_mult, cfg.dropout)
        self.norm = nn.LayerNorm(d)
        self.classifier = nn.Linear(d, NUM_CLASSES)

    def _select(self, feats: torch.Tensor, step_s: float, modality: int, queries: torch.Tensor, selector) -> torch.Tensor:
        n, t, d = feats.shape
        times = torch.arange(t, device=feats.device) * (step_s * 25.0)  # in 40 ms units, shared by both modalities
        mem = feats + sinusoid(times, d, scale=500.0).to(feats.dtype) + self.modality[modality]
        return selector(queries.expand(n, -1, -1), mem)

    def forward(self, video: torch.Tensor, audio: torch.Tensor) -> SnapshotOutput:
        vf, af = self.video(video), self.audio(audio)
        v = self._select(vf, 1.0 / self.cfg.fps, 0, self.v_queries, self.v_selector)
        a = self._select(af, self.audio.time_step_s, 1, self.a_queries, self.a_selector)
        n = v.shape[0]
        special = lambda p: p.expand(n, 1, -1)  # noqa: E731
        seq = torch.cat([special(self.cls_token), special(self.pass_token), v, special(self.sep_token), a], dim=1)
        out = self.norm(self.encoder(seq + self.seq_pos))
        cls, pas = out[:, 0], out[:, 1]
        if self.corr is None:
            return SnapshotOutput(logits=self.classifier(cls), cls=cls, pass_=pas)
        logits = self.classifier(cls) + self.corr_scale * self.corr(vf, af)
        # the CLS feature carries the prediction it implies (the correlation path bypasses the encoder)
        return SnapshotOutput(logits=logits, cls=cls + self.corr_embed(logits - logits.mean(-1, keepdim=True)), pass_=pas)


SNAPSHOT_PREDICTORS: dict[str, Callable[[ModelConfig], SnapshotPredictor]] = {"sparsesync": SparseSyncPredictor}


def make_snapshot(cfg: ModelConfig) -> SnapshotPredictor:
    if cfg.predictor not in SNAPSHOT_PREDICTORS:
        raise ValueError(f"unknown snapshot predictor {cfg.predictor!r}: use one of {', '.join(SNAPSHOT_PREDICTORS)}")
    return SNAPSHOT_PREDICTORS[cfg.predictor](cfg)
