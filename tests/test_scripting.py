"""realsync in scripts (issue 24, item 4): JSON on stdout, -q/-v, shell completion, --dry-run plans.

Every command here runs as ``python -m realsync_build`` in a subprocess, so stdout and stderr
are the real, separate streams a shell pipe sees.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import tiny_root
from realsync_build.core import estimates

DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return tiny_root.build(tmp_path_factory.mktemp("scripting"))


@pytest.fixture
def root(built, tmp_path):
    return tiny_root.copy(built, tmp_path / "root")


def _json_only(proc) -> dict:
    """stdout holds one JSON document and nothing else."""
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_status_json_is_one_document_with_the_documented_shape(root):
    doc = _json_only(tiny_root.cli("status", "--root", str(root.root), "--json"))
    assert set(doc) == {"root", "stages", "train", "evaluations", "next"}
    pre = next(s for s in doc["stages"] if s["stage"] == "preprocess")
    assert set(pre) == {"stage", "state", "unit", "done", "failed", "pending", "hours", "last_run_utc", "stale", "params", "flags",
                        "realsync_version", "notes"}  # fmt: skip
    assert (pre["state"], pre["done"], pre["failed"]) == ("complete", 4, 0) and pre["params"]["--clip-seconds"] == 2
    annotate = next(s for s in doc["stages"] if s["stage"] == "annotate")
    assert annotate["hours"] is None and annotate["done"] is None  # not measured: null, never 0
    assert doc["next"].startswith("realsync annotate")


def test_stats_json_has_every_table_and_null_for_what_was_not_measured(root):
    doc = _json_only(tiny_root.cli("stats", "--root", str(root.root), "--json"))
    assert {"table1", "table2", "splits", "segments_by_scenario", "top_events", "notes", "report"} <= set(doc)
    row = doc["table2"][0]
    assert row["channel"] == "news" and row["clips"] == 4 and row["talking_head_hours"] is None  # never annotated
    assert doc["splits"] is None and Path(doc["report"]).is_file()


def test_models_list_json(tmp_path):
    proc = tiny_root.cli("models", "list", "--json", env={"REALSYNC_MODELS_DIR": str(tmp_path / "models")})
    doc = _json_only(proc)
    assert doc["models_dir"] == str(tmp_path / "models")
    names = {m["name"] for m in doc["models"]}
    assert {"syncnet", "s3fd", "yamnet"} <= names
    assert all(m["status"] == "no" and m["present"] is False for m in doc["models"])


@pytest.mark.slow
def test_fetch_dry_run_json_and_json_needs_dry_run(tmp_path):
    import fetch_support as fs

    site = fs.LoopbackSite(fs.make_media(tmp_path / "media"))
    try:
        site.add_video("news", "n1")
        site.add_video("news", "short", duration=1.0)
        args = ["fetch", "--root", str(tmp_path / "data"), "--channel", site.channel_url("news"), "--name", "news",
                "--min-minutes", str(2 / 60), *[x for e in fs.EXTRACTORS for x in ("--extractor", e)]]  # fmt: skip
        env = {"PYTHONPATH": str(Path(__file__).resolve().parent)}
        doc = _json_only(tiny_root.cli(*args, "--dry-run", "--json", env=env))
        assert doc["dry_run"] is True and doc["total"]["videos"] == 1
        ch = doc["channels"][0]
        assert ch["channel"] == "news" and ch["found"] == 2 and ch["rejected"] == {"short": 1} and ch["hours"] == pytest.approx(3 / 3600, abs=1e-4)
        assert [v["video_id"] for v in doc["videos"]] == ["n1"] and site.media_requests() == []
        bad = tiny_root.cli(*args, "--json", env=env)
        assert bad.returncode == 2 and "--dry-run" in bad.stderr and bad.stdout == ""
    finally:
        site.close()


@pytest.mark.slow
def test_quiet_and_verbose_map_to_log_levels_and_results_stay_on_stdout(root):
    quiet = tiny_root.cli("-q", "preprocess", "--root", str(root.root), "--clip-seconds", "2", "--workers", "1")
    assert quiet.returncode == 0 and quiet.stderr == "" and quiet.stdout == ""  # no bar, no summary
    table = tiny_root.cli("-q", "status", "--root", str(root.root))
    assert table.stderr == "" and "preprocess" in table.stdout  # a result is never silenced
    err = tiny_root.cli("-q", "annotate", "--root", str(root.root / "nowhere"))
    assert err.returncode == 2 and err.stderr.startswith("error:")  # errors are
    loud = tiny_root.cli("-v", "preprocess", "--root", str(root.root), "--clip-seconds", "2", "--workers", "1", "--no-progress")
    assert "DEBUG realsync: preprocess: 2 tasks, 0 pending, 2 done before" in loud.stderr and loud.stdout == ""
    normal = tiny_root.cli("preprocess", "--root", str(root.root), "--clip-seconds", "2", "--workers", "1", "--no-progress")
    assert "DEBUG" not in normal.stderr and "preprocess: 0 done" in normal.stderr
    both = tiny_root.cli("-q", "-v", "status", "--root", str(root.root))
    assert both.returncode == 2 and "not both" in both.stderr


def test_shell_completion_is_on():
    script = tiny_root.cli("--show-completion", "bash")
    assert script.returncode == 0 and "_REALSYNC_COMPLETE" in script.stdout, (script.returncode, script.stderr[-2000:])
    words = tiny_root.cli(env={"_REALSYNC_COMPLETE": "complete_bash", "COMP_WORDS": "realsync pre", "COMP_CWORD": "1"})
    assert words.stdout.split() == ["preprocess"], words.stderr[-2000:]
    flags = tiny_root.cli(env={"_REALSYNC_COMPLETE": "complete_bash", "COMP_WORDS": "realsync status --js", "COMP_CWORD": "2"})
    assert flags.stdout.split() == ["--json"]


@pytest.mark.slow
def test_dry_runs_print_a_plan_with_an_estimate_and_write_nothing(root, tmp_path):
    from realsync_build.stages.split.run import SplitConfig, run_split

    run_split(root, SplitConfig(seed=0, ratios=(0.5, 0.0, 0.5), tolerance=1.0))
    before = tiny_root.snapshot(root.root)
    src = tmp_path / "more" / "news"
    tiny_root.make_source(src / "c.mp4", 4.2, **tiny_root.FAST)
    pre = tiny_root.cli("preprocess", "--root", str(root.root), "--input", str(src.parent), "--clip-seconds", "2", "--dry-run")
    assert pre.returncode == 0, pre.stderr
    out = " ".join(pre.stdout.split())
    assert "videos to run: 1" in out and "clips to cut: 2" in out  # the new source, not yet registered
    assert "estimated time: ~" in out and "an estimate, not a measurement" in out and "docs/benchmarks.md" in out
    again = " ".join(tiny_root.cli("preprocess", "--root", str(root.root), "--clip-seconds", "2", "--dry-run").stdout.split())
    assert "videos to run: 0" in again and "skipped: 2 already done" in again and "estimated time: n/a" in again

    ann = tiny_root.cli("annotate", "--root", str(root.root), "--dry-run", "--face-detector", "blazeface-back", "--events", "yamnet", "--device", "cpu")
    out = " ".join(ann.stdout.split())
    assert ann.returncode == 0 and "clips to run: 4, media 0.002 h" in out and "estimated time: ~" in out, ann.stderr
    ann = tiny_root.cli("annotate", "--root", str(root.root), "--dry-run", "--device", "cpu")  # sfd + panns on CPU: never measured
    assert "estimated time: n/a: only --face-detector blazeface-back --events yamnet on CPU was measured" in " ".join(ann.stdout.split())

    exp = tiny_root.cli("export", "webdataset", "--root", str(root.root), "--dry-run")
    out = " ".join(exp.stdout.split())
    assert exp.returncode == 0 and "samples to run: 4" in out and "shards to write: 2" in out and "estimated time: ~" in out, exp.stderr
    assert tiny_root.snapshot(root.root) == before  # byte for byte: no file, folder, lock or record written


def test_the_estimates_are_the_figures_in_the_benchmarks_page():
    text = " ".join((DOCS / "benchmarks.md").read_text().split())
    lo, hi = estimates.PREPROCESS_CPU_S_PER_MEDIA_H
    assert re.search(rf"\| inline \| [\d.]+ \| [\d.]+ \| \d+ \| {hi:.0f} \|", text) and re.search(rf"\| local \| [\d.]+ \| [\d.]+ \| \d+ \| {lo:.0f} \|", text)
    assert f"overall **{estimates.ANNOTATE_MEDIA_S_PER_CPU_S:.2f}** video s per CPU s" in text
    assert f"{estimates.EXPORT_MB_PER_S[0]:.0f}-{estimates.EXPORT_MB_PER_S[1]:.0f} MB/s" in text
