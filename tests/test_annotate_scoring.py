"""SyncNet scoring as syncnet_python does it: median-smoothed boxes before the crop (checked
against scipy.signal.medfilt, the reference's filter), one evaluation per speech-and-face run
(streamed, equal to scoring the run at once), and speech without a face labelled ``other``."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import medfilt as scipy_medfilt

from realsync_build.media.ffmpeg import run_ffmpeg
from realsync_build.stages.annotate.config import AnnotateConfig
from realsync_build.stages.annotate.tracks import Track, smoothed_boxes

KERNEL = 13  # syncnet_python: signal.medfilt(dets[...], kernel_size=13)


def _reference_boxes(per_frame: np.ndarray) -> np.ndarray:
    """syncnet_python's crop_video smoothing on a whole track's per-frame boxes, as boxes."""
    s = np.maximum(per_frame[:, 3] - per_frame[:, 1], per_frame[:, 2] - per_frame[:, 0]) / 2
    y = (per_frame[:, 1] + per_frame[:, 3]) / 2
    x = (per_frame[:, 0] + per_frame[:, 2]) / 2
    s, x, y = (scipy_medfilt(v, kernel_size=KERNEL) for v in (s, x, y))
    return np.stack([x - s, y - s, x + s, y + s], axis=1)


def _jittered_track(n_dets: int, step: int, seed: int = 0) -> Track:
    rng = np.random.default_rng(seed)
    t = Track(track_id=0, shot_id=0)
    for k in range(n_dets):
        cx, cy, half = 120 + 0.8 * k + rng.normal(0, 6), 90 + rng.normal(0, 6), 30 + rng.normal(0, 4)
        t.add(k * step, np.array([cx - half, cy - half * 1.2, cx + half, cy + half * 1.2, 0.99], np.float32))
    t.active = False
    return t


@pytest.mark.parametrize("step", [1, 5])
def test_smoothing_matches_the_reference_median_filter_on_a_jittered_track(step):
    t = _jittered_track(40, step)
    ref = _reference_boxes(t.boxes().astype(np.float64))  # the whole track at once, zero padded at its ends
    got = smoothed_boxes(t, t.first, t.last)
    np.testing.assert_allclose(got, ref, atol=1e-3)
    # in pieces, as the video pass hands frames on: every piece equals the whole-track filter
    pieces = np.concatenate([smoothed_boxes(t, a, min(a + 16, t.last)) for a in range(t.first, t.last + 1, 17)])
    np.testing.assert_allclose(pieces, ref, atol=1e-3)
    # and smoothing did something: the jitter of the raw boxes is larger than the smoothed one
    raw_c = (t.boxes()[:, 0] + t.boxes()[:, 2]) / 2
    sm_c = (got[:, 0] + got[:, 2]) / 2
    assert np.abs(np.diff(sm_c[7:-7])).mean() < np.abs(np.diff(raw_c[7:-7])).mean()


class _JitterDetector:
    """One jittered face per frame (deterministic per frame index), like a real detector's noise."""

    name = "jitter"

    def __init__(self):
        self.seen = 0

    def detect(self, frames):
        out = []
        for _ in frames:
            rng = np.random.default_rng(self.seen)
            self.seen += 1
            cx, cy, half = 160 + rng.normal(0, 5), 120 + rng.normal(0, 5), 40 + rng.normal(0, 3)
            out.append(np.array([[cx - half, cy - half, cx + half, cy + half, 0.99]], np.float32))
        return out


class _RecordingScheduler:
    def __init__(self):
        self.boxes: dict[int, dict[int, np.ndarray]] = {}

    def wants(self, frame):
        return True

    def add(self, track_id, frame, image, box):
        assert frame not in self.boxes.setdefault(track_id, {})
        self.boxes[track_id][frame] = np.asarray(box, np.float64)

    def close(self, track_id):
        pass

    def close_all(self):
        pass


