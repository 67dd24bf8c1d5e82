"""Benchmark of ``realsync fetch`` without the internet: selection speed and per-video cost.

Serves generated media from the loopback site of the tests (tests/fetch_support.py)
and fetches a channel of N videos with 1 and 2 workers.  What it measures is the
fixed cost per video (a YoutubeDL instance, extraction, merge-free download, PyAV
probe, atomic rename, manifest write) -- real downloads are bound by the network.

    PYTHONPATH=$PWD python bench/fetch_loopback.py [--videos 8]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import fetch_support as fs  # noqa: E402

from realsync_build.core.channels import Channel  # noqa: E402
from realsync_build.stages.fetch import FetchConfig, run_fetch  # noqa: E402
from realsync_build.stages.fetch.select import Rules, seeded_order  # noqa: E402
from realsync_build.core.root import DatasetRoot  # noqa: E402
from realsync_build.core.stage import RunOptions  # noqa: E402


def bench_rules(n: int = 200_000) -> None:
    rules = Rules()
    infos = [dict(id=f"v{i}", duration=600 + i % 3000, height=(480, 720, 1080)[i % 3], tbr=200 + i % 4000, live_status="not_live") for i in range(1000)]
    t = time.perf_counter()
    for i in range(n):
        rules.check(infos[i % 1000])
    dt = time.perf_counter() - t
    print(f"rules.check: {n / dt:,.0f} videos/s ({dt / n * 1e6:.2f} us each)")
    ids = [f"id{i:07d}" for i in range(100_000)]
    t = time.perf_counter()
    seeded_order(ids, 0, "CNN")
    print(f"seeded_order of 100,000 ids: {time.perf_counter() - t:.3f} s")


def bench_fetch(n_videos: int, duration_s: float) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="fetch-bench-"))
    try:
        media = fs.make_media(tmp / "media", duration_s=duration_s)
        site = fs.LoopbackSite(media)
        for i in range(n_videos):
            site.add_video("bench", f"b{i:03d}", duration=duration_s)
        size_mb = len(site.files["b000.mp4"]) / 1e6
        cfg = FetchConfig(min_minutes=0.0, retries=0, backoff_s=0.0, extractors=fs.EXTRACTORS)
        for workers in (1, 2):
            root = DatasetRoot(tmp / f"root{workers}")
            root.root.mkdir()
            t = time.perf_counter()
            report = run_fetch(root, cfg, channels=[Channel("bench", site.channel_url("bench"), "news")],
                               options=RunOptions(workers=workers, progress=False))  # fmt: skip
            dt = time.perf_counter() - t
            stage = report.stage
            print(
                f"fetch {n_videos} x {size_mb:.2f} MB ({duration_s:g} s each), workers={workers}: {dt:.1f} s total, "
                f"download phase {stage.elapsed_s:.1f} s = {stage.elapsed_s / n_videos:.2f} s/video, "
                f"{n_videos * size_mb / stage.elapsed_s:.1f} MB/s; {stage.done} done, {stage.failed} failed"
            )
        site.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=8)
    ap.add_argument("--duration", type=float, default=10.0)
    args = ap.parse_args()
    bench_rules()
    bench_fetch(args.videos, args.duration)


if __name__ == "__main__":
    main()
