"""Annotate's execution resources, on CPU with CUDA mocked where torch reports devices.

- the Ray task options that are *submitted* (a recording stand-in for the ``ray`` module):
  a 0.25 GPU share by default on a cluster with GPUs, none on a CPU cluster, --gpus-per-task wins;
- the local pool: one worker per visible GPU, each worker process pinned to its own device;
- batch sizes from the device's free memory; threads from the worker's own cores;
- the models folder travels in the task (no os.environ);
- decode prefetch keeps order and errors;
- ``preprocess --hwaccel cuda`` without a CUDA device: one line per part that falls back, and
  the clips are byte for byte those of the CPU path.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from realsync_build.core.executors import devices as dev
from realsync_build.core.executors import ray as ray_exec
from realsync_build.core.executors.base import Resources
from realsync_build.core.executors.local import LocalExecutor
from realsync_build.core.stage import RunOptions
from realsync_build.stages.annotate.config import AnnotateConfig
from realsync_build.stages.annotate.run import local_devices, task_resources

GiB = 2**30


@pytest.fixture
def two_gpus(monkeypatch):
    """torch says two CUDA devices with 8 GiB free each (nothing else is touched)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (8 * GiB, 80 * GiB))


# ---------------------------------------------------------------- Ray options submitted


class _Task:
    def __init__(self, fake, options):
        self.fake, self.options_used = fake, options

    def remote(self, fn_ref, item):
        self.fake.submitted.append(self.options_used)
        ref = object()
        self.fake.results[ref] = fn_ref(item)
        return ref


class _Remote:
    def __init__(self, fake):
        self.fake = fake

    def options(self, **opts):
        return _Task(self.fake, opts)


class FakeRay:
    """Just enough of ``ray`` for RayExecutor: records the options of every submitted task."""

    class exceptions:  # noqa: N801 - mirrors ray.exceptions
        RayError = RuntimeError

    def __init__(self, gpus_per_node: float):
        self.gpus = gpus_per_node
        self.submitted: list[dict] = []
        self.results: dict = {}

    def is_initialized(self):
        return True

    def nodes(self):
        return [{"Alive": True, "Resources": {"CPU": 16.0, "GPU": self.gpus}} for _ in range(2)]

    def cluster_resources(self):
        return {"CPU": 32.0, "GPU": 2 * self.gpus}

    def remote(self, fn):
        return _Remote(self)

    def put(self, fn):
        return lambda item: (fn(item), None, None)  # the task body's (result, error, detail)

    def wait(self, refs, num_returns=1):
        return refs[:num_returns], refs[num_returns:]

    def get(self, ref):
        return self.results.pop(ref)


def _submitted(monkeypatch, gpus_per_node: float, cfg: AnnotateConfig) -> list[dict]:
    fake = FakeRay(gpus_per_node)
    monkeypatch.setattr(ray_exec, "import_ray", lambda: fake)
    ex = ray_exec.RayExecutor(address="auto")
    out = list(ex.imap(abs, [-1, -2, -3], task_resources(cfg)))
    assert sorted(r for _, r, _ in out) == [1, 2, 3]
    assert len(fake.submitted) == 3
    return fake.submitted


def test_ray_asks_a_quarter_gpu_per_clip_task_on_a_gpu_cluster(monkeypatch):
    opts = _submitted(monkeypatch, 4.0, AnnotateConfig())
    assert all(o["num_gpus"] == 0.25 and o["num_cpus"] == 1.0 for o in opts)


def test_ray_asks_no_gpu_on_a_cpu_cluster(monkeypatch):
    opts = _submitted(monkeypatch, 0.0, AnnotateConfig())
    assert all("num_gpus" not in o and o["num_cpus"] == 1.0 for o in opts)


def test_gpus_per_task_option_wins(monkeypatch):
    assert {o["num_gpus"] for o in _submitted(monkeypatch, 4.0, AnnotateConfig(gpus_per_task=0.5))} == {0.5}
    assert all("num_gpus" not in o for o in _submitted(monkeypatch, 4.0, AnnotateConfig(gpus_per_task=0.0)))
    assert all("num_gpus" not in o for o in _submitted(monkeypatch, 4.0, AnnotateConfig(device="cpu")))
    with pytest.raises(ValueError, match="gpus-per-task"):
        AnnotateConfig(gpus_per_task=-1).validate()


def test_annotate_help_lists_the_gpu_share():
    from typer.testing import CliRunner

    from realsync_build.cli import app

    out = CliRunner().invoke(app, ["annotate", "--help"], env={"COLUMNS": "200"}).output
    assert "--gpus-per-task" in out and "0.25" in out and "--models-dir" in out


