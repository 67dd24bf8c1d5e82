"""The floors: "always offset 0" and "the most common class", scored like the models."""

from __future__ import annotations

import numpy as np

from realsync_build.streamsync.baselines import ZERO_CLASS, floors, list_floors, most_common_class, score_constant
from conftest import shared

EVAL_LIST = "realsync_lists/sports_and_news_normal.evaluation.csv"


def test_always_zero_scores_0_525_on_the_1060_segments_the_streamsync_loader_evaluates():
    """From the published list alone (no media): --protocol paper --cap 2000, as the loader selects."""
    f = list_floors(shared(EVAL_LIST), protocol="paper", cap=2000)
    assert f["n"] == 1060 and f["skip_list"] == "sports_and_news_normal.evaluation.skip_id_list.txt"
    zero = f["always_zero"]
    assert (round(zero["acc"], 3), round(zero["acc_pm1"], 3)) == (0.525, 0.634)
    assert zero["acc"] == round(556 / 1060, 6) and zero["acc_pm1"] == round(672 / 1060, 6)
    assert zero["acc_pm1"] > 0.598  # above the paper's fine-tuned SparseSync acc +/-1
    assert f["most_common"]["class"] == ZERO_CLASS and "evaluated segments" in f["most_common"]["source"]
    # a constant ranks nothing: ROC-AUC 0.5, mAP 1 / (classes present)
    assert zero["roc_auc"] == 0.5 and zero["map"] == round(1 / 21, 6)
    # every line of the list (protocol all): the published 50.3 % zeros
    every = list_floors(shared(EVAL_LIST), protocol="all")
    assert every["n"] == 32065 and round(every["always_zero"]["acc"], 3) == 0.503


def test_a_constants_roc_auc_and_map_follow_from_its_ties():
    y = np.array([10, 10, 10, 4, 4, 18])
    s = score_constant(y, 4)
    assert s == {"acc": round(2 / 6, 6), "acc_pm1": round(2 / 6, 6), "roc_auc": 0.5, "map": round(1 / 3, 6), "n": 6}
    assert score_constant(y, 10)["acc_pm1"] == 0.5 and score_constant(y, 11)["acc_pm1"] == 0.5  # +/-1 class counts
    assert score_constant(np.array([10, 10]), 10)["roc_auc"] is None  # one class present: no negatives, no ROC-AUC (n/a, never 0)


def test_the_most_common_class_comes_from_the_training_labels_when_they_have_one():
    y = np.array([10, 10, 3, 3, 3])
    assert most_common_class(y) == (3, most_common_class(y)[1]) and "evaluated segments" in most_common_class(y)[1]
    k, source = most_common_class(y, train_y=np.array([7, 7, 10]), train_source="train split's segment labels")
    assert (k, source) == (7, "train split's segment labels (3 labels)")
    k, source = most_common_class(y, train_y=np.array([7, 10]))  # a tie: no single most common class
    assert k == 3 and "no single most common class (2 tie)" in source
    f = floors(y, {"per_scenario": np.array(["a", "a", "b", "b", "b"])}, train_y=np.array([10, 10, 7]))
    assert f["most_common"]["class"] == 10 and f["most_common"]["per_scenario"]["b"]["acc"] == 0.0  # one constant, every subset
    assert f["always_zero"]["per_scenario"]["a"] == score_constant(np.array([10, 10]), 10)
    assert floors(np.array([], np.int64)) == {}
