"""Executors map a stage's per-item function over pending items.

An executor knows nothing about stages or manifests: it takes a picklable
top-level function and a list of items and yields ``(index, result, error)``
as items finish (in completion order).  ``error`` is a one-line message when
the function raised; the driver turns it into an error row.

This module is the base every executor builds on: the interface, the error
rows, and the registry :data:`EXECUTORS`.  ``local`` (a process pool, the
default) and ``inline`` live in :mod:`.local`, ``ray`` in :mod:`.ray`; each
imports this module, and this module imports them only by name, on demand.
"""

from __future__ import annotations

import importlib
import os
import traceback
from dataclasses import dataclass
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


# The registry: executor name -> "module:factory".  Plugins import this module, never the other
# way round; a factory's module is imported only when that executor is asked for (Ray is optional).
EXECUTORS: dict[str, str] = {
    "local": "realsync_build.core.executors.local:make_local",
    "inline": "realsync_build.core.executors.local:make_inline",
    "ray": "realsync_build.core.executors.ray:make_ray",
}


def register(name: str, factory: str) -> None:
    """Add an executor: ``factory`` is ``"package.module:function"`` returning an :class:`Executor`."""
    EXECUTORS[name] = factory


def get_executor(name: str = "local", **kwargs: Any) -> Executor:
    try:
        target = EXECUTORS[name]
    except KeyError:
        raise ValueError(f"unknown executor {name!r}; choose from {', '.join(sorted(EXECUTORS))}") from None
    module, _, func = target.partition(":")
    return getattr(importlib.import_module(module), func)(**kwargs)
