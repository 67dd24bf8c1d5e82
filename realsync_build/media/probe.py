"""Probing media with PyAV (there is no ffprobe here).

:func:`probe_source` reads container facts of an input video;
:func:`probe_clip` measures a written clip exactly (it decodes the audio to
count samples, since container durations of AAC are rounded to packets), and
:func:`check_clip` turns those facts into a list of problems.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import av

from realsync_build.core.avformat import AUDIO_CHANNELS, FPS, SAMPLE_RATE, SHORT_SIDE


class ProbeError(RuntimeError):
    pass


@dataclass
class SourceInfo:
    duration_s: float
    width: int
    height: int
    fps: float
    has_video: bool
    has_audio: bool
    audio_rate: int
    audio_channels: int
    rotation: int
    video_codec: str
    audio_codec: str

    def to_dict(self) -> dict:
        return asdict(self)


def _rotation(stream) -> int:
    """Rotation from the stream's legacy ``rotate`` tag (ffmpeg applies display matrices itself)."""
    meta = getattr(stream, "metadata", {}) or {}
    try:
        return int(float(meta.get("rotate", 0))) % 360
    except ValueError:
        return 0


def probe_source(path: str | Path) -> SourceInfo:
    """Facts about a source video; raises :class:`ProbeError` with a readable reason."""
    path = Path(path)
    if not path.exists():
        raise ProbeError(f"file not found: {path}")
    if path.stat().st_size == 0:
        raise ProbeError("empty file (0 bytes)")
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except av.error.InvalidDataError as exc:
        raise ProbeError("not a media file (no readable container)") from exc
    except Exception as exc:  # noqa: BLE001 - PyAV raises many subclasses
        raise ProbeError(f"cannot open as media: {exc}") from exc
    with container:
        vs = container.streams.video[0] if container.streams.video else None
        as_ = container.streams.audio[0] if container.streams.audio else None
        duration = None
        if container.duration is not None:
            duration = container.duration / av.time_base
        for s in (vs, as_):
            if s is not None and s.duration is not None and s.time_base is not None:
                d = float(s.duration * s.time_base)
                duration = d if duration is None else min(duration, d) if d > 0 else duration
        fps = 0.0
        if vs is not None:
            rate = vs.average_rate or vs.guessed_rate or vs.base_rate
            fps = float(rate) if rate else 0.0
        return SourceInfo(
            duration_s=float(duration or 0.0),
            width=int(vs.codec_context.width) if vs is not None else 0,
            height=int(vs.codec_context.height) if vs is not None else 0,
            fps=fps,
            has_video=vs is not None,
            has_audio=as_ is not None,
            audio_rate=int(as_.codec_context.sample_rate or 0) if as_ is not None else 0,
            audio_channels=int(as_.codec_context.channels or 0) if as_ is not None else 0,
            rotation=_rotation(vs) if vs is not None else 0,
            video_codec=vs.codec_context.name if vs is not None else "",
            audio_codec=as_.codec_context.name if as_ is not None else "",
        )


@dataclass
class ClipFacts:
    n_frames: int
    fps: float
    width: int
    height: int
    video_start_s: float
    video_duration_s: float
    audio_start_s: float
    audio_duration_s: float
    audio_samples: int
    sample_rate: int
    channels: int
    video_codec: str
    video_profile: str
    pix_fmt: str
    audio_codec: str
    audio_profile: str

    @property
    def av_skew_ms(self) -> float:
        return abs(self.video_start_s - self.audio_start_s) * 1000.0


