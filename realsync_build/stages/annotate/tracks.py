"""Face tracks: IoU linking of sampled detections within a shot, interpolation to 25 fps, crops.

Detections arrive only on sampled frames (``--face-fps``, default 5 of 25).  A
detection joins the active track whose last box overlaps it most (greedy on
IoU, at least ``iou_min``); unmatched detections start tracks; a track missing
for more than ``max_missed`` sampled frames ends, and every active track ends
at a shot cut, so no track crosses a cut.  Between two detections of a track
the box is interpolated linearly (x1, y1, x2, y2) for every 25 fps frame.
Tracks spanning fewer than ``min_track_frames`` frames are dropped at the end.

:func:`smoothed_boxes` then does what syncnet_python's ``crop_video`` does to a
track before cropping: the box's half size ``s = max(w, h) / 2`` and its centre
are median filtered over ``SMOOTH_FRAMES`` (13) frames of the whole track, with
``scipy.signal.medfilt``'s zero padding at the track's ends.  The filter at frame
``f`` reads frames ``f - 6 .. f + 6`` only, so the video pass can crop a frame as
soon as the track's boxes 6 frames later are known (or the track has ended).

:func:`crop_face` cuts the SyncNet input around a box: a square of side
``2 * (1 + crop_scale) * s`` (``s`` = half the box's longer side) centred
horizontally on the box and reaching ``s * (1 + 2 * crop_scale)`` below the
box centre but only ``s`` above it (mouth and chin sit low in the crop), the
frame padded with grey (110), resized to 224 x 224 (``crop_scale`` 0.4).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

CROP_SIZE = 224
CROP_SCALE = 0.4
SMOOTH_FRAMES = 13  # syncnet_python's median kernel for box size and centre


def iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@dataclass
class Track:
    track_id: int
    shot_id: int
    det_frames: list[int] = field(default_factory=list)
    det_boxes: list[np.ndarray] = field(default_factory=list)  # (5,) x1 y1 x2 y2 score
    missed: int = 0
    active: bool = True
    lead: int = 0  # frames covered before the first detection (since the previous sampled frame)
    tail: int = 0  # frames covered after the last detection (until the next sampled frame)

    @property
    def first_det(self) -> int:
        return self.det_frames[0]

    @property
    def last_det(self) -> int:
        return self.det_frames[-1]

    @property
    def first(self) -> int:
        return self.det_frames[0] - self.lead

    @property
    def last(self) -> int:
        return self.det_frames[-1] + self.tail

    @property
    def n_frames(self) -> int:
        return self.last - self.first + 1

    def add(self, frame: int, box: np.ndarray) -> None:
        self.det_frames.append(int(frame))
        self.det_boxes.append(np.asarray(box, np.float32)[:5])
        self.missed = 0

    def boxes(self, f0: int | None = None, f1: int | None = None) -> np.ndarray:
        """Interpolated ``(n, 4)`` boxes for frames ``f0..f1`` inclusive (default: the whole track);
        before the first / after the last detection the nearest box is held."""
        f0 = self.first if f0 is None else f0
        f1 = self.last if f1 is None else f1
        frames = np.arange(f0, f1 + 1)
        xs = np.asarray(self.det_frames, np.float64)
        b = np.stack(self.det_boxes)[:, :4].astype(np.float64)
        return np.stack([np.interp(frames, xs, b[:, k]) for k in range(4)], axis=1).astype(np.float32)


def smoothed_boxes(track: Track, f0: int, f1: int, kernel: int = SMOOTH_FRAMES) -> np.ndarray:
    """Median-smoothed ``(n, 4)`` square boxes for frames ``f0..f1`` (inclusive) of ``track``.

    Equal to ``scipy.signal.medfilt(x, kernel)`` over the whole track of each of the half
    size, centre x and centre y (zero padded at the track's ends, as scipy pads), evaluated
    at ``f0..f1``; returned as boxes ``cx -+ s, cy -+ s``.  The caller guarantees that the
    track's boxes up to ``f1 + kernel // 2`` are final (or that the track has ended).
    """
    from realsync_build.models.syncnet import medfilt

    half = kernel // 2
    lo, hi = f0 - half, f1 + half
    a, b = max(track.first, lo), min(track.last, hi)
    params = np.zeros((hi - lo + 1, 3))
    if b >= a:
        raw = track.boxes(a, b).astype(np.float64)
        params[a - lo : b - lo + 1] = np.stack(
            [
                np.maximum(raw[:, 2] - raw[:, 0], raw[:, 3] - raw[:, 1]) / 2,
                (raw[:, 0] + raw[:, 2]) / 2,
                (raw[:, 1] + raw[:, 3]) / 2,
            ],
            axis=1,
        )
    s, cx, cy = (medfilt(params[:, k], kernel)[half : len(params) - half] for k in range(3))
    return np.stack([cx - s, cy - s, cx + s, cy + s], axis=1).astype(np.float32)


class Tracker:
    """Online IoU tracker; ``step`` returns, per matched or new track, the previous detection frame.

    ``step`` is the sampling period in frames: a track covers up to ``step - 1``
    frames before its first and after its last detection (within its shot), the
    frames whose sampled neighbour saw it.
    """

    def __init__(self, iou_min: float = 0.3, max_missed: int = 1, step: int = 1) -> None:
        self.iou_min = iou_min
        self.max_missed = max_missed
        self.period = max(1, step)
        self.tracks: list[Track] = []
        self.shot_id = 0
        self.shot_start = 0

    @property
    def active(self) -> list[Track]:
        return [t for t in self.tracks if t.active]

    def _end(self, t: Track, limit: int) -> None:
        t.active = False
        t.tail = max(0, min(self.period - 1, limit - t.last_det))

    def cut(self, frame: int) -> list[Track]:
        """A shot boundary at ``frame`` (the new shot's first frame): every active track ends."""
        ended = self.active
        for t in ended:
            self._end(t, frame - 1)
        self.shot_id += 1
        self.shot_start = frame
        return ended

    def _match(self, active: list[Track], dets: np.ndarray) -> list[tuple[int, int, float]]:
        """Greedy IoU matching: ``(track index, detection index, IoU)`` triples, best overlap first."""
        pairs = []
        for ti, t in enumerate(active):
            for di in range(len(dets)):
                v = iou(t.det_boxes[-1], dets[di])
                if v >= self.iou_min:
                    pairs.append((v, ti, di))
        pairs.sort(key=lambda p: -p[0])
        used_t: set[int] = set()
        used_d: set[int] = set()
        out = []
        for v, ti, di in pairs:
            if ti in used_t or di in used_d:
                continue
            used_t.add(ti)
            used_d.add(di)
            out.append((ti, di, v))
        return out

    def would_change(self, dets: np.ndarray, steady_iou: float = 0.0) -> bool:
        """Would :meth:`step` with ``dets`` miss an active track or start a new one (the set of faces
        changes), or link a face whose box moved so that its IoU with its last box is below ``steady_iou``?"""
        active = self.active
        dets = np.asarray(dets, np.float32).reshape(-1, 5) if len(dets) else np.zeros((0, 5), np.float32)
        pairs = self._match(active, dets)
        return len(pairs) < len(active) or len(pairs) < len(dets) or any(v < steady_iou for _, _, v in pairs)

    def step(self, frame: int, dets: np.ndarray) -> tuple[list[tuple[Track, int | None]], list[Track]]:
        """Link the detections of sampled ``frame``; returns ``(updates, ended)``.

        ``updates``: ``(track, previous detection frame or None for a new track)``.
        """
        active = self.active
        dets = np.asarray(dets, np.float32).reshape(-1, 5) if len(dets) else np.zeros((0, 5), np.float32)
        used_t: set[int] = set()
        used_d: set[int] = set()
        updates: list[tuple[Track, int | None]] = []
        for ti, di, _ in self._match(active, dets):
            used_t.add(ti)
            used_d.add(di)
            t = active[ti]
            prev = t.last_det
            t.add(frame, dets[di])
            updates.append((t, prev))
        ended = []
        for ti, t in enumerate(active):
            if ti not in used_t:
                t.missed += 1
                if t.missed > self.max_missed:
                    self._end(t, frame - 1)
                    ended.append(t)
        for di in range(len(dets)):
            if di not in used_d:
                t = Track(track_id=len(self.tracks), shot_id=self.shot_id)
                t.add(frame, dets[di])
                t.lead = max(0, min(self.period - 1, frame - self.shot_start))
                self.tracks.append(t)
                updates.append((t, None))
        return updates, ended

    def finish(self, last_frame: int) -> list[Track]:
        """The clip ended at ``last_frame`` (inclusive): every active track ends."""
        ended = self.active
        for t in ended:
            self._end(t, last_frame)
        return ended


def filter_detections(dets: np.ndarray, min_score: float, min_size: float) -> np.ndarray:
    dets = np.asarray(dets, np.float32).reshape(-1, 5) if len(dets) else np.zeros((0, 5), np.float32)
    if not len(dets):
        return dets
    size = np.minimum(dets[:, 2] - dets[:, 0], dets[:, 3] - dets[:, 1])
    return dets[(dets[:, 4] >= min_score) & (size >= min_size)]


def crop_face(frame: np.ndarray, box: np.ndarray, size: int = CROP_SIZE, crop_scale: float = CROP_SCALE) -> np.ndarray:
    """The ``size x size`` RGB SyncNet crop of ``frame`` around ``box`` (x1, y1, x2, y2).

    The geometry is the models package's reference crop (:func:`realsync_build.models.syncnet.crop_track`)
    applied to one frame, without smoothing there: the box comes from :func:`smoothed_boxes`,
    already median-smoothed over 13 frames of the track as the reference does.
    """
    from realsync_build.models.syncnet import crop_track

    return crop_track(frame[None], np.asarray(box, np.float32)[None, :4], crop_scale=crop_scale, size=size, smooth_kernel=1)[0]
