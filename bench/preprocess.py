"""Benchmark: realsync preprocess vs decode-only vs a StreamSync-style two-pass baseline.

Generates (once, cached in bench/out/) a 720p30 H.264 High + AAC stereo 44.1 kHz
source of --minutes (default 10), then measures in one run:

  decode   ffmpeg decodes the source to the null muxer (the floor for any transcoder)
  realsync `realsync preprocess` (one decode, all clips, validated), CRF 18
  baseline the StreamSync scripts' way: transcode the whole video at CRF 10
           (their settings, ffmpeg's default preset), then cut each 5-minute clip
           by re-encoding it

and prints wall times, ratios and output size per hour of video.
Usage: python bench/preprocess.py [--minutes 10] [--clip-seconds 300]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from realsync_build.media.ffmpeg import ffmpeg_exe, run_ffmpeg  # noqa: E402
from realsync_build.media.probe import probe_source  # noqa: E402
from realsync_build.media.synth import make_source  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def source(minutes: float) -> Path:
    path = OUT / f"source_720p30_{minutes:g}min.mp4"
    if not path.exists():
        print(f"generating {path.name} (once) ...", flush=True)
        tmp = path.with_name(".gen-" + path.name)
        # veryfast + High profile: a broadcast-like stream (CABAC, B-frames), not the trivially decodable ultrafast
        make_source(tmp, minutes * 60, width=1280, height=720, fps="30", preset="veryfast", crf=23,
                    events=[], extra_args=["-profile:v", "high", "-g", "60"])  # fmt: skip
        os.replace(tmp, path)
    return path


def decode_only(src: Path) -> None:
    run_ffmpeg(["-threads", "0", "-i", src, "-f", "null", "-"])


def realsync(src: Path, root: Path, clip_s: int) -> None:
    inp = root / "in" / "bench"
    inp.mkdir(parents=True)
    (inp / src.name).symlink_to(src)
    cmd = [sys.executable, "-m", "realsync_build", "preprocess", "--root", str(root), "--input", str(root / "in"),
           "--clip-seconds", str(clip_s), "--workers", "1", "--no-progress", "--strict"]  # fmt: skip
    subprocess.run(cmd, check=True, env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent)))


# The StreamSync/SparseSync re-encode settings (scripts/reencode_videos.py): fps, shorter side
# 256 with even crop, h264 yuv420p CRF 10 with ffmpeg's default preset (they set none), AAC 16 kHz mono.
_BASELINE_VF = "fps=25,scale=iw*256/'min(iw,ih)':ih*256/'min(iw,ih)',crop='trunc(iw/2)'*2:'trunc(ih/2)'*2"
_BASELINE_CODECS = ["-vcodec", "h264", "-pix_fmt", "yuv420p", "-crf", "10", "-acodec", "aac", "-ar", "16000", "-ac", "1"]


def baseline(src: Path, work: Path, clip_s: int, duration_s: float) -> list[Path]:
    """Two passes, as in the StreamSync preprocessing scripts: the whole video, then each clip re-encoded."""
    full = work / "full.mp4"
    run_ffmpeg(["-i", src, "-max_muxing_queue_size", "2048", "-vf", _BASELINE_VF, *_BASELINE_CODECS, full])
    outs = []
    for i in range(int(duration_s // clip_s)):
        out = work / f"clip_{i}.mp4"
        run_ffmpeg(["-ss", str(i * clip_s), "-t", str(clip_s), "-i", full, *_BASELINE_CODECS, out])
        outs.append(out)
    return outs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--clip-seconds", type=int, default=300)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    src = source(args.minutes)
    info = probe_source(src)
    hours = info.duration_s / 3600
    print(f"ffmpeg: {ffmpeg_exe()}\nsource: {src.name}, {info.duration_s:.0f} s, {info.width}x{info.height} @ {info.fps:g} fps, "
          f"{os.cpu_count()} cores")  # fmt: skip
    t_decode = timed(lambda: decode_only(src))
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        root = Path(tmp) / "root"
        t_rs = timed(lambda: realsync(src, root, args.clip_seconds))
        rs_bytes = sum(p.stat().st_size for p in (root / "clips").rglob("*.mp4"))
        work = Path(tmp) / "baseline"
        work.mkdir()
        clips: list[Path] = []
        t_base = timed(lambda: clips.extend(baseline(src, work, args.clip_seconds, info.duration_s)))
        base_bytes = sum(p.stat().st_size for p in clips)
    n_clips = int(info.duration_s // args.clip_seconds)
    clip_hours = n_clips * args.clip_seconds / 3600
    figures = {
        "source_s": round(info.duration_s, 1),
        "decode_only_s": round(t_decode, 1),
        "realsync_s": round(t_rs, 1),
        "baseline_two_pass_s": round(t_base, 1),
        "realsync_over_decode": round(t_rs / t_decode, 2),
        "baseline_over_realsync": round(t_base / t_rs, 2),
        "realsync_x_realtime": round(info.duration_s / t_rs, 1),
        "realsync_crf18_mb_per_hour": round(rs_bytes / 1e6 / clip_hours, 1),
        "baseline_crf10_mb_per_hour": round(base_bytes / 1e6 / clip_hours, 1),
    }
    w = max(map(len, figures))
    for k, v in figures.items():
        print(f"{k:<{w}}  {v}")
    ok_decode = figures["realsync_over_decode"] <= 1.6
    ok_base = figures["baseline_over_realsync"] >= 2.0
    print(f"goal realsync <= 1.6x decode-only: {'met' if ok_decode else 'NOT met'}; "
          f"goal >= 2x faster than two-pass: {'met' if ok_base else 'NOT met'}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
