"""Small manifests for the split / export / stats tests, built directly (no media needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from realsync_build.core import manifest
from realsync_build.core.root import DatasetRoot
from realsync_build.core.schema import DONE, FAILED


def clip_rows(channel: str, video_id: str, n_clips: int, clip_s: int = 300, category: str = "news", status: str = DONE) -> list[dict]:
    rows = []
    for i in range(n_clips):
        a, b = i * clip_s, (i + 1) * clip_s
        cid = f"{video_id}_{a}_{b}"
        rows.append(
            {
                "clip_id": cid,
                "video_id": video_id,
                "channel": channel,
                "category": category,
                "start_s": float(a),
                "end_s": float(b),
                "path": f"clips/{channel}/{video_id}/{cid}.mp4",
                "n_frames": clip_s * 25,
                "width": 456,
                "height": 256,
                "fps": 25.0,
                "sample_rate": 16000,
                "channels": 1,
                "size_bytes": 1000,
                "av_skew_ms": 0.0,
                "status": status,
                "error": None if status == DONE else "boom",
            }
        )
    return rows


def write_clips(ds: DatasetRoot, rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    manifest.write_named(ds, "clips", df)
    return df


def many_videos(ds: DatasetRoot, channels=("CNN", "NFL", "mlb"), n_videos: int = 40, seed: int = 7, clip_s: int = 300) -> pd.DataFrame:
    """``n_videos`` videos per channel with 1..6 clips each."""
    rng = np.random.default_rng(seed)
    rows = []
    for ch in channels:
        for v in range(n_videos):
            rows += clip_rows(ch, f"{ch}-v{v:03d}", int(rng.integers(1, 7)), clip_s, category="sports" if ch != "CNN" else "news")
    return write_clips(ds, rows)


def annotate(ds: DatasetRoot, clips: pd.DataFrame, suspect: set[str] = frozenset(), th_s: float = 100.0, vo_s: float = 50.0, unscored_s: float = 0.0) -> None:
    """Annotations (per-clip totals), intervals and events for every clip, as annotate would write them."""
    ann, iv, ev = [], [], []
    for c in clips.to_dict("records"):
        dur = c["end_s"] - c["start_s"]
        ann.append(
            {
                "clip_id": c["clip_id"], "speech_s": th_s + vo_s + unscored_s, "t_th_s": th_s, "t_vo_s": vo_s,
                "t_unscored_s": unscored_s, "t_other_s": dur - th_s - vo_s - unscored_s, "n_shots": 3,
                "n_tracks": 2, "sync_status": DONE, "sync_note": None, "clip_offset_frames": 0.0,
                "clip_offset_n_tracks": 2, "suspect_sync": c["clip_id"] in suspect, "status": DONE, "error": None,
            }
        )  # fmt: skip
        # talking head over the first half, voice-over over the next quarter, then nothing
        iv.append({"clip_id": c["clip_id"], "start_s": 0.0, "end_s": dur / 2, "label": "talking_head", "track_id": 0, "offset_frames": 0, "min_dist": 6.0, "confidence": 5.0})
        iv.append({"clip_id": c["clip_id"], "start_s": dur / 2, "end_s": dur * 0.75, "label": "voice_over", "track_id": None, "offset_frames": None, "min_dist": None, "confidence": None})
        for t in np.arange(0.0, dur - 0.5, 1.0):
            ev.append({"clip_id": c["clip_id"], "start_s": t, "end_s": t + 2.0, "label": "Speech", "mid": "/m/09x0r", "score": 0.9})
            if int(t) % 3 == 0:
                ev.append({"clip_id": c["clip_id"], "start_s": t, "end_s": t + 2.0, "label": "Music", "mid": "/m/04rlf", "score": 0.4})
    manifest.write_named(ds, "annotations", pd.DataFrame(ann))
    manifest.write_named(ds, "intervals", pd.DataFrame(iv))
    manifest.write_named(ds, "events", pd.DataFrame(ev))
