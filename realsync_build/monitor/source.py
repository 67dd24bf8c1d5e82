"""Decode INPUT on the fly with PyAV: a file, ``-`` (stdin) or any URL ffmpeg opens.

A reader thread opens the input, demuxes and decodes it, and puts on a queue:

* :class:`Chunk` -- video frames already at the target fps and frame size (``(n, S, S, 3)``
  uint8, short side resized then centre-cropped, as the model's loader does) or mono float32
  audio at the target rate, each with its index since the segment's origin;
* :class:`Event` -- ``segment`` (a fresh timeline: first open, reconnect, timestamp
  discontinuity; the consumer resets its buffers and the streaming state), ``error``,
  ``end``.

Nothing is written to disk.  Video goes to the target fps by sample-and-hold on the frame
timestamps (each output slot takes the nearest decoded frame); audio goes through libswresample
(``av.AudioResampler``: mono, float, target rate).  ``realtime`` paces a file to the wall
clock.  Network inputs are opened with a read timeout, and reopened up to ``reconnects`` times
after an error or a stall.
"""

from __future__ import annotations

import math
import os
import queue
import select
import sys
import threading
import time
from dataclasses import dataclass, field

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from realsync_build.core.avformat import FPS, SAMPLE_RATE

DISCONTINUITY_S = 1.0  # a timestamp jump larger than this (or backwards) starts a new segment


@dataclass
class MediaSpec:
    fps: int = FPS
    sample_rate: int = SAMPLE_RATE
    video_size: int = 0  # 0: do not decode video
    audio: bool = True


@dataclass
class Chunk:
    kind: str  # "video" | "audio"
    start: int  # index of data[0] (frames or samples) since the segment origin
    data: np.ndarray


@dataclass
class Event:
    kind: str  # "segment" | "error" | "end"
    message: str
    ok: bool = True
    info: dict = field(default_factory=dict)


def is_network(url: str) -> bool:
    return "://" in url and not url.startswith("file:")


def describe(url: str) -> str:
    return "stdin" if url == "-" else url


class _StdinReader:
    """stdin for PyAV, read with ``select`` so that a stalled pipe never blocks the reader thread for
    good: once ``stop`` is set, ``read`` returns EOF (a thread stuck in a blocking read of stdin
    would abort the interpreter at exit)."""

    def __init__(self, stop: threading.Event) -> None:
        self.fd = sys.stdin.fileno()
        self.stop = stop

    def read(self, n: int = -1) -> bytes:
        n = 1 << 16 if n is None or n < 0 else n
        while not self.stop.is_set():
            ready, _, _ = select.select([self.fd], [], [], 0.2)
            if ready:
                return os.read(self.fd, n)
        return b""


def open_input(url: str, timeout_s: float, stop: threading.Event | None = None):
    """An ``av`` input container; ``-`` reads stdin (a streamable format: mpegts, matroska, nut, ...)."""
    if url == "-":
        return av.open(_StdinReader(stop or threading.Event()), mode="r")
    options = {}
    if url.startswith("udp://"):
        options = {"overrun_nonfatal": "1", "fifo_size": "1000000"}
    return av.open(url, mode="r", timeout=(timeout_s, timeout_s), options=options)


def _crop_dims(w: int, h: int, size: int) -> tuple[int, int]:
    scale = size / min(w, h)
    return max(size, int(round(w * scale))), max(size, int(round(h * scale)))


class _VideoOut:
    """Decoded frames -> target-fps slots (sample and hold on timestamps), resized and cropped lazily."""

    def __init__(self, spec: MediaSpec, push) -> None:
        self.spec, self.push = spec, push
        self.scaler = VideoReformatter()
        self.prev = None  # (frame, t_rel)
        self.next_slot = 0

    def _convert(self, frame) -> np.ndarray:
        s = self.spec.video_size
        w, h = _crop_dims(frame.width, frame.height, s)
        arr = self.scaler.reformat(frame, width=w, height=h, format="rgb24").to_ndarray()
        y0, x0 = (h - s) // 2, (w - s) // 2
        return arr[y0 : y0 + s, x0 : x0 + s]

    def _emit(self, frame, until_t: float) -> None:
        fps = self.spec.fps
        n = max(0, math.ceil(until_t * fps - 1e-9) - self.next_slot)
        if n:
            arr = self._convert(frame)
            self.push(Chunk("video", self.next_slot, np.broadcast_to(arr, (n, *arr.shape)).copy()))
            self.next_slot += n

    def add(self, frame, t_rel: float) -> None:
        if self.prev is None:
            self.next_slot = max(0, int(round(t_rel * self.spec.fps)))
        else:
            self._emit(self.prev[0], (self.prev[1] + t_rel) / 2)
        self.prev = (frame, t_rel)

    def last_t(self) -> float | None:
        return None if self.prev is None else self.prev[1]

    def flush(self) -> None:
        if self.prev is not None:
            self._emit(self.prev[0], self.prev[1] + 0.5 / self.spec.fps)


