"""One clip's exported record: the ``{key}.json`` of a WebDataset sample.

Layout (all times in seconds; clip ``start_s``/``end_s`` are positions in the
source video, interval/event/segment times are from the clip's start)::

    {"key", "clip_id", "video_id", "channel", "category", "split",
     "start_s", "end_s", "duration_s", "fps", "sample_rate", "n_frames",
     "width", "height", "audio_channels", "av_skew_ms", "mp4_bytes",
     "annotations": null | {"speech_s", "t_th_s", "t_vo_s", "n_shots", "n_tracks",
                            "sync_status", "sync_note", "clip_offset_frames",
                            "clip_offset_n_tracks", "suspect_sync", "status",
                            "intervals": [{"start_s", "end_s", "label", "track_id",
                                           "offset_frames", "min_dist", "confidence"}],
                            "events": [{"start_s", "end_s", "label", "mid", "score"}]},
     "segments": [{"segment_id", "start_s", "end_s", "offset_sec", "offset_class",
                   "scenario", "top_events": [label, ...]}]}

``annotations`` is null when the root was never annotated; ``segments`` is
empty for train clips (and for dev/test clips too short for a segment).
NaN values become null.
"""

from __future__ import annotations

import json
import math

import pandas as pd

from realsync_build.core import manifest

SAMPLE_FORMAT_VERSION = 1

_ANN_FIELDS = (
    "speech_s", "t_th_s", "t_vo_s", "n_shots", "n_tracks", "sync_status", "sync_note",
    "clip_offset_frames", "clip_offset_n_tracks", "suspect_sync", "status",
)  # fmt: skip
_IV_FIELDS = ("start_s", "end_s", "label", "track_id", "offset_frames", "min_dist", "confidence")
_EV_FIELDS = ("start_s", "end_s", "label", "mid", "score")


def plain(value):
    """A JSON-safe Python value (numpy scalars unwrapped, NaN/NA -> None)."""
    if value is None:
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


def sample_key(clip_id: str) -> str:
    """The WebDataset key: the clip id (dots would split it, so they become ``_``)."""
    return str(clip_id).replace(".", "_")


def _rows(df: pd.DataFrame | None, fields) -> list[dict]:
    if df is None or df.empty:
        return []
    df = df.sort_values(["start_s", "end_s", "label"], kind="mergesort")
    return [{f: plain(r.get(f)) for f in fields} for r in df.to_dict("records")]


def clip_record(
    clip: dict,
    annotation: dict | None,
    intervals: pd.DataFrame | None,
    events: pd.DataFrame | None,
    segments: pd.DataFrame | None,
    annotated: bool,
) -> dict:
    rec = {
        "key": sample_key(clip["clip_id"]),
        "clip_id": clip["clip_id"],
        "video_id": clip["video_id"],
        "channel": clip["channel"],
        "category": plain(clip.get("category")),
        "split": clip["split"],
        "start_s": plain(clip["start_s"]),
        "end_s": plain(clip["end_s"]),
        "duration_s": plain(float(clip["end_s"]) - float(clip["start_s"])),
        "fps": plain(clip.get("fps")),
        "sample_rate": plain(clip.get("sample_rate")),
        "n_frames": plain(clip.get("n_frames")),
        "width": plain(clip.get("width")),
        "height": plain(clip.get("height")),
        "audio_channels": plain(clip.get("channels")),
        "av_skew_ms": plain(clip.get("av_skew_ms")),
        "mp4_bytes": plain(clip.get("size_bytes")),
        "format_version": SAMPLE_FORMAT_VERSION,
        "annotations": None,
        "segments": [],
    }
    if annotated:
        ann = {f: plain((annotation or {}).get(f)) for f in _ANN_FIELDS}
        ann["intervals"] = _rows(intervals, _IV_FIELDS)
        ann["events"] = _rows(events, _EV_FIELDS)
        rec["annotations"] = ann
    if segments is not None and not segments.empty:
        segs = []
        for s in segments.sort_values("start_s", kind="mergesort").to_dict("records"):
            segs.append(
                {
                    "segment_id": s["segment_id"],
                    "start_s": plain(s["start_s"]),
                    "end_s": plain(s["end_s"]),
                    "offset_sec": plain(s["offset_sec"]),
                    "offset_class": plain(s["offset_class"]),
                    "scenario": s["scenario"],
                    "top_events": manifest.as_labels(s.get("top_events")) or [],
                }
            )
        rec["segments"] = segs
    return rec


def record_bytes(rec: dict) -> bytes:
    return json.dumps(rec, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
