"""``report/index.html``: the page a user reads.  Sections, in order:

1. the dataset: the paper's Table 1 (one row) and Table 2 (per channel), hours
   per scenario (``unscored`` its own column), and the figure of them;
2. the splits: videos, clips and hours per split and channel;
3. evaluation segments per scenario and per offset class (tables and figures),
   with the scenario rule stated;
4. top audio events (table and Figure 1);
5. evaluation results, when ``realsync evaluate`` wrote ``report/eval-*/metrics.json`` or
   ``runs/*/eval-*/metrics.json``;
6. the comparison with the paper (``#paper-comparison``): filled from
   ``report/paper_tables.md`` when an evaluation wrote it (Tables 3-6, floors under each);
7. the run: date, versions, the recorded parameters of each stage.

Every value nobody measured reads ``n/a`` (CSS class ``na``).  Every linked
file is written before this page (the caller checks).
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
from html import escape
from importlib import metadata

from realsync_build import __version__
from realsync_build.core.params import flags_text
from realsync_build.core.root import DatasetRoot
from realsync_build.core.scenario import DEFAULT_STREAM, RULE
from realsync_build.stages.stats import tables
from realsync_build.stages.stats.tables import NA, Unit

CSS = (
    "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;padding:0 1em;color:#222;line-height:1.4}"
    "h1{margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}"
    "table{border-collapse:collapse;margin:.8em 0}td,th{border:1px solid #ccc;padding:3px 8px}table.wide td,table.wide th{padding:3px 4px;font-size:.85em}"
    "th{background:#f4f4f4;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}"
    "td.na{color:#888;font-style:italic;text-align:right}.note{color:#8a4b2f}"
    "figure{margin:1em 0}img{max-width:100%;height:auto;border:1px solid #eee}figcaption{color:#555;font-size:.9em}"
    "code{background:#f4f4f4;padding:0 .2em}.meta td{border:none;padding:1px 10px 1px 0}"
)
VERSIONED = ("numpy", "pandas", "pyarrow", "torch", "matplotlib", "silero-vad", "face-alignment", "ai-edge-litert")
METHOD_NAMES = {"pretrained": "Pretrained SparseSync", "snapshot": "Snapshot (fine-tuned)", "apa": "APA", "streamsync": "StreamSync"}
METRICS = (("acc", "acc"), ("acc_pm1", "acc +/-1"), ("roc_auc", "ROC-AUC"), ("map", "mAP"))
FLOOR_NAMES = {"always_zero": "floor: always offset 0", "most_common": "floor: most common class"}


def _num(v, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return f"<td class=na>{NA}</td>"
    if isinstance(v, (int, float)):
        return f"<td class=num>{v:.{digits}f}</td>" if isinstance(v, float) else f"<td class=num>{v}</td>"
    return f"<td>{escape(str(v))}</td>"


def _figure(name: str, caption: str, size: tuple[int, int]) -> str:
    w, h = size
    return f"<figure><img src='{escape(name)}' width={w} height={h} alt='{escape(caption)}'><figcaption>{escape(caption)}</figcaption></figure>"


def _links(*names: str) -> str:
    return "<p>Also as " + ", ".join(f"<a href='{escape(n)}'>{escape(n)}</a>" for n in names) + ".</p>"


def versions() -> dict[str, str]:
    out = {"realsync": __version__, "python": platform.python_version()}
    for pkg in VERSIONED:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = NA
    return out


def stage_records(root: DatasetRoot) -> list[dict]:
    """The stages' records of their last run, in pipeline order: ``stages.json``, the record
    ``realsync status`` and a refused rerun read too (:mod:`realsync_build.core.state`)."""
    from realsync_build.core import state

    records = state.load_all(root)
    order = [s for s in state.STAGES if s in records] + sorted(s for s in records if s not in state.STAGES)
    return [dict(records[s], stage=records[s].get("stage", s)) if isinstance(records[s], dict) else {"stage": s} for s in order]


def evaluations(root: DatasetRoot) -> list[tuple[str, dict]]:
    """``(folder relative to report/, metrics)`` of every ``report/eval-*/metrics.json`` (where
    ``realsync evaluate`` writes by default) and ``runs/*/eval-*/metrics.json`` (a run's own)."""
    import os

    found = sorted(root.report.glob("eval-*/metrics.json")) + sorted((root.root / "runs").glob("*/eval-*/metrics.json"))
    out = []
    for p in found:
        try:
            out.append((os.path.relpath(p.parent, root.report).replace(os.sep, "/"), json.loads(p.read_text(encoding="utf-8"))))
        except (OSError, ValueError):
            continue
    return out


def _evaluation_section(root: DatasetRoot) -> str:
    evals = evaluations(root)
    if not evals:
        return "<h2 id=evaluation>Evaluation</h2><p>No evaluation yet: <code>realsync evaluate --root ROOT --checkpoint CKPT</code> writes <code>report/eval-SPLIT/metrics.json</code>, shown here.</p>"
    parts = ["<h2 id=evaluation>Evaluation</h2>"]
    for folder, m in evals:
        methods = [k for k in METHOD_NAMES if isinstance(m.get(k), dict)]
        parts.append(
            f"<h3>{escape(str(m.get('split', folder)))} ({escape(folder)})</h3><p>{escape(str(m.get('n_segments', NA)))} segments evaluated, "
            f"{escape(str(m.get('n_failed', NA)))} failed; {escape(str(m.get('iterations', NA)))} iterations at a {escape(str(m.get('hop_s', NA)))} s hop.</p>"
        )
        head = "".join(f"<th>{escape(lab)}</th>" for _, lab in METRICS)
        rows = "".join(
            f"<tr><td>{escape(METHOD_NAMES[k])}</td>" + "".join(_num(m[k].get(key)) for key, _ in METRICS) + "</tr>" for k in methods
        )
        floors = {k: f for k, f in (m.get("baselines") or {}).items() if k in FLOOR_NAMES and isinstance(f, dict)}
        rows += "".join(  # the floor beside every figure: constant predictors on the same segments
            f"<tr class=note><td>{escape(FLOOR_NAMES[k])} ({f.get('offset_s', 0):+.1f} s)</td>" + "".join(_num(f.get(key)) for key, _ in METRICS) + "</tr>"
            for k, f in floors.items()
        )
        parts.append(f"<table><thead><tr><th>Method</th>{head}</tr></thead><tbody>{rows}</tbody></table>")
        if "most_common" in floors:
            parts.append(f"<p class=note>Floors: constant predictors on the same segments; the most common class is that of "
                         f"{escape(str(floors['most_common'].get('source')))}. {escape(str((m.get('baselines') or {}).get('note', '')))}</p>")
        found = {s for k in methods for s in (m[k].get("per_scenario") or {})}
        scen = [s for s in tables.SCENARIO_NAMES if s in found] + sorted(found - set(tables.SCENARIO_NAMES))
        if scen:
            head = "".join(f"<th>{escape(tables.SCENARIO_NAMES.get(s, s))} acc</th>" for s in scen)
            rows = "".join(
                f"<tr><td>{escape(METHOD_NAMES[k])}</td>"
                + "".join(_num(((m[k].get("per_scenario") or {}).get(s) or {}).get("acc")) for s in scen)
                + "</tr>"
                for k in methods
            )
            ns = "".join(_num(((m[methods[0]].get("per_scenario") or {}).get(s) or {}).get("n")) for s in scen)
            parts.append(f"<table><thead><tr><th>Accuracy per scenario</th>{head}</tr></thead><tbody>{rows}<tr><td>segments</td>{ns}</tr></tbody></table>")
        if (root.report / folder / "by_iteration.png").is_file():
            parts.append(
                f"<figure><img src='{escape(folder)}/by_iteration.png' alt='accuracy by iteration'>"
                f"<figcaption>Accuracy (0 to 1) of each method by streaming iteration, {escape(str(m.get('split', '')))} split.</figcaption></figure>"
            )
        for note in m.get("notes") or []:
            parts.append(f"<p class=note>note: {escape(str(note))}</p>")
    return "".join(parts)


PAPER_PLACEHOLDER = (
    "<h2 id=paper-comparison>Beside the paper</h2><p>No comparison yet: it appears after "
    "<code>realsync evaluate</code> (on a root adopted from the published lists, <code>realsync split --from-list</code>, "
    "the segments are the paper's).</p>"
)


def paper_section(root: DatasetRoot) -> str:
    """The comparison with the paper's Tables 3-6 and the floors under each (``report/paper_tables.md``,
    written by ``realsync evaluate``; its statement says whether the segments are the published
    lists'), or ``""`` when there is none (the page then shows :data:`PAPER_PLACEHOLDER` in its
    place, ``#paper-comparison``)."""
    md = root.report / "paper_tables.md"
    if not md.is_file():
        return ""
    link = " also as <a href='paper_tables.json'>JSON</a>." if (root.report / "paper_tables.json").is_file() else ""
    return (
        "<h2 id=paper-comparison>Beside the paper (Tables 3-6, with the floors)</h2><p>From the last <code>realsync evaluate</code>;"
        f"{link}</p><pre>{escape(md.read_text(encoding='utf-8'))}</pre>"
    )


def _run_section(root: DatasetRoot, generated: str) -> str:
    v = versions()
    vrows = "".join(f"<tr><td>{escape(k)}</td><td>{escape(val)}</td></tr>" for k, val in v.items())
    recs = stage_records(root)
    if recs:
        rows = []
        for r in recs:
            params = r.get("params") or {}
            ptxt = flags_text(params) or "(defaults)"  # the flags `realsync status` prints
            rows.append(
                f"<tr><td>{escape(str(r.get('stage')))}</td><td>{escape(str(r.get('status', NA)))}</td>"
                f"<td>{escape(str(r.get('completed_at') or NA))}</td><td>{escape(str(r.get('realsync_version') or NA))}</td><td><code>{escape(ptxt)}</code></td></tr>"
            )
        stages = "<table><thead><tr><th>Stage</th><th>Status</th><th>Completed</th><th>realsync</th><th>Parameters</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    else:
        stages = "<p>No stage of this root has a record (<code>stages.json</code>): n/a.</p>"
    return (
        f"<h2 id=run>This report</h2><table class=meta><tr><td>generated</td><td>{escape(generated)}</td></tr>"
        f"<tr><td>root</td><td><code>{escape(str(root.root))}</code></td></tr></table>"
        f"<h3>Versions</h3><table class=meta>{vrows}</table><h3>Stage parameters</h3>{stages}"
    )


def render(
    root: DatasetRoot,
    *,
    name: str,
    unit: Unit,
    table1,
    table2,
    splits,
    by_scenario,
    by_offset,
    events,
    events_title: str,
    events_size: tuple[int, int],
    hatched: bool,
    notes: list[str],
    generated: str | None = None,
) -> str:
    generated = generated or _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    from realsync_build.stages.stats.plots import SIZES

    unit_word = "hours" if unit.name == "h" else "minutes (the dataset is under an hour)"
    out = [
        f"<!doctype html><html lang=en><head><meta charset='utf-8'><title>{escape(name)}: realsync dataset report</title>"
        f"<style>{CSS}</style></head><body>",
        f"<h1>{escape(name)}: dataset report</h1><p>realsync {escape(__version__)}, generated {escape(generated)}. "
        f"Durations in {escape(unit_word)}; <span class=na><i>n/a</i></span> marks what was not measured.</p>",
    ]
    out += [f"<p class=note>{escape(n)}</p>" for n in notes]
    out.append(f"<h2 id=dataset>Table 1: the dataset</h2>{tables.to_html(table1, unit)}{_links('table1.md', 'table1.csv')}")
    out.append(f"<h2 id=channels>Table 2: per channel</h2>{tables.to_html(table2, unit)}{_links('table2.md', 'table2.csv')}")
    out.append(
        "<p>Scenarios per 25 fps frame (docs/annotate.md): <b>talking head</b> = speech and a face SyncNet accepts; "
        "<b>voice-over</b> = speech and faces on screen SyncNet rejects; <b>unscored</b> = speech and a face SyncNet did not score; "
        "<b>other</b> = no speech, or speech with no usable face on screen.</p>"
    )
    hatch_note = " Marked n/a: time whose scenario was not measured (hatched), or talking-head / voice-over time without SyncNet scores." if hatched else ""
    out.append(_figure("channel_hours.png", f"{'Hours' if unit.name == 'h' else 'Minutes'} per channel by scenario.{hatch_note}", SIZES["channel_hours.png"]))
    if splits is not None:
        out.append(f"<h2 id=splits>Splits</h2>{tables.to_html(splits, unit)}{_links('splits.md', 'splits.csv')}")
    else:
        out.append("<h2 id=splits>Splits</h2><p>Not split yet (<code>realsync split --seed S</code>): n/a.</p>")
    stream = DEFAULT_STREAM
    span_s = stream.window_s + (stream.iterations - 1) * stream.hop_s
    out.append("<h2 id=segments>Evaluation segments</h2>")
    if by_scenario is not None:
        out.append(
            f"<p>Scenario of a segment: the {escape(RULE)} scenario over the span the evaluation streams through "
            f"({stream.iterations} windows of {stream.window_s:g} s at a {stream.hop_s:g} s hop, {span_s:g} s), not only its first window.</p>"
        )
        out.append(f"<h3>Per scenario</h3>{tables.to_html(by_scenario, unit)}{_links('segments_scenario.csv')}")
        n = int(by_scenario["total"].sum())
        out.append(_figure("scenarios.png", f"Evaluation segments per scenario and split ({n} segments).", SIZES["scenarios.png"]))
        out.append(f"<h3>Per offset class</h3>{tables.offsets_wide_html(by_offset)}{_links('segments_offset.csv')}")
        out.append(_figure("offset_classes.png", f"Evaluation segments per offset class, -2.0 to +2.0 s in 0.2 s steps ({n} segments).", SIZES["offset_classes.png"]))
    else:
        out.append("<p>No evaluation segments yet (<code>realsync split --seed S</code>): n/a.</p>")
    out.append("<h2 id=events>Top audio events</h2>")
    if events is not None:
        out.append(f"{tables.to_html(events.head(20), unit)}{_links('top_events.csv')}")
    else:
        out.append("<p>No audio events (<code>realsync annotate</code>): n/a.</p>")
    out.append(_figure("events_top.png", f"Figure 1: {events_title}.", events_size))
    out.append(_evaluation_section(root))
    out.append(paper_section(root) or PAPER_PLACEHOLDER)
    out.append(_run_section(root, generated))
    out.append("</body></html>\n")
    return "".join(out)


def linked_files(html: str) -> list[str]:
    """Relative paths of every ``src=`` / ``href=`` target on the page (for checks)."""
    import re

    return [m for m in re.findall(r"(?:src|href)='([^']+)'", html) if "://" not in m and not m.startswith("#")]


