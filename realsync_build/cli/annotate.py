from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from realsync_build.cli.common import (
    DryRunOpt,
    dry_root,
    print_plan,
    ExecutorOpt,
    OverwriteOpt,
    VerifyOpt,
    ProgressOpt,
    RayAddressOpt,
    RetryOpt,
    RootOpt,
    StrictOpt,
    WorkersOpt,
    app,
    code_of,
    fail,
    finish,
    root_of,
    run_options,
)
from realsync_build.stages.annotate.config import FACE_FPS_IDLE_DEFAULT, FACE_FPS_STEADY_DEFAULT, SETTLE_DEFAULT, STRIDE_DEFAULT
from realsync_build.core.ui import console


@app.command()
def annotate(
    root: RootOpt = None,
    face_detector: Annotated[str, typer.Option("--face-detector", help="Face detector: sfd (S3FD, SyncNet's own), blazeface, or blazeface-back (faster; small faces).")] = "sfd",
    events: Annotated[str, typer.Option("--events", help="Audio event tagger: panns (Cnn14 16 kHz), panns-32k (Cnn14 32 kHz) or yamnet (TFLite, CPU).")] = "panns",
    device: Annotated[str, typer.Option("--device", help="auto (CUDA when available, else CPU), cpu, cuda or cuda:N.")] = "auto",
    face_fps: Annotated[float, typer.Option("--face-fps", help="Frames per second sent to the face detector (boxes are interpolated to 25 fps).")] = 5.0,
    face_fps_idle: Annotated[float, typer.Option("--face-fps-idle", help="Detector rate more than 1 s away from speech, where no label depends on faces (tracks there are coarser). Set it to --face-fps for one rate everywhere.")] = FACE_FPS_IDLE_DEFAULT,
    face_fps_steady: Annotated[float, typer.Option("--face-fps-steady", help="Detector rate near speech while every face track was found at the previous sample (boxes in between are interpolated); a missed face brings back --face-fps at once. Set it to --face-fps to detect every sample.")] = FACE_FPS_STEADY_DEFAULT,
    engine: Annotated[str, typer.Option("--engine", help="CPU inference engine for SyncNet's lip tower and BlazeFace: auto (ONNX Runtime on CPU when installed, else PyTorch; PyTorch on a GPU), torch, or onnx. Same weights; outputs equal PyTorch's within 1e-4.")] = "auto",
    sync_settle: Annotated[float, typer.Option("--sync-settle", min=0.0, max=0.49, help="Stop scoring a speech-and-face run once its accept/reject answer is decisive, with at most this probability per run of a label other than whole-run scoring would give (a sequential rule, docs/annotate.md). 0 scores every run whole (the reference).")] = SETTLE_DEFAULT,
    face_batch: Annotated[int, typer.Option("--face-batch", min=0, help="Frames per face-detector call; 0: chosen per device on the worker (16 on CPU; on a GPU from its free memory).")] = 0,
    sync_batch: Annotated[int, typer.Option("--sync-batch", min=0, help="SyncNet 5-frame windows per forward pass; 0: chosen per device (32 on CPU; on a GPU from its free memory).")] = 0,
    gpus_per_task: Annotated[Optional[float], typer.Option("--gpus-per-task", min=0.0, help="GPU share each clip task asks Ray for (--executor ray). Default: 0.25 when the cluster has GPUs, else 0. Locally, annotate runs one worker per visible GPU, each pinned to its own device.")] = None,
    models_dir: Annotated[Optional[Path], typer.Option("--models-dir", help="Models folder, passed to every worker (default: $REALSYNC_MODELS_DIR or the user cache). A Ray node without it uses <root>/models, else its own cache.")] = None,
    sync_stride: Annotated[int, typer.Option("--sync-stride", min=1, help="SyncNet lip features for every k-th 5-frame window only (audio stays per frame; the mean distance per offset runs over those windows). 1 (default) is the reference; larger is an opt-in speed option, not yet shown equal with the real weights (see docs/annotate.md).")] = STRIDE_DEFAULT,
    min_face_score: Annotated[float, typer.Option("--min-face-score", help="Detector confidence a face needs (syncnet_python: 0.9, S3FD's scale; BlazeFace scores small faces lower).")] = 0.9,
    min_face_px: Annotated[float, typer.Option("--min-face-px", help="Smallest face (shorter box side, pixels at the 256 px clip size) worth lip-reading.")] = 50.0,
    min_track: Annotated[float, typer.Option("--min-track", help="Drop face tracks shorter than this (seconds).")] = 1.0,
    min_sync_run: Annotated[float, typer.Option("--min-sync-run", help="Each speech-and-face run is scored whole, in one SyncNet evaluation; runs shorter than this (seconds) are not scored (label: unscored).")] = 2.0,
    min_confidence: Annotated[float, typer.Option("--min-confidence", help="SyncNet confidence (median minus minimum distance) a run needs for talking head; below it the face is rejected (voice-over).")] = 3.0,
    max_offset: Annotated[int, typer.Option("--max-offset", min=0, max=15, help="Offset window: largest |AV offset| in frames an accepted (talking-head) run may have.")] = 6,
    event_window: Annotated[float, typer.Option("--event-window", help="Event tagger window (seconds).")] = 2.0,
    event_hop: Annotated[float, typer.Option("--event-hop", help="Hop between event windows (seconds).")] = 1.0,
    event_threshold: Annotated[float, typer.Option("--event-threshold", help="Keep event labels scoring at least this.")] = 0.3,
    only: Annotated[Optional[str], typer.Option("--only", help="Re-run one part on annotated clips: faces (re-detects, so re-scores sync), sync, or events.")] = None,
    require_sync: Annotated[bool, typer.Option("--require-sync", help="Fail when the SyncNet weights are missing instead of skipping sync scoring.")] = False,
    workers: WorkersOpt = None,
    executor: ExecutorOpt = "local",
    ray_address: RayAddressOpt = None,
    retry_failed: RetryOpt = False,
    strict: StrictOpt = False,
    progress: ProgressOpt = True,
    overwrite: OverwriteOpt = False,
    verify: VerifyOpt = False,
    dry_run: DryRunOpt = False,
) -> None:
    """Label every clip: talking head / voice-over / other / unscored, AudioSet events, source-sync QC.

    Per clip: silero-vad speech, shot cuts, face tracks (detector at --face-fps, IoU-linked within
    shots, interpolated to 25 fps, median-smoothed over 13 frames), one SyncNet evaluation per
    speech-and-face run, labels from --min-confidence / --max-offset (speech with no usable face is
    'other'), events over --event-window windows.
    Writes manifests/annotations.parquet, intervals.parquet, events.parquet, tracks.parquet and joins
    t_talking_head_s, t_voice_over_s, top_events into clips.parquet. Without SyncNet weights, sync is
    recorded as skipped and speech with a face is labelled 'unscored'. Models come from --models-dir or
    $REALSYNC_MODELS_DIR (see `realsync models list`). Threads, device and batch sizes are chosen on
    each worker from its own cores, GPU and free GPU memory.
    """
    from realsync_build.stages.annotate.config import AnnotateConfig
    from realsync_build.stages.annotate.run import SyncRequired, run_annotate
    from realsync_build.core.manifest import ManifestError
    from realsync_build.models.base import ModelMissing

    from realsync_build.core.device import check_device
    from realsync_build.models.factory import EVENT_TAGGERS, FACE_DETECTORS
    from realsync_build.stages.annotate.config import ONLY_PARTS

    for flag, value, allowed in (("--face-detector", face_detector, FACE_DETECTORS), ("--events", events, EVENT_TAGGERS),
                                 ("--only", only, (None, *ONLY_PARTS))):  # fmt: skip
        if value not in allowed:
            fail(f"{flag} {value!r}: use {', '.join(a for a in allowed if a)}")  # a usage error: exit 2
    check_device(device)
    from realsync_build.models.engine import ENGINES, resolve_engine

    if engine not in ENGINES:
        fail(f"--engine {engine!r}: use {', '.join(ENGINES)}")
    try:
        resolve_engine(engine, "cpu" if device in ("auto", "cpu") else device)
    except ValueError as exc:
        fail(str(exc))
    ds = dry_root(root) if dry_run else root_of(root, must_exist=True)
    from realsync_build.stages.annotate.plan import done_clips, plan_annotate

    if dry_run:
        opts = run_options(workers, executor, ray_address, retry_failed, strict, progress, overwrite=overwrite, verify=verify)
        print_plan(plan_annotate(ds, face_detector, events, device, only, opts, models_dir))
        return
    cfg = AnnotateConfig(
        face_detector=face_detector,
        events=events,
        device=device,
        face_fps=face_fps,
        face_fps_idle=min(face_fps_idle, face_fps),
        face_fps_steady=min(face_fps_steady, face_fps),
        engine=engine,
        sync_settle=sync_settle,
        face_batch=face_batch,
        sync_batch=sync_batch,
        gpus_per_task=gpus_per_task,
        sync_stride=sync_stride,
        min_track_s=min_track,
        min_sync_run_s=min_sync_run,
        min_face_score=min_face_score,
        min_face_px=min_face_px,
        min_confidence=min_confidence,
        max_offset=max_offset,
        event_window_s=event_window,
        event_hop_s=event_hop,
        event_threshold=event_threshold,
        only=only,
        require_sync=require_sync,
    )
    opts = run_options(workers, executor, ray_address, retry_failed, strict, progress, overwrite=overwrite, verify=verify)
    done_clips(ds)  # no clips (run preprocess first) or zero done clips: one line, exit 2, before any model check
    _check_models(cfg, models_dir)
    try:
        report, counts = run_annotate(ds, cfg, opts, models_dir=models_dir)
    except SyncRequired as exc:
        fail(str(exc), code=code_of(exc))
    except (ModelMissing, ManifestError, ValueError, RuntimeError) as exc:
        fail(str(exc), code=code_of(exc))
    console.print("  " + ", ".join(f"{kind}: {n} rows" for kind, n in counts.items()) + f" (under {ds.manifests})")
    finish(report, strict)


