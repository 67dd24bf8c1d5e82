"""Annotating one clip: the stage function the driver maps over clips.

``annotate_media`` does the work on a file and returns everything in memory
(the benchmark and tests call it directly); ``annotate_clip`` is the picklable
stage function: it runs ``annotate_media``, writes the clip's part files
atomically and returns the clip's row of ``annotations.parquet``.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from realsync_build.stages.annotate import labels as L
from realsync_build.stages.annotate.config import AnnotateConfig
from realsync_build.stages.annotate.decode import FPS, decode_audio
from realsync_build.stages.annotate.events import event_rows
from realsync_build.stages.annotate.outputs import read_part, write_part
from realsync_build.stages.annotate.speech import frame_mask, speech_intervals
from realsync_build.stages.annotate.sync import SyncScheduler, Window
from realsync_build.stages.annotate.tracks import Track
from realsync_build.stages.annotate.video import SPEECH_MARGIN_S, Timings, detect_and_track, near_speech, replay_tracks
from realsync_build.core.root import from_task
from realsync_build.core.schema import DONE

_MODELS: dict[tuple, object] = {}
MiB = 2**20
# Memory one batch item needs on a GPU (weights excluded; estimates from the input and activation
# sizes of 256 px clips, not measured on a GPU yet): a batch takes at most half the free memory.
FACE_BYTES = {"sfd": 160 * MiB, "blazeface": 8 * MiB, "blazeface-back": 16 * MiB}
SYNC_BYTES = 48 * MiB
EVENT_BYTES = 32 * MiB


def resolve_batches(cfg: AnnotateConfig, device: str) -> AnnotateConfig:
    """``cfg`` with concrete batch sizes for ``device`` (0 = by device; see ``devices.device_batch``)."""
    from dataclasses import replace

    from realsync_build.core.executors.devices import device_batch
    from realsync_build.stages.annotate.config import EVENT_BATCH_CPU, FACE_BATCH_CPU, SYNC_BATCH_CPU

    return replace(
        cfg,
        face_batch=device_batch(device, cfg.face_batch, FACE_BATCH_CPU, FACE_BYTES.get(cfg.face_detector, 160 * MiB), 256),
        sync_batch=device_batch(device, cfg.sync_batch, SYNC_BATCH_CPU, SYNC_BYTES, 512),
        event_batch=device_batch(device, cfg.event_batch, EVENT_BATCH_CPU, EVENT_BYTES, 64),
    )


def task_models_dir(task: dict) -> Path | None:
    """The models folder for a task, on the node that runs it.

    The driver puts its folder in the task (``models_dir``); a node that has it (local workers,
    a shared filesystem) uses it. Otherwise ``<root>/models`` when the dataset root carries the
    models, else None: the node's own registry folder ($REALSYNC_MODELS_DIR there, or its cache).
    """
    given = task.get("models_dir")
    if given and Path(given).is_dir():
        return Path(given)
    at_root = Path(task["root"]) / "models" if task.get("root") else None
    if at_root is not None and at_root.is_dir():
        return at_root
    return None


def get_model(kind: str, cfg: AnnotateConfig, models_dir: Path | None = None, device: str | None = None):
    """Detector / scorer / tagger from the models factory (weights from ``models_dir``, else the
    registry's folder), cached per process and device.  Batch sizes are chosen for the device here,
    on the worker, from its free memory."""
    from realsync_build.core.executors.devices import task_device
    from realsync_build.models import factory, registry

    device = factory.resolve_device(device or task_device(cfg.device))
    where = str(models_dir or registry.models_dir())
    root = Path(where)
    cfg = resolve_batches(cfg, device)
    if kind == "faces":
        key = (kind, where, cfg.face_detector, device, cfg.min_face_score, cfg.engine)
    elif kind == "events":
        key = (kind, where, cfg.events, device, cfg.event_batch)
    else:
        key = (kind, where, "syncnet", device, cfg.sync_batch, cfg.sync_stride, cfg.engine)
    if key not in _MODELS:
        if kind == "faces":
            _MODELS[key] = factory.get_face_detector(cfg.face_detector, device, root=root, min_score=cfg.min_face_score, engine=cfg.engine)
        elif kind == "events":
            _MODELS[key] = factory.get_event_tagger(cfg.events, device, root=root, batch=cfg.event_batch)
        else:
            _MODELS[key] = factory.get_sync_scorer(device, cfg.sync_batch, root=root, video_stride=cfg.sync_stride, engine=cfg.engine)
    return _MODELS[key]


@dataclass
class ClipResult:
    """Everything annotate learns about one clip."""

    row: dict
    intervals: list[dict] = field(default_factory=list)
    events: list[dict] | None = None  # None: not computed in this run (kept from before)
    tracks: list[dict] | None = None
    windows: list[Window] = field(default_factory=list)
    speech: list[tuple[float, float]] = field(default_factory=list)
    scorer_calls: int = 0
    scored_frames: int = 0
    settled_runs: int = 0  # runs settled early (models/sync_settle.py)
    skipped_samples: int = 0  # detector samples skipped while every track was found (--face-fps-steady)
    lip_windows: int = 0  # 5-frame windows whose lip features were computed
    detected_frames: int = 0
    timings: dict[str, float] = field(default_factory=dict)


def tracks_from_rows(rows) -> list[Track]:
    out = []
    for r in rows.to_dict("records"):
        t = Track(track_id=int(r["track_id"]), shot_id=int(r["shot_id"]))
        boxes = np.asarray(r["det_boxes"], np.float32).reshape(-1, 5)
        for f, b in zip(r["det_frames"], boxes):
            t.add(int(f), b)
        t.lead = max(0, t.first_det - int(round(r["start_s"] * FPS)))
        t.tail = max(0, int(round(r["end_s"] * FPS)) - 1 - t.last_det)
        t.active = False
        out.append(t)
    return out


def _track_rows(clip_id: str, tracks: list[Track], windows: list[Window], cfg: AnnotateConfig) -> list[dict]:
    rows = []
    for t in tracks:
        boxes = np.stack(t.det_boxes)
        rows.append(
            {
                "clip_id": clip_id,
                "track_id": t.track_id,
                "shot_id": t.shot_id,
                "start_s": t.first / FPS,
                "end_s": (t.last + 1) / FPS,
                "n_frames": t.n_frames,
                "n_detections": len(t.det_frames),
                "mean_score": float(boxes[:, 4].mean()),
                "mean_size_px": float(np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]).mean()),
                **L.track_sync_summary(t.track_id, windows, cfg.min_confidence, cfg.max_offset),
                "det_frames": [int(f) for f in t.det_frames],
                "det_boxes": boxes.reshape(-1).astype(np.float32).tolist(),
            }
        )
    return rows


def annotate_media(
    clip_id: str,
    path: str | Path,
    cfg: AnnotateConfig,
    detector=None,
    scorer=None,
    tagger=None,
    sync_note: str | None = None,
    previous: dict | None = None,
    stored_tracks: list[Track] | None = None,
    on_media_s=None,
) -> ClipResult:
    """Annotate one clip file. ``scorer=None`` means sync scoring is skipped (``sync_note`` says why).

    ``cfg.only`` limits the work: ``events`` re-tags audio only; ``sync`` re-scores
    ``stored_tracks``; ``faces`` re-detects (and so re-scores) faces.
    ``on_media_s(seconds)``: progress, the media seconds of the clip done so far.
    """
    timings = Timings()
    t0 = time.process_time()
    only = cfg.only
    media = decode_audio(path)
    t0 = timings.add("decode", t0)
    n_frames = media.n_frames
    speech = speech_intervals(media.audio, threshold=cfg.vad_threshold)
    speech_mask = frame_mask(speech, n_frames)
    timings.add("speech", t0)
    row = dict(previous or {})
    row.update(clip_id=clip_id, duration_s=n_frames / FPS, speech_s=float(sum(e - s for s, e in speech)))
    result = ClipResult(row=row, speech=speech)

    if only in (None, "events"):
        t0 = time.process_time()
        rows, top = event_rows(
            clip_id, tagger, media.audio, cfg.event_window_s, cfg.event_hop_s, cfg.event_threshold, n_frames / FPS
        )
        timings.add("events", t0)
        result.events = rows
        row.update(top_events=top, event_tagger=cfg.events)
    if only == "events":
        result.timings = timings.seconds
        return result

    gate = speech_mask if cfg.vad_gating else None
    from realsync_build.models.sync_settle import SettleRule

    settle = SettleRule(cfg.min_confidence, cfg.max_offset, cfg.sync_settle, int(getattr(scorer, "vshift", 15))) if cfg.sync_settle > 0 else None
    scheduler = SyncScheduler(
        scorer,
        media.audio,
        gate,
        min_run_frames=int(round(cfg.min_sync_run_s * FPS)),
        settle=settle,
    ) if scorer is not None else None
    min_track = int(round(cfg.min_track_s * FPS))
    if only == "sync" and stored_tracks is not None:
        tracks = stored_tracks
        if scheduler is not None:
            replay_tracks(path, n_frames, tracks, scheduler, timings, cfg.decode_queue, on_media_s=on_media_s)
        n_shots = row.get("n_shots")
    else:
        near = None
        if cfg.vad_gating and cfg.face_fps_idle < cfg.face_fps:
            # labels read faces only on speech frames: away from speech the detector runs slower
            near = near_speech(speech_mask, int(round(SPEECH_MARGIN_S * FPS)))
        vr = detect_and_track(path, n_frames, detector, scheduler, cfg, timings, near=near, on_media_s=on_media_s)
        n_frames = min(n_frames, vr.n_frames) if vr.n_frames else n_frames
        result.detected_frames = vr.detected_frames
        result.skipped_samples = vr.skipped_samples
        n_shots = vr.n_shots
        kept = [t for t in vr.tracks if t.n_frames >= min_track]
        renumber = {t.track_id: k for k, t in enumerate(kept)}
        for t in kept:
            t.track_id = renumber[t.track_id]
        tracks = kept
        if scheduler is not None:
            scheduler.windows = [
                Window(renumber[w.track_id], w.start_frame, w.end_frame, w.offset_frames, w.min_dist, w.confidence)
                for w in scheduler.windows
                if w.track_id in renumber
            ]
        row.update(face_detector=cfg.face_detector)

    windows = scheduler.windows if scheduler is not None else []
    t0 = time.process_time()
    spans = [L.TrackSpan(t.track_id, t.first, t.last) for t in tracks]
    code, widx = L.label_frames(n_frames, speech_mask, spans, windows, cfg.min_confidence, cfg.max_offset)
    result.intervals = L.intervals(clip_id, code, widx, windows)
    result.tracks = _track_rows(clip_id, tracks, windows, cfg)
    result.windows = windows
    row.update(L.totals(code))
    row.update(n_shots=n_shots, n_tracks=len(tracks), n_windows=len(windows))
    if scheduler is not None:
        row.update(sync_status=DONE, sync_note=None)
        row.update(L.source_sync_qc(windows, cfg.min_confidence, cfg.max_offset, cfg.suspect_frames))
        result.scorer_calls, result.scored_frames = scheduler.calls, scheduler.scored_frames
        result.settled_runs, result.lip_windows = scheduler.settled, scheduler.lip_windows
    else:
        row.update(sync_status="skipped", sync_note=sync_note or "no sync scorer")
        # without scores neither acceptance nor rejection was measured: both are n/a, not 0
        row.update(t_th_s=None, t_vo_s=None, clip_offset_frames=None, clip_offset_n_tracks=0, suspect_sync=None)
    timings.add("labels", t0)
    result.timings = timings.seconds
    return result


def _set_threads(n: int) -> None:
    import torch

    if n > 0:
        torch.set_num_threads(n)
        os.environ.setdefault("OMP_NUM_THREADS", str(n))


def annotate_clip(task: dict) -> list[dict]:
    """Stage function: one clip -> its row of ``annotations.parquet`` (part files written first).

    Runs on the worker: threads, device and batch sizes are decided here, from this node's
    cores, pinned GPU and free GPU memory; models come from ``task_models_dir(task)``.
    """
    from realsync_build.core.executors.devices import task_device, worker_threads

    cfg = AnnotateConfig(**task["config"])
    _set_threads(worker_threads(cfg.threads, int(task.get("tasks_per_machine") or 1)))
    models = task_models_dir(task)
    device = task_device(cfg.device)
    root = from_task(task)  # a URL root: the clip is read from a local copy, parts are published
    cid = task["clip_id"]
    only = cfg.only
    previous = task.get("previous")
    stored = None
    if only is not None:
        parts = {k: read_part(root, k, cid) for k in ("tracks", "intervals", "events")}
        if previous is None or any(v is None for v in parts.values()):
            only = None  # nothing stored to keep: annotate the clip fully
        elif only == "sync":
            stored = tracks_from_rows(parts["tracks"])
    cfg.only = only
    detector = get_model("faces", cfg, models, device) if only in (None, "faces") else None
    tagger = get_model("events", cfg, models, device) if only in (None, "events") else None
    scorer = None
    if task.get("sync_note") is None and only != "events":
        scorer = get_model("sync", cfg, models, device)
    from realsync_build.models.factory import resolve_device

    cfg = resolve_batches(cfg, resolve_device(device))
    from realsync_build.core.progress import TaskProgress

    progress = TaskProgress(task.get("progress_path"))  # media seconds of this clip done, for the driver's bar
    try:
        with root.local_file(task["path"]) as media:
            res = annotate_media(cid, media, cfg, detector, scorer, tagger, task.get("sync_note"), previous, stored,
                                 on_media_s=lambda s: progress.update(s, 0))  # fmt: skip
    finally:  # a clip that fails is finished too, as far as the bar is concerned
        progress.update(float(task.get("duration_s") or 0.0), 0, finished=True)
    if res.events is not None:
        write_part(root, "events", cid, res.events)
    if only != "events":
        write_part(root, "tracks", cid, res.tracks or [])
        write_part(root, "intervals", cid, res.intervals)
    row = dict(res.row, status=DONE, error=None)
    return [row]


def config_dict(cfg: AnnotateConfig) -> dict:
    return asdict(cfg)
