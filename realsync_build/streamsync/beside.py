"""Measured beside the paper: Tables 3-6 with the floors under every table (``paper_tables.md`` / ``.json``).

``realsync evaluate`` calls :func:`write_beside`, which writes beside ``metrics.json`` (and in
``ROOT/report``, where ``realsync stats`` shows it) and stores the same data in metrics.json
(``paper``):

* every figure of :data:`realsync_build.streamsync.paper.PAPER` with the measured figure beside it
  and the difference (measured - paper); ``n/a`` where this run measured nothing for that cell
  (never 0).  Which measurement fills which cell:

  - Table 3: ``pretrained`` -> Pretrained SparseSync*, ``snapshot`` (best iteration) -> Finetuned
    SparseSync*, ``apa`` -> APA SparseSync (a fine-tuned run's; a bare SparseSync checkpoint's APA
    gets its own row), ``streamsync`` -> the row of the run's head (Trf or LSTM); ms from the
    inference-cost measurement (this machine, batch 1; the paper's are on one L4 GPU);
    Synchformer rows: never measured here;
  - Table 4: mAP of APA and StreamSync after n windows (``by_window_count``; ``--iterations
    2,4,12,24,32,40,48``);
  - Table 5: StreamSync in the row of the run's (H, K), from the checkpoint's training config;
    another (H, K) gets its own row;
  - Table 6: StreamSync per scenario, and Overall;

  Tables 4-6 report one head in the paper (Trf, Trf, LSTM); a run with the other head is set
  beside them all the same, and the table's note says so.
* under every table, the floors of :mod:`realsync_build.streamsync.baselines` ("always offset 0"
  and "the most common class") on the same segments, with the same metrics;
* a plain statement of what was compared: adopted lists or not, protocol, roles,
  distribution, cap, how many segments were selected, missing, evaluated and failed.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from realsync_build.core import atomic
from realsync_build.streamsync.baselines import FLOOR_LABEL, FLOORS
from realsync_build.streamsync.paper import (
    HEAD_ROW,
    METRIC_LABEL,
    METRICS,
    PAPER,
    TABLE5_ROW,
    TABLE6_ROW,
    TABLE_HEAD,
    TABLES,
    paper_value,
)

def _num(v) -> float | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def _cell(measured, paper) -> dict:
    m, p = _num(measured), _num(paper)
    return {"measured": m, "paper": p, "diff": None if m is None or p is None else round(m - p, 6)}


def _row(table: str, row: str, values: dict, paper: dict, *, method: str | None = None, n=None, in_paper: bool = True) -> dict:
    cols = [str(c) for c in paper[table]["columns"]]
    ref = (lambda c: paper_value(table, row, c, paper)) if in_paper else (lambda c: None)
    return {"row": row, "method": method, "n": n, "cells": {c: _cell(values.get(c), ref(c)) for c in cols}}


def _floor_rows(table: str, floors: dict, paper: dict, pick, prefix: str = "") -> list[dict]:
    """One row per floor; ``pick(floor_row)`` -> ``({column: value}, n)`` or None where not measured."""
    out = []
    cols = [str(c) for c in paper[table]["columns"]]
    for name in FLOORS:
        f = floors.get(name)
        if not isinstance(f, dict):
            continue
        got = pick(f)
        if got is None:
            continue
        values, n = got
        label = f"{prefix}floor: {FLOOR_LABEL[name]} ({f['offset_s']:+.1f} s)"
        out.append({"row": label, "floor": name, "class": f["class"], "source": f.get("source"), "n": n,
                    "cells": {c: _cell(values.get(c), None) for c in cols}})
    return out


def _metrics_of(m: dict | None) -> dict:
    return {k: m.get(k) for k in METRICS} if isinstance(m, dict) else {}


def _head(metrics: dict) -> str | None:
    return (metrics.get("model") or {}).get("stream_head") if isinstance(metrics.get("streamsync"), dict) else None


def _bare(metrics: dict) -> bool:
    """A bare SparseSync checkpoint: its pretrained and APA rows only (no fine-tuned snapshot)."""
    return isinstance(metrics.get("pretrained"), dict) and not isinstance(metrics.get("snapshot"), dict)


def table3(metrics: dict, floors: dict, paper: dict = PAPER) -> dict:
    cost = metrics.get("cost") if isinstance(metrics.get("cost"), dict) else None
    head, bare = _head(metrics), _bare(metrics)
    snap_ms = cost.get("snapshot_ms") if cost else None
    base = (metrics.get("model") or {}).get("config") == "base"
    filled = {
        "Pretrained SparseSync*": ("pretrained", metrics.get("pretrained"),
                                   snap_ms if isinstance(metrics.get("pretrained"), dict) and (bare or base) else None),
        "Finetuned SparseSync*": ("snapshot", metrics.get("snapshot"), snap_ms),
        "APA SparseSync": ("apa", None if bare else metrics.get("apa"), None if bare else snap_ms),
    }
    for kind, row in HEAD_ROW.items():
        stream = metrics.get("streamsync") if head == kind else None
        ms = ((cost.get("heads") or {}).get(kind) or {}).get("total_ms") if cost and isinstance(metrics.get("streamsync"), dict) else None
        filled[row] = ("streamsync", stream, ms)
    rows = []
    for row in paper["table3"]["rows"]:
        method, m, ms = filled.get(row, (None, None, None))
        values = {**_metrics_of(m), "ms": ms if isinstance(m, dict) or ms is not None else None}
        rows.append(_row("table3", row, values, paper, method=method if isinstance(m, dict) else None, n=(m or {}).get("n") if isinstance(m, dict) else None))
    if bare and isinstance(metrics.get("apa"), dict):
        rows.append(_row("table3", "APA of the pretrained SparseSync (this run; not in the paper)", {**_metrics_of(metrics["apa"]), "ms": snap_ms},
                         paper, method="apa", n=metrics["apa"].get("n"), in_paper=False))
    notes = [paper["table3"]["note"]]
    if cost:
        notes.append(f"ms measured here: {cost.get('device')}, {cost.get('threads')} threads, batch 1 (snapshot predictor; StreamSync "
                     "= snapshot + projection + one head step); the paper's: one L4 GPU.")
    return {"title": paper["table3"]["title"], "columns": [str(c) for c in paper["table3"]["columns"]], "rows": rows, "notes": notes,
            "floors": _floor_rows("table3", floors, paper, lambda f: ({k: f.get(k) for k in METRICS}, f.get("n")))}


def table4(metrics: dict, floors: dict, paper: dict = PAPER) -> dict:
    by_n = {int(r["iterations"]): r for r in metrics.get("by_window_count") or [] if isinstance(r, dict) and "iterations" in r}
    cols = [str(c) for c in paper["table4"]["columns"]]
    head, bare = _head(metrics), _bare(metrics)
    apa_row, stream_row = list(paper["table4"]["rows"])
    pick = lambda method: {c: ((by_n.get(int(c)) or {}).get(method) or {}).get("map") for c in cols}  # noqa: E731
    n = lambda method: next((((r.get(method) or {}).get("n")) for r in by_n.values()), None)  # noqa: E731
    rows = [_row("table4", apa_row, {} if bare else pick("apa"), paper, method=None if bare else "apa", n=None if bare else n("apa")),
            _row("table4", stream_row, pick("streamsync") if head else {}, paper, method="streamsync" if head else None,
                 n=n("streamsync") if head else None)]
    notes = [paper["table4"]["note"]]
    if head and head != TABLE_HEAD["table4"]:
        notes.append(f"this run's streaming head is {HEAD_ROW[head]}; the paper's row is {stream_row}.")
    missing = [c for c in cols if int(c) not in by_n]
    if missing:
        notes.append(f"window counts {', '.join(missing)} were not evaluated (evaluate --iterations 2,4,12,24,32,40,48; clips must hold them).")
    evaluated = [c for c in cols if int(c) in by_n]
    return {"title": paper["table4"]["title"], "columns": cols, "rows": rows, "notes": notes,
            "floors": _floor_rows("table4", floors, paper, lambda f: ({c: f.get("map") for c in evaluated}, f.get("n")))}


def table5(metrics: dict, floors: dict, paper: dict = PAPER) -> dict:
    model = metrics.get("model") or {}
    head = _head(metrics)
    hk = (model.get("history"), model.get("backprop_iterations"))
    rows = [_row("table5", row, {}, paper) for row in paper["table5"]["rows"]]
    notes = [paper["table5"]["note"]]
    if head and None not in hk:
        m = metrics["streamsync"]
        name = TABLE5_ROW.get((int(hk[0]), int(hk[1])))
        if name is None:
            rows.append(_row("table5", f"H={hk[0]}, K={hk[1]} (this run; not in the paper)", _metrics_of(m), paper, method="streamsync",
                             n=m.get("n"), in_paper=False))
        else:
            rows[list(paper["table5"]["rows"]).index(name)] = _row("table5", name, _metrics_of(m), paper, method="streamsync", n=m.get("n"))
        if head != TABLE_HEAD["table5"]:
            notes.append(f"this run's streaming head is {HEAD_ROW[head]}; the paper's Table 5 is StreamSync-Trf.")
    elif head:
        notes.append("the checkpoint does not record K (its training config): no row of Table 5 is filled.")
    return {"title": paper["table5"]["title"], "columns": [str(c) for c in paper["table5"]["columns"]], "rows": rows, "notes": notes,
            "floors": _floor_rows("table5", floors, paper, lambda f: ({k: f.get(k) for k in METRICS}, f.get("n")))}


def table6(metrics: dict, floors: dict, paper: dict = PAPER) -> dict:
    head = _head(metrics)
    stream = metrics.get("streamsync") if head else None
    per = (stream or {}).get("per_scenario") or {}
    rows, floor_rows = [], []
    for row, scen in TABLE6_ROW.items():
        got = (stream if scen is None else per.get(scen)) if stream else None
        rows.append(_row("table6", row, _metrics_of(got), paper, method="streamsync" if got else None, n=(got or {}).get("n")))

        def pick(f, scen=scen):
            sub = f if scen is None else (f.get("per_scenario") or {}).get(scen)
            return ({k: sub.get(k) for k in METRICS}, sub.get("n")) if isinstance(sub, dict) else None

        floor_rows += _floor_rows("table6", floors, paper, pick, prefix=f"{row}: ")
    notes = [paper["table6"]["note"]]
    if head and head != TABLE_HEAD["table6"]:
        notes.append(f"this run's streaming head is {HEAD_ROW[head]}; the paper's Table 6 is StreamSync-LSTM.")
    if stream and "unannotated" in per:
        notes.append(f"{per['unannotated'].get('n')} segments are unannotated (the root was not annotated when split ran): no scenario row holds them.")
    return {"title": paper["table6"]["title"], "columns": [str(c) for c in paper["table6"]["columns"]], "rows": rows, "notes": notes,
            "floors": floor_rows}


def compare(metrics: dict, adoption: dict | None, paper: dict = PAPER) -> dict:
    """The side-by-side tables as data (what the ``.json`` and metrics.json's ``paper`` hold)."""
    floors = metrics.get("baselines") or {}
    build = {"table3": table3, "table4": table4, "table5": table5, "table6": table6}
    return {"statement": statement(metrics, adoption), "paper_source": paper["source"], "floors_note": floors.get("note"),
            "tables": {t: build[t](metrics, floors, paper) for t in TABLES}}


def statement(metrics: dict, adoption: dict | None) -> str:
    """Plain words on what the measured numbers are compared with."""
    n_eval, n_failed = metrics.get("n_segments"), metrics.get("n_failed", 0)
    floor = (metrics.get("baselines") or {}).get("always_zero")
    floor_txt = (f" On them, always answering offset 0 scores acc {floor['acc']:.3f} / acc +/-1 {floor['acc_pm1']:.3f}: the floor every "
                 "figure stands on." if isinstance(floor, dict) and floor.get("acc") is not None else "")
    if not adoption:
        return (f"Evaluated {n_eval} segments of split {metrics.get('split')} drawn by this project's own split, "
                "not the published lists: the sets differ from the paper's." + floor_txt)
    cap = f", capped at {adoption['cap']} lines after the loader's seeded shuffle (seed {adoption['seed']})" if adoption.get("cap") else ""
    lists = "; ".join(
        f"{li['name']} -> {li['split']} (role: {li.get('role', 'n/a')}, {li.get('distribution', 'normal')} offsets): {li['lines']} lines, "
        f"{li['selected']} selected, {li['adopted']} adopted, {li['missing']} missing"
        for li in adoption.get("lists", [])
    )
    missing = adoption.get("n_missing", 0)
    proto = ("paper (what the StreamSync loader evaluated: no broken variants, skip lists applied)"
             if adoption.get("protocol") == "paper" else adoption.get("protocol"))
    parts = [f"Protocol {proto}{cap}.", f"Lists: {lists}."]
    if missing:
        parts.append(f"{missing} of {adoption.get('n_selected')} selected segments are missing from this root (their videos or clips are "
                     "not here), so the compared sets differ from the paper's.")
    else:
        parts.append("No selected segment is missing.")
    parts.append(f"Evaluated {n_eval} segments of split {metrics.get('split')}" + (f"; {n_failed} failed to decode." if n_failed else "."))
    if not adoption.get("annotated", True):
        parts.append("The root was not annotated when split ran: every segment's scenario is 'unannotated', so Table 6 is empty.")
    return " ".join(parts) + floor_txt


def _fmt(v: float | None, sign: bool = False) -> str:
    if v is None:
        return "n/a"
    return f"{v:+.3f}" if sign else f"{v:.3f}"


def to_markdown(cmp: dict) -> str:
    out = ["# Measured beside the paper", "", cmp["statement"], ""]
    for t in cmp["tables"].values():
        cols = t["columns"]
        label = lambda c: METRIC_LABEL.get(c, f"{c} windows")  # noqa: E731
        head = "| row | n | " + " | ".join(f"{label(c)} (ours / paper / diff)" for c in cols) + " |"
        out += [f"## {t['title']}", "", head, "|" + "---|" * (2 + len(cols))]
        for r in t["rows"] + t["floors"]:
            cells = " | ".join(f"{_fmt(r['cells'][c]['measured'])} / {_fmt(r['cells'][c]['paper'])} / {_fmt(r['cells'][c]['diff'], True)}" for c in cols)
            name = r["row"] + (f" ({r['method']})" if r.get("method") else "")
            out.append(f"| {name} | {r['n'] if r['n'] is not None else 'n/a'} | {cells} |")
        out += [""] + [f"- {n}" for n in t["notes"]]
        sources = {r["source"] for r in t["floors"] if r.get("source")}
        out += [f"- most common class from {s}." for s in sorted(sources)] + [""]
    if cmp.get("floors_note"):
        out += [f"Floors: {cmp['floors_note']}", ""]
    out += [f"Paper values: {cmp['paper_source']}. n/a: not measured by this run (or, for a floor, not printed by the paper).", ""]
    return "\n".join(out)


def write_paper_tables(metrics: dict, adoption: dict | None, out: str | Path, copy_to: str | Path | None = None) -> list[Path]:
    """``paper_tables.json`` and ``paper_tables.md`` in ``out`` (and in ``copy_to``, the report folder)."""
    cmp = compare(metrics, adoption)
    files = []
    for folder in [Path(out)] + ([Path(copy_to)] if copy_to else []):
        atomic.write_text(folder / "paper_tables.json", json.dumps(cmp, indent=1) + "\n")
        atomic.write_text(folder / "paper_tables.md", to_markdown(cmp))
        files += [folder / "paper_tables.json", folder / "paper_tables.md"]
    return files


def write_beside(root, metrics: dict, out: str | Path) -> list[Path]:
    """The evaluate hook: the tables beside metrics.json and in ROOT/report (the statement says whether the lists were adopted)."""
    from realsync_build.core.adoption import read_adoption

    return write_paper_tables(metrics, read_adoption(root), out, copy_to=root.report)
