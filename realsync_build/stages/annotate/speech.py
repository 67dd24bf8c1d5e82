"""Speech intervals with silero-vad (its weights ship inside the wheel: no download)."""

from __future__ import annotations

import numpy as np

from realsync_build.stages.annotate.decode import FPS, SAMPLE_RATE, SAMPLES_PER_FRAME

_MODEL = None


def _model():
    global _MODEL
    if _MODEL is None:
        from silero_vad import load_silero_vad

        _MODEL = load_silero_vad()
    return _MODEL


def speech_intervals(audio: np.ndarray, threshold: float = 0.5, min_speech_ms: int = 250, min_silence_ms: int = 100) -> list[tuple[float, float]]:
    """``[(start_s, end_s), ...]`` where silero-vad hears speech in 16 kHz mono ``audio``."""
    import torch

    if audio.size < 512:
        return []
    stamps = _model_stamps(torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)), threshold, min_speech_ms, min_silence_ms)
    return [(s["start"] / SAMPLE_RATE, s["end"] / SAMPLE_RATE) for s in stamps]


def _model_stamps(wav, threshold, min_speech_ms, min_silence_ms):
    from silero_vad import get_speech_timestamps

    model = _model()
    model.reset_states()
    return get_speech_timestamps(
        wav,
        model,
        threshold=threshold,
        sampling_rate=SAMPLE_RATE,
        min_speech_duration_ms=min_speech_ms,
        min_silence_duration_ms=min_silence_ms,
    )


def frame_mask(intervals: list[tuple[float, float]], n_frames: int) -> np.ndarray:
    """Per 25 fps frame: True when at least half of the frame's 40 ms is inside an interval."""
    n_samples = n_frames * SAMPLES_PER_FRAME
    covered = np.zeros(n_samples + 1, np.int32)
    for s, e in intervals:
        a, b = max(0, int(round(s * SAMPLE_RATE))), min(n_samples, int(round(e * SAMPLE_RATE)))
        if b > a:
            covered[a] += 1
            covered[b] -= 1
    inside = np.cumsum(covered[:-1]) > 0
    if n_frames == 0:
        return np.zeros(0, bool)
    return inside.reshape(n_frames, SAMPLES_PER_FRAME).mean(axis=1) >= 0.5


def frames_to_seconds(n: int) -> float:
    return n / FPS
