"""The one dataset root every stage reads from and writes to.

Layout under ``--root`` (default ``$REALSYNC_ROOT``, else ``./realsync-data``)::

    raw/{channel}/{video_id}.{ext}        downloaded sources (fetch)
    clips/{channel}/{video_id}/*.mp4      standardised clips (preprocess)
    manifests/*.parquet                   the contract between stages
    shards/                               WebDataset tars (export)
    report/                               tables and plots (stats)
    runs/                                 training runs (train)
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

ROOT_ENV = "REALSYNC_ROOT"
DEFAULT_ROOT = "realsync-data"

MANIFEST_NAMES = ("videos", "clips", "intervals", "events", "tracks", "clip_sync", "splits", "segments")


@dataclass(frozen=True)
class DatasetRoot:
    root: Path

    @property
    def raw(self) -> Path:
        return self.root / "raw"

    @property
    def clips(self) -> Path:
        return self.root / "clips"

    @property
    def manifests(self) -> Path:
        return self.root / "manifests"

    @property
    def shards(self) -> Path:
        return self.root / "shards"

    @property
    def report(self) -> Path:
        return self.root / "report"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    def manifest(self, name: str) -> Path:
        """Path of manifest ``name`` (e.g. ``"clips"`` -> ``manifests/clips.parquet``)."""
        return self.manifests / f"{name}.parquet"

    def rel(self, path: Path) -> str:
        """``path`` relative to the root, as stored in manifests (POSIX separators)."""
        return Path(path).resolve().relative_to(self.root.resolve()).as_posix()

    def abs(self, rel_path: str) -> Path:
        """Inverse of :meth:`rel`; absolute paths pass through unchanged."""
        p = Path(rel_path)
        return p if p.is_absolute() else self.root / p


def resolve_root(root: str | os.PathLike | None = None) -> DatasetRoot:
    """The dataset root from an explicit value, ``$REALSYNC_ROOT``, or the default."""
    value = root if root not in (None, "") else os.environ.get(ROOT_ENV) or DEFAULT_ROOT
    return DatasetRoot(Path(value).expanduser().absolute())


_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def safe_name(text: str, max_len: int = 80) -> str:
    """A file-name-safe token from an untrusted string (ids, channel names).

    Keeps ASCII letters, digits, ``_`` and ``-``; everything else becomes ``_``.
    Never empty, never starts with ``-`` or ``.`` (so it cannot look like an option
    or a hidden/temp file).
    """
    out = _UNSAFE.sub("_", str(text)).strip("_")[:max_len]
    if not out:
        out = "x"
    if out[0] == "-":
        out = "_" + out[1:]
    return out
