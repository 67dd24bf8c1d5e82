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


def _train_samples(root: DatasetRoot, say) -> list:
    samples, problems = index_split(root, "train")
    for p in problems:
        say(f"[yellow]warning:[/yellow] {p}", highlight=False)
    if not samples:
        from realsync_build.core.manifest import MissingInput

        raise MissingInput(f"no train samples under {root.shards} (expected shards/train-*.tar): run `realsync export webdataset` first")
    return samples


def _resumed(run: Path, cfg: TrainConfig, env: runtime.DistEnv) -> tuple[dict, TrainConfig, ModelConfig]:
    """``--resume``: the checkpoint, the run's own config (what may change on resume taken from ``cfg``), its model config."""
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
    if ck.get("world_size", 1) != env.world_size:
        raise UserError(f"--resume: {last} was written by {ck.get('world_size', 1)} processes, this run has {env.world_size}")
    return ck, saved, ModelConfig.from_dict(ck["model_config"])


def _check_precision(cfg: TrainConfig, device: torch.device) -> None:
    if cfg.precision not in runtime.PRECISIONS:
        raise UserError(f"--precision {cfg.precision!r}: use one of {', '.join(runtime.PRECISIONS)}")
    if cfg.precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise EnvironmentFault("--precision bf16: this GPU has no bfloat16 support (use fp16)")


def _model(cfg: TrainConfig, mcfg: ModelConfig, env: runtime.DistEnv, resume: bool, say) -> tuple[StreamSync, bool]:
    """The model on its device (``--init-from`` loaded), and whether phase 1 freezes the pretrained parts."""
    device = env.device
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
    return model, freeze


@dataclass
class _Plan:
    history: int  # H
    dataset: TrainWindows
    global_batch: int
    steps_per_epoch: int
    planned: int
    total: int


def _plan(samples: list, mcfg: ModelConfig, cfg: TrainConfig, env: runtime.DistEnv, say) -> _Plan:
    """The training rows and the run's length in optimiser steps (phase 1, then the phase-2 epochs)."""
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
    return _Plan(h, dataset, sampler0.global_batch, steps_per_epoch, planned, total)


