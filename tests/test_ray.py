"""The Ray executor on a local Ray instance (started once for the module; no network).

Preprocess runs on generated sources with ``--executor ray`` and must give the
same ``clips.parquet`` as the local process pool; a raising item fails alone;
a Ray worker killed in the middle of an ffmpeg write leaves nothing marked
done, and a rerun (or Ray's own retry) completes the item.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'realsync[ray]')")

from realsync_build.core import manifest  # noqa: E402
from realsync_build.core.atomic import TMP_MARK  # noqa: E402
from realsync_build.core.executors.base import Resources  # noqa: E402
from realsync_build.core.executors.ray import RayExecutor  # noqa: E402
from realsync_build.media.synth import make_source  # noqa: E402
from realsync_build.core.root import DatasetRoot, safe_name  # noqa: E402
from realsync_build.stages.preprocess.run import SPEC, PreprocessConfig, preprocess_video, run_preprocess, tasks_from_videos  # noqa: E402
from realsync_build.core.schema import CLIPS, DONE, FAILED  # noqa: E402
from realsync_build.core.stage import RunOptions, run_stage  # noqa: E402

HERE = Path(__file__).resolve().parent
CFG = PreprocessConfig(clip_seconds=2, preset="ultrafast")
OPTS = RunOptions(workers=2, progress=False)


@pytest.fixture(scope="module")
def ray_local():
    """One local Ray instance for the whole module; workers can import this test module."""
    if ray.is_initialized():
        ray.shutdown()
    pythonpath = os.pathsep.join([str(HERE.parent), str(HERE), os.environ.get("PYTHONPATH", "")])
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=100 * 2**20,
        runtime_env={"env_vars": {"PYTHONPATH": pythonpath}},
    )
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> Path:
    """Two channels, three 4 s sources (two 2 s clips each) and one file that is not media."""
    src = tmp_path_factory.mktemp("src")
    make_source(src / "chan_a" / "alpha.mp4", 4.0, width=320, height=180, events=[1.0, 3.0])
    make_source(src / "chan_a" / "beta.mp4", 4.0, width=180, height=320)
    make_source(src / "chan_b" / "gamma.mkv", 4.0, width=320, height=240, fps="29.97")
    (src / "chan_b" / "broken.mp4").write_bytes(b"not a video at all")
    return src


@pytest.fixture(scope="module")
def local_reference(sources, tmp_path_factory) -> pd.DataFrame:
    root = DatasetRoot(tmp_path_factory.mktemp("local"))
    report = run_preprocess(root, sources, CFG, replace(OPTS, executor="local"))
    assert report.done == 3 and report.failed == 1
    return manifest.read(root.manifest("clips"), CLIPS)


def _comparable(df: pd.DataFrame) -> pd.DataFrame:
    """Rows in one order, without ``mtime_ns`` (when each root's file was written)."""
    return df.drop(columns=["mtime_ns"], errors="ignore").sort_values("clip_id").reset_index(drop=True)


def test_preprocess_on_ray_matches_local(ray_local, sources, local_reference, tmp_path):
    root = DatasetRoot(tmp_path / "ray")
    report = run_preprocess(root, sources, CFG, replace(OPTS, executor="ray"))
    # the non-media file raised inside its task: only that item failed
    assert (report.done, report.failed) == (3, 1)
    assert report.errors[0][0] == "broken"
    got = manifest.read(root.manifest("clips"), CLIPS)
    assert len(got) == 7  # 3 videos x 2 clips + 1 error row
    pd.testing.assert_frame_equal(_comparable(got), _comparable(local_reference))
    for rel in got.loc[got["status"] == DONE, "path"]:
        assert (root.root / rel).is_file()
    assert ray.is_initialized()  # the executor used the running instance and left it running


def boom_on_two(x: int) -> int:
    if x == 2:
        raise ValueError("item two is bad\nsecond line of detail")
    return x * 10


def test_raising_item_fails_alone(ray_local):
    ex = RayExecutor(max_in_flight=2)
    out = {i: (res, err) for i, res, err in ex.imap(boom_on_two, list(range(6)), Resources(num_cpus=0.5))}
    ex.close()
    assert sorted(out) == list(range(6))
    assert out[2] == (None, "ValueError: item two is bad")
    assert "Traceback (most recent call last)" in out[2][1].detail and "second line of detail" in out[2][1].detail  # for the item's log
    assert all(out[i] == (i * 10, None) for i in range(6) if i != 2)


def test_gpu_fraction_only_when_cluster_has_gpus(ray_local):
    ex = RayExecutor()
    opts = ex.task_options(Resources(num_cpus=1, num_gpus=0.25))
    has_gpu = ray.cluster_resources().get("GPU", 0) > 0
    assert ("num_gpus" in opts) == has_gpu
    assert opts["num_cpus"] == 1
    assert ex.task_options(Resources(num_cpus=64))["num_cpus"] == 2  # capped at the largest node
    assert ex.in_flight_limit(Resources(num_cpus=1)) == 4  # 2 CPUs, twice over


def preprocess_or_die(task: dict) -> list[dict]:
    """``preprocess_video``, but the worker SIGKILLs itself mid-write on its first attempt at ``die_on``."""
    marker = Path(task["marker"])
    if task["video_id"] == task["die_on"] and not marker.exists():
        marker.write_text(str(os.getpid()))
        out_dir = Path(task["root"]) / "clips" / safe_name(task["channel"]) / task["video_id"]

        def kill_when_writing() -> None:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if out_dir.is_dir() and any(TMP_MARK in p.name for p in out_dir.iterdir()):
                    os.kill(os.getpid(), signal.SIGKILL)
                time.sleep(0.005)

        threading.Thread(target=kill_when_writing, daemon=True).start()
        preprocess_video(task)
        os.kill(os.getpid(), signal.SIGKILL)  # ffmpeg beat the watcher: die before returning rows
    return preprocess_video(task)


def _dying_tasks(root: DatasetRoot, sources: Path, marker: Path) -> list[dict]:
    from realsync_build.stages.preprocess import discover_sources, register_local_sources

    videos = register_local_sources(root, discover_sources(sources))
    tasks = tasks_from_videos(root, videos, CFG, 2)
    return [dict(t, die_on="beta", marker=str(marker)) for t in tasks]


def test_killed_worker_is_failed_then_rerun_completes(ray_local, sources, local_reference, tmp_path):
    root = DatasetRoot(tmp_path / "kill")
    marker = tmp_path / "killed-once"
    tasks = _dying_tasks(root, sources, marker)
    spec = replace(SPEC, fn=preprocess_or_die)

    ex = RayExecutor(max_retries=0)  # no Ray retry: the item must come back failed
    report = run_stage(spec, root, tasks, OPTS, executor=ex)
    assert marker.exists()
    assert report.failed == 2 and report.done == 2  # beta (killed) + broken
    clips = manifest.read(root.manifest("clips"), CLIPS)
    beta = clips[clips["video_id"] == "beta"]
    assert list(beta["status"]) == [FAILED]
    assert "WorkerCrashedError" in beta["error"].iloc[0]
    assert beta["path"].isna().all()
    beta_dir = root.clips / "chan_a" / "beta"
    assert not any(p.suffix == ".mp4" and TMP_MARK not in p.name for p in beta_dir.iterdir())

    # a plain rerun skips it (failed before); --retry-failed completes it
    assert run_stage(spec, root, tasks, OPTS, executor=ex).skipped_failed == 2
    report = run_stage(spec, root, tasks, replace(OPTS, retry_failed=True), executor=ex)
    assert report.done == 1 and report.failed == 1  # beta now done; broken still bad
    got = manifest.read(root.manifest("clips"), CLIPS)
    pd.testing.assert_frame_equal(_comparable(got), _comparable(local_reference))
    assert not any(TMP_MARK in p.name for p in beta_dir.iterdir())


def test_killed_worker_is_retried_by_ray(ray_local, sources, local_reference, tmp_path):
    root = DatasetRoot(tmp_path / "retry")
    marker = tmp_path / "killed-once"
    tasks = _dying_tasks(root, sources, marker)
    report = run_stage(replace(SPEC, fn=preprocess_or_die), root, tasks, OPTS, executor=RayExecutor(max_retries=2))
    assert marker.exists()  # the first attempt did die
    assert (report.done, report.failed) == (3, 1)
    got = manifest.read(root.manifest("clips"), CLIPS)
    pd.testing.assert_frame_equal(_comparable(got), _comparable(local_reference))


@pytest.mark.slow
def test_cli_starts_and_stops_its_own_ray(sources, local_reference, tmp_path):
    """The acceptance command: ``realsync preprocess --root DIR --input SRC --executor ray`` (no address)."""
    import subprocess

    root = tmp_path / "cli"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")]))
    cmd = [sys.executable, "-m", "realsync_build", "preprocess", "--root", str(root), "--input", str(sources),
           "--executor", "ray", "--workers", "2", "--clip-seconds", "2", "--preset", "ultrafast", "--no-progress"]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "3 done" in proc.stderr and "1 failed" in proc.stderr
    got = manifest.read(DatasetRoot(root).manifest("clips"), CLIPS)
    pd.testing.assert_frame_equal(_comparable(got), _comparable(local_reference))


@pytest.mark.slow
def test_cli_joins_a_running_cluster(ray_local, sources, local_reference, tmp_path):
    """``--ray-address HOST:PORT``: the CLI connects to this module's Ray, runs there, and leaves it up."""
    import subprocess

    address = ray.get_runtime_context().gcs_address
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")]))
    cmd = [sys.executable, "-m", "realsync_build", "preprocess", "--root", str(tmp_path / "joined"), "--input", str(sources),
           "--executor", "ray", "--ray-address", address, "--workers", "2", "--clip-seconds", "2", "--preset", "ultrafast",
           "--no-progress"]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = manifest.read(DatasetRoot(tmp_path / "joined").manifest("clips"), CLIPS)
    pd.testing.assert_frame_equal(_comparable(got), _comparable(local_reference))
    assert ray.cluster_resources().get("CPU") == 2  # the cluster is still there


def test_ray_to_url_root(ray_local, sources, local_reference, tmp_path, monkeypatch):
    """Workers publish clips to a URL root; the driver alone publishes the manifest."""
    from realsync_build.core.root import resolve_root

    monkeypatch.setenv("REALSYNC_CACHE", str(tmp_path / "cache"))
    remote = tmp_path / "bucket"
    root = resolve_root(remote.as_uri())
    report = run_preprocess(root, sources, CFG, replace(OPTS, executor="ray"))
    assert (report.done, report.failed) == (3, 1)
    published = manifest.read(remote / "manifests" / "clips.parquet", CLIPS)
    pd.testing.assert_frame_equal(_comparable(published), _comparable(local_reference))
    for rel in published.loc[published["status"] == DONE, "path"]:
        assert (remote / rel).is_file()
