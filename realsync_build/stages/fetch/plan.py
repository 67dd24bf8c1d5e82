"""Planning from a published list (``--from-list``): exactly the videos it names.

The StreamSync authors' CSV lists name segments ``{video_id}_{start}_{end}..._{n}``
with each segment's channel; :mod:`realsync_build.stages.split.lists` parses them strictly
(a malformed line is an error naming its line).  Each distinct video becomes one
planned row with its channel (and the channel's category from
``manifests/channels.toml``).  No selection rule applies: reproduction fetches
what the list names, in the list's order.
"""

from __future__ import annotations

from pathlib import Path

from realsync_build.stages.fetch.channels import category_of
from realsync_build.stages.fetch.ids import file_id
from realsync_build.stages.split.lists import ListFormatError, read_list
from realsync_build.core.schema import PLANNED

YOUTUBE_WATCH = "https://www.youtube.com/watch?v={id}"


def plan_from_list(path: str | Path) -> list[dict]:
    """One planned ``videos`` row per video the list names, in first-appearance order."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"list not found: {path}")
    rows: dict[str, dict] = {}
    spans: dict[str, set[tuple[int, int]]] = {}
    for item in read_list(path):
        vid = item.segment.video_id
        spans.setdefault(vid, set()).add((item.segment.clip_start_s, item.segment.clip_end_s))
        row = rows.get(vid)
        if row is None:
            rows[vid] = {
                "video_id": file_id(vid),
                "channel": item.channel,
                "category": category_of(item.channel),
                "url": YOUTUBE_WATCH.format(id=vid),
                "status": PLANNED,
                "error": None,
            }
        elif row["channel"] != item.channel:
            raise ListFormatError(f"{path}: video {vid} is listed under channels {row['channel']} and {item.channel}")
    for vid, row in rows.items():
        row["listed_s"] = float(_union_s(spans[vid]))  # not a manifest column: the plan table's hours
    return list(rows.values())


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
