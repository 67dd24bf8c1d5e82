"""Event taggers: YAMNet on the real clips, the PANNs Cnn14 loader, windowing."""

from __future__ import annotations

import av
import numpy as np
import pytest
import torch

from conftest import shared
from realsync_build.models import events, factory, registry
from realsync_build.models.weights import WeightsLayoutError


@pytest.fixture
def shared_models(monkeypatch):
    root = shared("models/yamnet/yamnet.tflite").parent.parent
    monkeypatch.setenv(registry.ENV, str(root))
    return root


def load_audio(path) -> np.ndarray:
    """Mono float32 16 kHz, as the pipeline hands audio to taggers."""
    out = []
    with av.open(str(path)) as c:
        rs = av.AudioResampler(format="flt", layout="mono", rate=16000)
        for frame in c.decode(audio=0):
            out += [f.to_ndarray().reshape(-1) for f in rs.resample(frame)]
        out += [f.to_ndarray().reshape(-1) for f in rs.resample(None)]
    return np.concatenate(out)


def test_window_starts():
    np.testing.assert_allclose(events.window_starts(10.0, 4.0, 2.0), [0, 2, 4, 6])
    np.testing.assert_allclose(events.window_starts(11.0, 4.0, 2.0), [0, 2, 4, 6, 7])  # tail window to the end
    np.testing.assert_allclose(events.window_starts(10.01, 4.0, 2.0), [0, 2, 4, 6])  # a sliver is not a window
    np.testing.assert_allclose(events.window_starts(1.0, 4.0, 2.0), [0])
    with pytest.raises(ValueError):
        events.window_starts(10, 0, 1)


def test_labels_csv_have_classes_and_mids(shared_models):
    labels, mids = events.read_labels(shared_models / "audioset" / "class_labels_indices.csv")
    assert len(labels) == 527 and labels[0] == "Speech" and mids[0] == "/m/09x0r"
    ylabels, ymids = events.read_labels(shared_models / "yamnet" / "yamnet_class_map.csv")
    assert len(ylabels) == 521 and ylabels[0] == "Speech" and ymids[0] == "/m/09x0r"


def test_yamnet_tags_ted_as_speech_and_tennis_not(shared_models, ted_clip, tennis_clip):
    pytest.importorskip("ai_edge_litert")
    tagger = factory.get_event_tagger("yamnet", "cpu")
    assert len(tagger.labels) == len(tagger.mids) == 521
    starts, scores = tagger.tag(load_audio(ted_clip), 4.0, 2.0)
    assert scores.shape == (len(starts), 521) and starts[0] == 0
    assert tagger.labels[int(np.argmax(scores.mean(0)))] == "Speech"
    assert np.mean(np.argmax(scores, axis=1) == 0) >= 0.8  # Speech tops most windows
    _, tscores = tagger.tag(load_audio(tennis_clip), 4.0, 2.0)
    assert tagger.labels[int(np.argmax(tscores.mean(0)))] != "Speech"
    assert tscores[:, 0].max() < 0.5


def test_yamnet_window_scores_average_its_frames(shared_models, ted_clip):
    pytest.importorskip("ai_edge_litert")
    tagger = factory.get_event_tagger("yamnet", "cpu")
    audio = load_audio(ted_clip)[: 16000 * 4]
    f_starts, f_scores = tagger.frame_scores(audio)
    np.testing.assert_allclose(f_starts[:4], [0, 0.48, 0.96, 1.44])
    starts, scores = tagger.tag(audio, 2.0, 1.0)
    # window [0, 2) holds the frames starting at 0, 0.48, 0.96 (each 0.975 s long)
    np.testing.assert_allclose(scores[0], f_scores[:3].mean(0), rtol=1e-6)


def test_unknown_tagger_and_missing_panns(tmp_path, monkeypatch):
    monkeypatch.setenv(registry.ENV, str(tmp_path))
    with pytest.raises(ValueError, match="unknown event tagger"):
        factory.get_event_tagger("beats", "cpu")
    with pytest.raises(registry.ModelMissing, match="realsync models download"):
        factory.get_event_tagger("panns", "cpu")


# ---------------------------------------------------------------- PANNs (slow: builds Cnn14, 81 M parameters)


@pytest.fixture(scope="module")
def panns_ckpt(tmp_path_factory):
    """A checkpoint of the official Cnn14_16k layout with random values, saved as PANNs ships it."""
    root = shared("models/audioset/class_labels_indices.csv").parent.parent
    model = events.build_cnn14(events.PANNS_16K, models_root=root, init=False)
    g = torch.Generator().manual_seed(0)
    state = {}
    for k, v in model.state_dict().items():
        if not v.is_floating_point():
            state[k] = v
        elif k.startswith(("spectrogram_extractor", "logmel_extractor")):
            state[k] = v.clone()  # the fixed STFT / mel matrices, as in the real file
        else:
            state[k] = torch.randn(v.shape, generator=g) * 0.02 + (1.0 if k.endswith("running_var") else 0.0)
    path = tmp_path_factory.mktemp("panns") / "Cnn14_16k_mAP=0.438.pth"
    torch.save({"model": state, "iteration": 1}, path)
    return root, path, state


