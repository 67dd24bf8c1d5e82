"""Download progress: an overall bar (videos, bytes, an ETA from media hours or bytes) and one bar per video in flight.

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
import time
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


def _seconds(value) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if v == v and v > 0 else None


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class Eta:
    """The time left from media hours (every pending video's duration is known: channel runs), else
    from bytes (every video left has started and reported its size), else unknown: never from a
    count of videos, whose sizes differ by 10x.  Fed by the display; :meth:`text` is what it shows."""

    def __init__(self, durations: dict[str, float | None], clock=time.monotonic) -> None:
        self.durations = {vid: _seconds(d) for vid, d in durations.items()}
        self.clock = clock
        self.start = clock()
        self.fraction: dict[str, float] = {}  # video -> share downloaded (1.0 when finished)
        self.bytes_done: dict[str, int] = {}
        self.bytes_total: dict[str, int] = {}
        self.ended: set[str] = set()

    def update(self, vid: str, done: int, total: int | None) -> None:
        self.bytes_done[vid] = max(done, self.bytes_done.get(vid, 0))
        if total:
            self.bytes_total[vid] = total
            self.fraction[vid] = min(1.0, done / total)

    def end(self, vid: str) -> None:
        self.ended.add(vid)
        self.fraction[vid] = 1.0
        if vid in self.bytes_total:
            self.bytes_done[vid] = self.bytes_total[vid]

    def seconds_left(self) -> float | None:
        elapsed = self.clock() - self.start
        if elapsed <= 0 or not self.durations:
            return None
        if all(d is not None for d in self.durations.values()):  # media hours
            total = sum(self.durations.values())
            done = sum(d * self.fraction.get(v, 0.0) for v, d in self.durations.items())
        else:  # bytes, once every video left has said how big it is
            left = [v for v in self.durations if v not in self.ended]
            if any(v not in self.bytes_total for v in left):
                return None
            total = sum(self.bytes_total.get(v, 0) for v in self.durations)
            done = sum(self.bytes_done.get(v, 0) for v in self.durations)
        if done <= 0 or total <= 0:
            return None
        return max(0.0, (total - done) * elapsed / done)

    def text(self) -> str:
        left = self.seconds_left()
        return "ETA n/a" if left is None else f"ETA {_clock(left)}"


class _Display:
    def __init__(self, total: int, durations: dict[str, float | None] | None = None) -> None:
        self.eta = Eta(durations or {})
        self.overall = Progress(
            TextColumn("[bold]fetch[/bold]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("videos"),
            TextColumn("{task.fields[bytes]}", style="cyan"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[eta]}"),
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
        self.total_id = self.overall.add_task("fetch", total=total, bytes="", eta=self.eta.text())
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
            self.eta.update(vid, done, total)
            mb = sum(self.done_bytes.values()) / 1e6
            self.overall.update(self.total_id, bytes=f"{mb:,.1f} MB")
        elif kind == "end":
            tid = self.rows.pop(vid, None)
            if tid is not None:
                self.videos.remove_task(tid)
            self.eta.end(vid)
            self.overall.advance(self.total_id)
        self.overall.update(self.total_id, eta=self.eta.text())


@contextlib.contextmanager
def fetch_progress(
    total: int, enabled: bool, cross_process: bool, durations: dict[str, float | None] | None = None
) -> Iterator[object | None]:
    """Yield the queue workers report to (None when disabled) while the display runs."""
    if not enabled or total == 0:
        yield None
        return
    manager = mp.get_context("spawn").Manager() if cross_process else None
    q = manager.Queue() if manager is not None else queue_mod.Queue()
    display = _Display(total, durations)
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
