"""``realsync train``: two-phase StreamSync training on the export's shards.

Phase 1 freezes the snapshot predictor's pretrained parts and trains the new
parts (PASS token, streaming token, streaming head) with gradients through all H
iterations.  Phase 2 unfreezes everything; the snapshot predictor's features
backpropagate only in K consecutive iterations of H (placed per the recipe: a
uniform start, or the code's cycle; the others are detached; the streaming token
and head still learn from all H).  Optimiser, schedule, batch and data choices
come from the recipe (``paper`` or ``repo``, :mod:`.recipes`).
Without ``--init-from`` nothing is pretrained, so (``--phase1-freeze auto``)
phase 1 trains the snapshot predictor too; say ``yes`` to freeze anyway.

Loss (StreamSync code, ``scripts/train_sync.py``): per iteration ``1/3 CE(snapshot)``,
plus ``2/3 CE(stream)`` from iteration K on, normalised by the total weight,
against neighbour-smoothed targets (0.1 / 0.8 / 0.1).

One process, or one per GPU under ``torchrun`` (:mod:`.runtime`): DDP, the rows
sharded per rank, rank 0 alone writing.  Mixed precision (``--precision``),
gradient accumulation, and an exact resume: model, optimiser, scheduler, grad
scaler, every RNG and the data position are in ``last.pt``.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from realsync_build.core import atomic
from realsync_build.core.errors import EnvironmentFault, UserError
from realsync_build.core.root import DatasetRoot
from realsync_build.core.ui import console
from realsync_build.streamsync import runtime
from realsync_build.streamsync.checkpoint import init_snapshot_from, load_checkpoint, save_checkpoint
from realsync_build.streamsync.data import TrainWindows, fit_hop, window_start_shift_s
from realsync_build.streamsync.model import ModelConfig, StreamSync, make_config
from realsync_build.streamsync.recipes import RECIPE_FIELDS, resolve_recipe
from realsync_build.streamsync.step import (  # noqa: F401 - one training step lives in step.py; these names stay importable from here
    DRAW,
    backward_step,
    draw_grad_range,
    forward_loss,
    make_optimizer,
    make_scheduler,
    optimizer_step,
    set_phase,
    train_step,
)
from realsync_build.streamsync.runlog import RunLog
from realsync_build.streamsync.shards import index_split
from realsync_build.streamsync.task import MAX_OFFSET_S


@dataclass
class TrainConfig:
    recipe: str = "paper"  # paper | repo (recipes.py): fills every field below left None
    config: str = "tiny"  # model size: tiny | base
    stream_head: str = "trf"  # trf | lstm
    history: int = 12  # H: windows per training sequence
    backprop_iterations: int = 3  # K: phase-2 iterations whose snapshot features get gradients; no stream loss before iteration K
    phase1_steps: int | None = None  # recipe: paper 500, repo 250 (the code's freeze_first: 500 micro-batches)
    phase2_epochs: int = 3  # an epoch = every train row (a start every 10 s of every clip)
    max_steps: int | None = None  # stop after this many steps (the schedule still spans the planned run)
    phase1_freeze: str = "auto"  # auto (freeze iff --init-from) | yes | no
    batch_size: int | None = None  # rows per micro-batch per process (recipe: paper 16 / (processes x accumulation), repo 2)
    accumulation: int | None = None  # micro-batches per optimiser step (recipe: paper 1, repo 2)
    lr: float | None = None  # peak learning rate (recipe: paper 4e-5, repo 5e-6 x processes)
    optimizer: str | None = None  # adam | adamw (recipe: adam)
    adam_eps: float | None = None  # recipe: 1e-7 (the code's value under half precision)
    weight_decay: float | None = None  # recipe: 0
    lr_schedule: str | None = None  # linear | warmup-constant-decay (recipe: paper linear, repo warmup-constant-decay)
    warmup_steps: int | None = None  # warmup-constant-decay: 500 / 5000 / 7000 steps in the code
    constant_steps: int | None = None
    decay_steps: int | None = None
    k_placement: str | None = None  # uniform (paper: a uniform start per step) | cycle (repo: micro_batch % (H - 2K) + K)
    audio_frontend: str | None = None  # window | span (recipe: paper window, repo span; see ModelConfig.audio_frontend)
    window_start: str | None = None  # listed | code (2 s before the listed start, as the code's loader) (recipe: paper listed, repo code)
    grad_clip: float = 1.0
    label_smoothing: float = 0.1  # to each neighbouring class (0.1 / 0.8 / 0.1)
    hop_s: float = 1.0
    jitter_s: float = 0.0
    row_stride_s: int = 10
    workers: int | None = None  # DataLoader workers per process (None: runtime.default_workers)
    seed: int = 0
    eval_every: int = 0  # steps between dev evaluations (0: at the end of phase 1 and of the run)
    eval_iterations: int = 0  # dev iterations (0: H)
    eval_hop_s: float = 2.0
    eval_max_segments: int = 200
    checkpoint_every: int = 100
    log_every: int = 1
    init_from: str | None = None
    device: str = "auto"
    precision: str = "fp32"  # fp32 | bf16 | fp16
    video_size: int | None = None  # override the model config's frame size
    progress: bool = True
    model_overrides: dict = field(default_factory=dict)


def _progress(enabled: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(
        TextColumn("[bold]train[/bold] phase {task.fields[phase]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.3f}  {task.fields[step_s]:.2f} s/step"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        disable=not enabled,
    )


def run_train(root: DatasetRoot, out: str | Path, cfg: TrainConfig | None = None, resume: bool = False) -> dict:
    """Train StreamSync on ``root``'s train shards; write the run folder ``out``; return a summary."""
    from realsync_build.streamsync.evaluate import dev_score

    cfg = cfg or TrainConfig()
    env = runtime.init_distributed(cfg.device)
    try:
        return _run(root, Path(out), cfg, resume, env, dev_score)
    finally:
        runtime.shutdown_distributed(env)


