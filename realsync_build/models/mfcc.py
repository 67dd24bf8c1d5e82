"""MFCC features as SyncNet's reference computes them (python_speech_features' defaults).

Parameters of the reference (``python_speech_features.mfcc(audio, 16000)`` on int16 PCM):
25 ms rectangular windows every 10 ms (100 Hz), pre-emphasis 0.97, 512-point FFT power
spectrum / 512, 26 triangular mel filters over 0..8 kHz, log, orthonormal DCT-II keeping
13 coefficients, sinusoidal liftering with L = 22, and coefficient 0 replaced by the log
frame energy. Written here with numpy (no torchaudio, no extra dependency).
"""

from __future__ import annotations

import decimal
import math

import numpy as np

EPS = np.finfo(float).eps


def _round_half_up(x: float) -> int:
    return int(decimal.Decimal(x).quantize(decimal.Decimal("1"), rounding=decimal.ROUND_HALF_UP))


def hz_to_mel(hz):
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=float) / 700.0)


def mel_to_hz(mel):
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=float) / 2595.0) - 1.0)


def mel_filterbank(n_filters: int = 26, n_fft: int = 512, sample_rate_hz: int = 16000, low_hz: float = 0.0, high_hz: float | None = None) -> np.ndarray:
    """Triangular filters ``(n_filters, n_fft // 2 + 1)`` on FFT bins, python_speech_features' layout."""
    high_hz = high_hz or sample_rate_hz / 2
    mels = np.linspace(hz_to_mel(low_hz), hz_to_mel(high_hz), n_filters + 2)
    bins = np.floor((n_fft + 1) * mel_to_hz(mels) / sample_rate_hz).astype(int)
    fb = np.zeros((n_filters, n_fft // 2 + 1))
    for j in range(n_filters):
        a, b, c = bins[j], bins[j + 1], bins[j + 2]
        for i in range(a, b):
            fb[j, i] = (i - a) / (b - a)
        for i in range(b, c):
            fb[j, i] = (c - i) / (c - b)
    return fb


def dct2_ortho_matrix(n: int, keep: int) -> np.ndarray:
    """Rows of the orthonormal DCT-II: ``X = x @ M.T`` gives the first ``keep`` coefficients."""
    k = np.arange(keep)[:, None]
    i = np.arange(n)[None, :]
    m = np.cos(np.pi * k * (2 * i + 1) / (2 * n)) * 2.0
    scale = np.full((keep, 1), math.sqrt(1.0 / (2 * n)))
    scale[0, 0] = math.sqrt(1.0 / (4 * n))
    return m * scale


def frames(signal: np.ndarray, frame_len: int, frame_step: int) -> np.ndarray:
    """Overlapping frames; the tail is zero-padded to a whole frame (as the reference does)."""
    n = len(signal)
    num = 1 if n <= frame_len else 1 + int(math.ceil((n - frame_len) / frame_step))
    pad = (num - 1) * frame_step + frame_len
    padded = np.concatenate([signal, np.zeros(max(0, pad - n))])
    idx = np.arange(frame_len)[None, :] + frame_step * np.arange(num)[:, None]
    return padded[idx]


def mfcc(
    signal: np.ndarray,
    sample_rate_hz: int = 16000,
    win_s: float = 0.025,
    step_s: float = 0.01,
    n_ceps: int = 13,
    n_filters: int = 26,
    n_fft: int = 512,
    preemph: float = 0.97,
    lifter: int = 22,
) -> np.ndarray:
    """``(n_frames, n_ceps)`` MFCCs of a mono signal (any scale; the reference feeds int16 values)."""
    x = np.asarray(signal, dtype=float)
    if x.ndim != 1 or len(x) == 0:
        raise ValueError("mfcc needs a non-empty mono signal")
    x = np.append(x[0], x[1:] - preemph * x[:-1])
    fr = frames(x, _round_half_up(win_s * sample_rate_hz), _round_half_up(step_s * sample_rate_hz))
    if fr.shape[1] > n_fft:
        fr = fr[:, :n_fft]
    power = np.abs(np.fft.rfft(fr, n_fft)) ** 2 / n_fft
    energy = power.sum(axis=1)
    energy = np.where(energy == 0, EPS, energy)
    feat = power @ mel_filterbank(n_filters, n_fft, sample_rate_hz).T
    feat = np.log(np.where(feat == 0, EPS, feat))
    ceps = feat @ dct2_ortho_matrix(n_filters, n_ceps).T
    if lifter > 0:
        n = np.arange(n_ceps)
        ceps *= 1 + (lifter / 2.0) * np.sin(np.pi * n / lifter)
    ceps[:, 0] = np.log(energy)
    return ceps
