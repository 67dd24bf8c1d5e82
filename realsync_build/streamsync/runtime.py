"""The training runtime: devices, DistributedDataParallel, mixed precision, RNG state, the batch sampler.

* Distributed: ``torchrun --nproc_per_node N $(which realsync) train ...`` sets ``RANK``,
  ``WORLD_SIZE`` and ``LOCAL_RANK``; :func:`init_distributed` joins the group (NCCL on CUDA,
  gloo on CPU) and pins each rank to ``cuda:LOCAL_RANK``.  Without those variables it is a
  single process (``world_size`` 1).
* Precision: ``fp32`` (default), ``bf16`` (autocast, no scaler) or ``fp16`` (autocast and a
  :class:`torch.amp.GradScaler`).
* :class:`RowBatchSampler`: one permutation of the train rows per epoch (seeded by seed and
  epoch, never by the global RNG), cut into global batches of ``batch_size * world_size *
  accumulation`` rows; each rank takes its share of each micro-batch.  It can start at any
  micro-batch, which is how resume continues at the exact data position.
* :func:`rng_state` / :func:`set_rng_state`: python, numpy, torch and CUDA generators.
"""

from __future__ import annotations

import contextlib
import os
import random
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from realsync_build.core.errors import EnvironmentFault, UserError

PRECISIONS = ("fp32", "bf16", "fp16")


@dataclass
class DistEnv:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(name)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise EnvironmentFault(f"--device {name}: CUDA is not available on this machine (use --device cpu)")
        if dev.index is None:
            dev = torch.device("cuda", local_rank)
    return dev


def init_distributed(device_name: str) -> DistEnv:
    """Join the torchrun process group when launched by torchrun; else a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(device_name, local)
    if world > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return DistEnv(rank, world, local, device)


def shutdown_distributed(env: DistEnv) -> None:
    if env.distributed and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def barrier(env: DistEnv) -> None:
    if env.distributed:
        dist.barrier()


def broadcast_object(env: DistEnv, obj):
    if not env.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_objects(env: DistEnv, obj) -> list:
    if not env.distributed:
        return [obj]
    out = [None] * env.world_size
    dist.all_gather_object(out, obj)
    return out


def mean_over_ranks(env: DistEnv, values: dict[str, float]) -> dict[str, float]:
    """Average float logs over ranks (each rank holds an equal share of the global batch)."""
    if not env.distributed or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64)
    dist.all_reduce(t)
    return {k: float(v) / env.world_size for k, v in zip(keys, t.tolist())}


def autocast(device: torch.device, precision: str):
    """The forward pass's precision context: autocast for bf16/fp16, nothing for fp32."""
    if precision not in PRECISIONS:
        raise UserError(f"--precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)


def grad_scaler(device: torch.device, precision: str) -> torch.amp.GradScaler:
    """A loss scaler, enabled only for fp16 (bf16 has fp32's exponent range)."""
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16")


def rng_state() -> dict:
    """Every generator's state as tensors and plain numbers (loadable with ``torch.load(weights_only=True)``)."""
    version, py_state, gauss = random.getstate()
    _, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": {"version": version, "state": torch.tensor(py_state, dtype=torch.int64), "gauss": gauss},
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos), "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    py = state["python"]
    random.setstate((py["version"], tuple(int(x) for x in py["state"].tolist()), py["gauss"]))
    npy = state["numpy"]
    np.random.set_state(("MT19937", npy["keys"].numpy().astype(np.uint32), npy["pos"], npy["has_gauss"], npy["cached"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def default_workers(world_size: int = 1) -> int:
    """DataLoader workers per rank: the CPUs this process may use, shared by the ranks, one left for
    the training loop itself, at most 8, at least 1."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(8, cpus // max(world_size, 1) - 1))


class RowBatchSampler(torch.utils.data.Sampler):
    """Micro-batches of row indices for this rank, for one epoch, from micro-batch ``start`` on.

    The epoch's permutation (seeded by ``(seed, epoch)``) is padded by wrapping around to a
    multiple of the global batch, so every step has exactly ``global_batch`` rows and every rank
    the same number.  Micro-batch m of a step holds rows ``[m*B*W, (m+1)*B*W)`` of the step's
    global batch; rank r takes ``[r*B, (r+1)*B)`` of them.  Single-process training with
    ``batch_size * world_size`` and the same accumulation therefore sees the same rows per step.
    """

    def __init__(self, n_rows: int, batch_size: int, world_size: int, rank: int, accumulation: int, seed: int, epoch: int, start: int = 0):
        self.n_rows, self.batch, self.world, self.rank, self.accum = n_rows, batch_size, world_size, rank, accumulation
        self.seed, self.epoch, self.start = seed, epoch, start

    @property
    def global_batch(self) -> int:
        return self.batch * self.world * self.accum

    @property
    def steps_per_epoch(self) -> int:
        return max(1, -(-self.n_rows // self.global_batch))

    def __len__(self) -> int:
        return self.steps_per_epoch * self.accum - self.start

    def __iter__(self):
        perm = np.random.default_rng([self.seed, self.epoch]).permutation(self.n_rows)
        need = self.steps_per_epoch * self.global_batch
        perm = np.resize(perm, need)  # wrap around
        micro = self.batch * self.world
        for m in range(self.start, self.steps_per_epoch * self.accum):
            rows = perm[m * micro : (m + 1) * micro]
            yield [int(i) for i in rows[self.rank * self.batch : (self.rank + 1) * self.batch]]
