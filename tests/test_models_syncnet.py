"""SyncNet v2: official checkpoint layout, reference MFCC, reference offset maths, crops, scorer."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import shared
from realsync_build.models import factory
from realsync_build.models.base import ModelMissing
from realsync_build.models.mfcc import dct2_ortho_matrix, mfcc
from realsync_build.models.syncnet import SyncNetScorer, audio_features, crop_track, medfilt, n_windows, needed_frames, sampled_windows, sync_offset
from realsync_build.models.syncnet_net import check_against_layout_json, load_syncnet, official_layout
from realsync_build.models.weights import WeightsLayoutError

LAYOUT = "models/syncnet/syncnet_v2_layout.json"


def official_random_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict with exactly the keys and shapes of syncnet_v2.model, random values."""
    shapes = json.loads(shared(LAYOUT).read_text())["shapes"]
    g = torch.Generator().manual_seed(seed)
    state = {}
    for k, shape in shapes.items():
        t = torch.randn(shape, generator=g) * 0.05
        if k.endswith("running_var"):
            t = t.abs() + 1.0
        state[k] = t
    return state


def test_network_layout_is_the_official_one():
    check_against_layout_json(shared(LAYOUT))
    layout = official_layout()
    assert len(layout) == 88 and not any("num_batches_tracked" in k for k in layout)


def test_official_layout_checkpoint_loads(tmp_path):
    state = official_random_state()
    path = tmp_path / "syncnet_v2.model"
    torch.save(state, path)
    net = load_syncnet(path)
    assert torch.equal(net.netcnnlip[18].weight, state["netcnnlip.18.weight"])
    assert torch.equal(net.netfcaud[1].running_var, state["netfcaud.1.running_var"])
    with torch.inference_mode():
        assert net.forward_lip(torch.zeros(1, 3, 5, 224, 224)).shape == (1, 1024)
        assert net.forward_aud(torch.zeros(1, 1, 13, 20)).shape == (1, 1024)


def test_mismatched_checkpoint_is_rejected_with_a_clear_message(tmp_path):
    state = official_random_state()
    del state["netfclip.3.bias"]
    state["netfclip.4.weight"] = torch.zeros(3)
    state["netcnnaud.18.weight"] = torch.zeros(512, 256, 4, 4)
    path = tmp_path / "bad.model"
    torch.save(state, path)
    with pytest.raises(WeightsLayoutError) as err:
        load_syncnet(path)
    msg = str(err.value)
    assert "syncnet" in msg and "official layout" in msg
    assert "1 missing key(s): netfclip.3.bias" in msg
    assert "1 unexpected key(s): netfclip.4.weight" in msg
    assert "netcnnaud.18.weight: file (512, 256, 4, 4) vs model (512, 256, 5, 4)" in msg


def test_not_a_checkpoint_is_rejected(tmp_path):
    path = tmp_path / "junk.model"
    path.write_bytes(b"this is not a torch file")
    with pytest.raises(WeightsLayoutError):
        load_syncnet(path)


# ---------------------------------------------------------------- reference maths


def reference_dists(v: np.ndarray, a: np.ndarray, vshift: int) -> np.ndarray:
    """The reference's calc_pdist + mean, written as its loop with torch's pairwise_distance."""
    vt, at = torch.from_numpy(v), torch.from_numpy(a)
    win = 2 * vshift + 1
    ap = torch.nn.functional.pad(at, (0, 0, vshift, vshift))
    rows = [torch.nn.functional.pairwise_distance(vt[[i], :].repeat(win, 1), ap[i : i + win, :]) for i in range(len(vt))]
    return torch.mean(torch.stack(rows, 1), 1).numpy()


@pytest.mark.parametrize("delta", [-4, 0, 3, 15])
def test_planted_shift_gives_exact_offset_min_dist_and_confidence(delta):
    """Video window i carries audio window i + delta: the reference reports offset -delta."""
    rng = np.random.default_rng(7)
    n, d, vshift = 60, 32, 15
    a = rng.normal(size=(n, d)).astype(np.float32)
    v = rng.normal(size=(n, d)).astype(np.float32)  # unmatched windows (shift leaves the clip)
    for i in range(n):
        if 0 <= i + delta < n:
            v[i] = a[i + delta]
    res = sync_offset(v, a, vshift)
    assert res.offset_frames == -delta
    # the exact mean distance at the planted offset, computed independently
    eps = 1e-6
    per_window = [
        np.linalg.norm(v[i] - (a[i + delta] if 0 <= i + delta < n else 0.0) + eps) for i in range(n)
    ]
    assert res.min_dist == pytest.approx(float(np.mean(per_window)), rel=1e-5)
    ref = reference_dists(v, a, vshift)
    np.testing.assert_allclose(res.dists, ref, rtol=1e-5, atol=1e-6)
    assert res.confidence == pytest.approx(float(np.median(ref) - ref.min()), rel=1e-5)
    assert res.dists.shape == (2 * vshift + 1,) and res.confidence > 0


