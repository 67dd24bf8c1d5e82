"""Per-clip part files and their consolidation into the dataset manifests.

A worker writes each clip's detail rows atomically to
``annotations/{kind}/{clip_id}.parquet`` (kinds: intervals, events, tracks)
before it reports the clip done; after a run the driver concatenates the part
files of every done clip into ``manifests/{kind}.parquet`` (atomic).  The
clips manifest has one writer (preprocess): each clip's totals are joined in
when a later stage reads it (:func:`realsync_build.core.clipview.load_inputs`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa

from realsync_build.core import manifest
from realsync_build.core.root import DatasetRoot, safe_name
from realsync_build.core.schema import DONE, EVENTS, INTERVALS, TRACKS

KINDS: dict[str, pa.Schema] = {"intervals": INTERVALS, "events": EVENTS, "tracks": TRACKS}
SORT: dict[str, list[str]] = {
    "intervals": ["clip_id", "start_s"],
    "events": ["clip_id", "start_s", "label"],
    "tracks": ["clip_id", "track_id"],
}


def part_rel(kind: str, clip_id: str) -> str:
    """A part file's root-relative path."""
    return f"annotations/{kind}/{safe_name(clip_id, max_len=200)}.parquet"


def part_path(root: DatasetRoot, kind: str, clip_id: str) -> Path:
    """A part file's local path (the mirror's, for a URL root)."""
    return root.abs(part_rel(kind, clip_id))


def write_part(root: DatasetRoot, kind: str, clip_id: str, rows: list[dict]) -> Path:
    """Write a part atomically; a URL root's part is built in a temp folder, then published."""
    if root.url is None:
        path = part_path(root, kind, clip_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        return manifest.write(pd.DataFrame(rows), path, KINDS[kind], SORT[kind])
    import tempfile

    with tempfile.TemporaryDirectory(prefix="realsync-part-") as tmpdir:
        local = manifest.write(pd.DataFrame(rows), Path(tmpdir) / "part.parquet", KINDS[kind], SORT[kind])
        root.put(local, part_rel(kind, clip_id))
    return part_path(root, kind, clip_id)


def read_part(root: DatasetRoot, kind: str, clip_id: str) -> pd.DataFrame | None:
    rel = part_rel(kind, clip_id)
    if not root.exists(rel):
        return None
    try:
        with root.local_file(rel) as path:
            return manifest.read(path, KINDS[kind])
    except (manifest.ManifestError, FileNotFoundError):
        return None


def parts_exist(root: DatasetRoot, clip_id: str) -> bool:
    return all(root.exists(part_rel(k, clip_id)) for k in KINDS)


def consolidate(root: DatasetRoot) -> dict[str, int]:
    """Rewrite ``manifests/{intervals,events,tracks}.parquet`` from the done clips' part files,
    and join the totals into the clips manifest. Returns rows per kind."""
    ann = root.read("annotations")
    done = ann[ann["status"] == DONE]["clip_id"].tolist() if len(ann) else []
    counts: dict[str, int] = {}
    for kind, schema in KINDS.items():
        tables = []
        for cid in done:
            t = root.read_table(part_rel(kind, cid))
            if t is not None:
                tables.append(t.select([f.name for f in schema]).cast(schema))
        table = pa.concat_tables(tables) if tables else schema.empty_table()
        if table.num_rows:
            table = table.sort_by([(c, "ascending") for c in SORT[kind]])
        root.write_table(kind, table)  # atomic; a URL root publishes it
        counts[kind] = table.num_rows
    return counts
