"""``realsync fetch`` with no network, and stopped with Ctrl-C (issue 24, item 1).

No real network: "offline" is a loopback port where nothing listens (connection refused) or a
host under the reserved ``.invalid`` TLD (it never resolves).  Ctrl-C is a real SIGINT to a
``realsync fetch`` subprocess; every wait polls for an outcome with a generous limit, so a
loaded machine is slower but never fails the test.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import fetch_support as fs
from realsync_build.cli import app
from realsync_build.core import manifest
from realsync_build.core.root import DatasetRoot
from realsync_build.core.schema import VIDEOS
from realsync_build.core.stage import HOLD, RunOptions, StageSpec, run_stage
from realsync_build.stages.fetch.config import FetchConfig
from realsync_build.stages.fetch.download import fetch_video
from realsync_build.stages.fetch.network import Reachability, SiteUnreachable, network_cause
from realsync_build.stages.fetch.progress import Eta
from realsync_build.stages.fetch.report import _hours

MIN_MINUTES = str(2 / 60)
EXT = [x for e in fs.EXTRACTORS for x in ("--extractor", e)]
POLL_LIMIT_S = 900  # generous: a loaded 2-core machine is slow, never wrong


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    return fs.make_media(tmp_path_factory.mktemp("media"))


@pytest.fixture
def site(media):
    s = fs.LoopbackSite(media)
    yield s
    s.close()


def dead_port() -> int:
    """A loopback port where nothing listens: connecting is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rows(root: Path) -> pd.DataFrame:
    return manifest.read(root / "manifests" / "videos.parquet", VIDEOS).set_index("video_id")


def test_the_network_causes_are_told_from_a_video_s_own_failure():
    dns = network_cause("Unable to download webpage: HTTPConnection(host='www.youtube.com', port=443): Failed to resolve "
                        "'www.youtube.com' ([Errno -3] Temporary failure in name resolution)")  # fmt: skip
    assert dns.kind == "dns" and dns.host == "www.youtube.com"
    refused = network_cause("HTTPConnection(host='127.0.0.1', port=9): Failed to establish a new connection: [Errno 111] Connection refused")
    assert refused.kind == "refused" and refused.host == "127.0.0.1:9"
    assert network_cause("[Errno 113] No route to host").kind == "no-route"
    assert network_cause("[Errno 101] Network is unreachable").kind == "no-route"
    for own in ("HTTP Error 404: Not Found", "HTTP Error 500", "Video unavailable", "downloaded file has no audio stream", None):
        assert network_cause(own) is None


def test_a_refused_connection_is_one_line_without_the_repeat(tmp_path):
    """yt-dlp's message names the cause twice ("... refused (caused by TransportError('... refused'))"); the row keeps it once."""
    ds = DatasetRoot(tmp_path / "root")
    cfg = FetchConfig(retries=0, backoff_s=0.0, extractors=fs.EXTRACTORS)
    task = dict(video_id="v1", channel="news", url=f"http://127.0.0.1:{dead_port()}/watch/v1", config=cfg.to_dict(), **ds.task_fields())
    with pytest.raises(Exception) as err:
        fetch_video(task)
    msg = str(err.value)
    assert "\n" not in msg and msg.count("Connection refused") == 1 and "caused by" not in msg, msg


def test_a_network_level_failure_is_retried_once_not_retries_times():
    from realsync_build.stages.fetch.ydl import NetworkDown, YdlLog

    log = YdlLog()
    refused = "[download] Got error: HTTPConnection(host='127.0.0.1', port=9): Failed to establish a new connection: [Errno 111] Connection refused."
    log.debug(f"{refused} Retrying (1/5)...")  # one retry: a blip may pass
    with pytest.raises(NetworkDown, match="Connection refused"):
        log.debug(f"{refused} Retrying (2/5)...")
    for n in range(1, 6):  # a video's own error waits out every retry (--retries)
        log.debug(f"[download] Got error: HTTP Error 503: Service Unavailable. Retrying ({n}/5)...")


