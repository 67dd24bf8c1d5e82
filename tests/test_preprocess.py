"""preprocess, as a user meets it: sources in a folder -> validated 25 fps / 16 kHz clips and a manifest."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from realsync_build.core import schema
from realsync_build.media.ffmpeg import run_ffmpeg
from realsync_build.media.probe import check_clip, probe_clip
from realsync_build.media.synth import make_source
from realsync_build.core.root import DatasetRoot
from realsync_build.stages.preprocess.run import PreprocessConfig, plan_clips, run_preprocess
from realsync_build.core.stage import RunOptions

FAST = dict(width=320, height=240, preset="ultrafast")


def _opts(**kw) -> RunOptions:
    kw.setdefault("workers", 1)
    kw.setdefault("progress", False)
    return RunOptions(**kw)


def _clips(ds: DatasetRoot) -> pd.DataFrame:
    return pd.read_parquet(ds.manifest("clips"))


def assert_valid_clip(path: Path, seconds: float, short_side: int = 256) -> None:
    facts = probe_clip(path)
    assert check_clip(facts, seconds, short_side=short_side) == []
    assert facts.n_frames == round(seconds * 25)
    assert facts.audio_samples == round(seconds * 16000)
    assert facts.video_profile == "High" and facts.pix_fmt == "yuv420p"
    assert facts.audio_profile == "LC"


def test_plan_clips_drops_the_tail_unless_asked():
    assert [(p.start_s, p.end_s) for p in plan_clips(11.9, 4, False)] == [(0, 4), (4, 8)]
    assert [(p.start_s, p.end_s) for p in plan_clips(11.9, 4, True)] == [(0, 4), (4, 8), (8, 11)]
    assert plan_clips(3.9, 4, False) == []


def test_a_generated_source_becomes_exact_clips(ds, tmp_path):
    src = tmp_path / "in" / "NFL" / "game one.mp4"
    make_source(src, 9.0, width=1280, height=720, fps="30000/1001", events=[1.0, 5.0])
    report = run_preprocess(ds, tmp_path / "in", PreprocessConfig(clip_seconds=4), _opts())
    assert report.done == 1 and report.failed == 0
    clips = _clips(ds)
    from realsync_build.core.ids import file_id

    vid = file_id("game one")  # not file-safe (a space): the one id rule's safe form plus a hash of the name
    assert vid.startswith("game_one-")
    assert list(clips["clip_id"]) == [f"{vid}_0_4", f"{vid}_4_8"]
    assert set(clips["status"]) == {"done"}
    assert set(clips["category"]) == {"sports"}  # NFL is a sports channel in manifests/channels.toml
    for row in clips.itertuples():
        path = ds.abs(row.path)
        assert path.name == f"{row.clip_id}.mp4" and path.parent == ds.clips / "NFL" / vid
        assert_valid_clip(path, 4)
        assert (row.width, row.height, row.fps, row.sample_rate, row.channels) == (456, 256, 25.0, 16000, 1)
        assert row.n_frames == 100 and row.av_skew_ms < 40
    # the videos manifest registers the source
    videos = pd.read_parquet(ds.manifest("videos"))
    assert list(videos["video_id"]) == [vid] and videos["duration_s"].iloc[0] == pytest.approx(9.0, abs=0.05)


def test_clip_boundaries_are_frame_exact(ds, tmp_path):
    """Each clip holds exactly its frames: the flash at 5.0 s lands on frame 25 of the second clip."""
    import av
    import numpy as np

    src = tmp_path / "in" / "ch" / "flash.mp4"
    make_source(src, 8.5, events=[5.02], event_ms=40, fps="25", **FAST)
    run_preprocess(ds, tmp_path / "in", PreprocessConfig(clip_seconds=4), _opts())
    clip = ds.abs(_clips(ds).set_index("clip_id").loc["flash_4_8", "path"])
    with av.open(str(clip)) as c:
        lum = [float(np.asarray(f.to_ndarray(format="gray")).mean()) for f in c.decode(video=0)]
    assert len(lum) == 100
    assert int(np.argmax(lum)) == 25


def test_runs_of_clips_seek_without_losing_frames(ds, tmp_path):
    """Splitting a long source into several ffmpeg runs (input seek) gives the same clips."""
    src = tmp_path / "in" / "ch" / "long.mp4"
    make_source(src, 10.5, **FAST)
    run_preprocess(ds, tmp_path / "in", PreprocessConfig(clip_seconds=2, max_clips_per_run=2), _opts())
    clips = _clips(ds)
    assert len(clips) == 5 and set(clips["status"]) == {"done"}
    for row in clips.itertuples():
        assert_valid_clip(ds.abs(row.path), 2)


def test_keep_tail_and_vertical_and_odd_sizes(ds, tmp_path):
    make_source(tmp_path / "in" / "ch" / "vertical.mp4", 5.5, width=720, height=1280, preset="ultrafast")
    make_source(tmp_path / "in" / "ch" / "odd.mp4", 5.5, width=321, height=241, preset="ultrafast", extra_args=["-pix_fmt", "yuv444p"])
    run_preprocess(ds, tmp_path / "in", PreprocessConfig(clip_seconds=4, keep_tail=True), _opts())
    clips = _clips(ds).set_index("clip_id")
    assert set(clips["status"]) == {"done"}, clips["error"].dropna().tolist()
    assert (clips.loc["vertical_0_4", "width"], clips.loc["vertical_0_4", "height"]) == (256, 456)
    w, h = clips.loc["odd_0_4", "width"], clips.loc["odd_0_4", "height"]
    assert h == 256 and w % 2 == 0
    assert_valid_clip(ds.abs(clips.loc["odd_4_5", "path"]), 1)  # the tail, kept


def test_rotation_metadata_and_variable_frame_rate_are_normalised(ds, tmp_path):
    base = make_source(tmp_path / "base.mp4", 5.0, **FAST)
    rotated = tmp_path / "in" / "ch" / "rotated.mp4"
    rotated.parent.mkdir(parents=True)
    run_ffmpeg(["-display_rotation:v:0", "90", "-i", base, "-c", "copy", rotated])
    vfr = tmp_path / "in" / "ch" / "vfr.mp4"
    # irregular frame times: every third frame arrives late
    run_ffmpeg(["-i", base, "-vf", "setpts='(N+0.6*mod(N,3))/(30*TB)'", "-fps_mode", "vfr", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "copy", vfr])
    run_preprocess(ds, tmp_path / "in", PreprocessConfig(clip_seconds=4), _opts())
    clips = _clips(ds).set_index("clip_id")
    assert set(clips["status"]) == {"done"}, clips["error"].dropna().tolist()
    w, h = clips.loc["rotated_0_4", "width"], clips.loc["rotated_0_4", "height"]
    assert w == 256 and h % 2 == 0 and abs(h - 256 * 320 / 240) < 2  # 320x240 turned upright
    assert_valid_clip(ds.abs(clips.loc["vfr_0_4", "path"]), 4)


def _bad_inputs(folder: Path, good_src: Path) -> dict[str, str]:
    """Broken sources next to a good one; values: words the error must contain."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "notes.mp4").write_text("this is not a video\n" * 50)
    data = good_src.read_bytes()
    (folder / "truncated.mp4").write_bytes(data[: len(data) // 2])  # moov atom at the end: gone
    run_ffmpeg(["-i", good_src, "-an", "-c", "copy", folder / "silent.mp4"])
    run_ffmpeg(["-i", good_src, "-vn", "-c", "copy", folder / "audioonly.mp4"])
    make_source(folder / "short.mp4", 2.0, **FAST)
    return {
        "empty": "empty file",
        "notes": "not a media file",
        "truncated": "",
        "silent": "no audio stream",
        "audioonly": "no video stream",
        "short": "shorter than one 4 s clip",
    }


def test_bad_inputs_get_error_rows_and_the_rest_finishes(ds, tmp_path):
    good = make_source(tmp_path / "in" / "ch" / "good.mp4", 8.2, **FAST)
    expected = _bad_inputs(tmp_path / "in" / "ch", good)
    report = run_preprocess(ds, tmp_path / "in", PreprocessConfig(clip_seconds=4), _opts(workers=2))
    clips = _clips(ds)
    good_rows = clips[clips["video_id"] == "good"]
    assert list(good_rows["status"]) == ["done", "done"]
    assert report.done == 1 and report.failed == len(expected)
    for vid, words in expected.items():
        rows = clips[clips["video_id"] == vid]
        assert len(rows) >= 1, vid
        assert set(rows["status"]) == {"failed"}, vid
        msg = " ".join(rows["error"])
        assert msg and words in msg, (vid, msg)
    videos = pd.read_parquet(ds.manifest("videos")).set_index("video_id")
    assert videos.loc["empty", "status"] == "failed"


def test_a_truncated_stream_with_its_index_up_front_fails_validation(ds, tmp_path):
    full = make_source(tmp_path / "full.mp4", 8.2, extra_args=["-movflags", "+faststart"], **FAST)
    data = full.read_bytes()
    cut = tmp_path / "in" / "ch" / "cut.mp4"
    cut.parent.mkdir(parents=True)
    cut.write_bytes(data[: int(len(data) * 0.6)])
    run_preprocess(ds, tmp_path / "in", PreprocessConfig(clip_seconds=4), _opts())
    rows = _clips(ds).set_index("clip_id")
    assert rows.loc["cut_0_4", "status"] == "done"
    assert rows.loc["cut_4_8", "status"] == "failed" and rows.loc["cut_4_8", "error"]
    assert not ds.abs("clips/ch/cut/cut_4_8.mp4").exists()  # never a partial file under the final name


def test_rerun_skips_done_and_failed_until_retry_failed(ds, tmp_path):
    make_source(tmp_path / "in" / "ch" / "a.mp4", 4.5, **FAST)
    (tmp_path / "in" / "ch" / "b.mp4").write_bytes(b"")
    first = run_preprocess(ds, tmp_path / "in", PreprocessConfig(clip_seconds=4), _opts())
    assert (first.done, first.failed) == (1, 1)
    second = run_preprocess(ds, tmp_path / "in", PreprocessConfig(clip_seconds=4), _opts())
    assert (second.done, second.failed, second.skipped_done, second.skipped_failed) == (0, 0, 1, 1)
    # the user fixes b and asks for the failed ones again
    make_source(tmp_path / "in" / "ch" / "b.mp4", 4.5, **FAST)
    third = run_preprocess(ds, tmp_path / "in", PreprocessConfig(clip_seconds=4), _opts(retry_failed=True))
    assert (third.done, third.failed, third.skipped_done) == (1, 0, 1)
    clips = _clips(ds)
    assert sorted(clips["clip_id"]) == ["a_0_4", "b_0_4"] and set(clips["status"]) == {"done"}
    # a done clip whose file vanished is made again
    ds.abs(clips.set_index("clip_id").loc["a_0_4", "path"]).unlink()
    fourth = run_preprocess(ds, tmp_path / "in", PreprocessConfig(clip_seconds=4), _opts())
    assert fourth.done == 1 and ds.abs(_clips(ds).set_index("clip_id").loc["a_0_4", "path"]).exists()


def test_manifest_schema_is_the_declared_one(ds, tmp_path):
    make_source(tmp_path / "in" / "ch" / "a.mp4", 4.2, **FAST)
    run_preprocess(ds, tmp_path / "in", PreprocessConfig(clip_seconds=4), _opts())
    table = pq.read_table(ds.manifest("clips"))
    assert table.schema.equals(schema.CLIPS, check_metadata=False)
    assert pq.read_table(ds.manifest("videos")).schema.equals(schema.VIDEOS, check_metadata=False)


def _cli(root: Path, src: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "realsync_build", "preprocess", "--root", str(root), "--input", str(src),
            "--clip-seconds", "2", "--no-progress", *extra]  # fmt: skip


def _comparable(path: Path) -> pd.DataFrame:
    df = pd.read_parquet(path)
    # every column, size and content hash included: a clip redone after the kill decodes from the
    # same seek point as in an uninterrupted run, so it comes out byte-identical (mtime_ns aside:
    # when each file was written)
    return df.drop(columns=["mtime_ns"]).sort_values("clip_id").reset_index(drop=True)


@pytest.mark.slow
@pytest.mark.parametrize("victim", ["driver", "worker"])
def test_kill_9_mid_run_then_rerun_gives_the_same_manifest(tmp_path, victim):
    src = tmp_path / "in"
    for i in range(4):
        make_source(src / "ch" / f"v{i}.mp4", 8.2, **FAST)
    ref = tmp_path / "ref"
    subprocess.run(_cli(ref, src, "--workers", "2"), check=True, capture_output=True)

    root = tmp_path / "run"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(_cli(root, src, "--workers", "2"), start_new_session=True, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 60
    clips_dir = root / "clips" / "ch"
    while time.monotonic() < deadline:  # wait until some clip exists but the run is not over
        if clips_dir.exists() and any(clips_dir.rglob("v*_*.mp4")):
            break
        time.sleep(0.05)
    if victim == "driver":
        os.killpg(proc.pid, signal.SIGKILL)
    else:
        workers = subprocess.run(["pgrep", "-P", str(proc.pid), "-f", "spawn_main"], capture_output=True, text=True).stdout.split()
        assert workers, "no worker process to kill"
        os.kill(int(workers[0]), signal.SIGKILL)
    proc.wait(timeout=900)
    assert proc.returncode != 0  # the run was really interrupted (the driver reports a lost worker)
    time.sleep(0.5)
    # nothing listed as done may be partial
    manifest = root / "manifests" / "clips.parquet"
    if manifest.exists():
        for row in pd.read_parquet(manifest).itertuples():
            if row.status == "done":
                assert_valid_clip(root / row.path, 2)
    rerun = subprocess.run(_cli(root, src, "--workers", "2"), capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    pd.testing.assert_frame_equal(_comparable(manifest), _comparable(ref / "manifests" / "clips.parquet"))
    leftovers = [p for p in (root / "clips").rglob(".*") if p.is_file()]
    assert leftovers == []


def test_cli_preprocess_and_strict(tmp_path):
    src = tmp_path / "in"
    make_source(src / "ch" / "ok.mp4", 4.2, **FAST)
    (src / "ch" / "broken.mp4").write_bytes(b"\x00" * 100)
    out = subprocess.run(_cli(tmp_path / "r", src, "--workers", "1"), capture_output=True, text=True)
    assert out.returncode == 0
    assert "1 done" in out.stderr and "1 failed" in out.stderr and "Traceback" not in out.stderr
    strict = subprocess.run(_cli(tmp_path / "r", src, "--workers", "1", "--strict"), capture_output=True, text=True)
    assert strict.returncode == 3  # EXIT_FAILED_ITEMS
