"""SparseSync written for this project: layout, numerics against the reference, transforms, safe loading.

Fixtures in tests/fixtures/sparsesync/ were produced once from the reference code
(v-iashin/SparseSync with the 22-07-28T15-49-45 config) by
bench/sparsesync_reference_fixtures.py; docs/sparsesync.md has the command.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from realsync_build.models.safe_load import UnsafeCheckpointError, plain, safe_load
from realsync_build.streamsync.model import base_config
from realsync_build.streamsync.model.snapshot import SparseSyncPredictor, sparsesync_sizes
from realsync_build.streamsync.sparsesync import SparseSyncNet, SparseSyncSizes, load_sparsesync, sizes_from_reference_config
from realsync_build.streamsync.sparsesync.testing import deterministic_state
from realsync_build.streamsync.sparsesync.transforms import audio_input, log_spectrogram, model_inputs, video_input

FIX = Path(__file__).parent / "fixtures" / "sparsesync"
RUN = "22-07-28T15-49-45"


def _layout() -> dict[str, tuple[int, ...]]:
    data = json.loads((FIX / f"layout_{RUN}.json").read_text())
    assert data["keys"] == len(data["layout"]) == 810
    return {k: tuple(v) for k, v in data["layout"].items()}


def test_layout_equals_the_reference_22_07_28T15_49_45_network():
    ref = _layout()
    with torch.device("meta"):
        mine = {k: tuple(v.shape) for k, v in SparseSyncNet().state_dict().items()}
    assert mine == ref  # same 810 keys, same shapes
    # the base model config builds the same network plus StreamSync's PASS token only
    with torch.device("meta"):
        pred = {k: tuple(v.shape) for k, v in SparseSyncPredictor(base_config()).state_dict().items()}
    assert set(pred) - set(ref) == {"transformer.global_transformer.PASS_tok"} and set(ref) <= set(pred)
    assert SparseSyncPredictor.new_parameter_prefixes == ("transformer.global_transformer.PASS_tok",)
    assert sparsesync_sizes(base_config()).visual_block_shape == (16, 7, 7)
    assert sparsesync_sizes(base_config()).audio_block_shape == (9, 20)


def test_logits_equal_the_reference_on_the_same_state_dict():
    fx = torch.load(FIX / "numerics_small.pt", weights_only=True)
    with torch.device("meta"):  # no random init: every tensor comes from the state dict
        model = SparseSyncNet()
    model.load_state_dict(deterministic_state(_layout(), seed=int(fx["seed"])), strict=True, assign=True)
    with torch.no_grad():
        logits = model.eval()(fx["vis"], fx["aud"])
    assert logits.shape == fx["logits"].shape == (2, 21)
    assert (logits - fx["logits"]).abs().max().item() <= 1e-3
    assert fx["logits"].std() > 0.1  # the fixture is not degenerate


def test_a_known_frame_goes_through_the_video_transform():
    frames = torch.zeros(2, 256, 320, 3, dtype=torch.uint8)
    frames[..., 0], frames[..., 1], frames[..., 2] = 255, 0, 128
    frames[:, 16, 48] = torch.tensor([0, 255, 0], dtype=torch.uint8)  # the crop's top-left pixel (round((256-224)/2), round((320-224)/2))
    frames[:, 15, 47] = 7  # just outside the crop
    vis = video_input(frames, 224)
    assert vis.shape == (2, 3, 224, 224)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    want = [(1.0 - mean[0]) / std[0], (0.0 - mean[1]) / std[1], (128 / 255 - mean[2]) / std[2]]
    assert torch.allclose(vis[0, :, 100, 100], torch.tensor(want), atol=1e-5)
    assert torch.allclose(vis[1, :, 0, 0], torch.tensor([(0 - mean[0]) / std[0], (1 - mean[1]) / std[1], (0 - mean[2]) / std[2]]), atol=1e-5)
    assert not torch.isclose(vis, torch.tensor(7 / 255 - mean[0]) / std[0]).any()


def test_a_known_tone_goes_through_the_audio_transform():
    sr, f0, amp = 16000, 1000.0, 0.5  # 1 kHz = bin 32 exactly (16000 / 512 = 31.25 Hz per bin)
    t = torch.arange(5 * sr) / sr
    wave = (amp * torch.sin(2 * math.pi * f0 * t))[None]
    spec = log_spectrogram(wave)[0]
    assert spec.shape == (257, 626)  # 1 + 80000 // 128 frames, 512 // 2 + 1 bins
    mid = spec[:, 300]
    # periodic Hann: a bin-centred tone has power (amp * n_fft / 4)^2 in its bin, a quarter of it in each neighbour, 0 beyond
    assert mid[32].item() == pytest.approx(math.log((amp * 512 / 4) ** 2), abs=1e-3)
    assert mid[31].item() == pytest.approx(math.log((amp * 512 / 8) ** 2), abs=1e-3)
    assert mid[33].item() == pytest.approx(math.log((amp * 512 / 8) ** 2), abs=1e-3)
    assert mid[100].item() == pytest.approx(math.log(1e-6), abs=0.3)  # log(0 + 1e-6), up to float32 leakage
    aud = audio_input(wave)
    assert aud.shape == (1, 1, 257, 626)
    assert aud.mean(dim=-1).abs().max() < 1e-3  # per-bin standardised over time
    s = spec[32]
    assert torch.allclose(aud[0, 0, 32], (s - s.mean()) / (s.std() + 1e-6), atol=1e-4)
    vis, aud2 = model_inputs(torch.zeros(1, 125, 256, 256, 3, dtype=torch.uint8), wave.repeat(1, 1))
    assert vis.shape == (1, 125, 3, 224, 224) and aud2.shape == (1, 1, 257, 626)


def _public_checkpoint(path: Path, n_layer: int = 1, num_selectors: int = 2) -> SparseSyncNet:
    """A file in the public format: ``args`` is a real OmegaConf config, ``model`` the state dict."""
    omegaconf = pytest.importorskip("omegaconf")
    cfg = plain(safe_load(FIX / f"public_args_{RUN}.pt")["args"])  # the reference's own pickle of its config
    tp = cfg["model"]["params"]["transformer"]["params"]
    for sel in (tp["v_selector_cfg"]["params"], tp["a_selector_cfg"]["params"]):
        sel["n_layer"], sel["num_selectors"] = n_layer, num_selectors
    tp["global_transformer_cfg"]["params"]["n_layer"] = n_layer
    torch.manual_seed(1)
    net = SparseSyncNet(sizes_from_reference_config(cfg)).eval()
    ck = {"args": omegaconf.OmegaConf.create(cfg), "model": net.state_dict(), "epoch": 7, "metrics": {"accuracy_1": 0.4}}
    torch.save(ck, path)
    return net


def test_the_reference_pickled_config_reads_as_plain_data():
    raw = safe_load(FIX / f"public_args_{RUN}.pt")
    cfg = plain(raw["args"])
    tp = cfg["model"]["params"]["transformer"]["params"]
    assert tp["visual_block_shape"] == [16, 7, 7] and tp["audio_block_shape"] == [9, 20] and tp["num_offset_cls"] == 21
    assert cfg["transform_sequence_test"][-4]["params"] == {"n_fft": 512, "hop_length": 128}
    assert sizes_from_reference_config(cfg) == SparseSyncSizes()


@pytest.fixture(scope="module")
def public_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("public") / "public.pt"
    return path, _public_checkpoint(path)


def test_a_public_format_checkpoint_loads_and_gives_the_same_logits(public_file):
    path, net = public_file
    model = load_sparsesync(path)
    assert not model.training
    vis, aud = torch.randn(1, 16, 3, 64, 64), torch.randn(1, 1, 257, 64)
    with torch.no_grad():
        assert torch.equal(model(vis, aud), net(vis, aud))


def test_a_crafted_checkpoint_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            import os

            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pt"
    torch.save({"args": Evil(), "model": {"w": torch.zeros(1)}}, path)
    with pytest.raises(UnsafeCheckpointError) as err:
        load_sparsesync(path)
    msg = str(err.value)
    assert "\n" not in msg and "refused" in msg and "system" in msg
    assert not marker.exists()
    # the training and model-registry readers refuse it the same way
    from realsync_build.models.weights import WeightsLayoutError, read_checkpoint
    from realsync_build.streamsync.checkpoint import InitError, load_checkpoint

    with pytest.raises(WeightsLayoutError, match="refused"):
        read_checkpoint(path, "s3fd", trusted=True)
    with pytest.raises(InitError, match="refused"):
        load_checkpoint(path)
    assert not marker.exists()


def test_init_from_a_public_file_then_phase_1_trains_only_streamsyncs_own_parts(public_file):
    from realsync_build.streamsync.model import StreamSync
    from realsync_build.streamsync.checkpoint import SNAPSHOT_ONLY, model_for_evaluation
    from realsync_build.streamsync.paper import table3_rows
    from realsync_build.streamsync.train import set_phase

    path, net = public_file
    model, _, kind = model_for_evaluation(path)  # a bare SparseSync file -> the snapshot predictor of a base StreamSync
    assert kind == SNAPSHOT_ONLY and isinstance(model, StreamSync) and model.cfg.name == "base"
    for k, v in net.state_dict().items():
        assert torch.equal(model.snapshot.state_dict()[k], v), k
    set_phase(model, 1, freeze_pretrained=True)
    frozen_snapshot = [n for n, p in model.snapshot.named_parameters() if p.requires_grad]
    assert frozen_snapshot == ["transformer.global_transformer.PASS_tok"]
    rows = table3_rows({"pretrained": {"acc": 0.2, "iteration": 5, "source": "x"}, "apa": {"acc": 0.3}})
    assert rows["pretrained_sparsesync"] == {"acc": 0.2, "iteration": 5} and rows["finetuned_snapshot"] is None and rows["streamsync"] is None
    rows = table3_rows({"snapshot": {"acc": 0.4}, "apa": {"acc": 0.5}, "streamsync": {"acc": 0.6}, "pretrained": {"acc": 0.2}})
    assert [rows[k]["acc"] for k in ("pretrained_sparsesync", "finetuned_snapshot", "apa", "streamsync")] == [0.2, 0.4, 0.5, 0.6]


def test_registry_has_the_four_public_21_class_checkpoints(tmp_path, monkeypatch):
    from realsync_build.models import registry
    from realsync_build.models.base import ModelMissing
    from realsync_build.models.catalog import MD5_PREFIX, ModelFile
    from realsync_build.streamsync.sparsesync.load import resolve

    runs = {"sparsesync-lrs3": "22-07-13T22-25-49", "sparsesync-vggsound-sparse": RUN,
            "sparsesync-vggsound": "22-09-21T21-00-52", "sparsesync-audioset": "23-02-26T22-31-22"}
    for name, run in runs.items():
        e = registry.get_entry(name)
        assert e.kind == "sync-predictor" and e.licence.startswith("MIT")
        assert e.main.url.endswith(f"/sync_models/{run}/{run}.pt") and e.main.hash_kind == MD5_PREFIX and len(e.main.digest) == 7
        assert e.files[1].file == f"cfg-{run}.yaml"
    assert registry.get_entry("sparsesync-vggsound-sparse").main.digest == "a26f207"
    monkeypatch.setenv(registry.ENV, str(tmp_path))
    with pytest.raises(ModelMissing, match="realsync models download sparsesync-vggsound-sparse"):
        resolve("sparsesync-vggsound-sparse")
    # an md5-prefix check accepts the file whose md5 starts with the published digits, and nothing else
    f = tmp_path / "x" / "w.pt"
    f.parent.mkdir()
    f.write_bytes(b"weights")
    md5 = registry.file_digest(f, "md5")
    assert registry._matches(ModelFile("x", "w.pt", "http://127.0.0.1/w.pt", MD5_PREFIX, md5[:7]), f, {})[0]
    assert not registry._matches(ModelFile("x", "w.pt", "http://127.0.0.1/w.pt", MD5_PREFIX, "0000000"), f, {})[0]
