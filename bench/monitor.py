"""Benchmark ``realsync monitor``: per-hop latency (decode + model) against the hop length.

    python bench/monitor.py [--seconds 60] [--hops 0.5,1,2,4] [--threads 2] [--size 640x360]

Mode 1: the ``tiny`` StreamSync config (25 fps, 16 kHz, 16 px frames, trf head, H=12; random
weights: the cost does not depend on them) on a generated H.264/AAC flash/click file of
``--size``.  Mode 2: GCC-PHAT against a reference, on a generated dubbed AAC track.  Files are
read as fast as possible (no --realtime), so ``stream s / wall s`` is the real-time headroom
(goal: >= 5x on 2 cores).  Per-hop latency = wall time / hops (decode and inference of one hop);
``model`` = the median time of the inference step alone.  On a shared machine the wall figures
depend on the load, so the process CPU time (all threads: reader, decoder, model) is printed too:
``stream s / CPU s`` is what one dedicated core would sustain.  Figures go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from realsync_build.monitor.run import MonitorOptions, run_monitor
from realsync_build.monitor.synth import dub_scene, write_audio, write_event_stream
from realsync_build.streamsync.checkpoint import save_checkpoint
from realsync_build.streamsync.model import StreamSync, tiny_config


def _row(label: str, hop_s: float, res, wall_s: float, cpu_s: float) -> str:
    s = res.summary
    n = max(s["hops"], 1)
    return (f"| {label} | {hop_s:g} | {s['hops']} | {1000 * wall_s / n:.1f} | {s['hop_compute_ms_median']:.1f} | "
            f"{s['stream_s'] / wall_s:.1f}x | {1000 * cpu_s / n:.1f} | {s['stream_s'] / cpu_s:.1f}x |")


def _timed(opts: MonitorOptions):
    w0, c0 = time.perf_counter(), time.process_time()
    res = run_monitor(opts)
    return res, time.perf_counter() - w0, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--hops", default="0.5,1,2,4")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--size", default="640x360")
    args = ap.parse_args()
    hops = [float(h) for h in args.hops.split(",")]
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        rng = np.random.default_rng(0)
        events = list(np.cumsum(rng.uniform(0.8, 2.0, int(args.seconds))))
        events = [round(float(e), 2) for e in events if e < args.seconds - 0.5]
        t0 = time.perf_counter()
        stream = write_event_stream(d / "in.ts", args.seconds, events, delays=[(0.0, 0.0)], size=args.size)
        print(f"generated {args.seconds:g} s {args.size} stream in {time.perf_counter() - t0:.1f} s")
        torch.manual_seed(0)
        ckpt = d / "tiny.pt"
        save_checkpoint(ckpt, StreamSync(tiny_config()).eval(), None, {"step": 0})
        ref, inp = dub_scene(args.seconds, [(0.0, 0.24)], seed=0, voice_level=0.35)
        ref_wav = write_audio(d / "ref.wav", ref, 16000)
        in_m4a = write_audio(d / "in.m4a", inp, 16000, codec="aac")
        print(f"load average {os.getloadavg()[0]:.1f} at the start; torch threads {args.threads}")
        print("| mode | hop s | hops | wall per hop ms (decode + model) | model / estimator ms (median) | real-time factor (wall) "
              "| CPU per hop ms (all threads) | real-time factor (CPU) |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for hop in hops:
            res, wall, cpu = _timed(MonitorOptions(input=str(stream), checkpoint=ckpt, hop_s=hop, progress=False, threads=args.threads))
            print(_row("1: tiny model", hop, res, wall, cpu), flush=True)
        for hop in hops:
            res, wall, cpu = _timed(MonitorOptions(input=str(in_m4a), reference_audio=ref_wav, hop_s=hop, progress=False))
            print(_row("2: reference", hop, res, wall, cpu), flush=True)
        print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
