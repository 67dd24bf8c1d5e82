"""The paper's figures: every number of its Tables 3-6, as the paper prints them.

:data:`PAPER` is the project's own copy (a Python literal, so it ships with the code); nothing
reads ``../shared`` at run time.  ``tests/test_paper_tables.py`` counts it (85 figures: 78
metrics and Table 3's 7 inference times) and compares every figure with the transcription in
``../shared/paper/realsync_paper_tables.json`` when that file is there.

* Table 3 (main results, 18 iterations at a 2 s hop): acc, acc +/-1, ROC-AUC, mAP and the
  inference time per check (ms, one L4 GPU, batch 1) of seven methods.  Rows marked ``*``
  are not streaming: their figure is the best of the 18 iterations.
* Table 4: mAP by the number of windows (2, 4, 12, 24, 32, 40, 48) for the fine-tuned
  SparseSync averaged over the windows (APA) and StreamSync-Trf.
* Table 5: the ablation of the history H and the back-propagation cap K; its base row equals
  Table 3's StreamSync-Trf row, so it is the Trf head.
* Table 6: StreamSync per scenario; its Overall row equals Table 3's StreamSync-LSTM row, so
  it is the LSTM head.  The paper has no APA rows in Table 6 (an earlier copy here did).

:func:`table3_rows` names which of ``realsync evaluate``'s methods fill Table 3;
:mod:`realsync_build.streamsync.beside` puts measured figures and the constant-predictor
floors beside these.
"""

from __future__ import annotations

METRICS = ("acc", "acc_pm1", "roc_auc", "map")
METRIC_LABEL = {"acc": "acc", "acc_pm1": "acc +/-1", "roc_auc": "ROC-AUC", "map": "mAP", "ms": "ms"}
WINDOW_COUNTS = (2, 4, 12, 24, 32, 40, 48)

PAPER: dict = {
    "source": "RealSync / StreamSync paper, Tables 3-6 as printed (ms: per check on one L4 GPU, batch 1)",
    "table3": {
        "title": "Table 3: RealSync test set, 18 iterations at a 2 s hop",
        "columns": ("acc", "acc_pm1", "roc_auc", "map", "ms"),
        "rows": {
            "Pretrained SparseSync*": (0.207, 0.381, 0.717, 0.177, 18.5),
            "Finetuned SparseSync*": (0.381, 0.598, 0.872, 0.430, 18.5),
            "Pretrained Synchformer*": (0.369, 0.594, 0.865, 0.410, 171),
            "APA SparseSync": (0.580, 0.847, 0.953, 0.585, 18.4),
            "StreamSync-Trf": (0.566, 0.841, 0.959, 0.621, 20.6),
            "StreamSync-LSTM": (0.567, 0.845, 0.961, 0.632, 19.2),
            "APA Synchformer": (0.520, 0.795, 0.938, 0.564, 171),
        },
        "note": "* not streaming: the best prediction among the 18 iterations. APA SparseSync is fine-tuned, APA Synchformer is not.",
    },
    "table4": {
        "title": "Table 4: mAP by the number of windows",
        "metric": "map",
        "columns": WINDOW_COUNTS,
        "rows": {
            "Finetuned SparseSync (APA, as the text reads it)": (0.48, 0.51, 0.56, 0.59, 0.61, 0.60, 0.62),
            "StreamSync-Trf": (0.46, 0.52, 0.60, 0.64, 0.65, 0.67, 0.68),
        },
        "note": "the fine-tuned SparseSync row averages the windows (APA), as the paper's text reads it.",
    },
    "table5": {
        "title": "Table 5: history H and backprop cap K (StreamSync-Trf)",
        "columns": METRICS,
        "rows": {
            "Base (H=12, K=3)": (0.566, 0.841, 0.959, 0.621),
            "K=2": (0.547, 0.831, 0.959, 0.613),
            "K=4": (0.548, 0.832, 0.955, 0.597),
            "H=6": (0.564, 0.834, 0.958, 0.623),
            "H=18": (0.550, 0.833, 0.958, 0.611),
        },
        "note": "the base row equals Table 3's StreamSync-Trf row.",
    },
    "table6": {
        "title": "Table 6: StreamSync per scenario (2 s hops, 18 iterations)",
        "columns": METRICS,
        "rows": {
            "Talking-heads": (0.706, 0.980, 0.986, 0.750),
            "Voiceovers": (0.538, 0.859, 0.957, 0.568),
            "Others": (0.358, 0.610, 0.876, 0.411),
            "Overall": (0.567, 0.845, 0.961, 0.632),
        },
        "note": "the Overall row equals Table 3's StreamSync-LSTM row.",
    },
}

TABLES = ("table3", "table4", "table5", "table6")

# Table 5's rows by (H, K)
TABLE5_ROW = {(12, 3): "Base (H=12, K=3)", (12, 2): "K=2", (12, 4): "K=4", (6, 3): "H=6", (18, 3): "H=18"}
# Table 6's rows by realsync's scenario names (None: all segments)
TABLE6_ROW = {"Talking-heads": "talking_head", "Voiceovers": "voice_over", "Others": "other", "Overall": None}
# the streaming head each table reports (Table 3 has both)
TABLE_HEAD = {"table4": "trf", "table5": "trf", "table6": "lstm"}
HEAD_ROW = {"trf": "StreamSync-Trf", "lstm": "StreamSync-LSTM"}


def figures(paper: dict = PAPER) -> list[tuple[str, str, str, float]]:
    """Every figure as ``(table, row, column, value)``; columns are strings (``"2"`` for Table 4's 2 windows)."""
    out = []
    for t in TABLES:
        cols = [str(c) for c in paper[t]["columns"]]
        for row, values in paper[t]["rows"].items():
            if len(values) != len(cols):
                raise ValueError(f"{t} {row}: {len(values)} figures for {len(cols)} columns")
            out += [(t, row, c, float(v)) for c, v in zip(cols, values)]
    return out


def paper_value(table: str, row: str, column, paper: dict = PAPER) -> float | None:
    t = paper[table]
    values = t["rows"].get(row)
    cols = [str(c) for c in t["columns"]]
    return None if values is None or str(column) not in cols else float(values[cols.index(str(column))])


def table3_rows(metrics: dict) -> dict:
    """Table 3's rows from evaluate's metrics (``None``: not measured by this run).

    ``pretrained`` (a bare SparseSync checkpoint, or ``--pretrained``), ``snapshot`` (a
    fine-tuned run's predictor, best iteration), ``apa`` and ``streamsync`` are evaluate's
    method keys; :mod:`realsync_build.streamsync.beside` sets them beside the paper's rows.
    """
    keys = ("acc", "acc_pm1", "roc_auc", "map", "iteration", "n")
    pick = lambda m: {k: m[k] for k in keys if k in m} if isinstance(m, dict) else None  # noqa: E731
    return {
        "pretrained_sparsesync": pick(metrics.get("pretrained")),
        "finetuned_snapshot": pick(metrics.get("snapshot")),
        "apa": pick(metrics.get("apa")),
        "streamsync": pick(metrics.get("streamsync")),
    }
