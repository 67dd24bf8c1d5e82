"""The one driver every per-item stage runs through.

A stage is a pure function of one task (a video, a clip) that writes its files
atomically and returns result rows for one output manifest; every row carries
the task's id in ``spec.task_key``.  The driver

* works out which tasks are pending: a task whose rows are all ``done`` is
  skipped, one with a ``failed`` row is skipped (and counted) unless
  ``retry_failed``;
* maps the function over pending tasks with an executor;
* replaces each finished task's rows in the manifest and rewrites it
  atomically (throttled), so a rerun after ``kill -9`` resumes where it was;
* keeps a failed task's traceback (and ffmpeg's last stderr lines) in
  ``logs/{stage}/{task}.log`` (:mod:`realsync_build.core.itemlog`), its error
  row keeping one line; the log goes when the task later succeeds;
* shows a ``rich`` progress bar and returns a :class:`StageReport`.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np
import pandas as pd
from rich.text import Text

from realsync_build.core import itemlog, manifest
from realsync_build.core.errors import EnvironmentFault, Interrupted, RealsyncError
from realsync_build.core.executors.base import Executor, Resources, WorkerLost, get_executor
from realsync_build.core.root import DatasetRoot
from realsync_build.core.schema import DONE, FAILED, KEYS, SCHEMAS
from realsync_build.core.ui import console, log, stage_progress

HOLD = "hold"  # what a watcher returns to keep a result back (see run_stage)


@contextlib.contextmanager
def stop_on_ctrl_c(name: str):
    """While the block runs: Ctrl-C prints "stopping…" at once, then interrupts (KeyboardInterrupt)
    as usual; a second Ctrl-C interrupts whatever the clean-up is doing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_sigint(signum, frame):
        signal.signal(signal.SIGINT, signal.default_int_handler)
        console.print(f"[yellow]{name}: stopping…[/yellow] (saving what finished; Ctrl-C again to quit at once)", highlight=False)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)


def _no_media(rows: list[dict]) -> float:
    return 0.0


@dataclass(frozen=True)
class StageSpec:
    """One step of the pipeline, declared once; the driver (:func:`run_stage`, and
    :func:`realsync_build.core.state.stage_run` around it) reads nothing else.

    Its contract (command, inputs, outputs, folders) is declared in :data:`realsync_build.core.state.SPECS`,
    where core reads the pipeline's graph without importing a stage; the stage completes that same
    declaration with :meth:`complete`: the parameters it records, how a done output is verified (a
    callable), and for a step that maps a function over items (fetch, preprocess, annotate) that function.
    """

    name: str  # shown to the user, e.g. "preprocess"
    # the per-item work (fetch, preprocess, annotate; empty for a step that writes its manifests in one go)
    manifest: str = ""  # output manifest name, e.g. "clips"
    task_key: str = ""  # the column naming a task in its rows, e.g. "video_id"
    fn: Callable[[dict], list[dict]] | None = None  # picklable, top-level: task -> rows
    error_rows: Callable[[dict, str], list[dict]] | None = None  # rows for a task whose fn raised
    media_seconds: Callable[[list[dict]], float] = _no_media  # for the hours / x-realtime figures
    item_label: str = "items"  # what a task is, in the progress bar ("videos")
    output_label: str = ""  # what a done row is ("clips"); counted in the progress bar when set
    resources: Resources = field(default_factory=Resources)
    # the contract
    command: str = ""  # what a user runs to (re)build it
    inputs: tuple[str, ...] = ()  # the steps whose outputs it reads
    outputs: tuple[str, ...] = ()  # the manifests it alone writes
    output_dirs: tuple[str, ...] = ()  # folders it rebuilds from scratch on --overwrite
    params: tuple[str, ...] | None = None  # the CLI names of the options it records (None: not declared yet)
    verify: Callable[[dict, pd.DataFrame], bool] | None = None  # a done task whose check fails is run again

    def complete(self, **fields: Any) -> "StageSpec":
        """This step's declaration with what only its stage knows (params, verify, the per-item work);
        the contract itself cannot be restated here."""
        restated = sorted(set(fields) & {"name", "command", "inputs", "outputs", "output_dirs"})
        if restated:
            raise ValueError(f"{self.name}: {restated} are declared once, in core.state.SPECS")
        return replace(self, **fields)


