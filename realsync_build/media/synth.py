"""Generated sources (ffmpeg lavfi): for the demo, tests and benchmarks.

:func:`make_source` writes a moving test pattern with a speech-like audio track
(a voiced tone with syllable-rate amplitude modulation and pauses).  Optional
``events`` (seconds) add a white flash in the video and a click in the audio at
the same instants, so audio-visual sync is measurable in the result.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from realsync_build.media.ffmpeg import run_ffmpeg


def speech_like_expr() -> str:
    # ~150 Hz voiced carrier with harmonics, 4 Hz syllable envelope, a pause every ~3 s.
    carrier = "(sin(2*PI*150*t)+0.5*sin(2*PI*300*t)+0.25*sin(2*PI*450*t))"
    envelope = "(0.5+0.5*sin(2*PI*4*t))*gt(sin(2*PI*t/3.1),-0.3)"
    return f"0.25*{carrier}*{envelope}"


def make_source(
    path: str | Path,
    duration_s: float,
    width: int = 1280,
    height: int = 720,
    fps: str = "30",
    sample_rate: int = 44100,
    audio: str = "speech",
    audio_channels: int = 2,
    events: Sequence[float] = (),
    event_ms: int = 80,
    pattern: str = "testsrc2",
    preset: str = "ultrafast",
    crf: int = 23,
    extra_args: Sequence[str] = (),
) -> Path:
    """Write an H.264 + AAC source of ``duration_s`` seconds to ``path`` and return it.

    ``audio``: ``speech`` (speech-like), ``tone`` (440 Hz), ``silence`` or ``none``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    dur = f"{duration_s:.3f}"
    args = ["-f", "lavfi", "-i", f"{pattern}=size={width}x{height}:rate={fps}:duration={dur}"]
    ev = events or ()
    if audio != "none":
        if audio == "speech":
            expr = speech_like_expr()
        elif audio == "tone":
            expr = "0.3*sin(2*PI*440*t)"
        elif audio == "silence":
            expr = "0"
        else:
            raise ValueError(f"unknown audio kind {audio!r}")
        if ev:
            half = event_ms / 2000.0
            clicks = "+".join(f"between(t,{e - half:.4f},{e + half:.4f})*0.9*sin(2*PI*2000*t)" for e in ev)
            expr = f"{expr}+{clicks}"
        args += ["-f", "lavfi", "-i", f"aevalsrc='{expr}':s={sample_rate}:d={dur}"]
    vf = []
    if ev:
        half = event_ms / 2000.0
        enable = "+".join(f"between(t,{e - half:.4f},{e + half:.4f})" for e in ev)
        vf.append(f"drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='{enable}'")
    if vf:
        args += ["-vf", ",".join(vf)]
    args += ["-map", "0:v"]
    if audio != "none":
        args += ["-map", "1:a", "-c:a", "aac", "-ac", str(audio_channels), "-ar", str(sample_rate)]
    args += ["-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p", *extra_args, str(path)]
    run_ffmpeg(args)
    return path
