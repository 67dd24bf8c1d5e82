"""``realsync annotate``: the driver over clips (stage driver, resumable, then consolidation)."""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path

import pandas as pd


from realsync_build.stages.annotate.clip import annotate_clip, get_model
from realsync_build.stages.annotate.config import GPUS_PER_TASK_DEFAULT, AnnotateConfig
from realsync_build.stages.annotate.outputs import consolidate, parts_exist
from realsync_build.core.executors.base import Resources, default_workers
from realsync_build.core.executors.devices import gpu_devices
from realsync_build.models.base import ModelMissing
from realsync_build.core.root import DatasetRoot
from realsync_build.core.state import SPECS, stage_run
from realsync_build.core.schema import DONE, FAILED
from realsync_build.core.stage import RunOptions, StageReport, run_stage


class SyncRequired(RuntimeError):
    """``--require-sync`` and the SyncNet weights are missing."""


def _error_rows(task: dict, error: str) -> list[dict]:
    return [{"clip_id": task["clip_id"], "status": FAILED, "error": error}]


def _media_seconds(rows: list[dict]) -> float:
    return float(sum(r.get("duration_s") or 0.0 for r in rows if r.get("status") == DONE))




def preflight(cfg: AnnotateConfig, models_dir: Path | None = None) -> str | None:
    """Load the models this run needs (raises :class:`ModelMissing` for a missing detector or tagger).

    Returns the reason sync scoring is skipped, or None when SyncNet is available.
    """
    if cfg.only in (None, "faces"):
        get_model("faces", cfg, models_dir, "cpu")
    if cfg.only in (None, "events"):
        get_model("events", cfg, models_dir, "cpu")
    if cfg.only == "events":
        return None
    try:
        get_model("sync", cfg, models_dir, "cpu")
    except ModelMissing as exc:
        if cfg.require_sync:
            raise SyncRequired(f"--require-sync: {exc}") from exc
        return f"SyncNet weights missing ({exc})"
    return None


# Options that shape annotate's outputs, under their CLI names (recorded in the root; a rerun
# with other values stops unless --overwrite).  Devices, batch sizes and threads do not.
OUTPUT_PARAMS = {
    "--face-detector": "face_detector",
    "--events": "events",
    "--face-fps": "face_fps",
    "--face-fps-idle": "face_fps_idle",
    "--face-fps-steady": "face_fps_steady",
    "--sync-settle": "sync_settle",
    "--sync-stride": "sync_stride",
    "--min-face-score": "min_face_score",
    "--min-face-px": "min_face_px",
    "--min-track": "min_track_s",
    "--min-sync-run": "min_sync_run_s",
    "--min-confidence": "min_confidence",
    "--max-offset": "max_offset",
    "--event-window": "event_window_s",
    "--event-hop": "event_hop_s",
    "--event-threshold": "event_threshold",
}


SPEC = SPECS["annotate"].complete(
    params=tuple(OUTPUT_PARAMS),
    manifest="annotations",
    task_key="clip_id",
    fn=annotate_clip,
    error_rows=_error_rows,
    media_seconds=_media_seconds,
)


def output_params(cfg: AnnotateConfig) -> dict:
    return {flag: getattr(cfg, attr) for flag, attr in OUTPUT_PARAMS.items()}


def build_tasks(
    root: DatasetRoot, cfg: AnnotateConfig, sync_note: str | None, workers: int, models_dir: Path | None = None
) -> list[dict]:
    clips = root.read("clips", required=True, hint="run `realsync preprocess` first")
    clips = clips[clips["status"] == DONE]
    ann = root.read("annotations")
    previous = {r["clip_id"]: r for r in ann.to_dict("records")} if len(ann) else {}
    from realsync_build.models import registry

    models = str(models_dir or registry.models_dir())
    tasks = []
    for c in clips.to_dict("records"):
        prev = previous.get(c["clip_id"])
        if prev is not None:
            # list<string> cells (top_events) read back as arrays: lists, not NA-tested
            prev = {k: (list(v) if hasattr(v, "tolist") and not isinstance(v, str) and getattr(v, "ndim", 0) == 1
                        else None if (not isinstance(v, (list, str)) and pd.isna(v)) else v) for k, v in prev.items()}  # fmt: skip
        tasks.append(
            {
                "clip_id": c["clip_id"],
                "path": c["path"],
                "duration_s": _clip_duration_s(c),  # the progress bar's share of this clip
                **root.task_fields(),
                "config": asdict(cfg),
                "sync_note": sync_note,
                "models_dir": models,  # explicit: workers (local or remote) never rely on the driver's environment
                "tasks_per_machine": workers,  # the worker divides its own cores by this (Ray: its assigned CPUs)
                "previous": prev,
            }
        )
    return tasks


