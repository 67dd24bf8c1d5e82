"""Ring buffers of decoded media and the hop scheduler.

Indices count frames (video) or samples (audio) from the current segment's origin.  A hop
ending at ``end_s`` reads the window ``[end_s - window_s, end_s)`` of both; a hop is due once
both buffers reach ``end_s``.  Missing video frames repeat the last one before them (or the
first one after); missing audio is silence.
"""

from __future__ import annotations

import numpy as np

MAX_SKEW_S = 3.0  # live inputs: how far one medium may run ahead of the other before hops stop waiting for the late one


class Ring:
    """A growing array with an absolute start index; keeps at least ``keep`` units behind the end."""

    def __init__(self, keep: int, video: bool) -> None:
        self.keep, self.video = keep, video
        self.base = 0
        self.data: np.ndarray | None = None

    @property
    def end(self) -> int:
        return self.base + (0 if self.data is None else len(self.data))

    def put(self, start: int, data: np.ndarray) -> None:
        if self.data is None:
            self.base, self.data = start, data
            return
        if start > self.end:  # a gap: hold the last frame / silence
            gap = start - self.end
            fill = np.repeat(self.data[-1:], gap, axis=0) if self.video else np.zeros(gap, self.data.dtype)
            data = np.concatenate([fill, data])
            start = self.end
        elif start < self.end:  # overlap: keep what is there
            data = data[self.end - start :]
            start = self.end
        if len(data):
            self.data = np.concatenate([self.data, data])
        if len(self.data) > 2 * self.keep:
            cut = len(self.data) - self.keep
            self.data, self.base = self.data[cut:], self.base + cut

    def get(self, start: int, n: int) -> np.ndarray:
        if self.data is None:
            raise ValueError("empty buffer")
        lo, hi = start - self.base, start - self.base + n
        if lo >= 0 and hi <= len(self.data):
            return self.data[lo:hi]
        if self.video:
            idx = np.clip(np.arange(lo, hi), 0, len(self.data) - 1)
            return self.data[idx]
        out = np.zeros(n, self.data.dtype)
        a, b = max(lo, 0), min(hi, len(self.data))
        if b > a:
            out[a - lo : b - lo] = self.data[a:b]
        return out


class HopScheduler:
    """Window ends ``window_s, window_s + hop_s, ...`` (seconds since the segment origin)."""

    def __init__(self, window_s: float, hop_s: float) -> None:
        if hop_s <= 0:
            raise ValueError("--hop must be > 0")
        self.window_s, self.hop_s = window_s, hop_s
        self.k = 0

    def reset(self) -> None:
        self.k = 0

    def next_end_s(self) -> float:
        return self.window_s + self.k * self.hop_s

    def due(self, available_s: float) -> list[float]:
        out = []
        while self.next_end_s() <= available_s + 1e-9:
            out.append(self.next_end_s())
            self.k += 1
        return out


class WindowBuffer:
    """Video and audio rings of one segment plus the scheduler."""

    def __init__(self, window_s: float, hop_s: float, fps: int, sample_rate: int, video: bool, audio: bool = True,
                 max_skew_s: float | None = None) -> None:
        self.window_s, self.fps, self.sr, self.max_skew_s = window_s, fps, sample_rate, max_skew_s
        self.n_frames, self.n_samples = int(round(window_s * fps)), int(round(window_s * sample_rate))
        keep_s = window_s + hop_s + 2.0
        self.video = Ring(int(keep_s * fps), True) if video else None
        self.audio = Ring(int(keep_s * sample_rate), False) if audio else None
        self.sched = HopScheduler(window_s, hop_s)

    def reset(self) -> None:
        for r in (self.video, self.audio):
            if r is not None:
                r.base, r.data = 0, None
        self.sched.reset()

    def put(self, kind: str, start: int, data: np.ndarray) -> None:
        ring = self.video if kind == "video" else self.audio
        if ring is not None:
            ring.put(start, data)

    def available_s(self) -> float:
        """How far both media reach.  With ``max_skew_s`` (live inputs), a medium more than that behind
        the other (its packets stopped: a dead audio feed, a frozen encoder) no longer holds hops back:
        the missing part reads as silence / the last frame, and such hops get no confidence.  Files
        wait (their demuxer delivers everything, however it is interleaved)."""
        ends = []
        if self.video is not None:
            ends.append(self.video.end / self.fps if self.video.data is not None else 0.0)
        if self.audio is not None:
            ends.append(self.audio.end / self.sr if self.audio.data is not None else 0.0)
        if not ends:
            return 0.0
        if self.max_skew_s is None:
            return min(ends)
        return max(min(ends), max(ends) - self.max_skew_s)

    def due(self) -> list[float]:
        return self.sched.due(self.available_s())

    def window(self, end_s: float) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Video ``(F, S, S, 3)`` uint8 and audio ``(L,)`` float32 of the window ending at ``end_s``."""
        v = a = None
        if self.video is not None:
            v = self.video.get(int(round(end_s * self.fps)) - self.n_frames, self.n_frames)
        if self.audio is not None:
            a = self.audio.get(int(round(end_s * self.sr)) - self.n_samples, self.n_samples)
        return v, a
