"""What a new user trips over (issue 24, items 2 and 5): empty roots, "run X first", the monitor's
confidence flag, config init, narrow terminals, the by-iteration plot, clip durations."""

from __future__ import annotations

import json
import re
import tomllib
from types import SimpleNamespace

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import typer
from rich.console import Console
from typer.testing import CliRunner

import tiny_root
from realsync_build.cli import app
from realsync_build.core import manifest
from realsync_build.core.root import DatasetRoot
from realsync_build.core.schema import CLIPS, SCHEMAS

runner = CliRunner()


def _run(*args: str):
    res = runner.invoke(app, list(args))
    return res.exit_code, " ".join(res.output.split())


# ------------------------------------------------------------------ item 2: empty roots


def test_an_empty_manifest_with_list_columns_writes_typed_empty_arrays(tmp_path):
    for name, schema in SCHEMAS.items():
        path = tmp_path / f"{name}.parquet"
        for frame in (pd.DataFrame(), manifest.empty(schema), pd.DataFrame(columns=[schema.names[0]])):
            manifest.write(frame, path, schema)  # "NumPyConverter doesn't implement <list<item: string>>" before
            assert pq.read_schema(path).equals(schema, check_metadata=False) and len(manifest.read(path, schema)) == 0
    assert pq.read_schema(tmp_path / "clips.parquet").field("top_events").type == pa.list_(pa.string())


def _root_with(tmp_path, **manifests) -> DatasetRoot:
    ds = DatasetRoot(tmp_path / "root")
    ds.manifests.mkdir(parents=True)
    for name, rows in manifests.items():
        ds.write(name, pd.DataFrame(rows))
    return ds


def test_every_stage_over_zero_items_says_so_in_one_line(tmp_path):
    failed = [{"video_id": f"v{i}", "channel": "news", "status": "failed", "error": "HTTP Error 404"} for i in range(3)]
    ds = _root_with(tmp_path, videos=failed)
    (ds.manifests / "listed_spans.json").write_text(json.dumps({"v0": [[0, 300]]}))
    code, out = _run("preprocess", "--root", str(ds.root), "--no-progress")
    assert code == 2 and out.count("error:") == 1 and "0 videos downloaded (3 failed); nothing to cut" in out, out
    code, out = _run("preprocess", "--root", str(ds.root), "--only-listed", "--no-progress")  # once "NumPyConverter ..." and exit 1
    assert code == 2 and "0 listed videos downloaded (1 failed); nothing to cut" in out and "NumPyConverter" not in out, out
    assert not ds.manifest("clips").exists()

    cut_failed = [{"clip_id": "v0", "video_id": "v0", "channel": "news", "status": "failed", "error": "no audio stream"}]
    ds = _root_with(tmp_path / "b", clips=cut_failed)
    code, out = _run("annotate", "--root", str(ds.root), "--no-progress")
    assert code == 2 and "0 clips cut (1 failed: `realsync preprocess --retry-failed` cuts them again); nothing to annotate" in out, out
    for args in (("split",), ("export", "webdataset"), ("stats",)):
        code, out = _run(*args, "--root", str(ds.root))
        assert code == 2 and "no done clips: run `realsync preprocess`" in out, (args, out)


def test_run_x_first_is_exit_2_in_every_command(tmp_path):
    ds = _root_with(tmp_path)  # a dataset folder with nothing in it yet
    for args, first in (
        (("preprocess",), "run `realsync fetch` first"),
        (("annotate",), "run `realsync preprocess` first"),
        (("split",), "run `realsync preprocess` first"),
        (("export", "webdataset"), "run `realsync preprocess` first"),
        (("export", "streamsync"), "run `realsync preprocess` first"),
        (("stats",), "run `realsync preprocess` first"),
        (("train",), "run `realsync export webdataset` first"),
    ):
        code, out = _run(*args, "--root", str(ds.root), "--no-progress")
        assert code == 2 and first in out and "Traceback" not in out, (args, code, out)


# ------------------------------------------------------------------ item 5: consistency


def test_monitor_calls_its_0_to_1_threshold_min_hop_confidence_and_the_old_spelling_warns(tmp_path, monkeypatch):
    from realsync_build.monitor import run as monitor_run

    seen = []

    def fake_run(opts):
        seen.append(opts.rules.min_confidence)
        summary = {"hops": 0, "stream_s": 0.0, "median_offset_ms": None, "share_within_limits": None, "alert_count": 0}
        return SimpleNamespace(hops=[1], summary=summary, events=[], exit_code=0)

    monkeypatch.setattr(monitor_run, "run_monitor", fake_run)
    clip = tmp_path / "in.mp4"
    clip.write_bytes(b"x")
    ref = tmp_path / "ref.wav"
    ref.write_bytes(b"x")
    code, out = _run("monitor", str(clip), "--reference-audio", str(ref), "--min-hop-confidence", "0.4")
    assert code == 0 and seen == [0.4] and "deprecated" not in out
    code, out = _run("monitor", str(clip), "--reference-audio", str(ref), "--min-confidence", "0.6")
    assert code == 0 and seen == [0.4, 0.6] and "--min-confidence is deprecated" in out and "--min-hop-confidence" in out
    shown = {o for p in typer.main.get_command(app).commands["monitor"].params if not getattr(p, "hidden", False) for o in p.opts}
    assert "--min-hop-confidence" in shown and "--min-confidence" not in shown  # --help shows the new name only