def test_the_video_pass_crops_with_the_reference_smoothed_boxes(tmp_path):
    from realsync_build.stages.annotate.video import Timings, detect_and_track

    clip = tmp_path / "plain.mp4"
    run_ffmpeg(["-f", "lavfi", "-i", "color=c=gray:size=320x240:rate=25:duration=4", "-c:v", "libx264", "-preset", "ultrafast", str(clip)])
    sched = _RecordingScheduler()
    cfg = AnnotateConfig(face_fps=5.0, face_batch=4)
    res = detect_and_track(clip, 100, _JitterDetector(), sched, cfg, Timings())
    assert len(res.tracks) == 1
    t = res.tracks[0]
    frames = sorted(sched.boxes[0])
    assert frames == list(range(t.first, t.last + 1))  # every track frame handed on exactly once
    got = np.stack([sched.boxes[0][f] for f in frames])
    np.testing.assert_allclose(got, _reference_boxes(t.boxes().astype(np.float64)), atol=1e-3)


# ---------------------------------------------------------------- one evaluation per run, streamed


@pytest.mark.parametrize("stride", [1, 3])
def test_a_streamed_run_evaluation_equals_scoring_the_run_at_once(stride):
    import torch

    from realsync_build.models.syncnet import SyncNetScorer
    from realsync_build.models.syncnet_net import load_syncnet
    from tests.test_models_syncnet import official_random_state

    torch.manual_seed(0)
    net = load_syncnet(official_random_state())
    rng = np.random.default_rng(1)
    crops = rng.integers(0, 255, (17, 224, 224, 3), dtype=np.uint8)
    audio = (rng.standard_normal(17 * 640) * 0.1).astype(np.float32)
    whole = SyncNetScorer(net, batch_size=4, video_stride=stride).score(crops, audio)
    scorer = SyncNetScorer(net, batch_size=4, video_stride=stride)
    run = scorer.open_run(hold_frames=8)
    for p, c in enumerate(crops):
        run.push(c if run.needs(p) else None)
        assert len(run._crops) <= 4 + 5 + 8  # a batch of windows' frames at most (after the hold)
    res = run.finish(audio)
    assert res.offset_frames == whole.offset_frames
    assert res.min_dist == pytest.approx(whole.min_dist, rel=1e-5)
    assert res.confidence == pytest.approx(whole.confidence, rel=1e-4, abs=1e-6)
    np.testing.assert_allclose(res.dists, whole.dists, rtol=1e-5)
    assert scorer.calls == 1


# ---------------------------------------------------------------- speech with nobody on screen


def test_speech_with_no_face_on_screen_is_other_not_voice_over(ted_clip, tmp_path):
    """Narration over a faceless picture (the real TED speech over a generated pattern) is 'other'."""
    from tests.test_annotate_e2e import SHARED_MODELS  # noqa: F401  (the same shared models)
    from tests.conftest import shared
    from realsync_build.models.faces import BlazeFace
    from realsync_build.stages.annotate.clip import annotate_media
    from tests.test_annotate_units import CountingScorer, StubTagger

    clip = tmp_path / "slides.mp4"
    run_ffmpeg(
        ["-f", "lavfi", "-i", "testsrc2=size=454x256:rate=25", "-i", str(ted_clip), "-map", "0:v", "-map", "1:a",
         "-t", "6", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-ar", "16000", "-ac", "1", str(clip)]
    )  # fmt: skip
    bf = shared("models/blazeface")
    det = BlazeFace(bf / "blazefaceback.pth", bf / "anchorsback.npy", back=True, min_score=0.5)
    # the permissive face thresholds that do find the small TED face: here they find none
    cfg = AnnotateConfig(face_detector="blazeface-back", min_face_score=0.5, min_face_px=20, min_confidence=0.0, max_offset=15)
    scorer = CountingScorer(offset=0, confidence=5.0)
    res = annotate_media("slides", clip, cfg, det, scorer, StubTagger())
    assert res.row["speech_s"] > 4.0  # silero hears the talk
    assert res.row["n_tracks"] == 0 and scorer.calls == 0
    assert res.row["t_vo_s"] == 0 and res.row["t_th_s"] == 0 and res.row["t_unscored_s"] == 0
    assert res.row["t_other_s"] == pytest.approx(res.row["duration_s"])
    assert {r["label"] for r in res.intervals} == {"other"}
