"""The paper's Tables 3-6: every figure carried, each set beside the measured one, the floors under every table."""

from __future__ import annotations

import json

import numpy as np
import pytest

from realsync_build import testdata
from realsync_build.streamsync.baselines import floors
from realsync_build.streamsync.beside import compare, to_markdown, write_paper_tables
from realsync_build.streamsync.paper import PAPER, figures

# the shared transcription's section for each of our tables
SHARED_SECTION = {"table3": "table3_main", "table4": "table4_map_by_window_count", "table5": "table5_K_H", "table6": "table6_scenarios_streamsync"}


def _shared_paper() -> dict:
    base = testdata.testdata_dir()
    path = base.parent / "paper" / "realsync_paper_tables.json" if base else None
    if path is None or not path.is_file():
        pytest.skip("../shared/paper/realsync_paper_tables.json not found (set REALSYNC_TESTDATA to ../shared/testdata)")
    return json.loads(path.read_text())


def test_paper_holds_all_85_figures_of_tables_3_to_6():
    figs = figures()
    assert len(figs) == 85
    assert sum(1 for t, _, c, _ in figs if c == "ms") == 7 and sum(1 for t, _, c, _ in figs if c != "ms") == 78
    assert {"StreamSync-Trf", "StreamSync-LSTM"} <= set(PAPER["table3"]["rows"])
    assert len(PAPER["table4"]["rows"]) == 2 and PAPER["table4"]["columns"] == (2, 4, 12, 24, 32, 40, 48)
    assert "APA SparseSync" not in PAPER["table6"]["rows"]  # the paper's Table 6 is StreamSync only
    # the tables agree with one another as the paper prints them
    assert PAPER["table5"]["rows"]["Base (H=12, K=3)"] == PAPER["table3"]["rows"]["StreamSync-Trf"][:4]
    assert PAPER["table6"]["rows"]["Overall"] == PAPER["table3"]["rows"]["StreamSync-LSTM"][:4]


def test_every_figure_equals_the_shared_transcription():
    shared = _shared_paper()
    ours = {(t, row, col): v for t, row, col, v in figures()}
    theirs = {}
    for t, section in SHARED_SECTION.items():
        sec = shared[section]
        cols = [str(c) for c in sec.get("columns") or sec.get("window_counts")]
        for row, values in sec["rows"].items():
            theirs.update({(t, row, c): float(v) for c, v in zip(cols, values)})
    assert len(theirs) == 85
    assert ours == theirs


def _m(acc, n=100, per=None):
    out = {"acc": acc, "acc_pm1": acc + 0.1, "roc_auc": None, "map": 0.5, "n": n}
    return {**out, "per_scenario": per} if per is not None else out


# a run with the Trf head, H=12, K=2, evaluated at 2, 4 and 12 windows on 8 segments
Y = np.array([10, 10, 10, 10, 12, 8, 3, 15])
SCEN = np.array(["talking_head"] * 4 + ["other"] * 4)
PER = {"talking_head": _m(0.7, 4), "other": _m(0.4, 4)}
METRICS = {
    "split": "test", "n_segments": 8, "n_failed": 2,
    "model": {"config": "base", "stream_head": "trf", "history": 12, "backprop_iterations": 2},
    "snapshot": _m(0.30, 8, PER), "apa": _m(0.48, 8, PER), "streamsync": _m(0.55, 8, PER),
    "by_window_count": [{"iterations": n, "snapshot": _m(0.1), "apa": {**_m(0.2), "map": 0.2 + n / 100}, "streamsync": {**_m(0.3), "map": 0.3 + n / 100}}
                        for n in (2, 4, 12)],
    "cost": {"device": "cpu", "threads": 2, "snapshot_ms": 100.0, "heads": {"trf": {"total_ms": 103.0}, "lstm": {"total_ms": 101.0}}},
    "baselines": floors(Y, {"per_scenario": SCEN}),
}  # fmt: skip
ADOPTION = {
    "protocol": "paper", "cap": 2000, "seed": 1337, "annotated": True, "n_selected": 1060, "n_adopted": 182, "n_missing": 878,
    "lists": [{"name": "sports_and_news_normal.evaluation.csv", "split": "test", "role": "test", "distribution": "normal",
               "lines": 32065, "selected": 1060, "adopted": 182, "missing": 878}],
}  # fmt: skip


def _rows(table: dict) -> dict:
    return {r["row"]: r for r in table["rows"]}


