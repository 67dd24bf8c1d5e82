"""realsync stats: the tables, the figures and report/index.html, honest about what was not measured."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from realsync_build.cli import app
from realsync_build.core import manifest
from realsync_build.core.clipview import StaleManifest
from realsync_build.stages.split.run import SplitConfig, run_split
from realsync_build.stages.stats import plots, report, run_stats
from realsync_build.stages.stats.tables import HOURS, MINUTES, duration_unit, fmt
from splitdata import annotate, clip_rows, write_clips

PNGS = tuple(plots.SIZES)


def _check_png(path):
    """The figure exists, is drawn, and has the size the page's <img width height> says."""
    assert path.exists(), path
    html = (path.parent / "index.html").read_text()
    w, h = re.search(rf"src='{re.escape(path.name)}' width=(\d+) height=(\d+)", html).groups()
    size = (int(w), int(h))
    img = Image.open(path)
    assert img.size == size
    px = np.asarray(img.convert("L"), dtype=float)
    # not blank: plenty of non-background pixels and real contrast
    assert px.std() > 5 and (px < 200).mean() > 0.005


def _dataset(ds, videos: int = 1):
    rows = clip_rows("CNN", "n1", 3) + clip_rows("CNN", "n2", 1) + clip_rows("NFL", "s1", 2, category="sports")
    rows += clip_rows("NFL", "s2", 2, category="sports") + clip_rows("NFL", "s3", 1, category="sports")
    for k in range(1, videos):
        rows += clip_rows("NFL", f"x{k}", 4, category="sports")
    return write_clips(ds, rows)


def _linked_files_exist(ds) -> str:
    html = (ds.report / "index.html").read_text()
    links = report.linked_files(html)
    assert links and all((ds.report / p).is_file() for p in links), [p for p in links if not (ds.report / p).is_file()]
    return html


def _table_rows(html: str, heading: str) -> list[list[str]]:
    """The cells of the first table after ``heading``."""
    part = html.split(heading, 1)[1]
    body = part.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in body.split("</tr>") if "<td" in row]


def test_an_annotated_split_root_in_minutes_with_unscored_its_own_column(ds):
    clips = _dataset(ds)  # 9 clips of 5 min = 0.75 h: shown in minutes
    annotate(ds, clips, th_s=120.0, vo_s=60.0, unscored_s=30.0)
    ev = manifest.read_named(ds, "events")
    extra = pd.DataFrame([{"clip_id": clips["clip_id"].iloc[0], "start_s": 0.0, "end_s": 1.0, "label": f"Event {i:02d}", "mid": "", "score": 0.5} for i in range(60) for _ in range(i % 4 + 1)])
    manifest.write_named(ds, "events", pd.concat([ev, extra]))
    run_split(ds, SplitConfig(seed=0))
    res = run_stats(ds)
    assert res.unit == MINUTES

    t2 = res.table2.set_index("channel")
    assert t2.loc["CNN", "videos"] == 2 and t2.loc["CNN", "clips"] == 4 and t2.loc["NFL", "clips"] == 5
    assert t2.loc["CNN", "hours"] == pytest.approx(4 * 300 / 3600)
    assert t2.loc["NFL", "talking_head_hours"] == pytest.approx(5 * 120 / 3600)
    assert t2.loc["NFL", "voice_over_hours"] == pytest.approx(5 * 60 / 3600)
    assert t2.loc["NFL", "unscored_hours"] == pytest.approx(5 * 30 / 3600)
    assert t2.loc["NFL", "other_hours"] == pytest.approx(5 * 90 / 3600)
    t1 = res.table1.iloc[0]
    assert (t1["channels"], t1["videos"], t1["clips"]) == (2, 5, 9)
    assert t1["hours"] == pytest.approx(0.75) and t1["eval_segments"] == len(manifest.read_named(ds, "segments")) > 0

    md = (ds.report / "table2.md").read_text()
    assert md.splitlines()[0] == "| Channel | Category | Videos | Clips | Minutes | Talking-head min | Voice-over min | Unscored min | Other min |"
    assert "| NFL | sports | 3 | 5 | 25.0 | 10.0 | 5.0 | 2.5 | 7.5 |" in md
    csv = (ds.report / "table2.csv").read_text().splitlines()  # the CSV stays in hours, full precision
    assert csv[0] == "channel,category,videos,clips,hours,talking_head_hours,voice_over_hours,unscored_hours,other_hours"
    assert csv[2] == "NFL,sports,3,5,0.416667,0.166667,0.083333,0.041667,0.125000"

    # the split table: videos, clips and hours per split and channel, every clip once
    sp = res.splits
    assert set(sp["split"]) <= {"train", "dev", "test"}
    per_channel = sp[sp["channel"] != "all"]
    assert per_channel["clips"].sum() == 9 and per_channel["hours"].sum() == pytest.approx(0.75)
    # segments per scenario (all four listed, unscored its own row) and per offset class (21 rows)
    seg = manifest.read_named(ds, "segments")
    assert list(res.by_scenario["scenario"]) == ["talking_head", "voice_over", "unscored", "other"]
    assert res.by_scenario["total"].sum() == len(seg) == res.by_offset["total"].sum() and len(res.by_offset) == 21
    # Figure 1 and its caption agree on how many events it shows
    assert len(res.top_events) == 50 and res.top_events["label"].iloc[0] == "Speech"
    assert res.top_events["windows"].is_monotonic_decreasing
    for name in PNGS:
        _check_png(ds.report / name)

    html = _linked_files_exist(ds)
    assert "Figure 1: Top 50 audio events by number of event windows." in html
    assert "Durations in minutes" in html and ">Unscored min<" in html
    assert _table_rows(html, "Table 2")[1] == ["NFL", "sports", "3", "5", "25.0", "10.0", "5.0", "2.5", "7.5"]
    assert "n/a" not in "".join(sum(_table_rows(html, "Table 1"), []))  # everything here was measured
    assert "id=paper-comparison" in html and "No evaluation yet" in html
    assert not list(ds.report.glob(".*tmp-*"))


