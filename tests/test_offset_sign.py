"""One sign for "audio lags", measured end to end on real mp4s: the loader, the class helpers, the monitor.

The convention (``streamsync/task.py``, docs/streamsync.md "Task and sign convention"): ``offset_sec`` is
where the audio window starts relative to the video window, so audio *delayed* by 0.4 s against the
picture (a click heard 0.4 s after its flash: the audio lags) is ``offset_sec = -0.4``, class 8, and the
monitor reports it as ``offset_ms = -400``, "audio lags".

Two generated 12 s clips (64x48 H.264 at 25 fps, AAC mono 16 kHz): one flash at 5.6 s (frames 140-144)
and a 2 kHz click at 5.6 s (in sync) or 6.0 s (audio delayed by 0.4 s), over a flat picture and white
noise; the delayed clip's audio is the in-sync clip's audio 0.4 s later, sample for sample.  Nothing
is trusted: the flash onset is measured in the decoded frames and the click onset in the decoded audio
of whatever windows the loader or the monitor cut, so a flipped sign anywhere (the clip maker, the cut,
a label, the monitor's mapping, its words) or a label one class off fails a check.
"""

from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np
import pytest

from realsync_build.core.avformat import (
    NUM_CLASSES,
    OFFSETS_S,
    class_to_offset,
    list_offset_class,
    nearest_class,
    offset_to_class,
)
from realsync_build.media.ffmpeg import run_ffmpeg
from realsync_build.streamsync.data import plan_segment, plan_training
from realsync_build.streamsync.model.config import ModelConfig

FPS, SR, SIZE = 25, 16000, 32
DURATION_S = 12.0
FLASH_FRAME = 140  # the flash: frames 140..144 (5.6 s .. 5.8 s)
EVENT_S = FLASH_FRAME / FPS
DELAY_S = 0.4  # the delayed clip's click comes this long after its flash: the audio lags 0.4 s
CLICK_S = 0.06
TOL_S = 0.015  # onset measurement: frames are exact on the 40 ms grid, AAC smears a click's onset by a few ms
CFG = ModelConfig(video_size=SIZE, fps=FPS, sample_rate=SR)  # 5 s windows, waveform audio
START_S = 3.0  # the windows' first video start: the flash is 2.6 s into it
LAG_CLASS = 8  # what docs/streamsync.md calls "audio delayed by / lagging 0.4 s": offset_sec -0.4


