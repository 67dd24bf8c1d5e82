"""Planning from a published list (``--from-list``): exactly the videos it names.

The StreamSync authors' CSV lists name segments ``{video_id}_{start}_{end}..._{n}``
with each segment's channel; :mod:`realsync_build.core.lists` parses them strictly
(a malformed line is an error naming its line).  Each distinct video becomes one
planned row with its channel (and the channel's category from
``manifests/channels.toml``).  No selection rule applies: reproduction fetches
what the list names, in the list's order.
"""

from __future__ import annotations

from pathlib import Path

from realsync_build.core.channels import category_of
from realsync_build.core.ids import file_id
from realsync_build.core.lists import ListFormatError, read_list
from realsync_build.core.schema import PLANNED

YOUTUBE_WATCH = "https://www.youtube.com/watch?v={id}"


def plan_from_list(path: str | Path | list) -> list[dict]:
    """One planned ``videos`` row per video the list(s) name, in first-appearance order.

    Several lists (the evaluation and the test list) give one plan; a video listed under
    two channels is an error.  Each row also carries ``listed_spans`` (the clip spans the
    lists need, sorted) and ``listed_s`` (their union in seconds): plan-table facts, not
    manifest columns.
    """
    paths = [Path(p) for p in (path if isinstance(path, (list, tuple)) else [path])]
    rows: dict[str, dict] = {}
    spans: dict[str, set[tuple[int, int]]] = {}
    where: dict[str, Path] = {}
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"list not found: {p}")
        for item in read_list(p):
            vid = item.segment.video_id
            spans.setdefault(vid, set()).add((item.segment.clip_start_s, item.segment.clip_end_s))
            row = rows.get(vid)
            if row is None:
                where[vid] = p
                rows[vid] = {
                    "video_id": file_id(vid),
                    "channel": item.channel,
                    "category": category_of(item.channel),
                    "url": YOUTUBE_WATCH.format(id=vid),
                    "status": PLANNED,
                    "error": None,
                }
            elif row["channel"] != item.channel:
                raise ListFormatError(
                    f"{p}: video {vid} is listed under channels {row['channel']} and {item.channel}"
                    + (f" (also in {where[vid]})" if where[vid] != p else "")
                )
    for vid, row in rows.items():
        row["listed_spans"] = [list(s) for s in sorted(spans[vid])]
        row["listed_s"] = float(_union_s(spans[vid]))
    return list(rows.values())


PLAN_ONLY = ("listed_s", "listed_spans")  # plan-table facts, never manifest columns or task fields


def _union_s(intervals: set[tuple[int, int]]) -> int:
    """Seconds covered by the listed clips of one video (overlaps counted once)."""
    total, end = 0, None
    for a, b in sorted(intervals):
        if end is None or a >= end:
            total += b - a
            end = b
        elif b > end:
            total += b - end
            end = b
    return total
