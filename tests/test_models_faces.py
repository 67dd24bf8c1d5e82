"""Face detectors: BlazeFace front/back on the real TED clip, the S3FD loader, tiling and NMS."""

from __future__ import annotations

import av
import numpy as np
import pytest
import torch

from conftest import shared
from realsync_build.models import factory, registry
from realsync_build.models.base import ModelMissing
from realsync_build.models.faces import S3FD, nms, s3fd_layout, square_tiles
from realsync_build.models.weights import WeightsLayoutError


@pytest.fixture
def shared_models(monkeypatch):
    root = shared("models/blazeface/blazeface.pth").parent.parent
    monkeypatch.setenv(registry.ENV, str(root))
    return root


@pytest.fixture
def no_hub(monkeypatch):
    """Fail loudly if anything tries to fetch weights through torch.hub."""

    def refuse(*a, **k):
        raise AssertionError("torch.hub download attempted")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)


def sample_frames(path, every: int = 25, limit: int = 12) -> np.ndarray:
    out = []
    with av.open(str(path)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i % every == 0:
                out.append(f.to_ndarray(format="rgb24"))
            if len(out) >= limit:
                break
    return np.stack(out)


@pytest.mark.parametrize("name", ["blazeface", "blazeface-back"])
def test_blazeface_finds_the_speaker_in_most_frames(name, shared_models, no_hub, ted_clip):
    det = factory.get_face_detector(name, "cpu")
    frames = sample_frames(ted_clip, every=25, limit=12)  # one frame a second
    boxes = det.detect(frames)
    assert len(boxes) == len(frames)
    best = [b[np.argmax(b[:, 4])] for b in boxes if len(b)]
    assert len(best) >= 0.75 * len(frames)
    best = np.array(best)
    h, w = frames.shape[1:3]
    assert all(b.shape[1] == 5 for b in boxes)
    # one speaker: the best boxes are face-sized and stay in one place on stage
    sizes = best[:, 2] - best[:, 0]
    assert np.all((sizes > 10) & (sizes < 0.5 * h)) and np.all(best[:, 4] >= 0.5)
    centres = (best[:, :2] + best[:, 2:4]) / 2
    spread = np.abs(centres - np.median(centres, axis=0))
    assert np.mean(spread[:, 0] < 0.15 * w) >= 0.8
    assert np.all((best[:, 0] >= 0) & (best[:, 2] <= w) & (best[:, 1] >= 0) & (best[:, 3] <= h))


def test_detector_names_and_missing_weights(tmp_path, monkeypatch, no_hub):
    monkeypatch.setenv(registry.ENV, str(tmp_path))
    with pytest.raises(ModelMissing, match="realsync models download s3fd"):
        factory.get_face_detector("sfd", "cpu")
    with pytest.raises(ModelMissing, match="realsync models download blazeface-back"):
        factory.get_face_detector("blazeface-back", "cpu")
    with pytest.raises(ValueError, match="unknown face detector"):
        factory.get_face_detector("mtcnn", "cpu")


def random_s3fd_state(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn(shape, generator=g) * 0.01 for k, shape in s3fd_layout().items()}


@pytest.fixture(scope="module")
def s3fd_ckpt(tmp_path_factory):
    """A checkpoint of the official S3FD layout (as face-alignment ships it) with random values."""
    path = tmp_path_factory.mktemp("s3fd") / "s3fd-619a316812.pth"
    torch.save(random_s3fd_state(), path)
    return path


def test_s3fd_loader_accepts_the_official_layout(s3fd_ckpt, no_hub):
    det = S3FD(s3fd_ckpt, "cpu")
    frames = np.random.default_rng(0).integers(0, 255, size=(2, 64, 96, 3), dtype=np.uint8)
    out = det.detect(frames)
    assert len(out) == 2 and all(b.ndim == 2 and b.shape[1] == 5 for b in out)


def test_s3fd_loader_rejects_a_mismatched_checkpoint(tmp_path, no_hub):
    state = random_s3fd_state()
    state.pop("conv1_1.weight")
    state["fc6.weight"] = torch.zeros(1024, 512, 1, 1)
    path = tmp_path / "other.pth"
    torch.save(state, path)
    with pytest.raises(WeightsLayoutError) as err:
        S3FD(path, "cpu")
    msg = str(err.value)
    assert msg.startswith("sfd: checkpoint does not match the official layout")
    assert "missing key(s): conv1_1.weight" in msg and "fc6.weight: file (1024, 512, 1, 1) vs model (1024, 512, 3, 3)" in msg


def test_s3fd_with_wrong_hash_is_refused_by_the_factory(s3fd_ckpt, tmp_path, monkeypatch, no_hub):
    (tmp_path / "s3fd").mkdir()
    (tmp_path / "s3fd" / "s3fd-619a316812.pth").symlink_to(s3fd_ckpt)
    monkeypatch.setenv(registry.ENV, str(tmp_path))
    with pytest.raises(registry.ModelHashMismatch, match="does not start with 619a316812"):
        factory.get_face_detector("sfd", "cpu")


def test_square_tiles_cover_wide_and_tall_frames():
    assert square_tiles(256, 454) == [(0, 0, 256), (198, 0, 256)]
    assert square_tiles(256, 256) == [(0, 0, 256)]
    tall = square_tiles(640, 360)
    assert tall[0] == (0, 0, 360) and tall[-1] == (0, 280, 360)


def test_nms_keeps_the_best_of_overlapping_boxes():
    boxes = np.array([[0, 0, 10, 10, 0.9], [1, 1, 11, 11, 0.8], [50, 50, 60, 60, 0.7]], np.float32)
    kept = nms(boxes, 0.3)
    assert kept[:, 4].tolist() == pytest.approx([0.9, 0.7])
    assert nms(np.zeros((0, 5), np.float32)).shape == (0, 5)


def test_blazeface_sees_faces_near_the_sides_of_wide_frames(shared_models, no_hub, ted_clip):
    """A centre crop of a 600x256 frame would cut the speaker off; the tiles still find them."""
    frame = sample_frames(ted_clip, every=25, limit=1)[0]  # speaker around x = 285..335 of 454
    wide = np.zeros((256, 600, 3), np.uint8)
    wide[:, 146:] = frame  # speaker now around x = 431..481; the centre square spans 172..428
    det = factory.get_face_detector("blazeface", "cpu")
    boxes = det.detect(wide[None])[0]
    assert len(boxes)
    best = boxes[np.argmax(boxes[:, 4])]
    assert best[0] > 420 and best[2] < 500