# ---------------------------------------------------------------- local: one pinned worker per GPU


def test_one_local_worker_per_visible_gpu(two_gpus):
    opts = local_devices(AnnotateConfig(), RunOptions())
    assert opts.workers == 2 and opts.devices == ("cuda:0", "cuda:1")
    assert local_devices(AnnotateConfig(device="cpu"), RunOptions()).devices is None
    assert local_devices(AnnotateConfig(), RunOptions(executor="ray")).devices is None
    shared = local_devices(AnnotateConfig(), RunOptions(workers=4))
    assert shared.devices == ("cuda:0", "cuda:1", "cuda:0", "cuda:1")


def test_no_gpu_keeps_the_cpu_pool():
    assert dev.visible_gpus() == 0  # this machine: the tests run on CPU
    assert local_devices(AnnotateConfig(), RunOptions()).devices is None


def test_each_worker_process_is_pinned_to_its_own_device():
    ex = LocalExecutor(devices=["cuda:0", "cuda:1"])
    reports = [r for _, r, err in ex.imap(dev.worker_report, list(range(6))) if err is None]
    assert len(reports) == 6
    by_pid: dict[int, set] = {}
    for r in reports:
        by_pid.setdefault(r["pid"], set()).add(r["device"])
    assert all(len(d) == 1 for d in by_pid.values())  # a worker never changes device
    assert sorted(d for ds in by_pid.values() for d in ds) == ["cuda:0", "cuda:1"]  # one worker per device
    assert os.getpid() not in by_pid and dev.pinned_device() is None


def test_task_device_follows_the_pin():
    dev.set_pinned("cuda:1")
    try:
        assert dev.task_device("auto") == "cuda:1" and dev.task_device("cuda") == "cuda:1"
        assert dev.task_device("cpu") == "cpu" and dev.task_device("cuda:0") == "cuda:0"
    finally:
        dev.set_pinned(None)
    assert dev.task_device("auto") == "auto"


# ---------------------------------------------------------------- batches, threads, models folder


def test_batch_sizes_come_from_free_gpu_memory(two_gpus, monkeypatch):
    from realsync_build.stages.annotate.clip import resolve_batches

    cpu = resolve_batches(AnnotateConfig(), "cpu")
    assert (cpu.face_batch, cpu.sync_batch, cpu.event_batch) == (16, 32, 8)
    gpu = resolve_batches(AnnotateConfig(face_detector="sfd"), "cuda:1")
    assert gpu.face_batch == (4 * GiB) // (160 * 2**20) == 25  # half of 8 GiB free at 160 MiB per frame
    assert gpu.sync_batch == (4 * GiB) // (48 * 2**20) and gpu.event_batch == 64  # capped
    assert resolve_batches(AnnotateConfig(face_batch=7), "cuda:0").face_batch == 7  # an explicit size wins
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (200 * 2**20, 80 * GiB))
    assert resolve_batches(AnnotateConfig(face_detector="sfd"), "cuda:0").face_batch == 1  # nearly full GPU


def test_threads_are_decided_on_the_worker(monkeypatch):
    monkeypatch.setattr(dev, "machine_cores", lambda: 32)
    assert dev.worker_threads(0, 4) == 8 and dev.worker_threads(3, 4) == 3 and dev.worker_threads(0, 64) == 1
    monkeypatch.setattr(dev, "ray_assigned_cpus", lambda: 2.0)
    assert dev.worker_threads(0, 4) == 2  # a Ray task: the CPUs Ray gave it, whatever the driver had


def test_models_folder_travels_in_the_task(tmp_path, monkeypatch):
    from realsync_build.stages.annotate.clip import task_models_dir

    monkeypatch.delenv("REALSYNC_MODELS_DIR", raising=False)
    given = tmp_path / "driver_models"
    given.mkdir()
    root = tmp_path / "root"
    assert task_models_dir({"models_dir": str(given), "root": str(root)}) == given
    # a remote node without the driver's folder: the root's copy, else its own cache (None)
    assert task_models_dir({"models_dir": "/nowhere/models", "root": str(root)}) is None
    (root / "models").mkdir(parents=True)
    assert task_models_dir({"models_dir": "/nowhere/models", "root": str(root)}) == root / "models"
    import inspect

    from realsync_build import demo

    assert "os.environ[" not in inspect.getsource(demo.step_annotate)


# ---------------------------------------------------------------- decode prefetch


