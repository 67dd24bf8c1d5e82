"""The paper-side tables: measured beside published, with the difference and a plain statement."""

from __future__ import annotations

import json

from realsync_build.streamsync.paper import PAPER, compare, write_paper_tables


def _m(acc, n=100):
    return {"acc": acc, "acc_pm1": acc + 0.1, "roc_auc": None, "map": 0.5, "n": n}


METRICS = {
    "split": "dev",
    "n_segments": 180,
    "n_failed": 2,
    "snapshot": {**_m(0.30), "per_scenario": {"talking_head": _m(0.5, 60), "other": _m(0.2, 120)}},
    "apa": {**_m(0.48), "per_scenario": {"talking_head": _m(0.6, 60), "other": _m(0.3, 120)}},
    "streamsync": {**_m(0.55), "per_scenario": {"talking_head": _m(0.7, 60), "other": _m(0.4, 120)}},
}
ADOPTION = {
    "protocol": "paper", "cap": 2000, "seed": 1337, "annotated": True, "n_selected": 1060, "n_adopted": 182, "n_missing": 878,
    "lists": [{"name": "sports_and_news_normal.evaluation.csv", "split": "dev", "lines": 32065, "selected": 1060, "adopted": 182, "missing": 878}],
}


def test_paper_tables_put_the_published_value_and_the_difference_beside_each_measured_one(tmp_path):
    cmp = compare(METRICS, ADOPTION)
    rows = {r["method"]: r for r in cmp["table3"]}
    assert set(rows) == {"snapshot", "apa", "streamsync"}  # only methods that were evaluated
    assert rows["apa"]["row"] == "APA SparseSync"
    assert rows["apa"]["acc"] == {"measured": 0.48, "paper": PAPER["table3"]["APA SparseSync"]["acc"], "diff": round(0.48 - 0.580, 6)}
    assert rows["snapshot"]["acc"]["paper"] == 0.381
    assert rows["apa"]["roc_auc"] == {"measured": None, "paper": None, "diff": None}  # unmeasured stays n/a, never 0
    t6 = {(r["scenario"], r["method"]): r for r in cmp["table6"]}
    assert t6[("talking_head", "streamsync")]["acc"]["measured"] == 0.7 and t6[("talking_head", "streamsync")]["n"] == 60
    assert t6[("voice_over", "apa")]["n"] == 0 and t6[("voice_over", "apa")]["acc"]["measured"] is None
    st = cmp["statement"]
    assert "878 of 1060 selected segments are missing" in st and "Protocol paper" in st and "capped at 2000" in st
    assert "2 failed to decode" in st
    files = write_paper_tables(METRICS, ADOPTION, tmp_path / "eval", copy_to=tmp_path / "report")
    md = (tmp_path / "eval" / "paper_tables.md").read_text()
    assert "| APA SparseSync (apa) | 100 | 0.480 / 0.580 / -0.100 |" in md
    assert "n/a / n/a / n/a" in md
    assert json.loads((tmp_path / "report" / "paper_tables.json").read_text())["table3"][0]["method"] == "snapshot"
    assert len(files) == 4


def test_without_an_adoption_the_statement_says_the_sets_differ():
    assert "not the published lists" in compare(METRICS, None)["statement"]


def test_evaluate_on_an_adopted_root_writes_the_tables_beside_metrics_and_the_report_shows_them(tmp_path):
    import torch

    from realsync_build.core.root import DatasetRoot
    from realsync_build.stages.stats import _paper_section
    from realsync_build.streamsync.evaluate import EvalOptions, run_evaluate
    from realsync_build.streamsync.synthetic import write_shard_dataset
    from realsync_build.streamsync.train import TrainConfig, run_train

    torch.set_num_threads(1)
    root = write_shard_dataset(DatasetRoot(tmp_path / "data"), splits={"train": 1, "dev": 1, "test": 1}, duration_s=12.0,
                               segments_per_clip=3, seed=1)
    run_train(root, tmp_path / "run", TrainConfig(history=3, batch_size=2, phase1_steps=1, phase2_epochs=1, workers=0, progress=False, max_steps=1))
    opts = EvalOptions(iterations=3, ablation=False, cost=False, progress=False)
    run_evaluate(root, tmp_path / "run" / "last.pt", "test", tmp_path / "plain", opts)
    assert not (tmp_path / "plain" / "paper_tables.md").exists()  # not adopted: nothing to compare with
    assert _paper_section(root) == ""
    root.manifests.mkdir(parents=True, exist_ok=True)
    (root.manifests / "adoption.json").write_text(json.dumps(ADOPTION))
    m = run_evaluate(root, tmp_path / "run" / "last.pt", "test", tmp_path / "eval", opts)
    saved = json.loads((tmp_path / "eval" / "paper_tables.json").read_text())
    assert [r["method"] for r in saved["table3"]] == ["snapshot", "apa", "streamsync"]
    assert saved["table3"][2]["acc"]["measured"] == m["streamsync"]["acc"]
    assert f"Evaluated {m['n_segments']} segments of split test" in saved["statement"]
    assert "878 of 1060 selected segments are missing" in _paper_section(root)