def test_an_unannotated_unsplit_root_says_n_a_never_0_and_still_links_only_real_files(ds):
    _dataset(ds, videos=3)  # 17 clips: 1.42 h, shown in hours
    res = run_stats(ds)
    assert not res.annotated and res.unit == HOURS
    assert res.table2["talking_head_hours"].isna().all() and res.table2["unscored_hours"].isna().all()
    assert pd.isna(res.table1.iloc[0]["eval_segments"]) and res.splits is None and res.by_scenario is None
    md = (ds.report / "table1.md").read_text().splitlines()
    assert md[0].startswith("| Dataset | Channels | Videos | Clips | Hours | Talking-head h |")
    assert md[2].endswith("| 1.42 | n/a | n/a | n/a | n/a | n/a |")
    csv = (ds.report / "table2.csv").read_text().splitlines()
    assert all(line.endswith(",n/a,n/a,n/a,n/a") for line in csv[1:]) and ",0.000000," not in "".join(csv)
    html = _linked_files_exist(ds)
    shown = [n for n in PNGS if f"src='{n}'" in html]
    assert shown == ["events_top.png", "channel_hours.png"]  # no segment figures without segments
    for name in shown:  # the figures say there is nothing to show (or n/a), but exist and are drawn
        _check_png(ds.report / name)
    assert "not annotated" in html and "not split" in html
    t1 = _table_rows(html, "Table 1")[0]
    assert t1[5:] == ["n/a"] * 5 and "0.00" not in t1[5:]
    assert not (ds.report / "splits.csv").exists() and "splits.csv" not in html


def test_without_syncnet_talking_head_and_voice_over_are_n_a_but_unscored_is_measured(ds):
    clips = _dataset(ds)
    annotate(ds, clips, th_s=0.0, vo_s=0.0, unscored_s=200.0)
    ann = manifest.read_named(ds, "annotations")
    ann["t_th_s"], ann["t_vo_s"], ann["sync_status"] = None, None, "skipped"
    manifest.write_named(ds, "annotations", ann)
    res = run_stats(ds)
    t1 = res.table1.iloc[0]
    assert pd.isna(t1["talking_head_hours"]) and pd.isna(t1["voice_over_hours"])
    assert t1["unscored_hours"] == pytest.approx(9 * 200 / 3600)
    html = _linked_files_exist(ds)
    assert "SyncNet did not run on 9 of 9 clips" in html
    assert _table_rows(html, "Table 1")[0][5:8] == ["n/a", "n/a", "30.0"]


