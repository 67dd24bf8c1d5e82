"""Per-item logs: a failed item's whole story, beside the one line its error row keeps.

The error column of a manifest keeps one line (``FFmpegError: ffmpeg failed: ...``).  The
traceback, and the last lines of ffmpeg's stderr when ffmpeg failed, go to
``logs/{stage}/{item}.log`` under the root, written by the driver through the root (atomic; a URL
root gets it at the URL).  ``item`` is the task's id (a video for fetch and preprocess, a clip for
annotate).  A log is removed when its item later succeeds, and ``--overwrite`` clears the stage's
logs with its outputs.  ``realsync status --failed`` lists the failed items of every stage with
their error, where their log is and its last lines.

A stage function that catches a failure itself (preprocess turns a failed ffmpeg run into
error rows for its clips and goes on) puts the detail in the row under :data:`DETAIL`; the driver
moves it to the log and never writes it to the manifest.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pandas as pd

from realsync_build.core.root import DatasetRoot, safe_name
from realsync_build.core.schema import FAILED

LOGS = "logs"
DETAIL = "_log_detail"  # a failed row's key for its detail (traceback, stderr tail); never a manifest column

# stage -> (manifest of its items' rows, the column naming an item): what `status --failed` reads
ITEMS: dict[str, tuple[str, str]] = {
    "fetch": ("videos", "video_id"),
    "preprocess": ("clips", "video_id"),
    "annotate": ("annotations", "clip_id"),
    "export": ("shards", "clip_id"),
}


def log_dir(stage: str) -> str:
    return f"{LOGS}/{safe_name(stage)}"


def log_rel(stage: str, item: str) -> str:
    """The root-relative path of ``item``'s log (its id made file-safe)."""
    return f"{log_dir(stage)}/{safe_name(item, max_len=200)}.log"


def format_log(stage: str, item: str, entries: list[tuple[str, str, str]]) -> str:
    """The log text.  ``entries``: ``(what failed, one-line error, detail)``; one detail shared by
    several entries (one ffmpeg run cutting 16 clips) is written once."""
    out = [f"realsync {stage}: {item} failed", f"at {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}", ""]
    out += [f"{what}: {error}" if what else error for what, error, _ in entries]
    written: set[str] = set()
    for _, _, detail in entries:
        if detail and detail not in written:
            written.add(detail)
            out += ["", detail.rstrip("\n")]
    return "\n".join(out) + "\n"


def write_log(root: DatasetRoot, stage: str, item: str, entries: list[tuple[str, str, str]]) -> str:
    """Write (replace) ``item``'s log through the root, atomically; returns its root-relative path."""
    rel = log_rel(stage, item)
    root.write_text(rel, format_log(stage, item, entries))
    return rel


@dataclass
class FailedItem:
    stage: str
    item: str
    error: str  # the first failed row's one-line error
    rows: int  # failed rows of the item (clips of one video for preprocess)
    log: str | None  # root-relative path of its log, None when there is none


def failed_items(root: DatasetRoot) -> list[FailedItem]:
    """Every failed item of every per-item stage, from the manifests (read-only), with its log."""
    out: list[FailedItem] = []
    for stage, (name, key) in ITEMS.items():
        if not root.has(name):
            continue
        try:
            df = root.read(name)
        except Exception:  # noqa: BLE001 - a damaged manifest is status's business, not this list's
            continue
        failed = df[df["status"] == FAILED]
        if failed.empty or key not in failed.columns:
            continue
        logs = set(root.ls(log_dir(stage), "*.log"))
        for item, rows in failed.groupby(key, sort=True):
            rel = log_rel(stage, str(item))
            error = rows["error"].dropna()
            out.append(FailedItem(stage, str(item), str(error.iloc[0]) if len(error) else "failed", len(rows), rel if rel in logs else None))
    return out


def tail(root: DatasetRoot, rel: str, lines: int) -> list[str]:
    """The last ``lines`` lines of a log (empty when it cannot be read)."""
    try:
        text = root.read_text(rel)
    except (OSError, ValueError):
        return []
    return text.rstrip("\n").splitlines()[-lines:]


def render_failed(root: DatasetRoot, items: list[FailedItem], tail_lines: int = 6, max_items: int = 50) -> None:
    """``realsync status --failed``: per failed item its error, where its log is and the log's last lines."""
    from rich.markup import escape

    from realsync_build.core.ui import console

    if not items:
        console.print(f"no failed items under {root.url or root.root}")
        return
    counts = pd.Series([i.stage for i in items]).value_counts()
    console.print("failed items: " + ", ".join(f"{s} {int(counts[s])}" for s in ITEMS if s in counts), highlight=False)
    for it in items[:max_items]:
        rows = f" ({it.rows} rows)" if it.rows > 1 else ""
        console.print(f"[bold]{it.stage}[/bold] {escape(it.item)}{rows}: [red]{escape(it.error)}[/red]", highlight=False)
        if it.log is None:
            console.print("  log: none (this failure was recorded without one)", highlight=False)
            continue
        console.print(f"  log: {escape(root.where(it.log))}", highlight=False, soft_wrap=True)
        for line in tail(root, it.log, tail_lines):
            console.print(f"  | {escape(line)}", highlight=False, soft_wrap=True)
    if len(items) > max_items:
        console.print(f"... and {len(items) - max_items} more (logs under {escape(root.where(LOGS))})", highlight=False)
