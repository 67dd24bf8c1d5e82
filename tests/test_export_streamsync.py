"""realsync export streamsync: the lists StreamSync reads, byte-exact with the published one."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from realsync_build.core import lists

from realsync_build.core import manifest
from realsync_build.cli import app
from realsync_build.stages.export.streamsync import (
    StreamSyncExportError,
    format_lists,
    run_export_streamsync,
    segments_from_lists,
)
from realsync_build.stages.split.run import SplitConfig, run_split
from conftest import shared
from splitdata import clip_rows, many_videos, write_clips

PUBLISHED_CSV = "realsync_lists/sports_and_news_normal.evaluation.csv"
PUBLISHED_JSON = "realsync_lists/sports_and_news_normal.evaluation.json"


def test_the_published_list_round_trips_byte_for_byte():
    csv_path, json_path = shared(PUBLISHED_CSV), shared(PUBLISHED_JSON)
    rows = lists.read_csv(csv_path)
    entries = lists.read_json(json_path)
    segments = segments_from_lists(rows, entries)
    assert len(segments) == 32065 and segments["clip_id"].nunique() == 621  # spans; 1,137 clip names with the tags
    assert (segments["clip_id"] + segments["tag"].map(lambda t: f"_{t}" if t else "")).nunique() == 1137
    assert segments.groupby("channel").size().to_dict()["mlb"] == 5111
    assert set(segments["offset_class"]) == set(range(21))
    csv_text, json_text = format_lists(segments)
    assert csv_text.encode() == csv_path.read_bytes()
    assert json_text.encode() == json_path.read_bytes()


def test_export_writes_lists_that_read_back_as_the_segments(ds, tmp_path):
    many_videos(ds, channels=("CNN", "golf_home-tv"), n_videos=30)
    run_split(ds, SplitConfig(seed=2))
    out = tmp_path / "lists"
    report = run_export_streamsync(ds, out)
    assert sorted(p.name for p in out.iterdir()) == ["realsync.dev.csv", "realsync.dev.json", "realsync.test.csv", "realsync.test.json"]
    segs = manifest.read_named(ds, "segments")
    for split in ("dev", "test"):
        rows = lists.read_csv(out / f"realsync.{split}.csv")
        entries = lists.read_json(out / f"realsync.{split}.json")
        expect = segs[segs["split"] == split].set_index("segment_id")
        assert report.per_split[split] == len(rows) == len(expect) > 0
        for r in rows:
            e = expect.loc[str(r.segment)]
            assert r.segment.clip_id == e["clip_id"] and r.channel == e["channel"] and r.seg_start_s == e["start_s"]
            assert entries[str(r.segment)] == {"offset_sec": e["offset_sec"], "v_start_i_sec": e["start_s"]}
        first = (out / f"realsync.{split}.csv").read_text().splitlines()[0]
        vid, a, b, seg, n = first.split(",")[0].rsplit("_", 4)
        assert n == "0" and first.split(",")[1] == f"{int(seg)}.0"
    # the ids parse back through the list reader's own segment-id rules (ids with '-' and '_')
    assert any("-" in r.segment.video_id for r in lists.read_csv(out / "realsync.test.csv"))


def test_a_segment_start_that_is_not_a_whole_second_is_refused_and_nothing_written(ds, tmp_path):
    write_clips(ds, clip_rows("CNN", "a", 2) + clip_rows("CNN", "b", 2) + clip_rows("CNN", "c", 2))
    run_split(ds, SplitConfig(seed=0))
    segs = manifest.read_named(ds, "segments")
    segs.loc[0, "start_s"] = 10.5
    manifest.write_named(ds, "segments", segs)
    with pytest.raises(StreamSyncExportError, match="not a whole second"):
        run_export_streamsync(ds, tmp_path / "lists")
    assert not (tmp_path / "lists").exists()


def test_segments_of_unknown_clips_are_stale(ds, tmp_path):
    write_clips(ds, clip_rows("CNN", "a", 2) + clip_rows("CNN", "b", 2) + clip_rows("CNN", "c", 2))
    run_split(ds, SplitConfig(seed=0))
    segs = manifest.read_named(ds, "segments")
    extra = segs.iloc[:1].assign(segment_id="zz_0_300_10_0", clip_id="zz_0_300")
    manifest.write_named(ds, "segments", pd.concat([segs, extra]))
    with pytest.raises(Exception, match=r"segments\.parquet has 1 segments of clips that are not .*rerun `realsync split"):
        run_export_streamsync(ds, tmp_path / "lists")


def test_cli_export_streamsync(ds, tmp_path):
    many_videos(ds, n_videos=10)
    run_split(ds, SplitConfig(seed=0))
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["export", "streamsync", "--root", str(ds.root), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert (out / "realsync.test.csv").exists() and (out / "realsync.dev.json").exists()
    res = CliRunner().invoke(app, ["export", "streamsync", "--root", str(tmp_path / "empty"), "--out", str(out)])
    assert res.exit_code == 2 and "no dataset here" in res.output  # not a dataset at all (issue 16)
    (tmp_path / "empty" / "manifests").mkdir(parents=True)
    res = CliRunner().invoke(app, ["export", "streamsync", "--root", str(tmp_path / "empty"), "--out", str(out)])
    # "run X first" is a usage error, exit 2, in every command (issue 24)
    assert res.exit_code == 2 and "clips.parquet does not exist" in res.output.replace("\n", "")