def test_config_init_is_valid_toml_whole_sentences_and_every_line_uncommented_still_parses(tmp_path):
    path = tmp_path / "rs.toml"
    assert runner.invoke(app, ["config", "init", str(path)]).exit_code == 0
    text = path.read_text()
    from realsync_build.cli import configfile

    described = " ".join(" ".join(ln[2:] for ln in text.splitlines() if ln.startswith("##")).split())
    for cmd_path, cmd in configfile.leaves(typer.main.get_command(app)).items():
        for p in configfile.file_keys(cmd).values():
            if cmd_path[0] != "config" and getattr(p, "help", None) and not p.hidden and p.name != "root":
                assert " ".join(p.help.replace("\\[", "[").split()) in described, (cmd_path, p.name)  # whole, never cut "…"
    assert tomllib.loads(text) == {k: v for k, v in tomllib.loads(text).items() if isinstance(v, dict)}  # nothing set
    full = tmp_path / "full.toml"
    full.write_text(re.sub(r"(?m)^# ", "", text))  # uncomment every line
    data = tomllib.loads(full.read_text())
    assert data["fetch"]["min_kbps"] == 250.0 and data["annotate"]["gpus_per_task"] == 0.25  # an example where there is no default
    assert "workers_alias" not in data["fetch"] and "min_confidence_old" not in data["monitor"]  # no hidden, deprecated options
    for cmd_path in configfile.leaves(typer.main.get_command(app)):
        if cmd_path[0] == "config":
            continue
        res = runner.invoke(app, ["config", "show", *cmd_path, "--config", str(full)])
        assert res.exit_code == 0, (cmd_path, res.output)


def test_tables_wrap_or_shorten_at_80_columns_never_cut_a_word():
    from realsync_build.stages.fetch.discover import ChannelTally
    from realsync_build.stages.fetch.report import print_tallies
    from realsync_build.stages.stats import tables
    from realsync_build.core import ui

    names = ["golfshome", "CBSNews", "ABCNews", "NBCNews"]
    t2 = pd.DataFrame([{"channel": n, "category": "sports", "videos": 71, "clips": 1232, "hours": 102.33, "talking_head_hours": 25.12,
                        "voice_over_hours": 30.25, "unscored_hours": None, "other_hours": 40.0} for n in names])  # fmt: skip
    console = Console(width=80, record=True)
    console.print(tables.to_rich(t2, "Table 2: per channel", width=80))
    out = console.export_text()
    assert "…" not in out and all(n in out for n in names) and "Channel" in out
    assert "TH h: Talking-head h" in out  # shortened with a legend
    assert max(len(line) for line in out.splitlines()) <= 80

    tally = ChannelTally("golfshome", "sports", found=120, kept=60, kept_s=360000.0, downloaded=59, failed=1)
    tally.rejected.update({"short": 40, "height": 20})
    report = SimpleNamespace(tallies={"golfshome": tally}, stage=None)
    old = ui.console
    try:
        rec = Console(width=80, record=True, stderr=True)
        import realsync_build.stages.fetch.report as fetch_report

        fetch_report.console = rec
        print_tallies(report)
    finally:
        fetch_report.console = old
    out = rec.export_text()
    assert "…" not in out and "golfshome" in out and max(len(line) for line in out.splitlines()) <= 80


def test_the_snapshot_and_apa_lines_can_be_told_apart():
    import matplotlib.pyplot as plt

    from realsync_build.streamsync.evaluate import by_iteration_figure

    rows = [{"iteration": i, "snapshot": 0.3, "apa": 0.3 + 0.01 * i, "streamsync": 0.4} for i in range(1, 6)]  # APA on top of the snapshot
    fig = by_iteration_figure(rows, "t")
    lines = {ln.get_label(): ln for ln in fig.axes[0].get_lines()}
    styles = [(ln.get_marker(), ln.get_linestyle()) for ln in lines.values()]
    assert set(lines) == {"snapshot", "apa", "streamsync"} and len(set(styles)) == 3
    assert len({ln.get_marker() for ln in lines.values()}) == 3 and len({ln.get_linestyle() for ln in lines.values()}) == 3
    snap, apa = lines["snapshot"], lines["apa"]
    assert snap.get_linewidth() > apa.get_linewidth() and apa.get_zorder() > snap.get_zorder()  # the one below shows round the one on top
    assert apa.get_markerfacecolor() == "none"  # hollow: the snapshot's marker shows through
    plt.close(fig)


def test_clips_carry_their_duration_and_old_roots_still_read(tmp_path):
    ds = tiny_root.build(tmp_path)
    clips = ds.read("clips")
    assert list(clips["duration_s"]) == list(clips["end_s"] - clips["start_s"]) == [2.0] * 4
    old = pq.read_table(ds.manifest("clips")).drop(["duration_s"])  # a root cut before the column existed
    pq.write_table(old, ds.manifest("clips"))
    again = ds.read("clips")
    assert again["duration_s"].isna().all() and len(again) == 4
    assert CLIPS.field("duration_s").metadata == {b"optional": b"1"}
