"""StreamSync's streaming parts as the paper and its code define them, one test per design row.

A small stand-in snapshot predictor (tests/streamsync_support.py, registered like
any backbone) keeps these tests about StreamSync's own parts: it exposes
``classify`` (its class head on the OFF feature), as the SparseSync network does.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from realsync_build.streamsync.model import SnapshotOutput, StreamSync, tiny_config
from realsync_build.streamsync.task import NUM_CLASSES, iteration_weights, nearest_class, neighbour_targets, offset_to_class, streamsync_loss, sync_loss
from tests.streamsync_support import probe_registered


@pytest.fixture
def probe_model():
    with probe_registered() as name:
        torch.manual_seed(0)
        yield StreamSync(tiny_config(predictor=name, stream_dim=16, stream_heads=2, stream_layers=1, stream_dropout=0.0))


def _io(t=5, b=2):
    g = torch.Generator().manual_seed(1)
    return torch.randint(0, 255, (b, t, 4, 2, 2, 3), dtype=torch.uint8, generator=g), torch.randn(b, t, 64, generator=g)


def test_streaming_token_is_a_projection_of_class_embedding_off_and_pass(probe_model):
    m = probe_model
    v, a = _io(t=1, b=3)
    out = m.snapshot(v[:, 0], a[:, 0])
    want = m.stream_token.proj(torch.cat([torch.softmax(out.logits, -1) @ m.stream_token.offset_embed, out.cls, out.pass_], -1))
    assert torch.allclose(m.token(out), want, atol=1e-6)
    assert m.stream_token.offset_embed.shape == (NUM_CLASSES, 16)
    # the prediction enters the token: other logits, same features -> another token
    other = SnapshotOutput(out.logits.flip(-1) * 5, out.cls, out.pass_)
    assert not torch.allclose(m.token(other), m.token(out), atol=1e-4)


def _grads(m, loss):
    m.zero_grad(set_to_none=True)
    loss.backward(retain_graph=True)
    return {n: (p.grad is not None and bool(p.grad.abs().sum() > 0)) for n, p in m.named_parameters()}


def test_k_truncation_cuts_only_the_snapshot_features_outside_the_window(probe_model):
    m = probe_model.train()
    v, a = _io(t=5)
    out = m(v, a, grad_range=(2, 2))  # windows 2, 3 in the K window; 0, 1, 4 outside
    outside = _grads(m, out["stream"][:, 0].sum() + out["snapshot"][:, 0].sum())  # iteration 0 sees window 0 only
    assert not outside["snapshot.enc.weight"] and not outside["snapshot.pas.weight"]  # features detached there
    for name in ("snapshot.head.weight", "stream_token.offset_embed", "stream_token.proj.weight", "head.out.weight", "head.cls"):
        assert outside[name], name  # class head, class embedding, projection and streaming head still learn from window 0
    inside = _grads(m, out["stream"][:, 2].sum())
    assert inside["snapshot.enc.weight"] and inside["snapshot.pas.weight"]
    full = m(v, a)  # phase 1: no truncation
    assert _grads(m, full["stream"][:, 0].sum())["snapshot.enc.weight"]


def test_neighbour_label_smoothing_is_0_1_0_8_0_1():
    t = neighbour_targets(torch.tensor([10, 0, 20]))
    assert torch.allclose(t[0, 9:12], torch.tensor([0.1, 0.8, 0.1])) and t[0].sum() == pytest.approx(1.0)
    assert (t[0, :9] == 0).all() and (t[0, 12:] == 0).all()
    assert torch.allclose(t[1, :2], torch.tensor([0.9, 0.1])) and torch.allclose(t[2, -2:], torch.tensor([0.1, 0.9]))  # edges: as the code
    logits = torch.randn(3, NUM_CLASSES)
    manual = -(t * F.log_softmax(logits, -1)).sum(-1).mean()
    assert sync_loss(logits, torch.tensor([10, 0, 20])) == pytest.approx(float(manual), rel=1e-6)


def test_loss_is_a_third_snapshot_two_thirds_stream_without_stream_loss_before_k():
    w_snap, w_stream = iteration_weights(5, 3)
    norm = 5 / 3 + 3 * 2 / 3
    assert torch.allclose(w_snap, torch.full((5,), 1 / 3 / norm))
    assert torch.allclose(w_stream, torch.tensor([0, 0, 2 / 3, 2 / 3, 2 / 3]) / norm)
    snap = torch.randn(2, 5, NUM_CLASSES, requires_grad=True)
    stream = torch.randn(2, 5, NUM_CLASSES, requires_grad=True)
    y = torch.tensor([3, 17])
    loss, logs = streamsync_loss(snap, stream, y, backprop_iterations=3)
    want = sum(1 / 3 * sync_loss(snap[:, i], y) + (2 / 3 * sync_loss(stream[:, i], y) if i >= 2 else 0) for i in range(5)) / norm
    assert float(loss.detach()) == pytest.approx(float(want.detach()), rel=1e-6)
    loss.backward()
    assert (stream.grad[:, :2] == 0).all() and (stream.grad[:, 2:] != 0).any() and (snap.grad != 0).any()


def test_training_offsets_are_continuous_with_quantised_labels():
    from realsync_build.streamsync.data import plan_training

    cfg = tiny_config()
    rng = np.random.default_rng(0)
    offsets = [plan_training(300.0, 12, 1.0, 0.0, rng, cfg, start_s=50.0).offset_s for _ in range(400)]
    assert min(offsets) >= -2.0 and max(offsets) <= 2.0
    off_grid = [o for o in offsets if abs(o / 0.2 - round(o / 0.2)) > 1e-3]
    assert len(off_grid) > 390  # continuous, not the 21 class values
    assert abs(np.mean(offsets)) < 0.2 and np.std(offsets) == pytest.approx(4 / math.sqrt(12), rel=0.1)  # U(-2, 2)
    assert nearest_class(0.29) == 11 and nearest_class(-1.91) == 0 and nearest_class(0.31) == 12  # the grid's one rounding
    with pytest.raises(ValueError):
        offset_to_class(0.29)  # grid offsets (evaluation segments) stay strict
    p = plan_training(300.0, 12, 1.0, 0.0, rng, cfg, start_s=50.0)
    np.testing.assert_allclose(p.video_starts_s, 50.0 + np.arange(12))  # the row's start, 1 s hop


def test_an_epoch_is_every_train_row_a_start_every_10_s():
    from realsync_build.streamsync.data import train_rows
    from realsync_build.streamsync.shards import ShardSample

    clips = [ShardSample("x.tar", f"c{i}", meta={"n_frames": 7500, "fps": 25}) for i in range(2)]
    rows = train_rows(clips, span_s=5.0 + 11 * 1.0)  # H=12 windows, 1 s hop: 16 s
    assert len(rows) == 2 * 28
    assert [s for k, s in rows if k == 0] == [float(t) for t in range(10, 290, 10)]
    short = [ShardSample("x.tar", "s", meta={"n_frames": 300, "fps": 25})]  # 12 s: no grid start fits
    assert train_rows(short, span_s=16.0) == [(0, None)]


def test_iteration_lists_parse_and_bad_ones_are_one_clear_error():
    from realsync_build.streamsync.evaluate import parse_iterations

    assert parse_iterations("2,4,12,24,32,40,48") == [2, 4, 12, 24, 32, 40, 48]
    assert parse_iterations(18) == [18] and parse_iterations("12, 2,12") == [2, 12]
    for bad in ("2,x", "0,4", ""):
        with pytest.raises(ValueError, match="--iterations"):
            parse_iterations(bad)


def test_the_scenario_of_a_stream_covers_every_window():
    from types import SimpleNamespace

    import pandas as pd

    from realsync_build.core.root import DatasetRoot
    from realsync_build.streamsync.scenario import stream_scenarios, stream_span_s

    assert stream_span_s(10.0, 18, 2.0, 5.0) == (10.0, 49.0)
    assert stream_span_s(10.0, 1, 2.0, 5.0) == (10.0, 15.0)
    # near a clip's end the windows shift back as plan_segment places them: the span stays inside the clip
    a, b = stream_span_s(280.0, 18, 2.0, 5.0, duration_s=300.0, offset_s=0.4)
    assert b <= 300.0 - 0.4 + 1e-9 and abs((b - a) - 39.0) < 1e-9
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        root = DatasetRoot(Path(tmp))
        root.manifests.mkdir()
        # talking head only in the first 5 s of the stream, voice-over for the 30 s after it
        root.write("intervals", pd.DataFrame({"clip_id": ["c", "c"], "label": ["talking_head", "voice_over"], "start_s": [10.0, 15.0],
                                              "end_s": [15.0, 45.0]}))  # through the root: the manifest's schema
        seg = SimpleNamespace(sample=SimpleNamespace(meta={"clip_id": "c"}, key="c", duration_s=300.0), start_s=10.0, offset_s=0.0,
                              scenario="talking_head")
        other = SimpleNamespace(sample=SimpleNamespace(meta={"clip_id": "z"}, key="z", duration_s=300.0), start_s=10.0, offset_s=0.0,
                                scenario="other")
        got, rule = stream_scenarios(root, [seg, other], iterations=18, hop_s=2.0, window_s=5.0)
        assert got == ["voice_over", "other"] and "whole span" in rule  # the first window alone would say talking_head
        got1, _ = stream_scenarios(root, [seg], iterations=1, hop_s=2.0, window_s=5.0)
        assert got1 == ["talking_head"]
