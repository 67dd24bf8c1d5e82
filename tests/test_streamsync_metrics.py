"""Metrics match scikit-learn; APA is the running mean of snapshot probabilities; evaluation tables."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from realsync_build.streamsync import metrics
from realsync_build.streamsync.evaluate import apa, chance_levels, method_probs


def _fixed(n=120, c=21, seed=3, ties=False):
    rng = np.random.default_rng(seed)
    y = np.r_[np.arange(c), rng.integers(c, size=n - c)]  # every class present
    logits = rng.normal(size=(n, c)) + 2.0 * np.eye(c)[y] * rng.uniform(0, 1, size=(n, 1))
    if ties:
        logits = np.round(logits, 0)
    p = np.exp(logits)
    return p / p.sum(1, keepdims=True), y


@pytest.mark.parametrize("ties", [False, True])
def test_macro_roc_auc_and_map_match_scikit_learn(ties):
    p, y = _fixed(ties=ties)
    assert metrics.roc_auc_macro(p, y) == pytest.approx(roc_auc_score(y, p, multi_class="ovr", average="macro"), abs=1e-9)
    onehot = np.eye(21)[y]
    assert metrics.map_macro(p, y) == pytest.approx(average_precision_score(onehot, p, average="macro"), abs=1e-9)


def test_absent_classes_are_left_out_of_the_macro_means():
    p, y = _fixed()
    keep = y < 15  # classes 15..20 never occur
    p, y = p[keep], y[keep]
    want_auc = np.mean([roc_auc_score(y == k, p[:, k]) for k in range(15)])
    want_ap = np.mean([average_precision_score(y == k, p[:, k]) for k in range(15)])
    assert metrics.roc_auc_macro(p, y) == pytest.approx(want_auc, abs=1e-9)
    assert metrics.map_macro(p, y) == pytest.approx(want_ap, abs=1e-9)


def test_accuracy_and_within_one_class():
    p = np.zeros((4, 21))
    p[[0, 1, 2, 3], [5, 6, 8, 20]] = 1.0
    y = np.array([5, 5, 5, 19])
    assert metrics.accuracy(p, y) == 0.25
    assert metrics.accuracy_pm1(p, y) == 0.75
    s = metrics.summarize(p, y)
    assert set(s) == {"acc", "acc_pm1", "roc_auc", "map", "n"} and s["n"] == 4


def test_apa_is_the_mean_of_snapshot_probabilities_so_far():
    rng = np.random.default_rng(0)
    snap = rng.dirichlet(np.ones(21), size=(5, 7)).astype(np.float32)
    a = apa(snap)
    for t in range(7):
        np.testing.assert_allclose(a[:, t], snap[:, : t + 1].mean(axis=1), rtol=1e-5)


def test_methods_pick_best_snapshot_iteration_apa_and_last_stream():
    rng = np.random.default_rng(1)
    n, t = 30, 4
    y = rng.integers(21, size=n)
    snap = rng.dirichlet(np.ones(21), size=(n, t))
    snap[:, 2] = np.eye(21)[y] * 0.9 + 0.1 / 21  # iteration 3 is perfect
    stream = rng.dirichlet(np.ones(21), size=(n, t))
    pred = {"snapshot": snap, "stream": stream, "target": y, "ok": np.ones(n, bool)}
    probs, extra = method_probs(pred)
    assert extra["snapshot_best_iteration"] == 3
    np.testing.assert_allclose(probs["snapshot"], snap[:, 2])
    np.testing.assert_allclose(probs["apa"], snap.mean(axis=1))
    np.testing.assert_allclose(probs["streamsync"], stream[:, -1])
    assert [r["iteration"] for r in extra["by_iteration"]] == [1, 2, 3, 4]
    assert extra["by_iteration"][2]["snapshot"] == 1.0


def test_chance_levels():
    c = chance_levels(np.array([10, 10, 10, 3]))
    assert c["acc_majority"] == 0.75 and c["acc_uniform"] == pytest.approx(1 / 21)
