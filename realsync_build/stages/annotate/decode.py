"""Decoding a clip once with PyAV: audio as 16 kHz mono float32, video as 25 fps RGB frames.

The audio stream is decoded first (it is small: 300 s is 4.8 M samples), so the
speech intervals are known before the video pass; the video stream is then
decoded frame by frame (a generator), so a 300 s clip never sits in memory.
Each stream is decoded exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import av
import numpy as np

from realsync_build.core.avformat import FPS, SAMPLE_RATE, SAMPLES_PER_FRAME  # noqa: F401 - re-exported


class DecodeError(RuntimeError):
    """The clip cannot be decoded, or lacks the audio or the video stream."""


@dataclass
class ClipMedia:
    path: Path
    audio: np.ndarray  # (n,) float32 mono 16 kHz
    n_frames: int  # video frames at 25 fps (from the container, else from the audio length)
    width: int
    height: int

    @property
    def duration_s(self) -> float:
        return self.n_frames / FPS


def _open(path: Path):
    if not path.exists():
        raise DecodeError(f"clip file not found: {path}")
    try:
        return av.open(str(path), metadata_errors="ignore")
    except Exception as exc:  # noqa: BLE001 - PyAV raises many subclasses
        raise DecodeError(f"cannot open clip ({type(exc).__name__}: {exc})") from exc


def decode_audio(path: str | Path, need_video: bool = True) -> ClipMedia:
    """Decode the audio stream (resampled to 16 kHz mono float32) and read the video facts."""
    path = Path(path)
    container = _open(path)
    try:
        if not container.streams.audio:
            raise DecodeError("clip has no audio stream")
        if need_video and not container.streams.video:
            raise DecodeError("clip has no video stream")
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        chunks: list[np.ndarray] = []
        try:
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
        except av.error.FFmpegError as exc:
            raise DecodeError(f"audio decoding failed ({exc})") from exc
        audio = np.concatenate(chunks).astype(np.float32, copy=False) if chunks else np.zeros(0, np.float32)
        if audio.size == 0:
            raise DecodeError("audio stream decodes to no samples")
        width = height = 0
        n_frames = int(round(audio.size / SAMPLES_PER_FRAME))
        if container.streams.video:
            vs = container.streams.video[0]
            width, height = vs.codec_context.width, vs.codec_context.height
            if vs.duration and vs.time_base:
                n_frames = int(round(float(vs.duration * vs.time_base) * FPS))
            elif vs.frames:
                n_frames = int(vs.frames)
        return ClipMedia(path=path, audio=audio, n_frames=max(n_frames, 0), width=width, height=height)
    finally:
        container.close()


def iter_frames(path: str | Path, n_frames: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """``(index, RGB uint8 frame)`` on the 25 fps grid, from the frame times.

    A 25 fps clip maps one to one; other rates are dropped / repeated to the
    grid, so index ``i`` is the picture shown at ``i / 25`` s.
    """
    container = _open(Path(path))
    try:
        if not container.streams.video:
            raise DecodeError("clip has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        nxt = 0
        last = None
        try:
            for frame in container.decode(stream):
                t = frame.time if frame.time is not None else nxt / FPS
                idx = int(round(t * FPS))
                if idx < nxt:  # a frame before the next grid point: keep the newest
                    last = frame
                    continue
                img = frame.to_ndarray(format="rgb24")
                if last is not None and idx > nxt:
                    prev = last.to_ndarray(format="rgb24")
                    while nxt < idx:  # fill the grid points before this frame with the previous picture
                        if n_frames is not None and nxt >= n_frames:
                            return
                        yield nxt, prev
                        nxt += 1
                while nxt <= idx:
                    if n_frames is not None and nxt >= n_frames:
                        return
                    yield nxt, img
                    nxt += 1
                last = frame
        except av.error.FFmpegError as exc:
            raise DecodeError(f"video decoding failed at frame {nxt} ({exc})") from exc
        if nxt == 0:
            raise DecodeError("video stream decodes to no frames")
    finally:
        container.close()


_END = object()


def prefetch(frames: Iterator, maxsize: int = 32) -> Iterator:
    """Run ``frames`` (a decoding generator) on a CPU thread, ``maxsize`` items ahead.

    PyAV releases the GIL while it decodes and converts, so the next frames are
    decoded while the detector / SyncNet run on the current ones; the bounded
    queue keeps memory flat (``maxsize`` RGB frames).  Order, items and errors
    are those of ``frames``; ``maxsize <= 0`` runs it inline.
    """
    if maxsize <= 0:
        yield from frames
        return
    import queue
    import threading

    q: queue.Queue = queue.Queue(maxsize=maxsize)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in frames:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            q.put(exc)
        finally:
            close = getattr(frames, "close", None)
            if close is not None and stop.is_set():
                close()

    worker = threading.Thread(target=produce, name="realsync-decode", daemon=True)
    worker.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                pass
            worker.join(timeout=0.05)
