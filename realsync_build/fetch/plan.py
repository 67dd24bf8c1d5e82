"""Planning from a published list (``--from-list``): exactly the videos it names.

The StreamSync authors' CSV lists name segments ``{video_id}_{start}_{end}..._{n}``
with each segment's channel; :mod:`realsync_build.lists` parses them strictly
(a malformed line is an error naming its line).  Each distinct video becomes one
planned row with its channel (and the channel's category from
``manifests/channels.toml``).  No selection rule applies: reproduction fetches
what the list names, in the list's order.
"""

from __future__ import annotations

from pathlib import Path

from realsync_build.channels import category_of
from realsync_build.fetch.ids import file_id
from realsync_build.lists import ListFormatError, read_list
from realsync_build.schema import PLANNED

YOUTUBE_WATCH = "https://www.youtube.com/watch?v={id}"


def plan_from_list(path: str | Path) -> list[dict]:
    """One planned ``videos`` row per video the list names, in first-appearance order."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"list not found: {path}")
    rows: dict[str, dict] = {}
    for item in read_list(path):
        vid = item.segment.video_id
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
    return list(rows.values())
