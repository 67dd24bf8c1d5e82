"""The executors that run on this machine: a process pool (``local``) and ``inline``.

Pool workers die with their driver: each worker runs a watchdog thread that
exits the process as soon as its parent is gone (``kill -9`` of the driver
leaves no orphans burning CPU), and on Linux it also asks the kernel for
``SIGKILL`` on parent death.  Child processes a worker starts (ffmpeg) are
tied to the worker the same way by :func:`realsync_build.media.ffmpeg.run_ffmpeg`.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, Sequence

from realsync_build.core.executors.base import Executor, ItemError, WorkerLost, call_safely, default_workers

WATCHDOG_PERIOD_S = 0.5


def die_with_parent(parent: int | None = None) -> None:
    """Make this process exit when its parent (pid ``parent``, by default the current one) dies.

    A pool initializer gets the driver's pid: a worker that starts up after the driver was
    already killed (it is then a child of init) exits at once."""
    parent = os.getppid() if parent is None else parent
    _set_pdeathsig()
    if os.getppid() != parent:
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(WATCHDOG_PERIOD_S)
            if os.getppid() != parent:  # re-parented: the driver is gone
                os._exit(1)

    threading.Thread(target=watch, name="realsync-parent-watchdog", daemon=True).start()


def _set_pdeathsig() -> None:
    """Linux: SIGKILL this process when the thread that forked it exits (best effort)."""
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class InlineExecutor(Executor):
    name = "inline"

    def imap(self, fn, items, resources=None):
        for i, item in enumerate(items):
            result, err, detail = call_safely(fn, item)
            yield i, result, None if err is None else ItemError(err, detail)


def _init_worker(parent: int, slots: Any = None) -> None:
    """Pool initializer: die with the driver, leave Ctrl-C to the driver (it stops the pool; a
    worker must not turn the interrupt into a failed item), and take its own device when pinning."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(parent)
    if slots is not None:
        from realsync_build.core.executors.devices import pin_worker

        pin_worker(slots)


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
        slots = None
        if self.devices:
            slots = ctx.Queue()
            for d in list(self.devices)[:size]:
                slots.put(d)
        pool = ProcessPoolExecutor(max_workers=size, mp_context=ctx, initializer=_init_worker, initargs=(os.getpid(), slots))
        completed = False
        try:
            futures = {pool.submit(call_safely, fn, item): i for i, item in enumerate(items)}
            pending = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    try:
                        result, err, detail = fut.result()
                    except BrokenProcessPool as exc:
                        raise WorkerLost(
                            "a worker process died (killed or out of memory); finished items are saved, rerun to resume"
                        ) from exc
                    yield futures[fut], result, None if err is None else ItemError(err, detail)
            completed = True
        finally:
            if not completed:  # Ctrl-C, or the driver stopped the run: abort the items in flight, do not wait for them
                stop_workers(pool)
            pool.shutdown(wait=True, cancel_futures=True)


def stop_workers(pool: ProcessPoolExecutor) -> None:
    """Terminate a pool's worker processes now (their children die with them, see above)."""
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        try:
            proc.terminate()
        except (OSError, ValueError, AttributeError):
            pass


def make_local(workers: int | None = None, devices: Sequence[str] | None = None, **_: Any) -> Executor:
    return LocalExecutor(workers=workers or default_workers(), devices=devices)


def make_inline(**_: Any) -> Executor:
    return InlineExecutor()
