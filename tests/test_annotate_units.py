"""Unit tests of the annotate pipeline's parts: shots, tracking, interpolation, gating, labels, QC."""

from __future__ import annotations

import numpy as np
import pytest

from realsync_build.stages.annotate import labels as L
from realsync_build.stages.annotate.config import AnnotateConfig
from realsync_build.stages.annotate.decode import iter_frames
from realsync_build.stages.annotate.shots import ShotDetector
from realsync_build.stages.annotate.speech import frame_mask
from realsync_build.stages.annotate.sync import SyncScheduler, Window
from realsync_build.stages.annotate.tracks import Track, Tracker, crop_face, filter_detections, iou
from realsync_build.media.ffmpeg import run_ffmpeg
from realsync_build.models.base import SyncResult


class CountingScorer:
    """Deterministic stub scorer: offset/confidence from a rule; counts calls and frames."""

    name = "stub"
    vshift = 15

    def __init__(self, offset=0, confidence=5.0):
        self.offset, self.confidence = offset, confidence
        self.calls = 0
        self.frames = []

    def score(self, crops, audio):
        assert crops.shape[1:] == (224, 224, 3) and crops.dtype == np.uint8
        assert audio.size == len(crops) * 640
        self.calls += 1
        self.frames.append(len(crops))
        return SyncResult(self.offset, 1.0, self.confidence, np.zeros(31))


# ---------------------------------------------------------------- shots


def _two_shot_clip(path, seconds=2):
    run_ffmpeg(
        [
            "-f", "lavfi", "-i", f"testsrc2=size=320x240:rate=25:duration={seconds}",
            "-f", "lavfi", "-i", f"mandelbrot=size=320x240:rate=25",
            "-filter_complex", f"[1:v]trim=duration={seconds}[b];[0:v][b]concat=n=2:v=1:a=0",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path),
        ]
    )  # fmt: skip
    return path


def test_shot_detector_finds_the_hard_cut(tmp_path):
    clip = _two_shot_clip(tmp_path / "cut.mp4")
    det = ShotDetector()
    n = 0
    for i, frame in iter_frames(clip):
        det.update(frame)
        n = i + 1
    assert n == 100
    assert det.cuts == [50]
    assert det.shot_bounds(n) == [(0, 50), (50, 100)]


def test_shot_detector_keeps_a_moving_shot_whole(tmp_path):
    clip = tmp_path / "one.mp4"
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=4", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(clip)])
    det = ShotDetector()
    for _, frame in iter_frames(clip):
        det.update(frame)
    assert det.cuts == []


# ---------------------------------------------------------------- tracking


def _box(x, y, s=40, score=0.9):
    return np.array([x, y, x + s, y + s, score], np.float32)


def test_tracker_links_by_iou_and_starts_new_tracks():
    tr = Tracker(iou_min=0.3, max_missed=1)
    tr.step(0, np.stack([_box(10, 10), _box(200, 10)]))
    tr.step(5, np.stack([_box(205, 12), _box(14, 11)]))  # both moved a little, order swapped
    assert [t.det_frames for t in tr.tracks] == [[0, 5], [0, 5]]
    assert tr.tracks[0].det_boxes[1][0] == 14 and tr.tracks[1].det_boxes[1][0] == 205
    tr.step(10, np.stack([_box(120, 120)]))  # far from both: a third track
    assert len(tr.tracks) == 3 and tr.tracks[2].det_frames == [10]


