"""Where a task's work runs: visible GPUs, one device per local worker, threads and batch sizes.

Everything here is computed **on the worker** (the process that runs the task),
never on the driver, because a Ray task may run on a node with other cores,
GPUs and memory than the machine that submitted it:

- :func:`visible_gpus` asks torch how many CUDA devices this process sees (the
  single boundary the tests mock);
- :func:`pin_worker` is the local pool's initializer: each worker process takes
  its own device from a queue (``cuda:0``, ``cuda:1`` ...) and
  :func:`pinned_device` returns it for the rest of the process's life;
- :func:`worker_threads` gives a task the CPUs Ray assigned to it, or this
  machine's cores divided by the tasks that share it;
- :func:`device_batch` picks a batch size from the device's *free* memory.
"""

from __future__ import annotations

import os
import sys
from typing import Any

_PINNED: str | None = None


def visible_gpus() -> int:
    """CUDA devices this process can use (0 without torch or CUDA)."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return 0
    try:
        return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0
    except Exception:  # noqa: BLE001 - a broken driver means no GPU, not a crash
        return 0


def gpu_devices(n: int | None = None) -> list[str]:
    """``cuda:0 .. cuda:N-1`` for the visible GPUs (or the first ``n``)."""
    count = visible_gpus()
    return [f"cuda:{i}" for i in range(count if n is None else min(n, count))]


def pin_worker(slots: Any) -> None:
    """Process-pool initializer: take this worker's own device from ``slots`` (a queue)."""
    global _PINNED
    device = slots.get()
    _PINNED = device
    if device and device.startswith("cuda"):
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.set_device(device)
        except Exception:  # noqa: BLE001 - pinning is advisory; the task passes the device explicitly
            pass


def set_pinned(device: str | None) -> None:
    """Pin the calling process (the inline path, tests)."""
    global _PINNED
    _PINNED = device


def pinned_device() -> str | None:
    """The device :func:`pin_worker` gave this process, or None."""
    return _PINNED


def task_device(requested: str) -> str:
    """The device a task uses: the worker's pinned GPU for ``auto``/``cuda``, else what was asked."""
    pinned = pinned_device()
    if pinned and requested in ("auto", "cuda", "", None):
        return pinned
    return requested


def ray_assigned_cpus() -> float | None:
    """CPUs Ray reserved for the running task, or None outside a Ray task."""
    ray = sys.modules.get("ray")
    if ray is None:
        return None
    try:
        if not ray.is_initialized():
            return None
        ctx = ray.get_runtime_context()
        if ctx.worker.mode != ray.WORKER_MODE:  # the driver, not a task
            return None
        cpus = ctx.get_assigned_resources().get("CPU")
        return float(cpus) if cpus else None
    except Exception:  # noqa: BLE001 - older/newer Ray APIs: fall back to the core count
        return None


def machine_cores() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def worker_threads(requested: int = 0, tasks_per_machine: int = 1) -> int:
    """Threads for one task, decided where it runs.

    ``requested`` > 0 wins.  In a Ray task: the CPUs Ray assigned to it.  Else
    this machine's cores shared by ``tasks_per_machine`` concurrent tasks.
    """
    if requested and requested > 0:
        return int(requested)
    assigned = ray_assigned_cpus()
    if assigned:
        return max(1, int(assigned))
    return max(1, machine_cores() // max(1, int(tasks_per_machine)))


def free_gpu_bytes(device: str) -> int | None:
    """Free memory on a CUDA device (``torch.cuda.mem_get_info``), None for CPU or on error."""
    if not str(device).startswith("cuda"):
        return None
    try:
        import torch

        free, _total = torch.cuda.mem_get_info(torch.device(device))
        return int(free)
    except Exception:  # noqa: BLE001
        return None


def device_batch(device: str, requested: int, cpu_default: int, bytes_per_item: int, cap: int, share: float = 0.5) -> int:
    """A batch size for ``device``: ``requested`` when > 0; on CPU ``cpu_default``; on a GPU as many
    items as fit in ``share`` of the free memory (at ``bytes_per_item`` each), at most
    and ``cap`` (fewer when memory is short).  Free memory is read when the model is built, on the worker."""
    if requested and requested > 0:
        return int(requested)
    free = free_gpu_bytes(device)
    if free is None:
        return cpu_default
    fit = int(free * share) // max(1, bytes_per_item)
    return max(1, min(cap, fit))


def worker_report(_item: Any = None) -> dict:
    """Where a task landed: process, pinned device, threads it would get (tests, bench/gpu_check.sh)."""
    import time

    time.sleep(0.2)  # long enough that every worker of a small pool takes a task
    return {"pid": os.getpid(), "device": pinned_device(), "threads": worker_threads(0, 1), "ray_cpus": ray_assigned_cpus()}