def test_table3_sets_each_method_beside_its_row_and_leaves_the_rest_na():
    t = compare(METRICS, ADOPTION)["tables"]["table3"]
    rows = _rows(t)
    assert list(rows) == list(PAPER["table3"]["rows"])  # every paper row, in the paper's order
    assert rows["Finetuned SparseSync*"]["method"] == "snapshot" and rows["Finetuned SparseSync*"]["cells"]["acc"]["measured"] == 0.30
    assert rows["APA SparseSync"]["cells"]["acc"] == {"measured": 0.48, "paper": 0.580, "diff": round(0.48 - 0.580, 6)}
    assert rows["StreamSync-Trf"]["cells"]["acc"]["measured"] == 0.55 and rows["StreamSync-Trf"]["cells"]["ms"]["measured"] == 103.0
    assert rows["StreamSync-LSTM"]["cells"]["acc"]["measured"] is None  # another head: not measured, never 0
    assert rows["StreamSync-LSTM"]["cells"]["ms"]["measured"] == 101.0  # but its cost was
    assert rows["Pretrained Synchformer*"]["cells"]["acc"] == {"measured": None, "paper": 0.369, "diff": None}
    assert rows["APA SparseSync"]["cells"]["roc_auc"]["measured"] is None  # unmeasured stays n/a
    zero = {r["floor"]: r for r in t["floors"]}["always_zero"]
    assert zero["cells"]["acc"]["measured"] == round(4 / 8, 6) and zero["cells"]["acc_pm1"]["measured"] == round(4 / 8, 6)
    assert zero["cells"]["roc_auc"]["measured"] == 0.5 and zero["cells"]["ms"]["measured"] is None and zero["n"] == 8
    assert any("cpu, 2 threads" in n for n in t["notes"])


def test_tables_4_5_6_and_their_floors():
    tables = compare(METRICS, ADOPTION)["tables"]
    t4 = _rows(tables["table4"])
    assert t4["StreamSync-Trf"]["cells"]["12"] == {"measured": 0.42, "paper": 0.60, "diff": -0.18}
    assert t4["StreamSync-Trf"]["cells"]["48"]["measured"] is None and t4["StreamSync-Trf"]["cells"]["48"]["paper"] == 0.68
    assert any("24, 32, 40, 48 were not evaluated" in n for n in tables["table4"]["notes"])
    floor4 = tables["table4"]["floors"][0]["cells"]
    assert floor4["2"]["measured"] == floor4["12"]["measured"] == 1 / 5 and floor4["24"]["measured"] is None  # 5 classes present: mAP 1/5
    t5 = _rows(tables["table5"])
    assert t5["K=2"]["cells"]["acc"]["measured"] == 0.55 and t5["Base (H=12, K=3)"]["cells"]["acc"]["measured"] is None
    assert len(tables["table5"]["floors"]) == 2
    t6 = tables["table6"]
    assert list(_rows(t6)) == ["Talking-heads", "Voiceovers", "Others", "Overall"]
    assert _rows(t6)["Talking-heads"]["cells"]["acc"]["measured"] == 0.7 and _rows(t6)["Voiceovers"]["n"] is None
    assert any("StreamSync-Trf; the paper's Table 6 is StreamSync-LSTM" in n for n in t6["notes"])
    floors6 = {r["row"]: r for r in t6["floors"]}
    assert floors6["Talking-heads: floor: always offset 0 (+0.0 s)"]["cells"]["acc"]["measured"] == 1.0  # all four are 0 s
    assert floors6["Others: floor: always offset 0 (+0.0 s)"]["cells"]["acc"]["measured"] == 0.0
    assert "Voiceovers: floor: always offset 0 (+0.0 s)" not in floors6  # no voice-over segment: nothing to score


def test_another_h_and_k_get_their_own_row():
    m = {**METRICS, "model": {**METRICS["model"], "history": 3, "backprop_iterations": 1}}
    rows = _rows(compare(m, None)["tables"]["table5"])
    assert rows["H=3, K=1 (this run; not in the paper)"]["cells"]["acc"] == {"measured": 0.55, "paper": None, "diff": None}
    assert all(rows[r]["cells"]["acc"]["measured"] is None for r in PAPER["table5"]["rows"])


def test_markdown_and_json_put_the_paper_and_the_floor_beside_every_figure(tmp_path):
    cmp = compare(METRICS, ADOPTION)
    st = cmp["statement"]
    assert "878 of 1060 selected segments are missing" in st and "Protocol paper" in st and "capped at 2000" in st
    assert "2 failed to decode" in st and "role: test" in st and "always answering offset 0 scores acc 0.500 / acc +/-1 0.500" in st
    files = write_paper_tables(METRICS, ADOPTION, tmp_path / "eval", copy_to=tmp_path / "report")
    md = (tmp_path / "eval" / "paper_tables.md").read_text()
    assert md == to_markdown(cmp) and len(files) == 4
    assert "| APA SparseSync (apa) | 8 | 0.480 / 0.580 / -0.100 |" in md
    assert "| Pretrained Synchformer* | n/a | n/a / 0.369 / n/a |" in md
    assert md.count("floor: always offset 0") == 1 + 1 + 1 + 3  # under Tables 3, 4, 5 and each scenario row of Table 6 that has segments
    assert "## Table 4: mAP by the number of windows" in md and "12 windows (ours / paper / diff)" in md
    saved = json.loads((tmp_path / "report" / "paper_tables.json").read_text())
    assert set(saved["tables"]) == {"table3", "table4", "table5", "table6"}


