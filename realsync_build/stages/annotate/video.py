"""The single video pass: shots, sampled face detection, tracking and gated SyncNet crops.

Frames stream from the decoder into a small buffer; sampled frames (every
``25 / face_fps``-th, plus the first frame of each shot) are detected in
batches; each new detection extends its track (boxes interpolated linearly
between detections).  A track frame goes, with its buffered picture and its
median-smoothed box (:func:`smoothed_boxes`, 13 frames as syncnet_python), to
the :class:`SyncScheduler` as soon as the track's boxes 6 frames later are
known, or when the track ends.  Frames every active track has handed on are
dropped, so memory stays at a few dozen frames.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from realsync_build.stages.annotate.decode import FPS, iter_frames, prefetch
from realsync_build.stages.annotate.config import FACE_BATCH_CPU
from realsync_build.stages.annotate.shots import ShotDetector
from realsync_build.stages.annotate.sync import SyncScheduler
from realsync_build.stages.annotate.tracks import SMOOTH_FRAMES, Track, Tracker, filter_detections, smoothed_boxes


@dataclass
class Timings:
    """CPU seconds (process time: all threads) per stage."""

    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, stage: str, t0: float) -> float:
        now = time.process_time()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + now - t0
        return now


@dataclass
class VideoResult:
    tracks: list[Track]
    n_shots: int
    n_frames: int
    detected_frames: int


SPEECH_MARGIN_S = 1.0  # faces are detected at --face-fps within this distance of speech


def near_speech(speech: np.ndarray, margin_frames: int) -> np.ndarray:
    """Frames within ``margin_frames`` of a speech frame (the speech mask dilated)."""
    speech = np.asarray(speech, bool)
    if not speech.any():
        return np.zeros_like(speech)
    c = np.concatenate([[0], np.cumsum(speech)])
    n = len(speech)
    idx = np.arange(n)
    lo, hi = np.maximum(0, idx - margin_frames), np.minimum(n, idx + margin_frames + 1)
    return (c[hi] - c[lo]) > 0


def detect_and_track(
    path,
    n_frames: int,
    detector,
    scheduler: SyncScheduler | None,
    cfg,
    timings: Timings,
    near: np.ndarray | None = None,
    on_media_s=None,
) -> VideoResult:
    """The video pass.  ``near``: frames near speech (:func:`near_speech`), sampled at ``--face-fps``;
    elsewhere the detector runs at ``--face-fps-idle`` (None: ``--face-fps`` everywhere).
    ``on_media_s(seconds)``: called with the media time decoded so far (progress)."""
    step = max(1, int(round(FPS / cfg.face_fps)))
    idle_step = max(step, int(round(FPS / getattr(cfg, "face_fps_idle", cfg.face_fps))))
    # the worker sets cfg.face_batch for its device (clip.resolve_batches); 0 here: the CPU default
    face_batch = max(1, cfg.face_batch or FACE_BATCH_CPU)
    shots = ShotDetector(threshold=cfg.shot_threshold)
    tracker = Tracker(iou_min=cfg.iou_min, max_missed=cfg.max_missed, step=step)
    buf: dict[int, np.ndarray] = {}
    pending: list[int] = []
    detected = 0
    lag = SMOOTH_FRAMES // 2
    handed: dict[int, int] = {}  # track id -> first frame not yet handed to the scheduler

    def offer(t: Track, upto: int) -> None:
        """Hand track ``t``'s frames up to ``upto`` (smoothed boxes) to the scheduler."""
        f0 = handed.get(t.track_id, t.first)
        if upto < f0:
            return
        handed[t.track_id] = upto + 1
        if scheduler is None:
            return
        boxes = smoothed_boxes(t, f0, upto)
        for k, f in enumerate(range(f0, upto + 1)):
            scheduler.add(t.track_id, f, buf[f], boxes[k])

    def close(ended: list[Track]) -> None:
        for t in ended:
            offer(t, t.last)  # the rest of the track, the covered frames after the last detection included
            if scheduler is not None:
                scheduler.close(t.track_id)

    def flush() -> None:
        nonlocal detected
        if not pending:
            return
        t0 = time.process_time()
        dets_all: list[np.ndarray] = []
        for k in range(0, len(pending), face_batch):
            chunk = pending[k : k + face_batch]
            dets_all.extend(detector.detect(np.stack([buf[i] for i in chunk])))
        detected += len(pending)
        t0 = timings.add("faces", t0)
        for i, dets in zip(pending, dets_all):
            updates, ended = tracker.step(i, filter_detections(dets, cfg.min_face_score, cfg.min_face_px))
            close(ended)
            for t, _ in updates:
                offer(t, i - lag)  # the smoothing at frame f reads the boxes up to f + lag
        timings.add("sync", t0)
        pending.clear()
        active = tracker.active
        keep_from = min([handed.get(t.track_id, t.first) for t in active], default=i + 1)
        for f in [f for f in buf if f < keep_from]:
            del buf[f]

    t0 = time.process_time()
    last = -1
    for idx, img in prefetch(iter_frames(path, n_frames), cfg.decode_queue):
        t0 = timings.add("decode", t0)
        buf[idx] = img
        last = idx
        cut = shots.update(img)
        t0 = timings.add("shots", t0)
        if cut:
            flush()
            close(tracker.cut(idx))
            t0 = time.process_time()
        if on_media_s is not None:
            on_media_s((idx + 1) / FPS)
        if cut or (idx % step == 0 and (near is None or idx >= len(near) or near[idx] or idx % idle_step == 0)):
            pending.append(idx)
        if len(pending) >= face_batch:
            flush()
            t0 = time.process_time()
    flush()
    close(tracker.finish(last))
    if scheduler is not None:
        t0 = time.process_time()
        scheduler.close_all()
        timings.add("sync", t0)
    n = last + 1
    return VideoResult(tracks=tracker.tracks, n_shots=len(shots.shot_bounds(n)), n_frames=n, detected_frames=detected)


def replay_tracks(
    path, n_frames: int, tracks: list[Track], scheduler: SyncScheduler, timings: Timings, decode_queue: int = 32, on_media_s=None
) -> int:
    """Score stored tracks again (``--only sync``): decode, crop gated track frames, score."""
    wanted: dict[int, list[tuple[int, np.ndarray]]] = {}
    ends: dict[int, list[int]] = {}
    for t in tracks:
        boxes = smoothed_boxes(t, t.first, t.last)
        for k, f in enumerate(range(t.first, t.last + 1)):
            if scheduler.wants(f):
                wanted.setdefault(f, []).append((t.track_id, boxes[k]))
        ends.setdefault(t.last, []).append(t.track_id)
    if not wanted:
        return 0
    last_needed = max(wanted)
    t0 = time.process_time()
    n = 0
    for idx, img in prefetch(iter_frames(path, n_frames), decode_queue):
        t0 = timings.add("decode", t0)
        n = idx + 1
        if on_media_s is not None:
            on_media_s(n / FPS)
        for tid, box in wanted.get(idx, ()):
            scheduler.add(tid, idx, img, box)
        for tid in ends.get(idx, ()):
            scheduler.close(tid)
        t0 = timings.add("sync", t0)
        if idx >= last_needed:
            break
    scheduler.close_all()
    timings.add("sync", t0)
    return n