def test_tracker_ends_tracks_after_misses_and_at_cuts():
    tr = Tracker(iou_min=0.3, max_missed=1)
    tr.step(0, _box(10, 10)[None])
    _, ended = tr.step(5, np.zeros((0, 5)))  # one miss is tolerated
    assert ended == [] and tr.tracks[0].active
    upd, _ = tr.step(10, _box(12, 10)[None])  # re-found: the gap is bridged
    assert upd[0][1] == 0 and tr.tracks[0].det_frames == [0, 10]
    tr.step(15, np.zeros((0, 5)))
    _, ended = tr.step(20, np.zeros((0, 5)))  # second miss ends it
    assert ended == [tr.tracks[0]] and not tr.tracks[0].active
    tr.step(25, _box(12, 10)[None])
    ended = tr.cut(26)  # a cut ends every active track; the next box starts a new track
    assert ended == [tr.tracks[1]]
    tr.step(26, _box(12, 10)[None])
    assert len(tr.tracks) == 3 and tr.tracks[2].shot_id == 1 and tr.tracks[1].shot_id == 0


def test_tracks_cover_the_frames_around_their_detections_but_not_across_cuts():
    tr = Tracker(iou_min=0.3, max_missed=0, step=5)
    tr.step(5, _box(10, 10)[None])
    tr.step(10, _box(11, 10)[None])
    _, ended = tr.step(15, np.zeros((0, 5)))
    t = tr.tracks[0]
    assert ended == [t] and (t.first, t.last) == (1, 14)  # 4 frames before, 4 after
    tr.cut(22)
    tr.step(22, _box(10, 10)[None])  # first frame of a shot: nothing before it
    tr.step(25, _box(10, 10)[None])
    ended = tr.cut(27)  # the next cut comes 2 frames after the last detection
    assert (ended[0].first, ended[0].last) == (22, 26)
    tr.step(30, _box(10, 10)[None])
    (last,) = tr.finish(31)
    assert (last.first, last.last) == (27, 31)


def test_interpolation_is_linear_between_detections():
    t = Track(0, 0)
    t.add(0, _box(0, 0, 40))
    t.add(5, _box(50, 10, 40))
    b = t.boxes()
    assert b.shape == (6, 4)
    np.testing.assert_allclose(b[:, 0], [0, 10, 20, 30, 40, 50])
    np.testing.assert_allclose(b[:, 1], [0, 2, 4, 6, 8, 10])
    np.testing.assert_allclose(t.boxes(2, 3)[:, 0], [20, 30])
    assert t.n_frames == 6


def test_iou_and_detection_filter():
    assert iou(_box(0, 0), _box(0, 0)) == pytest.approx(1.0)
    assert iou(_box(0, 0), _box(100, 100)) == 0.0
    assert iou(_box(0, 0, 40), _box(20, 0, 40)) == pytest.approx(1 / 3)
    d = np.stack([_box(0, 0, 40, 0.9), _box(0, 0, 8, 0.9), _box(0, 0, 40, 0.2)])
    assert len(filter_detections(d, 0.5, 12)) == 1


def test_crop_is_224_and_padded_outside_the_frame():
    frame = np.full((100, 160, 3), 255, np.uint8)
    crop = crop_face(frame, np.array([0, 0, 40, 40], np.float32))  # box in the corner: crop leaves the frame
    assert crop.shape == (224, 224, 3) and crop.dtype == np.uint8
    assert crop[0, 0, 0] == 110 and crop[-1, -1, 0] == 255


# ---------------------------------------------------------------- VAD gating


def _feed(sched, track_id, frames):
    img = np.zeros((64, 64, 3), np.uint8)
    for f in frames:
        sched.add(track_id, f, img, np.array([10, 10, 40, 40], np.float32))
    sched.close(track_id)


def test_vad_gating_scores_only_speech_with_a_face():
    n = 300
    speech = np.zeros(n, bool)
    speech[0:60] = True  # 60 frames of speech
    speech[150:170] = True  # 20 frames: shorter than the minimum window
    speech[200:260] = True
    audio = np.zeros(n * 640, np.float32)
    scorer = CountingScorer()
    gated = SyncScheduler(scorer, audio, speech, min_run_frames=25)
    _feed(gated, 0, range(20, 300))  # the face is there from frame 20
    # speech & face: 20..59 (40 frames), 150..169 (20, too short), 200..259 (60): each run scored whole
    assert scorer.calls == 2
    assert sorted(scorer.frames) == [40, 60]
    assert [(w.start_frame, w.end_frame) for w in gated.windows] == [(20, 60), (200, 260)]
    for w in gated.windows:
        assert speech[w.start_frame : w.end_frame].all()

    naive_scorer = CountingScorer()
    naive = SyncScheduler(naive_scorer, audio, None, min_run_frames=25)
    _feed(naive, 0, range(20, 300))
    assert naive_scorer.calls == 1 and sum(naive_scorer.frames) == 280