def test_offset_maths_rejects_bad_shapes():
    with pytest.raises(ValueError):
        sync_offset(np.zeros((5, 4)), np.zeros((6, 4)))


def test_window_count_is_the_reference_one():
    assert n_windows(100, 100 * 640) == 95
    assert n_windows(100, 50 * 640 + 639) == 45  # audio shorter than video
    assert n_windows(5, 10 * 640) == 0


# ---------------------------------------------------------------- MFCC


def test_mfcc_matches_python_speech_features():
    psf = pytest.importorskip("python_speech_features")
    rng = np.random.default_rng(3)
    t = np.arange(16000 * 2) / 16000
    sig = (8000 * np.sin(2 * np.pi * 220 * t) + 800 * rng.normal(size=t.size)).astype(np.int16)
    ours = mfcc(sig, 16000)
    ref = psf.mfcc(sig, 16000)
    assert ours.shape == ref.shape == (199, 13)
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-6)


def test_dct_is_orthonormal_dct2():
    scipy_fft = pytest.importorskip("scipy.fft")
    x = np.random.default_rng(0).normal(size=(4, 26))
    np.testing.assert_allclose(x @ dct2_ortho_matrix(26, 13).T, scipy_fft.dct(x, type=2, norm="ortho")[:, :13], atol=1e-10)


def test_audio_features_are_100hz_on_int16_scale():
    audio = (0.1 * np.sin(2 * np.pi * 300 * np.arange(16000) / 16000)).astype(np.float32)
    cc = audio_features(audio)
    assert cc.shape == (13, 99)  # 1 + ceil((16000 - 400) / 160)
    pcm = np.round(audio * 32768.0)
    np.testing.assert_allclose(cc, mfcc(pcm).T, rtol=1e-5)


# ---------------------------------------------------------------- crops and the scorer


def test_crop_track_follows_the_reference_geometry():
    frames = np.full((3, 200, 300, 3), 50, np.uint8)
    frames[:, 80:120, 130:170] = 200  # a 40x40 "face"
    boxes = np.tile([130.0, 80.0, 170.0, 120.0], (3, 1))
    crops = crop_track(frames, boxes)
    assert crops.shape == (3, 224, 224, 3) and crops.dtype == np.uint8
    # crop spans y in [cy - s, cy + 1.8 s], x in [cx - 1.4 s, cx + 1.4 s] with s = 20
    # -> the face (rows cy-20..cy+20 of 56 px tall crop) starts at the top, columns 8..48 of 56
    col = crops[0, 112, :, 0]
    assert col[10] == 50 and col[112] == 200
    assert crops[0, 5, 112, 0] == 200 and crops[0, 200, 112, 0] == 50
    # near the frame edge the padding is grey 110
    edge = crop_track(frames[:1], np.array([[0.0, 0.0, 40.0, 40.0]]), smooth_kernel=1)
    assert edge[0, 112, 2, 0] == 110


def test_medfilt_matches_scipy():
    signal = pytest.importorskip("scipy.signal")
    x = np.random.default_rng(1).normal(size=40)
    np.testing.assert_allclose(medfilt(x, 13), signal.medfilt(x, 13))


def test_scorer_with_random_official_weights_runs_the_reference_windowing():
    scorer = SyncNetScorer(official_random_state(), batch_size=4)
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 255, size=(12, 224, 224, 3), dtype=np.uint8)
    audio = (0.1 * rng.normal(size=12 * 640)).astype(np.float32)
    v, a = scorer.embed(crops, audio)
    assert v.shape == a.shape == (7, 1024)  # min(12, 12) - 5 windows
    # window 3 (second batch): frames 3..7 as BGR (3, 5, 224, 224), MFCC steps 12..31
    with torch.inference_mode():
        lip = torch.from_numpy(crops[3:8, :, :, ::-1].copy()).permute(3, 0, 1, 2).float()[None]
        np.testing.assert_allclose(v[3], scorer.net.forward_lip(lip)[0].numpy(), rtol=1e-4, atol=1e-4)
        cc = torch.from_numpy(audio_features(audio))[None, None, :, 12:32]
        np.testing.assert_allclose(a[3], scorer.net.forward_aud(cc)[0].numpy(), rtol=1e-4, atol=1e-4)
    res = scorer.score(crops, audio)
    assert -15 <= res.offset_frames <= 15 and res.dists.shape == (31,)
    assert res.confidence >= 0 and np.isfinite(res.min_dist)
    np.testing.assert_allclose(res.dists, reference_dists(v, a, 15), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="too short"):
        scorer.score(crops[:5], audio)


