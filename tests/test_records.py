"""Typed manifest rows: every record is its schema's columns with their types, and a misspelt column raises."""

from __future__ import annotations

import types
import typing

import pandas as pd
import pyarrow as pa
import pytest

from realsync_build.core import manifest, schema
from realsync_build.core.records import RECORDS, Clip, Event, Interval, RecordError, Segment, Video

ARROW_TO_PY = {pa.string(): str, pa.float64(): float, pa.int32(): int, pa.int64(): int, pa.bool_(): bool}


def _py_type(arrow: pa.DataType):
    if pa.types.is_list(arrow):
        return list[ARROW_TO_PY.get(arrow.value_type, float if pa.types.is_floating(arrow.value_type) else int)]
    return ARROW_TO_PY[arrow]


def _declared(hint):
    """``X | None`` -> X (every column may be null in a file)."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        assert len(args) == 1, hint
        return args[0]
    return hint


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_each_record_is_exactly_its_schemas_columns_with_their_types(name):
    record, arrow = RECORDS[name], schema.SCHEMAS[name]
    assert record.columns() == arrow.names  # same columns, same order
    hints = typing.get_type_hints(record)
    for field in arrow:
        assert _declared(hints[field.name]) == _py_type(field.type), (name, field.name, hints[field.name], field.type)
    assert record.KEY == schema.KEYS.get(name, [arrow.names[0]])[0]


def test_names_cover_the_five_row_kinds():
    assert set(RECORDS) == {"videos", "clips", "segments", "intervals", "events"}
    assert (Video.MANIFEST, Clip.MANIFEST, Segment.MANIFEST, Interval.MANIFEST, Event.MANIFEST) == tuple(
        ["videos", "clips", "segments", "intervals", "events"]
    )


def test_a_misspelt_column_raises_instead_of_becoming_a_null():
    with pytest.raises(RecordError, match=r"clips: unknown column\(s\) \['durration_s'\]"):
        Clip.from_row({"clip_id": "a_0_4", "durration_s": 4.0})
    with pytest.raises(TypeError, match="durration_s"):
        Clip(clip_id="a_0_4", durration_s=4.0)  # type: ignore[call-arg]
    with pytest.raises(RecordError, match="without its key"):
        Segment.from_row({"segment_id": None, "clip_id": "a_0_300"})
    df = pd.DataFrame([{"clip_id": "a_0_4", "start_s": 0.0, "end_s": 4.0, "statsu": "done"}])
    with pytest.raises(manifest.ManifestError, match=r"unknown column\(s\) \['statsu'\]"):
        manifest.conform(df, schema.CLIPS)


def test_rows_read_from_a_manifest_come_back_byte_for_byte(tmp_path):
    rows = [
        Clip(clip_id="v_0_4", video_id="v", channel="ch", start_s=0.0, end_s=4.0, n_frames=100, sample_rate=16000,
             top_events=["Speech", "Music"], status="done").to_row(),
        Clip(clip_id="v_4_8", video_id="v", channel="ch", start_s=4.0, end_s=8.0, status="failed", error="ProbeError: x").to_row(),
    ]
    first = manifest.write(rows, tmp_path / "a.parquet", schema.CLIPS, ["clip_id"])
    read = manifest.read(first, schema.CLIPS)
    records = [Clip.from_row(r) for r in read.to_dict("records")]
    assert records[0].top_events == ["Speech", "Music"] and records[1].n_frames is None and records[1].top_events is None
    again = manifest.write([r.to_row() for r in records], tmp_path / "b.parquet", schema.CLIPS, ["clip_id"])
    assert first.read_bytes() == again.read_bytes()


def test_an_empty_frame_with_every_column_writes_an_empty_manifest(tmp_path):
    empty = pd.DataFrame(columns=Segment.columns())  # e.g. no clip long enough for a segment
    path = manifest.write(empty, tmp_path / "segments.parquet", schema.SEGMENTS, ["segment_id"])
    assert len(manifest.read(path, schema.SEGMENTS)) == 0
