"""Shards -> model windows: span decoding, the training window sampler, evaluation segments.

One training example = one train row (a clip and a start; a start every 10 s),
a continuous offset ~ U(-2, 2) s labelled with its nearest class, and H
consecutive 5 s windows with a 1 s hop (optional +/- jitter, 0 by default as in
the StreamSync code).  Only the span those windows need is decoded, from the
in-memory mp4, with PyAV seeking; never the whole clip.  The offset is applied
by shifting the audio window against the video window (``audio_start =
video_start + offset``).

Short clips (the demo's 10 s clips): the window count is kept (batches stay
rectangular) and the hop shrinks so that all windows fit; :func:`fit_hop` is the
one rule, used by training and evaluation alike.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, replace
from typing import Callable

import av
from av.video.reformatter import VideoReformatter
import numpy as np
import torch
from torch.utils.data import Dataset

from realsync_build.streamsync.model.config import ModelConfig
from realsync_build.streamsync.shards import ShardSample
from realsync_build.core.avformat import FPS, MAX_OFFSET_S, SAMPLE_RATE, list_offset_class, nearest_class
from realsync_build.streamsync.sparsesync.transforms import span_audio_input


class DecodeError(RuntimeError):
    pass


def _resize_dims(w: int, h: int, size: int) -> tuple[int, int]:
    scale = size / min(w, h)
    return max(size, int(round(w * scale))), max(size, int(round(h * scale)))


def _mono(fr: av.AudioFrame) -> np.ndarray:
    """An audio frame as mono float32 in [-1, 1], whatever its sample format."""
    arr = fr.to_ndarray()
    n_ch = len(fr.layout.channels)
    if not fr.format.is_planar:
        arr = arr.reshape(-1, n_ch).T
    if np.issubdtype(arr.dtype, np.integer):
        arr = arr.astype(np.float32) / float(np.iinfo(arr.dtype).max)
    return arr.astype(np.float32).mean(axis=0)


def _decimate(pcm: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Integer-factor downsampling with a box filter (a model config at a lower rate than the clips)."""
    if rate_in % rate_out:
        raise DecodeError(f"audio at {rate_in} Hz cannot feed a {rate_out} Hz model (run realsync preprocess: 16 kHz)")
    k = rate_in // rate_out
    n = len(pcm) // k * k  # AAC frames (1024 samples) split evenly for the usual factors
    return pcm[:n].reshape(-1, k).mean(axis=1)


def decode_span(
    data: bytes, video_t0: float, n_frames: int, audio_t0: float, n_samples: int, size: int, fps: int = FPS, sample_rate: int = SAMPLE_RATE
) -> tuple[np.ndarray, np.ndarray]:
    """Frames ``[video_t0, +n_frames/fps)`` as ``(n, size, size, 3)`` uint8 (short side resized, centre crop)
    and mono audio ``[audio_t0, +n_samples/sr)`` as float32; both decoded after a seek."""
    i0 = int(round(video_t0 * fps))
    frames: list[np.ndarray | None] = [None] * n_frames
    audio = np.zeros(n_samples, np.float32)
    try:
        with av.open(io.BytesIO(data), mode="r") as c:
            vs = c.streams.video[0]
            scaler = VideoReformatter()  # one swscale context for the span (4x faster than a fresh one per frame)
            c.seek(max(0, int((video_t0 - 0.1) / vs.time_base)), stream=vs, backward=True)
            for fr in c.decode(vs):
                if fr.time is None:
                    continue
                k = int(round(fr.time * fps)) - i0
                if k < 0:
                    continue
                if k >= n_frames:
                    break
                w, h = _resize_dims(fr.width, fr.height, size)
                arr = scaler.reformat(fr, width=w, height=h, format="rgb24").to_ndarray()
                y0, x0 = (h - size) // 2, (w - size) // 2
                frames[k] = arr[y0 : y0 + size, x0 : x0 + size]
            if c.streams.audio:
                ast = c.streams.audio[0]
                c.seek(max(0, int((audio_t0 - 0.2) / ast.time_base)), stream=ast, backward=True)
                j0 = int(round(audio_t0 * sample_rate))
                for fr in c.decode(ast):
                    if fr.time is None:
                        continue
                    pcm = _mono(fr)
                    if fr.sample_rate != sample_rate:
                        pcm = _decimate(pcm, fr.sample_rate, sample_rate)
                    s = int(round(fr.time * sample_rate)) - j0
                    lo, hi = max(s, 0), min(s + len(pcm), n_samples)
                    if hi > lo:
                        audio[lo:hi] = pcm[lo - s : hi - s]
                    if s >= n_samples:
                        break
    except av.error.FFmpegError as exc:
        raise DecodeError(f"cannot decode mp4: {exc}") from exc
    got = [k for k, f in enumerate(frames) if f is not None]
    if not got:
        raise DecodeError(f"no video frames in [{video_t0:.2f}, {video_t0 + n_frames / fps:.2f}) s")
    last = frames[got[0]]
    for k in range(n_frames):  # fill gaps (a missing frame repeats the previous one)
        if frames[k] is None:
            frames[k] = last
        last = frames[k]
    return np.stack(frames), audio


