"""The CPU inference engine (ONNX Runtime) gives PyTorch's numbers: SyncNet embeddings and
BlazeFace boxes within 1e-4, the 2-D re-layout of the lip tower equals the 3-D one, and the
code runs without onnxruntime (the engine is optional)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import shared
from realsync_build.models import engine as eng
from realsync_build.models.syncnet import SyncNetScorer
from realsync_build.models.syncnet_net import LipTower2d, load_syncnet
from test_models_faces import sample_frames
from test_models_syncnet import official_random_state

needs_ort = pytest.mark.skipif(not eng.onnx_available(), reason="onnxruntime not installed (pip install 'realsync[fast]')")


@pytest.fixture(autouse=True)
def onnx_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("REALSYNC_ONNX_CACHE", str(tmp_path / "onnx"))


def _net():
    net = load_syncnet(official_random_state())
    return net


def test_the_2d_lip_tower_is_the_3d_one_relaid():
    net = _net()
    x = torch.rand(3, 3, 5, 224, 224) * 255
    with torch.inference_mode():
        ref = net.forward_lip(x)
        got = LipTower2d(net)(x.permute(0, 2, 1, 3, 4).reshape(3, 15, 224, 224))  # frame-major channels: 3 t + c
    np.testing.assert_allclose(got.numpy(), ref.numpy(), atol=1e-4, rtol=1e-5)


@needs_ort
@pytest.mark.parametrize("stride", [1, 3])
def test_onnx_syncnet_embeddings_and_scores_equal_pytorch(stride):
    state = official_random_state()
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 255, size=(22, 224, 224, 3), dtype=np.uint8)
    audio = (0.1 * rng.normal(size=22 * 640)).astype(np.float32)
    ref = SyncNetScorer(state, batch_size=8, video_stride=stride, engine="torch")
    fast = SyncNetScorer(state, batch_size=8, video_stride=stride, engine="onnx")
    assert (ref.engine, fast.engine) == ("torch", "onnx")
    v0, a0, t0 = ref.embed_sampled(crops, audio)
    v1, a1, t1 = fast.embed_sampled(crops, audio)
    np.testing.assert_array_equal(t0, t1)
    assert np.abs(v0).max() > 0.1  # not a degenerate comparison
    np.testing.assert_allclose(v1, v0, atol=1e-4, rtol=0)
    np.testing.assert_allclose(a1, a0, atol=1e-4, rtol=0)
    r0, r1 = ref.score(crops, audio), fast.score(crops, audio)
    assert r1.offset_frames == r0.offset_frames
    np.testing.assert_allclose(r1.dists, r0.dists, atol=1e-4)
    # a second scorer reads the exported network from the cache
    assert len(list(eng.cache_dir().glob("syncnet-lip-*.onnx"))) == 1
    again = SyncNetScorer(state, batch_size=8, video_stride=stride, engine="onnx")
    np.testing.assert_allclose(again.embed_sampled(crops, audio)[0], v1, atol=1e-6)


@needs_ort
def test_onnx_blazeface_boxes_equal_pytorch(ted_clip):
    from realsync_build.models.faces import BlazeFace

    bf = shared("models/blazeface")
    frames = sample_frames(ted_clip, every=25, limit=8)
    ref = BlazeFace(bf / "blazefaceback.pth", bf / "anchorsback.npy", back=True, min_score=0.5, engine="torch").detect(frames)
    got = BlazeFace(bf / "blazefaceback.pth", bf / "anchorsback.npy", back=True, min_score=0.5, engine="onnx").detect(frames)
    assert sum(len(b) for b in ref) >= 6  # the speaker, in most frames
    for r, g in zip(ref, got):
        assert r.shape == g.shape
        np.testing.assert_allclose(g, r, atol=1e-4, rtol=0)  # pixels and scores


def test_engine_choice_and_its_errors(monkeypatch):
    assert eng.resolve_engine("torch", "cpu") == "torch"
    assert eng.resolve_engine("auto", "cuda") == "torch"  # the GPU path is PyTorch
    with pytest.raises(ValueError, match="unknown engine"):
        eng.resolve_engine("tensorrt", "cpu")
    monkeypatch.setattr(eng, "onnx_available", lambda: False)  # an install without the fast extra
    assert eng.resolve_engine("auto", "cpu") == "torch"
    with pytest.raises(ValueError, match="needs onnxruntime"):
        eng.resolve_engine("onnx", "cpu")
    scorer = SyncNetScorer(official_random_state(), batch_size=4, engine="auto")
    assert scorer.engine == "torch" and scorer._lip_onnx is None
