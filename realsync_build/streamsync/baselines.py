"""The floors every figure stands on: two constant predictors, scored like the models.

* ``always_zero``: always offset 0 (class 10), i.e. "the stream is in sync";
* ``most_common``: always the most common class -- of the training labels when they are
  known and have one, else of the evaluated segments themselves (an oracle: it knows the
  evaluated labels' distribution).  ``source`` says which.  The StreamSync trainer draws its
  offsets from U(-2, 2) s, so its labels have no most common class (all but the two end
  classes are equally likely); a root whose ``segments.parquet`` holds fixed offsets for a
  ``train`` split gives one.  Ties go to the lowest class.

Both are scored by :func:`realsync_build.streamsync.metrics.summarize`, the models' own
function, on a one-hot score for the constant class.  Every class's score is then the same
for all segments: its ROC-AUC is 0.5 (all ties) and its average precision is the class's
share of the segments (one threshold; scikit-learn's AP), so the macro ROC-AUC is 0.5 and the
macro mAP is 1 / (number of classes present).  Those are the figures of a predictor that ranks
nothing; a model's ROC-AUC and mAP above them is ranking, its accuracy above the constants'
is more than a prior.

On the published normal lists half the offsets are exactly 0, so "always 0" is a high floor:
acc 0.525 / acc +/-1 0.634 on the 1,060 segments the StreamSync loader evaluates
(:func:`list_floors`, no media needed; ``tests/test_baselines.py``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from realsync_build.core.avformat import NUM_CLASSES, class_to_offset, offset_to_class
from realsync_build.streamsync.metrics import summarize

ZERO_CLASS = offset_to_class(0.0)
FLOORS = ("always_zero", "most_common")
FLOOR_LABEL = {"always_zero": "always offset 0", "most_common": "most common class"}
NOTE = (
    "Constant predictors scored by the models' own metric functions on a one-hot score: every class's score is the "
    "same for all segments, so each class's ROC-AUC is 0.5 and its AP is its share of the segments; macro ROC-AUC 0.5, "
    "macro mAP = 1 / (classes present)."
)
EVALUATED = "the evaluated segments (an oracle: the constant knows their label distribution)"
UNIFORM_TRAINING = "the StreamSync trainer draws offsets from U(-2, 2) s, so its labels have no most common class"


def constant_scores(n: int, k: int) -> np.ndarray:
    """``(n, 21)`` one-hot scores of a predictor that always answers class ``k``."""
    p = np.zeros((n, NUM_CLASSES), np.float32)
    p[:, int(k)] = 1.0
    return p


def score_constant(y: np.ndarray, k: int) -> dict:
    """acc, acc_pm1, roc_auc, map and n of always answering ``k`` on labels ``y``."""
    y = np.asarray(y, np.int64)
    return summarize(constant_scores(len(y), k), y)


def most_common_class(y: np.ndarray, train_y: np.ndarray | None = None, train_source: str = "training labels") -> tuple[int, str]:
    """``(class, where it came from)``: the training labels' single most common class, else the evaluated labels'."""
    why = UNIFORM_TRAINING
    if train_y is not None and len(train_y):
        counts = np.bincount(np.asarray(train_y, np.int64), minlength=NUM_CLASSES)
        top = np.flatnonzero(counts == counts.max())
        if len(top) == 1:
            return int(top[0]), f"{train_source} ({len(train_y)} labels)"
        why = f"the {train_source} have no single most common class ({len(top)} tie)"
    counts = np.bincount(np.asarray(y, np.int64), minlength=NUM_CLASSES)
    return int(counts.argmax()), f"{EVALUATED}; {why}"


def floors(y: np.ndarray, groups: dict[str, np.ndarray] | None = None, train_y: np.ndarray | None = None,
           train_source: str = "training labels") -> dict:
    """Both floors on labels ``y``: overall, and per group (``{"per_scenario": labels-of-each-segment, ...}``).

    The most common class is chosen once (training labels, else all of ``y``) and the same
    constant is scored on every subset, as a deployed constant would be.
    """
    y = np.asarray(y, np.int64)
    if not len(y):
        return {}
    k, source = most_common_class(y, train_y, train_source)
    out: dict = {"note": NOTE}
    for name, cls in (("always_zero", ZERO_CLASS), ("most_common", k)):
        row = {"class": int(cls), "offset_s": class_to_offset(cls), **score_constant(y, cls)}
        if name == "most_common":
            row["source"] = source
        for gname, labels in (groups or {}).items():
            labels = np.asarray(labels)
            row[gname] = {str(g): score_constant(y[labels == g], cls) for g in sorted(set(labels.tolist()))}
        out[name] = row
    return out


def listed_labels(csv_path: str | Path, *, protocol: str = "paper", cap: int | None = None, seed: int | None = None,
                  distribution: str | None = None, skip_list: str | Path | None = None) -> tuple[np.ndarray, dict]:
    """The classes of the segments a published list's protocol selects (no media needed), and what was selected.

    The list is read as ``split --from-list`` reads it (:func:`realsync_build.stages.split.listed.list_inputs`:
    its skip list, its distribution and the label of each offset), and selected by the same
    :func:`realsync_build.core.protocol.loader_selection`.
    """
    from realsync_build.core import lists
    from realsync_build.core.protocol import LOADER_SEED, loader_selection, read_skip_list
    from realsync_build.stages.split.listed import list_inputs, listed_class

    csv_path = Path(csv_path)
    li = list_inputs([csv_path], roles=["test"], skip_lists=[Path(skip_list)] if skip_list else None, distribution=distribution)[0]
    skip_path = Path(skip_list) if skip_list else li.skip_list
    text = csv_path.read_text(encoding="utf-8")
    rows = lists.parse_csv_text(text, str(csv_path))
    entries = lists.read_json(csv_path.with_suffix(".json"))
    sel = loader_selection(text.splitlines(keepends=True), read_skip_list(skip_path) if skip_path else [], protocol=protocol, cap=cap,
                           seed=LOADER_SEED if seed is None else seed)
    y = np.array([listed_class(entries[str(rows[i].segment)]["offset_sec"], li.distribution, str(rows[i].segment), csv_path) for i in sel.kept],
                 np.int64)
    info = {"list": csv_path.name, "distribution": li.distribution, "protocol": protocol, "cap": cap, "lines": len(rows),
            "skip_list": skip_path.name if skip_path else None, "n": len(y)}
    return y, info


def list_floors(csv_path: str | Path, **kw) -> dict:
    """:func:`floors` of the segments a published list's protocol selects (``kw``: :func:`listed_labels`)."""
    y, info = listed_labels(csv_path, **kw)
    return {**info, **floors(y)}

