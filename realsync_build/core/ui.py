"""Terminal output: where each kind of line goes, the verbosity, and the stage progress bar.

* :data:`results`: a command's result (status, stats tables, a plan, JSON): **stdout**, so it
  can be piped; never silenced.
* :data:`console`: logs for a person (progress bars, notes, warnings, summaries): **stderr**;
  silenced by ``realsync -q``.
* :func:`error`: the one-line errors: stderr, never silenced.
* :data:`log` (``logging.getLogger("realsync")``): debug lines (each item's outcome, ...), shown
  with ``realsync -v``; its level follows the same flags (-q: ERROR, default: INFO, -v: DEBUG).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from typing import Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text

console = Console(stderr=True)
results = Console()  # stdout
_errors = Console(stderr=True)
log = logging.getLogger("realsync")

QUIET, NORMAL, VERBOSE = -1, 0, 1
LEVELS = {QUIET: logging.ERROR, NORMAL: logging.INFO, VERBOSE: logging.DEBUG}


def error(markup: str) -> None:
    """A one-line error on stderr, also under ``-q``."""
    _errors.print(markup, highlight=False, soft_wrap=True)


def set_verbosity(verbosity: int) -> None:
    """-1 (``-q``): errors only; 0: logs and progress; 1 (``-v``): and debug lines. Results on stdout are never affected."""
    verbosity = max(QUIET, min(VERBOSE, verbosity))
    console.quiet = verbosity == QUIET
    log.setLevel(LEVELS[verbosity])
    if not any(getattr(h, "_realsync", False) for h in log.handlers):
        handler = _StderrHandler()
        handler._realsync = True  # type: ignore[attr-defined]
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        log.addHandler(handler)
        log.propagate = False


class _StderrHandler(logging.StreamHandler):
    """Writes to the *current* sys.stderr (a test runner swaps it), never to a stale one."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


class _MediaColumn(ProgressColumn):
    """Hours of media processed and speed as a multiple of realtime."""

    def __init__(self, state: dict) -> None:
        super().__init__()
        self.state = state

    def render(self, task) -> Text:
        media_s = self.state["media_s"]
        parts = []
        if self.state["outputs"] and self.state["output_label"]:
            parts.append(f"{self.state['outputs']} {self.state['output_label']}")
        if media_s > 0:
            elapsed = max(time.monotonic() - self.state["start"], 1e-6)
            parts.append(f"{media_s / 3600:.2f} h, {media_s / elapsed:.1f}x realtime")
        return Text(", ".join(parts), style="cyan")


class _Bar:
    def __init__(self, progress: Progress | None, task_id, state: dict) -> None:
        self.progress, self.task_id, self.state = progress, task_id, state

    def advance(self, n: int = 1, media_s: float = 0.0, outputs: int = 0) -> None:
        self.state["media_s"] += media_s
        self.state["outputs"] += outputs
        if self.progress is not None:
            self.progress.advance(self.task_id, n)


@contextlib.contextmanager
def stage_progress(name: str, total: int, enabled: bool = True, unit: str = "items", output_label: str = "") -> Iterator[_Bar]:
    """A progress bar over ``total`` items; it also shows outputs made (e.g. clips) and media hours."""
    state = {"media_s": 0.0, "start": time.monotonic(), "outputs": 0, "output_label": output_label}
    if not enabled or total == 0:
        yield _Bar(None, None, state)
        return
    progress = Progress(
        TextColumn(f"[bold]{name}[/bold]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        _MediaColumn(state),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
    with progress:
        task_id = progress.add_task(name, total=total)
        yield _Bar(progress, task_id, state)


def fit_table(table, width: int, short: dict[str, str] | None = None) -> list[str]:
    """Make a rich ``table`` readable at ``width`` columns without cutting a word ("Chann…").

    Each column is made at least as wide as its longest cell and the longest word of its header
    (headers wrap between words).  When that is still too wide, the headers named in ``short``
    take their short form, and a legend goes under the table (its caption; also returned):
    "TH h: Talking-head h".  Whatever still does not fit folds onto a second line; it is
    never replaced by an ellipsis.
    """
    from rich.text import Text

    def plain(x) -> str:
        return x.plain if isinstance(x, Text) else Text.from_markup(str(x)).plain

    def needs(columns, whole_header: bool = False) -> list[int]:
        out = []
        for col in columns:
            cells = [len(line) for c in col._cells for line in plain(c).splitlines() or [""]]
            head = plain(col.header)
            words = [len(head)] if whole_header else ([len(w) for w in head.split()] or [0])
            out.append(max([*cells, *words, 1]))
        return out

    cols = table.columns

    def frame() -> int:
        return 2 * len(cols) + (len(cols) + 1 if table.box else 0) - (0 if table.pad_edge else 2)

    def over() -> bool:
        return sum(needs(cols)) + frame() > width

    if sum(needs(cols, whole_header=True)) + frame() <= width:
        return []  # fits as it is
    legend: list[str] = []
    if over():
        table.pad_edge = False
    if over() and short:  # shorten as few headers as it takes, those that save the most first
        named = [(col, plain(col.header)) for col in cols if plain(col.header) in short]
        for col, name in sorted(named, key=lambda cn: -(max(map(len, cn[1].split())) - max(map(len, short[cn[1]].split())))):
            if not over():
                break
            legend.append(f"{short[name]}: {name}")
            col.header = short[name]
        order = {short[n]: i for i, (_, n) in enumerate(named)}
        legend.sort(key=lambda entry: order[entry.split(": ", 1)[0]])  # in column order
    fits = not over()
    for col, w in zip(cols, needs(cols)):
        col.width = w if fits else None  # headers wrap between words inside it
        col.overflow = "fold"
    if legend:
        table.caption = "; ".join(x for x in (table.caption, ", ".join(legend)) if x)
        table.caption_justify = "left"
    return legend
