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

import contextlib
import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterator

ROOT_ENV = "REALSYNC_ROOT"
DEFAULT_ROOT = "realsync-data"

MANIFEST_NAMES = ("videos", "clips", "intervals", "events", "tracks", "clip_sync", "splits", "segments")


@dataclass(frozen=True)
class DatasetRoot:
    """A dataset root.  ``url`` set: the dataset lives at that fsspec URL and ``root`` is the
    driver's local working mirror (manifests are read from / published to the URL; stage
    functions publish their outputs with :meth:`put`)."""

    root: Path
    url: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.root, Path):
            object.__setattr__(self, "root", Path(self.root))

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
        return self.inside(self.root / "raw")

    @property
    def clips(self) -> Path:
        return self.inside(self.root / "clips")

    @property
    def manifests(self) -> Path:
        return self.inside(self.root / "manifests")

    @property
    def shards(self) -> Path:
        return self.inside(self.root / "shards")

    @property
    def report(self) -> Path:
        return self.inside(self.root / "report")

    @property
    def runs(self) -> Path:
        return self.inside(self.root / "runs")

    def manifest(self, name: str) -> Path:
        """Path of manifest ``name`` (e.g. ``"clips"`` -> ``manifests/clips.parquet``), checked to stay in the root."""
        return self.inside(self.manifests / f"{name}.parquet")

    def inside(self, path: str | os.PathLike) -> Path:
        """``path`` (a path under the root) when its real path, symlinks resolved, stays inside the
        root's real path; :class:`UnsafePath` (exit 2, one line) when a symlink anywhere on the way
        leads outside.  Every path the root hands out for a read or a write passes here."""
        return check_inside(self.root, path)

    def rel(self, path: Path) -> str:
        """``path`` relative to the root, as stored in manifests (POSIX separators)."""
        return Path(path).resolve().relative_to(self.root.resolve()).as_posix()

    def abs(self, rel_path: str) -> Path:
        """Inverse of :meth:`rel` for a path read from a manifest: refused (:class:`UnsafePath`)
        when it is absolute or contains ``..``, or when a symlink on the way leads outside the root, so a
        tampered manifest or a planted link cannot point outside it."""
        return self.inside(self.root / check_rel(rel_path))

    def exists(self, rel_path: str) -> bool:
        """Whether a manifest's root-relative file exists: at the URL for a URL root, else on disk."""
        rel = check_rel(rel_path)
        store = self.store
        if store is not None:
            return store.exists(rel)
        return self.inside(self.root / rel).is_file()

    def size(self, rel_path: str) -> int | None:
        """Size in bytes of the root-relative file, None when it does not exist."""
        rel = check_rel(rel_path)
        try:
            return self.store.size(rel) if self.store is not None else self.inside(self.root / rel).stat().st_size
        except (FileNotFoundError, OSError):
            return None

    # ---------------------------------------------------------- the one I/O owner
    # Manifests and files are read and written through these methods; stage code never builds
    # a manifest path itself.  A URL root keeps a local mirror of its manifests (driver only).

    def read(self, name: str, *, required: bool = False, hint: str = ""):
        """Manifest ``name`` (``"clips"``...) as a DataFrame with its declared schema; a missing
        optional manifest is an empty frame.  A URL root reads its published copy."""
        from realsync_build.core import manifest

        return manifest.read_named(self, name, required=required, hint=hint)

    def write(self, name: str, df) -> Path:
        """Write manifest ``name`` atomically (sorted by its key); a URL root publishes it."""
        from realsync_build.core import manifest

        return manifest.write_named(self, name, df)

    def write_table(self, name: str, table) -> Path:
        """Write manifest ``name`` from an Arrow table (schema-checked, atomic, as sorted as given)."""
        from realsync_build.core import manifest

        return manifest.write_table_named(self, name, table)

    def read_table(self, rel_path: str):
        """A root-relative Parquet file as an Arrow table, None when missing (e.g. a part file)."""
        from realsync_build.core import manifest

        return manifest.read_root_table(self, rel_path)

    def has(self, name: str) -> bool:
        """Whether manifest ``name`` exists (at the URL for a URL root)."""
        return self.exists(f"manifests/{name}.parquet")

    def open(self, rel_path: str, mode: str = "rb"):
        """Open a root-relative file for reading (``rb``); URL roots stream it from the store."""
        if "r" not in mode or "+" in mode:
            raise ValueError("DatasetRoot.open reads; write with put()")
        rel = check_rel(rel_path)
        if self.store is not None:
            return self.store.fs.open(self.store._path(rel), mode)
        return open(self.inside(self.root / rel), mode)

    def put(self, local: str | os.PathLike, rel_path: str) -> str:
        """Publish the local file ``local`` as ``rel_path`` under the root, atomically."""
        rel = check_rel(rel_path)
        if self.store is not None:
            return self.store.put_file(local, rel)
        from realsync_build.core import atomic

        final = self.inside(self.root / rel)
        with atomic.atomic_path(final) as tmp:
            import shutil

            shutil.copyfile(local, tmp)
        return str(final)

    def write_text(self, rel_path: str, text: str) -> str:
        """Write a small root-relative text file atomically: in place under a local root; in the
        driver's mirror and then put at the URL for a URL root.  Returns where it is (path or URL)."""
        from realsync_build.core import atomic

        rel = check_rel(rel_path)
        local = self.root / rel
        atomic.write_text(local, text)
        if self.store is not None:
            return self.store.put_file(local, rel)
        return str(local)

    def read_text(self, rel_path: str) -> str:
        """A root-relative text file's content (at the URL for a URL root); FileNotFoundError when missing."""
        with self.open(rel_path) as fh:
            return fh.read().decode("utf-8", "replace")

    def where(self, rel_path: str) -> str:
        """Where a root-relative file is, for a person to open: its path, or its URL for a URL root."""
        rel = check_rel(rel_path)
        return self.store.url(rel) if self.store is not None else str(self.root / rel)

    @contextlib.contextmanager
    def local_file(self, rel_path: str) -> Iterator[Path]:
        """A local path to the root-relative file (for tools that need one, such as ffmpeg or
        PyAV): the file itself under a local root; a URL root's copy downloaded to a temp folder
        that is deleted when the block ends."""
        rel = check_rel(rel_path)
        if self.store is None:
            yield self.inside(self.root / rel)
            return
        import tempfile

        with tempfile.TemporaryDirectory(prefix="realsync-in-") as tmpdir:
            yield self.store.get_file(rel, Path(tmpdir) / PurePosixPath(rel).name)

    def ls(self, rel_dir: str, pattern: str = "*") -> list[str]:
        """Root-relative paths of the files directly under ``rel_dir`` whose names match
        ``pattern`` (at the URL for a URL root), sorted."""
        import fnmatch

        rel = check_rel(rel_dir)
        if self.store is not None:
            names = self.store.ls(rel)
        else:
            folder = self.inside(self.root / rel)
            names = sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
        return [f"{rel}/{n}" for n in names if fnmatch.fnmatchcase(n, pattern)]

    def listdir(self, rel_dir: str) -> list[str]:
        """Names (files and folders) directly under the root-relative folder, at the URL for a URL
        root, sorted; empty when it does not exist."""
        rel = check_rel(rel_dir)
        if self.store is not None:
            return self.store.ls(rel)
        folder = self.root / rel
        return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []

    def has_folder(self, rel_dir: str) -> bool:
        """Whether the root-relative folder exists (at the URL for a URL root)."""
        rel = check_rel(rel_dir)
        if self.store is not None:
            return self.store.exists(rel)
        return (self.root / rel).is_dir()

    def get(self, rel_path: str, local: str | os.PathLike) -> Path:
        """Copy the root-relative file to the local path ``local`` (atomically); for a worker that
        re-checks a published output in its scratch folder."""
        rel = check_rel(rel_path)
        if self.store is not None:
            return self.store.get_file(rel, local)
        from realsync_build.core import atomic

        with atomic.atomic_path(local) as tmp:
            import shutil

            shutil.copyfile(self.root / rel, tmp)
        return Path(local)

    def cache(self, rel_path: str) -> Path:
        """A local path to the root-relative file: under a local root the file itself; under a URL
        root the mirror's copy, downloaded when missing or of another size than the URL's.  A file
        missing at the URL raises FileNotFoundError."""
        rel = check_rel(rel_path)
        local = self.inside(self.root / rel)
        if self.store is not None:
            size = self.size(rel)
            if size is None:
                local.unlink(missing_ok=True)
                raise FileNotFoundError(f"{self.store.url(rel)} does not exist")
            if not (local.is_file() and local.stat().st_size == size):
                self.store.get_file(rel, local)
        return local

    def mirror(self, rel_dir: str, pattern: str = "*") -> list[Path]:
        """URL root: download the files under ``rel_dir`` matching ``pattern`` into the local
        mirror (a file already there with the same size is kept) and remove mirror files of that
        pattern the URL lacks, so readers of the mirror (webdataset, training) see what the URL
        holds.  Local root: no-op.  Returns the local paths."""
        rels = self.ls(rel_dir, pattern)
        if self.store is None:
            return [self.root / r for r in rels]
        out = [self.cache(rel) for rel in rels]
        folder = self.root / check_rel(rel_dir)
        keep = {p.name for p in out}
        if folder.is_dir():
            import fnmatch

            for p in folder.iterdir():
                if p.is_file() and fnmatch.fnmatchcase(p.name, pattern) and p.name not in keep:
                    p.unlink()
        return out

    def publish(self, local: str | os.PathLike) -> str | None:
        """URL root: publish the mirror's file ``local`` (a path under :attr:`root`) at the same
        root-relative place, atomically; a folder is published file by file.  A path outside the
        mirror (an explicit local ``--out``) stays where it is.  Local root: no-op (already in place)."""
        if self.store is None:
            return None
        local = Path(local)
        try:
            rel = self.rel(local)
        except ValueError:
            return None
        if local.is_dir():
            for p in sorted(local.rglob("*")):
                if p.is_file() and not p.name.startswith("."):
                    self.store.put_file(p, self.rel(p))
            return self.store.url(rel)
        return self.store.put_file(local, rel)

    def remove(self, rel_path: str) -> None:
        """Delete a root-relative file or folder (recursively); missing is fine."""
        rel = check_rel(rel_path)
        if self.store is not None:
            path = self.store._path(rel)
            if self.store.fs.exists(path):
                self.store.fs.rm(path, recursive=True)
        target = self.inside(self.root / rel)
        if target.is_dir():
            import shutil

            shutil.rmtree(target)
        elif target.exists():
            target.unlink()

    def task_fields(self) -> dict:
        """The small picklable reference a worker gets (``root`` + ``root_url``); see :func:`from_task`."""
        return {"root": str(self.root), "root_url": self.url}

    def __getstate__(self):  # a small reference: never pickle the cached store
        return {"root": self.root, "url": self.url}

    def __setstate__(self, state) -> None:
        object.__setattr__(self, "root", state["root"])
        object.__setattr__(self, "url", state["url"])


