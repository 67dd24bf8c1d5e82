"""Where a dataset root's files live: a local folder or any fsspec URL.

A root given as a URL (``s3://bucket/realsync``, ``gs://...``, ``file:///...``,
``memory://...``) is for runs whose workers sit on several machines.  Workers
never write into the URL directly: they build each file in a local scratch
folder, check it, and then :meth:`Store.put_file` publishes it atomically:

* object stores (``s3``, ``gs``, ``az``...) make an object visible only when its
  upload has completed, so one PUT is atomic;
* other filesystems (``file``, ``memory``, ``sftp``...) get the bytes under a
  temp name in the same folder, then a rename.

So a reader, or a rerun after a killed worker, sees either no file or the whole
file.  Manifests are written by the driver alone: locally (atomic) and then
published the same way (see :class:`realsync_build.core.root.DatasetRoot`).

Credentials come from fsspec's usual places (environment, ``~/.aws``, ...);
``s3://`` needs ``pip install s3fs``, ``gs://`` needs ``gcsfs``.
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from pathlib import Path
from typing import Iterator

from realsync_build.core import atomic

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
# Protocols whose single PUT is atomic (the object appears complete or not at all).
ATOMIC_PUT = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "oss"}


class StorageError(RuntimeError):
    """A URL cannot be used (unknown protocol, missing fsspec backend, no access)."""


def is_url(value: object) -> bool:
    """True for ``scheme://...`` strings (a local path, even ``C:\\x``, is not a URL)."""
    return isinstance(value, str) and bool(_URL.match(value))


def _protocols(fs) -> set[str]:
    proto = fs.protocol
    return {proto} if isinstance(proto, str) else set(proto)


class Store:
    """The files under one base URL, addressed by POSIX paths relative to it."""

    def __init__(self, base: str) -> None:
        try:
            import fsspec  # noqa: PLC0415 - a dependency, imported where used
        except ImportError as exc:  # pragma: no cover - fsspec is a hard dependency
            raise StorageError("fsspec is not installed: pip install fsspec") from exc
        self.base = base.rstrip("/")
        try:
            self.fs, path = fsspec.core.url_to_fs(self.base)
        except (ImportError, ValueError) as exc:
            raise StorageError(f"cannot use {self.base!r}: {exc}") from exc
        self.base_path = path.rstrip("/")
        self.atomic_put = bool(_protocols(self.fs) & ATOMIC_PUT)

    def __repr__(self) -> str:
        return f"Store({self.base!r})"

    def url(self, rel: str) -> str:
        return f"{self.base}/{rel.lstrip('/')}"

    def _path(self, rel: str) -> str:
        rel = rel.lstrip("/")
        return f"{self.base_path}/{rel}" if rel else self.base_path

    def exists(self, rel: str) -> bool:
        return bool(self.fs.exists(self._path(rel)))

    def size(self, rel: str) -> int:
        return int(self.fs.size(self._path(rel)))

    def ls(self, rel: str = "") -> list[str]:
        """Names directly under ``rel`` (files and folders); empty when it does not exist."""
        path = self._path(rel)
        if not self.fs.exists(path):
            return []
        return sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in self.fs.ls(path, detail=False))

    def put_file(self, local: str | os.PathLike, rel: str) -> str:
        """Publish the local file ``local`` as ``rel``, atomically; returns its URL."""
        final = self._path(rel)
        parent = final.rsplit("/", 1)[0]
        self.fs.makedirs(parent, exist_ok=True)
        if self.atomic_put:
            self.fs.put_file(str(local), final)
        else:
            name = final.rsplit("/", 1)[-1]
            tmp = f"{parent}/.{name}{atomic.TMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}"
            try:
                self.fs.put_file(str(local), tmp)
                self.fs.mv(tmp, final)
            finally:
                with contextlib.suppress(FileNotFoundError, OSError):
                    if self.fs.exists(tmp):
                        self.fs.rm(tmp)
        return self.url(rel)

    def get_file(self, rel: str, local: str | os.PathLike) -> Path:
        """Download ``rel`` to ``local`` (atomically: a temp name, then a rename)."""
        with atomic.atomic_path(local) as tmp:
            self.fs.get_file(self._path(rel), str(tmp))
        return Path(local)

    @contextlib.contextmanager
    def open_write(self, rel: str, scratch: str | os.PathLike | None = None) -> Iterator[Path]:
        """Yield a local temp path; when the block succeeds its file is published as ``rel``."""
        import tempfile  # noqa: PLC0415

        with tempfile.TemporaryDirectory(prefix="realsync-put-", dir=scratch) as tmpdir:
            local = Path(tmpdir) / rel.rsplit("/", 1)[-1]
            yield local
            self.put_file(local, rel)

    def remove(self, rel: str) -> None:
        path = self._path(rel)
        if self.fs.exists(path):
            self.fs.rm(path)


def fetch_to_local(url: str, folder: str | os.PathLike) -> Path:
    """Download the file at ``url`` into ``folder`` (for tools such as ffmpeg that need a path)."""
    base, _, name = url.rstrip("/").rpartition("/")
    return Store(base).get_file(name, Path(folder) / name)
