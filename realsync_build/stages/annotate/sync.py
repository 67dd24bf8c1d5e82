"""SyncNet scoring of face tracks where speech and a face overlap: one evaluation per run.

Crops arrive frame by frame during the single video pass, already cut around the
track's median-smoothed boxes (:func:`realsync_build.stages.annotate.tracks.smoothed_boxes`).
For each track the gated frames (speech and face; every track frame without
gating) form contiguous runs.  Each run is scored **as a whole, in one SyncNet
evaluation**, as the reference scores a whole track once: one offset, one
minimum distance, one confidence per run.  A run shorter than
``min_run_frames`` (``--min-sync-run``, 2 s) is not scored, and its frames are
labelled ``unscored``: a shorter evaluation rests on too few 5-frame windows for
its confidence to mean much.

Memory stays bounded for runs of minutes: with a scorer that offers
``open_run`` (:class:`realsync_build.models.syncnet_run.RunEvaluation`) the lip
features are computed batch by batch while the run grows and its crops are
freed; a scorer with only ``score(crops, audio)`` (test stubs) gets the run's
crops at once when it ends.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from realsync_build.stages.annotate.decode import SAMPLES_PER_FRAME
from realsync_build.stages.annotate.tracks import crop_face

WINDOW_FRAMES = 5  # SyncNet's lip window


@dataclass
class Window:
    """One SyncNet evaluation: a whole speech-and-face run of one track."""

    track_id: int
    start_frame: int
    end_frame: int  # exclusive
    offset_frames: int
    min_dist: float
    confidence: float


class _Run:
    __slots__ = ("start", "n", "crops", "evaluation")

    def __init__(self, start: int, evaluation=None) -> None:
        self.start = start
        self.n = 0
        self.crops: list[np.ndarray | None] = []  # only without a streaming evaluation
        self.evaluation = evaluation


class SyncScheduler:
    def __init__(self, scorer, audio: np.ndarray, gate: np.ndarray | None, min_run_frames: int = 50, settle=None) -> None:
        """``settle``: a :class:`~realsync_build.models.sync_settle.SettleRule` (runs stop being scored
        once their accept/reject answer is decisive); None scores every run whole."""
        self.scorer = scorer
        self.settle = settle
        self.settled = 0  # runs settled before their end
        self.lip_windows = 0  # sampled 5-frame windows whose lip features were computed
        self.audio = audio
        self.gate = gate
        self.min_run_frames = max(WINDOW_FRAMES + 1, int(min_run_frames))
        self.runs: dict[int, _Run] = {}
        self.windows: list[Window] = []
        self.calls = 0
        self.scored_frames = 0
        # the scorer's video stride: frames no sampled 5-frame window reads are not cropped
        self.stride = max(1, int(getattr(scorer, "video_stride", 1)))

    def _needed(self, p: int) -> bool:
        """Is position ``p`` of a run (0 = run start) read by a sampled 5-frame window?"""
        return self.stride <= WINDOW_FRAMES or p % self.stride < WINDOW_FRAMES

    def wants(self, frame: int) -> bool:
        return self.gate is None or (0 <= frame < len(self.gate) and bool(self.gate[frame]))

    def add(self, track_id: int, frame: int, image: np.ndarray, box: np.ndarray) -> None:
        """Offer frame ``frame`` of a track (its picture and smoothed box)."""
        if not self.wants(frame):
            self.close(track_id)
            return
        run = self.runs.get(track_id)
        if run is not None and run.start + run.n != frame:
            self.close(track_id)
            run = None
        if run is None:
            opener = getattr(self.scorer, "open_run", None)
            evaluation = None
            if opener is not None:
                audio = self.audio[frame * SAMPLES_PER_FRAME :]  # the run's audio, from its first frame
                evaluation = opener(self.min_run_frames, self.settle, audio) if self.settle is not None else opener(self.min_run_frames)
            run = self.runs[track_id] = _Run(frame, evaluation)
        needed = run.evaluation.needs(run.n) if run.evaluation is not None else self._needed(run.n)
        crop = crop_face(image, box) if needed else None
        run.n += 1
        if run.evaluation is not None:
            run.evaluation.push(crop)
        else:
            run.crops.append(crop)

    def close(self, track_id: int) -> None:
        """The track's current run ends (silence, a gap, or the track ended): score it once."""
        run = self.runs.pop(track_id, None)
        if run is None or run.n < self.min_run_frames:
            return
        n = run.n
        audio = self.audio[run.start * SAMPLES_PER_FRAME : (run.start + n) * SAMPLES_PER_FRAME]
        if audio.size < n * SAMPLES_PER_FRAME:
            audio = np.pad(audio, (0, n * SAMPLES_PER_FRAME - audio.size))
        if run.evaluation is not None:
            res = run.evaluation.finish(audio)
            self.settled += run.evaluation.settled is not None
            self.lip_windows += run.evaluation.settled_windows if run.evaluation.settled is not None else len(run.evaluation._starts)
        else:
            crops = run.crops
            res = self.scorer.score(np.stack(crops) if all(c is not None for c in crops) else crops, audio)
        self.calls += 1
        self.scored_frames += n
        self.windows.append(
            Window(track_id, run.start, run.start + n, int(res.offset_frames), float(res.min_dist), float(res.confidence))
        )

    def close_all(self) -> None:
        for tid in list(self.runs):
            self.close(tid)
