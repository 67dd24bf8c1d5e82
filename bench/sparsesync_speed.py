"""SparseSync base config (22-07-28T15-49-45 sizes): forward and forward+backward time per 5 s window.

Inputs are the network's own tensors (vis 125 x 3 x 224 x 224, aud 1 x 257 x 626), so the
input transforms are not timed.  Weights are the deterministic ones of the numerics fixture;
the forward also checks the full-size logits against the reference's
(tests/fixtures/sparsesync/numerics_full.pt) when that file is present.

    PYTHONPATH=$PWD python bench/sparsesync_speed.py --threads 2 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from realsync_build.streamsync.sparsesync import SparseSyncNet
from realsync_build.streamsync.sparsesync.testing import deterministic_state, small_inputs

FIX = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "sparsesync"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    model = SparseSyncNet()
    model.load_state_dict(deterministic_state({k: tuple(v.shape) for k, v in model.state_dict().items()}, seed=0))
    model.to(dev)
    vis, aud = small_inputs(seed=1, batch=1, frames=125, size=224, spec_frames=626)
    vis, aud = vis.repeat(args.batch, 1, 1, 1, 1).to(dev), aud.repeat(args.batch, 1, 1, 1).to(dev)
    sync = (lambda: torch.cuda.synchronize()) if dev.type == "cuda" else (lambda: None)  # noqa: E731
    out: dict = {"threads": args.threads, "batch": args.batch, "device": str(dev), "torch": torch.__version__,
                 "cpu": platform.processor() or platform.machine(), "loadavg_before": os.getloadavg()}
    fwd, fb = [], []
    model.eval()
    for _ in range(args.repeats):
        sync()
        t = time.perf_counter()
        with torch.no_grad():
            logits = model(vis, aud)
        sync()
        fwd.append((time.perf_counter() - t) / args.batch)
    ref = FIX / "numerics_full.pt"
    if ref.is_file():
        want = torch.load(ref, weights_only=True)["logits"]
        out["full_window_max_abs_diff_vs_reference"] = float((logits[:1].cpu() - want).abs().max())
    model.train()
    for _ in range(args.repeats):
        model.zero_grad(set_to_none=True)
        sync()
        t = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(vis, aud), torch.zeros(args.batch, dtype=torch.long, device=dev))
        loss.backward()
        sync()
        fb.append((time.perf_counter() - t) / args.batch)
    out.update(forward_s_per_window=min(fwd), forward_backward_s_per_window=min(fb), forward_all=fwd, forward_backward_all=fb,
               loadavg_after=os.getloadavg())
    print(json.dumps(out))


if __name__ == "__main__":
    main()
