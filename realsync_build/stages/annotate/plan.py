"""``realsync annotate --dry-run``: which clips would be annotated, how much media, about how long,
and which models are missing.  Reads the manifests and the models folder; writes nothing.

Planning only: it reads ``clips.parquet`` and ``annotations.parquet`` and never imports the
annotation code itself, so the pipeline behind it may change freely.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from realsync_build.core import estimates
from realsync_build.core.errors import NothingToDo
from realsync_build.core.executors.base import default_workers
from realsync_build.core.plan import Plan
from realsync_build.core.root import DatasetRoot
from realsync_build.core.schema import DONE, FAILED
from realsync_build.core.stage import RunOptions


def nothing_to_annotate(clips: pd.DataFrame) -> str:
    failed = int((clips["status"] == FAILED).sum()) if len(clips) else 0
    why = f" ({failed} failed: `realsync preprocess --retry-failed` cuts them again)" if failed else ""
    return f"0 clips cut{why}; nothing to annotate: run `realsync preprocess` first"


def done_clips(root: DatasetRoot) -> pd.DataFrame:
    """The clips annotate works on; one line (exit 2) when there are none."""
    clips = root.read("clips", required=True, hint="run `realsync preprocess` first")
    done = clips[clips["status"] == DONE]
    if done.empty:
        raise NothingToDo(nothing_to_annotate(clips))
    return done


def plan_annotate(
    root: DatasetRoot,
    face_detector: str = "sfd",
    events: str = "panns",
    device: str = "auto",
    only: str | None = None,
    options: RunOptions | None = None,
    models_dir: Path | None = None,
) -> Plan:
    options = options or RunOptions()
    clips = done_clips(root)
    ann = root.read("annotations")
    state = dict(zip(ann["clip_id"], ann["status"])) if len(ann) else {}
    plan = Plan("annotate", 0, "clips", 0.0)
    rerun_all = only is not None or options.verify or options.overwrite
    for c in clips.to_dict("records"):
        s = state.get(c["clip_id"])
        if s == DONE and not rerun_all:
            plan.done_before += 1
        elif s == FAILED and not options.retry_failed and not rerun_all:
            plan.failed_before += 1
        else:
            plan.items += 1
            plan.media_s += float(c["end_s"]) - float(c["start_s"])
    if only is not None:
        plan.notes.append(f"--only {only}: every annotated clip runs that part again")
    elif options.verify:
        plan.notes.append("--verify: every clip is annotated again")
    missing = _missing_models(face_detector, events, only, models_dir)
    if missing:
        plan.notes.append(f"models missing: {', '.join(missing)} (`realsync models download --for annotate "
                          f"--face-detector {face_detector} --events {events}`)")  # fmt: skip
    plan.estimate, plan.no_estimate = estimates.annotate(plan.media_s, default_workers(), face_detector, events, device)
    return plan


def _missing_models(face_detector: str, events: str, only: str | None, models_dir: Path | None) -> list[str]:
    from realsync_build.models import factory

    try:
        return factory.missing_models(factory.needed_for_annotate(face_detector, events, only, sync=True), models_dir)
    except KeyError:
        return []
