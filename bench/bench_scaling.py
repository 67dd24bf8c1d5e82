"""Cost model for docs/scaling.md: preprocess seconds per video-hour on this machine.

Generates one 720p30 source (H.264 + AAC stereo 44.1 kHz, speech-like audio) of
``--minutes`` minutes, then runs ``preprocess`` on it with each executor asked
for and prints wall seconds and CPU seconds per hour of video (CPU from
``getrusage(RUSAGE_CHILDREN)``: ffmpeg and pool workers, not Ray's workers,
which are the raylet's children), the load average, and the extrapolation to
927 h and 9270 h.

    python bench/bench_scaling.py --minutes 3 --executors inline,local,ray
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

from realsync_build.media.synth import make_source
from realsync_build.core.root import DatasetRoot
from realsync_build.stages.preprocess import PreprocessConfig, run_preprocess
from realsync_build.core.stage import RunOptions

REALSYNC_HOURS = 927.0


def children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--clip-seconds", type=int, default=60)
    ap.add_argument("--executors", default="inline,local,ray")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--keep", type=Path, default=None, help="reuse/keep the generated source here")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="realsync-bench-"))
    src_dir = args.keep or (work / "src")
    src = src_dir / "bench" / "src720p30.mp4"
    if not src.exists():
        t = time.monotonic()
        make_source(src, args.minutes * 60, width=1280, height=720, fps="30", preset="veryfast")
        print(f"generated {args.minutes:g} min 720p30 source in {time.monotonic() - t:.1f} s ({src.stat().st_size / 1e6:.1f} MB)")
    cores = len(os.sched_getaffinity(0))
    print(f"cores={cores} load_avg_1m_before={os.getloadavg()[0]:.1f}")
    print(f"{'executor':8} {'media_h':>8} {'wall_s':>8} {'wall_s/h':>9} {'cpu_s/h':>9} {'x_rt':>6} {'load':>5}")
    for name in [e for e in args.executors.split(",") if e]:
        root = DatasetRoot(work / f"root-{name}")
        cfg = PreprocessConfig(clip_seconds=args.clip_seconds)
        cpu0, t0 = children_cpu(), time.monotonic()
        report = run_preprocess(root, src_dir, cfg, RunOptions(workers=args.workers, executor=name, progress=False))
        wall, cpu = time.monotonic() - t0, children_cpu() - cpu0
        hours = report.media_s / 3600
        if not hours:
            print(f"{name:8} failed: {report.errors[:1]}")
            continue
        cpu_txt = f"{cpu / hours:9.0f}" if name != "ray" else f"{'n/a':>9}"
        print(f"{name:8} {hours:8.4f} {wall:8.1f} {wall / hours:9.0f} {cpu_txt} {report.media_s / wall:6.1f} {os.getloadavg()[0]:5.1f}")
        if name != "ray":
            per_h = cpu / hours
            for total in (REALSYNC_HOURS, 10 * REALSYNC_HOURS):
                print(f"    {total:6.0f} h: {per_h * total / 3600:8.0f} core-hours = {per_h * total / 3600 / cores:6.0f} h on {cores} cores, "
                      f"{per_h * total / 3600 / 256:5.1f} h on 256 cores")


if __name__ == "__main__":
    main()