def test_an_evaluation_shows_its_metrics_with_n_a_for_what_it_could_not_compute(ds):
    clips = _dataset(ds)
    annotate(ds, clips)
    run_split(ds, SplitConfig(seed=0))
    m = {"acc": 0.25, "acc_pm1": 0.5, "roc_auc": None, "map": 0.125, "n": 8,
         "per_scenario": {"talking_head": {"acc": 0.5, "n": 4}, "unscored": {"acc": None, "n": 0}}}  # fmt: skip
    metrics = {"split": "test", "n_segments": 8, "n_failed": 0, "iterations": 3, "hop_s": 2.0, "snapshot": m, "apa": m, "streamsync": m, "notes": ["a note"]}
    (ds.report / "eval-test").mkdir(parents=True)
    (ds.report / "eval-test" / "metrics.json").write_text(json.dumps(metrics))
    # what issue 13's evaluate copies into the report on an adopted root
    (ds.report / "paper_tables.md").write_text("| method | acc | paper | diff |\n| snapshot | 0.250 | 0.381 | -0.131 |\n")
    (ds.report / "paper_tables.json").write_text("{}")
    run_stats(ds)
    html = _linked_files_exist(ds)
    rows = _table_rows(html, "id=evaluation")
    assert rows[0] == ["Snapshot (fine-tuned)", "0.250", "0.500", "n/a", "0.125"]
    assert "No evaluation yet" not in html and "note: a note" in html
    paper = html.split("id=paper-comparison", 1)[1].split("<h2", 1)[0]
    assert "| snapshot | 0.250 | 0.381 | -0.131 |" in paper and "paper_tables.json" in paper


def test_units_and_cells():
    assert duration_unit(0.2) == MINUTES and duration_unit(1.0) == HOURS and duration_unit(None) == HOURS
    assert fmt("hours", 0.006, MINUTES) == "0.4" and fmt("hours", None) == "n/a" and fmt("hours", float("nan")) == "n/a"
    assert fmt("clips", 0) == "0" and fmt("scenario", "unscored") == "Unscored"


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
    assert "Table 2" in res.output and "n/a" in res.output and (ds.report / "index.html").exists()
    res = CliRunner().invoke(app, ["stats", "--root", str(ds.root / "nowhere")])
    assert res.exit_code == 2 and "no dataset here" in res.output  # not a dataset at all (issue 16)
    (ds.root / "nowhere" / "manifests").mkdir(parents=True)
    res = CliRunner().invoke(app, ["stats", "--root", str(ds.root / "nowhere")])
    assert res.exit_code == 2 and "run `realsync preprocess` first" in res.output.replace("\n", "")


def test_count_axes_have_integer_ticks_and_accuracy_axes_run_0_to_1(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    from realsync_build.stages.stats import tables
    from realsync_build.streamsync.evaluate import plot_by_iteration

    figs = []
    real_close = plt.close
    monkeypatch.setattr(plt, "close", lambda fig=None: (figs.append(fig), real_close(fig)))
    seg = pd.DataFrame({"split": ["dev", "test", "test"], "scenario": ["talking_head", "unscored", "other"], "offset_class": [10, 10, 3]})
    plots.plot_scenarios(tables.segments_by_scenario(seg), tmp_path / "s.png")
    plots.plot_offsets(tables.segments_by_offset(seg), tmp_path / "o.png")
    plots.plot_events(pd.Series({"Speech": 3, "Music": 1}), tmp_path / "e.png")
    for fig, axis in zip(figs, ("y", "y", "x")):
        ax = fig.axes[0]
        ticks = ax.get_yticks() if axis == "y" else ax.get_xticks()
        lo, hi = ax.get_ylim() if axis == "y" else ax.get_xlim()
        shown = [t for t in ticks if lo <= t <= hi]
        assert shown and all(float(t).is_integer() for t in shown), shown
    rows = [{"iteration": k, "snapshot": 0.01 * k, "apa": 0.02 * k, "streamsync": 0.03 * k} for k in (1, 2, 3)]
    plot_by_iteration(rows, tmp_path / "b.png", "t")
    assert figs[-1].axes[0].get_ylim() == (0.0, 1.0)
