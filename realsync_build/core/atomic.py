"""Atomic file writes: write under a temp name in the same folder, rename on success.

A reader (or a rerun after ``kill -9``) therefore sees either no file or the
complete file, never a partial one.  Temp names start with ``.`` and contain
``.tmp-`` so stale ones can be found and removed by :func:`remove_stale_temps`.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path
from typing import Iterator

TMP_MARK = ".tmp-"


def temp_path_for(final: Path) -> Path:
    final = Path(final)
    suffix = "".join(final.suffixes[-1:])  # keep the extension: ffmpeg picks the muxer from it
    return final.with_name(f".{final.stem}{TMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}{suffix}")


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path next to ``final``; rename it to ``final`` if the block succeeds.

    The temp file is removed if the block raises.  The block must create the file.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(final)
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def commit(tmp: str | os.PathLike, final: str | os.PathLike) -> Path:
    """Rename a finished temp file (from :func:`temp_path_for`, in ``final``'s folder) to ``final``, atomically:
    for files a tool wrote itself (ffmpeg's clips, yt-dlp's download) and that were checked first."""
    os.replace(tmp, final)
    return Path(final)


def write_bytes(final: str | os.PathLike, data: bytes, sync: bool = True) -> None:
    """``final`` holds ``data`` or is untouched; ``sync``: on disk (fsync) before the rename."""
    with atomic_path(final) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            if sync:
                os.fsync(fh.fileno())


def write_text(final: str | os.PathLike, text: str, sync: bool = True) -> None:
    write_bytes(final, text.encode("utf-8"), sync)


def remove_stale_temps(folder: str | os.PathLike) -> int:
    """Delete temp files left in ``folder`` by an interrupted run; returns how many."""
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    n = 0
    for p in folder.iterdir():
        if p.name.startswith(".") and TMP_MARK in p.name and p.is_file():
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
                n += 1
    return n
