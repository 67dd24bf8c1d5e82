"""``realsync status``: where each stage of a root stands, read-only (no lock, writes nothing).

Per stage: done / failed / pending counts and media hours (from its manifest),
when it last ran and whether that run completed (from ``stages.json``), the
output-shaping parameters it recorded, whether its outputs are stale, and the
one command to run next.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from realsync_build.core import state
from realsync_build.core.root import DatasetRoot
from realsync_build.core.schema import DONE, FAILED


@dataclass
class StageStatus:
    stage: str
    done: int | None = None  # None: not measurable (the manifest is missing)
    failed: int | None = None
    pending: int | None = None
    hours: float | None = None
    unit: str = ""
    record: dict | None = None
    stale: str | None = None
    notes: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)  # "a and b are the same source (...)"
    damaged: str | None = None  # a manifest of this stage exists but does not read (truncated, foreign)

    @property
    def state(self) -> str:
        if self.damaged:
            return "damaged"
        if self.record is None:
            return "not run" if not self.done else "unrecorded"
        if self.stale:
            return "stale" if self.record.get("status") == state.COMPLETE else str(self.record.get("status"))
        return str(self.record.get("status"))


def _read(root: DatasetRoot, name: str, damaged: dict[str, str] | None = None) -> pd.DataFrame | None:
    """Manifest ``name``, validated (read whole against its schema); None when it does not exist or
    is damaged (then ``damaged[name]`` says why: a damaged manifest is never "complete")."""
    from realsync_build.core.manifest import ManifestError

    if not root.has(name):
        return None
    try:
        return root.read(name)
    except (ManifestError, ValueError, KeyError, TypeError) as exc:  # status reports it instead of failing
        if damaged is not None:
            damaged[name] = str(exc).split("; ")[0]
        return None


def _count(df: pd.DataFrame | None) -> tuple[int | None, int | None]:
    if df is None:
        return None, None
    return int((df["status"] == DONE).sum()), int((df["status"] == FAILED).sum())


def collect(root: DatasetRoot) -> list[StageStatus]:
    records = state.load_all(root)  # RecordsLost (exit 2) when stages.json is damaged or lost
    damaged: dict[str, str] = {}
    videos, clips = _read(root, "videos", damaged), _read(root, "clips", damaged)
    ann, splits, shards = _read(root, "annotations", damaged), _read(root, "splits", damaged), _read(root, "shards", damaged)
    for name in ("intervals", "events", "tracks", "segments", "clip_splits"):  # reported by their stage
        _read(root, name, damaged)
    done_clips = clips[clips["status"] == DONE] if clips is not None else None
    out: list[StageStatus] = []

    s = StageStatus("fetch", unit="videos")
    s.done, s.failed = _count(videos)
    if videos is not None and "fetch" not in records and videos["url"].isna().all():
        s.notes.append("all registered by preprocess --input (fetch never ran)")
    if videos is not None:
        s.pending = int((videos["status"] == "planned").sum())
        s.hours = float(videos.loc[videos["status"] == DONE, "duration_s"].fillna(0).sum()) / 3600.0
    out.append(s)

    s = StageStatus("preprocess", unit="clips")
    s.done, s.failed = _count(clips)
    if clips is not None:
        s.hours = float((done_clips["end_s"] - done_clips["start_s"]).sum()) / 3600.0
        if videos is not None:
            ready = set(videos.loc[videos["status"] == DONE, "video_id"])
            s.pending = len(ready - set(clips["video_id"]))
            s.unit = "clips (pending: videos)"
    out.append(s)

    s = StageStatus("annotate", unit="clips")
    s.done, s.failed = _count(ann)
    if done_clips is not None:
        seen = set(ann["clip_id"]) if ann is not None else set()
        s.pending = len(set(done_clips["clip_id"]) - seen)
        if ann is not None:
            s.hours = float(ann.loc[ann["status"] == DONE, "duration_s"].fillna(0).sum()) / 3600.0
    out.append(s)

    s = StageStatus("split", unit="videos")
    if splits is not None:
        s.done, s.failed = len(splits), 0
        counts = splits["split"].value_counts().to_dict()
        s.notes.append(", ".join(f"{k} {counts.get(k, 0)}" for k in ("train", "dev", "test")) + " videos")
        if done_clips is not None:
            s.pending = int(done_clips["video_id"].nunique() - splits["video_id"].isin(set(done_clips["video_id"])).sum())
            placed = done_clips[done_clips["video_id"].isin(set(splits["video_id"]))]
            s.hours = float((placed["end_s"] - placed["start_s"]).sum()) / 3600.0
    out.append(s)

    s = StageStatus("export", unit="samples")
    s.done, s.failed = _count(shards)
    if shards is not None:
        s.notes.append(f"{shards['shard'].nunique()} shards")
        if done_clips is not None:
            by_clip = done_clips.set_index("clip_id")
            exported = shards.loc[shards["status"] == DONE, "clip_id"]
            exported = exported[exported.isin(by_clip.index)]
            s.hours = float((by_clip.loc[exported, "end_s"] - by_clip.loc[exported, "start_s"]).sum()) / 3600.0
            if splits is not None:
                placed = set(done_clips.loc[done_clips["video_id"].isin(set(splits["video_id"])), "clip_id"])
                s.pending = len(placed - set(shards["clip_id"]))
    out.append(s)

    for s in out:
        s.record = records.get(s.stage)
        s.stale = state.stale_reason(root, s.stage, s.record) if s.record else None
    for s in out:
        names = state.OUTPUTS.get(s.stage, ())
        s.damaged = "; ".join(f"{damaged[n]}" for n in names if n in damaged) or None
    _note_duplicates(root, out[1], videos, clips)
    return out


def _note_duplicates(root: DatasetRoot, s: StageStatus, videos, clips) -> None:
    """One source, one id: a root made before the fix may hold a source under two ids (split refuses it)."""
    from realsync_build.core.duplicates import describe, find_duplicates, fix_for

    dups = find_duplicates(videos, clips, root)
    if dups:
        s.duplicates = [str(d) for d in dups]
        s.notes.append(f"[red]{len(dups)} source(s) under two ids (split refuses them): {describe(dups)}; {fix_for(dups)}[/red]")


def next_command(stages: list[StageStatus], runs: "Runs | None" = None) -> str:
    """The first thing to do, in pipeline order; after the stages, training and evaluation."""
    for s in stages:
        if s.stage == "fetch" and s.record is None and not s.done:
            continue  # --input roots never fetch
        if s.damaged:
            return f"{state.COMMANDS[s.stage]} ({s.stage}: {s.damaged}; move it aside, then rerun)"
        if s.record is not None and s.record.get("status") == state.INVALIDATED:
            return f"{state.COMMANDS[s.stage]} ({s.stage} was invalidated by an upstream --overwrite)"
        if s.stale:
            return f"{state.COMMANDS[s.stage]} ({s.stage}: {s.stale})"
        if s.record is None and not s.done:
            if s.stage == "preprocess":
                return "realsync preprocess --input DIR (or realsync fetch first)"
            return state.COMMANDS[s.stage]
        if s.pending:
            return f"{state.COMMANDS[s.stage]} ({s.pending} pending)"
    runs = runs or Runs()
    done = [r for r in runs.train if r.complete]
    if not done:
        if runs.train:
            return f"realsync train --out {runs.train[-1].folder} --resume (its run did not finish)"
        return "realsync train (every stage is complete and fresh)"
    if not runs.evaluations:
        last = done[-1]
        return f"realsync evaluate --checkpoint {last.checkpoint or last.folder + '/best.pt'} --split test (trained, not evaluated)"
    return "realsync stats (built, trained and evaluated: the report is what is left)"


@dataclass
class Runs:
    """Training runs and evaluations under the root (:mod:`realsync_build.core.runs`)."""

    train: list = field(default_factory=list)
    evaluations: list = field(default_factory=list)


def collect_runs(root: DatasetRoot) -> Runs:
    from realsync_build.core import runs

    return Runs(train=runs.train_runs(root), evaluations=runs.evaluations(root))


def _stamp(rec: dict) -> str | None:
    return rec.get("completed_at") or rec.get("started_at")


def as_dict(root: DatasetRoot, stages: list[StageStatus], runs: Runs | None = None) -> dict:
    """The JSON document of ``realsync status --json`` (its shape is in docs/scripting.md)."""
    from realsync_build.core.params import flags_text

    runs = runs or Runs()
    out_stages = []
    for s in stages:
        rec = s.record or {}
        out_stages.append({
            "stage": s.stage, "state": s.state, "unit": s.unit, "done": s.done, "failed": s.failed, "pending": s.pending,
            "hours": None if s.hours is None else round(s.hours, 6), "last_run_utc": _stamp(rec), "stale": s.stale,
            "params": rec.get("params") or {}, "flags": flags_text(rec.get("params")), "realsync_version": rec.get("realsync_version"),
            "notes": list(s.notes),
        })  # fmt: skip
    return {
        "root": str(root.url or root.root),
        "stages": out_stages,
        "train": [r.to_dict() for r in runs.train],
        "evaluations": [e.to_dict() for e in runs.evaluations],
        "next": next_command(stages, runs),
    }


def render(root: DatasetRoot, stages: list[StageStatus], runs: Runs | None = None, console=None) -> None:
    """The human screen; on stdout (``console``: the results console), since it is the command's result."""
    from rich.table import Table

    from rich.markup import escape

    from realsync_build.core.params import flags_text
    from realsync_build.core.ui import results

    console = console or results
    runs = runs or Runs()

    def n(v) -> str:
        return "n/a" if v is None else str(v)

    table = Table(title=f"realsync status: {root.url or root.root}")
    for col, just in (("stage", "left"), ("state", "left"), ("done", "right"), ("failed", "right"), ("pending", "right"),
                      ("hours", "right"), ("last run UTC", "left")):  # fmt: skip
        table.add_column(col, justify=just, no_wrap=True)
    for s in stages:
        rec = s.record or {}
        stamp = _stamp(rec)
        when = f"{stamp[5:10]} {stamp[11:16]}" if stamp else "never"  # MM-DD HH:MM, UTC
        style = {"complete": "green", "stale": "yellow", "running": "red", "invalidated": "red", "damaged": "red"}.get(s.state, "")
        table.add_row(s.stage, f"[{style}]{s.state}[/{style}]" if style else s.state, n(s.done), n(s.failed), n(s.pending),
                      "n/a" if s.hours is None else f"{s.hours:.3f}", when)  # fmt: skip
    complete = [r for r in runs.train if r.complete]
    last = (complete or runs.train or [None])[-1]
    t_state = "complete" if complete else ("incomplete" if runs.train else "not run")
    table.add_row("train", t_state, str(len(complete)), "n/a", str(len(runs.train) - len(complete)), "n/a",
                  _short(last.finished_at) if last and last.finished_at else "never")  # fmt: skip
    e_last = runs.evaluations[-1] if runs.evaluations else None
    table.add_row("evaluate", "complete" if e_last else "not run", str(len(runs.evaluations)), "n/a", "n/a", "n/a",
                  _short(e_last.finished_at) if e_last and e_last.finished_at else "never")  # fmt: skip
    from realsync_build.core.ui import fit_table

    fit_table(table, console.width, {"last run UTC": "UTC", "pending": "todo"})
    console.print(table)
    for s in stages:
        rec = s.record or {}
        parts = [f"counts are {s.unit}", *s.notes]
        if s.stale:
            parts.append(f"[yellow]stale: {s.stale}[/yellow]")
        if s.damaged:
            parts.append(f"[red]damaged: {escape(s.damaged)}[/red]")
        if rec.get("params"):
            parts.append("params " + escape(flags_text(rec["params"])))
            parts.append(f"realsync {rec.get('realsync_version')}")
        console.print(f"  [bold]{s.stage}[/bold]: " + "; ".join(parts), highlight=False)
    for r in runs.train:
        what = (f"{r.steps} steps, best dev mAP {'n/a' if r.best_dev_map is None else f'{r.best_dev_map:.3f}'}"
                if r.complete else "started, not finished (--resume continues it)")  # fmt: skip
        console.print(f"  [bold]train[/bold]: {r.folder}: {what}", highlight=False)
    for e in runs.evaluations:
        maps = ", ".join(f"{k} mAP {'n/a' if v is None else f'{v:.3f}'}" for k, v in e.metrics.items())
        console.print(f"  [bold]evaluate[/bold]: {e.folder}: {e.split}, {n(e.n_segments)} segments; {maps or 'no metrics'}", highlight=False)
    console.print(f"[bold]next:[/bold] {next_command(stages, runs)}", highlight=False)


def _short(stamp: str) -> str:
    return f"{stamp[5:10]} {stamp[11:16]}"
