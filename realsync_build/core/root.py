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

import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path

ROOT_ENV = "REALSYNC_ROOT"
DEFAULT_ROOT = "realsync-data"

MANIFEST_NAMES = ("videos", "clips", "intervals", "events", "tracks", "clip_sync", "splits", "segments")


@dataclass(frozen=True)
class DatasetRoot:
    """A dataset root.  ``url`` set: the dataset lives at that fsspec URL and ``root`` is the
    driver's local working mirror (manifests are read from / published to the URL; stage
    functions publish their outputs through :mod:`realsync_build.core.storage`)."""

    root: Path
    url: str | None = None

    @property
    def is_remote(self) -> bool:
        return self.url is not None

    @functools.cached_property
    def store(self):
        """The :class:`realsync_build.core.storage.Store` of a URL root (None for a local root); made once."""
        if self.url is None:
            return None
        from realsync_build.core.storage import Store

        return Store(self.url)

    def pull(self, path: Path) -> Path:
        """URL root: refresh the mirror's copy of ``path`` (a manifest) from the URL; a file the
        URL lacks is removed from the mirror so stale state is never trusted.  Local root: no-op."""
        if self.url is not None:
            rel = self.rel(path)
            store = self.store
            if store.exists(rel):
                store.get_file(rel, path)
            else:
                Path(path).unlink(missing_ok=True)
        return Path(path)

    def push(self, path: Path) -> Path:
        """URL root: publish the mirror's ``path`` (written by the driver) to the URL, atomically."""
        if self.url is not None:
            self.store.put_file(path, self.rel(path))
        return Path(path)

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

    def exists(self, rel_path: str) -> bool:
        """Whether a manifest's root-relative file exists: at the URL for a URL root, else on disk."""
        store = self.store
        if store is not None and not Path(rel_path).is_absolute():
            return store.exists(rel_path)
        return self.abs(rel_path).is_file()


CACHE_ENV = "REALSYNC_CACHE"


def mirror_dir(url: str) -> Path:
    """The driver's local working folder for a URL root (``$REALSYNC_CACHE`` or the user cache)."""
    import hashlib

    base = os.environ.get(CACHE_ENV)
    if not base:
        from platformdirs import user_cache_dir

        base = user_cache_dir("realsync")
    digest = hashlib.sha1(url.rstrip("/").encode()).hexdigest()[:12]
    return Path(base).expanduser().absolute() / "roots" / f"{safe_name(url, 40)}-{digest}"


def resolve_root(root: str | os.PathLike | None = None) -> DatasetRoot:
    """The dataset root from an explicit value, ``$REALSYNC_ROOT``, or the default.

    A ``scheme://`` value (``s3://bucket/ds``, ``file:///data/ds``) is a URL root.
    """
    value = root if root not in (None, "") else os.environ.get(ROOT_ENV) or DEFAULT_ROOT
    text = os.fspath(value)
    if re.match(r"^[A-Za-z][A-Za-z0-9+.\-]*://", text):
        url = text.rstrip("/")
        return DatasetRoot(mirror_dir(url), url=url)
    return DatasetRoot(Path(text).expanduser().absolute())


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
