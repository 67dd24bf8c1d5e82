"""Scenario labels per 25 fps frame (the paper's Table 6 scenarios), intervals, totals, source-sync QC.

Per frame (``min_confidence`` = ``--min-confidence``, ``max_offset`` = ``--max-offset``);
a "window" is one SyncNet evaluation of a whole speech-and-face run of a track:

* ``talking_head``: speech, and a scored run of a face track covering the frame
  has ``confidence >= min_confidence`` and ``|offset_frames| <= max_offset``
  (SyncNet accepts it: the face visibly speaks the audible speech).  The most
  confident such run names the interval's track, offset, min distance and
  confidence.
* ``voice_over``: speech, a face on screen, every face on the frame scored and
  rejected ("the visible individual is not the actual speaker").  The interval
  carries the best-scoring rejected run's values, so the reason is visible.
* ``unscored``: speech and a face on the frame that was not scored: SyncNet
  weights absent (``sync_status`` = skipped) or the face's speech run shorter
  than ``--min-sync-run``.  Either class would be a guess; it stays its own.
* ``other``: no speech; or speech with no usable face on screen (no track:
  nobody, or only faces below ``--min-face-px`` / ``--min-face-score``).  The
  paper's "others" range "from people-free scenes to those with non-speaking
  individuals", and its sports channels have only a few hours of voice-over
  although commentary runs almost continuously: speech over a faceless wide
  shot is not voice-over.

Source-sync QC: a track's offset is the median offset of its talking-head
windows; the clip's offset is the median over those tracks
(``clip_offset_frames``, ``clip_offset_n_tracks``); ``suspect_sync`` when it is
beyond +/- ``suspect_frames`` (1 frame).  Offsets beyond ``max_offset`` never
count as talking head, so raise ``--max-offset`` to look for larger drifts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from realsync_build.stages.annotate.decode import FPS
from realsync_build.stages.annotate.sync import Window

OTHER, TALKING_HEAD, VOICE_OVER, UNSCORED = "other", "talking_head", "voice_over", "unscored"
_NAMES = (OTHER, TALKING_HEAD, VOICE_OVER, UNSCORED)


@dataclass
class TrackSpan:
    track_id: int
    first: int  # frame
    last: int  # frame, inclusive


def is_talking(w: Window, min_confidence: float, max_offset: int) -> bool:
    return w.confidence >= min_confidence and abs(w.offset_frames) <= max_offset


def label_frames(
    n_frames: int,
    speech: np.ndarray,
    tracks: list[TrackSpan],
    windows: list[Window],
    min_confidence: float,
    max_offset: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Per frame: label code (index into OTHER, TALKING_HEAD, VOICE_OVER, UNSCORED) and window index (-1 none)."""
    present = np.zeros(n_frames, np.int32)
    for t in tracks:
        present[max(0, t.first) : min(n_frames, t.last + 1)] += 1
    scored = np.zeros(n_frames, np.int32)
    good_conf = np.full(n_frames, -np.inf)
    good_idx = np.full(n_frames, -1, np.int64)
    any_conf = np.full(n_frames, -np.inf)
    any_idx = np.full(n_frames, -1, np.int64)
    for k, w in enumerate(windows):
        sl = slice(max(0, w.start_frame), min(n_frames, w.end_frame))
        scored[sl] += 1
        better = any_conf[sl] < w.confidence
        any_conf[sl] = np.where(better, w.confidence, any_conf[sl])
        any_idx[sl] = np.where(better, k, any_idx[sl])
        if is_talking(w, min_confidence, max_offset):
            better = good_conf[sl] < w.confidence
            good_conf[sl] = np.where(better, w.confidence, good_conf[sl])
            good_idx[sl] = np.where(better, k, good_idx[sl])
    speech = np.asarray(speech[:n_frames], bool)
    code = np.zeros(n_frames, np.int8)
    widx = np.full(n_frames, -1, np.int64)
    th = speech & (good_idx >= 0)
    code[th], widx[th] = 1, good_idx[th]
    rest = speech & ~th & (present > 0)  # speech with no face on screen stays other
    unscored = rest & (present > scored)
    code[unscored] = 3
    vo = rest & ~unscored
    code[vo] = 2
    widx[vo] = any_idx[vo]
    return code, widx


def intervals(
    clip_id: str, code: np.ndarray, widx: np.ndarray, windows: list[Window]
) -> list[dict]:
    """Runs of equal (label, window) as interval rows."""
    rows: list[dict] = []
    n = len(code)
    if n == 0:
        return rows
    change = np.flatnonzero((np.diff(code) != 0) | (np.diff(widx) != 0)) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [n]])
    for a, b in zip(starts, ends):
        k = int(widx[a])
        w = windows[k] if k >= 0 else None
        rows.append(
            {
                "clip_id": clip_id,
                "start_s": a / FPS,
                "end_s": b / FPS,
                "label": _NAMES[int(code[a])],
                "track_id": w.track_id if w else None,
                "offset_frames": w.offset_frames if w else None,
                "min_dist": w.min_dist if w else None,
                "confidence": w.confidence if w else None,
            }
        )
    return rows


def totals(code: np.ndarray) -> dict:
    counts = np.bincount(code.astype(np.int64), minlength=4)
    return {
        "t_other_s": counts[0] / FPS,
        "t_th_s": counts[1] / FPS,
        "t_vo_s": counts[2] / FPS,
        "t_unscored_s": counts[3] / FPS,
    }


def source_sync_qc(windows: list[Window], min_confidence: float, max_offset: int, suspect_frames: float = 1.0) -> dict:
    per_track: dict[int, list[int]] = {}
    for w in windows:
        if is_talking(w, min_confidence, max_offset):
            per_track.setdefault(w.track_id, []).append(w.offset_frames)
    if not per_track:
        return {"clip_offset_frames": None, "clip_offset_n_tracks": 0, "suspect_sync": None}
    offsets = [float(np.median(v)) for v in per_track.values()]
    clip_offset = float(np.median(offsets))
    return {
        "clip_offset_frames": clip_offset,
        "clip_offset_n_tracks": len(offsets),
        "suspect_sync": bool(abs(clip_offset) > suspect_frames),
    }


def track_sync_summary(track_id: int, windows: list[Window], min_confidence: float, max_offset: int) -> dict:
    mine = [w for w in windows if w.track_id == track_id]
    good = [w for w in mine if is_talking(w, min_confidence, max_offset)]
    return {
        "n_windows": len(mine),
        "n_talking_windows": len(good),
        "offset_frames": float(np.median([w.offset_frames for w in good])) if good else None,
        "confidence": float(np.median([w.confidence for w in mine])) if mine else None,
        "talking": bool(good),
    }
