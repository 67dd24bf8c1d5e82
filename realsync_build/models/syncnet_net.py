"""The SyncNet v2 network, laid out so the official ``syncnet_v2.model`` loads without renaming.

Two towers map a 5-frame window to a 1024-d embedding each:

- lip tower ``netcnnlip`` + ``netfclip`` on face crops ``(B, 3, 5, 224, 224)`` (BGR, 0..255);
- audio tower ``netcnnaud`` + ``netfcaud`` on MFCC windows ``(B, 1, 13, 20)`` (20 steps = 0.2 s).

Module indices inside each ``Sequential`` follow the official checkpoint's key names
(``netcnnaud.18.weight`` ...); activations and pools sit at the indices in between.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping

import torch
from torch import nn

from realsync_build.models.weights import check_layout, load_strict, no_init, read_checkpoint

LIP_INPUT = (3, 5, 224, 224)
AUDIO_INPUT = (1, 13, 20)
EMBED_DIM = 1024


def _conv_bn(conv: nn.Module, channels: int, dims: int) -> list[nn.Module]:
    bn = nn.BatchNorm2d(channels) if dims == 2 else nn.BatchNorm3d(channels)
    return [conv, bn, nn.ReLU(inplace=True)]


def _audio_cnn() -> nn.Sequential:
    return nn.Sequential(
        *_conv_bn(nn.Conv2d(1, 64, 3, padding=1), 64, 2),  # 0-2
        nn.MaxPool2d(1, 1),  # 3
        *_conv_bn(nn.Conv2d(64, 192, 3, padding=1), 192, 2),  # 4-6
        nn.MaxPool2d(3, (1, 2)),  # 7: 13x20 -> 11x9
        *_conv_bn(nn.Conv2d(192, 384, 3, padding=1), 384, 2),  # 8-10
        *_conv_bn(nn.Conv2d(384, 256, 3, padding=1), 256, 2),  # 11-13
        *_conv_bn(nn.Conv2d(256, 256, 3, padding=1), 256, 2),  # 14-16
        nn.MaxPool2d(3, 2),  # 17: -> 5x4
        *_conv_bn(nn.Conv2d(256, 512, (5, 4)), 512, 2),  # 18-20: -> 1x1
    )


def _lip_cnn() -> nn.Sequential:
    return nn.Sequential(
        *_conv_bn(nn.Conv3d(3, 96, (5, 7, 7), stride=(1, 2, 2)), 96, 3),  # 0-2: 5x224 -> 1x109
        nn.MaxPool3d((1, 3, 3), (1, 2, 2)),  # 3: -> 54
        *_conv_bn(nn.Conv3d(96, 256, (1, 5, 5), stride=(1, 2, 2), padding=(0, 1, 1)), 256, 3),  # 4-6: -> 26
        nn.MaxPool3d((1, 3, 3), (1, 2, 2), padding=(0, 1, 1)),  # 7: -> 13
        *_conv_bn(nn.Conv3d(256, 256, (1, 3, 3), padding=(0, 1, 1)), 256, 3),  # 8-10
        *_conv_bn(nn.Conv3d(256, 256, (1, 3, 3), padding=(0, 1, 1)), 256, 3),  # 11-13
        *_conv_bn(nn.Conv3d(256, 256, (1, 3, 3), padding=(0, 1, 1)), 256, 3),  # 14-16
        nn.MaxPool3d((1, 3, 3), (1, 2, 2)),  # 17: -> 6
        *_conv_bn(nn.Conv3d(256, 512, (1, 6, 6)), 512, 3),  # 18-20: -> 1
    )


def _head() -> nn.Sequential:
    return nn.Sequential(nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(inplace=True), nn.Linear(512, EMBED_DIM))


class SyncNetV2(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.netcnnaud = _audio_cnn()
        self.netfcaud = _head()
        self.netcnnlip = _lip_cnn()
        self.netfclip = _head()

    def forward_aud(self, x: torch.Tensor) -> torch.Tensor:
        return self.netfcaud(self.netcnnaud(x).flatten(1))

    def forward_lip(self, x: torch.Tensor) -> torch.Tensor:
        return self.netfclip(self.netcnnlip(x).flatten(1))


def _not_counter(key: str) -> bool:
    return key.endswith("num_batches_tracked")


def official_layout() -> dict[str, tuple[int, ...]]:
    """Keys and shapes of ``syncnet_v2.model`` (88 tensors; no ``num_batches_tracked``)."""
    return {k: tuple(v.shape) for k, v in SyncNetV2().state_dict().items() if not _not_counter(k)}


def check_against_layout_json(path: str | Path) -> None:
    """Compare :func:`official_layout` with a ``{"shapes": {key: shape}}`` description of the file."""
    shapes = json.loads(Path(path).read_text())["shapes"]
    check_layout({k: tuple(v) for k, v in shapes.items()}, official_layout(), "syncnet layout description")


def load_syncnet(source: str | Path | Mapping, trusted: bool = False) -> SyncNetV2:
    """Build the network and load ``syncnet_v2.model`` (a path or a state dict), strictly."""
    state = read_checkpoint(source, "syncnet", trusted) if isinstance(source, (str, Path)) else source
    if not isinstance(state, Mapping):
        raise ValueError(f"syncnet: expected a state dict, got {type(state).__name__}")
    if "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]
    with no_init():
        net = SyncNetV2()
    load_strict(net, state, "syncnet", skip=_not_counter)
    return net.eval()