def _write_wav(path: Path, pcm: np.ndarray) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes((np.clip(pcm, -1, 1) * 32767).astype("<i2").tobytes())
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """``{"sync": mp4, "lag": mp4, "sync_wav": the in-sync audio as a WAV (mode 2's reference, in sync with the picture)}``."""
    d = tmp_path_factory.mktemp("sign")
    n, pad = int(DURATION_S * SR), int(round(DELAY_S * SR))
    # the source sound on [-DELAY_S, DURATION_S): white noise and one click at EVENT_S (source index = (t + DELAY_S) * SR)
    src = (0.03 * np.random.default_rng(0).standard_normal(n + pad)).astype(np.float32)
    c0, k = int(round((EVENT_S + DELAY_S) * SR)), int(round(CLICK_S * SR))
    src[c0 : c0 + k] += (0.8 * np.sin(2 * np.pi * 2000.0 * np.arange(k) / SR)).astype(np.float32)
    audio = {"sync": src[pad:], "lag": src[:n]}  # "lag": at time t the source's sound from t - 0.4 s
    video = (f"color=c=0x303840:size=64x48:rate={FPS}:duration={DURATION_S:g},"
             f"drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='between(n,{FLASH_FRAME},{FLASH_FRAME + 4})'")
    out = {}
    for name, pcm in audio.items():
        wav = _write_wav(d / f"{name}.wav", pcm)
        out[name] = d / f"{name}.mp4"
        run_ffmpeg(["-f", "lavfi", "-i", video, "-i", wav, "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "ultrafast",
                    "-g", "25", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k", "-ac", "1", "-ar", str(SR), out[name]])
    out["sync_wav"] = d / "sync.wav"
    return out


def flash_onset_s(frames: np.ndarray, fps: int = FPS) -> float | None:
    """Seconds from the first frame to the first lit frame; None when no flash starts inside the window."""
    b = frames.reshape(len(frames), -1).astype(np.float64).mean(axis=1)
    if b.max() - b.min() < 40:
        return None
    lit = b > (b.max() + b.min()) / 2
    return None if lit[0] else int(np.argmax(lit)) / fps


def click_onset_s(audio: np.ndarray, sr: int = SR) -> float | None:
    """Seconds from the first sample to the click's onset (|x| over 0.4; the noise stays under 0.2)."""
    loud = np.abs(np.asarray(audio, np.float64)) > 0.4
    if not loud.any() or loud[0] or not (0.5 < np.abs(audio).max() < 1.5):
        return None
    return int(np.argmax(loud)) / sr


def displacement_s(video: np.ndarray, audio: np.ndarray, fps: int = FPS, sr: int = SR) -> float | None:
    """How much later the click is in the audio window than the flash in the video window (> 0: the audio lags)."""
    f, c = flash_onset_s(video, fps), click_onset_s(audio, sr)
    return None if f is None or c is None else c - f


def _segment(mp4: Path, offset_s: float) -> float | None:
    """One evaluation window pair cut by the loader (plan_segment + WindowPlan.cut) at ``offset_s``; its displacement."""
    plan, _ = plan_segment(DURATION_S, START_S, offset_s, 1, 2.0, CFG)
    assert plan.video_starts_s[0] == START_S and plan.offset_s == offset_s
    video, audio = plan.cut(mp4.read_bytes(), CFG)
    assert video.shape == (1, 125, SIZE, SIZE, 3) and audio.shape == (1, 80000)
    return displacement_s(video[0], audio[0])


@pytest.fixture(scope="module")
def labelled(clips):
    """The loader's labelled examples: the in-sync clip cut at each class's offset -> that pair's measured displacement."""
    return {k: _segment(clips["sync"], class_to_offset(k)) for k in range(NUM_CLASSES)}


def test_the_delayed_clip_is_labelled_class_8_offset_minus_0_4_by_the_loader(clips, labelled):
    # the media: at offset 0 the delayed clip's click comes 0.4 s after its flash; the in-sync clip's on it
    lag = _segment(clips["lag"], 0.0)
    assert lag is not None and abs(lag - DELAY_S) <= TOL_S, lag
    assert abs(_segment(clips["sync"], 0.0)) <= TOL_S
    # the loader's labels: class k (offset o) makes, from in-sync media, a pair whose audio lags by -o
    for k, d in labelled.items():
        assert d is not None and abs(d + class_to_offset(k)) <= TOL_S, (k, class_to_offset(k), d)
    # the delayed clip looks like the labelled example of class 8 (offset_sec -0.4), and of no other class
    match = min(labelled, key=lambda k: abs(labelled[k] - lag))
    assert match == LAG_CLASS and class_to_offset(match) == -0.4 and OFFSETS_S[LAG_CLASS] == -0.4
    assert sorted(abs(labelled[k] - lag) for k in labelled)[1] > 0.15  # the next best class is a whole step away
    # the grid helpers give the same class for "audio delayed by 0.4 s", the measured one included
    assert offset_to_class(-DELAY_S) == list_offset_class(-DELAY_S) == nearest_class(-DELAY_S) == LAG_CLASS
    assert nearest_class(-lag) == LAG_CLASS and offset_to_class(round(-lag, 1)) == LAG_CLASS
    assert nearest_class(-0.4 + 0.09) == nearest_class(-0.4 - 0.09) == LAG_CLASS  # rounding: a class is +/-0.1 s wide
    assert nearest_class(-0.4 + 0.11) == LAG_CLASS + 1 and nearest_class(-0.4 - 0.11) == LAG_CLASS - 1
    assert offset_to_class(+DELAY_S) == 12 != LAG_CLASS  # +0.4 s is the audio leading
    # re-synchronising: the shift that puts the click back on its flash is the opposite of the label (+0.4 s)
    resync = {k: _segment(clips["lag"], class_to_offset(k)) for k in range(NUM_CLASSES)}
    best = min((k for k in resync if resync[k] is not None), key=lambda k: abs(resync[k]))
    assert class_to_offset(best) == +DELAY_S and abs(resync[best]) <= TOL_S, resync


def test_a_training_label_has_the_sign_of_the_cut_windows_displacement(clips):
    data = clips["sync"].read_bytes()
    seen = []
    for seed in range(10):
        plan = plan_training(DURATION_S, 2, 0.4, 0.0, np.random.default_rng(seed), CFG, start_s=START_S)
        label = nearest_class(plan.offset_s)  # what TrainWindows hands the model as "target"
        assert np.allclose(plan.video_starts_s, [START_S, START_S + 0.4])
        video, audio = plan.cut(data, CFG)
        for v, a in zip(video, audio):
            lag = displacement_s(v, a)
            assert lag is not None and abs(lag + plan.offset_s) <= TOL_S, (seed, plan.offset_s, lag)
            # the label's offset is the grid point nearest to "the audio lags by lag": -lag, within half a class
            assert abs(class_to_offset(label) + lag) <= 0.1 + TOL_S, (seed, plan.offset_s, label, lag)
            if np.min(np.abs(np.abs(OFFSETS_S + lag) - 0.1)) > TOL_S:  # not at a class boundary: exactly that class
                assert label == int(np.argmin(np.abs(OFFSETS_S + lag))), (seed, plan.offset_s, label, lag)
        seen.append(plan.offset_s)
    assert min(seen) < -0.5 and max(seen) > 0.5, seen  # both signs drawn


class _NearestExampleModel:
    """A stand-in for a trained checkpoint: a 1-nearest-neighbour classifier "trained" on the loader's labelled
    examples (the class whose in-sync example showed the nearest displacement), run by the monitor's own
    mode 1 path on the monitor's own windows.  No flash or click in a window: uniform probabilities."""

    def __init__(self, labelled: dict[int, float]) -> None:
        from realsync_build.monitor.model import InputSpec

        self.labelled = labelled
        self.spec = InputSpec(fps=FPS, sample_rate=SR, video_size=SIZE, window_s=5.0)
        self.name = "nearest labelled example"
        self.seen: list[float] = []

    def reset(self) -> None:
        pass

    def hop(self, video: np.ndarray, audio: np.ndarray) -> np.ndarray:
        p = np.full(NUM_CLASSES, 1.0 / NUM_CLASSES)
        lag = displacement_s(video, audio)
        if lag is not None:
            self.seen.append(lag)
            p[:] = 0.0
            p[min(self.labelled, key=lambda k: abs(self.labelled[k] - lag))] = 1.0
        return p


def test_the_monitor_reports_the_delayed_clip_as_audio_lagging_400_ms(clips, labelled, tmp_path, monkeypatch):
    import io

    from rich.console import Console

    import realsync_build.monitor.model as monitor_model
    from realsync_build.monitor.alerts import AlertRules
    from realsync_build.monitor.outputs import Panel, offset_words
    from realsync_build.monitor.run import MonitorOptions, run_monitor

    # mode 1: the monitor's decoding, windows, class -> offset_ms mapping, JSONL and alerts around the stand-in model
    model = _NearestExampleModel(labelled)
    monkeypatch.setattr(monitor_model, "load_model", lambda checkpoint=None, name=None: model)
    res = run_monitor(MonitorOptions(input=str(clips["lag"]), checkpoint=Path("stand-in.pt"), jsonl=tmp_path / "m1.jsonl",
                                     progress=False, rules=AlertRules(persist=2)))
    rows = [json.loads(x) for x in (tmp_path / "m1.jsonl").read_text().splitlines()]
    assert [r["t_s"] for r in rows] == [5.0, 7.0, 9.0, 11.0]
    confident = [r for r in rows if r["confidence"] >= 0.3]
    assert [r["t_s"] for r in confident] == [7.0, 9.0], rows  # the windows holding the flash and its click
    assert all(abs(lag - DELAY_S) <= TOL_S for lag in model.seen), model.seen  # the monitor's windows show the lag too
    assert all(r["class_offset_ms"] == -400.0 and r["offset_ms"] == -400.0 for r in confident), confident
    assert res.exit_code == 3 and res.summary["median_offset_ms"] == -400.0  # 400 ms of lag is beyond the 125 ms limit
    # its words: the panel and the end-of-run line name the direction
    assert offset_words(-400.0) == "audio lags" and offset_words(400.0) == "audio leads" and offset_words(0.2) == "in sync"
    console = Console(record=True, width=100, file=io.StringIO(), force_terminal=False)
    console.print(Panel(False, "t", 2.0, AlertRules())._render(res.hops[1]))
    assert "-400 ms (audio lags)" in console.export_text()

    # mode 2 (no model): the delayed clip against its own in-sync audio as the reference, through the CLI
    from tests.monitor_support import realsync

    p = realsync("monitor", clips["lag"], "--reference-audio", clips["sync_wav"], "--jsonl", tmp_path / "m2.jsonl", "--no-progress",
                 "--reference-video-offset", "0")
    rows2 = [json.loads(x) for x in (tmp_path / "m2.jsonl").read_text().splitlines()]
    assert p.returncode == 3, p.stderr
    assert len(rows2) == 4 and all(r["confidence"] >= 0.3 and abs(r["offset_ms"] + 400.0) <= 2.0 for r in rows2), rows2
    assert "median offset -400 ms (audio lags)" in " ".join((p.stderr + p.stdout).split()), p.stderr + p.stdout