def fit_hop(duration_s: float, window_s: float, offset_s: float, n: int, hop_s: float, jitter_s: float = 0.0) -> tuple[float, float, float]:
    """``(lo, hop, jitter)``: video starts allowed from ``lo``; a hop and jitter such that ``n`` windows
    (video and offset audio) fit in the clip.  The hop shrinks (and the jitter goes) on short clips."""
    lo = max(0.0, -offset_s)
    room = duration_s - window_s - abs(offset_s)  # span of allowed first-to-last video starts
    if room < 0:
        raise DecodeError(f"clip of {duration_s:.1f} s is too short for a {window_s:g} s window at offset {offset_s:+.1f} s")
    if n > 1 and (n - 1) * hop_s + 2 * jitter_s > room:
        jitter_s = 0.0 if (n - 1) * hop_s > room else (room - (n - 1) * hop_s) / 2
        hop_s = min(hop_s, room / (n - 1))
    return lo, hop_s, jitter_s


WINDOW_STARTS = {"listed": 0.0, "code": -2.0}
"""Where a row's / segment's windows start, relative to its listed start: ``listed`` (at it), or ``code``:
2 s earlier, as the StreamSync code's loader does (``get_video_and_audio`` reads from start - 2 - 2 s,
``TemporalCropAndOffsetRandomFeasibleStreaming`` crops at +2 s of what it read)."""


def window_start_shift_s(name: str) -> float:
    if name not in WINDOW_STARTS:
        raise ValueError(f"window start {name!r}: use one of {', '.join(WINDOW_STARTS)}")
    return WINDOW_STARTS[name]


@dataclass
class WindowPlan:
    video_starts_s: np.ndarray  # (n,)
    offset_s: float
    audio_span_s: float | None = None  # audio_frontend "span": seconds from the first window's audio start it standardises over

    def cut(self, data: bytes, cfg: ModelConfig, clip: "DecodedClip | None" = None) -> tuple[np.ndarray, np.ndarray]:
        """Decode one span and cut the windows: video ``(n, F, S, S, 3)`` uint8; audio ``(n, L)`` float32
        waveforms (``audio_frontend`` "window") or ``(n, 1, F, L // hop)`` spectrograms cut from the span's
        (``"span"``, :func:`~realsync_build.streamsync.sparsesync.transforms.span_audio_input`).
        ``clip``: the whole clip already decoded at the model's rates; the span is sliced from it instead."""
        fps, sr, w = cfg.fps, cfg.sample_rate, cfg.window_s
        nf, ns = int(round(w * fps)), int(round(w * sr))
        f_idx = np.round(self.video_starts_s * fps).astype(int)
        a_idx = np.round((self.video_starts_s + self.offset_s) * sr).astype(int)
        f0, a0 = int(f_idx.min()), int(a_idx.min())
        a_len = int(a_idx.max()) - a0 + ns
        if cfg.audio_frontend == "span" and self.audio_span_s:
            a_len = max(a_len, int(round(self.audio_span_s * sr)))
        n_frames = int(f_idx.max()) - f0 + nf
        if clip is None:
            frames, audio = decode_span(data, f0 / fps, n_frames, a0 / sr, a_len, cfg.video_size, fps, sr)
        else:
            frames, audio = clip.span(f0, n_frames, a0, a_len)
        return cut_windows(frames, audio, f_idx - f0, a_idx - a0, cfg)


