"""``realsync export streamsync``: the evaluation lists in the format StreamSync's code reads.

Per split (dev, test) two files under ``--out``:

* ``{name}.{split}.csv``, one segment a line, no header:
  ``{clip_id}_{seg_start}_0,{seg_start}.0,{channel}``
* ``{name}.{split}.json``: ``{segment_id: {"offset_sec": float, "v_start_i_sec": float}}``

written with :mod:`realsync_build.stages.split.lists` (the project's strict parser/writer of
the published lists), rows ordered by channel, clip and start.  Every id is
parsed back before anything is written, so a list this command writes always
reads back.  :func:`segments_from_lists` turns a published list into segment
rows and :func:`format_lists` writes rows back in their given order: the
published list round-trips byte for byte (tested).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from realsync_build.core import atomic

from realsync_build.stages.split import lists
from realsync_build.stages.split.inputs import load_split_inputs
from realsync_build.core.root import DatasetRoot, safe_name
from realsync_build.stages.split.segments import class_of_offset

EVAL_SPLITS = ("dev", "test")


class StreamSyncExportError(ValueError):
    pass


@dataclass
class StreamSyncReport:
    files: list[Path] = field(default_factory=list)
    per_split: dict[str, int] = field(default_factory=dict)


def segments_to_list(segments: pd.DataFrame) -> tuple[list[lists.ListRow], dict[str, dict[str, float]]]:
    """Segment rows (in their order) -> CSV rows and JSON entries; ids are validated."""
    rows, entries = [], {}
    for s in segments.to_dict("records"):
        start = float(s["start_s"])
        if abs(start - round(start)) > 1e-9:
            raise StreamSyncExportError(f"segment {s['segment_id']}: start {start} s is not a whole second (StreamSync ids need one)")
        try:
            sid = lists.parse_segment_id(str(s["segment_id"]))
        except ValueError as exc:
            raise StreamSyncExportError(str(exc)) from None
        if sid.seg_start_s != int(round(start)) or sid.clip_id != str(s["clip_id"]) or (sid.tag or None) != (_tag(s) or None):
            raise StreamSyncExportError(
                f"segment {s['segment_id']} does not match its clip {s['clip_id']!r} and start {start}: rerun `realsync split`"
            )
        rows.append(lists.ListRow(sid, start, str(s["channel"])))
        if str(sid) in entries:
            raise StreamSyncExportError(f"segment {sid} appears twice")
        entries[str(sid)] = {"offset_sec": float(s["offset_sec"]) + 0.0, "v_start_i_sec": start}
    return rows, entries


def _tag(row: dict):
    tag = row.get("tag")
    return None if tag is None or (isinstance(tag, float) and tag != tag) else str(tag)


def format_lists(segments: pd.DataFrame) -> tuple[str, str]:
    """The CSV and JSON texts of ``segments`` in their given order."""
    rows, entries = segments_to_list(segments)
    return lists.format_csv(rows), lists.format_json(entries)


def segments_from_lists(rows: list[lists.ListRow], entries: dict[str, dict[str, float]], window_s: float = 5.0) -> pd.DataFrame:
    """A published list as segment rows (order kept); the JSON must hold every CSV id.

    ``clip_id`` is realsync's clip id (``{video_id}_{start}_{end}``); a clip-name tag
    (``broken_silence`` ...) goes to ``tag``."""
    out = []
    for r in rows:
        sid = str(r.segment)
        if sid not in entries:
            raise StreamSyncExportError(f"segment {sid} is in the CSV but not in the JSON list")
        e = entries[sid]
        if abs(float(e["v_start_i_sec"]) - r.seg_start_s) > 1e-9:
            raise StreamSyncExportError(f"segment {sid}: JSON start {e['v_start_i_sec']} differs from the CSV's {r.seg_start_s}")
        out.append(
            {
                "segment_id": sid,
                "clip_id": r.segment.clip_id,
                "video_id": r.segment.video_id,
                "channel": r.channel,
                "start_s": float(r.seg_start_s),
                "end_s": float(r.seg_start_s) + window_s,
                "offset_sec": float(e["offset_sec"]),
                "offset_class": class_of_offset(float(e["offset_sec"])),
                "tag": r.segment.tag or None,
            }
        )
    if len(out) != len(entries):
        raise StreamSyncExportError(f"the JSON list has {len(entries) - len(out)} segments the CSV does not")
    return pd.DataFrame(out)


def run_export_streamsync(
    root: DatasetRoot, out: Path, name: str | None = None, splits=EVAL_SPLITS, layout: str = "realsync"
) -> StreamSyncReport:
    """``layout="realsync"``: ``{name}.{dev,test}.{csv,json}``.  ``layout="streamsync"``: the files the
    StreamSync code opens (:func:`realsync_build.stages.export.streamsync_layout.export_layout`)."""
    if layout == "streamsync":
        from realsync_build.stages.export.streamsync_layout import export_layout

        return export_layout(root, Path(out), name or "sports_and_news_normal")
    if layout != "realsync":
        raise StreamSyncExportError(f"--layout must be realsync or streamsync, not {layout!r}")
    name = name or "realsync"
    unknown = [s for s in splits if s not in EVAL_SPLITS]
    if unknown:
        raise StreamSyncExportError(f"only dev and test have evaluation segments, not {unknown}")
    name = safe_name(name)
    _, segments = load_split_inputs(root, "export")
    texts: dict[Path, str] = {}
    report = StreamSyncReport()
    for split in splits:
        seg = segments[segments["split"] == split].sort_values(["channel", "clip_id", "start_s"], kind="mergesort")
        csv_text, json_text = format_lists(seg)
        texts[Path(out) / f"{name}.{split}.csv"] = csv_text
        texts[Path(out) / f"{name}.{split}.json"] = json_text
        report.per_split[split] = len(seg)
    for path, text in texts.items():  # everything was formatted and checked first
        atomic.write_text(path, text)
        root.publish(path)  # a URL root: the lists go to the URL too (when --out is in the root)
        report.files.append(path)
    return report
