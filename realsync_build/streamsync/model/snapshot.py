"""The snapshot predictor interface and the default predictor, SparseSync.

A snapshot predictor looks at one video window and one audio window and returns
class logits plus two features: its CLS output (SparseSync's OFF token) and the output of
the PASS token (an extra learned input token of the global transformer whose output
carries information to the streaming head, as in jvoas655/StreamSync).  Any backbone
that implements :class:`SnapshotPredictor` and registers in :data:`SNAPSHOT_PREDICTORS`
plugs into StreamSync unchanged.

Inputs: ``video`` ``(N, T, S, S, 3)`` uint8 RGB (T = window_s * fps frames, S = the
config's ``video_size``); ``audio`` either ``(N, L)`` float32 mono in [-1, 1] at ``sample_rate``
(L = window_s * sample_rate: the per-window front end, ``audio_frontend = "window"``), or
``(N, 1, F, Tf)`` spectrogram windows that the loader already cut from a longer span
(``audio_frontend = "span"``, the StreamSync code's:
:func:`realsync_build.streamsync.sparsesync.transforms.span_audio_input`).  The predictor
applies the remaining input transforms itself
(:func:`realsync_build.streamsync.sparsesync.transforms.model_inputs`), so training and
evaluation feed it the same decoded windows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn

from realsync_build.streamsync.model.config import ModelConfig
from realsync_build.streamsync.sparsesync.net import SparseSyncNet, SparseSyncSizes
from realsync_build.streamsync.sparsesync.transforms import model_inputs, video_input
from realsync_build.streamsync.task import NUM_CLASSES


@dataclass
class SnapshotOutput:
    logits: torch.Tensor  # (N, 21)
    cls: torch.Tensor  # (N, feature_dim): the OFF token's output
    pass_: torch.Tensor  # (N, feature_dim): the PASS token's output


class SnapshotPredictor(nn.Module):
    """video + audio window -> :class:`SnapshotOutput`."""

    feature_dim: int
    # parameter-name prefixes that are StreamSync's own (trained in phase 1), not the backbone's
    new_parameter_prefixes: tuple[str, ...] = ("pass_token",)

    def forward(self, video: torch.Tensor, audio: torch.Tensor) -> SnapshotOutput:  # pragma: no cover - interface
        raise NotImplementedError

    def is_new_parameter(self, name: str) -> bool:
        return name.startswith(self.new_parameter_prefixes)


def _s3d_grid(frames: int, size: int) -> tuple[int, int, int]:
    """S3D's output (t, h, w) for ``frames`` x ``size`` x ``size`` inputs (its strides and paddings)."""
    half = lambda x: (x - 1) // 2 + 1  # noqa: E731  (k odd, stride 2, 'same' padding)
    t = half(half(frames)) // 2
    s = half(half(half(half(size)))) // 2
    return t, s, s


def _resnet_grid(freqs: int, steps: int) -> tuple[int, int]:
    half = lambda x: (x - 1) // 2 + 1  # noqa: E731
    f, t = freqs, steps
    for _ in range(5):
        f, t = half(f), half(t)
    return f, t


def sparsesync_sizes(cfg: ModelConfig) -> SparseSyncSizes:
    """A model config -> the SparseSync sizes (position tables sized to the window's feature grid)."""
    if cfg.crop_size > cfg.video_size:
        raise ValueError(f"input_size {cfg.crop_size} is larger than the decoded video_size {cfg.video_size}")
    t, h, w = _s3d_grid(cfg.window_frames, cfg.crop_size)
    if min(t, h, w) < 1:
        raise ValueError(f"{cfg.window_frames} frames of {cfg.crop_size} px are too small for S3D (at least 16 frames of 32 px)")
    spec_frames = cfg.window_samples // cfg.hop_length + (0 if cfg.audio_frontend == "span" else 1)  # 625 or 626 at 16 kHz
    f, ta = _resnet_grid(cfg.n_fft // 2 + 1, spec_frames)
    return SparseSyncSizes(
        n_embd=cfg.d_model, n_head=cfg.n_heads, selector_layers=cfg.selector_layers, global_layers=cfg.encoder_layers,
        num_selectors=cfg.n_queries, visual_block_shape=(t, h, w), audio_block_shape=(f, ta), num_offset_cls=NUM_CLASSES,
        width_div=cfg.width_div, embd_pdrop=cfg.dropout, resid_pdrop=cfg.dropout, attn_pdrop=cfg.dropout, pass_token=True,
        init_std=cfg.init_std, s3d_bn_momentum=cfg.s3d_bn_momentum,
    )


class SparseSyncPredictor(SparseSyncNet, SnapshotPredictor):
    """SparseSync with StreamSync's PASS token; its state dict is a public checkpoint's ``model`` plus ``PASS_tok``."""

    new_parameter_prefixes = ("transformer.global_transformer.PASS_tok",)

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__(sparsesync_sizes(cfg))
        self.cfg = cfg
        self.feature_dim = cfg.d_model

    def forward(self, video: torch.Tensor, audio: torch.Tensor) -> SnapshotOutput:  # type: ignore[override]
        if audio.dim() == 4:  # (N, 1, F, Tf): spectrogram windows the loader cut from a span (audio_frontend "span")
            vis, aud = video_input(video, self.cfg.crop_size), audio.to(torch.float32)
        else:
            vis, aud = model_inputs(video, audio, self.cfg.crop_size, self.cfg.n_fft, self.cfg.hop_length)
        dtype = self.transformer.off_head.weight.dtype  # float32 (half precision runs under autocast); float64 in the reference check
        vis, aud = vis.to(dtype), aud.to(dtype)
        logits, off, pas = self.features(vis, aud)
        return SnapshotOutput(logits=logits, cls=off, pass_=pas)

    def classify(self, cls: torch.Tensor) -> torch.Tensor:
        """The class head on OFF's output (``SnapshotOutput.cls``) -> logits; StreamSync's truncated backprop uses it."""
        return self.transformer.off_head(cls)


SNAPSHOT_PREDICTORS: dict[str, Callable[[ModelConfig], SnapshotPredictor]] = {"sparsesync": SparseSyncPredictor}


def make_snapshot(cfg: ModelConfig) -> SnapshotPredictor:
    if cfg.predictor not in SNAPSHOT_PREDICTORS:
        raise ValueError(f"unknown snapshot predictor {cfg.predictor!r}: use one of {', '.join(SNAPSHOT_PREDICTORS)}")
    return SNAPSHOT_PREDICTORS[cfg.predictor](cfg)
