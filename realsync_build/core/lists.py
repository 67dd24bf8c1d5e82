"""The evaluation lists the StreamSync authors published (and that its code reads).

CSV, one segment a line, no header::

    {video_id}_{clip_start}_{clip_end}_{seg_start}_0,{seg_start},{channel}

JSON: ``{segment_id: {"offset_sec": float, "v_start_i_sec": float}}``.

Video ids may contain ``_`` and ``-``, so segment ids are parsed from the right.
Some clip names carry a suffix after the span (``_broken_silence``, ``_broken_short``,
``_broken``: 14,421 of the 32,065 published segments); the clip *name*, suffix
included, identifies a clip (1,137 names, 621 distinct spans, 65 videos).
Parsing is strict: a malformed line raises :class:`ListFormatError` naming it, and so do
invalid UTF-8 (with its line), an id or channel that could read as an option or a path
(:mod:`realsync_build.core.names`), and a JSON offset that is not a finite number within +/-2 s
(:func:`realsync_build.core.values.check_offset_s`; a normal list's 0.2 s grid is checked by
adoption, which knows the list's distribution).  JSON nesting is bounded
(:mod:`realsync_build.core.textfiles`).
Writing reproduces the published files byte for byte.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from realsync_build.core import atomic
from realsync_build.core.errors import UserError
from realsync_build.core.names import channel_problem, id_problem


class ListFormatError(UserError, ValueError):
    """A list file that breaks the format: one line naming the file (and line), exit 2."""


@dataclass(frozen=True)
class SegmentId:
    video_id: str
    clip_start_s: int
    clip_end_s: int
    seg_start_s: int
    index: int = 0
    tag: str = ""  # the authors' clip-name suffix, e.g. "broken_silence" (kept for round trips)

    @property
    def clip_name(self) -> str:
        """The clip's name in the published list (StreamSync naming, suffix included)."""
        base = f"{self.video_id}_{self.clip_start_s}_{self.clip_end_s}"
        return f"{base}_{self.tag}" if self.tag else base

    def __str__(self) -> str:
        return f"{self.clip_name}_{self.seg_start_s}_{self.index}"

    @property
    def clip_id(self) -> str:
        """The clip's id in realsync's own naming (``{video_id}_{start}_{end}``)."""
        return f"{self.video_id}_{self.clip_start_s}_{self.clip_end_s}"


# {video_id}_{start}_{end}[_{tag words}] -- parsed from the right, ids may hold '_' and '-'.
_CLIP_NAME = re.compile(r"^(?P<vid>[A-Za-z0-9_-]+?)_(?P<a>\d+)_(?P<b>\d+)(?:_(?P<tag>[a-z]+(?:_[a-z]+)*))?$")


def parse_segment_id(text: str) -> SegmentId:
    """Parse ``{clip_name}_{seg_start}_{n}``; clip_name is ``{video_id}_{start}_{end}`` plus an optional tag."""
    parts = text.rsplit("_", 2)
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
        raise ValueError(f"segment id {text!r} does not end in _{{seg_start}}_{{n}}")
    m = _CLIP_NAME.match(parts[0])
    if not m:
        raise ValueError(f"segment id {text!r}: clip name {parts[0]!r} is not {{video_id}}_{{start}}_{{end}}")
    problem = id_problem(m["vid"])
    if problem:
        raise ValueError(f"segment id {text[:60]!r}{'...' if len(text) > 60 else ''}: {problem}")
    a, b = int(m["a"]), int(m["b"])
    if not a < b:
        raise ValueError(f"segment id {text!r}: clip span {a}..{b} is empty")
    return SegmentId(m["vid"], a, b, int(parts[1]), int(parts[2]), m["tag"] or "")


@dataclass(frozen=True)
class ListRow:
    segment: SegmentId
    seg_start_s: float
    channel: str


def parse_csv_text(text: str, source: str = "<list>") -> list[ListRow]:
    rows = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            raise ListFormatError(f"{source}:{lineno}: empty line")
        fields = line.split(",")
        if len(fields) != 3:
            raise ListFormatError(f"{source}:{lineno}: expected 3 comma-separated fields, got {len(fields)}: {line[:80]!r}")
        sid, start, channel = fields
        try:
            seg = parse_segment_id(sid)
            start_s = float(start)
        except ValueError as exc:
            raise ListFormatError(f"{source}:{lineno}: {exc}") from None
        if not math.isfinite(start_s) or abs(start_s - seg.seg_start_s) > 1e-6:
            raise ListFormatError(f"{source}:{lineno}: start {start!r} does not match the segment id {sid!r}")
        problem = channel_problem(channel)
        if problem:
            raise ListFormatError(f"{source}:{lineno}: {problem}")
        rows.append(ListRow(seg, start_s, channel))
    return rows


def read_csv(path: str | Path) -> list[ListRow]:
    from realsync_build.core.textfiles import read_utf8

    path = Path(path)
    return parse_csv_text(read_utf8(path), str(path))


def format_csv(rows: Iterable[ListRow]) -> str:
    return "".join(f"{r.segment},{float(r.seg_start_s)!r},{r.channel}\n" for r in rows)


def write_csv(rows: Iterable[ListRow], path: str | Path) -> None:
    atomic.write_text(path, format_csv(rows))


def read_json(path: str | Path) -> dict[str, dict[str, float]]:
    """``{segment_id: {"offset_sec", "v_start_i_sec"}}``, every offset a finite number within +/-2 s
    (the grid is the list's distribution's business) and every start a finite number; anything else is one :class:`ListFormatError` naming the
    file and the segment."""
    from realsync_build.core.textfiles import TextFileError, load_json
    from realsync_build.core.values import BadValue, check_offset_s

    path = Path(path)
    try:
        data = load_json(path)
    except TextFileError as exc:
        raise ListFormatError(str(exc)) from None
    if not isinstance(data, dict):
        raise ListFormatError(f"{path}: expected an object of segment ids")
    for sid, entry in data.items():
        try:
            parse_segment_id(sid)
        except ValueError as exc:
            raise ListFormatError(f"{path}: {exc}") from None
        if not isinstance(entry, dict) or set(entry) != {"offset_sec", "v_start_i_sec"}:
            raise ListFormatError(f"{path}: {sid}: expected keys offset_sec and v_start_i_sec")
        try:
            check_offset_s(entry["offset_sec"], f"{path}: segment {sid}")
        except BadValue as exc:
            raise ListFormatError(str(exc)) from None
        start = entry["v_start_i_sec"]
        if isinstance(start, bool) or not isinstance(start, (int, float)) or not math.isfinite(start):
            raise ListFormatError(f"{path}: segment {sid}: v_start_i_sec {start!r} is not a finite number")
    return data


def format_json(entries: dict[str, dict[str, float]]) -> str:
    return json.dumps({k: {"offset_sec": float(v["offset_sec"]), "v_start_i_sec": float(v["v_start_i_sec"])} for k, v in entries.items()})


def write_json(entries: dict[str, dict[str, float]], path: str | Path) -> None:
    atomic.write_text(path, format_json(entries))


def read_list(path: str | Path) -> list[ListRow]:
    """The rows of a published list file: a ``.csv`` (with channels) is what ``fetch --from-list`` needs."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        raise ListFormatError(f"{path}: the JSON list has no channels; pass the .csv list")
    return read_csv(path)
