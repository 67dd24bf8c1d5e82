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


class LipTower2d(nn.Module):
    """The lip tower re-laid as 2-D convolutions, for inference engines: the same function.

    Every 3-D layer of ``netcnnlip`` spans the whole time axis (the first conv's 5-frame kernel
    turns 5 frames into 1, every later kernel and pool is 1 deep), so the tower is exactly a
    2-D network whose first conv reads the 5 frames as 15 channels (channel ``3 t + c``): input
    ``(B, 15, 224, 224)``, the window's frames stacked in time order.  The weights are those
    of ``net``, re-indexed, not re-trained; ``tests/test_models_syncnet.py`` checks the outputs
    against :meth:`SyncNetV2.forward_lip`.
    """

    def __init__(self, net: "SyncNetV2") -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for m in net.netcnnlip:
            if isinstance(m, nn.Conv3d):
                w = m.weight.detach()
                out_ch, in_ch, kt, kh, kw = w.shape
                pad = m.padding if isinstance(m.padding, tuple) else (m.padding,) * 3
                conv = nn.Conv2d(in_ch * kt, out_ch, (kh, kw), stride=m.stride[1:], padding=pad[1:])
                conv.weight.data.copy_(w.permute(0, 2, 1, 3, 4).reshape(out_ch, kt * in_ch, kh, kw))
                conv.bias.data.copy_(m.bias.detach())
                layers.append(conv)
            elif isinstance(m, nn.BatchNorm3d):
                bn = nn.BatchNorm2d(m.num_features, eps=m.eps)
                bn.load_state_dict(m.state_dict())
                layers.append(bn)
            elif isinstance(m, nn.MaxPool3d):
                k, st, pad = (v if isinstance(v, tuple) else (v,) * 3 for v in (m.kernel_size, m.stride, m.padding))
                layers.append(nn.MaxPool2d(k[1:], st[1:], pad[1:]))
            else:
                layers.append(nn.ReLU())
        self.cnn = nn.Sequential(*layers)
        import copy

        self.fc = copy.deepcopy(net.netfclip)
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``(B, 15, 224, 224)`` BGR 0..255, uint8 or float."""
        return self.fc(self.cnn(x.float()).flatten(1))


class AudioTower(nn.Module):
    """:meth:`SyncNetV2.forward_aud` as a module of its own (for export to an inference engine)."""

    def __init__(self, net: "SyncNetV2") -> None:
        super().__init__()
        self.cnn, self.fc = net.netcnnaud, net.netfcaud

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.cnn(x).flatten(1))


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
