"""Inference cost per synchronisation check at batch 1: the snapshot predictor alone,
and the extra work of each streaming head (projection + one head step with a full history).

Measurements of the snapshot predictor and the heads are interleaved and the
fastest of the repeats is kept, so load from other work on a shared machine
disturbs the ratio as little as possible.
"""

from __future__ import annotations

import time

import torch

from realsync_build.streamsync.model import StreamSync, make_head


def _once(fn, device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) * 1000.0


@torch.no_grad()
def inference_cost(model: StreamSync, device=None, repeats: int = 20) -> dict:
    device = device or next(model.parameters()).device
    cfg = model.cfg
    model.eval()
    nf, ns = int(round(cfg.window_s * cfg.fps)), int(round(cfg.window_s * cfg.sample_rate))
    video = torch.randint(0, 255, (1, nf, cfg.video_size, cfg.video_size, 3), dtype=torch.uint8, device=device)
    audio = torch.randn(1, ns, device=device) * 0.1
    out = model.snapshot(video, audio)
    steps = {}
    for kind in ("lstm", "trf"):
        head = model.head if kind == cfg.stream_head else make_head(cfg, kind).to(device).eval()
        state = head.init_state(1)
        for _ in range(cfg.history):  # a full history: the steady state of a stream
            _, state = head.step(state, model.token(out))
        steps[kind] = (lambda h=head, s=state: h.step(s, model.token(out)))
    best = {"snapshot": float("inf"), "lstm": float("inf"), "trf": float("inf")}
    for r in range(repeats + 2):
        t_snap = _once(lambda: model.snapshot(video, audio), device)
        heads_t = {k: min(_once(fn, device) for _ in range(3)) for k, fn in steps.items()}
        if r >= 2:  # warm-up
            best["snapshot"] = min(best["snapshot"], t_snap)
            for k, v in heads_t.items():
                best[k] = min(best[k], v)
    snap_ms = best["snapshot"]
    heads = {k: {"head_ms": best[k], "total_ms": snap_ms + best[k], "overhead_pct": 100.0 * best[k] / snap_ms} for k in ("lstm", "trf")}
    return {"device": str(device), "threads": torch.get_num_threads(), "batch": 1, "snapshot_ms": snap_ms, "heads": heads,
            "note": "overhead = (projection + one streaming-head step) / snapshot predictor; fastest of interleaved repeats, batch 1"}
