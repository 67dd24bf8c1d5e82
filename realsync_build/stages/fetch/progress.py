"""Download progress: an overall bar (videos, bytes) and one bar per video in flight.

Workers report through a queue (a ``multiprocessing.Manager`` queue, which pickles
into the task dicts of a process pool); a thread in the driver draws them with
``rich``.  Without a display (``--no-progress``, the Ray executor) the queue is None
and the workers stay silent.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import queue as queue_mod
import threading
from typing import Iterator

from rich.console import Group
from rich.live import Live
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from realsync_build.core.ui import console


class _Display:
    def __init__(self, total: int) -> None:
        self.overall = Progress(
            TextColumn("[bold]fetch[/bold]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("videos"),
            TextColumn("{task.fields[bytes]}", style="cyan"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        self.videos = Progress(
            TextColumn("  {task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        self.total_id = self.overall.add_task("fetch", total=total, bytes="")
        self.rows: dict[str, int] = {}
        self.done_bytes: dict[str, int] = {}

    def handle(self, msg) -> None:
        kind, vid = msg[0], msg[1]
        if kind == "start":
            if vid not in self.rows:
                self.rows[vid] = self.videos.add_task(vid, total=None)
        elif kind == "bytes":
            _, _, done, total = msg
            tid = self.rows.get(vid)
            if tid is not None:
                self.videos.update(tid, completed=done, total=total)
            self.done_bytes[vid] = max(done, self.done_bytes.get(vid, 0))
            mb = sum(self.done_bytes.values()) / 1e6
            self.overall.update(self.total_id, bytes=f"{mb:,.1f} MB")
        elif kind == "end":
            tid = self.rows.pop(vid, None)
            if tid is not None:
                self.videos.remove_task(tid)
            self.overall.advance(self.total_id)


@contextlib.contextmanager
def fetch_progress(total: int, enabled: bool, cross_process: bool) -> Iterator[object | None]:
    """Yield the queue workers report to (None when disabled) while the display runs."""
    if not enabled or total == 0:
        yield None
        return
    manager = mp.get_context("spawn").Manager() if cross_process else None
    q = manager.Queue() if manager is not None else queue_mod.Queue()
    display = _Display(total)
    stop = threading.Event()

    def pump() -> None:
        while True:
            try:
                msg = q.get(timeout=0.1)
            except queue_mod.Empty:
                if stop.is_set():
                    return
                continue
            except (EOFError, OSError, BrokenPipeError):
                return
            try:
                display.handle(msg)
            except Exception:  # noqa: BLE001 - a display glitch never stops the stage
                pass

    thread = threading.Thread(target=pump, name="fetch-progress", daemon=True)
    try:
        with Live(Group(display.overall, display.videos), console=console, refresh_per_second=8, transient=False):
            thread.start()
            try:
                yield q
            finally:
                stop.set()
                thread.join(timeout=5)
    finally:
        if manager is not None:
            manager.shutdown()
