"""Executors map a stage's per-item function over pending items.

An executor knows nothing about stages or manifests: it takes a picklable
top-level function and a list of items and yields ``(index, result, error)``
as items finish (in completion order).  ``error`` is a one-line message when
the function raised (an :class:`ItemError`: a ``str`` that also carries the whole
traceback as ``.detail``); the driver turns the line into an error row and the
detail into the item's log (``logs/{stage}/{item}.log``).

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


STDERR_TAIL = "stderr_tail"  # an exception attribute: the last lines a failed tool (ffmpeg) wrote


def failure_detail(exc: BaseException) -> str:
    """The whole story of a failure for the item's log: the traceback (causes included), then
    the last lines of a tool's stderr when an exception in the chain carries them (``stderr_tail``)."""
    parts = ["".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip("\n")]
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        tail = getattr(cur, STDERR_TAIL, None)
        if tail:
            lines = list(tail) if not isinstance(tail, str) else tail.splitlines()
            command = getattr(cur, "command", None)
            head = f"--- stderr of {command} (last {len(lines)} lines) ---" if command else f"--- stderr (last {len(lines)} lines) ---"
            parts.append("\n".join([head, *lines]))
        cur = cur.__cause__ or cur.__context__
    return "\n\n".join(parts) + "\n"


class ItemError(str):
    """A failed item's one-line message (what its error row keeps), with ``detail``: the whole
    traceback and tool output, for the item's log.  Being a ``str``, it reads as the line."""

    detail: str

    def __new__(cls, message: str, detail: str | None = None) -> "ItemError":
        obj = super().__new__(cls, message)
        obj.detail = detail or ""
        return obj


def call_safely(fn: Callable[[Any], Any], item: Any) -> tuple[Any, str | None, str | None]:
    """Run ``fn(item)``; never raises (except on interpreter shutdown).  Returns ``(result, one-line
    error, detail)``: the detail is :func:`failure_detail` (traceback plus a tool's stderr tail)."""
    try:
        return fn(item), None, None
    except Exception as exc:  # noqa: BLE001 - a stage item must never stop the run
        return None, error_message(exc), failure_detail(exc)


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
