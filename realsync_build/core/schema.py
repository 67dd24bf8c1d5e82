"""Every manifest's pyarrow schema, in one place: the contract between stages.

Units are in the names: ``_s`` seconds (float), ``_frames`` frames (int),
``_ms`` milliseconds, ``_hz`` / ``sample_rate`` samples per second.
Paths are stored relative to the dataset root.
"""

from __future__ import annotations

import pyarrow as pa

# Row status values shared by every stage.
PLANNED = "planned"
DONE = "done"
FAILED = "failed"
SKIPPED = "skipped"
STATUSES = (PLANNED, DONE, FAILED, SKIPPED)

_status = [pa.field("status", pa.string()), pa.field("error", pa.string())]

# List-valued columns are native Parquet list<string>. Roots written before that stored them as
# strings ("a;b;c" in clips/annotations, a JSON list in segments); readers convert those on the fly
# (see :func:`realsync_build.core.manifest.read`), so old roots stay readable.
LABELS = pa.list_(pa.string())

# A column added after a manifest's first release: readers fill it with nulls when an
# older file lacks it (see :func:`realsync_build.core.manifest.read`), so old roots stay readable.
OPTIONAL = {b"optional": b"1"}

VIDEOS = pa.schema(
    [
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("channel", pa.string()),
        pa.field("category", pa.string()),
        pa.field("title", pa.string()),
        pa.field("upload_date", pa.string()),
        pa.field("duration_s", pa.float64()),
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field("fps", pa.float64()),
        pa.field("tbr_kbps", pa.float64()),
        pa.field("url", pa.string()),
        pa.field("path", pa.string()),  # root-relative (raw/...); null for an --input file outside the root
        pa.field("size_bytes", pa.int64()),
        *_status,
        # `preprocess --input`: the absolute path of a source file outside the root, as given
        pa.field("source_path", pa.string(), metadata=OPTIONAL),
    ]
)

CLIPS = pa.schema(
    [
        pa.field("clip_id", pa.string(), nullable=False),
        pa.field("video_id", pa.string()),
        pa.field("channel", pa.string()),
        pa.field("category", pa.string()),
        pa.field("start_s", pa.float64()),
        pa.field("end_s", pa.float64()),
        # end_s - start_s of a done clip (as the shard JSON says it); null in roots cut before it was added
        pa.field("duration_s", pa.float64(), metadata=OPTIONAL),
        pa.field("path", pa.string()),
        pa.field("n_frames", pa.int64()),
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field("fps", pa.float64()),
        pa.field("sample_rate", pa.int32()),
        pa.field("channels", pa.int32()),
        pa.field("size_bytes", pa.int64()),
        pa.field("av_skew_ms", pa.float64()),
        pa.field("sha256", pa.string(), metadata=OPTIONAL),  # of the clip file, recorded when written
        # the clip file's mtime when it was last verified (local roots; null for URL roots and older roots):
        # a rerun whose file has another size or mtime re-probes and re-hashes it
        pa.field("mtime_ns", pa.int64(), metadata=OPTIONAL),
        # joined in by `annotate` (null until a clip is annotated)
        pa.field("t_talking_head_s", pa.float64(), metadata=OPTIONAL),
        pa.field("t_voice_over_s", pa.float64(), metadata=OPTIONAL),
        pa.field("top_events", LABELS, metadata=OPTIONAL),  # AudioSet labels, best first
        *_status,
        # train / dev / test: joined in from clip_splits.parquet (written by `realsync split`)
        # when a later stage reads the clips; null in the file itself since clips.parquet has
        # one writer (preprocess). Roots split by older versions still carry it here.
        pa.field("split", pa.string(), metadata=OPTIONAL),
    ]
)

# Per-clip annotation outcome (one row per clip): totals and source-sync QC.
ANNOTATIONS = pa.schema(
    [
        pa.field("clip_id", pa.string(), nullable=False),
        pa.field("duration_s", pa.float64()),
        pa.field("speech_s", pa.float64()),
        pa.field("t_th_s", pa.float64()),
        pa.field("t_vo_s", pa.float64()),
        pa.field("t_other_s", pa.float64()),
        pa.field("t_unscored_s", pa.float64()),  # speech with a face that was not scored
        pa.field("n_shots", pa.int32()),
        pa.field("n_tracks", pa.int32()),
        pa.field("n_windows", pa.int32()),  # SyncNet windows scored
        pa.field("face_detector", pa.string()),
        pa.field("event_tagger", pa.string()),
        pa.field("top_events", LABELS),
        pa.field("sync_status", pa.string()),  # done / skipped (reason in sync_note)
        pa.field("sync_note", pa.string()),
        pa.field("clip_offset_frames", pa.float64()),
        pa.field("clip_offset_n_tracks", pa.int32()),
        pa.field("suspect_sync", pa.bool_()),
        *_status,
    ]
)