def _check_models(cfg, models_dir: Path | None = None) -> None:
    """All missing models in one line, with the one command that fetches them (SyncNet: only under --require-sync)."""
    from realsync_build.models import factory, registry

    try:
        needed = factory.needed_for_annotate(cfg.face_detector, cfg.events, cfg.only, sync=True)
    except KeyError:
        return  # an unknown detector/tagger name: the stage names the valid ones
    missing = factory.missing_models(needed, models_dir)  # --models-dir when given, else the registry's
    blocking = [n for n in missing if n != "syncnet" or cfg.require_sync]
    if blocking:
        # a file that is there but is not the published one is a hash mismatch, not a missing model
        wrong: dict[str, str] = {}
        for c in registry.check_all(blocking, models_dir):
            if c.present and not c.ok and c.entry.name not in wrong:
                wrong[c.entry.name] = f"{c.entry.name} ({c.path.name}: {c.note})"
        absent = [n for n in blocking if n not in wrong]
        fix = f"realsync models download --for annotate --face-detector {cfg.face_detector} --events {cfg.events}"
        also = " (and syncnet, without which sync scoring is skipped)" if "syncnet" in missing and "syncnet" not in blocking else ""
        parts = []
        if absent:
            parts.append(f"missing models: {', '.join(absent)}")
        if wrong:
            parts.append(f"hash mismatch: {', '.join(wrong.values())} (not the published weights)")
        verb = "fetch them" if not wrong else "replace them"
        fail(f"{'; '.join(parts)}{also} in {models_dir or registry.models_dir()}; {verb} with: {fix}", code=1)
