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
    skipped_samples: int = 0  # optional samples skipped while every track was found


SPEECH_MARGIN_S = 1.0  # faces are detected at --face-fps within this distance of speech
STEADY_IOU = 0.6  # a skipped sample stands only if every face's box overlaps its last one this much


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

    Near speech, a sample off the ``--face-fps-steady`` grid is **optional**: it is skipped when
    every active track was found at the previous sample (the boxes between two detections are
    interpolated, as between any two samples).  The skip is provisional: when the next sample
    finds the set of faces changed (a track missed, a new face) or a face moved (its box's IoU
    with its last one below ``STEADY_IOU``: linking over two sample periods could then differ
    from linking through the skipped sample), and at a cut or the clip's end, the skipped sample
    is detected after all and linked first, so tracks start and end where detecting every
    sample puts them (unless a face comes and goes between two samples).
    ``on_media_s(seconds)``: called with the media time decoded so far (progress)."""
    step = max(1, int(round(FPS / cfg.face_fps)))
    idle_step = max(step, int(round(FPS / getattr(cfg, "face_fps_idle", cfg.face_fps))))
    steady_step = max(step, int(round(FPS / getattr(cfg, "face_fps_steady", cfg.face_fps))))
    optional: set[int] = set()  # pending samples that may be skipped (see above)
    skipped = 0
    provisional: int | None = None  # a skipped sample not yet confirmed by the next one
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

    def link(i: int, dets: np.ndarray) -> None:
        updates, ended = tracker.step(i, dets)
        close(ended)
        for t, _ in updates:
            offer(t, i - lag)  # the smoothing at frame f reads the boxes up to f + lag

    def backfill() -> None:
        """Detect the provisionally skipped sample after all, and link it."""
        nonlocal provisional, skipped, detected
        if provisional is None:
            return
        t0 = time.process_time()
        dets = detector.detect(buf[provisional][None])[0]
        t0 = timings.add("faces", t0)
        detected += 1
        skipped -= 1
        link(provisional, filter_detections(dets, cfg.min_face_score, cfg.min_face_px))
        provisional = None
        timings.add("sync", t0)

    def flush() -> None:
        nonlocal detected, skipped, provisional
        if not pending:
            return
        t0 = time.process_time()
        sure = [i for i in pending if i not in optional]
        found: dict[int, np.ndarray] = {}
        for k in range(0, len(sure), face_batch):
            chunk = sure[k : k + face_batch]
            found.update(zip(chunk, detector.detect(np.stack([buf[i] for i in chunk]))))
        detected += len(sure)
        t0 = timings.add("faces", t0)
        for i in pending:
            if i in optional:
                optional.discard(i)
                if provisional is None and all(t.missed == 0 for t in tracker.active):
                    provisional = i  # every face was found at the previous sample: interpolate through this one
                    skipped += 1
                    continue
                t0 = timings.add("sync", t0)
                found[i] = detector.detect(buf[i][None])[0]
                detected += 1
                t0 = timings.add("faces", t0)
            dets = filter_detections(found.pop(i), cfg.min_face_score, cfg.min_face_px)
            if provisional is not None:
                if tracker.would_change(dets, STEADY_IOU):
                    t0 = timings.add("sync", t0)
                    backfill()  # the faces changed: the skipped sample is needed after all
                    t0 = time.process_time()
                provisional = None
            link(i, dets)
        timings.add("sync", t0)
        pending.clear()
        active = tracker.active
        keep_from = min([handed.get(t.track_id, t.first) for t in active], default=i + 1)
        if provisional is not None:
            keep_from = min(keep_from, provisional)
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
            backfill()  # where the shot's last tracks end depends on that sample
            close(tracker.cut(idx))
            t0 = time.process_time()
        if on_media_s is not None:
            on_media_s((idx + 1) / FPS)
        in_near = near is None or idx >= len(near) or bool(near[idx])
        if cut or (idx % step == 0 and (in_near or idx % idle_step == 0)):
            pending.append(idx)
            if not cut and in_near and idx % steady_step != 0:
                optional.add(idx)
        if len(pending) >= face_batch:
            flush()
            t0 = time.process_time()
    flush()
    backfill()
    close(tracker.finish(last))
    if scheduler is not None:
        t0 = time.process_time()
        scheduler.close_all()
        timings.add("sync", t0)
    n = last + 1
    return VideoResult(tracks=tracker.tracks, n_shots=len(shots.shot_bounds(n)), n_frames=n, detected_frames=detected, skipped_samples=skipped)


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
