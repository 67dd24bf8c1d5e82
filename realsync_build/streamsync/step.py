"""One training step, as the StreamSync code takes it (``scripts/train_sync.py``, ``scripts/train_utils.py``).

The phase (what trains), the K window of phase 2, the optimiser and its schedule, the loss over all
iterations, backward, grad-norm clip and the optimiser step.  :mod:`.train` drives these over a run;
``tests/test_streamsync_reference.py`` checks one phase-1 and one phase-2 step against the code's.
``cfg`` is a :class:`~realsync_build.streamsync.train.TrainConfig` whose recipe is resolved.
"""

from __future__ import annotations

import numpy as np
import torch

from realsync_build.streamsync import runtime
from realsync_build.streamsync.model import StreamSync
from realsync_build.streamsync.recipes import lr_factor
from realsync_build.streamsync.task import at_least_fp32, streamsync_loss


def set_phase(model: StreamSync, phase: int, freeze_pretrained: bool) -> None:
    """Phase 1 (frozen): only StreamSync's new parts train; phase 2: everything."""
    for name, p in model.named_parameters():
        p.requires_grad_(not (phase == 1 and freeze_pretrained) or model.is_new_parameter(name))


def draw_grad_range(cfg, phase: int, h: int, rng: np.random.Generator | None = None, micro_index: int = 0) -> tuple[int, int] | None:
    """Phase 2: K consecutive iterations; phase 1: all (None).

    ``uniform`` (the paper): a uniform start from ``rng``.  ``cycle`` (the StreamSync code,
    ``train_sync.py``): start ``micro_index % (H - 2K) + K``, ``micro_index`` counting micro-batches
    from the first step of the run, so starts K .. H-K-1 in turn and the first and last K never.
    """
    k = cfg.backprop_iterations
    if phase != 2 or k >= h:
        return None
    if (cfg.k_placement or "uniform") == "cycle":
        if h <= 2 * k:
            raise ValueError(f"k_placement cycle needs H > 2K (H={h}, K={k})")
        return micro_index % (h - 2 * k) + k, k
    return int(rng.integers(0, h - k + 1)), k


def make_optimizer(model: torch.nn.Module, cfg) -> torch.optim.Optimizer:
    """Adam or AdamW over every parameter (frozen ones have no gradient and are skipped), as the code's ``get_optimizer``."""
    if cfg.lr is None:
        raise ValueError("TrainConfig.lr is unset: recipes.resolve_recipe(cfg) fills it from the recipe")
    kind = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[cfg.optimizer or "adam"]
    eps = 1e-7 if cfg.adam_eps is None else cfg.adam_eps
    return kind(model.parameters(), lr=cfg.lr, betas=(0.9, 0.999), eps=eps, weight_decay=cfg.weight_decay or 0.0)


def make_scheduler(optimizer: torch.optim.Optimizer, cfg, planned: int) -> torch.optim.lr_scheduler.LRScheduler:
    """The recipe's learning-rate schedule (:func:`~realsync_build.streamsync.recipes.lr_factor`), stepped once per optimiser step."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(cfg, s, planned))


def forward_loss(model, batch, cfg, grad_range, device, precision: str = "fp32") -> tuple[torch.Tensor, dict, dict]:
    video = batch["video"].to(device, non_blocking=True)
    audio = batch["audio"].to(device, non_blocking=True)
    target = torch.as_tensor(batch["target"], device=device)
    with runtime.autocast(torch.device(device), precision):
        out = model(video, audio, grad_range=grad_range)
    loss, logs = streamsync_loss(at_least_fp32(out["snapshot"]), at_least_fp32(out["stream"]), target, cfg.backprop_iterations,
                                 cfg.label_smoothing)
    with torch.no_grad():
        logs["acc_stream_last"] = float((out["stream"][:, -1].argmax(-1) == target).float().mean())
        logs["acc_snapshot"] = float((out["snapshot"].argmax(-1) == target[:, None]).float().mean())
    return loss, logs, out


DRAW = "draw"  # train_step: draw the K window from the config (the default)


def backward_step(model, batch, optimizer, cfg, phase: int, rng: np.random.Generator | None, device, *,
                  micro_index: int = 0, grad_range=DRAW) -> dict:
    """Zero the gradients, forward, loss, backward (the code's ``make_backward_step``); phase 2 truncates
    backprop to K iterations (``grad_range``: drawn per ``cfg.k_placement``, or given)."""
    if isinstance(grad_range, str):
        grad_range = draw_grad_range(cfg, phase, batch["video"].shape[1], rng, micro_index)
    optimizer.zero_grad(set_to_none=True)
    loss, logs, out = forward_loss(model, batch, cfg, grad_range, device)
    loss.backward()
    logs.update(grad_range=grad_range, loss_tensor=loss.detach(), out={k: v.detach() for k, v in out.items()})
    return logs


def optimizer_step(model, optimizer, cfg, scheduler=None) -> None:
    """Grad-norm clip, the optimiser step, then ``scheduler.step()`` if given (the code's ``make_optim_step``)."""
    if cfg.grad_clip:
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], cfg.grad_clip)
    optimizer.step()
    if scheduler is not None:
        scheduler.step()


def train_step(model, batch, optimizer, cfg, phase: int, rng: np.random.Generator | None, device, *,
               micro_index: int = 0, grad_range=DRAW, scheduler=None) -> dict:
    """One optimisation step on one batch (fp32, no accumulation): :func:`backward_step` then :func:`optimizer_step`
    (the code's ``make_backward_and_optim_step``)."""
    logs = backward_step(model, batch, optimizer, cfg, phase, rng, device, micro_index=micro_index, grad_range=grad_range)
    optimizer_step(model, optimizer, cfg, scheduler)
    del logs["loss_tensor"], logs["out"]
    return logs