def test_factory_needs_syncnet_weights(tmp_path):
    with pytest.raises(ModelMissing, match="realsync models download syncnet"):
        factory.get_sync_scorer("cpu", 8, root=tmp_path)
    (tmp_path / "syncnet").mkdir()
    torch.save(official_random_state(), tmp_path / "syncnet" / "syncnet_v2.model")
    scorer = factory.get_sync_scorer("cpu", 8, root=tmp_path)  # recorded-hash model placed by hand
    assert scorer.name == "syncnet" and scorer.vshift == 15 and scorer.batch_size == 8


def test_factory_turns_an_unloadable_file_into_a_one_line_model_error(tmp_path):
    (tmp_path / "syncnet").mkdir()
    state = official_random_state()
    state.pop("netfcaud.3.weight")
    torch.save(state, tmp_path / "syncnet" / "syncnet_v2.model")  # placed by hand, nothing recorded
    with pytest.raises(ModelMissing) as err:
        factory.get_sync_scorer("cpu", 8, root=tmp_path)
    msg = str(err.value)
    assert "netfcaud.3.weight" in msg and "realsync models download syncnet" in msg and "\n" not in msg


# ---------------------------------------------------------------- video stride


@pytest.mark.parametrize("stride", [2, 3, 5])
@pytest.mark.parametrize("delta", [-4, 0, 3])
def test_video_stride_keeps_the_planted_offset(stride, delta):
    """Lip features of every k-th window only: same offset, and the mean runs over those windows."""
    rng = np.random.default_rng(11)
    n, d, vshift = 60, 32, 15
    a = rng.normal(size=(n, d)).astype(np.float32)
    v = rng.normal(size=(n, d)).astype(np.float32)
    for i in range(n):
        if 0 <= i + delta < n:
            v[i] = a[i + delta]
    full = sync_offset(v, a, vshift)
    ts = sampled_windows(n, stride)
    assert list(ts[:3]) == [0, stride, 2 * stride] and ts[-1] < n
    res = sync_offset(v[ts], a, vshift, video_index=ts)
    assert res.offset_frames == full.offset_frames == -delta
    # the definition, independently: d[j, k] = ||v_t - a_pad[t + k] + eps|| over the sampled t
    ap = np.concatenate([np.zeros((vshift, d)), a, np.zeros((vshift, d))])
    ref = np.mean([[np.linalg.norm(v[t] - ap[t + k] + 1e-6) for k in range(2 * vshift + 1)] for t in ts], axis=0)
    np.testing.assert_allclose(res.dists, ref, rtol=1e-5, atol=1e-6)
    assert res.confidence == pytest.approx(float(np.median(ref) - ref.min()), rel=1e-5)
    with pytest.raises(ValueError):
        sync_offset(v[ts], a, vshift, video_index=ts[:-1])


def test_needed_frames_cover_exactly_the_sampled_windows():
    assert needed_frames(7, 1).all() and len(needed_frames(7, 1)) == 11
    m = needed_frames(20, 8)  # windows 0, 8, 16 -> frames 0-4, 8-12, 16-20
    assert list(np.flatnonzero(m)) == [*range(0, 5), *range(8, 13), *range(16, 21)]


def test_scorer_with_video_stride_runs_a_third_of_the_lip_windows():
    net = load_syncnet(official_random_state())
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 255, size=(40, 224, 224, 3), dtype=np.uint8)
    audio = (0.1 * rng.normal(size=40 * 640)).astype(np.float32)
    full = SyncNetScorer(net, batch_size=4)
    v, a = full.embed(crops, audio)
    assert full.lip_windows == len(v) == 35
    strided = SyncNetScorer(net, batch_size=4, video_stride=3)
    res = strided.score(crops, audio)
    assert strided.lip_windows == len(range(0, 35, 3)) == 12  # ~1/3 of the windows
    # same features as the full run at the sampled windows, and the sampled-mean definition
    vs, as_, ts = strided.embed_sampled(crops, audio)
    np.testing.assert_allclose(vs, v[ts], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(as_, a, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(res.dists, sync_offset(v[ts], a, 15, video_index=ts).dists, rtol=1e-4, atol=1e-4)
    # frames no sampled window reads may stay uncropped (None) with a stride >= 5
    sparse = SyncNetScorer(net, batch_size=4, video_stride=8)
    mask = needed_frames(35, 8)
    listed = [c if i < len(mask) and mask[i] else None for i, c in enumerate(crops)]
    r_sparse = sparse.score(listed, audio)
    np.testing.assert_allclose(r_sparse.dists, sparse.score(crops, audio).dists, rtol=1e-5)
    assert sparse.lip_windows == 2 * len(range(0, 35, 8))
    with pytest.raises(ValueError, match="not cropped"):
        sparse.score([None] * 40, audio)
    with pytest.raises(ValueError):
        SyncNetScorer(net, video_stride=0)
