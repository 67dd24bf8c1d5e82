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
