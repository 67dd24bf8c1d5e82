"""``realsync stats``: the dataset's tables and figures, and ``report/index.html`` embedding them.

Writes under ``ROOT/report/``: ``table1.md/.csv`` (the paper's Table 1 row),
``table2.md/.csv`` (per channel), ``events_top50.png`` (Figure 1),
``offset_classes.png``, ``channel_hours.png`` and ``index.html``.  Every file
is written atomically; ``index.html`` last, so it never links a missing image.
Needs only the clips manifest; annotations, splits and segments are used when
present.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from pathlib import Path

import pandas as pd

from realsync_build.core import atomic
from realsync_build.stages.split.inputs import load_inputs
from realsync_build.core.root import DatasetRoot
from realsync_build.stages.stats import plots, tables


@dataclass
class StatsResult:
    table1: pd.DataFrame
    table2: pd.DataFrame
    files: list[Path] = field(default_factory=list)
    annotated: bool = False
    n_segments: int = 0
    top_events: pd.Series | None = None

    @property
    def index(self) -> Path:
        return self.files[-1]


def _html(res: StatsResult, root: DatasetRoot) -> str:
    note = "" if res.annotated else "<p class=note>This root is not annotated: talking-head and voice-over hours are 0 and there are no audio events (run <code>realsync annotate</code>).</p>"
    figs = "".join(
        f"<figure><img src='{name}' width={w} height={h} alt='{escape(cap)}'><figcaption>{escape(cap)}</figcaption></figure>"
        for name, cap in (
            ("events_top50.png", "Figure 1: the 50 most frequent audio events"),
            ("channel_hours.png", "Hours per channel: talking head, voice-over, other"),
            ("offset_classes.png", f"Offset classes of the {res.n_segments} evaluation segments"),
        )
        for w, h in [plots.SIZES[name]]
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>realsync dataset report</title>"
        "<style>body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:left}"
        "img{max-width:100%;height:auto;border:1px solid #eee}.note{color:#a5553b}</style></head><body>"
        f"<h1>realsync dataset report</h1><p>Root: <code>{escape(str(root.root))}</code></p>{note}"
        f"<h2>Table 1: the dataset</h2>{tables.to_html(res.table1)}"
        "<p>Also as <a href='table1.md'>Markdown</a> and <a href='table1.csv'>CSV</a>.</p>"
        f"<h2>Table 2: per channel</h2>{tables.to_html(res.table2)}"
        "<p>Also as <a href='table2.md'>Markdown</a> and <a href='table2.csv'>CSV</a>.</p>"
        f"<h2>Figures</h2>{figs}{_paper_section(root)}</body></html>\n"
    )


def _paper_section(root: DatasetRoot) -> str:
    """The last evaluation on an adopted split beside the paper (written by ``realsync evaluate``)."""
    md = root.report / "paper_tables.md"
    if not md.is_file():
        return ""
    return ("<h2>Beside the paper (Tables 3 and 6)</h2><p>From the last <code>realsync evaluate</code> on the adopted lists; "
            f"also as <a href='paper_tables.json'>JSON</a>.</p><pre>{escape(md.read_text(encoding='utf-8'))}</pre>")


def run_stats(root: DatasetRoot, name: str = "realsync") -> StatsResult:
    inputs = load_inputs(root)
    seg_path = root.manifest("segments")
    segments = root.read("segments") if root.has("segments") else None
    if segments is not None:
        segments = segments[segments["clip_id"].isin(set(inputs.clips["clip_id"]))]
    res = StatsResult(tables.table1(inputs, segments, name), tables.table2(inputs), annotated=inputs.annotated)
    res.n_segments = 0 if segments is None else len(segments)
    out = root.report
    out.mkdir(parents=True, exist_ok=True)
    atomic.remove_stale_temps(out)
    for stem, df in (("table1", res.table1), ("table2", res.table2)):
        atomic.write_text(out / f"{stem}.md", tables.to_markdown(df))
        atomic.write_text(out / f"{stem}.csv", tables.to_csv(df))
        res.files += [out / f"{stem}.md", out / f"{stem}.csv"]
    res.top_events = plots.plot_events(inputs.events, out / "events_top50.png")
    plots.plot_offsets(segments, out / "offset_classes.png")
    plots.plot_channel_hours(res.table2, out / "channel_hours.png")
    res.files += [out / n for n in plots.SIZES]
    atomic.write_text(out / "index.html", _html(res, root))
    res.files.append(out / "index.html")
    return res
