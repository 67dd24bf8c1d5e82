"""realsync stats: Tables 1-2 and the figures, drawn headless, embedded in report/index.html."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from realsync_build.core import manifest
from realsync_build.cli import app
from realsync_build.stages.split.inputs import StaleManifest
from realsync_build.stages.split.run import SplitConfig, run_split
from realsync_build.stages.stats import plots, run_stats
from splitdata import annotate, clip_rows, write_clips

PNGS = ("events_top50.png", "offset_classes.png", "channel_hours.png")


def _check_png(path, size):
    assert path.exists(), path
    img = Image.open(path)
    assert img.size == size
    px = np.asarray(img.convert("L"), dtype=float)
    # not blank: plenty of non-background pixels and real contrast
    assert px.std() > 5 and (px < 200).mean() > 0.005


def _dataset(ds):
    rows = clip_rows("CNN", "n1", 3) + clip_rows("CNN", "n2", 1) + clip_rows("NFL", "s1", 2, category="sports")
    rows += clip_rows("NFL", "s2", 2, category="sports") + clip_rows("NFL", "s3", 1, category="sports")
    return write_clips(ds, rows)


def test_tables_figures_and_report_of_an_annotated_split_root(ds):
    clips = _dataset(ds)
    annotate(ds, clips, th_s=120.0, vo_s=60.0)
    ev = manifest.read_named(ds, "events")
    extra = pd.DataFrame([{"clip_id": clips["clip_id"].iloc[0], "start_s": 0.0, "end_s": 1.0, "label": f"Event {i:02d}", "mid": "", "score": 0.5} for i in range(60) for _ in range(i % 4 + 1)])
    manifest.write_named(ds, "events", pd.concat([ev, extra]))
    run_split(ds, SplitConfig(seed=0))
    res = run_stats(ds)

    t2 = res.table2.set_index("channel")
    assert t2.loc["CNN", "videos"] == 2 and t2.loc["CNN", "clips"] == 4 and t2.loc["NFL", "clips"] == 5
    assert t2.loc["CNN", "hours"] == pytest.approx(4 * 300 / 3600)
    assert t2.loc["NFL", "talking_head_hours"] == pytest.approx(5 * 120 / 3600)
    assert t2.loc["NFL", "voice_over_hours"] == pytest.approx(5 * 60 / 3600)
    assert t2.loc["NFL", "category"] == "sports"
    t1 = res.table1.iloc[0]
    assert (t1["channels"], t1["videos"], t1["clips"]) == (2, 5, 9)
    assert t1["hours"] == pytest.approx(0.75) and t1["eval_segments"] == len(manifest.read_named(ds, "segments")) > 0

    # Figure 1: top 50 by occurrence, Speech first
    assert len(res.top_events) == 50 and res.top_events.index[0] == "Speech"
    assert res.top_events.is_monotonic_decreasing
    for name in PNGS:
        _check_png(ds.report / name, plots.SIZES[name])

    md = (ds.report / "table2.md").read_text()
    assert md.splitlines()[0] == "| Channel | Category | Videos | Clips | Hours | Talking-head h | Voice-over h |"
    assert "| NFL | sports | 3 | 5 | 0.417 | 0.167 | 0.083 |" in md
    csv = (ds.report / "table2.csv").read_text().splitlines()
    assert csv[0] == "channel,category,videos,clips,hours,talking_head_hours,voice_over_hours"
    assert csv[2] == "NFL,sports,3,5,0.417,0.167,0.083"
    assert (ds.report / "table1.md").exists() and (ds.report / "table1.csv").read_text().startswith("dataset,channels,")
    html = (ds.report / "index.html").read_text()
    for name in PNGS:
        assert f"src='{name}'" in html
    assert "Table 2" in html and "<td>NFL</td>" in html
    assert not list(ds.report.glob(".*tmp-*"))


def test_an_unannotated_root_has_zero_speech_hours_and_still_a_full_report(ds):
    _dataset(ds)
    res = run_stats(ds)
    assert not res.annotated
    assert (res.table2["talking_head_hours"] == 0).all() and (res.table2["voice_over_hours"] == 0).all()
    assert res.table1.iloc[0]["eval_segments"] == 0
    for name in PNGS:  # the figures say there is nothing to show, but exist and are drawn
        _check_png(ds.report / name, plots.SIZES[name])
    assert "not annotated" in (ds.report / "index.html").read_text()


def test_stale_annotations_stop_stats_before_anything_is_written(ds):
    clips = _dataset(ds)
    annotate(ds, clips.iloc[:3])
    with pytest.raises(StaleManifest, match=r"annotations\.parquet has no row for 6 done clips"):
        run_stats(ds)
    assert not ds.report.exists()


def test_cli_stats(ds):
    _dataset(ds)
    res = CliRunner().invoke(app, ["stats", "--root", str(ds.root)])
    assert res.exit_code == 0, res.output
    assert "Table 2" in res.output and (ds.report / "index.html").exists()
    res = CliRunner().invoke(app, ["stats", "--root", str(ds.root / "nowhere")])
    assert res.exit_code == 2 and "no dataset here" in res.output  # not a dataset at all (issue 16)
    (ds.root / "nowhere" / "manifests").mkdir(parents=True)
    res = CliRunner().invoke(app, ["stats", "--root", str(ds.root / "nowhere")])
    assert res.exit_code == 1 and "run `realsync preprocess` first" in res.output.replace("\n", "")