@dataclass
class DecodedClip:
    """A whole clip decoded once at a model's rates (:func:`decode_clip`): frames ``(N, S, S, 3)`` from frame 0,
    audio ``(L,)`` from sample 0.  Small CPU runs (benchmarks, tests) cut every window from it instead of
    decoding a span per example; the frames and samples are the ones :func:`decode_span` gives."""

    frames: np.ndarray
    audio: np.ndarray

    def span(self, f0: int, n_frames: int, a0: int, n_samples: int) -> tuple[np.ndarray, np.ndarray]:
        """Frames ``[f0, f0 + n)`` (past the end: the last frame repeats, as decode_span fills gaps) and samples
        ``[a0, a0 + n)`` (zeros past the end)."""
        idx = np.minimum(np.arange(f0, f0 + n_frames), len(self.frames) - 1)
        audio = np.zeros(n_samples, np.float32)
        got = self.audio[a0 : a0 + n_samples]
        audio[: len(got)] = got
        return self.frames[idx], audio


def decode_clip(sample: ShardSample, cfg: ModelConfig) -> DecodedClip:
    """Decode a shard sample's whole clip at ``cfg``'s size and rates."""
    dur = sample.duration_s
    frames, audio = decode_span(sample.read("mp4"), 0.0, int(round(dur * cfg.fps)), 0.0, int(round(dur * cfg.sample_rate)),
                                cfg.video_size, cfg.fps, cfg.sample_rate)
    return DecodedClip(frames, audio)


def cut_windows(frames: np.ndarray, audio: np.ndarray, frame_starts: np.ndarray, sample_starts: np.ndarray,
                cfg: ModelConfig) -> tuple[np.ndarray, np.ndarray]:
    """Decoded spans -> windows: ``frames`` ``(F, S, S, 3)`` and ``audio`` ``(L,)`` begin at the first window;
    ``frame_starts`` / ``sample_starts`` are each window's first frame / sample in them.  Audio windows are
    waveforms (``audio_frontend`` "window") or spectrograms cut from the whole span's (``"span"``)."""
    nf, ns = int(round(cfg.window_s * cfg.fps)), int(round(cfg.window_s * cfg.sample_rate))
    video = np.stack([frames[i : i + nf] for i in frame_starts])
    if cfg.audio_frontend == "span":
        aud = span_audio_input(torch.from_numpy(audio), torch.as_tensor(sample_starts), ns, cfg.n_fft, cfg.hop_length).numpy()
    else:
        aud = np.stack([audio[j : j + ns] for j in sample_starts])
    return video, aud


def _audio_span_s(duration_s: float, first_video_s: float, offset_s: float, n: int, hop_s: float, window_s: float) -> float:
    """The code's span: 5 s + n hops from the first window's audio start (its crop is ``5 + H * hop`` s),
    kept inside the clip."""
    return min(window_s + n * hop_s, duration_s - (first_video_s + offset_s))


def plan_training(duration_s: float, n: int, hop_s: float, jitter_s: float, rng: np.random.Generator, cfg: ModelConfig,
                  start_s: float | None = None) -> WindowPlan:
    """A continuous offset ~ U(-2, 2) s (its label is the nearest class, :func:`nearest_class`) and ``n``
    consecutive windows (hop +/- jitter, video starts on the frame grid).

    ``start_s``: where the first video window starts (the train row's start, moved 2 s earlier by
    :class:`TrainWindows` under ``window_start`` "code" as the StreamSync code's loader does); ``None``,
    or a start where the windows do not fit: a uniform start in what the clip allows.
    """
    offset = float(rng.uniform(-MAX_OFFSET_S, MAX_OFFSET_S))
    lo, hop, jit = fit_hop(duration_s, cfg.window_s, offset, n, hop_s, jitter_s)
    room = duration_s - cfg.window_s - abs(offset)
    free = room - (n - 1) * hop - 2 * jit
    if start_s is not None and lo + jit <= start_s <= lo + jit + free:
        v0 = float(start_s)
    else:
        v0 = lo + jit + rng.uniform(0, max(free, 0.0))
    starts = v0 + np.arange(n) * hop + (rng.uniform(-jit, jit, size=n) if jit > 0 else 0.0)
    starts = np.clip(np.round(starts * cfg.fps) / cfg.fps, lo, lo + room)
    return WindowPlan(starts, offset, _audio_span_s(duration_s, float(starts[0]), offset, n, hop, cfg.window_s))


