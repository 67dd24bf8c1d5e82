"""StreamSync model: shapes, masking, streaming equivalence, truncated backprop, strict init."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from realsync_build.streamsync.checkpoint import InitError, init_snapshot_from
from realsync_build.streamsync.model import LSTMHead, StreamSync, TransformerHead, tiny_config
from realsync_build.streamsync.task import NUM_CLASSES, class_to_offset, offset_to_class
from realsync_build.streamsync.train import TrainConfig, set_phase, train_step
from tests.streamsync_support import probe_registered


def _inputs(b=2, t=4, size=32, grad=False):
    cfg = tiny_config(video_size=size, history=3, fps=10, sample_rate=8000)  # 5 s windows at low rates: a CPU test
    v = torch.randint(0, 255, (b, t, cfg.window_frames, size, size, 3), dtype=torch.uint8)
    a = torch.randn(b, t, cfg.window_samples) * 0.1
    return cfg, v, a.requires_grad_(grad)


def test_classes_are_0_2_s_steps_in_plus_minus_2_s():
    assert NUM_CLASSES == 21
    assert class_to_offset(0) == -2.0 and class_to_offset(10) == 0.0 and class_to_offset(20) == 2.0
    assert offset_to_class(0.6) == 13 and offset_to_class(-0.2) == 9
    for off_grid in (-0.19, 5.0, float("nan")):  # one behaviour for off-grid input everywhere: refuse
        with pytest.raises(ValueError):
            offset_to_class(off_grid)


def test_shapes_of_snapshot_and_stream_outputs():
    cfg, v, a = _inputs()
    torch.manual_seed(0)
    m = StreamSync(cfg).eval()
    with torch.no_grad():
        out = m(v, a)
        snap = m.snapshot(v[:, 0], a[:, 0])
    assert out["snapshot"].shape == (2, 4, NUM_CLASSES)
    assert out["stream"].shape == (2, 4, NUM_CLASSES)
    assert out["tokens"].shape == (2, 4, cfg.stream_dim)
    assert snap.cls.shape == snap.pass_.shape == (2, cfg.d_model)
    assert torch.allclose(out["snapshot"][:, 0], snap.logits, atol=1e-5)
    lean = m.predict_windows(v, a)  # one iteration at a time: the same numbers
    assert torch.allclose(lean["stream"], out["stream"], atol=1e-5) and torch.allclose(lean["snapshot"], out["snapshot"], atol=1e-5)


def test_trf_head_keeps_every_token_beyond_h_and_masks_the_future():
    torch.manual_seed(0)
    head = TransformerHead(32, 2, 4).eval()
    tok = torch.randn(2, 6, 32)
    with torch.no_grad():
        full = head(tok)
        changed = tok.clone()
        changed[:, 0] = torch.randn(2, 32) * 3  # the oldest token: still seen at every later step (no H limit)
        again = head(changed)
        future = tok.clone()
        future[:, 4:] = 0.0  # steps 0..3 must not see tokens 4, 5
        masked = head(future)
        short = head(tok[:, :2])
    assert not torch.allclose(full[:, 3:], again[:, 3:], atol=1e-4)
    assert torch.allclose(full[:, :4], masked[:, :4], atol=1e-5)
    assert torch.allclose(full[:, :2], short, atol=1e-5)


def test_evaluation_history_is_not_limited_by_h():
    cfg, v, a = _inputs(b=1, t=5)  # history H=3 (the training length), 5 windows evaluated
    torch.manual_seed(0)
    with probe_registered() as name:  # features that follow the input (the tiny SparseSync's barely move at init)
        m = StreamSync(dataclasses.replace(cfg, predictor=name)).eval()
    with torch.no_grad():
        out = m(v, a)
        v2 = v.clone()
        v2[:, 0] = 255 - v2[:, 0]  # change only the first window
        out2 = m(v2, a)
    assert not torch.allclose(out["stream"][:, 4], out2["stream"][:, 4], atol=1e-5)  # iteration 5 still sees window 1
    assert torch.allclose(out["snapshot"][:, 1:], out2["snapshot"][:, 1:], atol=1e-5)


def test_head_dropout_is_0_1():
    for kind in ("trf", "lstm"):
        m = StreamSync(tiny_config(stream_head=kind))
        rates = {mod.p for mod in m.head.modules() if isinstance(mod, torch.nn.Dropout)}
        rates |= {mod.dropout for mod in m.head.modules() if isinstance(mod, (torch.nn.LSTM, torch.nn.TransformerEncoderLayer)) and hasattr(mod, "dropout") and isinstance(mod.dropout, float)}
        assert rates == {0.1}, (kind, rates)


@pytest.mark.parametrize("kind", ["trf", "lstm"])
def test_step_by_step_streaming_equals_the_full_sequence(kind):
    torch.manual_seed(1)
    head = TransformerHead(32, 3, 4).eval() if kind == "trf" else LSTMHead(32, 3).eval()
    tok = torch.randn(3, 9, 32)
    with torch.no_grad():
        full = head(tok)
        state, steps = head.init_state(3), []
        for t in range(tok.shape[1]):
            logits, state = head.step(state, tok[:, t])
            steps.append(logits)
    assert torch.allclose(torch.stack(steps, 1), full, atol=1e-5)
    if kind == "lstm":  # it keeps only its hidden state between checks
        assert isinstance(state, tuple) and all(s.shape == (3, 3, 32) for s in state)


def test_phase_2_backprop_reaches_the_snapshot_features_only_in_k_consecutive_iterations():
    cfg, v, a = _inputs(t=5, grad=True)
    torch.manual_seed(0)
    m = StreamSync(cfg)
    out = m(v, a, grad_range=(2, 2))
    (out["snapshot"].sum() + out["stream"].sum()).backward()
    g = a.grad.abs().sum(dim=(0, 2))
    assert (g[[0, 1, 4]] == 0).all()
    assert (g[[2, 3]] > 0).all()


def test_phase_2_train_step_uses_a_random_window_of_k():
    cfg, v, a = _inputs(t=5)
    m = StreamSync(cfg)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-4)
    tc = TrainConfig(backprop_iterations=2)
    set_phase(m, 2, freeze_pretrained=True)
    import numpy as np

    logs = train_step(m, {"video": v, "audio": a.detach(), "target": torch.tensor([3, 10])}, opt, tc, 2, np.random.default_rng(0), "cpu")
    k0, k = logs["grad_range"]
    assert k == 2 and 0 <= k0 <= 3
    logs = train_step(m, {"video": v, "audio": a.detach(), "target": torch.tensor([3, 10])}, opt, tc, 1, np.random.default_rng(0), "cpu")
    assert logs["grad_range"] is None  # phase 1: all H iterations


def test_phase_1_freezes_only_the_pretrained_parts():
    m = StreamSync(tiny_config())
    set_phase(m, 1, freeze_pretrained=True)
    trainable = {n for n, p in m.named_parameters() if p.requires_grad}
    pass_tok = "snapshot.transformer.global_transformer.PASS_tok"
    assert pass_tok in trainable
    assert any(n.startswith("head.") for n in trainable) and any(n.startswith("stream_token.") for n in trainable)
    assert not any(n.startswith("snapshot.") and n != pass_tok for n in trainable)
    assert all(m.snapshot.is_new_parameter(n[len("snapshot."):]) for n in trainable if n.startswith("snapshot."))
    set_phase(m, 2, freeze_pretrained=True)
    assert all(p.requires_grad for p in m.parameters())


def test_init_from_checks_keys_strictly(tmp_path):
    src = StreamSync(tiny_config())
    good = {k: v for k, v in src.snapshot.state_dict().items() if not k.endswith("PASS_tok")}
    torch.save(good, tmp_path / "good.pt")
    m = StreamSync(tiny_config())
    init_snapshot_from(m, tmp_path / "good.pt")
    assert torch.equal(m.snapshot.transformer.off_head.weight, src.snapshot.transformer.off_head.weight)

    bad = dict(good)
    bad.pop("transformer.global_transformer.ln_f.bias")
    bad["extra.weight"] = torch.zeros(3)
    torch.save(bad, tmp_path / "bad.pt")
    with pytest.raises(InitError) as err:
        init_snapshot_from(m, tmp_path / "bad.pt")
    msg = str(err.value)
    assert "missing keys (1): transformer.global_transformer.ln_f.bias" in msg and "unexpected keys (1): extra.weight" in msg

    base_like = StreamSync(tiny_config(n_queries=6))
    torch.save(base_like.state_dict(), tmp_path / "other.pt")
    with pytest.raises(InitError, match="shape mismatches"):
        init_snapshot_from(m, tmp_path / "other.pt")
