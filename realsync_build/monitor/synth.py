"""Generated test material for the monitor (tests and benchmarks; never for reported results).

* :func:`dub_scene` -- mode 2: an effects bed (noise bursts and tones) as the reference, and an
  input = the bed delayed by a piecewise-constant delay, with level changes and a different
  voice-like signal laid on top (the dub).
* :func:`write_audio` -- PCM to a WAV (or, with ``codec``, through ffmpeg's encoder: codec noise).
* :func:`write_event_stream` -- mode 1: a flash/click stream as MPEG-TS whose audio is re-muxed
  by ffmpeg with a delay that changes mid-stream (trims of the in-sync audio, concatenated).
"""

from __future__ import annotations

import wave
from pathlib import Path
from typing import Sequence

import numpy as np

from realsync_build.core.avformat import FPS, SAMPLE_RATE
from realsync_build.media.ffmpeg import run_ffmpeg


def _bed(duration_s: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    n = int(duration_s * sr)
    bed = (0.003 * rng.standard_normal(n)).astype(np.float32)
    t = 0.0
    while t < duration_s:
        length = rng.uniform(0.03, 0.25)
        a, b = int(t * sr), min(n, int((t + length) * sr))
        if b > a:
            burst = rng.standard_normal(b - a) * rng.uniform(0.05, 0.3)
            bed[a:b] += (burst * np.hanning(b - a)).astype(np.float32)
        t += length + rng.uniform(0.1, 0.7)
    t = rng.uniform(0, 1.0)
    while t < duration_s:  # tones: steady partials, 0.3-1.2 s
        length = rng.uniform(0.3, 1.2)
        a, b = int(t * sr), min(n, int((t + length) * sr))
        if b > a:
            f = rng.uniform(300, 3000)
            tt = np.arange(b - a) / sr
            bed[a:b] += (rng.uniform(0.03, 0.15) * np.sin(2 * np.pi * f * tt) * np.hanning(b - a)).astype(np.float32)
        t += length + rng.uniform(0.5, 2.0)
    return bed


def voice_like(duration_s: float, sr: int, rng: np.random.Generator, level: float = 0.2) -> np.ndarray:
    """A voiced carrier (gliding 110-220 Hz pitch, harmonics with formant-like weights), syllable envelope and pauses."""
    n = int(duration_s * sr)
    t = np.arange(n) / sr
    pitch = 160 + 50 * np.sin(2 * np.pi * 0.3 * t + rng.uniform(0, 6)) + 10 * np.sin(2 * np.pi * 5 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / sr
    sig = sum(w * np.sin(k * phase) for k, w in zip(range(1, 12), (1, 0.8, 0.6, 0.9, 0.5, 0.3, 0.35, 0.2, 0.15, 0.1, 0.08)))
    syll = 0.5 + 0.5 * np.sin(2 * np.pi * 3.7 * t + rng.uniform(0, 6))
    pauses = (np.sin(2 * np.pi * t / 2.9 + rng.uniform(0, 6)) > -0.4).astype(np.float64)
    env = syll * pauses
    env = np.convolve(env, np.ones(160) / 160, mode="same")
    sig = sig * env
    return (level * sig / (np.abs(sig).max() + 1e-9)).astype(np.float32)


def dub_scene(duration_s: float, delays: Sequence[tuple[float, float]], sr: int = SAMPLE_RATE, seed: int = 0,
              voice_level: float = 0.2, gains: Sequence[tuple[float, float]] = ((0.0, 1.0),)) -> tuple[np.ndarray, np.ndarray]:
    """``(reference, input)``: the input is ``bed(t - delay(t)) * gain(t) + voice(t)``.

    ``delays``: ``(from_s, delay_s)`` pieces (``delay_s > 0``: the input lags the reference);
    ``gains``: ``(from_s, gain)`` pieces (level changes).
    """
    rng = np.random.default_rng(seed)
    pad = 3.0
    bed = _bed(duration_s + 2 * pad, sr, rng)  # bed[0] is at reference time -pad
    ref = bed[int(pad * sr) : int((pad + duration_s) * sr)]
    n = len(ref)
    t = np.arange(n) / sr
    out = np.zeros(n, np.float32)
    edges = [d[0] for d in delays[1:]] + [duration_s]
    for (t0, d), t1 in zip(delays, edges):
        a, b = int(t0 * sr), int(t1 * sr)
        src = np.arange(a, b) - int(round(d * sr)) + int(pad * sr)
        out[a:b] = bed[np.clip(src, 0, len(bed) - 1)]
    gain = np.ones(n, np.float32)
    for g0, g in gains:
        gain[t >= g0] = g
    out = out * gain + voice_like(duration_s, sr, rng, voice_level)[:n]
    return ref.astype(np.float32), np.clip(out, -1, 1).astype(np.float32)


def write_audio(path: str | Path, pcm: np.ndarray, sr: int, codec: str | None = None, bitrate: str = "64k") -> Path:
    """A mono WAV; with ``codec`` (e.g. ``aac``) the WAV is encoded by ffmpeg into ``path`` instead."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wav = path if codec is None else path.with_suffix(".src.wav")
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes((np.clip(pcm, -1, 1) * 32767).astype("<i2").tobytes())
    if codec is not None:
        run_ffmpeg(["-i", wav, "-c:a", codec, "-b:a", bitrate, path])
        wav.unlink()
    return path


def write_event_stream(path: str | Path, duration_s: float, events_s: Sequence[float], delays: Sequence[tuple[float, float]] = ((0.0, 0.0),),
                       size: str = "64x48", flash_ms: int = 200, click_ms: int = 80, sample_rate: int = SAMPLE_RATE,
                       fmt: str = "mpegts") -> Path:
    """A flash/click stream (H.264 + AAC) whose audio is re-muxed with piecewise delays.

    The in-sync source has a full-frame white flash (``flash_ms``) and a 2 kHz click (``click_ms``)
    at each event over a dark picture and quiet noise.  ``delays``: ``(from_s, delay_s)``; over
    each piece the audio is the source's audio from ``delay_s`` earlier (``> 0``: audio lags),
    cut with ``atrim`` and joined with ``concat`` by ffmpeg.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    dur = f"{duration_s:.3f}"
    fh, ch = flash_ms / 2000.0, click_ms / 2000.0
    enable = "+".join(f"between(t,{e - fh:.3f},{e + fh:.3f})" for e in events_s) or "0"
    clicks = "+".join(f"between(t,{e - ch:.3f},{e + ch:.3f})*0.8*sin(2*PI*2000*t)" for e in events_s) or "0"
    pad = max([abs(d) for _, d in delays] + [0.0]) + 1.0
    # audio source runs from -pad to duration+pad so every delayed piece has material
    a_expr = f"0.02*(random(0)-0.5)+{clicks.replace('(t,', '(t-' + f'{pad:.3f}' + ',').replace('*t)', '*(t-' + f'{pad:.3f}' + '))')}"
    edges = [d[0] for d in delays[1:]] + [duration_s]
    parts, labels = [], []
    for i, ((t0, d), t1) in enumerate(zip(delays, edges)):
        s0, s1 = t0 - d + pad, t1 - d + pad
        parts.append(f"[1:a]atrim=start={s0:.4f}:end={s1:.4f},asetpts=PTS-STARTPTS[a{i}]")
        labels.append(f"[a{i}]")
    graph = ";".join(parts) + ";" + "".join(labels) + f"concat=n={len(labels)}:v=0:a=1[aout]"
    args = [
        "-f", "lavfi", "-i", f"color=c=0x202830:size={size}:rate={FPS}:duration={dur},drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='{enable}'",
        "-f", "lavfi", "-i", f"aevalsrc='{a_expr}':s={sample_rate}:d={duration_s + 2 * pad:.3f}",
        "-filter_complex", graph, "-map", "0:v", "-map", "[aout]",
        "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "64k", "-ac", "1", "-ar", str(sample_rate), "-f", fmt, str(path),
    ]
    run_ffmpeg(args)
    return path