def plan_segment(duration_s: float, start_s: float, offset_s: float, n: int, hop_s: float, cfg: ModelConfig) -> tuple[WindowPlan, float]:
    """Fixed windows of an evaluation segment: from its start with a fixed hop (shrunk on short clips)."""
    lo, hop, _ = fit_hop(duration_s, cfg.window_s, offset_s, n, hop_s)
    room = duration_s - cfg.window_s - abs(offset_s)
    v0 = min(max(start_s, lo), lo + room - (n - 1) * hop)
    starts = np.clip(np.round((v0 + np.arange(n) * hop) * cfg.fps) / cfg.fps, lo, lo + room)
    return WindowPlan(starts, offset_s, _audio_span_s(duration_s, float(starts[0]), offset_s, n, hop, cfg.window_s)), hop


TRAIN_ROW_STRIDE_S = 10


def train_rows(samples: list[ShardSample], span_s: float, stride_s: int = TRAIN_ROW_STRIDE_S) -> list[tuple[int, float | None]]:
    """Phase-2 rows: ``(sample index, start_s)``, a start every ``stride_s`` seconds of every train clip.

    The starts follow the evaluation segments' grid (:func:`realsync_build.core.segments.segment_starts`:
    from 10 s, whole seconds, the streamed span plus the largest offset inside the clip), with the
    span of H windows in place of one window: a 300 s clip at H=12 (16 s) gives 10, 20, ..., 280 = 28
    rows, like the published train list.  A clip too short for any grid start gives one row whose
    start is drawn per example (``None``).
    """
    from realsync_build.core.segments import SegmentConfig, segment_starts

    grid = SegmentConfig(start_s=stride_s, stride_s=stride_s, window_s=span_s)
    rows: list[tuple[int, float | None]] = []
    for i, s in enumerate(samples):
        starts = segment_starts(s.duration_s, grid, np.random.default_rng(0))
        rows += [(i, float(t)) for t in starts] or [(i, None)]
    return rows


