"""Progress in media seconds inside long items: preprocess (per source), annotate (per clip).

Preprocess progress in media seconds, per clip, while a long source is still being cut.

A worker reports, for its one source, how far ffmpeg has got (from ffmpeg's ``-progress``
stream) and how many clips are cut, into a small JSON file the driver polls; the driver shows
one bar over the media hours of all pending sources, with the speed as a multiple of
realtime and an ETA computed from media hours, not from a count of videos.

Annotate uses the same two halves with ``key="clip_id"``: a worker reports the media seconds of
its clip that the video pass has decoded, so a 300 s clip moves the bar every few seconds.

The files live in a temp folder on the driver's machine, so this works for the ``local``
and ``inline`` executors; with ``ray`` (workers possibly elsewhere) the stage keeps its
per-video bar.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
from pathlib import Path

from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from realsync_build.core import atomic
from realsync_build.core.ui import console


class TaskProgress:
    """Worker side: ``{"media_s", "clips", "finished"}`` of one source, written atomically, throttled."""

    def __init__(self, path: str | None, every_s: float = 0.5) -> None:
        self.path = path
        self.every_s = every_s
        self.last = 0.0
        self.clips = 0  # clips of this source cut so far

    def update(self, media_s: float, clips: int, *, finished: bool = False, force: bool = False) -> None:
        if not self.path:
            return
        now = time.monotonic()
        if not (force or finished) and now - self.last < self.every_s:
            return
        self.last = now
        try:  # a scratch file on the driver's machine: atomic, not worth an fsync
            atomic.write_text(self.path, json.dumps({"media_s": float(media_s), "clips": int(clips), "finished": finished}), sync=False)
        except OSError:  # progress is best effort: never fail a clip over it
            pass


class _Figures(ProgressColumn):
    def __init__(self, state: dict, items: str = "videos", outputs: str = "clips") -> None:
        super().__init__()
        self.state = state
        self.items, self.outputs = items, outputs

    def render(self, task) -> Text:
        s = self.state
        elapsed = max(time.monotonic() - s["start"], 1e-6)
        speed = task.completed / elapsed
        left_s = max((task.total or 0) - task.completed, 0.0)
        eta = "ETA --:--:--" if speed <= 0 else "ETA " + time.strftime("%H:%M:%S", time.gmtime(left_s / speed))
        made = f"{s['clips']} {self.outputs}, " if self.outputs else ""
        return Text(
            f"{media(task.completed, task.total).split()[0]}/{media(task.total, task.total)}, {made}"
            f"{s['videos']}/{s['n']} {self.items}, {speed:.1f}x realtime, {eta} ({media(left_s, task.total)} left)",
            style="cyan",
        )


def _file_name(item_id: str) -> str:
    """A progress file name for an item id (ids are file-safe already; a hash keeps odd ones safe)."""
    import hashlib

    safe = "".join(c for c in str(item_id) if c.isalnum() or c in "-_.")[:80]
    return safe if safe == str(item_id) else f"{safe}-{hashlib.sha1(str(item_id).encode()).hexdigest()[:8]}"


def media(seconds: float, scale: float | None) -> str:
    """Media time in hours (minutes when the whole run is under an hour)."""
    if (scale or 0) < 3600:
        return f"{seconds / 60:.1f} media min"
    return f"{seconds / 3600:.2f} media h"


class MediaProgress:
    """Driver side: give each task a progress file, poll them, show one bar over media seconds."""

    def __init__(
        self, tasks: list[dict], expected: set[str], enabled: bool = True, poll_s: float = 0.5,
        key: str = "video_id", title: str = "preprocess", items: str = "videos", outputs: str = "clips",
    ) -> None:  # fmt: skip
        """``expected``: the tasks the driver will run (the bar's total); a task outside it that
        runs anyway (done before, but its clips are gone) is added to the total when it starts.
        ``key``: the task field naming an item; ``title``, ``items``, ``outputs``: the bar's words
        (``outputs=""``: the items make no countable outputs)."""
        self.key, self.title, self.items, self.outputs = key, title, items, outputs
        self.tasks = tasks
        self.expected = set(expected)
        self.enabled = enabled and bool(expected)
        self.poll_s = poll_s
        self.dir: Path | None = None
        self.durations = {t[key]: float(t.get("duration_s") or 0.0) for t in tasks}
        self.state = {"clips": 0, "videos": 0, "n": len(self.expected), "start": time.monotonic()}
        self._stop = threading.Event()

    def __enter__(self) -> "MediaProgress":
        if not self.enabled:
            return self
        self.dir = Path(tempfile.mkdtemp(prefix="realsync-progress-"))
        for t in self.tasks:
            t["progress_path"] = str(self.dir / f"{_file_name(t[self.key])}.json")
        figures = _Figures(self.state, self.items, self.outputs)
        self.bar = Progress(TextColumn(f"[bold]{self.title}[/bold]"), BarColumn(), figures, TimeElapsedColumn(), console=console)
        self.bar.start()
        self.task_id = self.bar.add_task(self.title, total=self._total(self.expected))
        self.thread = threading.Thread(target=self._loop, name=f"{self.title}-progress", daemon=True)
        self.thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_s):
            self.poll()

    def _total(self, ids) -> float:
        return max(sum(self.durations[i] for i in ids), 1e-9)

    def poll(self) -> None:
        media = clips = videos = 0
        for vid, dur in self.durations.items():
            try:
                data = json.loads((self.dir / f"{_file_name(vid)}.json").read_text())  # type: ignore[operator]
            except (OSError, ValueError):
                continue
            if vid not in self.expected:
                self.expected.add(vid)
                self.state["n"] = len(self.expected)
                self.bar.update(self.task_id, total=self._total(self.expected))
            media += dur if data.get("finished") else min(float(data.get("media_s") or 0.0), dur or float("inf"))
            clips += int(data.get("clips") or 0)
            videos += bool(data.get("finished"))
        self.state.update(clips=clips, videos=videos)
        self.bar.update(self.task_id, completed=media)

    def __exit__(self, *exc) -> None:
        if not self.enabled:
            return
        self._stop.set()
        self.thread.join()
        self.poll()
        self.bar.stop()
        for t in self.tasks:
            t.pop("progress_path", None)
        shutil.rmtree(self.dir, ignore_errors=True)  # type: ignore[arg-type]
