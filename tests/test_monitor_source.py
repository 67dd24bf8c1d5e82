"""The monitor's reader: any input to the model's fps, rate and frame size, on the fly."""

from __future__ import annotations

import numpy as np

from realsync_build.monitor.source import Chunk, Event, MediaSpec, Reader
from realsync_build.monitor.windows import WindowBuffer


def _read(path, spec, window_s=5.0, hop_s=2.0):
    buf = WindowBuffer(window_s, hop_s, spec.fps, spec.sample_rate, video=bool(spec.video_size))
    events, ends = [], []
    for item in Reader(str(path), spec).start().items(5.0):
        if isinstance(item, Event):
            events.append(item)
        elif isinstance(item, Chunk):
            buf.put(item.kind, item.start, item.data)
            ends += buf.due()
    return buf, events, ends


def test_a_30fps_44k_clip_becomes_25fps_16k_frames_of_the_model_size(tennis_clip):
    buf, events, ends = _read(tennis_clip, MediaSpec(fps=25, sample_rate=16000, video_size=16))
    assert [e.kind for e in events] == ["segment", "end"] and events[-1].ok
    assert abs(buf.video.end - 250) <= 2  # 10 s at 25 fps
    assert abs(buf.audio.end - 160000) <= 1600
    assert ends == [5.0, 7.0, 9.0]
    v, a = buf.window(9.0)
    assert v.shape == (125, 16, 16, 3) and v.dtype == np.uint8 and a.shape == (80000,) and a.dtype == np.float32
    assert 0.001 < float(np.abs(a).mean()) < 1.0 and v.std() > 5


def test_audio_only_read_for_mode_2_and_a_missing_stream_is_an_error(tmp_path, tennis_clip):
    from realsync_build.monitor.synth import write_audio

    buf, events, _ = _read(tennis_clip, MediaSpec(sample_rate=16000, video_size=0))
    assert buf.video is None and abs(buf.audio.end - 160000) <= 1600
    wav = write_audio(tmp_path / "a.wav", np.zeros(16000, np.float32), 16000)
    _, events, _ = _read(wav, MediaSpec(fps=25, sample_rate=16000, video_size=16))
    assert events[-1].kind == "end" and not events[-1].ok and "no video stream" in events[-1].message


def test_a_timestamp_jump_starts_a_new_timeline_and_realtime_paces_a_file(tmp_path):
    import time

    from realsync_build.media.ffmpeg import run_ffmpeg
    from realsync_build.monitor.run import MonitorOptions, run_monitor
    from realsync_build.monitor.synth import dub_scene, write_audio

    ref, inp = dub_scene(12.0, [(0.0, 0.1)], seed=2)
    ref_wav = write_audio(tmp_path / "ref.wav", ref, 16000)
    src = write_audio(tmp_path / "in.wav", inp, 16000)
    ts = tmp_path / "in.ts"
    run_ffmpeg(["-i", src, "-c:a", "aac", "-f", "mpegts", ts])
    joined = tmp_path / "joined.ts"
    joined.write_bytes(ts.read_bytes() * 2)  # the second copy's timestamps go back to the start
    res = run_monitor(MonitorOptions(input=str(joined), reference_audio=ref_wav, progress=False))
    assert any("timestamp discontinuity" in e and "streaming state reset" in e for e in res.events), res.events
    t = [h.t_s for h in res.hops]
    assert t == sorted(t) and len(t) == 8 and t[4] > 12.0  # 4 hops per 12 s copy, the second copy after the first
    # the second copy measures what the first did (AAC in MPEG-TS: the encoder's 1024-sample priming
    # is in the stream's audio, so both read 100 ms + 64 ms late against the WAV reference: offset_ms -164, audio lags)
    first, second = [h.offset_ms for h in res.hops[:4]], [h.offset_ms for h in res.hops[4:]]
    assert max(abs(a - b) for a, b in zip(first, second)) < 1.0 and all(abs(a + 164.0) <= 2 for a in first)
    # --realtime: 7 s of input take about 7 s
    short = write_audio(tmp_path / "short.wav", inp[: 7 * 16000], 16000)
    t0 = time.monotonic()
    res = run_monitor(MonitorOptions(input=str(short), reference_audio=ref_wav, progress=False, realtime=True))
    assert time.monotonic() - t0 >= 6.0 and len(res.hops) == 2


def test_ring_fills_gaps_and_keeps_the_first_write_on_overlap():
    from realsync_build.monitor.windows import Ring

    a = Ring(keep=100, video=False)
    a.put(0, np.ones(10, np.float32))
    a.put(15, 2 * np.ones(5, np.float32))  # 5 samples lost: silence
    a.put(18, 3 * np.ones(4, np.float32))  # overlaps 2 samples: kept as written first
    assert a.get(0, 22).tolist() == [1.0] * 10 + [0.0] * 5 + [2.0] * 5 + [3.0] * 2
    assert a.get(20, 5).tolist() == [3.0, 3.0, 0.0, 0.0, 0.0]  # past the end: silence
    v = Ring(keep=100, video=True)
    v.put(2, np.full((2, 1, 1, 3), 7, np.uint8))
    v.put(6, np.full((1, 1, 1, 3), 9, np.uint8))  # a gap holds the last frame
    assert v.get(0, 8)[:, 0, 0, 0].tolist() == [7, 7, 7, 7, 7, 7, 9, 9]


def test_hops_do_not_wait_for_a_medium_that_stopped():
    from realsync_build.monitor.windows import MAX_SKEW_S

    buf = WindowBuffer(5.0, 2.0, 10, 8000, video=True, max_skew_s=MAX_SKEW_S)  # a live input
    buf.put("video", 0, np.full((200, 4, 4, 3), 100, np.uint8))  # 20 s of video
    buf.put("audio", 0, np.ones(6 * 8000, np.float32))  # audio stopped after 6 s
    ends = buf.due()
    assert ends[-1] == 17.0 and 20.0 - MAX_SKEW_S - 2.0 < ends[-1] <= 20.0 - MAX_SKEW_S
    _, audio = buf.window(17.0)
    assert not audio.any()  # the dead feed reads as silence (and the hop gets confidence 0)
    strict = WindowBuffer(5.0, 2.0, 10, 8000, video=True)  # a file: hops wait for both media
    strict.put("video", 0, np.full((200, 4, 4, 3), 100, np.uint8))
    strict.put("audio", 0, np.ones(6 * 8000, np.float32))
    assert strict.due() == [5.0]