@dataclass
class RunOptions:
    """Options shared by every per-item stage's CLI."""

    workers: int | None = None
    executor: str = "local"
    ray_address: str | None = None
    retry_failed: bool = False
    strict: bool = False
    progress: bool = True
    save_every_s: float = 2.0
    overwrite: bool = False  # rebuild the stage from scratch (its recorded parameters may change)
    verify: bool = False  # re-check every done output (re-probe / re-hash), redo those that fail
    devices: tuple[str, ...] | None = None  # local executor: one worker pinned per device


@dataclass
class StageReport:
    stage: str
    total: int = 0
    done: int = 0
    failed: int = 0
    skipped_done: int = 0
    skipped_failed: int = 0
    media_s: float = 0.0
    elapsed_s: float = 0.0
    errors: list[tuple[str, str]] = field(default_factory=list)  # (task id, message)
    # --verify: what was re-checked and what was redone, e.g. {"unit": "clips", "checked": 8, "intact": 8,
    # "redone": 0, "failed": 0, "how": "re-probed and sha256 re-hashed"}; None: not a verify run
    verify: dict | None = None

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.skipped_failed == 0

    def counts(self) -> dict:
        """The figures the completion record keeps (``realsync status`` shows them)."""
        return {
            "tasks": self.total,
            "done": self.done + self.skipped_done,
            "failed": self.failed + self.skipped_failed,
            "media_hours_this_run": round(self.media_s / 3600.0, 4),
        }

    def summary(self) -> str:
        if self.verify is not None:
            v = self.verify
            parts = [
                f"{self.stage} --verify: {v['checked']} {v['unit']} of {self.done + self.failed} {v.get('items', 'items')} {v['how']}",
                f"{v['intact']} intact (kept)", f"{v['redone']} redone", f"{v['failed']} failed",
            ]  # fmt: skip
            if self.media_s:
                speed = self.media_s / self.elapsed_s if self.elapsed_s > 0 else 0.0
                parts.append(f"{self.media_s / 3600:.3f} h of media redone at {speed:.1f}x realtime")
            return ", ".join(parts)
        parts = [f"{self.stage}: {self.done} done", f"{self.failed} failed"]
        if self.skipped_done:
            parts.append(f"{self.skipped_done} already done")
        if self.skipped_failed:
            parts.append(f"{self.skipped_failed} failed before (skipped; --retry-failed re-runs them)")
        if self.media_s:
            speed = self.media_s / self.elapsed_s if self.elapsed_s > 0 else 0.0
            parts.append(f"{self.media_s / 3600:.3f} h of media at {speed:.1f}x realtime")
        return ", ".join(parts)


ENV_MARKERS = {
    "No space left on device": "the disk is full",
    "Disk quota exceeded": "the disk quota is exceeded",
    "Read-only file system": "the root is on a read-only file system",
}


def environment_error(message: str) -> str | None:
    """What is wrong with the machine, when an item's error is really the environment's."""
    for marker, what in ENV_MARKERS.items():
        if marker in message:
            return what
    return None


def task_states(df: pd.DataFrame, task_key: str) -> dict[str, str]:
    """Per task id: ``done`` if all its rows are done (or skipped), ``failed`` if any failed, else ``pending``.

    Vectorised (one groupby, no Python per task): manifests reach 100k+ rows at scale.
    """
    if df.empty or task_key not in df.columns:
        return {}
    status = df["status"]
    flags = pd.DataFrame(
        {
            "task": df[task_key].to_numpy(),
            "failed": status.eq(FAILED).to_numpy(),
            "ok": (status.isin([DONE, "skipped"]) | status.isna()).to_numpy(),
            "known": status.notna().to_numpy(),
        }
    )
    agg = flags.groupby("task", sort=False).agg(failed=("failed", "any"), ok=("ok", "all"), known=("known", "any"))
    states = np.where(agg["failed"], FAILED, np.where(agg["ok"] & agg["known"], DONE, "pending"))
    return dict(zip(agg.index, states.tolist()))