@pytest.mark.slow
def test_panns_loader_accepts_the_official_layout_and_tags_windows(panns_ckpt):
    root, path, state = panns_ckpt
    model = events.load_cnn14(path, events.PANNS_16K, models_root=root)
    assert torch.equal(model.fc_audioset.weight, state["fc_audioset.weight"])
    labels, mids = events.read_labels(root / "audioset" / "class_labels_indices.csv")
    tagger = events.PannsTagger(model, events.PANNS_16K, labels, mids, batch_size=2)
    audio = (0.1 * np.random.default_rng(0).normal(size=16000 * 3)).astype(np.float32)
    starts, scores = tagger.tag(audio, 1.0, 0.5)
    np.testing.assert_allclose(starts, [0, 0.5, 1.0, 1.5, 2.0])
    assert scores.shape == (5, 527) and np.all((scores >= 0) & (scores <= 1))


@pytest.mark.slow
def test_panns_loader_rejects_mismatched_checkpoints(panns_ckpt, tmp_path):
    root, _, state = panns_ckpt
    bad = dict(state)
    bad.pop("fc1.bias")
    bad["fc_audioset.weight"] = torch.zeros(10, 2048)
    with pytest.raises(WeightsLayoutError) as err:
        events.load_cnn14({"model": bad}, events.PANNS_16K, models_root=root)
    msg = str(err.value)
    assert msg.startswith("panns-cnn14-16k: checkpoint does not match the official layout")
    assert "missing key(s): fc1.bias" in msg and "fc_audioset.weight: file (10, 2048) vs model (527, 2048)" in msg
    with pytest.raises(WeightsLayoutError, match="key 'model'"):
        events.load_cnn14(dict(state), events.PANNS_16K, models_root=root)  # a bare state dict is not how PANNs ships
    # the 16 kHz checkpoint does not fit the 32 kHz front end
    with pytest.raises(WeightsLayoutError, match="spectrogram_extractor"):
        events.load_cnn14({"model": state}, events.PANNS_32K, models_root=root)


@pytest.mark.slow
def test_panns_random_file_is_refused_by_its_published_md5(panns_ckpt, tmp_path, monkeypatch):
    root, path, _ = panns_ckpt
    (tmp_path / "panns").mkdir()
    (tmp_path / "panns" / path.name).symlink_to(path)
    (tmp_path / "audioset").mkdir()
    (tmp_path / "audioset" / "class_labels_indices.csv").write_bytes((root / "audioset" / "class_labels_indices.csv").read_bytes())
    monkeypatch.setenv(registry.ENV, str(tmp_path))
    with pytest.raises(registry.ModelHashMismatch, match="md5"):
        factory.get_event_tagger("panns", "cpu")


def test_bad_class_map_is_rejected(tmp_path):
    bad = tmp_path / "map.csv"
    bad.write_text("index,mid,display_name\n0,/m/a,A\n2,/m/b,B\n")
    with pytest.raises(WeightsLayoutError, match="indices"):
        events.read_labels(bad)
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(WeightsLayoutError):
        events.read_labels(bad)


def test_no_download_at_import_and_panns_is_seeded_before_its_import(tmp_path):
    """In a fresh HOME: importing our modules touches nothing; panns-inference then finds its labels file."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = shared("models/audioset/class_labels_indices.csv").parent.parent
    code = (
        "import os, socket\n"
        "def refuse(*a, **k): raise AssertionError('network or shell during import')\n"
        "socket.socket.connect = refuse\n"
        "os.system = refuse\n"
        "import sys, pathlib\n"
        "import realsync_build.cli, realsync_build.models.factory, realsync_build.models.faces, realsync_build.models.syncnet\n"
        "from realsync_build.models import events\n"
        "assert 'panns_inference' not in sys.modules and not (pathlib.Path.home() / 'panns_data').exists()\n"
        "pm = events.import_panns_models()\n"
        "import panns_inference.config as cfg\n"
        "assert len(cfg.labels) == 527 and cfg.labels[0] == 'Speech', len(cfg.labels)\n"
        "assert hasattr(pm, 'Cnn14')\n"
    )
    env = dict(os.environ, HOME=str(tmp_path), REALSYNC_MODELS_DIR=str(root), PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-2000:]
    seeded = tmp_path / "panns_data" / "class_labels_indices.csv"
    assert seeded.read_bytes() == (root / "audioset" / "class_labels_indices.csv").read_bytes()


class _LengthProbe(torch.nn.Module):
    """Stands in for Cnn14 in a unit test: reports each input's length and a 440 Hz energy ratio."""

    def __init__(self, sr: int) -> None:
        super().__init__()
        self.sr, self.seen = sr, []

    def forward(self, x):
        self.seen.append(tuple(x.shape))
        spec = torch.fft.rfft(x, dim=1).abs()
        k = int(440 * x.shape[1] / self.sr)
        ratio = spec[:, k - 2 : k + 3].sum(1) / spec.sum(1)
        return {"clipwise_output": ratio[:, None].repeat(1, 527)}


def test_panns_32k_option_resamples_clip_audio():
    labels, mids = [f"c{i}" for i in range(527)], [f"/m/{i}" for i in range(527)]
    probe = _LengthProbe(32000)
    tagger = events.PannsTagger(probe, events.PANNS_32K, labels, mids, batch_size=4)
    assert tagger.name == "panns-32k"
    t = np.arange(16000 * 3) / 16000
    audio = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    starts, scores = tagger.tag(audio, 2.0, 1.0)
    np.testing.assert_allclose(starts, [0, 1])
    assert probe.seen == [(2, 64000)]  # 2 s windows at 32 kHz
    assert scores[:, 0].min() > 0.5  # the tone stays at 440 Hz after resampling