def _clip_duration_s(c: dict) -> float:
    """A clip's media seconds from its manifest row (frames at 25 fps, else its span)."""
    n = c.get("n_frames")
    if n is not None and not pd.isna(n) and n > 0:
        return float(n) / 25.0
    a, b = c.get("start_s"), c.get("end_s")
    return float(b - a) if a is not None and b is not None and not (pd.isna(a) or pd.isna(b)) else 0.0


def _will_run(root: DatasetRoot, tasks: list[dict], options: RunOptions, is_done) -> set[str]:
    """The clips run_stage will run (the progress bar's total): not done-and-verified, not failed
    before without --retry-failed."""
    from realsync_build.core.stage import task_states

    df = root.read("annotations")
    states = task_states(df, "clip_id")
    groups = df.groupby("clip_id", sort=False).indices if len(df) else {}
    out = set()
    for t in tasks:
        state = states.get(t["clip_id"])
        if state == DONE and is_done(t, df.iloc[groups.get(t["clip_id"], [])]):
            continue
        if state == FAILED and not options.retry_failed:
            continue
        out.add(t["clip_id"])
    return out


def task_resources(cfg: AnnotateConfig) -> Resources:
    """What one clip task asks a cluster for: 1 CPU and a GPU share (the Ray executor drops the GPU
    share on a cluster without GPUs, so the default 0.25 means 0 there)."""
    if cfg.device == "cpu":
        return Resources(num_cpus=1.0, num_gpus=0.0)
    share = GPUS_PER_TASK_DEFAULT if cfg.gpus_per_task is None else float(cfg.gpus_per_task)
    return Resources(num_cpus=1.0, num_gpus=share)


def local_devices(cfg: AnnotateConfig, options: RunOptions) -> RunOptions:
    """The local pool on a GPU machine: one worker per visible GPU, each pinned to its own device
    (unless --workers or an explicit --device cuda:N / cpu says otherwise)."""
    if options.executor != "local" or options.devices or cfg.device not in ("auto", "cuda"):
        return options
    gpus = gpu_devices()
    if not gpus:
        return options
    if options.workers and options.workers != len(gpus):
        # more workers than GPUs: share the GPUs round robin
        gpus = [gpus[i % len(gpus)] for i in range(options.workers)]
    return replace(options, workers=len(gpus), devices=tuple(gpus))


def run_annotate(
    root: DatasetRoot,
    cfg: AnnotateConfig | None = None,
    options: RunOptions | None = None,
    models_dir: Path | None = None,
) -> tuple[StageReport, dict]:
    """Annotate every preprocessed clip; returns the stage report and rows per consolidated manifest.

    ``models_dir``: the models folder (default: the registry's, $REALSYNC_MODELS_DIR or the cache);
    it is passed to every worker in its task.
    """
    cfg = cfg or AnnotateConfig()
    options = options or RunOptions()
    cfg.validate()
    # --only re-runs one part with the options given: it records them instead of refusing them
    root.read("clips", required=True, hint="run `realsync preprocess` first")
    sync_note = preflight(cfg, models_dir)  # a missing model is refused before the root is touched
    options = local_devices(cfg, options)
    with stage_run(root, SPEC, output_params(cfg), overwrite=options.overwrite, guard_params=cfg.only is None) as run:
        workers = options.workers or default_workers()
        tasks = build_tasks(root, cfg, sync_note, workers, models_dir)

        def is_done(task: dict, rows: pd.DataFrame) -> bool:
            if cfg.only is not None or options.verify or not parts_exist(root, task["clip_id"]):
                return False
            if sync_note is None and (rows["sync_status"] == "skipped").any():
                return False  # SyncNet weights arrived since: score the faces now
            return True

        spec = SPEC.complete(resources=task_resources(cfg), verify=is_done)
        if options.executor in ("local", "inline") and options.progress:
            # the bar moves per media second inside each clip (workers report the video pass's
            # position), not once per finished clip; Ray workers may be elsewhere: per-clip bar there
            from realsync_build.core.progress import MediaProgress

            expected = _will_run(root, tasks, options, is_done)
            with MediaProgress(tasks, expected, key="clip_id", title="annotate", items="clips", outputs=""):
                report = run_stage(spec, root, tasks, replace(options, progress=False))
        else:
            report = run_stage(spec, root, tasks, options)
        counts = consolidate(root)  # the merged manifests, written before the completion record
        run.note(**report.counts())
    return report, counts
