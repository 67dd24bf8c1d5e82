"""Locating the shared fixtures (``../shared/testdata``) through one helper.

``$REALSYNC_TESTDATA`` wins; else ``shared/testdata`` beside the source checkout
(``<repo>/../shared/testdata``), else ``../shared/testdata`` from the current folder.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV = "REALSYNC_TESTDATA"
TED = "media/lrs3_C8zY0oAdQrs_00018.mp4"
TED_TXT = "media/lrs3_C8zY0oAdQrs_00018.txt"
TED_FACECROP = "media/lrs3_C8zY0oAdQrs_00018_facecrop224.mp4"
TENNIS = "media/vggsound_ZYc410CE4Rg_0_10000.mp4"


def testdata_dir() -> Path | None:
    candidates = []
    if os.environ.get(ENV):
        candidates.append(Path(os.environ[ENV]))
    candidates.append(Path(__file__).resolve().parent.parent.parent / "shared" / "testdata")
    candidates.append(Path.cwd().parent / "shared" / "testdata")
    for c in candidates:
        if c.is_dir():
            return c.resolve()
    return None


def testdata_file(rel: str) -> Path | None:
    """A shared fixture by its path under testdata/, or None when absent."""
    base = testdata_dir()
    if base is None:
        return None
    p = base / rel
    return p if p.exists() else None


def shared_media() -> list[Path]:
    """The real clips in testdata/media that the demo and tests use (those present)."""
    return [p for p in (testdata_file(TED), testdata_file(TENNIS)) if p is not None]


def random_syncnet_checkpoint(path: Path, layout_json: Path, seed: int = 0) -> Path:
    """Write a SyncNet v2 checkpoint of the official layout (``syncnet_v2_layout.json``) with random values.

    The real weights cannot be downloaded offline; tests and benchmarks exercise the
    loader and the scoring arithmetic with this file instead (BatchNorm running
    statistics are kept sane: mean 0, variance around 1).
    """
    import json

    import torch

    layout = json.loads(Path(layout_json).read_text())["shapes"]
    g = torch.Generator().manual_seed(seed)
    state = {}
    for k, shape in layout.items():
        if k.endswith("running_var"):
            state[k] = torch.rand(shape, generator=g) + 0.5
        elif k.endswith("running_mean"):
            state[k] = torch.zeros(shape)
        else:
            state[k] = torch.randn(shape, generator=g) * 0.05
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path
