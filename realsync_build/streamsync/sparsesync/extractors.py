"""SparseSync's feature extractors: S3D for RGB clips, a ResNet-18 for log spectrograms.

Parameter names and shapes equal those of the public SparseSync checkpoints
(``vfeat_extractor.base.<i>...`` and ``afeat_extractor.<layer>...``), so those files load
with strict key checking.  ``width_div`` divides every channel count (1 = the published
network; the ``tiny`` config uses 8 so CPU tests run the same code paths).

S3D (Xie et al. 2018, "separable" I3D) as SparseSync uses it: the Kinetics-400 backbone
up to ``Mixed_5c`` (1024 channels), no classifier.  BatchNorm eps 1e-3 as in that port.
The audio ResNet-18 is torchvision's layout with a 1-channel stem and no ``fc``.
"""

from __future__ import annotations

import torch
import torch.nn as nn

# Inception blocks of S3D: in, 1x1, (1x1 -> 3x3x3 sep), (1x1 -> 3x3x3 sep), (pool -> 1x1)
_MIXED = {
    "3b": (192, 64, 96, 128, 16, 32, 32),
    "3c": (256, 128, 128, 192, 32, 96, 64),
    "4b": (480, 192, 96, 208, 16, 48, 64),
    "4c": (512, 160, 112, 224, 24, 64, 64),
    "4d": (512, 128, 128, 256, 24, 64, 64),
    "4e": (512, 112, 144, 288, 32, 64, 64),
    "4f": (528, 256, 160, 320, 32, 128, 128),
    "5b": (832, 256, 160, 320, 32, 128, 128),
    "5c": (832, 384, 192, 384, 48, 128, 128),
}
S3D_OUT_CHANNELS = 1024


def _bn3d(c: int) -> nn.BatchNorm3d:
    return nn.BatchNorm3d(c, eps=1e-3, momentum=0.001)


class Unit3d(nn.Module):
    """conv (no bias) -> BN -> ReLU; keys ``conv``, ``bn``."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv = nn.Conv3d(c_in, c_out, kernel_size=1, bias=False)
        self.bn = _bn3d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn(self.conv(x)))


class SeparableUnit3d(nn.Module):
    """k x k spatial conv then k x 1 x 1 temporal conv, each with BN and ReLU; keys ``conv_s``, ``bn_s``, ``conv_t``, ``bn_t``."""

    def __init__(self, c_in: int, c_out: int, k: int, stride: int, pad: int) -> None:
        super().__init__()
        self.conv_s = nn.Conv3d(c_in, c_out, (1, k, k), stride=(1, stride, stride), padding=(0, pad, pad), bias=False)
        self.bn_s = _bn3d(c_out)
        self.conv_t = nn.Conv3d(c_out, c_out, (k, 1, 1), stride=(stride, 1, 1), padding=(pad, 0, 0), bias=False)
        self.bn_t = _bn3d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn_s(self.conv_s(x)))
        return torch.relu(self.bn_t(self.conv_t(x)))


class MixedBlock(nn.Module):
    """Four parallel branches concatenated on channels; keys ``branch0..3``."""

    def __init__(self, c_in: int, b0: int, b1a: int, b1b: int, b2a: int, b2b: int, b3: int) -> None:
        super().__init__()
        self.branch0 = nn.Sequential(Unit3d(c_in, b0))
        self.branch1 = nn.Sequential(Unit3d(c_in, b1a), SeparableUnit3d(b1a, b1b, 3, 1, 1))
        self.branch2 = nn.Sequential(Unit3d(c_in, b2a), SeparableUnit3d(b2a, b2b, 3, 1, 1))
        self.branch3 = nn.Sequential(nn.MaxPool3d(3, stride=1, padding=1), Unit3d(c_in, b3))
        self.out_channels = b0 + b1b + b2b + b3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)], dim=1)


class S3DFeatures(nn.Module):
    """RGB ``(B, T, 3, H, W)`` -> ``(B, T/8, C, H/32, W/32)`` with C = 1024 / width_div.

    ``base`` indices follow the published module list (0 stem, 1 pool, 2 1x1, 3 sep 3x3,
    4 pool, 5-6 Mixed_3b/c, 7 pool, 8-12 Mixed_4b..f, 13 pool, 14-15 Mixed_5b/c).
    """

    def __init__(self, width_div: int = 1) -> None:
        super().__init__()
        w = lambda c: c // width_div  # noqa: E731
        mixed = {k: MixedBlock(*(w(c) for c in v)) for k, v in _MIXED.items()}
        pool_hw = lambda: nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))  # noqa: E731
        self.base = nn.Sequential(
            SeparableUnit3d(3, w(64), 7, 2, 3),
            pool_hw(),
            Unit3d(w(64), w(64)),
            SeparableUnit3d(w(64), w(192), 3, 1, 1),
            pool_hw(),
            mixed["3b"], mixed["3c"],
            nn.MaxPool3d(3, stride=2, padding=1),
            mixed["4b"], mixed["4c"], mixed["4d"], mixed["4e"], mixed["4f"],
            nn.MaxPool3d(2, stride=2),
            mixed["5b"], mixed["5c"],
        )
        self.out_channels = mixed["5c"].out_channels

    def forward(self, vis: torch.Tensor) -> torch.Tensor:
        return self.base(vis.transpose(1, 2)).transpose(1, 2)


class BasicBlock(nn.Module):
    """ResNet basic block, torchvision's key names (``conv1 bn1 conv2 bn2 downsample.0/1``)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + (x if self.downsample is None else self.downsample(x)))


class ResNet18AudioFeatures(nn.Module):
    """Spectrogram ``(B, 1, F, Ta)`` -> ``(B, C, F/32, Ta/32)`` (ceil), C = 512 / width_div."""

    def __init__(self, width_div: int = 1) -> None:
        super().__init__()
        widths = [c // width_div for c in (64, 128, 256, 512)]
        self.conv1 = nn.Conv2d(1, widths[0], 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        c = widths[0]
        for i, wd in enumerate(widths):
            stride = 1 if i == 0 else 2
            setattr(self, f"layer{i + 1}", nn.Sequential(BasicBlock(c, wd, stride), BasicBlock(wd, wd, 1)))
            c = wd
        self.out_channels = c

    def forward(self, aud: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(torch.relu(self.bn1(self.conv1(aud))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))