def _run(root: DatasetRoot, run: Path, cfg: TrainConfig, resume: bool, env: runtime.DistEnv, dev_score) -> dict:
    device, main = env.device, env.is_main
    say = console.print if main else (lambda *a, **k: None)
    if main:
        run.mkdir(parents=True, exist_ok=True)
    runtime.barrier(env)

    samples, problems = index_split(root, "train")
    for p in problems:
        say(f"[yellow]warning:[/yellow] {p}", highlight=False)
    if not samples:
        raise FileNotFoundError(f"no train samples under {root.shards} (expected shards/train-*.tar from realsync export)")

    ck = None
    if resume:
        last = run / "last.pt"
        if not last.exists():
            raise FileNotFoundError(f"--resume: {last} not found")
        ck = load_checkpoint(last, map_location="cpu")
        lacking = [k for k in ("scheduler", "scaler", "rng", "micro") if k not in ck]
        if lacking:
            raise UserError(f"--resume: {last} lacks {', '.join(lacking)} (written by an older realsync): it cannot be resumed exactly; "
                             "start a new run, e.g. with --init-from")
        saved_cfg = dict(ck["train_config"])
        if "recipe" not in saved_cfg:  # written before recipes: it trained with AdamW, linear decay, per-window audio
            saved_cfg.update(optimizer="adamw", adam_eps=1e-8, lr_schedule="linear", k_placement="uniform", audio_frontend="window",
                             window_start="listed", warmup_steps=0, constant_steps=0, decay_steps=0)
        saved = TrainConfig(**{k: v for k, v in saved_cfg.items() if k in TrainConfig.__dataclass_fields__})
        # what may change on resume: where it stops, how it shows progress, loader workers, the device
        saved.max_steps, saved.progress, saved.workers, saved.device = cfg.max_steps, cfg.progress, cfg.workers, cfg.device
        cfg = saved
        if ck.get("world_size", 1) != env.world_size:
            raise UserError(f"--resume: {last} was written by {ck.get('world_size', 1)} processes, this run has {env.world_size}")
        mcfg = ModelConfig.from_dict(ck["model_config"])
    filled = [k for k in RECIPE_FIELDS if getattr(cfg, k) is None]
    cfg = resolve_recipe(cfg, env.world_size)
    if ck is None:
        over = dict(cfg.model_overrides, stream_head=cfg.stream_head, history=cfg.history, video_size=cfg.video_size,
                    audio_frontend=cfg.audio_frontend)
        mcfg = make_config(cfg.config, **over)
    if cfg.precision not in runtime.PRECISIONS:
        raise UserError(f"--precision {cfg.precision!r}: use one of {', '.join(runtime.PRECISIONS)}")
    if cfg.precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise EnvironmentFault("--precision bf16: this GPU has no bfloat16 support (use fp16)")

    torch.manual_seed(cfg.seed)  # the same initial weights in every process
    model = StreamSync(mcfg).to(device)
    freeze = {"auto": cfg.init_from is not None, "yes": True, "no": False}.get(cfg.phase1_freeze)
    if freeze is None:
        raise ValueError(f"--phase1-freeze {cfg.phase1_freeze!r}: use auto, yes or no")
    if cfg.init_from and not resume:
        keys = init_snapshot_from(model, cfg.init_from)
        say(f"init: {len(keys)} snapshot-predictor tensors from {cfg.init_from}")
    elif not freeze and cfg.phase1_steps:
        say("note: no --init-from, so the snapshot predictor starts from scratch and phase 1 trains it too")
    if env.distributed and device.type == "cuda":
        # BatchNorm statistics over the global batch, as the StreamSync / SparseSync code does under DDP
        # (SyncBatchNorm is CUDA-only: on CPU/gloo each process normalises its own micro-batch).
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    runtime.seed_everything(cfg.seed + env.rank)  # dropout differs per rank, as in the StreamSync code

    h = mcfg.history
    dataset = TrainWindows(samples, mcfg, h, cfg.hop_s, cfg.jitter_s, cfg.seed, length=cfg.batch_size * env.world_size * cfg.accumulation,
                           stride_s=cfg.row_stride_s, start_shift_s=window_start_shift_s(cfg.window_start))
    sampler0 = runtime.RowBatchSampler(len(dataset), cfg.batch_size, env.world_size, env.rank, cfg.accumulation, cfg.seed, 0)
    steps_per_epoch = sampler0.steps_per_epoch
    planned = cfg.phase1_steps + cfg.phase2_epochs * steps_per_epoch
    total = planned if cfg.max_steps is None else min(planned, cfg.max_steps)
    if cfg.max_steps is not None and cfg.max_steps < planned and cfg.max_steps <= cfg.phase1_steps:
        say(f"note: --max-steps {cfg.max_steps} ends the run inside phase 1 (phase 1 has {cfg.phase1_steps} steps)")
    min_dur = min(s.duration_s for s in samples)
    _, hop_fit, _ = fit_hop(min_dur, mcfg.window_s, MAX_OFFSET_S, h, cfg.hop_s, cfg.jitter_s)
    if hop_fit < cfg.hop_s:
        say(f"note: the shortest train clip is {min_dur:.1f} s, too short for {h} windows of {mcfg.window_s:g} s at a "
            f"{cfg.hop_s:g} s hop; such clips keep {h} windows with the hop shrunk (down to {hop_fit:.2f} s)")

    optimizer = make_optimizer(model, cfg)
    # the recipe's schedule over the planned run (not over --max-steps: a capped or resumed run keeps the same schedule)
    sched = make_scheduler(optimizer, cfg, planned)
    scaler = runtime.grad_scaler(device, cfg.precision)
    step, epoch, micro, best = 0, 0, 0, {"dev_map": -1.0, "step": 0}
    if ck is not None:
        model.load_state_dict(ck["model"])
        optimizer.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        scaler.load_state_dict(ck["scaler"])
        step, epoch, micro, best = ck["step"], ck["epoch"], ck["micro"], ck["best"]
        runtime.set_rng_state(ck["rng"][env.rank])
        say(f"resumed from {run / 'last.pt'} at step {step} (epoch {epoch}, micro-batch {micro})")

    if ck is not None:
        filled = ck.get("recipe_filled", [])
    recipe = {"name": cfg.recipe, "from_recipe": filled, "settings": {k: getattr(cfg, k) for k in RECIPE_FIELDS}}
    resolved = {"recipe": recipe, "train": asdict(cfg), "model": mcfg.to_dict(), "root": str(root.root), "n_train_clips": len(samples),
                "n_train_rows": len(dataset.rows), "planned_steps": planned, "total_steps": total, "steps_per_epoch": steps_per_epoch,
                "global_batch": sampler0.global_batch, "world_size": env.world_size, "device": str(device),
                "workers": cfg.workers if cfg.workers is not None else runtime.default_workers(env.world_size)}
    log = None
    if main:
        atomic.write_text(run / "config.json", json.dumps(resolved, indent=2))
        log = RunLog(run, step if ck is not None else None)

    def checkpoint(name: str) -> None:
        rngs = runtime.gather_objects(env, runtime.rng_state())
        if main:
            save_checkpoint(run / name, model, optimizer, {
                "train_config": asdict(cfg), "recipe_filled": filled, "step": step, "epoch": epoch, "micro": micro, "best": best,
                "world_size": env.world_size,
                "scheduler": sched.state_dict(), "scaler": scaler.state_dict(), "rng": rngs})

    def evaluate_dev() -> dict:
        score, improved = None, False
        if main:
            state = runtime.rng_state()  # evaluation must not move the training's random streams
            score = dev_score(root, model, cfg, device)
            runtime.set_rng_state(state)
            improved = score is not None and score["map"] is not None and score["map"] > best["dev_map"]
            if improved:
                best.update(dev_map=score["map"], step=step)
        score, improved, shared = runtime.broadcast_object(env, (score, improved, dict(best)))
        best.update(shared)
        if improved:
            checkpoint("best.pt")
        return score or {}

    phase, wrapped = 0, model
    workers = resolved["workers"]
    t_last = time.monotonic()
    with _progress(cfg.progress and main) as prog:
        task = prog.add_task("train", total=total, completed=step, phase=1, loss=float("nan"), step_s=0.0)
        while step < total:
            dataset.set_epoch(epoch)
            sampler = runtime.RowBatchSampler(len(dataset), cfg.batch_size, env.world_size, env.rank, cfg.accumulation, cfg.seed, epoch, micro)
            loader = DataLoader(dataset, batch_sampler=sampler, num_workers=workers, pin_memory=device.type == "cuda",
                                generator=torch.Generator().manual_seed(cfg.seed + epoch), persistent_workers=False)
            acc_logs: list[dict] = []
            for batch in loader:
                m = micro % cfg.accumulation
                if m == 0:  # a new optimiser step
                    want = 1 if step < cfg.phase1_steps else 2
                    if want != phase:
                        phase = want
                        set_phase(model, phase, freeze)
                        model.train()
                        wrapped = model  # drop the old wrapper (and its gradient hooks) before wrapping anew
                        wrapped = DistributedDataParallel(
                            model, device_ids=[device] if device.type == "cuda" else None, find_unused_parameters=True) if env.distributed else model
                    grad_range = draw_grad_range(cfg, phase, h, np.random.default_rng([cfg.seed, step]))
                    optimizer.zero_grad(set_to_none=True)
                    acc_logs = []
                if cfg.k_placement == "cycle":  # the code moves the K window every micro-batch
                    grad_range = draw_grad_range(cfg, phase, h, micro_index=step * cfg.accumulation + m)
                last_micro = m == cfg.accumulation - 1
                sync = contextlib.nullcontext() if (last_micro or not env.distributed) else wrapped.no_sync()
                with sync:
                    loss, logs, _ = forward_loss(wrapped, batch, cfg, grad_range, device, cfg.precision)
                    scaler.scale(loss / cfg.accumulation).backward()
                acc_logs.append(logs)
                micro += 1
                if not last_micro:
                    continue
                scaler.unscale_(optimizer)
                if cfg.grad_clip:
                    torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], cfg.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                sched.step()
                step += 1
                now = time.monotonic()
                mean = {k: float(np.mean([x[k] for x in acc_logs])) for k in acc_logs[0]}
                mean = runtime.mean_over_ranks(env, mean)
                row = {"step": step, "phase": phase, "epoch": epoch, "lr": optimizer.param_groups[0]["lr"], **mean, "step_s": now - t_last}
                t_last = now
                end_of_phase1 = step == cfg.phase1_steps and cfg.eval_every == 0
                if (cfg.eval_every and step % cfg.eval_every == 0) or step == total or end_of_phase1:
                    score = evaluate_dev()
                    row.update(dev_map=score.get("map"), dev_acc=score.get("acc"))
                    model.train()
                if main and (step % cfg.log_every == 0 or step == total):
                    log.add(row)
                prog.update(task, advance=1, phase=phase, loss=row["loss"], step_s=row["step_s"])
                if step % cfg.checkpoint_every == 0 or step == total:
                    checkpoint("last.pt")
                if step >= total:
                    break
            if step >= total:
                break
            epoch, micro = epoch + 1, 0
    if not runtime.broadcast_object(env, (run / "best.pt").exists() if main else None):
        say("note: no dev shards with segments (or no dev mAP), so best.pt is the last checkpoint")
        checkpoint("best.pt")
    summary = {"run": str(run), "steps": step, "best_dev_map": best["dev_map"] if best["dev_map"] >= 0 else None,
               "best_step": best["step"], "device": str(device), "world_size": env.world_size}
    if main:
        atomic.write_text(run / "summary.json", json.dumps(summary, indent=2))
    say(f"train: {step} steps; best dev mAP {summary['best_dev_map']} at step {best['step']}; run folder {run}")
    return summary
