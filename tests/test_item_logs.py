"""A failed item keeps one line in its manifest; its traceback (and ffmpeg's last stderr lines) are in
``logs/{stage}/{item}.log``, and ``realsync status --failed`` shows where and what."""

from __future__ import annotations

import stat

import pytest
from typer.testing import CliRunner

from realsync_build.cli import app
from realsync_build.core import itemlog
from realsync_build.core.executors.base import failure_detail
from realsync_build.core.root import resolve_root
from realsync_build.core.stage import RunOptions
from realsync_build.media.ffmpeg import STDERR_TAIL_LINES, FFmpegError, ffmpeg_exe, run_ffmpeg
from realsync_build.media.synth import make_source
from realsync_build.stages.preprocess import PreprocessConfig, run_preprocess

FAST = dict(width=320, height=240, preset="ultrafast")
OPTS = RunOptions(workers=1, progress=False)


def _status_failed(root) -> str:
    out = CliRunner().invoke(app, ["status", "--root", str(root), "--failed"], terminal_width=200)
    assert out.exit_code == 0, out.output
    return out.output


def test_a_failed_ffmpeg_run_keeps_its_stderr_tail_and_command_beside_the_one_line(tmp_path):
    with pytest.raises(FFmpegError) as info:
        run_ffmpeg(["-i", tmp_path / "missing.mp4", tmp_path / "out.mp4"])
    exc = info.value
    assert str(exc).startswith("ffmpeg failed:") and "\n" not in str(exc)
    assert any("missing.mp4" in line for line in exc.stderr_tail)
    detail = failure_detail(exc)
    assert "Traceback (most recent call last)" in detail and "FFmpegError: ffmpeg failed" in detail
    stderr_part = detail.split("--- stderr of ffmpeg ", 1)[1]
    assert "missing.mp4" in stderr_part and str(tmp_path / "out.mp4") in stderr_part.splitlines()[0]


def test_a_broken_source_gets_one_line_in_the_manifest_its_traceback_in_a_log_and_status_shows_it(ds, tmp_path):
    src = tmp_path / "in" / "ch"
    make_source(src / "good.mp4", 4.5, **FAST)
    (src / "broken.mp4").write_bytes(b"\x00" * 100)
    report = run_preprocess(ds, tmp_path / "in", PreprocessConfig(clip_seconds=4), OPTS)
    assert (report.done, report.failed) == (1, 1)
    error = ds.read("clips").set_index("video_id").loc["broken", "error"]
    assert error and "\n" not in error
    log = ds.root / "logs" / "preprocess" / "broken.log"
    text = log.read_text()
    assert text.startswith("realsync preprocess: broken failed\n")
    assert error in text and "Traceback (most recent call last)" in text and "ProbeError" in text
    assert sorted(p.name for p in log.parent.iterdir()) == ["broken.log"]  # nothing for the good source, no temp left

    shown = _status_failed(ds.root)
    assert "failed items: fetch 1, preprocess 1" in shown  # --input registered the file as a failed video too
    assert "fetch broken: not a media file" in shown and "log: none" in shown
    assert "preprocess broken" in shown and error[:40] in shown
    assert f"log: {log}" in shown.replace("\n", "")
    assert "| " + text.rstrip("\n").splitlines()[-1][:60] in shown  # the log's last lines

    make_source(src / "broken.mp4", 4.5, **FAST)  # the user replaces the file and retries
    again = run_preprocess(ds, tmp_path / "in", PreprocessConfig(clip_seconds=4), RunOptions(workers=1, progress=False, retry_failed=True))
    assert again.done == 1 and not log.exists()
    assert "no failed items" in _status_failed(ds.root)


def test_when_ffmpeg_fails_the_clip_rows_keep_one_line_and_the_log_keeps_its_last_stderr_lines(ds, tmp_path, monkeypatch):
    make_source(tmp_path / "in" / "ch" / "a.mp4", 8.5, **FAST)
    failing = tmp_path / "bin" / "ffmpeg"  # an ffmpeg that fails after writing 45 lines to stderr
    failing.parent.mkdir()
    failing.write_text("#!/bin/sh\nfor i in $(seq 1 45); do echo \"decoder says line $i\" >&2; done\nexit 1\n")
    failing.chmod(failing.stat().st_mode | stat.S_IEXEC)
    ffmpeg_exe.cache_clear()
    try:
        with monkeypatch.context() as m:
            m.setenv("REALSYNC_FFMPEG", str(failing))
            report = run_preprocess(ds, tmp_path / "in", PreprocessConfig(clip_seconds=4), OPTS)
    finally:
        ffmpeg_exe.cache_clear()
    assert report.failed == 1
    rows = ds.read("clips")
    assert list(rows["clip_id"]) == ["a_0_4", "a_4_8"] and set(rows["status"]) == {"failed"}
    assert set(rows["error"]) == {"ffmpeg failed: decoder says line 43 | decoder says line 44 | decoder says line 45"}
    assert "_log_detail" not in rows.columns
    text = (ds.root / "logs" / "preprocess" / "a.log").read_text()
    assert "a_0_4: ffmpeg failed" in text and "a_4_8: ffmpeg failed" in text
    assert text.count("Traceback (most recent call last)") == 1  # one run cut both clips: its story once
    kept = [line for line in text.splitlines() if line.startswith("decoder says line ")]
    assert kept == [f"decoder says line {i}" for i in range(46 - STDERR_TAIL_LINES, 46)]


def test_a_url_root_gets_the_log_at_the_url(tmp_path):
    root = resolve_root((tmp_path / "remote").as_uri())
    rel = itemlog.write_log(root, "annotate", "clip/../x 1", [("", "ValueError: bad", "Traceback ...\nValueError: bad\n")])
    assert rel == "logs/annotate/clip_x_1.log"
    assert (tmp_path / "remote" / rel).read_text().splitlines()[3] == "ValueError: bad"
    assert itemlog.tail(root, rel, 1) == ["ValueError: bad"]