def test_a_long_run_is_scored_once_as_a_whole():
    scorer = CountingScorer()
    s = SyncScheduler(scorer, np.zeros(400 * 640, np.float32), None, min_run_frames=50)
    _feed(s, 3, range(0, 320))
    _feed(s, 4, range(0, 49))  # shorter than the minimum run: not scored
    assert [(w.track_id, w.start_frame, w.end_frame) for w in s.windows] == [(3, 0, 320)]
    assert scorer.frames == [320]


class StridedScorer:
    """Records which frames of each window arrive cropped (stride-aware scorer contract)."""

    name = "strided"
    vshift = 15

    def __init__(self, video_stride):
        self.video_stride = video_stride
        self.given = []

    def score(self, crops, audio):
        assert audio.size == len(crops) * 640
        self.given.append([c is not None for c in crops])
        return SyncResult(0, 1.0, 5.0, np.zeros(31))


@pytest.mark.parametrize("stride", [3, 8])
def test_scheduler_crops_only_the_frames_sampled_windows_read(stride):
    from realsync_build.models.syncnet import needed_frames, n_windows

    scorer = StridedScorer(stride)
    s = SyncScheduler(scorer, np.zeros(400 * 640, np.float32), None, min_run_frames=25)
    _feed(s, 0, range(0, 120))
    _feed(s, 1, range(200, 270))
    assert [(w.start_frame, w.end_frame) for w in s.windows] == [(0, 120), (200, 270)]
    for given in scorer.given:
        need = needed_frames(n_windows(len(given), len(given) * 640), stride)
        assert all(given[i] for i in np.flatnonzero(need))  # every frame a sampled window reads
        if stride < 5:
            assert all(given)
        else:
            assert not all(given)  # and some others were not cropped
    assert sum(scorer.given[0]) == sum(i % stride < 5 for i in range(120))


def test_frame_mask_half_frame_rule():
    m = frame_mask([(0.0, 0.05), (0.5, 0.61)], 25)
    assert m[0] and not m[1]  # frame 1 (0.04-0.08) is 25% speech
    assert m[12] and m[13] and m[14] and not m[15]


# ---------------------------------------------------------------- labels and QC


def test_labels_follow_the_thresholds():
    n = 100
    speech = np.zeros(n, bool)
    speech[10:90] = True
    tracks = [L.TrackSpan(0, 0, 49), L.TrackSpan(1, 40, 79)]
    windows = [
        Window(0, 10, 40, offset_frames=1, min_dist=6.0, confidence=5.0),  # talking
        Window(1, 40, 60, offset_frames=9, min_dist=6.0, confidence=8.0),  # confident but offset too large
        Window(1, 60, 80, offset_frames=0, min_dist=7.0, confidence=1.0),  # not confident
    ]
    code, widx = L.label_frames(n, speech, tracks, windows, min_confidence=3.0, max_offset=6)
    rows = L.intervals("c", code, widx, windows)
    got = [(r["start_s"] * 25, r["end_s"] * 25, r["label"], r["track_id"]) for r in rows]
    assert got == [
        (0, 10, "other", None),
        (10, 40, "talking_head", 0),
        (40, 50, "unscored", None),  # track 0 is present but was not scored there
        (50, 60, "voice_over", 1),  # the only face there is scored and not talking
        (60, 80, "voice_over", 1),
        (80, 100, "other", None),  # 80-90: speech but no face on screen, not voice-over (the paper's "others")
    ]
    tot = L.totals(code)
    assert tot["t_th_s"] == pytest.approx(30 / 25) and tot["t_vo_s"] == pytest.approx(30 / 25)
    assert tot["t_other_s"] == pytest.approx(30 / 25) and tot["t_unscored_s"] == pytest.approx(10 / 25)
    # relaxing --max-offset makes the offset-9 window talking head
    code2, _ = L.label_frames(n, speech, tracks, windows, min_confidence=3.0, max_offset=10)
    assert (code2[40:60] == 1).all()


