"""Training recipes (paper / repo), the code's audio front end over a span, and its window start."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

from realsync_build.core.errors import UserError
from realsync_build.streamsync.recipes import lr_factor, resolve_recipe
from realsync_build.streamsync.step import draw_grad_range
from realsync_build.streamsync.train import TrainConfig


def test_the_paper_recipe_is_the_papers_settings_and_the_repo_recipe_the_codes():
    paper = resolve_recipe(TrainConfig(), world_size=1)
    assert (paper.batch_size, paper.accumulation, paper.lr, paper.lr_schedule, paper.phase1_steps) == (16, 1, 4e-5, "linear", 500)
    assert (paper.optimizer, paper.adam_eps, paper.weight_decay) == ("adam", 1e-7, 0.0)
    assert (paper.k_placement, paper.audio_frontend, paper.window_start) == ("uniform", "window", "listed")
    assert resolve_recipe(TrainConfig(), world_size=4).batch_size == 4  # the paper's 16 is the global batch
    assert resolve_recipe(TrainConfig(accumulation=2), world_size=2).batch_size == 4
    repo = resolve_recipe(TrainConfig(recipe="repo"), world_size=8)
    assert (repo.batch_size, repo.accumulation, repo.phase1_steps) == (2, 2, 250)
    assert repo.lr == pytest.approx(4e-5)  # 5e-6 per process: 8 processes give the paper's 4e-5
    assert (repo.lr_schedule, repo.warmup_steps, repo.constant_steps, repo.decay_steps) == ("warmup-constant-decay", 500, 5000, 7000)
    assert (repo.k_placement, repo.audio_frontend, repo.window_start) == ("cycle", "span", "code")
    mixed = resolve_recipe(TrainConfig(recipe="repo", lr=1e-4, audio_frontend="window"), world_size=1)
    assert mixed.lr == 1e-4 and mixed.audio_frontend == "window" and mixed.batch_size == 2  # a given setting wins


def test_recipe_mistakes_are_one_line_errors():
    with pytest.raises(UserError, match="--recipe 'nope'"):
        resolve_recipe(TrainConfig(recipe="nope"))
    with pytest.raises(UserError, match="does not split over 3 processes"):
        resolve_recipe(TrainConfig(), world_size=3)
    with pytest.raises(UserError, match="needs H > 2K"):  # the code's micro_batch % (H - 2K) divides by 0 at H=6, K=3
        resolve_recipe(TrainConfig(recipe="repo", history=6, backprop_iterations=3))
    with pytest.raises(UserError, match="--audio-frontend 'both'"):
        resolve_recipe(TrainConfig(audio_frontend="both"))


def test_the_schedules():
    repo = resolve_recipe(TrainConfig(recipe="repo"))
    assert lr_factor(repo, 0, 1) == pytest.approx(0.01)  # the code's warm-up starts at lr / 100
    assert lr_factor(repo, 250, 1) == pytest.approx(0.01 + 0.99 * 0.5)
    assert lr_factor(repo, 500, 1) == lr_factor(repo, 5499, 1) == 1.0
    assert lr_factor(repo, 5500 + 3500, 1) == pytest.approx(1 - 0.9999 / 2)
    assert lr_factor(repo, 12500, 1) == lr_factor(repo, 10**6, 1) == pytest.approx(1e-4)
    paper = resolve_recipe(TrainConfig())
    assert [lr_factor(paper, s, 4) for s in range(6)] == [1.0, 0.75, 0.5, 0.25, 0.0, 0.0]


def test_the_k_window_uniform_or_the_codes_cycle():
    cfg = resolve_recipe(TrainConfig(recipe="repo", history=12, backprop_iterations=3))
    assert [draw_grad_range(cfg, 2, 12, micro_index=i)[0] for i in range(8)] == [3, 4, 5, 6, 7, 8, 3, 4]  # K .. H-K-1
    assert draw_grad_range(cfg, 1, 12, micro_index=5) is None  # phase 1: all iterations
    uni = resolve_recipe(TrainConfig(history=12, backprop_iterations=3))
    starts = {draw_grad_range(uni, 2, 12, np.random.default_rng([0, s]))[0] for s in range(200)}
    assert starts == set(range(10))  # 0 .. H-K


def test_the_span_front_end_reads_ahead_and_the_window_front_end_does_not():
    from realsync_build.streamsync.sparsesync.transforms import audio_input, span_audio_input

    sr, n, hop = 16000, 12, 16000
    g = torch.Generator().manual_seed(0)
    span = torch.randn(5 * sr + n * hop, generator=g) * 0.1
    starts = torch.arange(n) * hop
    a = span_audio_input(span, starts, 5 * sr)
    assert a.shape == (n, 1, 257, 625)  # the code's int(5 * 16000 / 128) frames, not SparseSync's 626
    assert audio_input(span[None, : 5 * sr]).shape == (1, 1, 257, 626)
    later = span.clone()
    later[12 * sr :] *= 10  # louder audio after the first window ends
    b = span_audio_input(later, starts, 5 * sr)
    assert (a[0] - b[0]).abs().max() > 0.1  # span: the first window's numbers depend on what comes later
    assert torch.equal(audio_input(span[None, : 5 * sr]), audio_input(later[None, : 5 * sr]))  # window: causal
    # each window is the span's spectrogram from frame start // 128, standardised per bin over the whole span
    mid = span_audio_input(span, torch.tensor([3 * hop]), 5 * sr)[0]
    assert torch.equal(mid, a[3])


@pytest.fixture(scope="module")
def shard_root(tmp_path_factory):
    from realsync_build.core.root import DatasetRoot
    from realsync_build.streamsync.synthetic import write_shard_dataset

    root = DatasetRoot(tmp_path_factory.mktemp("rc") / "data")
    return write_shard_dataset(root, splits={"train": 2, "dev": 1}, duration_s=14.0, segments_per_clip=2, seed=5)


def test_loaders_cut_span_spectrograms_and_start_2_s_early_under_window_start_code(shard_root):
    from realsync_build.streamsync.data import SegmentWindows, TrainWindows, shift_segments, window_start_shift_s
    from realsync_build.streamsync.evaluate import load_segments
    from realsync_build.streamsync.model import tiny_config
    from realsync_build.streamsync.shards import index_split

    samples, _ = index_split(shard_root, "train")
    span_cfg = tiny_config(audio_frontend="span")
    item = TrainWindows(samples, span_cfg, n_windows=3, hop_s=1.0, seed=2)[0]
    assert item["audio"].shape == (3, 1, span_cfg.n_fft // 2 + 1, 80000 // span_cfg.hop_length)
    assert abs(float(item["audio"].mean())) < 0.2  # standardised per bin over the span (not over each window)
    segs, _ = load_segments(shard_root, "dev")
    seg = dataclasses.replace(segs[0], start_s=5.0, offset_s=0.4)  # both placements fit inside the 14 s clip
    assert window_start_shift_s("code") == -2.0 and shift_segments([seg], "code")[0].start_s == seg.start_s - 2.0
    cfg = tiny_config()
    listed = SegmentWindows([seg], cfg, n_windows=1, hop_s=2.0)[0]
    early = SegmentWindows(shift_segments([seg], "code"), cfg, n_windows=1, hop_s=2.0)[0]
    assert listed["ok"] and early["ok"]
    # the code's window starts 50 frames (2 s) earlier: its frame 50 is the listed window's first
    assert torch.equal(early["video"][0, 50], listed["video"][0, 0])
    assert torch.allclose(early["audio"][0, 32000:], listed["audio"][0, :48000], atol=1e-6)


def test_a_repo_recipe_run_records_the_recipe_and_its_settings_in_config_json(shard_root, tmp_path):
    from realsync_build.streamsync.train import run_train

    run = tmp_path / "repo"
    cfg = TrainConfig(recipe="repo", history=5, backprop_iterations=2, phase1_steps=1, phase2_epochs=1, max_steps=2, workers=0,
                      progress=False, device="cpu", model_overrides={"stream_dropout": 0.0})
    run_train(shard_root, run, cfg)
    conf = json.loads((run / "config.json").read_text())
    assert conf["recipe"]["name"] == "repo"
    s = conf["recipe"]["settings"]
    assert (s["optimizer"], s["adam_eps"], s["lr"], s["batch_size"], s["accumulation"]) == ("adam", 1e-7, 5e-6, 2, 2)
    assert (s["k_placement"], s["audio_frontend"], s["window_start"]) == ("cycle", "span", "code")
    assert "phase1_steps" not in conf["recipe"]["from_recipe"] and "lr" in conf["recipe"]["from_recipe"]
    assert conf["model"]["audio_frontend"] == "span" and conf["global_batch"] == 4
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["phase"] for r in rows] == [1, 2] and all(math.isfinite(r["loss"]) for r in rows)
    assert rows[0]["lr"] == pytest.approx(5e-6 * (0.01 + 0.99 / 500))  # the lr after the first step of the warm-up


def test_the_cli_takes_the_recipe_from_a_flag_or_a_config_file_and_refuses_unknown_choices(tmp_path):
    from typer.testing import CliRunner

    from realsync_build.cli import app

    runner = CliRunner()
    for args, msg in ((["train", "--recipe", "nope"], "--recipe 'nope': use paper, repo"),
                      (["train", "--k-placement", "random"], "--k-placement 'random': use uniform, cycle"),
                      (["train", "--window-start", "early"], "--window-start 'early': use listed, code"),
                      (["evaluate", "--checkpoint", "x.pt", "--window-start", "early"], "--window-start 'early': use listed or code")):
        res = runner.invoke(app, args)
        assert res.exit_code == 2 and msg in res.output and len(res.output.strip().splitlines()) == 1, res.output
    conf = tmp_path / "rs.toml"
    conf.write_text('[train]\nrecipe = "repo"\naudio-frontend = "window"\n')
    res = runner.invoke(app, ["config", "show", "train", "--config", str(conf)])
    assert res.exit_code == 0, res.output
    shown = {line.split(" = ")[0]: line for line in res.output.splitlines() if " = " in line}
    assert '"repo"' in shown["recipe"] and '"window"' in shown["audio_frontend"] and "(unset)" in shown["lr"]
    help_text = runner.invoke(app, ["train", "--help"]).output
    for flag in ("--recipe", "--optimizer", "--lr-schedule", "--k-placement", "--audio-frontend", "--window-start"):
        assert flag in help_text


def test_snapshot_batch_changes_only_training_mode_batchnorm():
    from realsync_build.streamsync.model import StreamSync, tiny_config

    g = torch.Generator().manual_seed(0)
    video = torch.randint(0, 256, (2, 3, 20, 32, 32, 3), generator=g, dtype=torch.uint8)
    audio = torch.randn(2, 3, 8000, generator=g) * 0.1
    torch.manual_seed(0)
    per_iter = StreamSync(tiny_config(fps=4, sample_rate=1600, stream_dropout=0.0))
    per_seq = StreamSync(tiny_config(fps=4, sample_rate=1600, stream_dropout=0.0, snapshot_batch="sequence"))
    per_seq.load_state_dict(per_iter.state_dict())
    with torch.no_grad():
        a, b = per_iter.eval()(video, audio), per_seq.eval()(video, audio)
        assert torch.allclose(a["stream"], b["stream"], atol=1e-5)  # running statistics: the same function
        a, b = per_iter.train()(video, audio, grad_range=(1, 1)), per_seq.train()(video, audio, grad_range=(1, 1))
    assert not torch.allclose(a["snapshot"], b["snapshot"], atol=1e-4)  # batch statistics over B or over B x H windows
    with pytest.raises(ValueError, match="snapshot_batch"):
        tiny_config(snapshot_batch="window")
