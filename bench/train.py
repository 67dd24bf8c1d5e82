"""Benchmark StreamSync training on this machine (CPU): train steps/s, loader windows/s, streaming overhead.

    python bench/train.py [--steps 5] [--batches 6] [--clip-seconds 30] [--base-cost]

Figures printed here are copied into docs/benchmarks.md under "train".
Goals: loader windows/s >= 2x what the training steps consume; streaming overhead at
batch 1 <= 5% (LSTM head) and <= 12% (trf head) over the snapshot predictor.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from realsync_build.core.root import DatasetRoot
from realsync_build.streamsync.cost import inference_cost
from realsync_build.streamsync.data import TrainWindows
from realsync_build.streamsync.model import StreamSync, base_config, tiny_config
from realsync_build.streamsync.shards import index_split
from realsync_build.streamsync.synthetic import write_shard_dataset
from realsync_build.streamsync.train import TrainConfig, set_phase, train_step


def bench_loader(root: DatasetRoot, cfg, h: int, batch: int, workers: int, batches: int) -> float:
    samples, _ = index_split(root, "train")
    ds = TrainWindows(samples, cfg, h, 1.0, 0.1, seed=0, length=batch * (batches + 1))
    loader = DataLoader(ds, batch_size=batch, shuffle=True, num_workers=workers)
    it = iter(loader)
    next(it)  # worker start-up is not throughput
    t0 = time.perf_counter()
    n = 0
    for _ in range(batches):
        b = next(it)
        n += b["video"].shape[0] * b["video"].shape[1]
    return n / (time.perf_counter() - t0)


def bench_steps(cfg, h: int, k: int, batch: int, steps: int, phase: int) -> float:
    torch.manual_seed(0)
    model = StreamSync(cfg)
    set_phase(model, phase, freeze_pretrained=False)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    nf, ns = int(cfg.window_s * cfg.fps), int(cfg.window_s * cfg.sample_rate)
    b = {
        "video": torch.randint(0, 255, (batch, h, nf, cfg.video_size, cfg.video_size, 3), dtype=torch.uint8),
        "audio": torch.randn(batch, h, ns) * 0.1,
        "target": torch.randint(0, 21, (batch,)),
    }
    tc = TrainConfig(backprop_iterations=k)
    rng = np.random.default_rng(0)
    train_step(model, b, opt, tc, phase, rng, "cpu")  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        train_step(model, b, opt, tc, phase, rng, "cpu")
    return steps / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--batches", type=int, default=4)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--history", type=int, default=12)
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--clip-seconds", type=float, default=30.0)
    ap.add_argument("--base-cost", action="store_true", help="also measure the base config's per-check cost (slow on CPU)")
    ap.add_argument("--cost-repeats", type=int, default=20)
    ap.add_argument("--cost-only", action="store_true", help="only the streaming-overhead figures")
    ap.add_argument("--root", type=Path, default=None, help="reuse a dataset root with shards/train-*.tar")
    args = ap.parse_args()
    torch.set_num_threads(2)
    cfg = tiny_config(history=args.history)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, tiny config: video {cfg.video_size}px, d={cfg.d_model}")

    for name, c in [("tiny", cfg)] + ([("base", base_config())] if args.base_cost else []):
        r = inference_cost(StreamSync(c), torch.device("cpu"), repeats=args.cost_repeats if name == "tiny" else 3)
        for head, h in r["heads"].items():
            print(f"cost {name}/{head}: snapshot {r['snapshot_ms']:.2f} ms/check, head +{h['head_ms']:.3f} ms = {h['overhead_pct']:.2f}% overhead")
    if args.cost_only:
        return

    with tempfile.TemporaryDirectory() as tmp:
        root = DatasetRoot(args.root) if args.root else write_shard_dataset(
            DatasetRoot(Path(tmp) / "data"), splits={"train": 4}, duration_s=args.clip_seconds, seed=0)
        wps = bench_loader(root, cfg, args.history, args.batch, args.workers, args.batches)
    print(f"loader: {wps:.1f} windows/s ({args.workers} workers, H={args.history}, batch {args.batch}, decode from shards)")

    for phase, label in ((1, f"phase 1 (grads through all H={args.history})"), (2, f"phase 2 (K={args.k} of H={args.history})")):
        sps = bench_steps(cfg, args.history, args.k, args.batch, args.steps, phase)
        demand = sps * args.batch * args.history
        print(f"train {label}: {sps:.3f} steps/s -> consumes {demand:.1f} windows/s; loader/demand = {wps / demand:.2f}x")


if __name__ == "__main__":
    main()