class _AudioOut:
    def __init__(self, spec: MediaSpec, push) -> None:
        self.spec, self.push = spec, push
        self.resampler = av.AudioResampler(format="flt", layout="mono", rate=spec.sample_rate)
        self.next_sample: int | None = None
        self.expect_t: float | None = None  # input-side time of the next frame

    def add(self, frame, t_rel: float | None) -> None:
        if t_rel is not None:
            self.expect_t = t_rel + frame.samples / frame.sample_rate
        for out in self.resampler.resample(frame):
            self._put(out, t_rel)

    def _put(self, out, t_rel: float | None) -> None:
        pcm = out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
        if self.next_sample is None:
            self.next_sample = int(round((t_rel or 0.0) * self.spec.sample_rate))
        start = self.next_sample
        self.next_sample += len(pcm)
        if start < 0:  # audio before the origin (e.g. AAC priming): dropped
            pcm, start = pcm[-start:], 0
        if len(pcm):
            self.push(Chunk("audio", start, pcm.copy()))

    def last_t(self) -> float | None:
        return self.expect_t

    def flush(self) -> None:
        try:
            for out in self.resampler.resample(None):
                self._put(out, None)
        except (ValueError, av.error.FFmpegError):
            pass


class Reader:
    """The reader thread: ``for item in reader.items(stall_s)`` yields chunks, events and ``None`` (a stall tick)."""

    def __init__(self, url: str, spec: MediaSpec, realtime: bool = False, timeout_s: float = 10.0, reconnects: int = 3,
                 queue_size: int = 512) -> None:
        self.url, self.spec, self.realtime, self.timeout_s = url, spec, realtime, timeout_s
        self.reconnects = reconnects if is_network(url) else 0
        self.q: queue.Queue = queue.Queue(maxsize=queue_size)
        self.stop = threading.Event()
        self.segments = 0  # timelines started so far (opens, reopens, discontinuities)
        self.thread = threading.Thread(target=self._run, name="realsync-monitor-reader", daemon=True)

    # -- consumer side
    def start(self) -> "Reader":
        self.thread.start()
        return self

    def items(self, stall_s: float):
        """Queue items; ``None`` each time ``stall_s`` passes without one."""
        while True:
            try:
                item = self.q.get(timeout=stall_s)
            except queue.Empty:
                yield None
                continue
            yield item
            if isinstance(item, Event) and item.kind == "end":
                return

    def close(self, wait_s: float = 2.0) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join(timeout=wait_s)

    # -- reader thread
    def _put(self, item) -> None:
        while not self.stop.is_set():
            try:
                self.q.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def _run(self) -> None:
        attempt = 0
        while not self.stop.is_set():
            error = None
            try:
                container = open_input(self.url, self.timeout_s, self.stop)
            except (av.error.FFmpegError, OSError, ValueError) as exc:
                container, error = None, f"cannot open {describe(self.url)}: {self._why(exc)}"
            if container is not None:
                try:
                    self._decode(container, attempt)
                except (av.error.FFmpegError, OSError, ValueError, RuntimeError) as exc:
                    error = f"read error on {describe(self.url)}: {self._why(exc)}"
                finally:
                    try:
                        container.close()
                    except Exception:  # noqa: BLE001 - closing a broken input must not mask the error
                        pass
            if self.stop.is_set():
                break
            if error is None:
                self._put(Event("end", f"end of {describe(self.url)}"))
                return
            if attempt >= self.reconnects:
                self._put(Event("end", error, ok=False))
                return
            attempt += 1
            self._put(Event("error", f"{error}; reconnecting (attempt {attempt} of {self.reconnects})", ok=False))
            self.stop.wait(min(0.5 * attempt, 3.0))
        self._put(Event("end", "stopped"))

    def _why(self, exc: Exception) -> str:
        if isinstance(exc, av.error.ExitError):  # the read timeout's interrupt
            return f"no data for {self.timeout_s:g} s (timed out)"
        return str(exc)

    def _decode(self, container, attempt: int) -> None:
        streams = []
        v_stream = container.streams.video[0] if (self.spec.video_size and container.streams.video) else None
        a_stream = container.streams.audio[0] if (self.spec.audio and container.streams.audio) else None
        if self.spec.video_size and v_stream is None:
            raise ValueError("the input has no video stream (mode 1 needs video and audio)")
        if self.spec.audio and a_stream is None:
            raise ValueError("the input has no audio stream")
        for s in (v_stream, a_stream):
            if s is not None:
                s.thread_type = "AUTO"
                streams.append(s)
        origin = container.start_time / 1e6 if container.start_time is not None else None
        wall0 = time.monotonic()

        def new_segment(reason: str):
            self.segments += 1
            self._put(Event("segment", reason, info={"segment": self.segments, "attempt": attempt}))
            return _VideoOut(self.spec, self._put) if v_stream is not None else None, _AudioOut(self.spec, self._put) if a_stream is not None else None

        vout, aout = new_segment("opened" if self.segments == 0 else "reopened after a reconnect")
        for packet in container.demux(streams):
            if self.stop.is_set():
                return
            for frame in packet.decode():
                t = frame.time
                if origin is None and t is not None:
                    origin = t
                t_rel = None if t is None else t - origin
                is_video = packet.stream is v_stream
                out = vout if is_video else aout
                last = out.last_t()
                if t_rel is not None and last is not None and (t_rel < last - 0.5 or t_rel > last + DISCONTINUITY_S):
                    reason = f"timestamp discontinuity ({last:.2f} s -> {t_rel:.2f} s)"
                    for o in (vout, aout):
                        if o is not None:
                            o.flush()
                    origin, t_rel, wall0 = t, 0.0, time.monotonic()
                    vout, aout = new_segment(reason)
                    out = vout if is_video else aout
                if is_video:
                    if t_rel is None:
                        continue
                    out.add(frame, t_rel)
                else:
                    out.add(frame, t_rel)
                if self.realtime and t_rel is not None:
                    ahead = t_rel - (time.monotonic() - wall0)
                    if ahead > 0:
                        self.stop.wait(ahead)
        for out in (vout, aout):
            if out is not None:
                out.flush()
