"""``realsync preprocess --dry-run``: which sources would be cut, into how many clips, how much
media, and about how long that takes (:mod:`realsync_build.core.estimates`).  Reads only."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from realsync_build.core import estimates
from realsync_build.core.executors.base import default_workers
from realsync_build.core.listed_spans import read_listed_spans
from realsync_build.core.plan import Plan
from realsync_build.core.errors import NothingToDo
from realsync_build.core.root import DatasetRoot
from realsync_build.core.schema import DONE, FAILED
from realsync_build.core.stage import RunOptions, task_states
from realsync_build.media.probe import ProbeError, probe_source
from realsync_build.stages.preprocess.outcomes import nothing_to_cut
from realsync_build.stages.preprocess.run import NoSources, PreprocessConfig, plan_clips, tasks_from_videos
from realsync_build.stages.preprocess.sources import discover_sources, keep_known_ids

HIGHER_THAN = 720  # sources above this height are estimated at about twice the work


def _input_videos(root: DatasetRoot, input_dir: Path, cfg: PreprocessConfig) -> pd.DataFrame:
    """The --input sources as rows like videos.parquet's (probed with PyAV, nothing registered)."""
    sources = discover_sources(input_dir, cfg.category, cfg.category_map)
    if sources.empty:
        raise NoSources(f"no media files under {input_dir} (expected one sub-folder per channel holding the videos)")
    sources = keep_known_ids(sources, root.read("videos"))
    rows = []
    for s in sources.to_dict("records"):
        try:
            info = probe_source(Path(s["path"]))
            duration, height = info.duration_s, info.height
        except (ProbeError, OSError, ValueError):
            duration, height = None, None  # the run would give it a failed row
        rows.append({**s, "status": DONE, "source_path": s["path"], "path": None, "duration_s": duration, "height": height})
    return pd.DataFrame(rows)


def plan_preprocess(
    root: DatasetRoot,
    input_dir: Path | None = None,
    cfg: PreprocessConfig | None = None,
    options: RunOptions | None = None,
    only_listed: bool = False,
) -> Plan:
    cfg = cfg or PreprocessConfig()
    options = options or RunOptions()
    only_spans = read_listed_spans(root) if only_listed else None
    if input_dir is not None:
        videos = _input_videos(root, input_dir, cfg)
    else:
        videos = root.read("videos", required=True, hint="run `realsync fetch` first, or pass --input DIR")
    workers = options.workers or default_workers()
    tasks = tasks_from_videos(root, videos, cfg, workers, only_spans)
    if not tasks:
        raise NothingToDo(nothing_to_cut(videos, only_spans))
    states = task_states(root.read("clips"), "video_id")
    height = dict(zip(videos["video_id"], videos["height"])) if "height" in videos else {}
    plan = Plan("preprocess", 0, "videos", 0.0)
    clips = 0
    media_720 = media_higher = 0.0
    unknown = 0
    for t in tasks:
        state = states.get(t["video_id"])
        if state == DONE and not options.verify and not options.overwrite:
            plan.done_before += 1
            continue
        if state == FAILED and not options.retry_failed and not options.overwrite:
            plan.failed_before += 1
            continue
        plan.items += 1
        media = float(t.get("duration_s") or 0.0)
        if media <= 0:
            unknown += 1
        if "only_spans" in t:
            clips += len(t["only_spans"])
        else:
            clips += len(plan_clips(media, cfg.clip_seconds, cfg.keep_tail))
        h = height.get(t["video_id"])
        if h is not None and pd.notna(h) and h > HIGHER_THAN:
            media_higher += media
        else:
            media_720 += media
    plan.media_s = media_720 + media_higher
    plan.outputs = {"clips to cut": clips, "clip length": f"{cfg.clip_seconds} s"}  # type: ignore[dict-item]
    if options.verify:
        plan.notes.append("--verify: the done videos run too; each existing clip is re-probed and re-hashed and kept when intact")
    if unknown:
        plan.notes.append(f"{unknown} sources have no known duration (not probed yet, or unreadable): not in the media hours")
    cores = default_workers()
    plan.estimate = estimates.preprocess(media_720, media_higher, cores)
    if plan.estimate is None:
        plan.no_estimate = "n/a (no media to cut)"
    return plan