def from_task(task: dict) -> DatasetRoot:
    """The :class:`DatasetRoot` a worker's task names (its URL kept)."""
    return DatasetRoot(Path(task["root"]), url=task.get("root_url"))


def check_inside(base: str | os.PathLike, path: str | os.PathLike) -> Path:
    """``path`` when its real path (every symlink resolved, also in folders that do not exist yet)
    stays inside ``base``'s real path, else :class:`UnsafePath` naming where it leads.  For workers,
    which get the root as a plain folder."""
    base_real = os.path.realpath(base)
    real = os.path.realpath(path)
    if real != base_real and not real.startswith(base_real.rstrip(os.sep) + os.sep):
        from realsync_build.core.errors import UnsafePath

        raise UnsafePath(
            f"refusing {path}: a symlink under the root leads outside it (to {real}); the root's files and folders "
            "must stay inside it: replace the link with a real folder or file"
        )
    return Path(path)


def check_rel(rel_path) -> str:
    """``rel_path`` as a clean POSIX root-relative path, or :class:`UnsafePath` when it is absolute,
    empty, or contains ``..`` (a manifest path must never leave the root)."""
    text = str(rel_path) if rel_path is not None else ""
    p = PurePosixPath(text.replace("\\", "/"))
    if not text or p.is_absolute() or re.match(r"^[A-Za-z]:", text) or ".." in p.parts:
        from realsync_build.core.errors import UnsafePath

        raise UnsafePath(f"refusing path {text!r} from a manifest: paths must be relative to the root and stay inside it")
    return p.as_posix()


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
