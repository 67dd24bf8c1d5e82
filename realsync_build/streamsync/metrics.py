"""The paper's metrics on class probabilities: accuracy, accuracy within +/-1 class,
macro one-vs-rest ROC-AUC and macro mAP (classes without a positive, or without a
negative, are left out of the macro means, as they have no defined score)."""

from __future__ import annotations

import math

import numpy as np


def accuracy(probs: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.argmax(probs, axis=1) == y)) if len(y) else float("nan")


def accuracy_pm1(probs: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.abs(np.argmax(probs, axis=1) - y) <= 1)) if len(y) else float("nan")


def _rankdata(x: np.ndarray) -> np.ndarray:
    """Ranks starting at 1, ties get their average rank."""
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    ranks = np.empty(len(x), np.float64)
    i = 0
    while i < len(xs):
        j = i
        while j + 1 < len(xs) and xs[j + 1] == xs[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return ranks


def binary_roc_auc(score: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties)."""
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    r = _rankdata(score)
    return float((r[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def binary_average_precision(score: np.ndarray, positive: np.ndarray) -> float:
    """Sum over distinct thresholds of (recall step) x precision, as scikit-learn defines AP."""
    n_pos = int(positive.sum())
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-score, kind="mergesort")
    s, p = score[order], positive[order].astype(np.float64)
    last_of_tie = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
    tps = np.cumsum(p)[last_of_tie]
    fps = (last_of_tie + 1) - tps
    precision = tps / (tps + fps)
    recall = tps / n_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def _macro(fn, probs: np.ndarray, y: np.ndarray) -> float:
    vals = [fn(probs[:, k], y == k) for k in range(probs.shape[1])]
    vals = [v for v in vals if not math.isnan(v)]
    return float(np.mean(vals)) if vals else float("nan")


def roc_auc_macro(probs: np.ndarray, y: np.ndarray) -> float:
    return _macro(binary_roc_auc, probs, y)


def map_macro(probs: np.ndarray, y: np.ndarray) -> float:
    return _macro(binary_average_precision, probs, y)


def summarize(probs: np.ndarray, y: np.ndarray) -> dict:
    """``acc``, ``acc_pm1``, ``roc_auc``, ``map`` and ``n`` (NaN -> None, so it serialises as JSON null)."""
    out = {
        "acc": accuracy(probs, y),
        "acc_pm1": accuracy_pm1(probs, y),
        "roc_auc": roc_auc_macro(probs, y),
        "map": map_macro(probs, y),
    }
    out = {k: (None if math.isnan(v) else round(v, 6)) for k, v in out.items()}
    out["n"] = int(len(y))
    return out
