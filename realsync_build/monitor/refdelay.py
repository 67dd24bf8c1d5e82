"""Mode 2: the delay of INPUT's audio against a reference audio track, by GCC-PHAT.

For the hop ending at ``t``, the input window ``x = input[t - W, t)`` is cross-correlated with
the reference ``y = ref[t - W - D, t + D)`` (``D`` = the largest delay searched) in the
frequency domain with PHAT-beta weighting (the cross-spectrum divided by its magnitude to
the power ``beta``): every frequency band votes with its phase alone, so level changes, a
different voice laid on top (uncorrelated with the reference) and codec noise flatten the
correlation but do not move its peak, and a steady tone cannot dominate it.  Bins outside
``[band_lo_hz, band_hi_hz]`` get no vote (codecs cut the top; hum sits at the bottom).

``delay_ms > 0`` means the input's audio plays *after* the reference (lags it); the monitor
reports it as ``offset_ms = -delay_ms`` (plus ``--reference-video-offset``), the sign of ``offset_sec``.

Confidence: the peak's height above the rest of the correlation in robust standard
deviations (median / MAD over the searched lags, ``z``), mapped linearly from ``z = 6`` (0; the
best of ~10^5 lags of pure noise sits near 4.5) to ``z = 20`` (1); 0 when either window is silent.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

SILENCE_DBFS = -60.0


def load_reference(path: str | Path, sample_rate: int) -> np.ndarray:
    """The whole reference track as mono float32 at ``sample_rate`` (any format PyAV reads)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"reference audio {path} not found")
    parts = []
    try:
        with av.open(str(path)) as c:
            if not c.streams.audio:
                raise ValueError(f"{path} has no audio stream")
            rs = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
            for frame in c.decode(c.streams.audio[0]):
                parts += [f.to_ndarray().reshape(-1) for f in rs.resample(frame)]
            parts += [f.to_ndarray().reshape(-1) for f in rs.resample(None)]
    except av.error.FFmpegError as exc:
        raise ValueError(f"cannot read reference audio {path}: {exc}") from exc
    if not parts:
        raise ValueError(f"reference audio {path} is empty")
    return np.concatenate(parts).astype(np.float32)


def dbfs(x: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(np.square(x, dtype=np.float64))) + 1e-12)) if len(x) else -240.0


class ReferenceDelay:
    def __init__(self, reference: np.ndarray, sample_rate: int, window_s: float = 5.0, max_delay_s: float = 2.0,
                 beta: float = 0.8, band_lo_hz: float = 80.0, band_hi_hz: float = 7000.0) -> None:
        self.ref, self.sr = reference.astype(np.float32), sample_rate
        self.window_s, self.max_delay_s, self.beta = window_s, max_delay_s, beta
        self.n = int(round(window_s * sample_rate))
        self.d = int(round(max_delay_s * sample_rate))
        total = self.n + self.n + 2 * self.d
        self.nfft = 1 << int(np.ceil(np.log2(total)))
        freqs = np.fft.rfftfreq(self.nfft, 1.0 / sample_rate)
        self.band = ((freqs >= band_lo_hz) & (freqs <= min(band_hi_hz, sample_rate / 2))).astype(np.float64)

    def reference_span(self, start: int, n: int) -> np.ndarray:
        out = np.zeros(n, np.float32)
        a, b = max(start, 0), min(start + n, len(self.ref))
        if b > a:
            out[a - start : b - start] = self.ref[a:b]
        return out

    def estimate(self, audio: np.ndarray, end_s: float) -> tuple[float | None, float]:
        """``(delay_ms, confidence)`` of the input window ``audio`` (``window_s`` long) ending at ``end_s``."""
        x = np.asarray(audio, np.float64)[-self.n :]
        start = int(round(end_s * self.sr)) - self.n - self.d
        y = self.reference_span(start, self.n + 2 * self.d).astype(np.float64)
        if dbfs(x) < SILENCE_DBFS or dbfs(y) < SILENCE_DBFS:
            return None, 0.0
        x = x - x.mean()
        y = y - y.mean()
        cross = np.conj(np.fft.rfft(x, self.nfft)) * np.fft.rfft(y, self.nfft)
        cross *= self.band / (np.abs(cross) + 1e-12) ** self.beta
        corr = np.fft.irfft(cross, self.nfft)[: 2 * self.d + 1]  # corr[k] = sum x[t] y[t + k]; lag k <-> delay D - k
        k = int(np.argmax(corr))
        peak = corr[k]
        guard = max(1, int(0.01 * self.sr))
        rest = np.concatenate([corr[: max(0, k - guard)], corr[k + guard + 1 :]])
        if len(rest) < 10:
            return None, 0.0
        med = np.median(rest)
        mad = np.median(np.abs(rest - med)) * 1.4826 + 1e-12
        z = (peak - med) / mad
        # sub-sample refinement (parabola through the peak and its neighbours)
        frac = 0.0
        if 0 < k < len(corr) - 1:
            a, b, c = corr[k - 1], corr[k], corr[k + 1]
            den = a - 2 * b + c
            frac = 0.5 * (a - c) / den if den < 0 else 0.0
        delay_ms = (self.d - (k + frac)) * 1000.0 / self.sr
        return float(delay_ms), float(np.clip((z - 6.0) / 14.0, 0.0, 1.0))