def test_without_an_adoption_the_statement_says_the_sets_differ():
    assert "not the published lists" in compare(METRICS, None)["statement"]


def test_a_bare_sparsesync_checkpoint_fills_the_pretrained_row_and_its_apa_apart():
    m = {"split": "test", "n_segments": 8, "model": {"config": "base", "stream_head": "trf", "history": 12}, "pretrained": _m(0.2, 8),
         "apa": _m(0.25, 8), "cost": METRICS["cost"], "baselines": METRICS["baselines"]}  # fmt: skip
    rows = _rows(compare(m, None)["tables"]["table3"])
    assert rows["Pretrained SparseSync*"]["cells"]["acc"]["measured"] == 0.2 and rows["Pretrained SparseSync*"]["cells"]["ms"]["measured"] == 100.0
    assert rows["APA SparseSync"]["cells"]["acc"]["measured"] is None  # the paper's APA row is fine-tuned
    assert rows["APA of the pretrained SparseSync (this run; not in the paper)"]["cells"]["acc"]["measured"] == 0.25
    assert rows["StreamSync-Trf"]["cells"]["ms"]["measured"] is None  # no streaming model was evaluated


def test_evaluate_writes_floors_and_the_paper_beside_metrics_and_the_report_shows_them(tmp_path):
    import torch

    from realsync_build.core.root import DatasetRoot
    from realsync_build.stages.stats import _paper_section
    from realsync_build.streamsync.baselines import score_constant
    from realsync_build.streamsync.evaluate import EvalOptions, run_evaluate
    from realsync_build.streamsync.synthetic import write_shard_dataset
    from realsync_build.streamsync.train import TrainConfig, run_train

    torch.set_num_threads(1)
    root = write_shard_dataset(DatasetRoot(tmp_path / "data"), splits={"train": 1, "dev": 1, "test": 1}, duration_s=12.0,
                               segments_per_clip=3, seed=1)
    run_train(root, tmp_path / "run", TrainConfig(history=3, batch_size=2, phase1_steps=1, phase2_epochs=1, workers=0, progress=False, max_steps=1))
    opts = EvalOptions(iterations=3, ablation=False, cost=False, progress=False)
    m = run_evaluate(root, tmp_path / "run" / "last.pt", "test", root.report / "eval-test", opts)
    # the floors, on the very segments evaluated, with the same metrics
    from realsync_build.core.avformat import offset_to_class
    from realsync_build.streamsync.evaluate import load_segments

    y = np.array([offset_to_class(s.offset_s) for s in load_segments(root, "test")[0]])
    assert m["baselines"]["always_zero"] == {**m["baselines"]["always_zero"], **score_constant(y, 10)}
    assert m["baselines"]["most_common"]["class"] == int(np.bincount(y, minlength=21).argmax())
    assert "evaluated segments" in m["baselines"]["most_common"]["source"]
    assert m["model"]["backprop_iterations"] == 3 and m["paper"]["tables"]["table5"]["rows"][0]["row"] == "Base (H=12, K=3)"
    assert "not the published lists" in m["paper"]["statement"]  # not adopted: said in words
    assert (root.report / "eval-test" / "paper_tables.md").is_file() and "floor: always offset 0" in _paper_section(root)
    from realsync_build.stages.stats.report import _evaluation_section

    shown = _evaluation_section(root)  # the report's evaluation table: the floors under the methods
    assert "floor: always offset 0 (+0.0 s)" in shown and "floor: most common class" in shown
    root.manifests.mkdir(parents=True, exist_ok=True)
    (root.manifests / "adoption.json").write_text(json.dumps(ADOPTION))
    m = run_evaluate(root, tmp_path / "run" / "last.pt", "test", tmp_path / "eval", opts)
    saved = json.loads((tmp_path / "eval" / "paper_tables.json").read_text())
    rows = _rows(saved["tables"]["table3"])
    assert rows["StreamSync-Trf"]["cells"]["acc"]["measured"] == m["streamsync"]["acc"]
    assert rows["Finetuned SparseSync*"]["cells"]["acc"]["measured"] == m["snapshot"]["acc"]
    assert f"Evaluated {m['n_segments']} segments of split test" in saved["statement"]
    assert "878 of 1060 selected segments are missing" in _paper_section(root)
