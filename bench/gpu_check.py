"""The GPU figures of docs/scaling.md, measured on whatever machine runs this (see gpu_check.sh).

Offline, project files only: media are the shared test clips (looped) and generated sources,
models the shared test folder (BlazeFace, YAMNet, AudioSet labels) plus a SyncNet with random
values in the official layout when the real weights are absent (timing only: a forward pass
costs the same). Figures:

1. annotate end to end (``run_annotate``, local executor: one worker pinned per visible GPU):
   video-seconds per wall-second per GPU (x real time), GPU-seconds per video-hour;
2. preprocess ``--hwaccel cuda`` against the CPU path and against a bare GPU decode
   (``ffmpeg -hwaccel cuda -f null``), with the fallback lines and the clip sizes;
3. per-model throughput (``bench/models_throughput.py --device cuda --quick``).

    PYTHONPATH=. python bench/gpu_check.py [--device cpu] [--seconds 60] [--out FILE]

``--device cpu`` is a smoke run of the same code on a machine without a GPU.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

LINES: list[str] = []


def say(line: str = "") -> None:
    print(line, flush=True)
    LINES.append(line)


def machine() -> str:
    gpu = "none"
    if shutil.which("nvidia-smi"):
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"], capture_output=True, text=True)
        gpu = "; ".join(x.strip() for x in out.stdout.strip().splitlines()) or "nvidia-smi gave nothing"
    load = os.getloadavg()
    return f"{platform.node()} | {os.cpu_count()} CPUs | GPU: {gpu} | load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"


def models_folder(work: Path) -> tuple[Path, str]:
    from realsync_build import testdata

    base = testdata.testdata_dir()
    if base is None or not (base / "models").is_dir():
        raise SystemExit("the shared test folder (testdata/models) is needed: set REALSYNC_TESTDATA")
    models = work / "models"
    models.mkdir(parents=True, exist_ok=True)
    for sub in ("blazeface", "yamnet", "audioset"):
        if not (models / sub).exists():
            (models / sub).symlink_to(base / "models" / sub)
    real = base / "models" / "syncnet" / "syncnet_v2.model"
    note = "SyncNet: real weights"
    if real.is_file():
        (models / "syncnet").mkdir(exist_ok=True)
        if not (models / "syncnet" / "syncnet_v2.model").exists():
            (models / "syncnet" / "syncnet_v2.model").symlink_to(real)
    else:
        from realsync_build.testdata import random_syncnet_checkpoint

        random_syncnet_checkpoint(models / "syncnet" / "syncnet_v2.model", base / "models" / "syncnet" / "syncnet_v2_layout.json")
        note = "SyncNet: official layout, random values (timing only)"
    return models, note


def talking_source(work: Path, seconds: int) -> Path:
    """The shared TED clip (a talking head) looped to ``seconds``."""
    from realsync_build import testdata
    from realsync_build.media.ffmpeg import run_ffmpeg

    ted = testdata.testdata_file(testdata.TED)
    if ted is None:
        raise SystemExit("the shared TED clip is needed: set REALSYNC_TESTDATA")
    out = work / "sources" / "ted" / "ted_loop.mp4"
    out.parent.mkdir(parents=True, exist_ok=True)
    if not out.exists():
        run_ffmpeg(["-stream_loop", "-1", "-i", str(ted), "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", str(out)])
    return out


def check_annotate(work: Path, seconds: int, device: str) -> None:
    from realsync_build.core.executors.devices import visible_gpus
    from realsync_build.core.root import DatasetRoot
    from realsync_build.core.stage import RunOptions
    from realsync_build.stages.annotate.config import AnnotateConfig
    from realsync_build.stages.annotate.run import run_annotate
    from realsync_build.stages.preprocess import PreprocessConfig, run_preprocess

    models, note = models_folder(work)
    talking_source(work, seconds)
    root = DatasetRoot(work / "annotate_root")
    if root.root.exists():
        shutil.rmtree(root.root)
    rep = run_preprocess(root, work / "sources", PreprocessConfig(clip_seconds=15), RunOptions(progress=False))
    n_gpus = visible_gpus() if device != "cpu" else 0
    say(f"## annotate (BlazeFace back + SyncNet + YAMNet; {note}) on {seconds} s of a talking head, {rep.done} clips of 15 s")
    for name, cfg in (("blazeface-back + syncnet + yamnet", AnnotateConfig(face_detector="blazeface-back", events="yamnet", device="auto" if device != "cpu" else "cpu")),):
        r = DatasetRoot(work / "annotate_run")
        if r.root.exists():
            shutil.rmtree(r.root)
        shutil.copytree(root.root, r.root, symlinks=True)
        (r.root / "manifests" / "annotations.parquet").unlink(missing_ok=True)
        t0 = time.perf_counter()
        report, _ = run_annotate(r, cfg, RunOptions(progress=False), models_dir=models)
        wall = time.perf_counter() - t0
        media = report.media_s
        per = max(1, n_gpus)
        x = media / (wall * per) if wall > 0 else float("nan")
        say(f"annotate | {name} | devices {n_gpus or 'cpu'} | {media:.0f} video-s in {wall:.1f} s wall (models loaded once per worker, included) "
            f"| {x:.1f}x real time per {'GPU' if n_gpus else 'process'} | {3600 / x:.0f} {'GPU' if n_gpus else 'wall'}-s per video-hour | done {report.done} failed {report.failed}")
    say("annotate | sfd / panns | n/a here: S3FD and PANNs weights are not in the offline test folder (bench/models_throughput.py times them with random values)")


def check_preprocess(work: Path, seconds: int) -> None:
    from realsync_build.core.root import DatasetRoot
    from realsync_build.core.stage import RunOptions
    from realsync_build.media.ffmpeg import run_ffmpeg
    from realsync_build.media.hwaccel import hw_plan
    from realsync_build.media.synth import make_source
    from realsync_build.stages.preprocess import PreprocessConfig, run_preprocess

    src = work / "pp_sources" / "synth" / "src720.mp4"
    if not src.exists():
        make_source(src, float(seconds), width=1280, height=720)
    plan = hw_plan("cuda")
    clip_s = min(60, max(2, seconds // 2))
    say(f"## preprocess on a {seconds} s 720p30 generated source ({clip_s} s clips)")
    say(f"hwaccel cuda plan: decode={plan.decode} scale={plan.scale} encode={plan.encode}")
    for n in plan.notes:
        say(n)
    for mode in ("none", "cuda"):
        root = DatasetRoot(work / f"pp_{mode}")
        if root.root.exists():
            shutil.rmtree(root.root)
        t0 = time.perf_counter()
        rep = run_preprocess(root, work / "pp_sources", PreprocessConfig(clip_seconds=clip_s, hwaccel=mode), RunOptions(progress=False, executor="inline"))
        wall = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in (root.root / "clips").rglob("*.mp4"))
        media = rep.media_s or float("nan")
        say(f"preprocess | --hwaccel {mode} | {media / wall:.2f}x real time ({media:.0f} s of clips) | {size / 2**20:.2f} MiB of clips | done {rep.done} failed {rep.failed}")
    for label, args in (
        ("decode only, CPU", ["-i", str(src), "-f", "null", "-"]),
        ("decode only, GPU (NVDEC)", ["-hwaccel", "cuda", "-hwaccel_output_format", "cuda", "-i", str(src), "-f", "null", "-"]),
    ):
        t0 = time.perf_counter()
        try:
            run_ffmpeg(args)
            say(f"preprocess | {label} | {seconds / (time.perf_counter() - t0):.2f}x real time")
        except Exception as exc:  # noqa: BLE001 - no NVDEC here: say so
            say(f"preprocess | {label} | n/a ({str(exc)[:120]})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda", help="cuda (default) or cpu for a smoke run")
    ap.add_argument("--seconds", type=int, default=60, help="video seconds per check")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "realsync-gpu-check")
    ap.add_argument("--out", type=Path, default=Path("bench/out/gpu_check.md"))
    ap.add_argument("--skip", default="", help="comma list of parts to skip: annotate, preprocess, models")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    args.workdir.mkdir(parents=True, exist_ok=True)
    say(f"# gpu_check {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC")
    say(f"machine: {machine()}")
    for part, fn in (("annotate", lambda: check_annotate(args.workdir, args.seconds, args.device)), ("preprocess", lambda: check_preprocess(args.workdir, args.seconds))):
        if part in skip:
            continue
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - one part failing must not hide the others
            say(f"{part} | failed: {type(exc).__name__}: {str(exc)[:200]}")
    if "models" not in skip:
        say(f"## per-model throughput (bench/models_throughput.py --device {args.device} --quick)")
        here = Path(__file__).resolve().parent
        proc = subprocess.run([sys.executable, str(here / "models_throughput.py"), "--device", args.device, "--quick"], capture_output=True, text=True, timeout=240)
        for line in (proc.stdout + proc.stderr).strip().splitlines()[-25:]:
            say(line)
    say("train windows/s, evaluate ms/iteration on GPU: n/a (bench/train.py measures on CPU only; not wired to a GPU yet)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(LINES) + "\n")
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