@pytest.mark.slow
def test_an_offline_site_stops_fetch_after_the_first_downloads_in_one_line(site, tmp_path):
    dead = f"http://127.0.0.1:{dead_port()}"
    for i in range(5):
        site.add_video("news", f"n{i}", media_base=dead)  # the pages answer, the media server does not
    root = tmp_path / "data"
    args = ["fetch", "--root", str(root), "--channel", site.channel_url("news"), "--name", "news", "--min-minutes", MIN_MINUTES,
            "--hours-per-channel", "0", "--retries", "5", "--executor", "inline", "--no-progress", *EXT]  # fmt: skip
    r = CliRunner().invoke(app, args)
    err = " ".join(r.output.split())
    assert r.exit_code == 1, r.output  # the network is the environment's fault (exit 1), not the user's
    assert "cannot reach 127.0.0.1:" in err and "connection is refused" in err and "first 3 downloads" in err
    assert "rerun the same command" in err and "Traceback" not in r.output
    assert err.count("error:") == 1  # one line, once
    # nothing was marked failed: every video stays planned, so a plain rerun (no --retry-failed) tries them
    assert set(rows(root)["status"]) == {"planned"} and len(rows(root)) == 5

    for meta in site.videos.values():  # the network is back
        for f in meta["formats"]:
            f["url"] = f["url"].replace(dead, site.base)
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    assert set(rows(root)["status"]) == {"done"}  # a plain rerun, no --retry-failed


def test_video_pages_that_cannot_be_reached_stop_the_selection(site, tmp_path):
    for i in range(5):
        site.add_video("news", f"n{i}")
    site.watch_base["news"] = f"http://127.0.0.1:{dead_port()}"  # the listing answers, the video pages do not
    root = tmp_path / "data"
    r = CliRunner().invoke(app, ["fetch", "--root", str(root), "--channel", site.channel_url("news"), "--name", "news",
                                 "--min-minutes", MIN_MINUTES, "--retries", "0", "--executor", "inline", "--no-progress", *EXT])  # fmt: skip
    err = " ".join(r.output.split())
    assert r.exit_code == 1 and "first 3 video pages all failed" in err and "unavailable" not in err, r.output


def test_a_host_that_does_not_resolve_stops_the_listing(tmp_path):
    root = tmp_path / "data"
    chans = tmp_path / "channels.toml"
    chans.write_text("".join(f'[[channel]]\nname = "c{i}"\nurl = "http://realsync-offline-{i}.invalid/channel/c{i}"\ncategory = "news"\n\n'
                             for i in range(4)))  # fmt: skip
    r = CliRunner().invoke(app, ["fetch", "--root", str(root), "--channels", str(chans), "--retries", "0", "--executor", "inline", "--no-progress"])
    err = " ".join(r.output.split())
    assert r.exit_code == 1, r.output
    # the hosts differ, so it is the same cause (DNS) on each that stops it: three listings, not four
    assert "does not resolve (DNS)" in err and "channel listings" in err and "Traceback" not in r.output


def _fake(task: dict) -> list[dict]:
    if task["outcome"] == "ok":
        return [{"video_id": task["video_id"], "status": "done", "duration_s": 1.0}]
    raise RuntimeError(task["outcome"])


def _error_rows(task: dict, error: str) -> list[dict]:
    return [{"video_id": task["video_id"], "status": "failed", "error": error}]


FAKE = StageSpec(name="fake", manifest="videos", task_key="video_id", fn=_fake, error_rows=_error_rows)
REFUSED = "HTTPConnection(host='127.0.0.1', port=9): Failed to establish a new connection: [Errno 111] Connection refused"


def test_network_failures_before_a_success_are_recorded_as_the_video_failures_they_were(tmp_path):
    ds = DatasetRoot(tmp_path / "root")
    outcomes = [REFUSED, REFUSED, "ok", "HTTP Error 404", REFUSED]
    tasks = [{"video_id": f"v{i}", "outcome": o} for i, o in enumerate(outcomes)]
    seen = []
    watch = Reachability(3)

    def spy(tid, rows_, err):
        verdict = watch(tid, rows_, err)
        seen.append(verdict)
        return verdict

    report = run_stage(FAKE, ds, tasks, RunOptions(executor="inline", progress=False), watch=spy)
    assert seen == [HOLD, HOLD, None, None, HOLD]  # held, then released by the success; the last held until the end
    assert (report.done, report.failed) == (1, 4)
    got = rows(ds.root)["status"].to_dict()
    assert got == {"v0": "failed", "v1": "failed", "v2": "done", "v3": "failed", "v4": "failed"}


