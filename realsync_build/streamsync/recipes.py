"""Training recipes: ``paper`` (what the paper states) and ``repo`` (what the released StreamSync code does).

A recipe fills every :class:`~realsync_build.streamsync.train.TrainConfig` field left ``None``;
a field set by the caller (a flag, a config file) wins.  :func:`resolve_recipe` runs once per run,
when the number of processes is known, and the resolved values are what ``config.json`` and the
checkpoints record (so ``--resume`` reuses them).

``paper`` (Sec. 4 of the paper): global batch 16, lr 4e-5 with linear decay, phase 1 of 500
iterations.  Where the paper is silent it takes the released code's choice (Adam, eps 1e-7, no
weight decay), except two loader artefacts of the code that a streaming monitor cannot or the
published lists do not follow: its audio standardisation over the whole multi-window span
(statistics from audio up to ``H x hop`` seconds after the window: not causal) and its windows
starting 2 s before the listed start.  Its K window is the paper's "K consecutive iterations" at
a uniform start.

``repo`` (jvoas655/StreamSync, ``configs/streaming_sparse_sync.yaml`` + ``scripts/train_utils.py``):
Adam (betas 0.9 / 0.999, eps 1e-7 because it trains in half precision, no weight decay), base lr
5e-6 times the number of processes, 2 clips per process with 2 accumulation steps, a
``warmup_constant_decay`` schedule (linear from lr / 100 over 500 steps, constant for 5000, then
linear to lr x 1e-4 over 7000), ``freeze_first: 500`` micro-batches (250 optimiser steps at
accumulation 2), the K window at ``micro_batch % (H - 2K) + K``, the span audio front end, and the
windows 2 s before the listed start.
"""

from __future__ import annotations

from dataclasses import replace

from realsync_build.core.errors import UserError
from realsync_build.streamsync.data import WINDOW_STARTS
from realsync_build.streamsync.model.config import AUDIO_FRONTENDS

PAPER_GLOBAL_BATCH = 16
REPO_LR_PER_PROCESS = 5e-6

RECIPES: dict[str, dict] = {
    "paper": {
        "optimizer": "adam", "adam_eps": 1e-7, "weight_decay": 0.0, "lr": 4e-5, "lr_schedule": "linear",
        "warmup_steps": 0, "constant_steps": 0, "decay_steps": 0, "batch_size": None,  # None: global 16 / (processes x accumulation)
        "accumulation": 1, "phase1_steps": 500, "k_placement": "uniform", "audio_frontend": "window", "window_start": "listed",
    },
    "repo": {
        "optimizer": "adam", "adam_eps": 1e-7, "weight_decay": 0.0, "lr": None,  # None: 5e-6 x processes
        "lr_schedule": "warmup-constant-decay", "warmup_steps": 500, "constant_steps": 5000, "decay_steps": 7000,
        "batch_size": 2, "accumulation": 2, "phase1_steps": 250, "k_placement": "cycle", "audio_frontend": "span", "window_start": "code",
    },
}
RECIPE_FIELDS = tuple(RECIPES["paper"])

CHOICES = {
    "optimizer": ("adam", "adamw"),
    "lr_schedule": ("linear", "warmup-constant-decay"),
    "k_placement": ("uniform", "cycle"),
    "audio_frontend": AUDIO_FRONTENDS,
    "window_start": tuple(WINDOW_STARTS),
}


def flag(field: str) -> str:
    return "--" + field.replace("_", "-")


def resolve_recipe(cfg, world_size: int = 1):
    """``cfg`` with every ``None`` recipe field filled from ``cfg.recipe``; checks the choices (one-line errors)."""
    if cfg.recipe not in RECIPES:
        raise UserError(f"--recipe {cfg.recipe!r}: use one of {', '.join(RECIPES)}")
    for field, allowed in CHOICES.items():
        value = getattr(cfg, field)
        if value is not None and value not in allowed:
            raise UserError(f"{flag(field)} {value!r}: use one of {', '.join(allowed)}")
    base = RECIPES[cfg.recipe]
    fill = {k: v for k, v in base.items() if getattr(cfg, k) is None}
    out = replace(cfg, **fill)
    if out.accumulation is None or out.accumulation < 1:
        raise UserError(f"--accumulation {out.accumulation}: must be at least 1")
    if out.batch_size is None:  # the paper's batch 16 is the global batch
        per = PAPER_GLOBAL_BATCH // (world_size * out.accumulation)
        if per < 1 or per * world_size * out.accumulation != PAPER_GLOBAL_BATCH:
            raise UserError(f"--recipe paper: a global batch of {PAPER_GLOBAL_BATCH} does not split over {world_size} processes x "
                            f"--accumulation {out.accumulation}; give --batch-size")
        out = replace(out, batch_size=per)
    if out.lr is None:  # the code's base_learning_rate x num_gpus
        out = replace(out, lr=REPO_LR_PER_PROCESS * world_size)
    if out.k_placement == "cycle" and out.history <= 2 * out.backprop_iterations and out.phase2_epochs > 0:
        raise UserError(f"--k-placement cycle places K at micro_batch % (H - 2K) + K: it needs H > 2K "
                        f"(H={out.history}, K={out.backprop_iterations}); use --k-placement uniform")
    return out


def lr_factor(cfg, step: int, planned: int) -> float:
    """The learning-rate multiplier at optimiser step ``step`` (0-based: the rate of the step about to be taken).

    ``linear``: ``1 - step / planned`` down to 0 over the planned run.  ``warmup-constant-decay``: the
    code's ``SequentialLR`` of ``LinearLR(1/100 -> 1, warmup)``, ``ConstantLR(1, constant)``,
    ``LinearLR(1 -> 1e-4, decay)``, then 1e-4 for good.
    """
    if cfg.lr_schedule == "linear":
        return max(0.0, 1.0 - step / max(planned, 1))
    w, c, d = cfg.warmup_steps, cfg.constant_steps, cfg.decay_steps
    if step < w:
        return 0.01 + 0.99 * step / w
    if step < w + c:
        return 1.0
    if step < w + c + d:
        return 1.0 + (1e-4 - 1.0) * (step - w - c) / d
    return 1e-4
