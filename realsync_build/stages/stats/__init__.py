"""``realsync stats``: the dataset's tables and figures, and ``report/index.html`` embedding them.

Writes under ``ROOT/report/``: ``table1.md/.csv`` (the paper's Table 1 row),
``table2.md/.csv`` (per channel), ``splits.md/.csv`` (per split and channel),
``segments_scenario.csv``, ``segments_offset.csv``, ``top_events.csv``, the
figures (``channel_hours.png``, ``scenarios.png``, ``offset_classes.png``,
``events_top.png`` = Figure 1) and ``index.html`` (:mod:`.report`).  Every file
is written atomically; ``index.html`` last, after checking that every file it
links exists.  Needs only the clips manifest; annotations, splits, segments and
evaluations are used when present, and what is absent reads ``n/a``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from realsync_build.core import atomic
from realsync_build.core.root import DatasetRoot
from realsync_build.core.clipview import annotation_done, load_inputs
from realsync_build.stages.stats import plots, report, tables

TOP_EVENTS = 50
_paper_section = report.paper_section  # the name issue 13's evaluate/test use


@dataclass
class StatsResult:
    table1: pd.DataFrame
    table2: pd.DataFrame
    unit: tables.Unit = tables.HOURS
    splits: pd.DataFrame | None = None
    by_scenario: pd.DataFrame | None = None
    by_offset: pd.DataFrame | None = None
    top_events: pd.DataFrame | None = None
    files: list[Path] = field(default_factory=list)
    annotated: bool = False
    notes: list[str] = field(default_factory=list)
    n_segments: int | None = None
    events_size: tuple[int, int] = plots.SIZES["events_top.png"]

    @property
    def index(self) -> Path:
        return self.files[-1]

    def to_dict(self) -> dict:
        """The JSON document of ``realsync stats --json`` (docs/scripting.md): every table as a list of
        rows (durations in hours, full precision), null where nothing was measured (n/a), never 0."""
        return {
            "hours_unit": "h",
            "table1": _records(self.table1),
            "table2": _records(self.table2),
            "splits": _records(self.splits),
            "segments_by_scenario": _records(self.by_scenario),
            "segments_by_offset": _records(self.by_offset),
            "top_events": _records(self.top_events),
            "n_segments": self.n_segments,
            "annotated": self.annotated,
            "notes": list(self.notes),
            "report": str(self.index) if self.files else None,
            "files": [str(p) for p in self.files],
        }


def _records(df: pd.DataFrame | None) -> list[dict] | None:
    if df is None:
        return None
    out = []
    for row in df.to_dict("records"):
        clean = {}
        for k, v in row.items():
            if v is None or v is pd.NA or (isinstance(v, float) and v != v):
                clean[k] = None
            elif hasattr(v, "item"):  # numpy scalars
                clean[k] = v.item()
            else:
                clean[k] = v
        out.append(clean)
    return out


def _notes(inputs, segments) -> list[str]:
    notes = []
    if not inputs.annotated:
        notes.append("This root is not annotated: hours per scenario and audio events are n/a (run `realsync annotate`).")
    else:
        ann = annotation_done(inputs)
        skipped = int((ann.get("sync_status") == "skipped").sum()) if "sync_status" in ann else 0
        if skipped:
            notes.append(
                f"SyncNet did not run on {skipped} of {len(ann)} clips (weights absent): talking-head and voice-over hours are n/a; "
                "their speech with a face is counted as unscored."
            )
    if segments is None:
        notes.append("This root is not split: the split table and the evaluation segments are n/a (run `realsync split --seed S`).")
    return notes


def run_stats(root: DatasetRoot, name: str = "realsync") -> StatsResult:
    inputs = load_inputs(root)
    segments = root.read("segments") if root.has("segments") else None
    if segments is not None:
        segments = segments[segments["clip_id"].isin(set(inputs.clips["clip_id"]))]
    t1 = tables.table1(inputs, segments, name)
    res = StatsResult(t1, tables.table2(inputs), annotated=inputs.annotated)
    res.unit = tables.duration_unit(float(t1["hours"].iloc[0]))
    res.splits = tables.split_table(inputs)
    res.by_scenario = tables.segments_by_scenario(segments)
    res.by_offset = tables.segments_by_offset(segments)
    res.top_events = tables.top_events(inputs.events if inputs.annotated else None, TOP_EVENTS)
    res.n_segments = None if segments is None else len(segments)
    res.notes = _notes(inputs, segments)

    out = root.report
    out.mkdir(parents=True, exist_ok=True)
    if root.url is not None:
        _pull_evaluations(root)
    atomic.remove_stale_temps(out)
    written: list[Path] = []

    def text(fname: str, body: str) -> None:
        atomic.write_text(out / fname, body)
        written.append(out / fname)

    for stem, df in (("table1", res.table1), ("table2", res.table2), ("splits", res.splits)):
        if df is not None:
            text(f"{stem}.md", tables.to_markdown(df, res.unit))
            text(f"{stem}.csv", tables.to_csv(df))
    for fname, df in (("segments_scenario.csv", res.by_scenario), ("segments_offset.csv", res.by_offset), ("top_events.csv", res.top_events)):
        if df is not None:
            text(fname, tables.to_csv(df))
    counts = pd.Series(dtype="int64") if res.top_events is None else res.top_events.set_index("label")["windows"]
    events_title = plots.plot_events(counts, out / "events_top.png")
    res.events_size = plots.events_size(len(counts))
    hatched = plots.plot_channel_hours(res.table2, out / "channel_hours.png", res.unit)
    plots.plot_scenarios(res.by_scenario, out / "scenarios.png")
    plots.plot_offsets(res.by_offset, out / "offset_classes.png")
    written += [out / n for n in plots.SIZES]

    html = report.render(
        root,
        name=name,
        unit=res.unit,
        table1=res.table1,
        table2=res.table2,
        splits=res.splits,
        by_scenario=res.by_scenario,
        by_offset=res.by_offset,
        events=res.top_events,
        events_title=events_title,
        events_size=res.events_size,
        hatched=hatched,
        notes=res.notes,
    )
    missing = [p for p in report.linked_files(html) if not (out / p).is_file()]
    if missing:  # a page that links a missing file is a bug here, not the user's problem
        raise RuntimeError(f"report would link missing files: {', '.join(missing)}")
    atomic.write_text(out / "index.html", html)
    res.files = written + [out / "index.html"]
    for path in res.files:  # a URL root: the report goes to ROOT/report at the URL (each file atomic)
        root.publish(path)
    return res


def _pull_evaluations(root: DatasetRoot) -> None:
    """URL root: the evaluations published under ``report/eval-*/`` at the URL, into the mirror
    (the report links their figures and reads their metrics)."""
    for name in root.listdir("report"):
        if name.startswith("eval-"):
            for fname in ("metrics.json", "by_iteration.png", "by_iteration.csv"):
                rel = f"report/{name}/{fname}"
                if root.exists(rel):
                    root.cache(rel)