class TrainWindows(Dataset):
    """Map-style over train rows (:func:`train_rows`): item i = row ``i % n_rows`` with a fresh offset.

    An item's randomness depends only on ``(seed, epoch, i)``, so any worker count, rank or resume
    point gives the same example.
    """

    def __init__(self, samples: list[ShardSample], cfg: ModelConfig, n_windows: int, hop_s: float = 1.0, jitter_s: float = 0.0,
                 seed: int = 0, length: int = 0, stride_s: int = TRAIN_ROW_STRIDE_S, start_shift_s: float = 0.0,
                 starts: str = "rows", accept: Callable[[int, WindowPlan], bool] | None = None, cache: bool = False,
                 clips: dict[int, "DecodedClip"] | None = None):
        """``starts``: ``rows`` (the train rows' starts, as the StreamSync loader) or ``uniform`` (every example
        a clip in turn and a uniform start in it).  ``accept(sample index, plan)``: a filter on the planned
        windows (a curriculum: which windows a stage trains on); a rejected plan is drawn again before
        anything is decoded.  ``cache``: decode each clip once at the model's rates and cut from it
        (:class:`DecodedClip`; small sets on CPU); ``clips``: that cache, shared with other loaders over the
        same samples (implies ``cache``)."""
        if starts not in ("rows", "uniform"):
            raise ValueError(f"starts {starts!r}: use rows or uniform")
        self.samples, self.cfg, self.n, self.hop, self.jitter, self.seed = samples, cfg, n_windows, hop_s, jitter_s, seed
        self.rows = (train_rows(samples, cfg.window_s + (n_windows - 1) * hop_s, stride_s) if starts == "rows"
                     else [(k, None) for k in range(len(samples))])
        self.start_shift_s = start_shift_s  # window_start "code": the windows start 2 s before the row's start
        self.length = max(len(self.rows), length)  # small sets repeat rows (fresh draws) to fill a batch
        self.epoch = 0
        self.accept, self.cache = accept, cache or clips is not None
        self.clips: dict[int, DecodedClip] = {} if clips is None else clips

    def clip(self, k: int) -> DecodedClip:
        """Sample ``k`` decoded whole at the model's rates (kept)."""
        if k not in self.clips:
            self.clips[k] = decode_clip(self.samples[k], self.cfg)
        return self.clips[k]

    def _plan(self, k: int, start: float | None, rng: np.random.Generator) -> WindowPlan:
        at = None if start is None else start + self.start_shift_s
        for _ in range(1000 if self.accept else 1):
            plan = plan_training(self.samples[k].duration_s, self.n, self.hop, self.jitter, rng, self.cfg, at)
            if self.accept is None or self.accept(k, plan):
                return plan
        raise DecodeError(f"{self.samples[k].key}: no window plan accepted in 1000 draws")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict:
        rng = np.random.default_rng([self.seed, self.epoch, i])
        for attempt in range(4):
            k, start = self.rows[(i + attempt * 7919) % len(self.rows)]
            s = self.samples[k]
            try:
                plan = self._plan(k, start, rng)
                video, audio = plan.cut(b"", self.cfg, self.clip(k)) if self.cache else plan.cut(s.read("mp4"), self.cfg)
            except (DecodeError, OSError) as exc:
                err = f"{s.key}: {exc}"
                continue
            return {
                "video": torch.from_numpy(video),
                "audio": torch.from_numpy(audio),
                "target": nearest_class(plan.offset_s),
                "offset_s": plan.offset_s,
            }
        raise DecodeError(f"4 train rows in a row failed to decode; last: {err}")


@dataclass
class Segment:
    segment_id: str
    sample: ShardSample
    start_s: float
    offset_s: float
    scenario: str
    channel: str


def shift_segments(segments: list[Segment], window_start: str | None) -> list[Segment]:
    """The segments with their windows starting where ``window_start`` says (``code``: 2 s before the listed start)."""
    shift = window_start_shift_s(window_start or "listed")
    return segments if not shift else [replace(s, start_s=s.start_s + shift) for s in segments]


class SegmentWindows(Dataset):
    """Fixed evaluation segments: ``n`` windows with a fixed hop from the segment start, all at its offset."""

    def __init__(self, segments: list[Segment], cfg: ModelConfig, n_windows: int, hop_s: float = 2.0):
        self.segments, self.cfg, self.n, self.hop = segments, cfg, n_windows, hop_s

    def __len__(self) -> int:
        return len(self.segments)

    def __getitem__(self, i: int) -> dict:
        seg = self.segments[i]
        fw, fs = int(round(self.cfg.window_s * self.cfg.fps)), int(round(self.cfg.window_s * self.cfg.sample_rate))
        # a listed offset's label and shift as the StreamSync code gives them: the grid's class for a normal
        # list's offsets; a uniform list's continuous offset rounded to 0.01 s, its class the first nearest
        # grid point (core.avformat.list_offset_class)
        out = {"index": i, "target": list_offset_class(seg.offset_s), "ok": True, "error": "", "hop_s": float(self.hop)}
        try:
            plan, hop = plan_segment(seg.sample.duration_s, seg.start_s, round(float(seg.offset_s), 2), self.n, self.hop, self.cfg)
            video, audio = plan.cut(seg.sample.read("mp4"), self.cfg)
            out.update(video=torch.from_numpy(video), audio=torch.from_numpy(audio), hop_s=float(hop))
        except (DecodeError, OSError) as exc:
            s = self.cfg.video_size
            silent = (torch.zeros(self.n, 1, self.cfg.n_fft // 2 + 1, fs // self.cfg.hop_length) if self.cfg.audio_frontend == "span"
                      else torch.zeros(self.n, fs))
            out.update(
                video=torch.zeros(self.n, fw, s, s, 3, dtype=torch.uint8),
                audio=silent,
                ok=False,
                error=f"{seg.segment_id}: {exc}",
            )
        return out
