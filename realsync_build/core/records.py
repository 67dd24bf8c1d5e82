"""Typed records: one small dataclass per manifest row (a video, a clip, a segment, an interval, an event).

A stage builds its rows through these (``Clip(clip_id=..., start_s=...).to_row()``), so a misspelt
field is a ``TypeError`` where the row is made, and :meth:`Record.from_row` refuses a row with a
column the manifest does not have (:class:`RecordError`) instead of letting it become a null.
Units are in the names, as in the schema: ``_s`` seconds (float), ``n_frames`` frames (int).

:mod:`realsync_build.core.schema` stays the one source of column types: each record names its
manifest (``MANIFEST``) and ``tests/test_records.py`` checks that its fields are exactly that
schema's columns, in order, with matching types.  A null is ``None`` (never NaN) and a list column
is a Python list.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Mapping, TypeVar

R = TypeVar("R", bound="Record")


class RecordError(ValueError):
    """A row that does not fit its manifest: an unknown (misspelt) column or a missing key."""


def _plain(value: Any) -> Any:
    """A cell as a plain Python value: NaN / NA -> None, numpy scalars -> int/float/bool, arrays -> lists."""
    if value is None:
        return None
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # numpy scalar or array
        value = value.tolist()
    if isinstance(value, float) and math.isnan(value):
        return None
    if type(value).__name__ in ("NAType", "NaTType"):
        return None
    if isinstance(value, tuple):
        return list(value)
    return value


@dataclass
class Record:
    MANIFEST: ClassVar[str] = ""
    KEY: ClassVar[str] = ""

    @classmethod
    def columns(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def from_row(cls: type[R], row: Mapping[str, Any]) -> R:
        """The record of one manifest row (a dict, or a DataFrame row's mapping); an unknown column
        raises :class:`RecordError`, a column the row lacks is ``None``."""
        known = cls.columns()
        unknown = sorted(set(row) - set(known))
        if unknown:
            raise RecordError(f"{cls.MANIFEST}: unknown column(s) {unknown}; a {cls.__name__} row has {', '.join(known)}")
        if row.get(cls.KEY) in (None, ""):
            raise RecordError(f"{cls.MANIFEST}: a row without its key {cls.KEY!r}")
        return cls(**{k: _plain(row[k]) for k in known if k in row})

    def to_row(self) -> dict[str, Any]:
        """The row as a plain dict, every column of the manifest present (nulls as ``None``)."""
        return {f.name: _copy(getattr(self, f.name)) for f in fields(self)}

    def replace(self: R, **changes: Any) -> R:
        return dataclasses.replace(self, **changes)


def _copy(value: Any) -> Any:
    return list(value) if isinstance(value, list) else value


@dataclass
class Video(Record):
    """A row of ``videos.parquet``: one source video (fetched, or a ``preprocess --input`` file)."""

    MANIFEST: ClassVar[str] = "videos"
    KEY: ClassVar[str] = "video_id"

    video_id: str
    channel: str | None = None
    category: str | None = None
    title: str | None = None
    upload_date: str | None = None
    duration_s: float | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    tbr_kbps: float | None = None
    url: str | None = None
    path: str | None = None  # root-relative; None for an --input file outside the root
    size_bytes: int | None = None
    status: str | None = None
    error: str | None = None
    source_path: str | None = None  # an --input file outside the root: its absolute path


@dataclass
class Clip(Record):
    """A row of ``clips.parquet``: one standardised clip (25 fps, 16 kHz mono) of a source."""

    MANIFEST: ClassVar[str] = "clips"
    KEY: ClassVar[str] = "clip_id"

    clip_id: str
    video_id: str | None = None
    channel: str | None = None
    category: str | None = None
    start_s: float | None = None
    end_s: float | None = None
    duration_s: float | None = None  # end_s - start_s of a done clip (null in roots cut before it was added)
    path: str | None = None
    n_frames: int | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    sample_rate: int | None = None
    channels: int | None = None
    size_bytes: int | None = None
    av_skew_ms: float | None = None
    sha256: str | None = None
    mtime_ns: int | None = None  # the clip file's mtime when last verified (local roots)
    t_talking_head_s: float | None = None  # joined in from annotate when a later stage reads clips
    t_voice_over_s: float | None = None
    top_events: list[str] | None = None
    status: str | None = None
    error: str | None = None
    split: str | None = None  # joined in from clip_splits.parquet when a later stage reads clips


@dataclass
class Segment(Record):
    """A row of ``segments.parquet``: a fixed-offset evaluation segment of a dev or test clip."""

    MANIFEST: ClassVar[str] = "segments"
    KEY: ClassVar[str] = "segment_id"

    segment_id: str
    clip_id: str | None = None
    video_id: str | None = None
    channel: str | None = None
    split: str | None = None
    start_s: float | None = None  # seconds from the clip's start
    end_s: float | None = None
    offset_sec: float | None = None  # on the 0.2 s grid in [-2, 2]
    offset_class: int | None = None  # 0..20
    scenario: str | None = None
    top_events: list[str] | None = None
    tag: str | None = None  # adopted lists: the clip-name tag (broken_silence, ...)
    list_row: int | None = None  # adopted lists: the line's 0-based position


@dataclass
class Interval(Record):
    """A row of ``intervals.parquet``: a labelled span of a clip (talking_head, voice_over, unscored)."""

    MANIFEST: ClassVar[str] = "intervals"
    KEY: ClassVar[str] = "clip_id"

    clip_id: str
    start_s: float | None = None
    end_s: float | None = None
    label: str | None = None
    track_id: int | None = None
    offset_frames: int | None = None
    min_dist: float | None = None
    confidence: float | None = None


@dataclass
class Event(Record):
    """A row of ``events.parquet``: an AudioSet label of a clip window with its score."""

    MANIFEST: ClassVar[str] = "events"
    KEY: ClassVar[str] = "clip_id"

    clip_id: str
    start_s: float | None = None
    end_s: float | None = None
    label: str | None = None
    mid: str | None = None
    score: float | None = None


RECORDS: dict[str, type[Record]] = {r.MANIFEST: r for r in (Video, Clip, Segment, Interval, Event)}
