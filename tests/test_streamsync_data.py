"""Shards -> windows: span decoding with the offset applied, short clips, train and evaluate end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from realsync_build.streamsync.data import DecodeError, SegmentWindows, TrainWindows, fit_hop, plan_segment, plan_training
from realsync_build.streamsync.evaluate import EvalOptions, load_segments, run_evaluate
from realsync_build.streamsync.model import tiny_config
from realsync_build.streamsync.shards import index_split
from realsync_build.streamsync.synthetic import write_shard_dataset
from realsync_build.streamsync.train import TrainConfig, run_train


@pytest.fixture(scope="module")
def shard_root(tmp_path_factory):
    from realsync_build.core.root import DatasetRoot

    root = DatasetRoot(tmp_path_factory.mktemp("ss") / "data")
    return write_shard_dataset(root, splits={"train": 2, "dev": 1, "test": 1}, duration_s=12.0, segments_per_clip=3, seed=1)


def _peaks(x: np.ndarray, thr: float) -> list[int]:
    on = np.nonzero(x > thr)[0]
    return [int(i) for k, i in enumerate(on) if k == 0 or on[k - 1] != i - 1]


def test_windows_carry_the_offset_between_flash_and_click(shard_root):
    samples, problems = index_split(shard_root, "train")
    assert len(samples) == 2 and not problems
    cfg = tiny_config(video_size=16)
    ds = TrainWindows(samples, cfg, n_windows=3, hop_s=1.0, jitter_s=0.0, seed=4)
    checked = 0
    for i in range(4):
        item = ds[i]
        assert item["video"].shape == (3, 125, 16, 16, 3) and item["video"].dtype == torch.uint8
        assert item["audio"].shape == (3, 80000)
        off_frames = int(round(item["offset_s"] * 25))
        for w in range(3):
            flashes = _peaks(item["video"][w].float().mean(dim=(1, 2, 3)).numpy(), 200)
            env = item["audio"][w].abs().reshape(125, 640).amax(1).numpy()
            clicks = _peaks(env, 0.5)
            # a flash at video frame f is heard at audio frame f - offset
            for f in flashes:
                if 3 <= f - off_frames <= 121:
                    assert any(abs(c - (f - off_frames)) <= 2 for c in clicks), (f, off_frames, clicks)
                    checked += 1
    assert checked >= 3


def test_cached_clips_give_the_windows_span_decoding_gives(shard_root):
    """TrainWindows(cache=True) cuts from the clip decoded once: the same windows, offset and label as a span
    decode per example; starts="uniform" and a plan filter (a curriculum) draw again until a plan passes."""
    samples, _ = index_split(shard_root, "train")
    cfg = tiny_config(video_size=32, fps=10, sample_rate=8000)
    plain = TrainWindows(samples, cfg, n_windows=2, hop_s=1.0, seed=3, starts="uniform")
    cached = TrainWindows(samples, cfg, n_windows=2, hop_s=1.0, seed=3, starts="uniform", cache=True)
    for i in range(3):
        a, b = plain[i], cached[i]
        assert a["target"] == b["target"] and a["offset_s"] == b["offset_s"]
        assert torch.equal(a["video"], b["video"])
        assert torch.allclose(a["audio"], b["audio"], atol=1e-6)
    late = TrainWindows(samples, cfg, n_windows=1, seed=3, starts="uniform", accept=lambda k, plan: plan.offset_s > 1.5)
    assert all(late[i]["offset_s"] > 1.5 for i in range(3))
    never = TrainWindows(samples, cfg, n_windows=1, seed=3, starts="uniform", accept=lambda k, plan: False)
    with pytest.raises(DecodeError, match="no window plan accepted"):
        never[0]


def test_short_clips_keep_the_window_count_and_shrink_the_hop():
    lo, hop, jit = fit_hop(10.0, 5.0, 2.0, 12, 1.0, 0.1)
    assert lo == 0.0 and hop == pytest.approx(3.0 / 11) and jit == 0.0
    lo, hop, jit = fit_hop(300.0, 5.0, -1.0, 12, 1.0, 0.1)
    assert lo == 1.0 and hop == 1.0 and jit == 0.1
    with pytest.raises(DecodeError, match="too short"):
        fit_hop(6.0, 5.0, 2.0, 2, 1.0)
    cfg = tiny_config()
    rng = np.random.default_rng(0)
    for _ in range(50):
        p = plan_training(10.0, 12, 1.0, 0.1, rng, cfg)
        assert len(p.video_starts_s) == 12
        assert p.video_starts_s.min() >= max(0, -p.offset_s) - 1e-9
        assert p.video_starts_s.max() + 5 + max(p.offset_s, 0) <= 10.0 + 1e-9
    p, hop = plan_segment(30.0, 3.0, 0.4, 4, 2.0, cfg)
    np.testing.assert_allclose(p.video_starts_s, [3.0, 5.0, 7.0, 9.0])


def test_segments_come_from_the_shard_json(shard_root):
    segs, problems = load_segments(shard_root, "test")
    assert len(segs) == 3 and not problems
    item = SegmentWindows(segs, tiny_config(), n_windows=2, hop_s=2.0)[0]
    assert item["ok"] and item["video"].shape[:2] == (2, 125)


def test_train_then_evaluate_writes_the_run_folder_and_metrics(shard_root, tmp_path):
    cfg = TrainConfig(history=3, batch_size=2, phase1_steps=2, phase2_epochs=1, backprop_iterations=2, lr=1e-3, workers=0,
                      checkpoint_every=1, progress=False, max_steps=2)
    run = tmp_path / "run"
    run_train(shard_root, run, cfg)  # stops after 2 of 3 planned steps
    ck = torch.load(run / "last.pt", weights_only=True)
    assert ck["step"] == 2 and ck["optimizer"]["state"]  # optimizer state travels with the checkpoint
    summary = run_train(shard_root, run, TrainConfig(workers=0, progress=False), resume=True)
    assert summary["steps"] == 3
    for name in ("config.json", "metrics.csv", "metrics.jsonl", "last.pt", "best.pt", "summary.json"):
        assert (run / name).exists(), name
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3] and [r["phase"] for r in rows] == [1, 1, 2]
    assert len((run / "metrics.csv").read_text().splitlines()) == 4
    assert summary["best_dev_map"] is not None
    resolved = json.loads((run / "config.json").read_text())
    assert resolved["model"]["history"] == 3 and resolved["train"]["backprop_iterations"] == 2

    m = run_evaluate(shard_root, run / "best.pt", "test", tmp_path / "eval", EvalOptions(iterations="2,3,18", cost_repeats=2, progress=False))
    saved = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    for method in ("snapshot", "apa", "streamsync"):
        for key in ("acc", "acc_pm1", "roc_auc", "map"):
            assert key in saved[method]
        assert set(saved[method]["per_scenario"]) <= {"talking_head", "voice_over", "other"}
        assert saved[method]["per_channel"]
    assert saved["iterations"] == 3 and "evaluated 3 iterations" in saved["notes"][0]  # 12 s clips: 18 do not fit
    assert len(saved["by_iteration"]) == 3
    # Table 4 from one run: a row per window count that fits; the last one is the run's own result
    assert [r["iterations"] for r in saved["by_window_count"]] == [2, 3] and "18 do not fit" in saved["notes"][1]
    assert saved["by_window_count"][-1]["streamsync"] == {k: saved["streamsync"][k] for k in ("acc", "acc_pm1", "roc_auc", "map", "n")}
    assert saved["by_window_count"][-1]["apa"] == {k: saved["apa"][k] for k in ("acc", "acc_pm1", "roc_auc", "map", "n")}
    assert set(saved["ablation"]) == {"audio_silenced", "video_blanked", "statement"}
    assert saved["cost"]["heads"]["lstm"]["overhead_pct"] > 0
    assert (tmp_path / "eval" / "by_iteration.png").stat().st_size > 1000
    assert m["n_segments"] == 3
    t3 = saved["table3"]  # Table 3's rows this run fills: no --pretrained, so no pretrained row
    assert t3["pretrained_sparsesync"] is None and t3["finetuned_snapshot"]["acc"] == saved["snapshot"]["acc"]
    assert t3["apa"]["acc"] == saved["apa"]["acc"] and t3["streamsync"]["acc"] == saved["streamsync"]["acc"]


def test_cli_reports_bad_input_in_one_line(tmp_path):
    from typer.testing import CliRunner

    from realsync_build.cli import app

    runner = CliRunner()
    # a --root that is not a dataset is the user's mistake (exit 2), and nothing is left behind in it
    r = runner.invoke(app, ["train", "--root", str(tmp_path / "typo"), "--out", str(tmp_path / "run"), "--no-progress"])
    assert r.exit_code == 2 and "no dataset here" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "typo").exists() and not (tmp_path / "run").exists()
    (tmp_path / "empty" / "manifests").mkdir(parents=True)  # a dataset with nothing exported yet
    r = runner.invoke(app, ["train", "--root", str(tmp_path / "empty"), "--out", str(tmp_path / "run"), "--no-progress"])
    assert r.exit_code == 2 and "no train samples" in r.output and "realsync export webdataset` first" in r.output and "Traceback" not in r.output
    r = runner.invoke(app, ["evaluate", "--root", str(tmp_path / "empty"), "--checkpoint", str(tmp_path / "nope.pt")])
    assert r.exit_code == 2 and "nope.pt" in r.output and "not found" in r.output and "Traceback" not in r.output
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    r = runner.invoke(app, ["evaluate", "--root", str(tmp_path / "empty"), "--checkpoint", str(tmp_path / "junk.pt")])
    assert r.exit_code == 1 and "unreadable" in r.output
