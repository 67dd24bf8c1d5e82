"""``realsync train``: two-phase StreamSync training on the export's shards.

Phase 1 freezes the snapshot predictor's pretrained parts and trains the new
parts (PASS token, projection, streaming head) with gradients through all H
iterations.  Phase 2 unfreezes everything and backpropagates through K randomly
chosen consecutive iterations of H (the others run without autograd).
Without ``--init-from`` nothing is pretrained, so (``--phase1-freeze auto``)
phase 1 trains the snapshot predictor too; say ``yes`` to freeze anyway.
"""

from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from realsync_build.core import atomic
from realsync_build.core.root import DatasetRoot
from realsync_build.streamsync.checkpoint import init_snapshot_from, load_checkpoint, save_checkpoint
from realsync_build.streamsync.data import TrainWindows, fit_hop
from realsync_build.streamsync.model import StreamSync, make_config
from realsync_build.streamsync.shards import index_split
from realsync_build.streamsync.task import MAX_OFFSET_S, streamsync_loss
from realsync_build.core.ui import console


@dataclass
class TrainConfig:
    config: str = "tiny"  # model size: tiny | base
    stream_head: str = "trf"  # trf | lstm
    history: int = 12  # H
    backprop_iterations: int = 3  # K (phase 2)
    phase1_steps: int = 500
    phase2_epochs: int = 3
    max_steps: int | None = None  # cap on the total
    phase1_freeze: str = "auto"  # auto (freeze iff --init-from) | yes | no
    batch_size: int = 16
    lr: float = 4e-5
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    alpha: float = 0.5
    beta: float = 1.0
    hop_s: float = 1.0
    jitter_s: float = 0.1
    workers: int = 2
    seed: int = 0
    eval_every: int = 0  # steps between dev evaluations (0: at the end of each phase and of the run)
    eval_iterations: int = 0  # dev iterations (0: H)
    eval_hop_s: float = 2.0
    eval_max_segments: int = 200
    checkpoint_every: int = 100
    log_every: int = 1
    init_from: str | None = None
    device: str = "auto"
    video_size: int | None = None  # override the model config's frame size
    progress: bool = True
    model_overrides: dict = field(default_factory=dict)


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def set_phase(model: StreamSync, phase: int, freeze_pretrained: bool) -> None:
    """Phase 1 (frozen): only StreamSync's new parts train; phase 2: everything."""
    for name, p in model.named_parameters():
        p.requires_grad_(not (phase == 1 and freeze_pretrained) or model.is_new_parameter(name))


def train_step(model, batch, optimizer, cfg: TrainConfig, phase: int, rng: np.random.Generator, device) -> dict:
    """One optimisation step; phase 2 truncates backprop to K consecutive iterations."""
    video = batch["video"].to(device, non_blocking=True)
    audio = batch["audio"].to(device, non_blocking=True)
    target = torch.as_tensor(batch["target"], device=device)
    h = video.shape[1]
    grad_range = None
    if phase == 2 and cfg.backprop_iterations < h:
        k0 = int(rng.integers(0, h - cfg.backprop_iterations + 1))
        grad_range = (k0, cfg.backprop_iterations)
    out = model(video, audio, grad_range=grad_range)
    loss, logs = streamsync_loss(out["snapshot"], out["stream"], target, cfg.alpha, cfg.beta)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if cfg.grad_clip:
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], cfg.grad_clip)
    optimizer.step()
    with torch.no_grad():
        logs["acc_stream_last"] = float((out["stream"][:, -1].argmax(-1) == target).float().mean())
        logs["acc_snapshot"] = float((out["snapshot"].argmax(-1) == target[:, None]).float().mean())
    logs["grad_range"] = grad_range
    return logs


