"""A small real root for CLI tests: two generated 4.2 s sources cut into 2 s clips (4 clips), built
once per test module with the real preprocess, then copied for each test."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from realsync_build.core.root import DatasetRoot
from realsync_build.core.stage import RunOptions
from realsync_build.media.synth import make_source
from realsync_build.stages.preprocess import PreprocessConfig, run_preprocess

CLIP_S = 2
FAST = dict(width=320, height=240, preset="ultrafast")


def build(folder: Path) -> DatasetRoot:
    src = folder / "in"
    for name, pattern in (("a", "testsrc"), ("b", "smptebars")):  # two sources, two contents (one source, one id)
        make_source(src / "news" / f"{name}.mp4", 4.2, pattern=pattern, **FAST)
    ds = DatasetRoot(folder / "root")
    run_preprocess(ds, src, PreprocessConfig(clip_seconds=CLIP_S), RunOptions(workers=1, executor="inline", progress=False))
    return ds


def copy(built: DatasetRoot, dst: Path) -> DatasetRoot:
    shutil.copytree(built.root, dst, symlinks=True)
    return DatasetRoot(dst)


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` and the sha256 of its bytes (a dry run must leave this unchanged)."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()} | {
        p.relative_to(root).as_posix() + "/": "dir" for p in sorted(root.rglob("*")) if p.is_dir()
    }


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """``python -m realsync_build ARGS`` in a subprocess: real stdout and stderr, kept apart."""
    full = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
    return subprocess.run([sys.executable, "-m", "realsync_build", *args], capture_output=True, text=True, env=full)