def probe_clip(path: str | Path) -> ClipFacts:
    """Exact facts of a written clip: frames counted from packets, audio samples decoded."""
    try:
        container = av.open(str(path))
    except Exception as exc:  # noqa: BLE001
        raise ProbeError(f"cannot open clip: {exc}") from exc
    with container:
        if not container.streams.video or not container.streams.audio:
            raise ProbeError("clip lacks a video or an audio stream")
        vs = container.streams.video[0]
        as_ = container.streams.audio[0]
        n_frames = 0
        first_vpts = None
        for pkt in container.demux(vs):
            if pkt.size == 0 or pkt.pts is None:
                continue
            n_frames += 1
            if first_vpts is None or pkt.pts < first_vpts:
                first_vpts = pkt.pts
        container.seek(0)
        samples = 0
        first_apts = None
        for frame in container.decode(as_):
            if first_apts is None and frame.pts is not None:
                first_apts = frame.pts
            samples += frame.samples
        rate = vs.average_rate or vs.guessed_rate
        fps = float(rate) if rate else 0.0
        vtb = vs.time_base or Fraction(1, 1)
        atb = as_.time_base or Fraction(1, 1)
        sr = int(as_.codec_context.sample_rate or 0)
        # The decoder drops the encoder's priming but not the padding of the last
        # AAC frame; the mp4 edit list holds the exact length.  Trust it only
        # when the decoded audio really covers it (less than one frame more).
        if as_.duration and sr:
            listed = int(round(float(as_.duration * atb) * sr))
            frame = as_.codec_context.frame_size or 1024
            if listed <= samples < listed + frame:
                samples = listed
        return ClipFacts(
            n_frames=n_frames,
            fps=fps,
            width=int(vs.codec_context.width),
            height=int(vs.codec_context.height),
            video_start_s=float((vs.start_time or 0) * vtb) if first_vpts is None else float(first_vpts * vtb),
            video_duration_s=n_frames / fps if fps else 0.0,
            audio_start_s=float((first_apts or 0) * atb),
            audio_duration_s=samples / sr if sr else 0.0,
            audio_samples=samples,
            sample_rate=sr,
            channels=int(as_.codec_context.channels or 0),
            video_codec=vs.codec_context.name,
            video_profile=str(vs.codec_context.profile or ""),
            pix_fmt=str(vs.codec_context.pix_fmt or ""),
            audio_codec=as_.codec_context.name,
            audio_profile=str(as_.codec_context.profile or ""),
        )


def check_clip(
    facts: ClipFacts,
    target_s: float,
    fps: float = float(FPS),
    sample_rate: int = SAMPLE_RATE,
    channels: int = AUDIO_CHANNELS,
    short_side: int | None = SHORT_SIDE,
) -> list[str]:
    """Everything wrong with a clip, as readable strings (empty = valid)."""
    frame_s = 1.0 / fps
    problems = []
    if facts.video_codec != "h264":
        problems.append(f"video codec {facts.video_codec}, expected h264")
    if abs(facts.fps - fps) > 1e-3:
        problems.append(f"frame rate {facts.fps:.3f}, expected {fps:g}")
    if abs(facts.video_duration_s - target_s) > frame_s + 1e-6:
        problems.append(f"video {facts.video_duration_s:.3f} s ({facts.n_frames} frames), expected {target_s:g} s")
    if facts.sample_rate != sample_rate:
        problems.append(f"audio {facts.sample_rate} Hz, expected {sample_rate}")
    if facts.channels != channels:
        problems.append(f"audio has {facts.channels} channels, expected {channels}")
    if facts.audio_codec != "aac":
        problems.append(f"audio codec {facts.audio_codec}, expected aac")
    if abs(facts.video_start_s) > 1e-6 or abs(facts.audio_start_s) > 1e-6:
        problems.append(f"streams start at video {facts.video_start_s:.3f} s / audio {facts.audio_start_s:.3f} s, expected 0")
    if facts.av_skew_ms >= 40.0:
        problems.append(f"audio/video start skew {facts.av_skew_ms:.1f} ms")
    if abs(facts.audio_duration_s - facts.video_duration_s) > 0.040 + 1e-9:
        problems.append(f"audio {facts.audio_duration_s:.3f} s vs video {facts.video_duration_s:.3f} s")
    if short_side is not None and min(facts.width, facts.height) != short_side:
        problems.append(f"size {facts.width}x{facts.height}, expected shorter side {short_side}")
    if facts.width % 2 or facts.height % 2:
        problems.append(f"odd dimensions {facts.width}x{facts.height}")
    return problems
