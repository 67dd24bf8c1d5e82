"""The paper's Tables 3 and 6 beside the measured values (``paper_tables.md`` / ``.json``).

``realsync evaluate`` on a root adopted from the published lists (``split
--from-list``; ``manifests/adoption.json`` exists) calls :func:`write_paper_tables`,
which writes beside ``metrics.json``:

* Table 3: one row per evaluated method (acc, acc +/-1, ROC-AUC, mAP), the
  paper's value next to each measured one and the difference (measured - paper);
* Table 6: per scenario (talking heads, voice-overs, others), the same;
* a plain statement of what was compared: protocol, cap, the lists, how many
  listed segments were selected, adopted, missing, evaluated and failed.

Published values.  :data:`PAPER` holds only values transcribed with their source;
every other cell is ``None`` and prints ``n/a``, never 0.  The three Table 3
accuracies below are the ones quoted in this project's issue tracker (issue 11:
"Pt SparseSync 0.207 acc, Ft SparseSync 0.381, APA over 18 windows 0.580");
the rest of Table 3 and all of Table 6 were not available offline when this was
written and are left ``None`` -- fill them from the paper (one place, this dict).

Table 3 from ``realsync evaluate`` (:func:`table3_rows`): which rows a checkpoint can fill.

Rows (accuracy etc. on the same fixed segments), from evaluate's method keys:

- ``pretrained_sparsesync`` <- ``pretrained``: a public SparseSync checkpoint without
  fine-tuning, its best iteration (the paper's "Pt SparseSync", 0.207 acc on RealSync);
  filled by ``evaluate --checkpoint <public file or name>`` or ``--pretrained NAME``;
- ``finetuned_snapshot`` <- ``snapshot``: a fine-tuned snapshot predictor (a StreamSync
  run's), best iteration ("Ft SparseSync", 0.381);
- ``apa`` <- ``apa``: average of the snapshot probabilities over the iterations ("APA
  SparseSync", 0.580 over 18 windows), for whichever snapshot predictor was evaluated;
- ``streamsync`` <- ``streamsync``: the streaming head at the last iteration.

A bare SparseSync checkpoint has no streaming head: only its pretrained and APA rows are
filled, and ``streamsync`` is absent from metrics.json rather than reported from an
untrained head.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from realsync_build.core import atomic

METRICS = ("acc", "acc_pm1", "roc_auc", "map")
METRIC_LABEL = {"acc": "acc", "acc_pm1": "acc +/-1", "roc_auc": "ROC-AUC", "map": "mAP"}
SCENARIO_LABEL = {"talking_head": "Talking heads", "voice_over": "Voiceovers", "other": "Others"}

# metrics.json method key -> the paper's Table 3 row
METHOD_ROW = {
    "pretrained": "Pt SparseSync",
    "snapshot": "Ft SparseSync",
    "apa": "APA SparseSync",
    "streamsync": "StreamSync",
}

_NA = {m: None for m in METRICS}
PAPER: dict = {
    "source": "RealSync/StreamSync paper, Tables 3 and 6 (acc values of Table 3 as quoted in issue 11; other cells not transcribed)",
    "table3": {
        "Pt SparseSync": {**_NA, "acc": 0.207},
        "Ft SparseSync": {**_NA, "acc": 0.381},
        "APA SparseSync": {**_NA, "acc": 0.580},
        "StreamSync": dict(_NA),
    },
    "table6": {label: {row: dict(_NA) for row in ("APA SparseSync", "StreamSync")} for label in SCENARIO_LABEL.values()},
}


def table3_rows(metrics: dict) -> dict:
    """Table 3's rows from evaluate's metrics (``None``: not measured by this run).

    ``pretrained`` (a bare SparseSync checkpoint, or ``--pretrained``), ``snapshot`` (a
    fine-tuned run's predictor), ``apa`` and ``streamsync`` are evaluate's method keys
    (the same keys :mod:`realsync_build.streamsync.paper` sets beside the paper's rows).
    """
    keys = ("acc", "acc_pm1", "roc_auc", "map", "iteration", "n")
    pick = lambda m: {k: m[k] for k in keys if k in m} if isinstance(m, dict) else None  # noqa: E731
    return {
        "pretrained_sparsesync": pick(metrics.get("pretrained")),
        "finetuned_snapshot": pick(metrics.get("snapshot")),
        "apa": pick(metrics.get("apa")),
        "streamsync": pick(metrics.get("streamsync")),
    }


def _num(v) -> float | None:
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def _cell(measured, paper) -> dict:
    m, p = _num(measured), _num(paper)
    return {"measured": m, "paper": p, "diff": None if m is None or p is None else round(m - p, 6)}


def _fmt(v: float | None, sign: bool = False) -> str:
    if v is None:
        return "n/a"
    return f"{v:+.3f}" if sign else f"{v:.3f}"


def compare(metrics: dict, adoption: dict | None, paper: dict = PAPER) -> dict:
    """The side-by-side tables as data (what the ``.json`` holds)."""
    t3 = []
    for key, row in METHOD_ROW.items():
        if key not in metrics or not isinstance(metrics[key], dict):
            continue
        ref = paper["table3"].get(row, _NA)
        t3.append({"method": key, "row": row, "n": metrics[key].get("n"), **{m: _cell(metrics[key].get(m), ref.get(m)) for m in METRICS}})
    t6 = []
    for scen, label in SCENARIO_LABEL.items():
        for key, row in METHOD_ROW.items():
            per = (metrics.get(key) or {}).get("per_scenario") if isinstance(metrics.get(key), dict) else None
            if per is None:
                continue
            got = per.get(scen) or {}
            ref = paper["table6"].get(label, {}).get(row, _NA)
            t6.append({"scenario": scen, "label": label, "method": key, "row": row, "n": got.get("n", 0),
                       **{m: _cell(got.get(m), ref.get(m)) for m in METRICS}})
    return {"table3": t3, "table6": t6, "statement": statement(metrics, adoption), "paper_source": paper["source"]}


def statement(metrics: dict, adoption: dict | None) -> str:
    """Plain words on what the measured numbers are compared with."""
    n_eval, n_failed = metrics.get("n_segments"), metrics.get("n_failed", 0)
    if not adoption:
        return (f"Evaluated {n_eval} segments of split {metrics.get('split')} drawn by this project's own split, "
                "not the published lists: the sets differ from the paper's.")
    cap = f", capped at {adoption['cap']} lines after the loader's seeded shuffle (seed {adoption['seed']})" if adoption.get("cap") else ""
    lists = "; ".join(
        f"{li['name']} -> {li['split']}: {li['lines']} lines, {li['selected']} selected, {li['adopted']} adopted, {li['missing']} missing"
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
    return " ".join(parts)


def to_markdown(cmp: dict) -> str:
    head = "| row | n | " + " | ".join(f"{METRIC_LABEL[m]} (ours / paper / diff)" for m in METRICS) + " |"
    sep = "|" + "---|" * (2 + len(METRICS))

    def line(r, first):
        cells = " | ".join(f"{_fmt(r[m]['measured'])} / {_fmt(r[m]['paper'])} / {_fmt(r[m]['diff'], True)}" for m in METRICS)
        return f"| {first} | {r['n'] if r['n'] is not None else 'n/a'} | {cells} |"

    out = ["# Measured beside the paper", "", cmp["statement"], "", "## Table 3", "", head, sep]
    out += [line(r, f"{r['row']} ({r['method']})") for r in cmp["table3"]]
    out += ["", "## Table 6 (per scenario)", "", head, sep]
    out += [line(r, f"{r['label']}: {r['row']}") for r in cmp["table6"]]
    out += ["", f"Paper values: {cmp['paper_source']}. n/a: not measured, or not transcribed from the paper.", ""]
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
    """The evaluate hook: on an adopted root, the tables beside metrics.json and in ROOT/report."""
    from realsync_build.core.adoption import read_adoption

    adoption = read_adoption(root)
    if adoption is None:
        return []
    return write_paper_tables(metrics, adoption, out, copy_to=root.report)
