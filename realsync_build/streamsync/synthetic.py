"""Synthetic sync data for tests, benchmarks and smoke runs (never for reported results).

* :func:`event_batch`: tensors directly, at model resolution: a flash in the video
  and a click in the audio at the same sparse random moments, then the offset
  applied.  Sparse events make a single 5 s window often ambiguous, so history helps.
* :func:`write_shard_dataset`: small real mp4 clips (flash + click events, via
  :func:`realsync_build.media.synth.make_source`, already at 25 fps / 16 kHz mono /
  short side 256) packed as the export's WebDataset shards, with dev/test segments.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import torch

from realsync_build.core import atomic
from realsync_build.core.root import DatasetRoot
from realsync_build.core.avformat import FPS, NUM_CLASSES, SAMPLE_RATE, class_to_offset, offset_to_class


def event_batch(
    batch: int,
    n_windows: int,
    hop_s: float = 1.0,
    size: int = 16,
    window_s: float = 5.0,
    fps: int = FPS,
    sample_rate: int = SAMPLE_RATE,
    mean_gap_s: float = 4.0,
    rng: np.random.Generator | None = None,
    classes: np.ndarray | None = None,
    placement: str = "poisson",
    margin_s: float = 0.4,
    event_window: str = "first",
    unpaired_distractors: bool = False,
    spread_s: float | None = None,
) -> dict:
    """One batch of H-window streams.

    ``placement`` says where the flash/click events are (the offset and its label are the same in every case):

    * ``"poisson"`` (the standard task): Poisson events with ``mean_gap_s`` (at least 1.2 s apart), so a
      window may hold none, one or several, some seen in one modality only;
    * ``"single"``: exactly one event, inside both the first video window and its audio window (at least
      ``margin_s`` from their edges), at a uniform random position;
    * ``"video_anchor"`` / ``"audio_anchor"``: one event at the centre of the video (or audio) window,
      so the offset shows in the other modality's event time alone (curriculum stages);
    * several joined with ``+`` (``"video_anchor+audio_anchor"``): sample ``b`` uses the ``b % n``-th.

    ``event_window`` (one-event placements only): which of the ``n_windows`` windows holds the event,
    ``"first"`` or ``"random"`` (uniform per sample; with ``hop_s >= window_s + 2`` no other window sees
    any of it, so only one window of the stream is informative, at a place the stream does not know).
    ``spread_s`` (``"single"`` only): the event's place in the video window is its centre +/- up to ``spread_s``
    (uniform, kept where both windows see it) instead of uniform over that range: 0 is ``video_anchor``; a
    widening spread is a curriculum from reading the offset in the audio alone to aligning the two.
    ``unpaired_distractors`` (one-event placements): every other window gets one unpaired event, a flash
    without a click or a click without a flash (an off-screen sound, a cut), at a random place in its own
    window: such a window looks like an anchored one but says nothing about the offset.
    ``"poisson"`` with ``event_window="random"``: the paired events are only around window ``j`` (what its video
    and audio can see; with ``hop_s >= window_s + 5`` no other window sees them), and with
    ``unpaired_distractors`` every other window gets Poisson flashes alone or tones alone.
    """
    if event_window not in ("first", "random"):
        raise ValueError(f"unknown event window {event_window!r}: use first or random")
    placements = placement.split("+")
    for p in placements:
        if p not in ("poisson", "single", "video_anchor", "audio_anchor"):
            raise ValueError(f"unknown event placement {p!r}")
    rng = rng or np.random.default_rng()
    nf, ns = int(round(window_s * fps)), int(round(window_s * sample_rate))
    total_s = window_s + (n_windows - 1) * hop_s + 4.0
    cls = rng.integers(NUM_CLASSES, size=batch) if classes is None else np.asarray(classes)
    holder = np.zeros(batch, np.int64)  # the window holding the one-event placements' event
    video = np.empty((batch, n_windows, nf, size, size, 3), np.uint8)
    audio = np.empty((batch, n_windows, ns), np.float32)
    freq = min(2000.0, sample_rate / 4)  # make_source's click is 2 kHz
    tone = 0.8 * np.sin(2 * np.pi * freq * np.arange(int(0.08 * sample_rate)) / sample_rate).astype(np.float32)
    for b in range(batch):
        off = class_to_offset(int(cls[b]))
        # source timeline [0, total_s); video windows start at 2 + i*hop, audio at that + off
        j = holder[b] = int(rng.integers(n_windows)) if event_window == "random" else 0
        kind = placements[b % len(placements)]
        region = lambda i: (2.0 + i * hop_s - 2.5, 2.0 + i * hop_s + window_s + 2.5)  # noqa: E731 - what window i's video and audio can see
        if kind == "poisson" and event_window == "random":  # the stream's pairs only around window j
            events = _poisson(*region(j), mean_gap_s, rng)
        else:
            events = _events(kind, off, total_s, window_s, mean_gap_s, margin_s, rng, 2.0 + j * hop_s, spread_s)
        n_src_f, n_src_s = int(total_s * fps) + 1, int(total_s * sample_rate) + 1
        vbright = np.zeros(n_src_f, np.float32)
        a_src = (0.02 * rng.standard_normal(n_src_s)).astype(np.float32)
        flashes, clicks = list(events), list(events)
        if unpaired_distractors and kind != "poisson":
            for i in range(n_windows):
                if i != j:
                    t = 2.0 + i * hop_s + rng.uniform(margin_s, window_s - margin_s)
                    (flashes.append(t) if rng.random() < 0.5 else clicks.append(t + off))
        elif unpaired_distractors and event_window == "random":  # every other window: flashes alone or tones alone
            for i in range(n_windows):
                if i != j:
                    (flashes if rng.random() < 0.5 else clicks).extend(_poisson(*region(i), mean_gap_s, rng))
        for e in flashes:
            f = int(round(e * fps))
            vbright[f : f + 2] = 1.0
        for e in clicks:
            s = int(round(e * sample_rate))
            seg = a_src[s : s + len(tone)]
            seg += tone[: len(seg)]
        base = rng.integers(40, 90, size=(1, size, size, 3)) + rng.integers(-8, 9, size=(n_src_f, 1, 1, 1))  # a scene, flicker
        frames = np.clip(base + vbright[:, None, None, None] * 160, 0, 255).astype(np.uint8)
        for i in range(n_windows):
            v0 = 2.0 + i * hop_s
            fi = int(round(v0 * fps))
            ai = int(round((v0 + off) * sample_rate))
            video[b, i] = frames[fi : fi + nf]
            audio[b, i] = a_src[ai : ai + ns]
    return {"video": torch.from_numpy(video), "audio": torch.from_numpy(audio), "target": torch.as_tensor(cls, dtype=torch.long),
            "event_window": torch.from_numpy(holder)}


def _events(placement: str, off: float, total_s: float, window_s: float, mean_gap_s: float, margin_s: float,
            rng: np.random.Generator, v0: float = 2.0, spread_s: float | None = None) -> list[float]:
    """Event times on the source timeline, where the first video window starts at 2 s and its audio at 2 s + off;
    one-event placements put it in the windows whose video starts at ``v0``."""
    if placement == "poisson":
        return _poisson(0.0, total_s, mean_gap_s, rng)
    if placement == "video_anchor":
        return [v0 + window_s / 2]
    if placement == "audio_anchor":
        return [v0 + off + window_s / 2]
    lo, hi = max(margin_s, margin_s + off), min(window_s - margin_s, window_s - margin_s + off)  # video time in both windows
    if spread_s is not None:
        return [v0 + float(np.clip(window_s / 2 + rng.uniform(-spread_s, spread_s), lo, hi))]
    return [v0 + rng.uniform(lo, hi)]


def _poisson(lo: float, hi: float, mean_gap_s: float, rng: np.random.Generator) -> list[float]:
    """Events in ``[lo, hi)`` at least 1.2 s apart (1.2 s + exponential, mean ``mean_gap_s``), begun before ``lo`` so
    that where they fall in the range does not depend on where it starts."""
    events, t = [], lo - 5.0 + rng.uniform(0, mean_gap_s)
    while t < hi:
        if t >= lo:
            events.append(t)
        t += 1.2 + rng.exponential(max(mean_gap_s - 1.2, 0.1))
    return events


def _add(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tf.addfile(info, io.BytesIO(data))


def write_shard_dataset(
    root: DatasetRoot,
    splits: dict[str, int] = {"train": 2, "dev": 1, "test": 1},  # noqa: B006 - read only
    duration_s: float = 12.0,
    mean_gap_s: float = 2.5,
    segments_per_clip: int = 3,
    seed: int = 0,
    width: int = 320,
    height: int = 256,
    pattern: str = "testsrc2",
    audio: str = "speech",
) -> DatasetRoot:
    """Write ``shards/{split}-000000.tar`` with generated clips and their json (segments for dev/test).

    The root gets its ``manifests/`` folder too, so the commands accept it as a dataset root
    (there is no ``shards.parquet``: hand-made shard folders are read as they are).
    """
    from realsync_build.media.synth import make_source

    rng = np.random.default_rng(seed)
    root.manifests.mkdir(parents=True, exist_ok=True)
    root.shards.mkdir(parents=True, exist_ok=True)
    tmp = root.root / "synthetic_src"
    tmp.mkdir(parents=True, exist_ok=True)
    channels = ["synth_a", "synth_b"]
    scenarios = ["talking_head", "voice_over", "other"]
    for split, n in splits.items():
        out = root.shards / f"{split}-000000.tar"
        if out.exists():
            continue
        part = out.with_name(f".{out.name}.tmp-synthetic")
        with tarfile.open(part, "w") as tf:
            for k in range(n):
                vid = f"{split}vid{k:03d}"
                clip_id = f"{vid}_0_{int(duration_s)}"
                events, t = [], rng.uniform(0.3, mean_gap_s)
                while t < duration_s - 0.3:
                    events.append(round(float(t), 2))
                    t += 0.8 + rng.exponential(mean_gap_s - 0.8)
                mp4 = make_source(tmp / f"{clip_id}.mp4", duration_s, width=width, height=height, fps=str(FPS), sample_rate=SAMPLE_RATE,
                                  audio_channels=1, events=events, pattern=pattern, audio=audio)
                channel = channels[k % len(channels)]
                segs = []
                if split != "train":
                    for j in range(segments_per_clip):
                        off = class_to_offset(int(rng.integers(NUM_CLASSES)))
                        start = float(round(rng.uniform(0, max(duration_s - 9.0, 0.0)), 2))
                        segs.append(dict(segment_id=f"{clip_id}_{j}", start_s=start, end_s=min(start + 10.0, duration_s),
                                         offset_sec=off, offset_class=offset_to_class(off), scenario=scenarios[(k + j) % 3]))
                meta = dict(clip_id=clip_id, video_id=vid, channel=channel, category="synthetic", split=split, start_s=0.0,
                            end_s=duration_s, fps=float(FPS), sample_rate=SAMPLE_RATE, n_frames=int(round(duration_s * FPS)), segments=segs,
                            events_s=events)
                _add(tf, f"{clip_id}.mp4", Path(mp4).read_bytes())
                _add(tf, f"{clip_id}.json", json.dumps(meta).encode())
        atomic.commit(part, out)
    return root


def write_event_source(path: Path, duration_s: float, events_s: list[float], seed: int = 0, audio_delay_s: float = 0.0,
                       width: int = 320, height: int = 256, fps: int = FPS, sample_rate: int = SAMPLE_RATE,
                       flash_s: float = 0.24, tone_s: float = 0.12, tone_hz: float = 1000.0) -> Path:
    """An H.264 + AAC mono source of visible and audible events: at each time in ``events_s`` the picture
    flashes (``flash_s``) and a tone burst sounds (``tone_s``, ``tone_hz``), ``audio_delay_s`` later in the
    audio (positive: the sound comes after its flash, the audio lags).  Between events: a still scene with some
    flicker, and low noise in the audio, so that neither stream is
    empty.  Written with PyAV (libx264 ultrafast, AAC) atomically."""
    import av

    path = Path(path)
    rng = np.random.default_rng(seed)
    n_frames, n_samples = int(round(duration_s * fps)), int(round(duration_s * sample_rate))
    flash = np.zeros(n_frames, bool)
    audio = (0.01 * rng.standard_normal(n_samples)).astype(np.float32)
    k = int(round(tone_s * sample_rate))
    ramp = np.minimum(1.0, np.minimum(np.arange(k), np.arange(k)[::-1]) / (0.005 * sample_rate))
    burst = (0.5 * ramp * np.sin(2 * np.pi * tone_hz * np.arange(k) / sample_rate)).astype(np.float32)
    for e in events_s:
        f = int(round(e * fps))
        flash[max(f, 0) : max(f + int(round(flash_s * fps)), 0)] = True
        s = int(round((e + audio_delay_s) * sample_rate))
        if 0 <= s < n_samples:
            seg = audio[s : s + k]
            seg += burst[: len(seg)]
    part = path.with_name(f".{path.name}.tmp-events")
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(part), "w", format="mp4") as out:
        vs = out.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "crf": "23"})
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        aud = out.add_stream("aac", rate=sample_rate, layout="mono")
        small = rng.integers(30, 100, size=(height // 32, width // 32, 3))  # one scene: blocks of colour, upscaled
        scene = np.kron(small, np.ones((32, 32, 1), np.int64))
        for i in range(n_frames):
            img = scene + int(rng.integers(-6, 7)) + (150 if flash[i] else 0)  # some flicker
            frame = av.VideoFrame.from_ndarray(np.clip(img, 0, 255).astype(np.uint8), format="rgb24")
            for packet in vs.encode(frame):
                out.mux(packet)
        for packet in vs.encode():
            out.mux(packet)
        for j in range(0, n_samples, 1024):
            chunk = audio[j : j + 1024][None, :]
            af = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp", layout="mono")
            af.sample_rate, af.pts = sample_rate, j
            for packet in aud.encode(af):
                out.mux(packet)
        for packet in aud.encode():
            out.mux(packet)
    atomic.commit(part, path)
    return path