@dataclass
class _Training:
    """One run's state (model, optimiser, schedule, position) and its steps: checkpoint, dev score, the loop."""

    root: DatasetRoot
    run: Path
    cfg: TrainConfig
    env: runtime.DistEnv
    model: StreamSync
    freeze: bool
    plan: _Plan
    dev_score: object
    say: object
    filled: list = field(default_factory=list)  # the settings the recipe filled in (config.json and checkpoints say which)
    optimizer: torch.optim.Optimizer = None
    sched: object = None
    scaler: object = None
    log: RunLog | None = None
    step: int = 0
    epoch: int = 0
    micro: int = 0
    best: dict = field(default_factory=lambda: {"dev_map": -1.0, "step": 0})

    def __post_init__(self) -> None:
        cfg, planned = self.cfg, self.plan.planned
        self.optimizer = make_optimizer(self.model, cfg)
        # the recipe's schedule over the planned run (not over --max-steps: a capped or resumed run keeps the same schedule)
        self.sched = make_scheduler(self.optimizer, cfg, planned)
        self.scaler = runtime.grad_scaler(self.env.device, cfg.precision)

    def restore(self, ck: dict) -> None:
        self.model.load_state_dict(ck["model"])
        self.optimizer.load_state_dict(ck["optimizer"])
        self.sched.load_state_dict(ck["scheduler"])
        self.scaler.load_state_dict(ck["scaler"])
        self.step, self.epoch, self.micro, self.best = ck["step"], ck["epoch"], ck["micro"], ck["best"]
        runtime.set_rng_state(ck["rng"][self.env.rank])
        self.say(f"resumed from {self.run / 'last.pt'} at step {self.step} (epoch {self.epoch}, micro-batch {self.micro})")

    def checkpoint(self, name: str) -> None:
        rngs = runtime.gather_objects(self.env, runtime.rng_state())
        if self.env.is_main:
            save_checkpoint(self.run / name, self.model, self.optimizer, {
                "train_config": asdict(self.cfg), "recipe_filled": self.filled, "step": self.step, "epoch": self.epoch, "micro": self.micro, "best": self.best,
                "world_size": self.env.world_size, "scheduler": self.sched.state_dict(), "scaler": self.scaler.state_dict(), "rng": rngs})

    def evaluate_dev(self) -> dict:
        score, improved, best = None, False, self.best
        if self.env.is_main:
            state = runtime.rng_state()  # evaluation must not move the training's random streams
            score = self.dev_score(self.root, self.model, self.cfg, self.env.device)
            runtime.set_rng_state(state)
            improved = score is not None and score["map"] is not None and score["map"] > best["dev_map"]
            if improved:
                best.update(dev_map=score["map"], step=self.step)
        score, improved, shared = runtime.broadcast_object(self.env, (score, improved, dict(best)))
        best.update(shared)
        if improved:
            self.checkpoint("best.pt")
        return score or {}

    def train(self, workers: int) -> None:
        """Epochs of micro-batches until ``total`` optimiser steps (phase 1, then phase 2)."""
        cfg, env, total = self.cfg, self.env, self.plan.total
        self._phase, self._wrapped, self._t_last = 0, self.model, time.monotonic()
        with _progress(cfg.progress and env.is_main) as prog:
            task = prog.add_task("train", total=total, completed=self.step, phase=1, loss=float("nan"), step_s=0.0)
            while self.step < total:
                self.plan.dataset.set_epoch(self.epoch)
                sampler = runtime.RowBatchSampler(len(self.plan.dataset), cfg.batch_size, env.world_size, env.rank, cfg.accumulation,
                                                  cfg.seed, self.epoch, self.micro)
                loader = DataLoader(self.plan.dataset, batch_sampler=sampler, num_workers=workers, pin_memory=env.device.type == "cuda",
                                    generator=torch.Generator().manual_seed(cfg.seed + self.epoch), persistent_workers=False)
                self._acc_logs: list[dict] = []
                for batch in loader:
                    if self._micro_batch(batch, prog, task):
                        break
                if self.step >= total:
                    break
                self.epoch, self.micro = self.epoch + 1, 0

    def _micro_batch(self, batch, prog, task) -> bool:
        """One micro-batch's forward and backward; the optimiser steps on the last of ``accumulation``.
        True when the run has reached its last step."""
        cfg, env = self.cfg, self.env
        m = self.micro % cfg.accumulation
        if m == 0:  # a new optimiser step
            want = 1 if self.step < cfg.phase1_steps else 2
            if want != self._phase:
                self._phase = want
                set_phase(self.model, self._phase, self.freeze)
                self.model.train()
                self._wrapped = self.model  # drop the old wrapper (and its gradient hooks) before wrapping anew
                self._wrapped = DistributedDataParallel(
                    self.model, device_ids=[env.device] if env.device.type == "cuda" else None, find_unused_parameters=True
                ) if env.distributed else self.model
            self._grad_range = draw_grad_range(cfg, self._phase, self.plan.history, np.random.default_rng([cfg.seed, self.step]))
            self.optimizer.zero_grad(set_to_none=True)
            self._acc_logs = []
        if cfg.k_placement == "cycle":  # the code moves the K window every micro-batch
            self._grad_range = draw_grad_range(cfg, self._phase, self.plan.history, micro_index=self.step * cfg.accumulation + m)
        last_micro = m == cfg.accumulation - 1
        sync = contextlib.nullcontext() if (last_micro or not env.distributed) else self._wrapped.no_sync()
        with sync:
            loss, logs, _ = forward_loss(self._wrapped, batch, cfg, self._grad_range, env.device, cfg.precision)
            self.scaler.scale(loss / cfg.accumulation).backward()
        self._acc_logs.append(logs)
        self.micro += 1
        if not last_micro:
            return False
        return self._optimiser_step(prog, task)

    def _optimiser_step(self, prog, task) -> bool:
        cfg, total = self.cfg, self.plan.total
        self.scaler.unscale_(self.optimizer)
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_([p for p in self.model.parameters() if p.requires_grad], cfg.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.sched.step()
        self.step += 1
        now = time.monotonic()
        mean = {k: float(np.mean([x[k] for x in self._acc_logs])) for k in self._acc_logs[0]}
        mean = runtime.mean_over_ranks(self.env, mean)
        row = {"step": self.step, "phase": self._phase, "epoch": self.epoch, "lr": self.optimizer.param_groups[0]["lr"], **mean,
               "step_s": now - self._t_last}
        self._t_last = now
        end_of_phase1 = self.step == cfg.phase1_steps and cfg.eval_every == 0
        if (cfg.eval_every and self.step % cfg.eval_every == 0) or self.step == total or end_of_phase1:
            score = self.evaluate_dev()
            row.update(dev_map=score.get("map"), dev_acc=score.get("acc"))
            self.model.train()
        if self.env.is_main and (self.step % cfg.log_every == 0 or self.step == total):
            self.log.add(row)
        prog.update(task, advance=1, phase=self._phase, loss=row["loss"], step_s=row["step_s"])
        if self.step % cfg.checkpoint_every == 0 or self.step == total:
            self.checkpoint("last.pt")
        return self.step >= total


def _configs(run: Path, cfg: TrainConfig, resume: bool, env: runtime.DistEnv) -> tuple[dict | None, TrainConfig, ModelConfig, list]:
    """The checkpoint to resume (None for a new run), the run's training config with its recipe
    resolved, its model config, and which settings the recipe filled in."""
    if resume:
        ck, cfg, mcfg = _resumed(run, cfg, env)
        return ck, resolve_recipe(cfg, env.world_size), mcfg, ck.get("recipe_filled", [])
    filled = [k for k in RECIPE_FIELDS if getattr(cfg, k) is None]
    cfg = resolve_recipe(cfg, env.world_size)
    over = dict(cfg.model_overrides, stream_head=cfg.stream_head, history=cfg.history, video_size=cfg.video_size,
                audio_frontend=cfg.audio_frontend)
    return None, cfg, make_config(cfg.config, **over), filled


def _run(root: DatasetRoot, run: Path, cfg: TrainConfig, resume: bool, env: runtime.DistEnv, dev_score) -> dict:
    device, main = env.device, env.is_main
    say = console.print if main else (lambda *a, **k: None)
    if main:
        run.mkdir(parents=True, exist_ok=True)
    runtime.barrier(env)
    samples = _train_samples(root, say)
    ck, cfg, mcfg, filled = _configs(run, cfg, resume, env)
    _check_precision(cfg, device)
    model, freeze = _model(cfg, mcfg, env, resume, say)
    plan = _plan(samples, mcfg, cfg, env, say)
    t = _Training(root, run, cfg, env, model, freeze, plan, dev_score, say, filled)
    if ck is not None:
        t.restore(ck)
    recipe = {"name": cfg.recipe, "from_recipe": filled, "settings": {k: getattr(cfg, k) for k in RECIPE_FIELDS}}
    resolved = {"recipe": recipe, "train": asdict(cfg), "model": mcfg.to_dict(), "root": str(root.root), "n_train_clips": len(samples),
                "n_train_rows": len(plan.dataset.rows), "planned_steps": plan.planned, "total_steps": plan.total,
                "steps_per_epoch": plan.steps_per_epoch, "global_batch": plan.global_batch, "world_size": env.world_size,
                "device": str(device), "workers": cfg.workers if cfg.workers is not None else runtime.default_workers(env.world_size)}
    if main:
        atomic.write_text(run / "config.json", json.dumps(resolved, indent=2))
        t.log = RunLog(run, t.step if ck is not None else None)
    t.train(resolved["workers"])
    if not runtime.broadcast_object(env, (run / "best.pt").exists() if main else None):
        say("note: no dev shards with segments (or no dev mAP), so best.pt is the last checkpoint")
        t.checkpoint("best.pt")
    best = t.best
    summary = {"run": str(run), "steps": t.step, "best_dev_map": best["dev_map"] if best["dev_map"] >= 0 else None,
               "best_step": best["step"], "device": str(device), "world_size": env.world_size}
    if main:
        atomic.write_text(run / "summary.json", json.dumps(summary, indent=2))
    say(f"train: {t.step} steps; best dev mAP {summary['best_dev_map']} at step {best['step']}; run folder {run}")
    return summary