def test_source_sync_qc_median_over_tracks():
    w = [
        Window(0, 0, 50, 2, 5.0, 6.0),
        Window(0, 50, 100, 3, 5.0, 6.0),
        Window(1, 0, 50, 2, 5.0, 7.0),
        Window(2, 0, 50, 0, 5.0, 0.5),  # not confident: ignored
    ]
    qc = L.source_sync_qc(w, 3.0, 6)
    assert qc == {"clip_offset_frames": 2.25, "clip_offset_n_tracks": 2, "suspect_sync": True}
    assert L.source_sync_qc(w[:1] + [Window(1, 0, 50, 0, 5, 6)], 3.0, 6)["suspect_sync"] is False
    assert L.source_sync_qc([], 3.0, 6)["suspect_sync"] is None


def test_config_validation():
    with pytest.raises(ValueError, match="--only"):
        AnnotateConfig(only="lips").validate()
    with pytest.raises(ValueError, match="face-fps"):
        AnnotateConfig(face_fps=0).validate()


# ---------------------------------------------------------------- gating through the whole clip pipeline


class StubDetector:
    """One fixed face box in the middle of every frame."""

    name = "stub"

    def __init__(self):
        self.frames = 0

    def detect(self, frames):
        self.frames += len(frames)
        h, w = frames.shape[1:3]
        return [np.array([[w / 2 - 30, h / 2 - 30, w / 2 + 30, h / 2 + 30, 0.99]], np.float32) for _ in frames]


class StubTagger:
    name = "stub"
    labels = ["Speech", "Silence"]
    mids = ["/m/09x0r", "/m/028v0c"]

    def tag(self, audio, window_s, hop_s):
        starts = np.arange(0, max(len(audio) / 16000 - window_s, 0) + 1e-9, hop_s)
        return starts, np.tile([0.9, 0.1], (len(starts), 1))


