"""Does the tiny SparseSync architecture learn the flash/click offset task?  (CPU, minutes)

The ``tiny`` config is the published architecture at small sizes (S3D / ResNet-18 channels / 8,
64-d, 4 selectors, 1 + 1 layers, no correlation path), trained from scratch on single 5 s windows
of :func:`realsync_build.streamsync.synthetic.event_batch` at low rates (32 px, 10 fps, 8 kHz),
cross-entropy on the 21 offset classes.  The recipe (docs/sparsesync.md, "Training tiny from
scratch") is a curriculum over where the events are, ``placement:steps`` stages:

* ``video_anchor``: one event at the centre of the video window (the offset shows in the audio);
* ``audio_anchor``: one event at the centre of the audio window (the offset shows in the video);
* ``single``: one event at a random place seen in both windows;
* ``poisson``: the standard task (Poisson events, mean gap ``--mean-gap-s``).

Evaluation is always the standard task (``poisson``) on held-out windows, plus ``single``, and two
controls on the same trained model: the audio of each window paired with another window's video
(no correspondence), and, unless ``--no-control``, a model trained on such permuted pairs.

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python bench/sparsesync_learning.py
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch

from realsync_build.streamsync.model import tiny_config
from realsync_build.streamsync.model.snapshot import SparseSyncPredictor
from realsync_build.streamsync.synthetic import event_batch
from realsync_build.streamsync.task import NUM_CLASSES

LOW_RES = dict(video_size=32, fps=10, sample_rate=8000, n_fft=128, hop_length=64)
RECIPE = "single:1200,single+poisson:300"


def batch(n: int, rng: np.random.Generator, placement: str, mean_gap_s: float = 4.0) -> dict:
    """``placement`` may join several with ``+`` (e.g. ``video_anchor+audio_anchor``): samples alternate between them."""
    b = event_batch(n, 1, size=LOW_RES["video_size"], fps=LOW_RES["fps"], sample_rate=LOW_RES["sample_rate"],
                    mean_gap_s=mean_gap_s, rng=rng, placement=placement)
    return {"video": b["video"][:, 0], "audio": b["audio"][:, 0], "target": b["target"]}


def parse_stages(spec: str) -> list[tuple[str, int]]:
    return [(p, int(n)) for p, n in (s.split(":") for s in spec.split(","))]


def train(stages: list[tuple[str, int]], batch_size: int = 16, lr: float = 1e-3, warmup: int = 20, seed: int = 0,
          permute: bool = False, mean_gap_s: float = 4.0, log_every: int = 50, eval_every: int = 0, **cfg) -> tuple[SparseSyncPredictor, list]:
    """AdamW (weight decay 0.01), linear warm-up then constant lr, grad-norm clip 1, plain cross-entropy."""
    torch.manual_seed(seed)
    model = SparseSyncPredictor(tiny_config(**{**LOW_RES, **cfg}))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    rng = np.random.default_rng(seed)
    model.train()
    log, step, total = [], 0, sum(n for _, n in stages)
    for placement, n in stages:
        for _ in range(n):
            for g in opt.param_groups:
                g["lr"] = lr * min(1.0, (step + 1) / max(warmup, 1))
            b = batch(batch_size, rng, placement, mean_gap_s)
            audio = b["audio"][torch.randperm(batch_size)] if permute else b["audio"]
            loss = torch.nn.functional.cross_entropy(model(b["video"], audio).logits, b["target"])
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            if step % log_every == 0 or step == total:
                log.append((step, placement, round(float(loss.detach()), 4)))
                print(f"step {step} {placement} loss {log[-1][2]}", flush=True)
            if eval_every and step % eval_every == 0:
                model.eval()
                print(f"step {step} held-out poisson {evaluate(model, 128, 123, 'poisson', mean_gap_s)} "
                      f"single {evaluate(model, 128, 124, 'single')}", flush=True)
                model.train()
    return model.eval(), log


@torch.no_grad()
def evaluate(model: SparseSyncPredictor, n: int, seed: int, placement: str, mean_gap_s: float = 4.0,
             shuffle_audio: bool = False) -> dict:
    """Accuracy and accuracy within one class (0.2 s) on ``n`` held-out windows; ``shuffle_audio`` pairs each
    window's video with another window's audio (a fixed derangement), the target staying the video's."""
    b = batch(n, np.random.default_rng(seed), placement, mean_gap_s)
    audio = torch.roll(b["audio"], 1, dims=0) if shuffle_audio else b["audio"]
    pred = torch.cat([model(b["video"][i : i + 64], audio[i : i + 64]).logits.argmax(-1) for i in range(0, n, 64)])
    err = (pred - b["target"]).abs()
    return {"acc": round(float((err == 0).float().mean()), 4), "acc_pm1": round(float((err <= 1).float().mean()), 4)}


def evaluate_all(model: SparseSyncPredictor, n: int, mean_gap_s: float) -> dict:
    return {
        "poisson": evaluate(model, n, 123, "poisson", mean_gap_s),
        "poisson_shuffled_audio": evaluate(model, n, 123, "poisson", mean_gap_s, shuffle_audio=True),
        "single": evaluate(model, n, 124, "single"),
        "single_shuffled_audio": evaluate(model, n, 124, "single", shuffle_audio=True),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stages", default=RECIPE, help="curriculum, placement:steps,... (default %(default)s)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--init-std", type=float, default=None, help="override the tiny config's init_std")
    ap.add_argument("--eval", type=int, default=512)
    ap.add_argument("--mean-gap-s", type=float, default=4.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-every", type=int, default=0, help="print held-out accuracy every N steps (probing)")
    ap.add_argument("--no-control", action="store_true", help="skip the model trained on permuted pairs")
    args = ap.parse_args()
    stages = parse_stages(args.stages)
    cfg = {} if args.init_std is None else {"init_std": args.init_std}
    out = {"config": {**LOW_RES, **cfg}, "stages": args.stages, "lr": args.lr, "warmup": args.warmup, "batch": args.batch,
           "seed": args.seed, "threads": torch.get_num_threads(), "load_start": os.getloadavg(),
           "chance_acc": round(1 / NUM_CLASSES, 4), "chance_pm1": round(3 / NUM_CLASSES, 4)}
    runs = [("sparsesync_tiny", False)] + ([] if args.no_control else [("trained_on_permuted_pairs", True)])
    for name, permute in runs:
        t0 = time.time()
        model, log = train(stages, args.batch, args.lr, args.warmup, args.seed, permute, args.mean_gap_s, eval_every=args.eval_every, **cfg)
        out[name] = {**evaluate_all(model, args.eval, args.mean_gap_s), "train_s": round(time.time() - t0, 1), "loss_log": log}
        print(name, json.dumps({k: v for k, v in out[name].items() if k != "loss_log"}), flush=True)
    out["load_end"] = os.getloadavg()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
