"""Per-clip part files and their consolidation into the dataset manifests.

A worker writes each clip's detail rows atomically to
``annotations/{kind}/{clip_id}.parquet`` (kinds: intervals, events, tracks)
before it reports the clip done; after a run the driver concatenates the part
files of every done clip into ``manifests/{kind}.parquet`` (atomic).  The
clips manifest has one writer (preprocess): each clip's totals are joined in
when a later stage reads it (:func:`realsync_build.stages.split.inputs.load_inputs`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from realsync_build.core import atomic, manifest
from realsync_build.core.root import DatasetRoot, safe_name
from realsync_build.core.schema import DONE, EVENTS, INTERVALS, TRACKS

KINDS: dict[str, pa.Schema] = {"intervals": INTERVALS, "events": EVENTS, "tracks": TRACKS}
SORT: dict[str, list[str]] = {
    "intervals": ["clip_id", "start_s"],
    "events": ["clip_id", "start_s", "label"],
    "tracks": ["clip_id", "track_id"],
}


def part_path(root: DatasetRoot, kind: str, clip_id: str) -> Path:
    return root.root / "annotations" / kind / f"{safe_name(clip_id, max_len=200)}.parquet"


def write_part(root: DatasetRoot, kind: str, clip_id: str, rows: list[dict]) -> Path:
    path = part_path(root, kind, clip_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    return manifest.write(pd.DataFrame(rows), path, KINDS[kind], SORT[kind])


def read_part(root: DatasetRoot, kind: str, clip_id: str) -> pd.DataFrame | None:
    path = part_path(root, kind, clip_id)
    if not path.exists():
        return None
    try:
        return manifest.read(path, KINDS[kind])
    except manifest.ManifestError:
        return None


def parts_exist(root: DatasetRoot, clip_id: str) -> bool:
    return all(part_path(root, k, clip_id).exists() for k in KINDS)


def consolidate(root: DatasetRoot) -> dict[str, int]:
    """Rewrite ``manifests/{intervals,events,tracks}.parquet`` from the done clips' part files,
    and join the totals into the clips manifest. Returns rows per kind."""
    ann = root.read("annotations")
    done = ann[ann["status"] == DONE]["clip_id"].tolist() if len(ann) else []
    counts: dict[str, int] = {}
    for kind, schema in KINDS.items():
        tables = []
        for cid in done:
            path = part_path(root, kind, cid)
            if path.exists():
                t = pq.read_table(path)
                tables.append(t.select([f.name for f in schema]).cast(schema))
        table = pa.concat_tables(tables) if tables else schema.empty_table()
        if table.num_rows:
            table = table.sort_by([(c, "ascending") for c in SORT[kind]])
        out = root.manifest(kind)
        out.parent.mkdir(parents=True, exist_ok=True)
        with atomic.atomic_path(out) as tmp:
            pq.write_table(table, tmp, compression="zstd")
        counts[kind] = table.num_rows
    return counts


def joined_clip_columns(clips: pd.DataFrame, ann: pd.DataFrame | None) -> pd.DataFrame:
    """``clips`` with annotate's per-clip totals joined in (``t_talking_head_s``, ``t_voice_over_s``,
    ``top_events``; null for clips without a done annotation)."""
    clips = clips.copy()
    done = ann[ann["status"] == DONE].set_index("clip_id") if ann is not None and len(ann) else None
    for col, src in (("t_talking_head_s", "t_th_s"), ("t_voice_over_s", "t_vo_s"), ("top_events", "top_events")):
        clips[col] = clips["clip_id"].map(done[src]) if done is not None else None
    return clips