def test_pipeline_scores_only_speech_with_a_face(ted_clip, tmp_path):
    from realsync_build.stages.annotate.clip import annotate_media

    muted = tmp_path / "ted_muted.mp4"  # the speaker is silent from 4 s to 11 s
    run_ffmpeg(["-i", str(ted_clip), "-t", "14", "-af", "volume=enable='between(t,4,11)':volume=0", "-c:v", "copy", "-c:a", "aac", str(muted)])
    cfg = AnnotateConfig(min_confidence=3.0, max_offset=6, face_fps_idle=5.0, face_fps_steady=5.0)  # faces at 5 fps everywhere
    det, scorer = StubDetector(), CountingScorer(offset=0, confidence=5.0)
    res = annotate_media("ted", muted, cfg, det, scorer, StubTagger())
    n = int(round(res.row["duration_s"] * 25))
    assert det.frames == len(range(0, n, 5))  # faces at 5 fps
    speech = frame_mask(res.speech, n)
    assert not speech[int(4.3 * 25) : int(10.9 * 25)].any()
    assert scorer.calls == len(res.windows) >= 2
    assert sum(scorer.frames) == res.scored_frames <= int(speech.sum())
    for w in res.windows:
        assert speech[w.start_frame : w.end_frame].all()  # nothing scored in the silent span
    # labels follow the stub's confident, in-sync answers: speech with the face is talking head
    assert res.row["t_th_s"] > 3.0 and res.row["t_vo_s"] == 0 and res.row["sync_status"] == "done"
    assert res.row["clip_offset_frames"] == 0 and res.row["suspect_sync"] is False
    assert [e["label"] for e in res.events][:1] == ["Speech"]

    # the default schedule: faces at 1 fps more than 1 s away from speech, where no label reads them
    from realsync_build.stages.annotate.video import near_speech

    idle_det = StubDetector()
    idle = annotate_media("ted", muted, AnnotateConfig(min_confidence=3.0, max_offset=6, face_fps_steady=5.0), idle_det,
                          CountingScorer(offset=0, confidence=5.0), StubTagger())  # fmt: skip
    near = near_speech(speech, 25)
    assert idle_det.frames == len([f for f in range(0, n, 5) if near[f] or f % 25 == 0]) < det.frames
    labels = [(r["start_s"], r["end_s"], r["label"]) for r in res.intervals]
    assert [(r["start_s"], r["end_s"], r["label"]) for r in idle.intervals] == labels
    # and near speech, while the face is found at every sample, every other 5 fps sample is skipped
    steady_det = StubDetector()
    steady = annotate_media("ted", muted, AnnotateConfig(min_confidence=3.0, max_offset=6), steady_det, CountingScorer(offset=0, confidence=5.0), StubTagger())
    assert steady_det.frames == len([f for f in range(0, n, 5) if (near[f] and f % 10 == 0) or (not near[f] and f % 25 == 0)])
    assert steady.skipped_samples == len([f for f in range(0, n, 5) if near[f] and f % 10 == 5])
    assert [(r["start_s"], r["end_s"], r["label"]) for r in steady.intervals] == labels

    naive_scorer = CountingScorer()
    naive = annotate_media("ted", muted, AnnotateConfig(vad_gating=False), StubDetector(), naive_scorer, StubTagger())
    assert naive.scored_frames == n  # the one track spans the clip: every frame scored
    assert naive_scorer.calls == naive.row["n_tracks"]  # no gating: each track is one run, scored once

    # an out-of-sync stub: confident but 8 frames off -> not talking head under --max-offset 6
    off = annotate_media("ted", muted, cfg, StubDetector(), CountingScorer(offset=8, confidence=5.0), StubTagger())
    assert off.row["t_th_s"] == 0 and off.row["t_vo_s"] > 3.0


class BrightFaceDetector:
    """A face in the middle of every bright frame, none in a dark one; counts the frames it sees."""

    name = "bright"

    def __init__(self):
        self.frames = 0

    def detect(self, frames):
        self.frames += len(frames)
        return [np.array([[130, 90, 190, 150, 0.99]], np.float32) if f.mean() > 128 else np.zeros((0, 5), np.float32) for f in frames]


def test_a_missed_face_brings_back_every_sample_so_tracks_end_where_they_did(tmp_path):
    from realsync_build.stages.annotate.video import Timings, detect_and_track

    clip = tmp_path / "gone.mp4"  # the face is gone from 1.6 s to 2.4 s (the picture goes dark), then back
    run_ffmpeg(["-f", "lavfi", "-i", "color=c=white:size=320x240:rate=25:duration=4,drawbox=enable='between(t,1.6,2.4)':x=0:y=0:w=320:h=240:color=black:t=fill",
                "-c:v", "libx264", "-preset", "ultrafast", str(clip)])  # fmt: skip
    spans = {}
    for steady in (5.0, 2.5):
        det = BrightFaceDetector()
        res = detect_and_track(clip, 100, det, None, AnnotateConfig(face_batch=4, face_fps_steady=steady), Timings())
        spans[steady] = ([(t.first, t.last) for t in res.tracks], det.frames, res.skipped_samples)
    every, steady = spans[5.0], spans[2.5]
    assert len(every[0]) >= 2 and steady[0] == every[0]  # same tracks, ending and starting at the same frames
    assert steady[1] < every[1] and steady[2] > 0  # fewer detector frames
