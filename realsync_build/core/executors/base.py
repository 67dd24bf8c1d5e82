"""Executors map a stage's per-item function over pending items.

An executor knows nothing about stages or manifests: it takes a picklable
top-level function and a list of items and yields ``(index, result, error)``
as items finish (in completion order).  ``error`` is a one-line message when
the function raised; the driver turns it into an error row.

``local`` (a process pool, the default) needs nothing beyond the standard
library; ``inline`` runs in the calling process (debugging, tests).  Other
executors (e.g. Ray) register themselves in :data:`EXECUTORS`.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence


class WorkerLost(RuntimeError):
    """A worker process died (killed, out of memory) while items were in flight."""


@dataclass
class Resources:
    """What one task asks for (used by cluster executors; the local pool uses ``workers``)."""

    num_cpus: float = 1.0
    num_gpus: float = 0.0


def error_message(exc: BaseException) -> str:
    """A one-line message for an error row: type and text, no traceback."""
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def call_safely(fn: Callable[[Any], Any], item: Any) -> tuple[Any, str | None, str | None]:
    """Run ``fn(item)``; never raises (except on interpreter shutdown)."""
    try:
        return fn(item), None, None
    except Exception as exc:  # noqa: BLE001 - a stage item must never stop the run
        return None, error_message(exc), traceback.format_exc()


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


class Executor:
    name = "base"

    def imap(self, fn: Callable, items: Sequence[Any], resources: Resources | None = None) -> Iterator[tuple[int, Any, str | None]]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class InlineExecutor(Executor):
    name = "inline"

    def imap(self, fn, items, resources=None):
        for i, item in enumerate(items):
            result, err, _tb = call_safely(fn, item)
            yield i, result, err


@dataclass
class LocalExecutor(Executor):
    """A process pool over the items, ``workers`` at a time (spawned processes).

    With ``devices`` (e.g. ``["cuda:0", "cuda:1"]``) there is one worker per device and
    each worker process is pinned to its own one for its whole life
    (:func:`realsync_build.core.executors.devices.pin_worker`).
    """

    workers: int = field(default_factory=default_workers)
    start_method: str = "spawn"
    devices: Sequence[str] | None = None
    name = "local"

    def imap(self, fn, items, resources=None):
        from realsync_build.core.executors import devices as dev

        n = len(self.devices) if self.devices else self.workers
        if n <= 1 or len(items) <= 1:
            previous = dev.pinned_device()
            if self.devices:
                dev.set_pinned(self.devices[0])
            try:
                yield from InlineExecutor().imap(fn, items)
            finally:
                dev.set_pinned(previous)
            return
        ctx = mp.get_context(self.start_method)
        size = min(n, len(items))
        extra: dict[str, Any] = {}
        if self.devices:
            slots = ctx.Queue()
            for d in list(self.devices)[:size]:
                slots.put(d)
            extra = {"initializer": dev.pin_worker, "initargs": (slots,)}
        pool = ProcessPoolExecutor(max_workers=size, mp_context=ctx, **extra)
        try:
            futures = {pool.submit(call_safely, fn, item): i for i, item in enumerate(items)}
            pending = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    try:
                        result, err, _tb = fut.result()
                    except BrokenProcessPool as exc:
                        raise WorkerLost(
                            "a worker process died (killed or out of memory); finished items are saved, rerun to resume"
                        ) from exc
                    yield futures[fut], result, err
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _make_local(workers: int | None = None, devices: Sequence[str] | None = None, **_: Any) -> Executor:
    return LocalExecutor(workers=workers or default_workers(), devices=devices)


def _make_inline(**_: Any) -> Executor:
    return InlineExecutor()


def _make_ray(workers: int | None = None, ray_address: str | None = None, devices: Any = None, **kw: Any) -> Executor:
    # ``devices`` is for the local pool; Ray gives each GPU task its own CUDA_VISIBLE_DEVICES
    from realsync_build.core.executors.ray import RayExecutor  # imports ray itself; RuntimeError with a hint if absent

    return RayExecutor(address=ray_address, workers=workers, **kw)


EXECUTORS: dict[str, Callable[..., Executor]] = {
    "local": _make_local,
    "inline": _make_inline,
    "ray": _make_ray,
}


def get_executor(name: str = "local", **kwargs: Any) -> Executor:
    try:
        factory = EXECUTORS[name]
    except KeyError:
        raise ValueError(f"unknown executor {name!r}; choose from {', '.join(sorted(EXECUTORS))}") from None
    return factory(**kwargs)
