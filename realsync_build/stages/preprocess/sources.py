"""``preprocess --input``: source files in a folder -> ``videos.parquet`` rows with ids that never move.

Channel = the sub-folder a file sits in (the folder's own name for top-level files).  Ids follow
the one rule of :func:`realsync_build.core.ids.file_id` (a published id such as ``-FX_ew97f-8`` is
kept as it is).  One source, one id: a source is the file its resolved path names, whichever
folder ``--input`` names (inside the root or not, through a link, with a trailing slash) and
however often it runs; a registered source keeps its id, and a new one whose id is taken gets a
suffix hashed from its own original name (see :func:`keep_known_ids`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from realsync_build.core.duplicates import registered_files
from realsync_build.core.ids import file_id
from realsync_build.core.records import Video
from realsync_build.core.root import DatasetRoot, safe_name
from realsync_build.core.stage import register, unregister
from realsync_build.core.schema import DONE, FAILED
from realsync_build.core.storage import is_url
from realsync_build.media.probe import ProbeError, probe_source
from realsync_build.core.channels import category_of

MEDIA_SUFFIXES = {".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v", ".ts", ".flv", ".mpg", ".mpeg", ".wmv", ".3gp"}
IGNORED_SUFFIXES = {".json", ".part", ".ytdl", ".txt", ".md", ".csv", ".parquet", ".toml", ".log", ".jpg", ".png", ".webp", ".vtt", ".srt"}


def _is_candidate(path: Path) -> bool:
    if not path.is_file() or path.name.startswith("."):
        return False
    suffix = path.suffix.lower()
    return suffix in MEDIA_SUFFIXES or (suffix not in IGNORED_SUFFIXES)


def discover_sources(input_dir: Path, default_category: str = "unknown", category_map: dict | None = None) -> pd.DataFrame:
    """Source files under ``input_dir``: channel = sub-folder name (the folder's own name for top-level files)."""
    input_dir = Path(input_dir)
    if not input_dir.is_dir():
        raise FileNotFoundError(f"input folder not found: {input_dir}")
    rows = []
    for path in sorted(p for p in input_dir.rglob("*") if _is_candidate(p)):
        rel = path.relative_to(input_dir)
        channel = rel.parts[0] if len(rel.parts) > 1 else input_dir.name
        vid = source_id(rel)
        rows.append(
            {
                "video_id": vid,
                "channel": safe_name(channel),
                "category": (category_map or {}).get(channel) or category_of(channel, default_category),
                "title": path.name,
                "path": str(path.resolve()),
                "size_bytes": path.stat().st_size,
                "source_rel": rel.as_posix(),  # the original name, for collision suffixes (not stored)
            }
        )
    return pd.DataFrame(rows, columns=["video_id", "channel", "category", "title", "path", "size_bytes", "source_rel"])


def source_id(rel: Path) -> str:
    """A source's id before collisions are settled: :func:`~realsync_build.core.ids.file_id` of its
    stem (the same rule as ``fetch``: ``-FX_ew97f-8.mp4`` is ``-FX_ew97f-8``)."""
    return file_id(rel.stem)


def keep_known_ids(sources: pd.DataFrame, videos: pd.DataFrame, root: DatasetRoot | None = None) -> pd.DataFrame:
    """Ids that never move: a source already in ``videos.parquet`` (the same file: the same resolved
    path, see :func:`registered_files`) keeps its id; a new source whose id is taken by another
    source, or shared with another new one (``news/a.mp4`` and ``sports/a.mp4``), gets a suffix
    hashed from its own original name under ``--input``, so the id depends on the name, never on
    which file arrived first."""
    if sources.empty:
        return sources
    known: dict[str, str] = {}
    if len(videos):
        for path, vid in sorted(zip(registered_files(videos, root), videos["video_id"]), key=lambda pv: (len(pv[1]), pv[1])):
            if path is not None:
                known.setdefault(path, vid)  # a root made before the fix may hold two ids: the first one
    taken = {vid: path for path, vid in known.items()}  # a planned download's id (no file yet) is free to take
    out = sources.copy()
    new_ids = out["path"].map(known)
    counts = out.loc[new_ids.isna(), "video_id"].value_counts()
    for i, row in out.iterrows():
        if pd.notna(new_ids[i]):
            out.at[i, "video_id"] = new_ids[i]
            continue
        vid = row["video_id"]
        if (vid in taken and taken[vid] != row["path"]) or counts.get(vid, 0) > 1:
            out.at[i, "video_id"] = f"{vid}-{hashlib.sha1(str(row['source_rel']).encode()).hexdigest()[:8]}"
    return out


def drop_duplicate_registrations(root: DatasetRoot, sources: pd.DataFrame, videos: pd.DataFrame) -> list[str]:
    """A root made before one-source-one-id may hold a ``--input`` file under two ids (``bulletin``
    and ``bulletin-d002a792``).  For each source of this run, every other id registered for the
    same file is removed: its row in ``videos.parquet``, its rows in ``clips.parquet`` and its clip
    folder.  The id ``keep_known_ids`` kept (the first) stays.  Returns the removed ids."""
    if sources.empty or videos.empty:
        return []
    kept = dict(zip(sources["path"], sources["video_id"]))
    drop = sorted({vid for vid, f in zip(videos["video_id"], registered_files(videos, root)) if f in kept and kept[f] != vid})
    if not drop:
        return []
    from realsync_build.core.ids import is_file_safe_id

    gone = videos[videos["video_id"].isin(drop)]
    unregister(root, ("clips", "videos"), "video_id", drop)  # the driver writes both manifests
    for vid, channel in zip(gone["video_id"], gone["channel"]):
        if is_file_safe_id(vid):
            root.remove(f"clips/{safe_name(channel or 'unknown')}/{vid}")
    return drop


def _located(root: DatasetRoot, abs_path: str) -> dict:
    """Manifest paths are root-relative: a source under the root gets ``path``; one outside it
    (the usual --input folder) keeps its absolute location in ``source_path`` instead."""
    try:
        return {"path": root.rel(Path(abs_path)), "source_path": None}
    except ValueError:
        return {"path": None, "source_path": str(abs_path)}


def register_local_sources(root: DatasetRoot, sources: pd.DataFrame) -> pd.DataFrame:
    """Add ``--input`` sources to ``videos.parquet`` (probed: duration, size; bad files get an error)."""
    rows = []
    for src in sources.to_dict("records"):
        found = {k: v for k, v in src.items() if k != "source_rel"}  # source_rel: a working column, not a manifest one
        row = Video.from_row({**found, **_located(root, src["path"])}).replace(url=None, status=DONE, error=None)
        try:
            info = probe_source(src["path"])
            row = row.replace(duration_s=info.duration_s, width=info.width, height=info.height, fps=info.fps)
        except ProbeError as exc:
            row = row.replace(status=FAILED, error=str(exc))
        rows.append(row.to_row())
    return register(root, "videos", rows)  # the driver writes videos.parquet


def source_location(root: DatasetRoot, path: str) -> str:
    """Where a worker finds a source: a URL as is; a root-relative path under the root (its URL
    for a URL root); an absolute path as is (on several machines it must be on a shared filesystem)."""
    if is_url(path):
        return path
    if Path(path).is_absolute():
        return path  # a source registered by --input (read only; outputs always go under the root)
    return root.where(path)  # its URL for a URL root (check_rel refuses an escaping path)
