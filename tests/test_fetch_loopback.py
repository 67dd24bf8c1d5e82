"""``realsync fetch`` against a loopback video site, through yt-dlp's real code path.

The site (tests/fetch_support.py) is an HTTP server on 127.0.0.1 that this test
starts, with two small yt-dlp extractors that read its channel listing and per-video
metadata.  Listing, format selection, downloading, retries, ``.part`` resume,
merging and the download archive are all yt-dlp's own.

The media are tiny real files (3 s, 256x144); the *metadata* the site reports (720p /
1080p heights, bitrates) is what the selection rules judge.  Durations are honest:
the videos last 3 s and the tests use ``min_minutes=2/60`` (2 s) instead of 20 min.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import fetch_support as fs
from realsync_build.core.channels import Channel
from realsync_build.stages.fetch import FetchConfig, run_fetch
from realsync_build.stages.fetch.download import archive_path
from realsync_build.core.ids import file_id
from realsync_build.stages.fetch.select import seeded_order
from realsync_build.media.probe import probe_source
from realsync_build.core.schema import VIDEOS
from realsync_build.core.stage import RunOptions
from realsync_build.core import manifest

MIN_MINUTES = 2 / 60  # the site's videos last 3 s; "short" ones 1 s
EVIL_ID = "../../x; rm -rf ~"
EVIL_TITLE = "t; rm -rf / ../../etc/passwd $(reboot)"


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    return fs.make_media(tmp_path_factory.mktemp("media"))


@pytest.fixture
def site(media):
    s = fs.LoopbackSite(media)
    yield s
    s.close()


def cfg(**kw) -> FetchConfig:
    base = dict(min_minutes=MIN_MINUTES, retries=0, backoff_s=0.0, extractors=fs.EXTRACTORS)
    base.update(kw)
    return FetchConfig(**base)


INLINE = RunOptions(executor="inline", progress=False)


def videos(ds) -> pd.DataFrame:
    return manifest.read(ds.manifest("videos"), VIDEOS).set_index("video_id")


def news_catalog(site) -> None:
    for i in range(4):
        site.add_video("news", f"ok-{i}", duration=3.0)
    site.add_video("news", "merged_1", merged=True, height=720, tbr=1500)
    site.add_video("news", "short", duration=1.0)  # the listing shows it is short
    site.add_video("news", "low480", height=480, tbr=1200)
    site.add_video("news", "lowrate", height=1080, tbr=100)
    site.add_video("news", "liveone", live_status="is_live")  # the listing shows it is live
    site.add_video("news", "members", availability="subscriber_only")  # only its own page says so
    site.add_video("news", EVIL_ID, title=EVIL_TITLE)


def test_channel_run_rejects_by_reason_downloads_and_reuses_the_archive(site, ds):
    news_catalog(site)
    channel = Channel("news", site.channel_url("news"), "news")
    report = run_fetch(ds, cfg(), channels=[channel], options=INLINE)

    reasons = {d.video_id: d.reason for d in report.decisions if not d.kept}
    assert reasons == {"short": "short", "low480": "height", "lowrate": "bitrate", "liveone": "live", "members": "members"}
    tally = report.tallies["news"]
    assert (tally.found, tally.kept, tally.downloaded, tally.failed) == (11, 6, 6, 0)

    rows = videos(ds)
    kept = ["ok-0", "ok-1", "ok-2", "ok-3", "merged_1", file_id(EVIL_ID)]
    assert sorted(rows.index) == sorted(kept)
    assert set(rows["status"]) == {"done"}
    for vid in kept:
        path = ds.abs(rows.loc[vid, "path"])
        assert path == ds.raw / "news" / f"{vid}.mp4"
        assert (ds.raw / "news" / f"{vid}.info.json").is_file()
        info = probe_source(path)
        assert info.has_video and info.has_audio  # merged_1 came as separate video and audio
        assert rows.loc[vid, "height"] == 144 and abs(rows.loc[vid, "duration_s"] - 3.0) < 0.2
        assert rows.loc[vid, "size_bytes"] == path.stat().st_size
    # untrusted id and title: the title is data only, the id is sanitised and stays inside raw/news
    evil = rows.loc[file_id(EVIL_ID)]
    assert evil["title"] == EVIL_TITLE
    assert ".." not in evil["path"] and ";" not in evil["path"] and " " not in evil["path"]
    assert json.loads((ds.raw / "news" / f"{file_id(EVIL_ID)}.info.json").read_text())["id"] == EVIL_ID
    assert sorted(p.name for p in ds.root.rglob("*") if p.is_file() and p.name.startswith(".")) == []  # no working files
    assert not any("rm -rf" in p.name or "etc" in p.name for p in ds.root.rglob("*"))
    archived = archive_path(ds).read_text().splitlines()
    assert len(archived) == 6 and "loopbackvideo ok-0" in archived

    # a rerun: the manifest says done, nothing is requested
    site.clear_log()
    again = run_fetch(ds, cfg(), channels=[channel], options=INLINE)
    assert site.media_requests() == []
    assert again.stage.skipped_done == 6

    # the manifest is lost: yt-dlp's download archive keeps everything from being fetched again,
    # except the one video whose archive line we remove
    ds.manifest("videos").unlink()
    archive_path(ds).write_text("\n".join(a for a in archived if a != "loopbackvideo ok-1") + "\n")
    site.clear_log()
    third = run_fetch(ds, cfg(), channels=[channel], options=INLINE)
    assert third.stage.done == 6
    assert [p for p, _ in site.media_requests()] == ["/media/ok-1.mp4"]
    assert set(videos(ds)["status"]) == {"done"}


def test_hours_budget_is_deterministic_given_the_seed(site, ds):
    for i in range(8):
        site.add_video("sports", f"v{i}", duration=3.0)
    site.add_video("sports", "tiny", duration=1.0)
    channel = Channel("sports", site.channel_url("sports"), "sports")
    hours = 7.0 / 3600  # 7 s: three 3-second videos (the last one overshoots)
    report = run_fetch(ds, cfg(hours_per_channel=hours, seed=11), channels=[channel], dry_run=True, options=INLINE)
    keepable = [v for v in seeded_order([f"v{i}" for i in range(8)] + ["tiny"], 11, "sports") if v != "tiny"]
    planned = [r["video_id"] for r in report.planned]
    assert planned == keepable[:3]
    tally = report.tallies["sports"]
    assert tally.kept == 3 and abs(tally.kept_s - 9.0) < 1e-6
    assert tally.found == 9 and dict(tally.rejected) == {"short": 1} and tally.not_examined == 5
    # dry run: planned rows only, nothing downloaded
    rows = videos(ds)
    assert set(rows["status"]) == {"planned"} and sorted(rows.index) == sorted(planned)
    assert site.media_requests() == [] and not (ds.raw / "sports").exists()
    # the same seed gives the same plan; another seed another order
    again = run_fetch(ds, cfg(hours_per_channel=hours, seed=11), channels=[channel], dry_run=True, options=INLINE)
    assert [r["video_id"] for r in again.planned] == planned
    other = run_fetch(ds, cfg(hours_per_channel=hours, seed=12), channels=[channel], dry_run=True, options=INLINE)
    assert [r["video_id"] for r in other.planned] == seeded_order([f"v{i}" for i in range(8)], 12, "sports")[:3]


def test_http_faults_fail_alone_and_retry_failed_reattempts_only_them(site, ds):
    for vid in ("fok", "f404", "f500", "fdrop"):
        site.add_video("faults", vid)
    site.faults.update({"f404.mp4": "404", "f500.mp4": "500", "fdrop.mp4": "drop_once"})
    channel = Channel("faults", site.channel_url("faults"), "news")

    # no retries and --keep-partial: the dropped transfer leaves its .part behind
    first = run_fetch(ds, cfg(keep_partial=True), channels=[channel], options=INLINE)
    rows = videos(ds)
    assert rows.loc["fok", "status"] == "done"
    assert rows.loc["f404", "status"] == "failed" and "404" in rows.loc["f404", "error"]
    assert rows.loc["f500", "status"] == "failed" and "500" in rows.loc["f500", "error"]
    assert rows.loc["fdrop", "status"] == "failed"
    assert first.tallies["faults"].failed == 3 and first.tallies["faults"].downloaded == 1
    assert not first.ok
    part = [p for p in (ds.raw / "faults").iterdir() if p.name.endswith(".part")]
    assert len(part) == 1 and part[0].name.startswith(".fdrop.")
    part_size = part[0].stat().st_size
    assert 0 < part_size < len(site.files["fdrop.mp4"])

    # without --retry-failed a rerun leaves failed videos alone
    site.clear_log()
    second = run_fetch(ds, cfg(), channels=[channel], options=INLINE)
    assert site.media_requests() == [] and second.stage.skipped_failed == 3

    # the outage is over for f404; f500 still fails; fdrop resumes from its .part
    del site.faults["f404.mp4"]
    site.clear_log()
    third = run_fetch(ds, cfg(), channels=[channel], options=RunOptions(executor="inline", progress=False, retry_failed=True))
    requested = site.media_requests()
    assert {p for p, _ in requested} == {"/media/f404.mp4", "/media/f500.mp4", "/media/fdrop.mp4"}  # never fok
    assert ("/media/fdrop.mp4", f"bytes={part_size}-") in requested
    rows = videos(ds)
    assert rows.loc["f404", "status"] == "done" and rows.loc["fdrop", "status"] == "done"
    assert rows.loc["f500", "status"] == "failed"
    assert third.stage.done == 2 and third.stage.failed == 1
    got = (ds.raw / "faults" / "fdrop.mp4").read_bytes()
    assert hashlib.sha256(got).digest() == hashlib.sha256(site.files["fdrop.mp4"]).digest()
    # given up without --keep-partial: nothing of f500 is left behind
    assert [p.name for p in (ds.raw / "faults").iterdir() if p.name.startswith(".")] == []


def test_a_dropped_connection_resumes_within_the_run(site, ds):
    site.add_video("resume", "r1")
    site.faults["r1.mp4"] = "drop_once"
    channel = Channel("resume", site.channel_url("resume"), "news")
    run_fetch(ds, cfg(retries=2), channels=[channel], options=RunOptions(executor="inline", progress=True))  # with the display
    rows = videos(ds)
    assert rows.loc["r1", "status"] == "done"
    ranges = [r for p, r in site.media_requests() if p == "/media/r1.mp4"]
    assert len(ranges) == 2 and ranges[1] is not None and int(ranges[1][6:-1]) > 0  # resumed, not restarted
    assert (ds.raw / "resume" / "r1.mp4").read_bytes() == site.files["r1.mp4"]


def test_a_killed_run_resumes_its_part_file(site, ds):
    """A .part left by a killed process (simulated: the first half of the file) is resumed, not trusted."""
    site.add_video("kill", "k1")
    data = site.files["k1.mp4"]
    folder = ds.raw / "kill"
    folder.mkdir(parents=True)
    (folder / ".k1.fetching.mp4.part").write_bytes(data[: len(data) // 3])
    channel = Channel("kill", site.channel_url("kill"), "news")
    run_fetch(ds, cfg(), channels=[channel], options=INLINE)
    assert ("/media/k1.mp4", f"bytes={len(data) // 3}-") in site.media_requests()
    assert (folder / "k1.mp4").read_bytes() == data
    assert videos(ds).loc["k1", "status"] == "done"


def test_kill_mid_download_then_rerun_resumes_and_never_lists_a_partial_file(site, ds):
    """A real ``kill -9`` of ``realsync fetch`` mid-transfer (rate-limited so it is mid-file), then a rerun."""
    site.add_video("kill9", "slow1")
    data = site.files["slow1.mp4"]
    folder = ds.raw / "kill9"
    repo = Path(__file__).resolve().parent.parent
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(repo), str(repo / "tests")]))
    cmd = [sys.executable, "-m", "realsync_build", "fetch", "--root", str(ds.root), "--channel", site.channel_url("kill9"),
           "--name", "kill9", "--min-minutes", str(MIN_MINUTES), "--limit-rate", "30K", "--concurrency", "1", "--no-progress",
           *[x for e in fs.EXTRACTORS for x in ("--extractor", e)]]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            parts = list(folder.glob(".slow1.*.part")) if folder.is_dir() else []
            if parts and parts[0].stat().st_size > len(data) // 4:
                break
            assert proc.poll() is None, "fetch ended before it could be killed"
            time.sleep(0.05)
        else:
            pytest.fail("no .part file appeared")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    part = next(folder.glob(".slow1.*.part"))
    size = part.stat().st_size
    assert 0 < size < len(data)
    assert not (folder / "slow1.mp4").exists()
    assert videos(ds).loc["slow1", "status"] == "planned"  # the plan is recorded; nothing partial is listed as done

    site.clear_log()
    run_fetch(ds, cfg(), channels=[Channel("kill9", site.channel_url("kill9"), "news")], options=INLINE)
    assert ("/media/slow1.mp4", f"bytes={size}-") in site.media_requests()
    assert (folder / "slow1.mp4").read_bytes() == data
    assert videos(ds).loc["slow1", "status"] == "done"
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []


def test_cli_channel_run_with_a_process_pool_and_strict(site, tmp_path):
    from realsync_build.cli import app

    site.add_video("cnn", "c1")
    site.add_video("cnn", "c2", merged=True, height=720, tbr=1500)
    site.add_video("cnn", "c404")
    site.add_video("cnn", "cshort", duration=1.0)
    site.faults["c404.mp4"] = "404"
    root = tmp_path / "data"
    args = ["fetch", "--root", str(root), "--channel", site.channel_url("cnn"), "--name", "CNN", "--category", "news",
            "--min-minutes", str(MIN_MINUTES), "--min-height", "720", "--retries", "0", "--concurrency", "2", "--no-progress",
            "--strict", *[x for e in fs.EXTRACTORS for x in ("--extractor", e)]]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 3, result.output  # --strict: one video failed -> EXIT_FAILED_ITEMS
    assert "Traceback" not in result.output
    rows = manifest.read(root / "manifests" / "videos.parquet", VIDEOS).set_index("video_id")
    assert rows.loc["c1", "status"] == "done" and rows.loc["c2", "status"] == "done"
    assert rows.loc["c404", "status"] == "failed" and "404" in rows.loc["c404", "error"]
    assert set(rows["channel"]) == {"CNN"} and set(rows["category"]) == {"news"}
    assert "cshort" not in rows.index
    assert (root / "raw" / "CNN" / "c2.mp4").is_file()
    assert "short 1" in result.output  # the per-channel table


def test_cli_rejects_bad_options_in_one_line(tmp_path):
    from realsync_build.cli import app

    r = CliRunner().invoke(app, ["fetch", "--root", str(tmp_path), "--channel", "http://x", "--category", "cooking"])
    assert r.exit_code == 2 and "news, sports or unknown" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(app, ["fetch", "--root", str(tmp_path), "--channel", "http://x", "--limit-rate", "fast"])
    assert r.exit_code == 2 and "--limit-rate" in r.output


def test_preprocess_reads_what_fetch_wrote(site, ds):
    from realsync_build.stages.preprocess import PreprocessConfig, run_preprocess

    site.add_video("news", "p1")
    run_fetch(ds, cfg(), channels=[Channel("news", site.channel_url("news"), "news")], options=INLINE)
    report = run_preprocess(ds, cfg=PreprocessConfig(clip_seconds=1), options=INLINE)
    assert report.done == 1 and report.failed == 0
    clips = manifest.read(ds.manifest("clips"), None)
    assert sorted(clips["clip_id"]) == ["p1_0_1", "p1_1_2", "p1_2_3"]
    assert set(clips["channel"]) == {"news"} and set(clips["category"]) == {"news"}


def test_cookies_are_sent_but_never_written_to_the_metadata(site, ds, tmp_path):
    site.add_video("members", "m1")
    jar = tmp_path / "cookies.txt"
    jar.write_text("# Netscape HTTP Cookie File\n127.0.0.1\tFALSE\t/\tFALSE\t4102444800\tsession\tsecret-token-123\n")
    run_fetch(ds, cfg(cookies=str(jar)), channels=[Channel("members", site.channel_url("members"), "news")], options=INLINE)
    assert videos(ds).loc["m1", "status"] == "done"
    assert any("secret-token-123" in c for c in site.cookies)  # yt-dlp used the cookie file
    assert "secret-token-123" not in (ds.raw / "members" / "m1.info.json").read_text()


def test_a_channel_that_cannot_be_listed_is_reported_and_the_others_go_on(site, ds):
    site.add_video("fine", "f1")
    chans = [Channel("gone", site.channel_url("gone"), "news"), Channel("fine", site.channel_url("fine"), "news")]
    report = run_fetch(ds, cfg(), channels=chans, dry_run=True, options=INLINE)
    assert "404" in report.tallies["gone"].error and not report.ok
    assert [r["video_id"] for r in report.planned] == ["f1"]


def test_a_failed_video_keeps_its_row_but_its_hours_go_to_another_video(site, ds):
    ids = [f"h{i}" for i in range(4)]
    for vid in ids:
        site.add_video("hrs", vid)
    order = seeded_order(ids, 0, "hrs")
    site.faults[f"{order[0]}.mp4"] = "404"
    channel = Channel("hrs", site.channel_url("hrs"), "news")
    budget = cfg(hours_per_channel=5.0 / 3600)  # two 3 s videos
    run_fetch(ds, budget, channels=[channel], options=INLINE)
    rows = videos(ds)
    assert rows.loc[order[0], "status"] == "failed" and rows.loc[order[1], "status"] == "done" and len(rows) == 2
    second = run_fetch(ds, budget, channels=[channel], options=INLINE)
    rows = videos(ds)
    assert rows.loc[order[2], "status"] == "done" and rows.loc[order[0], "status"] == "failed"
    assert order[3] not in rows.index and abs(second.tallies["hrs"].kept_s - 6.0) < 1e-6


def test_cli_channels_file_dry_run_prints_the_plan(site, tmp_path, monkeypatch):
    from realsync_build.cli import app
    from realsync_build.core.ui import console

    monkeypatch.setattr(console, "width", 200)
    for vid in ("a1", "a2"):
        site.add_video("golf", vid)
    site.add_video("nhl", "n1")
    toml = tmp_path / "channels.toml"
    toml.write_text(
        f'[[channel]]\nname = "golfshome"\nurl = "{site.channel_url("golf")}"\ncategory = "sports"\n\n'
        f'[[channel]]\nname = "NHL"\nurl = "{site.channel_url("nhl")}"\ncategory = "sports"\n'
    )
    root = tmp_path / "data"
    ext = [x for e in fs.EXTRACTORS for x in ("--extractor", e)]
    r = CliRunner().invoke(app, ["fetch", "--root", str(root), "--channels", str(toml), "--min-minutes", str(MIN_MINUTES), "--dry-run", *ext])
    assert r.exit_code == 0, r.output
    rows = manifest.read(root / "manifests" / "videos.parquet", VIDEOS)
    assert sorted(zip(rows["video_id"], rows["channel"])) == [("a1", "golfshome"), ("a2", "golfshome"), ("n1", "NHL")]
    assert "dry run" in r.output and "golfshome" in r.output and site.media_requests() == []
    toml.write_text("[[channel]]\nname = 'x'\n")
    r = CliRunner().invoke(app, ["fetch", "--root", str(root), "--channels", str(toml), "--dry-run"])
    assert r.exit_code == 2 and "lacks 'url'" in r.output and "Traceback" not in r.output