def test_three_network_failures_in_a_row_stop_the_run_and_keep_what_finished(tmp_path):
    ds = DatasetRoot(tmp_path / "root")
    tasks = [{"video_id": f"v{i}", "outcome": o} for i, o in enumerate(["ok", REFUSED, REFUSED, REFUSED, "ok"])]
    with pytest.raises(SiteUnreachable, match="cannot reach 127.0.0.1:9"):
        run_stage(FAKE, ds, tasks, RunOptions(executor="inline", progress=False), watch=Reachability(3))
    assert rows(ds.root)["status"].to_dict() == {"v0": "done"}  # v1-v3 dropped (still to do), v4 never ran


def test_the_eta_runs_on_media_hours_or_bytes_and_says_n_a_otherwise():
    now = [0.0]
    eta = Eta({"a": 600.0, "b": 1800.0}, clock=lambda: now[0])
    assert eta.text() == "ETA n/a"  # nothing measured yet
    now[0] = 60.0
    eta.update("a", 50, 100)  # 300 media s of 2400 in 60 s
    assert eta.seconds_left() == pytest.approx(2100 * 60 / 300)
    eta.end("a")
    eta.update("b", 0, 1000)
    now[0] = 120.0
    assert eta.seconds_left() == pytest.approx(1800 * 120 / 600)  # a short video ending says little about a long one
    # durations unknown (a published list before fetch has seen the videos): bytes, once every video left has a size
    eta = Eta({"a": None, "b": float("nan")}, clock=lambda: now[0])
    now[0] = 130.0
    eta.update("a", 100, 400)
    assert eta.text() == "ETA n/a"  # b has not said how big it is
    eta.update("b", 100, 600)
    assert eta.seconds_left() == pytest.approx(800 * 10 / 200)
    assert "nan" not in eta.text()
    assert _hours(float("nan")) == "n/a" and _hours(None) == "n/a" and _hours(3600.0) == "1.00"


@pytest.mark.slow
def test_ctrl_c_says_stopping_saves_every_finished_video_prints_the_summary_and_exits_130(site, tmp_path):
    for vid in ("s1", "s2"):
        site.add_video("mix", vid)
        site.faults[f"{vid}.mp4"] = "stall"  # in flight until stopped
    for vid in ("f1", "f2"):
        site.add_video("mix", vid)
    root = tmp_path / "data"
    repo = Path(__file__).resolve().parent.parent
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(repo), str(repo / "tests")]), PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "realsync_build", "-v", "fetch", "--root", str(root), "--channel", site.channel_url("mix"),
           "--name", "mix", "--min-minutes", MIN_MINUTES, "--hours-per-channel", "0", "--retries", "0", "--concurrency", "3",
           "--no-progress", *EXT]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + POLL_LIMIT_S
        # the driver logs each video it records (-v); both fast ones recorded, both stalled ones in flight
        # and both stalled ones have begun their .part files (under load they may start after the fast ones end)
        def _ready() -> bool:
            parts = list((root / "raw" / "mix").glob("*.part")) if (root / "raw" / "mix").is_dir() else []
            return len(parts) == 2 and all(any(f"fetch {v}: done" in ln for ln in list(lines)) for v in ("f1", "f2"))

        while not _ready():
            assert proc.poll() is None, "".join(lines)
            assert time.monotonic() < deadline, "the fast videos never finished (or the stalled ones never started):\n" + "".join(lines)
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=POLL_LIMIT_S)  # stderr is read by the thread alone
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(timeout=POLL_LIMIT_S)
    err = "".join(lines)
    assert proc.returncode == 130, err
    assert "stopping…" in err and "Traceback" not in err, err
    assert "fetch: 2 done, 0 failed" in err  # the summary
    assert "stopped by Ctrl-C" in err and "rerun the same command" in err
    got = rows(root)["status"].to_dict()
    assert got == {"f1": "done", "f2": "done", "s1": "planned", "s2": "planned"}, got  # no failed row for what was stopped
    parts = sorted(p.name for p in (root / "raw" / "mix").iterdir() if p.name.endswith(".part"))
    assert len(parts) == 2  # resumable: a rerun continues the stalled downloads
