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