def _log_entries(spec: StageSpec, tid: str, err: str | None, rows: list[dict], details: list[str | None]) -> list[tuple[str, str, str]]:
    """What a failed task's log says: the executor's error (with its traceback), then each failed
    row's error and detail (rows the driver made from that same error are not repeated)."""
    entries: list[tuple[str, str, str]] = []
    if err is not None:
        entries.append(("", str(err), getattr(err, "detail", "") or ""))
    row_key = KEYS[spec.manifest][0]
    for row, detail in zip(rows, details):
        if row.get("status") != FAILED or (err is not None and row.get("error") == str(err) and not detail):
            continue
        what = str(row.get(row_key)) if row.get(row_key) not in (None, tid) else ""
        entries.append((what, str(row.get("error") or "failed"), detail or ""))
    return entries


class _Manifest:
    """The driver's copy of a stage's manifest: finished tasks' rows merged in and saved
    atomically, throttled, so a rerun after ``kill -9`` resumes where it was."""

    def __init__(self, spec: StageSpec, root: DatasetRoot, options: RunOptions) -> None:
        self.spec, self.root, self.min_every_s = spec, root, options.save_every_s
        self.schema, self.key = SCHEMAS[spec.manifest], KEYS[spec.manifest]
        self.path = root.pull(root.manifest(spec.manifest))  # a URL root: its latest copy, into the local mirror
        self.df = manifest.read(self.path, self.schema)
        self.every_s = options.save_every_s
        self.finished: dict[str, list[dict]] = {}  # rows of tasks finished since the last save
        self.dirty = False
        self.last = time.monotonic()

    def rows_of(self) -> Callable[[str], pd.DataFrame]:
        """A task's rows, by one pass over the manifest (not one scan per task: 100k-row manifests at scale)."""
        df, key = self.df, self.spec.task_key
        positions = df.groupby(key, sort=False).indices if len(df) and key in df.columns else {}
        return lambda tid: df.iloc[positions.get(tid, [])]

    def add(self, tid: str, rows: list[dict]) -> None:
        self.finished[tid] = rows
        self.dirty = True

    def save_if_due(self) -> None:
        if time.monotonic() - self.last >= self.every_s:
            self.save()
            self.last = time.monotonic()

    def save(self) -> None:
        # Merging finished rows once per save (not once per task) keeps the driver's cost
        # linear in the manifest size, whatever the number of tasks.
        began = time.monotonic()
        if self.finished:
            if not self.df.empty:
                self.df = self.df[~self.df[self.spec.task_key].isin(list(self.finished))]
            self.df = manifest.upsert(self.df, [r for rows in self.finished.values() for r in rows], self.key)
            self.finished.clear()
        manifest.write(self.df, self.path, self.schema, self.key)
        self.root.push(self.path)  # a URL root: publish it (atomic); the driver is the only writer
        self.dirty = False
        # a large manifest is saved less often: the driver spends at most ~1/4 of its time saving
        self.every_s = max(self.min_every_s, 4 * (time.monotonic() - began))

    def flush(self) -> None:
        if self.dirty:
            self.save()

    def close(self) -> None:
        if self.dirty or not self.path.exists():
            self.save()


class _ItemLogs:
    """The stage's per-item logs: written for a failed task, removed when a task later succeeds."""

    def __init__(self, spec: StageSpec, root: DatasetRoot) -> None:
        self.spec, self.root = spec, root
        self.present = set(root.ls(itemlog.log_dir(spec.name), "*.log"))  # one listing per run
        self.unwritten: list[str] = []

    def keep(self, tid: str, err: str | None, rows: list[dict], details: list[str | None], failed: bool) -> None:
        rel = itemlog.log_rel(self.spec.name, tid)
        try:
            if failed:
                itemlog.write_log(self.root, self.spec.name, tid, _log_entries(self.spec, tid, err, rows, details))
                self.present.add(rel)
            elif rel in self.present:
                self.root.remove(rel)
                self.present.discard(rel)
        except OSError as exc:  # a log is a diagnosis: failing to write one never costs the item's row
            self.unwritten.append(f"{rel}: {exc}")

    def warn(self) -> None:
        if self.unwritten:
            console.print(f"[yellow]{self.spec.name}: {len(self.unwritten)} per-item logs could not be written (first: {self.unwritten[0]})[/yellow]")