def test_prefetch_keeps_order_and_raises_where_the_decoder_did():
    from realsync_build.stages.annotate.decode import prefetch

    assert list(prefetch(iter(range(100)), 4)) == list(range(100))
    assert list(prefetch(iter(range(5)), 0)) == list(range(5))

    def broken():
        yield 1
        raise ValueError("bad frame")

    got = []
    with pytest.raises(ValueError, match="bad frame"):
        for x in prefetch(broken(), 2):
            got.append(x)
    assert got == [1]
    it = prefetch(iter(range(10**6)), 3)
    assert next(it) == 0
    it.close()  # the consumer stops early: the decode thread ends


# ---------------------------------------------------------------- preprocess --hwaccel cuda


def test_hwaccel_plan_on_an_h200_like_gpu(monkeypatch):
    """NVDEC and scale_cuda work, NVENC does not: decode+scale on the GPU, libx264 encodes."""
    from realsync_build.media import hwaccel as hw

    monkeypatch.setattr(hw, "ffmpeg_caps", lambda: {"cuda": True, "scale_cuda": True, "h264_nvenc": True})
    monkeypatch.setattr(hw, "_probe_device", lambda: (True, ""))
    monkeypatch.setattr(hw, "_probe_decode", lambda sample, scale: (True, ""))
    monkeypatch.setattr(hw, "_probe_nvenc", lambda: (False, "OpenEncodeSessionEx failed: unsupported device"))
    hw.hw_plan.cache_clear()
    try:
        plan = hw.hw_plan("cuda")
    finally:
        hw.hw_plan.cache_clear()
    assert (plan.decode, plan.scale, plan.encode) == ("cuda", "cuda", "libx264")
    assert len(plan.notes) == 1 and "encode falls back to libx264" in plan.notes[0] and "NVENC" in plan.notes[0]

    from realsync_build.stages.preprocess.run import ClipPlan, PreprocessConfig, build_ffmpeg_args

    args = build_ffmpeg_args(Path("s.mp4"), [ClipPlan(0, 2)], [Path("o.mp4")], PreprocessConfig(), 2, hw=plan)
    graph = args[args.index("-filter_complex") + 1]
    assert args[args.index("-hwaccel") + 1] == "cuda" and "-hwaccel_output_format" in args
    assert "scale_cuda=" in graph and "hwdownload,format=yuv420p" in graph and "libx264" in args
    full = hw.HwPlan(decode="cuda", scale="cuda", encode="h264_nvenc")
    args = build_ffmpeg_args(Path("s.mp4"), [ClipPlan(0, 2)], [Path("o.mp4")], PreprocessConfig(), 2, hw=full)
    assert "h264_nvenc" in args and args[args.index("-profile:v") + 1] == "high" and args[args.index("-cq") + 1] == "19"
    assert "hwdownload" not in args[args.index("-filter_complex") + 1]


def test_hwaccel_without_a_gpu_falls_back_with_one_line_per_part_and_identical_clips(tmp_path, capsys):
    from realsync_build.core import manifest
    from realsync_build.core.root import DatasetRoot
    from realsync_build.core.schema import CLIPS
    from realsync_build.media.hwaccel import hw_plan
    from realsync_build.media.synth import make_source
    from realsync_build.stages.preprocess import PreprocessConfig, run_preprocess

    plan = hw_plan("cuda")
    assert plan.all_cpu and len(plan.notes) == 2
    assert plan.notes[0].startswith("--hwaccel cuda: decode and scale fall back to the CPU (")
    assert plan.notes[1].startswith("--hwaccel cuda: encode falls back to libx264 (")
    src = tmp_path / "src" / "chan"
    make_source(src / "v.mp4", 2.0, width=320, height=180)
    bytes_by_mode = {}
    for mode in ("none", "cuda"):
        root = DatasetRoot(tmp_path / mode)
        cfg = PreprocessConfig(clip_seconds=2, preset="ultrafast", hwaccel=mode)
        rep = run_preprocess(root, tmp_path / "src", cfg, RunOptions(workers=1, progress=False, executor="inline"))
        assert rep.done == 1
        rel = manifest.read(root.manifest("clips"), CLIPS)["path"].iloc[0]
        bytes_by_mode[mode] = (root.root / rel).read_bytes()
    assert bytes_by_mode["none"] == bytes_by_mode["cuda"]
    cap = capsys.readouterr()
    out = cap.out + cap.err
    assert out.count("--hwaccel cuda:") == 2  # once per part that fell back, printed by the driver
