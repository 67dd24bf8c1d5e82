"""The model registry: where each model's files live, how they are checked and fetched.

Every model the pipeline can run has an entry (official URL(s), file names, licence,
hash) in :mod:`realsync_build.models.catalog`. Files live in one folder (the *models dir*)::

    $REALSYNC_MODELS_DIR            (default: platformdirs' user cache dir, "realsync/models")
      syncnet/syncnet_v2.model
      s3fd/s3fd-619a316812.pth
      panns/Cnn14_16k_mAP=0.438.pth
      panns/Cnn14_mAP=0.431.pth
      blazeface/blazeface.pth  blazeface/anchors.npy
      blazeface/blazefaceback.pth  blazeface/anchorsback.npy
      yamnet/yamnet.tflite  yamnet/yamnet_class_map.csv
      audioset/class_labels_indices.csv
      hashes.json                   (sha256 recorded on first download, for files with no published hash)

Hash kinds (``models list`` shows them):

- ``sha256``: a full sha256 pinned here;
- ``sha256-prefix``: torch.hub-style file names (``s3fd-619a316812.pth``) carry the
  first hex digits of the file's sha256;
- ``md5``: the md5 the publisher lists (Zenodo for PANNs);
- ``md5-prefix``: the publisher lists the md5's first hex digits only (SparseSync's README);
- ``recorded``: nothing published; the sha256 is recorded in ``hashes.json`` on first
  download and every later use is checked against it.

Nothing here touches the network at import time; only :func:`download` does.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from realsync_build.core.atomic import atomic_path, write_text
from realsync_build.models.base import ModelMissing
from realsync_build.models.catalog import (  # noqa: F401  (re-exported: callers use registry.SHA256 ...)
    HASH_KINDS,
    MD5,
    MD5_PREFIX,
    RECORDED,
    SHA256,
    SHA256_PREFIX,
    ModelEntry,
    ModelFile,
    entries,
)

ENV = "REALSYNC_MODELS_DIR"
HASHES_FILE = "hashes.json"


class ModelHashMismatch(ModelMissing):
    """A model file is present but its hash is not the expected one: it is refused."""


class ModelUnusable(ModelMissing):
    """A model file is present (and passed its hash check) but does not load: wrong layout or unreadable."""


REGISTRY: dict[str, ModelEntry] = entries()


def get_entry(name: str) -> ModelEntry:
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(REGISTRY)}") from None


# ---------------------------------------------------------------- models dir and hashes


def models_dir() -> Path:
    """``$REALSYNC_MODELS_DIR`` or the user cache dir (``platformdirs``) + ``models``."""
    env = os.environ.get(ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("realsync", appauthor=False)) / "models"


def file_digest(path: Path, algo: str = "sha256") -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_recorded(root: Path) -> dict[str, str]:
    p = root / HASHES_FILE
    if not p.is_file():
        return {}
    try:
        data = json.loads(p.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def record_hash(root: Path, rel: str, sha256: str) -> bool:
    """Store ``rel -> sha256`` in ``hashes.json`` (atomic). False when the folder is read-only."""
    data = read_recorded(root)
    data[rel] = sha256
    try:
        write_text(root / HASHES_FILE, json.dumps(data, indent=1, sort_keys=True) + "\n")
    except OSError:
        return False
    return True


@dataclass
class FileCheck:
    entry: ModelEntry
    mf: ModelFile
    path: Path
    present: bool
    ok: bool  # present and the hash matches (or a RECORDED file with nothing recorded yet)
    sha256: str | None
    note: str


def expected_text(mf: ModelFile, recorded: dict[str, str]) -> str:
    if mf.hash_kind == RECORDED:
        return recorded.get(mf.rel, "") or "(recorded on first download)"
    return mf.digest or ""


def _matches(mf: ModelFile, path: Path, recorded: dict[str, str]) -> tuple[bool, str, str]:
    """(ok, sha256, note) for a present file."""
    sha = file_digest(path, "sha256")
    if mf.hash_kind == SHA256:
        return sha == mf.digest, sha, "" if sha == mf.digest else f"sha256 {sha[:16]}... != {mf.digest[:16]}..."
    if mf.hash_kind == SHA256_PREFIX:
        ok = sha.startswith(mf.digest)
        return ok, sha, "" if ok else f"sha256 {sha[:16]}... does not start with {mf.digest}"
    if mf.hash_kind == MD5:
        md5 = file_digest(path, "md5")
        return md5 == mf.digest, sha, "" if md5 == mf.digest else f"md5 {md5} != published {mf.digest}"
    if mf.hash_kind == MD5_PREFIX:
        md5 = file_digest(path, "md5")
        ok = md5.startswith(mf.digest)
        return ok, sha, "" if ok else f"md5 {md5} does not start with the published {mf.digest}"
    want = recorded.get(mf.rel)
    if want is None:
        return True, sha, "no hash recorded yet (file was not fetched by `realsync models download`)"
    return sha == want, sha, "" if sha == want else f"sha256 {sha[:16]}... != recorded {want[:16]}..."


_CHECKED: dict[tuple[str, int, int, str], tuple[bool, str, str]] = {}


def check_file(entry: ModelEntry, mf: ModelFile, root: Path | None = None, recorded: dict[str, str] | None = None) -> FileCheck:
    root = models_dir() if root is None else root
    recorded = read_recorded(root) if recorded is None else recorded
    path = root / mf.folder / mf.file
    if not path.is_file():
        return FileCheck(entry, mf, path, False, False, None, "missing")
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns, recorded.get(mf.rel, ""))
    if key not in _CHECKED:  # hashing a 300 MB checkpoint takes a second: once per process
        _CHECKED[key] = _matches(mf, path, recorded)
    ok, sha, note = _CHECKED[key]
    return FileCheck(entry, mf, path, True, ok, sha, note)


def model_files(name: str, root: Path | None = None) -> list[Path]:
    """Verified paths of all files of model ``name``.

    Raises :class:`ModelMissing` when a file is absent and :class:`ModelHashMismatch`
    when one has the wrong hash; both messages name ``realsync models download NAME``.
    """
    entry = get_entry(name)
    root = models_dir() if root is None else root
    recorded = read_recorded(root)
    paths = []
    for mf in entry.files:
        c = check_file(entry, mf, root, recorded)
        if not c.present:
            raise ModelMissing(name, f"{c.path} not found")
        if not c.ok:
            raise ModelHashMismatch(name, f"{c.path} refused: {c.note}")
        paths.append(c.path)
    return paths


def model_path(name: str, root: Path | None = None) -> Path:
    """Verified path of the main file of model ``name`` (see :func:`model_files`)."""
    return model_files(name, root)[0]


def check_all(names: Iterable[str] | None = None, root: Path | None = None) -> list[FileCheck]:
    root = models_dir() if root is None else root
    recorded = read_recorded(root)
    out = []
    for name in names or REGISTRY:
        entry = get_entry(name)
        out.extend(check_file(entry, mf, root, recorded) for mf in entry.files)
    return out


# ---------------------------------------------------------------- download


class DownloadError(RuntimeError):
    pass


def fetch_file(
    entry: ModelEntry,
    mf: ModelFile,
    root: Path | None = None,
    timeout_s: float = 60.0,
    progress: Callable[[int, int | None], None] | None = None,
    force: bool = False,
) -> Path:
    """Download one file with urllib into ``root`` atomically, checking its hash before the rename.

    A present file that verifies is kept (unless ``force``); a present file with the wrong
    hash is replaced. For RECORDED files the sha256 is written to ``hashes.json``.
    """
    root = models_dir() if root is None else root
    final = root / mf.folder / mf.file
    recorded = read_recorded(root)
    if final.is_file() and not force:
        c = check_file(entry, mf, root, recorded)
        if c.ok and (mf.hash_kind != RECORDED or mf.rel in recorded):
            return final
    sha, md5 = hashlib.sha256(), hashlib.md5()
    request = urllib.request.Request(mf.url, headers={"User-Agent": "realsync-models/1"})
    try:
        with atomic_path(final) as tmp:
            with urllib.request.urlopen(request, timeout=timeout_s) as resp, open(tmp, "wb") as fh:
                total = resp.headers.get("Content-Length")
                total_n = int(total) if total and total.isdigit() else None
                done = 0
                for block in iter(lambda: resp.read(1 << 20), b""):
                    fh.write(block)
                    sha.update(block)
                    md5.update(block)
                    done += len(block)
                    if progress:
                        progress(done, total_n)
                fh.flush()
                os.fsync(fh.fileno())
            got = sha.hexdigest()
            bad = None
            if mf.hash_kind == SHA256 and got != mf.digest:
                bad = f"sha256 {got} != {mf.digest}"
            elif mf.hash_kind == SHA256_PREFIX and not got.startswith(mf.digest):
                bad = f"sha256 {got} does not start with {mf.digest}"
            elif mf.hash_kind == MD5 and md5.hexdigest() != mf.digest:
                bad = f"md5 {md5.hexdigest()} != published {mf.digest}"
            elif mf.hash_kind == MD5_PREFIX and not md5.hexdigest().startswith(mf.digest):
                bad = f"md5 {md5.hexdigest()} does not start with the published {mf.digest}"
            elif mf.hash_kind == RECORDED and mf.rel in recorded and not force and recorded[mf.rel] != got:
                bad = f"sha256 {got} != recorded {recorded[mf.rel]} (use --force to re-record)"
            if bad:
                raise DownloadError(f"{entry.name}: {mf.url} gave a file with the wrong hash ({bad}); not saved")
    except DownloadError:
        raise
    except (OSError, ValueError) as exc:  # URLError, HTTPError, timeouts, read-only dir
        raise DownloadError(f"{entry.name}: could not fetch {mf.url}: {exc}") from exc
    if mf.hash_kind == RECORDED:
        record_hash(root, mf.rel, got)
    for key in [k for k in _CHECKED if k[0] == str(final)]:
        _CHECKED.pop(key, None)
    return final


def with_needs(names: Iterable[str]) -> list[str]:
    """``names`` plus the entries they need (``panns-cnn14-16k`` -> ``audioset-labels``), in order, once each."""
    out: list[str] = []
    for n in names:
        for m in (n, *get_entry(n).needs):
            if m not in out:
                out.append(m)
    return out


def download(name: str, root: Path | None = None, timeout_s: float = 60.0, progress=None, force: bool = False) -> list[Path]:
    """Fetch every file of model ``name`` and of the entries it needs (skipping files present and verified)."""
    paths = []
    for n in with_needs([name]):
        entry = get_entry(n)
        paths += [fetch_file(entry, mf, root, timeout_s, progress, force) for mf in entry.files]
    return paths


# ---------------------------------------------------------------- panns-inference's labels file


def seed_panns_labels(root: Path | None = None, home: Path | None = None) -> Path:
    """Make sure ``~/panns_data/class_labels_indices.csv`` exists before panns-inference is imported.

    panns-inference runs ``wget`` at import time when that file is absent; we copy the
    registry's verified ``audioset-labels`` file there instead (atomic).
    """
    home = Path.home() if home is None else home
    target = home / "panns_data" / "class_labels_indices.csv"
    if target.is_file() and target.stat().st_size > 0:
        return target
    src = model_path("audioset-labels", root)
    from realsync_build.core.atomic import write_bytes

    write_bytes(target, src.read_bytes())
    return target
