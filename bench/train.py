"""Benchmark StreamSync training: train steps/s (windows/s), loader windows/s, streaming overhead per check.

    python bench/train.py                       # CPU, tiny config (figures in docs/benchmarks.md, "train")
    python bench/train.py --device cuda --config base --precision bf16 --batch 16 --workers 8   # see bench/gpu_streamsync.sh

Goals: loader windows/s >= 2x what the training steps consume; streaming overhead at
batch 1 <= 3% (LSTM head) and <= 8% (trf head) over the snapshot predictor (the paper,
on an L4: 18.4 ms APA SparseSync, 19.2 ms StreamSync-LSTM, 20.6 ms StreamSync-Trf).
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
from realsync_build.streamsync import runtime
from realsync_build.streamsync.cost import inference_cost
from realsync_build.streamsync.data import TrainWindows
from realsync_build.streamsync.model import StreamSync, make_config
from realsync_build.streamsync.shards import index_split
from realsync_build.streamsync.synthetic import write_shard_dataset
from realsync_build.streamsync.train import TrainConfig, draw_grad_range, forward_loss, set_phase


def bench_loader(root: DatasetRoot, cfg, h: int, batch: int, workers: int, batches: int, pin: bool) -> float:
    samples, _ = index_split(root, "train")
    ds = TrainWindows(samples, cfg, h, 1.0, 0.0, seed=0, length=batch * (batches + 2))
    sampler = runtime.RowBatchSampler(len(ds), batch, 1, 0, 1, seed=0, epoch=0)
    loader = DataLoader(ds, batch_sampler=sampler, num_workers=workers, pin_memory=pin, generator=torch.Generator().manual_seed(0))
    it = iter(loader)
    next(it)  # worker start-up is not throughput
    t0 = time.perf_counter()
    n = 0
    for _ in range(batches):
        b = next(it)
        n += b["video"].shape[0] * b["video"].shape[1]
    return n / (time.perf_counter() - t0)


def bench_steps(cfg, h: int, k: int, batch: int, steps: int, phase: int, device: torch.device, precision: str) -> float:
    torch.manual_seed(0)
    model = StreamSync(cfg).to(device).train()
    set_phase(model, phase, freeze_pretrained=False)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    scaler = runtime.grad_scaler(device, precision)
    nf, ns = int(cfg.window_s * cfg.fps), int(cfg.window_s * cfg.sample_rate)
    b = {
        "video": torch.randint(0, 255, (batch, h, nf, cfg.video_size, cfg.video_size, 3), dtype=torch.uint8),
        "audio": torch.randn(batch, h, ns) * 0.1,
        "target": torch.randint(0, 21, (batch,)),
    }
    tc = TrainConfig(backprop_iterations=k)
    rng = np.random.default_rng(0)

    def one():
        loss, _, _ = forward_loss(model, b, tc, draw_grad_range(tc, phase, h, rng), device, precision)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    one()  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        one()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="tiny")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="fp32", choices=runtime.PRECISIONS)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--batches", type=int, default=4)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--history", type=int, default=12)
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--workers", type=int, default=None, help="loader workers (default: runtime.default_workers())")
    ap.add_argument("--clip-seconds", type=float, default=30.0)
    ap.add_argument("--cost-repeats", type=int, default=20)
    ap.add_argument("--cost-only", action="store_true", help="only the streaming-overhead figures")
    ap.add_argument("--no-loader", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--root", type=Path, default=None, help="reuse a dataset root with shards/train-*.tar")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = runtime.pick_device(args.device)
    workers = args.workers if args.workers is not None else runtime.default_workers()
    cfg = make_config(args.config, history=args.history)
    print(f"torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}, {args.config}: video {cfg.video_size}px, "
          f"d={cfg.d_model}, precision {args.precision}")

    r = inference_cost(StreamSync(cfg).to(device), device, repeats=args.cost_repeats)
    for head, hc in r["heads"].items():
        print(f"cost {args.config}/{head}: snapshot {r['snapshot_ms']:.2f} ms/check, head +{hc['head_ms']:.3f} ms = {hc['overhead_pct']:.2f}% overhead")
    if args.cost_only:
        return

    wps = float("nan")
    if not args.no_loader:
        with tempfile.TemporaryDirectory() as tmp:
            root = DatasetRoot(args.root) if args.root else write_shard_dataset(
                DatasetRoot(Path(tmp) / "data"), splits={"train": 4}, duration_s=args.clip_seconds, seed=0)
            wps = bench_loader(root, cfg, args.history, args.batch, workers, args.batches, device.type == "cuda")
        print(f"loader: {wps:.1f} windows/s ({workers} workers, H={args.history}, batch {args.batch}, decode from shards)")

    for phase, label in ((1, f"phase 1 (grads through all H={args.history})"), (2, f"phase 2 (K={args.k} of H={args.history})")):
        sps = bench_steps(cfg, args.history, args.k, args.batch, args.steps, phase, device, args.precision)
        demand = sps * args.batch * args.history
        print(f"train {label}: {sps:.3f} steps/s = {demand:.1f} windows/s; loader/demand = {wps / demand:.2f}x")


if __name__ == "__main__":
    main()
