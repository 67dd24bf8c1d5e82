"""Does the tiny SparseSync architecture learn the flash/click offset task?  (CPU, a few minutes)

The ``tiny`` config is the published architecture at small sizes (S3D / ResNet-18 channels / 8,
4 selectors, 1 + 1 layers, no correlation path).  Single 5 s windows from
:func:`realsync_build.streamsync.synthetic.event_batch` at low rates (32 px, 10 fps, 8 kHz),
cross-entropy on the 21 offset classes, then accuracy and accuracy within one class on
held-out windows, against a control trained on the same data with the audio of each
window paired with another window's video (no correspondence: it must stay at chance).

    PYTHONPATH=$PWD OMP_NUM_THREADS=2 python bench/sparsesync_learning.py --steps 300
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from realsync_build.streamsync.model import tiny_config
from realsync_build.streamsync.model.snapshot import SparseSyncPredictor
from realsync_build.streamsync.synthetic import event_batch
from realsync_build.streamsync.task import NUM_CLASSES

LOW_RES = dict(video_size=32, fps=10, sample_rate=8000, n_fft=128, hop_length=64)


def batch(n: int, rng: np.random.Generator, mean_gap_s: float) -> dict:
    b = event_batch(n, 1, size=LOW_RES["video_size"], fps=LOW_RES["fps"], sample_rate=LOW_RES["sample_rate"], mean_gap_s=mean_gap_s, rng=rng)
    return {"video": b["video"][:, 0], "audio": b["audio"][:, 0], "target": b["target"]}


def train(steps: int, batch_size: int, lr: float, seed: int, permute: bool, mean_gap_s: float, log_every: int = 50,
          bn_momentum: float | None = None) -> tuple[SparseSyncPredictor, list]:
    torch.manual_seed(seed)
    model = SparseSyncPredictor(tiny_config(**LOW_RES))
    if bn_momentum is not None:  # S3D's 0.001 suits fine-tuning pretrained statistics, not training from scratch
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.momentum = bn_momentum
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    rng = np.random.default_rng(seed)
    model.train()
    log = []
    for step in range(steps):
        b = batch(batch_size, rng, mean_gap_s)
        audio = b["audio"][torch.randperm(batch_size)] if permute else b["audio"]
        loss = torch.nn.functional.cross_entropy(model(b["video"], audio).logits, b["target"])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % log_every == 0 or step == steps - 1:
            log.append((step, round(float(loss.detach()), 4)))
            print(f"step {step} loss {log[-1][1]}", flush=True)
    return model.eval(), log


@torch.no_grad()
def evaluate(model: SparseSyncPredictor, n: int, seed: int, mean_gap_s: float) -> dict:
    b = batch(n, np.random.default_rng(seed), mean_gap_s)
    pred = torch.cat([model(b["video"][i : i + 32], b["audio"][i : i + 32]).logits.argmax(-1) for i in range(0, n, 32)])
    err = (pred - b["target"]).abs()
    return {"acc": float((err == 0).float().mean()), "acc_pm1": float((err <= 1).float().mean())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--eval", type=int, default=256)
    ap.add_argument("--mean-gap-s", type=float, default=4.0)
    ap.add_argument("--no-control", action="store_true")
    ap.add_argument("--fps", type=int, default=LOW_RES["fps"])
    ap.add_argument("--bn-momentum", type=float, default=None)
    args = ap.parse_args()
    LOW_RES["fps"] = args.fps
    out = {"config": dict(LOW_RES), "lr": args.lr, "mean_gap_s": args.mean_gap_s, "bn_momentum": args.bn_momentum, "threads": torch.get_num_threads(), "steps": args.steps, "batch": args.batch, "chance_acc": 1 / NUM_CLASSES, "chance_pm1": 3 / NUM_CLASSES}
    for name, permute in [("sparsesync_tiny", False)] + ([] if args.no_control else [("permuted_control", True)]):
        t0 = time.time()
        model, log = train(args.steps, args.batch, args.lr, 0, permute, args.mean_gap_s, bn_momentum=args.bn_momentum)
        out[name] = {**evaluate(model, args.eval, 123, args.mean_gap_s), "train_s": round(time.time() - t0, 1), "loss_log": log}
        print(name, json.dumps(out[name]), flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
