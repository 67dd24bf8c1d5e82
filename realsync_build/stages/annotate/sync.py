"""SyncNet scoring of face tracks in windows, only where speech and a face overlap (VAD gating).

Crops arrive frame by frame during the single video pass.  For each track the
gated frames (speech and face) form contiguous runs; a run is cut into windows
of ``window_frames`` (a shorter tail down to ``min_window_frames`` is scored on
its own; a run shorter than that is not scored).  Every window is scored as
soon as its crops are complete, and its crops are freed, so memory stays at a
few windows.  Without gating (the naive schedule) every track frame is scored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from realsync_build.stages.annotate.decode import SAMPLES_PER_FRAME
from realsync_build.stages.annotate.tracks import crop_face

WINDOW_FRAMES = 5  # SyncNet's lip window


@dataclass
class Window:
    track_id: int
    start_frame: int
    end_frame: int  # exclusive
    offset_frames: int
    min_dist: float
    confidence: float


class _Run:
    __slots__ = ("start", "crops")

    def __init__(self, start: int) -> None:
        self.start = start
        self.crops: list[np.ndarray] = []


class SyncScheduler:
    def __init__(
        self,
        scorer,
        audio: np.ndarray,
        gate: np.ndarray | None,
        window_frames: int = 125,
        min_window_frames: int = 25,
    ) -> None:
        self.scorer = scorer
        self.audio = audio
        self.gate = gate
        self.window_frames = max(1, window_frames)
        self.min_window_frames = max(1, min(min_window_frames, window_frames))
        self.runs: dict[int, _Run] = {}
        self.windows: list[Window] = []
        self.calls = 0
        self.scored_frames = 0
        # the scorer's video stride: frames no sampled 5-frame window reads are not cropped
        self.stride = max(1, int(getattr(scorer, "video_stride", 1)))

    def _needed(self, p: int) -> bool:
        """Is position ``p`` of a run (0 = run start) read by a sampled window of the window it ends up in?

        A run is cut into chunks of ``window_frames`` except the last, which may hold up to
        ``window_frames + min_window_frames - 1`` frames, so a frame past ``window_frames``
        may start a new chunk or stay in the old one: it is cropped if either needs it.
        """
        if self.stride <= WINDOW_FRAMES:
            return True  # every frame is read by some sampled window
        in_chunk = p % self.window_frames
        if in_chunk % self.stride < WINDOW_FRAMES:
            return True
        return p >= self.window_frames and (in_chunk + self.window_frames) % self.stride < WINDOW_FRAMES

    def wants(self, frame: int) -> bool:
        return self.gate is None or (0 <= frame < len(self.gate) and bool(self.gate[frame]))

    def add(self, track_id: int, frame: int, image: np.ndarray, box: np.ndarray) -> None:
        """Offer frame ``frame`` of a track (its picture and interpolated box)."""
        if not self.wants(frame):
            self.close(track_id)
            return
        run = self.runs.get(track_id)
        if run is not None and run.start + len(run.crops) != frame:
            self.close(track_id)
            run = None
        if run is None:
            run = self.runs[track_id] = _Run(frame)
        p = len(run.crops)
        run.crops.append(crop_face(image, box) if self._needed(p) else None)
        if len(run.crops) >= self.window_frames + self.min_window_frames:
            self._score(track_id, run.start, run.crops[: self.window_frames])
            run.crops = run.crops[self.window_frames :]
            run.start += self.window_frames

    def close(self, track_id: int) -> None:
        """The track's current run ends (silence, a gap, or the track ended)."""
        run = self.runs.pop(track_id, None)
        if run is not None and len(run.crops) >= self.min_window_frames:
            self._score(track_id, run.start, run.crops)

    def close_all(self) -> None:
        for tid in list(self.runs):
            self.close(tid)

    def _score(self, track_id: int, start: int, crops: list[np.ndarray]) -> None:
        n = len(crops)
        audio = self.audio[start * SAMPLES_PER_FRAME : (start + n) * SAMPLES_PER_FRAME]
        if audio.size < n * SAMPLES_PER_FRAME:
            audio = np.pad(audio, (0, n * SAMPLES_PER_FRAME - audio.size))
        res = self.scorer.score(np.stack(crops) if all(c is not None for c in crops) else crops, audio)
        self.calls += 1
        self.scored_frames += n
        self.windows.append(
            Window(track_id, start, start + n, int(res.offset_frames), float(res.min_dist), float(res.confidence))
        )
