"""Benchmark: split + segments, StreamSync lists, stats and WebDataset export at dataset scale.

Builds (in a temp folder) a RealSync-shaped root without media decoding: --channels
channels of --videos videos with 1..12 clips of 300 s each, annotations for every
clip (two intervals, events every --event-hop seconds), then times

  split       realsync split (video split, checks, dev/test segments with scenario/events)
  streamsync  realsync export streamsync (dev + test lists)
  stats       realsync stats (tables, three PNGs, index.html)
  webdataset  realsync export webdataset over --shard-clips clips whose mp4 are
              --mp4-mb MB of random bytes (export copies bytes; it never decodes)

and prints seconds and rates.  Usage: python bench/split_export.py [--videos 60]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from realsync_build.core import manifest  # noqa: E402
from realsync_build.stages.export.streamsync import run_export_streamsync  # noqa: E402
from realsync_build.stages.export.webdataset import WebDatasetConfig, run_export_webdataset  # noqa: E402
from realsync_build.core.root import DatasetRoot  # noqa: E402
from realsync_build.core.clipview import read_clips  # noqa: E402
from realsync_build.stages.split.run import SplitConfig, run_split  # noqa: E402
from realsync_build.stages.stats import run_stats  # noqa: E402

LABELS = ["Speech", "Music", "Crowd", "Cheering", "Applause", "Whistle", "Narration", "Vehicle", "Bat", "Ball"] * 6


def build(root: DatasetRoot, channels: int, videos: int, event_hop: float, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    clips = []
    for c in range(channels):
        for v in range(videos):
            vid = f"ch{c}-video_{v:04d}"
            for i in range(int(rng.integers(1, 13))):
                a, b = 300 * i, 300 * (i + 1)
                clips.append({"clip_id": f"{vid}_{a}_{b}", "video_id": vid, "channel": f"channel{c}", "category": "sports",
                              "start_s": float(a), "end_s": float(b), "path": f"clips/channel{c}/{vid}/{vid}_{a}_{b}.mp4",
                              "n_frames": 7500, "fps": 25.0, "sample_rate": 16000, "size_bytes": 1, "status": "done"})  # fmt: skip
    clips = pd.DataFrame(clips)
    manifest.write_named(root, "clips", clips)
    n = len(clips)
    ids = clips["clip_id"].to_numpy()
    manifest.write_named(root, "annotations", pd.DataFrame({
        "clip_id": ids, "t_th_s": rng.uniform(0, 150, n), "t_vo_s": rng.uniform(0, 80, n),
        "suspect_sync": rng.random(n) < 0.02, "status": "done"}))  # fmt: skip
    th_end = rng.uniform(20, 200, n)
    iv = pd.concat([
        pd.DataFrame({"clip_id": ids, "start_s": 0.0, "end_s": th_end, "label": "talking_head"}),
        pd.DataFrame({"clip_id": ids, "start_s": th_end, "end_s": th_end + 60, "label": "voice_over"}),
    ])  # fmt: skip
    manifest.write_named(root, "intervals", iv)
    starts = np.arange(0, 300, event_hop)
    ev = pd.DataFrame({
        "clip_id": np.repeat(ids, len(starts)), "start_s": np.tile(starts, n), "end_s": np.tile(starts, n) + 2 * event_hop,
        "label": rng.choice(LABELS, n * len(starts)), "score": rng.uniform(0.2, 1.0, n * len(starts))})  # fmt: skip
    manifest.write_named(root, "events", ev)
    return clips


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--channels", type=int, default=9)
    ap.add_argument("--videos", type=int, default=60, help="videos per channel")
    ap.add_argument("--event-hop", type=float, default=5.0)
    ap.add_argument("--shard-clips", type=int, default=60)
    ap.add_argument("--mp4-mb", type=float, default=4.0)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="realsync-bench-"))
    try:
        root = DatasetRoot(tmp / "root")
        clips = build(root, args.channels, args.videos, args.event_hop)
        n_ev = len(manifest.read_named(root, "events"))
        hours = float((clips["end_s"] - clips["start_s"]).sum()) / 3600
        print(f"dataset: {args.channels} channels, {clips['video_id'].nunique()} videos, {len(clips)} clips, {hours:.0f} h, {n_ev} event rows")
        t, res = timed(lambda: run_split(root, SplitConfig(seed=0, exclude_suspect_sync=True)))
        print(f"split       {t:6.2f} s  ({len(res.segments)} segments, {len(res.segments) / t:.0f} segments/s)")
        t, _ = timed(lambda: run_export_streamsync(root, tmp / "lists"))
        print(f"streamsync  {t:6.2f} s")
        t, _ = timed(lambda: run_stats(root))
        print(f"stats       {t:6.2f} s")

        # WebDataset export on a subset with real bytes on disk
        sub = DatasetRoot(tmp / "wds")
        placed = read_clips(root).dropna(subset=["split"])  # split's assignment joined in
        pick = pd.concat([placed[placed["split"] != "train"].head(args.shard_clips // 3), placed[placed["split"] == "train"]]).head(args.shard_clips)
        keep_videos = set(pick["video_id"])
        subclips = manifest.read_named(root, "clips")
        subclips = subclips[subclips["video_id"].isin(keep_videos) & subclips["clip_id"].isin(set(placed["clip_id"]))]  # not the suspect ones
        rng = np.random.default_rng(1)
        blob = rng.integers(0, 256, int(args.mp4_mb * 1e6), dtype=np.uint8).tobytes()
        for p in subclips["path"]:
            f = sub.root / p
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_bytes(blob)
        import hashlib

        subclips = subclips.assign(size_bytes=len(blob), sha256=hashlib.sha256(blob).hexdigest())  # export checks it
        manifest.write_named(sub, "clips", subclips)
        for name in ("splits", "segments", "clip_splits"):
            df = manifest.read_named(root, name)
            manifest.write_named(sub, name, df[df["video_id"].isin(keep_videos)])
        total_mb = len(subclips) * len(blob) / 1e6
        t, rep = timed(lambda: run_export_webdataset(sub, WebDatasetConfig(shard_bytes=int(100e6)), progress=False))
        print(f"webdataset  {t:6.2f} s  ({rep.samples} clips, {len(rep.shard_paths)} shards, {total_mb / t:.0f} MB/s)")
        t, rep = timed(lambda: run_export_webdataset(sub, WebDatasetConfig(shard_bytes=int(100e6)), progress=False))
        print(f"  rerun     {t:6.2f} s  ({rep.shards_kept} shards unchanged, {rep.shards_written} rewritten)")
        # the same export with the sha256 check taken out (what it cost before issue 23): copy only
        import realsync_build.stages.export.webdataset as wds

        class _CopyOnly(wds._Hashing):
            def read(self, size: int = -1) -> bytes:
                return self.fh.read(size)

        real = wds._Hashing
        sub2 = DatasetRoot(tmp / "wds-nohash")
        shutil.copytree(sub.root, sub2.root, ignore=shutil.ignore_patterns("shards", "stages.json"))
        sub2.remove("manifests/shards.parquet")
        wds._Hashing = _CopyOnly
        subclips2 = manifest.read_named(sub2, "clips").assign(sha256=None)
        manifest.write_named(sub2, "clips", subclips2)
        try:
            t2, _ = timed(lambda: run_export_webdataset(sub2, WebDatasetConfig(shard_bytes=int(100e6)), progress=False))
        finally:
            wds._Hashing = real
        print(f"  no hash   {t2:6.2f} s  ({total_mb / t2:.0f} MB/s: the same export without the sha256 check)")
        print(f"cores: {os.cpu_count()}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
