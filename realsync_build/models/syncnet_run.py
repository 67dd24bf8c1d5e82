"""One SyncNet evaluation of a whole speech-and-face run, fed crop by crop (``SyncNetScorer.open_run``).

The numbers of :meth:`realsync_build.models.syncnet.SyncNetScorer.score` on the whole run, with
memory bounded by a batch of crops; with a settling rule (:mod:`realsync_build.models.sync_settle`)
the run stops being scored once its accept/reject answer is decisive.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from realsync_build.models.base import SyncResult
from realsync_build.core.avformat import SAMPLE_RATE as SAMPLE_RATE_HZ
from realsync_build.models.syncnet_math import WINDOW_FRAMES, n_windows, sync_offset, window_distances

SyncNetScorer = Any  # realsync_build.models.syncnet.SyncNetScorer (not imported: it builds this class)


class RunEvaluation:
    """One SyncNet evaluation of a whole face run, fed crop by crop, with bounded memory.

    The same numbers as :meth:`SyncNetScorer.score` on all the run's crops at once (the
    reference scores a whole track in one evaluation), but lip features are computed as
    soon as a batch of windows is complete and their crops are freed, so a minutes-long
    run holds a batch of crops and one 1024-d feature per window, not every crop.

    Window ``t`` (frames ``t .. t+4``) is certainly scored once frame ``t + 5`` exists: the
    reference scores ``min(frames, samples // 640) - 5`` windows and the audio always covers
    the run here.  ``hold_frames``: no lip work before the run is that long (shorter runs
    are dropped unscored, so their crops are never embedded).

    ``settle`` (a :class:`~realsync_build.models.sync_settle.SettleRule`, with ``audio`` from
    the run's first sample): after each batch of lip features the run so far is evaluated as a
    run of its own, and once the rule finds the accept/reject answer decisive the run is
    **settled**: no further crops are needed (:meth:`needs` is false), and :meth:`finish`
    returns that evaluation.  Without it (or ``alpha = 0``) the whole run is scored.
    """

    def __init__(self, scorer: SyncNetScorer, hold_frames: int = 0, settle=None, audio: np.ndarray | None = None) -> None:
        self.scorer = scorer
        self.stride = scorer.video_stride
        self.hold_frames = max(0, int(hold_frames))
        self.n_frames = 0
        self._next = 0  # first window not yet queued
        self._ready: list[int] = []  # queued sampled windows whose lip features are not computed
        self._crops: dict[int, np.ndarray] = {}
        self._feats: list[torch.Tensor] = []
        self._starts: list[int] = []
        self.rule = settle if settle is not None and settle.enabled and audio is not None else None
        self.audio = audio
        self._afeats: list[np.ndarray] = []  # audio features of windows 0 .. len - 1 (settling only)
        self._rows: list[np.ndarray] = []  # final distance rows of the first sampled windows (settling only)
        self.looks = 0
        self._look_at = 0  # windows the next look waits for: looks at geometrically growing lengths
        self.settled: SyncResult | None = None
        self.settled_windows = 0  # sampled windows the settled evaluation used

    def needs(self, p: int) -> bool:
        """Does a sampled window read frame ``p`` of the run (else it need not be cropped)?"""
        if self.settled is not None:
            return False
        return self.stride <= WINDOW_FRAMES or p % self.stride < WINDOW_FRAMES

    def push(self, crop) -> None:
        """The run's next 25 fps crop (``(H, W, 3)`` RGB uint8, or ``None`` where :meth:`needs` is false)."""
        p = self.n_frames
        self.n_frames += 1
        if self.settled is not None:
            return
        if crop is not None:
            self._crops[p] = self.scorer._frame(crop)
        while self._next + WINDOW_FRAMES < self.n_frames:
            if self._next % self.stride == 0:
                self._ready.append(self._next)
            self._next += 1
        if self.n_frames >= self.hold_frames and len(self._ready) >= self.scorer.batch_size:
            self._flush()
            if self.rule is not None and len(self._starts) >= self._look_at:
                # each look re-reads the run's features: looking at lengths 1.25x apart keeps a long
                # undecided run's looks to O(log n) (and spends less of alpha per window)
                self._look_at = max(int(1.25 * len(self._starts)), len(self._starts) + self.scorer.batch_size)
                self._look()

    @torch.inference_mode()
    def _flush(self) -> None:
        """Lip features of every queued window; then free the crops no later window reads."""
        starts, self._ready = self._ready, []
        for i in range(0, len(starts), self.scorer.batch_size):
            batch = starts[i : i + self.scorer.batch_size]
            self._feats.append(self.scorer._lip(self._crops, batch))
            self._starts.extend(batch)
        for f in [f for f in self._crops if f < self._next]:
            del self._crops[f]

    @torch.inference_mode()
    def _look(self) -> None:
        """Evaluate the run so far as a run of its own; settle when the rule finds it decisive."""
        from realsync_build.models.sync_settle import decide

        n = self._starts[-1] + 1  # windows of the prefix run (its last sampled window is the last one)
        have = sum(len(a) for a in self._afeats)
        if n > have:
            self._afeats.append(self.scorer._audio_windows(self.audio, have, n))
        a = np.concatenate(self._afeats)[:n]
        v = torch.cat(self._feats).numpy()
        ts = np.asarray(self._starts, dtype=np.int64)
        vshift = self.scorer.vshift
        # rows of windows whose candidates all lie before the prefix end never change; the last ones
        # see the prefix's zero padding and are recomputed at every look
        final = int(np.searchsorted(ts, n - vshift))
        kept = sum(len(r) for r in self._rows)
        if final > kept:
            self._rows.append(window_distances(v, a, vshift, ts, rows=np.arange(kept, final)))
        tail = window_distances(v, a, vshift, ts, rows=np.arange(final, len(ts)))
        rows = np.concatenate([*self._rows, tail]) if self._rows else tail
        rows = rows[: len(ts)]
        self.looks += 1
        if decide(rows, self.rule, self.looks) is None:
            return
        mdist = rows.astype(np.float64).mean(0).astype(np.float32)
        k = int(np.argmin(mdist))
        self.settled = SyncResult(offset_frames=vshift - k, min_dist=float(mdist[k]),
                                  confidence=float(np.median(mdist)) - float(mdist[k]), dists=mdist)  # fmt: skip
        self.settled_windows = len(ts)
        self._crops.clear()
        self._feats, self._afeats, self._rows = [], [], []

    @torch.inference_mode()
    def finish(self, audio: np.ndarray) -> SyncResult:
        """Score the run against its audio (16 kHz, covering the run's frames)."""
        n = n_windows(self.n_frames, len(audio))
        if n <= 0:
            raise ValueError(f"too short for SyncNet: {self.n_frames} frames, {len(audio) / SAMPLE_RATE_HZ:.2f} s audio (need > {WINDOW_FRAMES} frames)")
        self.scorer.calls += 1
        if self.settled is not None:
            return self.settled
        self._ready = [t for t in self._ready if t < n]
        if self._ready:
            self._flush()
        keep = [k for k, t in enumerate(self._starts) if t < n]
        v = torch.cat(self._feats).numpy()[keep]
        ts = np.asarray(self._starts, dtype=np.int64)[keep]
        self._crops.clear()
        a = self.scorer._audio(audio, n)
        return sync_offset(v, a, self.scorer.vshift, video_index=None if self.stride == 1 else ts)
