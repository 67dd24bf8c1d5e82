"""Inference cost per synchronisation check at batch 1: the snapshot predictor alone,
and the extra work of each streaming head (projection + one head step with a full history)."""

from __future__ import annotations

import statistics
import time

import torch

from realsync_build.streamsync.model import StreamSync, make_head


def _ms(fn, repeats: int, device) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(times)


@torch.no_grad()
def inference_cost(model: StreamSync, device=None, repeats: int = 20) -> dict:
    device = device or next(model.parameters()).device
    cfg = model.cfg
    model.eval()
    nf, ns = int(round(cfg.window_s * cfg.fps)), int(round(cfg.window_s * cfg.sample_rate))
    video = torch.randint(0, 255, (1, nf, cfg.video_size, cfg.video_size, 3), dtype=torch.uint8, device=device)
    audio = torch.randn(1, ns, device=device) * 0.1
    snap_ms = _ms(lambda: model.snapshot(video, audio), repeats, device)
    out = model.snapshot(video, audio)
    heads = {}
    for kind in ("lstm", "trf"):
        head = model.head if kind == cfg.stream_head else make_head(cfg, kind).to(device).eval()
        state = head.init_state(1)
        for _ in range(cfg.history):  # a full history, the steady state of a stream
            _, state = head.step(state, model.token(out))
        head_ms = _ms(lambda: head.step(state, model.token(out)), repeats * 3, device)
        heads[kind] = {"head_ms": head_ms, "total_ms": snap_ms + head_ms, "overhead_pct": 100.0 * head_ms / snap_ms}
    return {"device": str(device), "threads": torch.get_num_threads(), "batch": 1, "snapshot_ms": snap_ms, "heads": heads,
            "note": "overhead = (projection + one streaming-head step) / snapshot predictor, medians at batch 1"}