# Scenario intervals per clip: talking_head / voice_over / other.
INTERVALS = pa.schema(
    [
        pa.field("clip_id", pa.string(), nullable=False),
        pa.field("start_s", pa.float64()),
        pa.field("end_s", pa.float64()),
        pa.field("label", pa.string()),
        pa.field("track_id", pa.int32()),
        pa.field("offset_frames", pa.int32()),
        pa.field("min_dist", pa.float64()),
        pa.field("confidence", pa.float64()),
    ]
)

# Face tracks per clip (annotate): detections on sampled frames, linked within a shot.
TRACKS = pa.schema(
    [
        pa.field("clip_id", pa.string(), nullable=False),
        pa.field("track_id", pa.int32()),
        pa.field("shot_id", pa.int32()),
        pa.field("start_s", pa.float64()),
        pa.field("end_s", pa.float64()),
        pa.field("n_frames", pa.int32()),
        pa.field("n_detections", pa.int32()),
        pa.field("mean_score", pa.float64()),
        pa.field("mean_size_px", pa.float64()),
        pa.field("n_windows", pa.int32()),
        pa.field("n_talking_windows", pa.int32()),
        pa.field("offset_frames", pa.float64()),  # median over talking-head windows
        pa.field("confidence", pa.float64()),  # median over scored windows
        pa.field("talking", pa.bool_()),
        pa.field("det_frames", pa.list_(pa.int32())),  # 25 fps frame of each detection
        pa.field("det_boxes", pa.list_(pa.float32())),  # x1 y1 x2 y2 score per detection, flattened
    ]
)

# AudioSet events per clip window.
EVENTS = pa.schema(
    [
        pa.field("clip_id", pa.string(), nullable=False),
        pa.field("start_s", pa.float64()),
        pa.field("end_s", pa.float64()),
        pa.field("label", pa.string()),
        pa.field("mid", pa.string()),
        pa.field("score", pa.float64()),
    ]
)

SPLITS = pa.schema(
    [
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("channel", pa.string()),
        pa.field("split", pa.string()),
    ]
)

# Fixed-offset evaluation segments (dev/test). start_s/end_s are seconds from the
# clip's start (StreamSync's v_start_i_sec); offset_sec is on the 0.2 s grid in
# [-2, 2] and offset_class its index 0..20 (an adopted uniform list keeps its listed,
# continuous offset_sec and the class the StreamSync code gives it); top_events is the list of labels.
SEGMENTS = pa.schema(
    [
        pa.field("segment_id", pa.string(), nullable=False),
        pa.field("clip_id", pa.string()),
        pa.field("video_id", pa.string()),
        pa.field("channel", pa.string()),
        pa.field("split", pa.string()),
        pa.field("start_s", pa.float64()),
        pa.field("end_s", pa.float64()),
        pa.field("offset_sec", pa.float64()),
        pa.field("offset_class", pa.int32()),
        pa.field("scenario", pa.string()),
        pa.field("top_events", LABELS),
        # adopted from a published list (`split --from-list`): the clip-name tag of the list's
        # segment id (broken_silence, ...; null without one) and the line's 0-based position,
        # so `export streamsync --layout streamsync` writes the list back in its own order
        pa.field("tag", pa.string(), metadata=OPTIONAL),
        pa.field("list_row", pa.int64(), metadata=OPTIONAL),
    ]
)

# One row per exported WebDataset sample (clip), written by `realsync export webdataset`.
SHARDS = pa.schema(
    [
        pa.field("key", pa.string(), nullable=False),
        pa.field("clip_id", pa.string()),
        pa.field("split", pa.string()),
        pa.field("shard", pa.string()),  # path relative to the root, e.g. shards/train-000000.tar
        pa.field("size_bytes", pa.int64()),  # the sample's bytes (mp4 + json)
        pa.field("shard_bytes", pa.int64()),
        pa.field("shard_fingerprint", pa.string()),  # sha256 of the shard's planned content
        *_status,
    ]
)

# The split of every placed clip (one row per clip with a split), written by `realsync split`.
CLIP_SPLITS = pa.schema(
    [
        pa.field("clip_id", pa.string(), nullable=False),
        pa.field("video_id", pa.string()),
        pa.field("split", pa.string()),
    ]
)

SCHEMAS: dict[str, pa.Schema] = {
    "videos": VIDEOS,
    "clips": CLIPS,
    "annotations": ANNOTATIONS,
    "intervals": INTERVALS,
    "events": EVENTS,
    "tracks": TRACKS,
    "splits": SPLITS,
    "segments": SEGMENTS,
    "clip_splits": CLIP_SPLITS,
    "shards": SHARDS,
}

# The key columns that identify one row of each manifest.
KEYS: dict[str, list[str]] = {
    "videos": ["video_id"],
    "clips": ["clip_id"],
    "annotations": ["clip_id"],
    "splits": ["video_id"],
    "segments": ["segment_id"],
    "clip_splits": ["clip_id"],
    "shards": ["key"],
}