class RunLog:
    """metrics.csv + metrics.jsonl in the run folder (appended per step; truncated to the step on resume)."""

    FIELDS = ["step", "phase", "epoch", "lr", "loss", "loss_snapshot", "loss_stream", "acc_snapshot", "acc_stream_last", "step_s", "dev_map", "dev_acc"]

    def __init__(self, run: Path, resume_step: int) -> None:
        self.csv, self.jsonl = run / "metrics.csv", run / "metrics.jsonl"
        rows = []
        if resume_step and self.jsonl.exists():
            rows = [json.loads(x) for x in self.jsonl.read_text().splitlines() if x.strip()]
            rows = [r for r in rows if r.get("step", 0) <= resume_step]
        atomic.write_text(self.jsonl, "".join(json.dumps(r) + "\n" for r in rows))
        with atomic.atomic_path(self.csv) as tmp:
            with open(tmp, "w", newline="") as fh:
                w = csv.DictWriter(fh, self.FIELDS, extrasaction="ignore")
                w.writeheader()
                w.writerows(rows)

    def add(self, row: dict) -> None:
        with open(self.jsonl, "a") as fh:
            fh.write(json.dumps(row) + "\n")
        with open(self.csv, "a", newline="") as fh:
            csv.DictWriter(fh, self.FIELDS, extrasaction="ignore").writerow(row)


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
    run = Path(out)
    run.mkdir(parents=True, exist_ok=True)
    device = _device(cfg.device)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)

    samples, problems = index_split(root, "train")
    for p in problems:
        console.print(f"[yellow]warning:[/yellow] {p}", highlight=False)
    if not samples:
        raise FileNotFoundError(f"no train samples under {root.shards} (expected shards/train-*.tar from realsync export)")

    ck = None
    if resume:
        last = run / "last.pt"
        if not last.exists():
            raise FileNotFoundError(f"--resume: {last} not found")
        ck = load_checkpoint(last, map_location=device)
        saved = TrainConfig(**{k: v for k, v in ck["train_config"].items() if k in TrainConfig.__dataclass_fields__})
        saved.max_steps, saved.progress, saved.workers, saved.device = cfg.max_steps, cfg.progress, cfg.workers, cfg.device
        cfg = saved
        from realsync_build.streamsync.model import ModelConfig

        mcfg = ModelConfig.from_dict(ck["model_config"])
    else:
        over = dict(cfg.model_overrides, stream_head=cfg.stream_head, history=cfg.history, video_size=cfg.video_size)
        mcfg = make_config(cfg.config, **over)
    model = StreamSync(mcfg).to(device)

    freeze = {"auto": cfg.init_from is not None, "yes": True, "no": False}.get(cfg.phase1_freeze)
    if freeze is None:
        raise ValueError(f"--phase1-freeze {cfg.phase1_freeze!r}: use auto, yes or no")
    if cfg.init_from and not resume:
        keys = init_snapshot_from(model, cfg.init_from)
        console.print(f"init: {len(keys)} snapshot-predictor tensors from {cfg.init_from}")
    elif not freeze and cfg.phase1_steps:
        console.print("note: no --init-from, so the snapshot predictor starts from scratch and phase 1 trains it too")

    steps_per_epoch = math.ceil(max(len(samples), cfg.batch_size) / cfg.batch_size)
    total = cfg.phase1_steps + cfg.phase2_epochs * steps_per_epoch
    if cfg.max_steps is not None:
        if cfg.max_steps < total and cfg.max_steps <= cfg.phase1_steps:
            console.print(f"note: --max-steps {cfg.max_steps} ends the run inside phase 1 (phase 1 has {cfg.phase1_steps} steps)")
        total = min(total, cfg.max_steps)

    h = mcfg.history
    min_dur = min(s.duration_s for s in samples)
    _, hop_fit, _ = fit_hop(min_dur, mcfg.window_s, MAX_OFFSET_S, h, cfg.hop_s, cfg.jitter_s)
    if hop_fit < cfg.hop_s:
        console.print(
            f"note: the shortest train clip is {min_dur:.1f} s, too short for {h} windows of {mcfg.window_s:g} s at a "
            f"{cfg.hop_s:g} s hop; such clips keep {h} windows with the hop shrunk (down to {hop_fit:.2f} s)"
        )

    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: max(0.0, 1.0 - s / max(total, 1)))
    step, epoch, best = 0, 0, {"dev_map": -1.0, "step": 0}
    if ck is not None:
        model.load_state_dict(ck["model"])
        optimizer.load_state_dict(ck["optimizer"])
        step, epoch, best = ck["step"], ck["epoch"], ck["best"]
        sched.last_epoch = step
        rng = np.random.default_rng([cfg.seed, step])
        console.print(f"resumed from {run / 'last.pt'} at step {step}")

    resolved = {"train": asdict(cfg), "model": mcfg.to_dict(), "root": str(root.root), "n_train_clips": len(samples), "total_steps": total,
                "steps_per_epoch": steps_per_epoch, "device": str(device)}
    atomic.write_text(run / "config.json", json.dumps(resolved, indent=2))
    log = RunLog(run, step)
    dataset = TrainWindows(samples, mcfg, h, cfg.hop_s, cfg.jitter_s, cfg.seed, length=cfg.batch_size)

    def checkpoint(name: str) -> None:
        save_checkpoint(run / name, model, optimizer, {"train_config": asdict(cfg), "step": step, "epoch": epoch, "best": best})

    def evaluate_dev() -> dict:
        score = dev_score(root, model, cfg, device)
        if score is None:
            return {}
        if score["map"] is not None and score["map"] > best["dev_map"]:
            best.update(dev_map=score["map"], step=step)
            checkpoint("best.pt")
        return score

    phase = 0
    t_last = time.monotonic()
    with _progress(cfg.progress) as prog:
        task = prog.add_task("train", total=total, completed=step, phase=1, loss=float("nan"), step_s=0.0)
        while step < total:
            dataset.set_epoch(epoch)
            loader = DataLoader(dataset, batch_size=cfg.batch_size, shuffle=True, num_workers=cfg.workers, drop_last=False,
                                generator=torch.Generator().manual_seed(cfg.seed + epoch), pin_memory=device.type == "cuda")
            for batch in loader:
                want = 1 if step < cfg.phase1_steps else 2
                if want != phase:
                    if phase == 1 and cfg.eval_every == 0:
                        evaluate_dev()
                    phase = want
                    set_phase(model, phase, freeze)
                    model.train()
                logs = train_step(model, batch, optimizer, cfg, phase, rng, device)
                sched.step()
                step += 1
                now = time.monotonic()
                row = {"step": step, "phase": phase, "epoch": epoch, "lr": optimizer.param_groups[0]["lr"], **logs, "step_s": now - t_last}
                t_last = now
                row.pop("grad_range", None)
                if (cfg.eval_every and step % cfg.eval_every == 0) or step == total:
                    score = evaluate_dev()
                    row.update(dev_map=score.get("map"), dev_acc=score.get("acc"))
                    model.train()
                if step % cfg.log_every == 0 or step == total:
                    log.add(row)
                prog.update(task, advance=1, phase=phase, loss=row["loss"], step_s=row["step_s"])
                if step % cfg.checkpoint_every == 0 or step == total:
                    checkpoint("last.pt")
                if step >= total:
                    break
            epoch += 1
    if not (run / "best.pt").exists():
        console.print("note: no dev shards with segments (or no dev mAP), so best.pt is the last checkpoint")
        checkpoint("best.pt")
    summary = {"run": str(run), "steps": step, "best_dev_map": best["dev_map"] if best["dev_map"] >= 0 else None,
               "best_step": best["step"], "device": str(device)}
    atomic.write_text(run / "summary.json", json.dumps(summary, indent=2))
    console.print(f"train: {step} steps; best dev mAP {summary['best_dev_map']} at step {best['step']}; run folder {run}")
    return summary