def _pending(spec: StageSpec, tasks: list[dict], table: _Manifest, options: RunOptions, report: StageReport) -> list[dict]:
    """The tasks to run: not done-and-verified, and not failed before (unless ``retry_failed``)."""
    states = task_states(table.df, spec.task_key)
    rows_of = table.rows_of()
    pending: list[dict] = []
    for task in tasks:
        tid = task[spec.task_key]
        state = states.get(tid)
        if state == DONE and (spec.verify is None or spec.verify(task, rows_of(tid))):
            report.skipped_done += 1
        elif state == FAILED and not options.retry_failed:
            report.skipped_failed += 1
            rows = rows_of(tid)
            msg = rows.loc[rows["status"] == FAILED, "error"]
            report.errors.append((tid, str(msg.iloc[0]) if len(msg) else "failed"))
        else:
            pending.append(task)
    return pending


def _outcome(spec: StageSpec, task: dict, rows: list[dict] | None, err: str | None, table: _Manifest) -> tuple[str, list[dict]]:
    """A finished task's id and rows (error rows when it raised); a failure caused by the machine
    (full disk, read-only root) stops the run instead (finished items are saved)."""
    tid = task[spec.task_key]
    if err is not None:
        rows = spec.error_rows(task, err)
    rows = [dict(r, **{spec.task_key: tid}) for r in rows or []]
    failed_rows = [r for r in rows if r.get("status") == FAILED]
    for msg in [err, *(r.get("error") for r in failed_rows)]:
        env = environment_error(str(msg or ""))
        if env:  # not this item's fault: stop (finished items are saved), don't mark it failed
            table.flush()
            raise EnvironmentFault(f"{spec.name}: {env}; finished items are saved: free space or fix the root, then rerun")
    return tid, rows


def _record(spec: StageSpec, tid: str, rows: list[dict], err: str | None, table: _Manifest, logs: _ItemLogs,
            report: StageReport, bar) -> None:
    """One task's result into the manifest, its log and the figures."""
    details = [r.pop(itemlog.DETAIL, None) for r in rows]  # for the log, never the manifest
    failed_rows = [r for r in rows if r.get("status") == FAILED]
    if failed_rows:
        report.failed += 1
        report.errors.append((tid, str(failed_rows[0].get("error") or err or "failed")))
    else:
        report.done += 1
    logs.keep(tid, err, rows, details, bool(failed_rows))
    media = spec.media_seconds(rows)  # called for every task (a stage may count its outcomes there)
    media = 0.0 if failed_rows else media
    report.media_s += media
    table.add(tid, rows)
    bar.advance(media_s=media, outputs=sum(1 for r in rows if r.get("status") == DONE))
    log.debug("%s %s: %s", spec.name, tid, f"failed: {report.errors[-1][1]}" if failed_rows else "done")
    table.save_if_due()


def _drive(spec: StageSpec, pending: list[dict], executor: Executor, table: _Manifest, logs: _ItemLogs, report: StageReport,
           options: RunOptions, watch) -> None:
    """Map the stage's function over the pending tasks and record each result as it comes; results a
    watcher holds back are recorded with the next one it lets through, or at the end."""
    held: list[tuple[str, list[dict], str | None]] = []
    with stop_on_ctrl_c(spec.name), stage_progress(spec.name, len(pending), enabled=options.progress, unit=spec.item_label,
                                                   output_label=spec.output_label) as bar:  # fmt: skip
        for idx, rows, err in executor.imap(spec.fn, pending, spec.resources):
            tid, rows = _outcome(spec, pending[idx], rows, err, table)
            if watch is not None and watch(tid, rows, err) is HOLD:  # a watcher may also stop the run (raises)
                held.append((tid, rows, err))
                continue
            for h in held:  # the watcher let the run go on: what it held is recorded as it was
                _record(spec, *h, table, logs, report, bar)
            held.clear()
            _record(spec, tid, rows, err, table, logs, report, bar)
        for h in held:
            _record(spec, *h, table, logs, report, bar)


def run_stage(
    spec: StageSpec,
    root: DatasetRoot,
    tasks: list[dict],
    options: RunOptions | None = None,
    executor: Executor | None = None,
    watch: Callable[[str, list[dict], str | None], object] | None = None,
) -> StageReport:
    """Run ``spec.fn`` over the pending ``tasks`` and keep ``spec.manifest`` up to date.

    ``spec.verify(task, rows)`` checks that a done task's outputs still check out; a task that
    fails it is run again.

    ``watch(task_id, rows, error)`` sees each result before it is recorded: it returns None
    (record it), :data:`HOLD` (keep it back until a later result is recorded, or the run ends),
    or raises a :class:`~realsync_build.core.errors.RealsyncError` to stop the run: then the
    items finished so far are saved, the held ones dropped (they stay pending), and the error
    goes up (fetch stops this way when the site cannot be reached).

    Ctrl-C prints "stopping…", stops the items in flight (they stay pending), saves every
    finished item and raises :class:`~realsync_build.core.errors.Interrupted` (exit 130) with the report.
    """
    options = options or RunOptions()
    table = _Manifest(spec, root, options)
    report = StageReport(spec.name, total=len(tasks))
    pending = _pending(spec, tasks, table, options, report)
    logs = _ItemLogs(spec, root)
    start = time.monotonic()
    own_executor = executor is None
    if executor is None:
        executor = get_executor(options.executor, workers=options.workers, ray_address=options.ray_address, devices=options.devices)
    log.debug("%s: %d tasks, %d pending, %d done before, %d failed before; executor %s", spec.name, len(tasks), len(pending),
              report.skipped_done, report.skipped_failed, options.executor)  # fmt: skip
    try:
        _drive(spec, pending, executor, table, logs, report, options, watch)
    except WorkerLost as exc:
        table.flush()
        raise RuntimeError(f"{spec.name}: {exc}") from exc
    except KeyboardInterrupt:
        table.flush()  # every finished item; items in flight stay pending and run again next time
        report.elapsed_s = time.monotonic() - start
        raise Interrupted(
            f"{spec.name} stopped by Ctrl-C: the {report.done + report.failed} {spec.item_label} finished in this run are saved; "
            "rerun the same command to go on", report
        ) from None
    except RealsyncError:
        table.flush()  # a watcher (or the environment) stopped the run: finished items are saved, held ones dropped
        raise
    finally:
        if own_executor:
            executor.close()
    table.close()
    logs.warn()
    report.elapsed_s = time.monotonic() - start
    return report


def register(root: DatasetRoot, manifest_name: str, rows: list[dict]) -> pd.DataFrame:
    """Add items to a per-item manifest before its stage runs them (fetch's planned videos,
    ``preprocess --input``'s registered files); a row whose key is there replaces it.  With
    :func:`run_stage` the driver's one other door: stages never write these manifests themselves.
    Returns the manifest as written."""
    df = manifest.upsert(root.read(manifest_name), rows, KEYS[manifest_name])
    root.write(manifest_name, df)
    return df


def unregister(root: DatasetRoot, manifest_names: tuple[str, ...], column: str, values: list[str]) -> None:
    """Remove the rows whose ``column`` is one of ``values`` from per-item manifests (a source that a
    root made before one-source-one-id registered twice): the driver's door for removals, as
    :func:`register` is for additions."""
    for name in manifest_names:
        df = root.read(name)
        if len(df) and df[column].isin(values).any():
            root.write(name, df[~df[column].isin(values)])


def print_report(report: StageReport, max_errors: int = 20) -> None:
    """The end-of-stage summary: counts, speed, and the first errors."""
    style = "green" if report.ok else "yellow"
    console.print(f"[{style}]{report.summary()}[/{style}]")
    for tid, msg in report.errors[:max_errors]:
        console.print(Text.assemble(("  failed ", "red"), f"{tid}: {msg}"))
    if len(report.errors) > max_errors:
        console.print(f"  ... and {len(report.errors) - max_errors} more (see the manifest's error column)")
    if report.errors:
        console.print(f"  tracebacks: logs/{report.stage}/ under the root; `realsync status --failed` lists them", highlight=False)
