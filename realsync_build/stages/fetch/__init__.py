"""``realsync fetch``: channel videos with yt-dlp (as a library) into ``raw/`` and ``videos.parquet``.

Two ways to say what to fetch:

* channels (``manifests/channels.toml`` or one ``--channel URL``): enumerate each
  channel, apply RealSync's selection rules and the hours budget
  (:mod:`~realsync_build.stages.fetch.discover`, :mod:`~realsync_build.stages.fetch.select`);
* a published list (``--from-list``): exactly the videos it names
  (:mod:`~realsync_build.stages.fetch.plan`).

The plan is written to ``manifests/videos.parquet`` as ``planned`` rows (all that
``--dry-run`` does); the downloads then run through the stage driver
(:func:`realsync_build.core.stage.run_stage`), one task per video
(:func:`~realsync_build.stages.fetch.download.fetch_video`), so resume, ``--retry-failed``,
``--workers`` and executors behave as in every stage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from realsync_build.core.channels import Channel
from realsync_build.core.listed_spans import record_spans
from realsync_build.stages.fetch.config import FetchConfig
from realsync_build.stages.fetch.discover import ChannelTally, Decision, select_channel
from realsync_build.stages.fetch.download import fetch_video
from realsync_build.stages.fetch.network import FAIL_FAST_AFTER, NetworkCause, Reachability, SiteUnreachable, network_cause, unreachable_message
from realsync_build.stages.fetch.plan import PLAN_ONLY, plan_from_list
from realsync_build.stages.fetch.progress import fetch_progress
from realsync_build.stages.fetch.report import print_plan, print_tallies
from realsync_build.core.root import DatasetRoot
from realsync_build.core.schema import DONE, FAILED, PLANNED, SKIPPED
from realsync_build.core.stage import RunOptions, StageReport, register, run_stage
from realsync_build.core.state import SPECS
from realsync_build.core.ui import console

__all__ = ["FetchConfig", "FetchReport", "run_fetch", "SPEC"]


def known_seconds(value) -> float:
    """A duration from a manifest cell: 0.0 when unknown (None or NaN: ``NaN or 0.0`` is NaN, hence ``hours nan``)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return 0.0
    return v if v == v else 0.0


def _error_rows(task: dict, error: str) -> list[dict]:
    keep = ("video_id", "channel", "category", "title", "upload_date", "duration_s", "width", "height", "fps", "tbr_kbps", "url")
    return [dict({k: task.get(k) for k in keep}, path=None, size_bytes=None, status=FAILED, error=error)]


def _media_seconds(rows: list[dict]) -> float:
    return float(sum(r.get("duration_s") or 0.0 for r in rows if r.get("status") == DONE))


# the selection rules it records (never refused: fetch is additive)
PARAMS = ("--min-minutes", "--min-height", "--max-height", "--min-kbps", "--max-kbps", "--hours-per-channel", "--seed")
SPEC = SPECS["fetch"].complete(
    params=PARAMS, manifest="videos", task_key="video_id", fn=fetch_video, error_rows=_error_rows, media_seconds=_media_seconds,
    item_label="videos",
)


@dataclass
class FetchReport:
    planned: list[dict]
    tallies: dict[str, ChannelTally]
    decisions: list[Decision] = field(default_factory=list)
    stage: StageReport | None = None
    dry_run: bool = False
    from_list: bool = False

    @property
    def ok(self) -> bool:
        listed = all(t.error is None for t in self.tallies.values())
        return listed and (self.stage is None or self.stage.ok)


def _file_exists(root: DatasetRoot):
    def check(task: dict, rows: pd.DataFrame) -> bool:
        if set(rows["status"]) == {SKIPPED}:
            return True  # rejected when its download started; not a failure, not retried
        paths = rows["path"].dropna()
        return len(paths) > 0 and all(root.exists(p) for p in paths)

    return check


def run_fetch(
    root: DatasetRoot,
    cfg: FetchConfig | None = None,
    *,
    channels: list[Channel] | None = None,
    from_list: str | Path | None = None,
    dry_run: bool = False,
    options: RunOptions | None = None,
) -> FetchReport:
    """Plan (channels or a list), record the plan in ``videos.parquet``, then download it.

    Fetch records its selection rules in the root but never refuses other ones: it is additive
    (each run adds the videos its rules pick; a video once fetched is never re-selected)."""
    cfg = cfg or FetchConfig()
    options = options or RunOptions()
    if (channels is None) == (from_list is None):
        raise ValueError("give either channels or a list to fetch from")
    from realsync_build.core.state import stage_run

    with stage_run(root, SPEC, output_params(cfg), guard_params=False) as run:
        report = _run_fetch(root, cfg, channels, from_list, dry_run, options)
        if report.stage is not None:
            run.note(**report.stage.counts())
    return report


def output_params(cfg: FetchConfig) -> dict:
    """The selection rules fetch records, under their CLI names."""
    return {
        "--min-minutes": cfg.min_minutes, "--min-height": cfg.min_height, "--max-height": cfg.max_height,
        "--min-kbps": cfg.min_kbps, "--max-kbps": cfg.max_kbps, "--seed": cfg.seed,
        "--hours-per-channel": cfg.hours_per_channel or 0,  # None (no budget) is what the flag calls 0
    }  # fmt: skip


def _run_fetch(root, cfg, channels, from_list, dry_run, options) -> FetchReport:
    videos = root.read("videos")
    known = {r["video_id"]: r for r in videos.to_dict("records")}
    tallies: dict[str, ChannelTally] = {}
    decisions: list[Decision] = []

    if from_list is not None:
        planned = plan_from_list(from_list)
        for row in planned:
            t = tallies.setdefault(row["channel"], ChannelTally(row["channel"], row["category"]))
            t.found += 1
            t.kept += 1
            t.kept_s += known_seconds((known.get(row["video_id"]) or {}).get("duration_s"))  # 0 until fetch has seen it
            t.spans += len(row["listed_spans"])
            t.listed_s += row["listed_s"]
        record_spans(root, planned)
        apply_rules = False
    else:
        planned = []
        offline: list[NetworkCause] = []  # listings in a row that failed with one network-level cause
        limit = min(FAIL_FAST_AFTER, len(channels or []))
        for ch in channels or []:
            tally = tallies.setdefault(ch.name, ChannelTally(ch.name, ch.category))
            with console.status(f"listing {ch.name} ({ch.url})"):
                planned += select_channel(ch, cfg, known, tally, decisions)
            if tally.error:
                console.print(f"[red]{ch.name}:[/red] cannot list {ch.url}: {tally.error}", highlight=False)
            cause = network_cause(tally.error)
            if cause is None or (offline and offline[0].kind != cause.kind):
                offline.clear()
            if cause is not None:
                offline.append(cause)
                if len(offline) >= limit:
                    raise SiteUnreachable(unreachable_message(cause, len(offline), "channel listings"))
        apply_rules = True

    new_rows = [{k: v for k, v in r.items() if k not in PLAN_ONLY} for r in planned if r["video_id"] not in known]
    if new_rows or not root.has("videos"):
        register(root, "videos", new_rows)
        videos = root.read("videos")
    report = FetchReport(planned=planned, tallies=tallies, decisions=decisions, dry_run=dry_run, from_list=from_list is not None)
    if dry_run:
        return report

    tasks = []
    for row in planned:
        current = known.get(row["video_id"]) or row
        task = {k: current.get(k, row.get(k)) for k in row if k not in PLAN_ONLY}
        task.update(**root.task_fields(), config=cfg.to_dict(), apply_rules=apply_rules)
        tasks.append(task)
    pending = _pending(videos, tasks, options, root)
    cross = options.executor != "inline"
    durations = {t["video_id"]: t.get("duration_s") for t in pending}  # the ETA runs on media hours (or bytes), not counts
    with fetch_progress(len(pending), options.progress and options.executor != "ray", cross, durations) as q:
        for t in tasks:
            t["progress"] = q
        stage_opts = RunOptions(**{**options.__dict__, "progress": False})
        watch = Reachability(min(FAIL_FAST_AFTER, max(len(pending), 1)))  # stop early when the site cannot be reached
        report.stage = run_stage(SPEC.complete(verify=_file_exists(root)), root, tasks, stage_opts, watch=watch)
    for t in tasks:
        t.pop("progress", None)

    final = root.read("videos")
    ids = {t["video_id"] for t in tasks}
    for rec in final[final["video_id"].isin(ids)].to_dict("records"):
        tally = tallies.get(rec["channel"])
        if tally is None:
            continue
        if rec["status"] == DONE:
            tally.downloaded += 1
        elif rec["status"] == FAILED:
            tally.failed += 1
    return report


def _pending(videos: pd.DataFrame, tasks: list[dict], options: RunOptions, root: DatasetRoot) -> list[dict]:
    """The tasks the driver will run (for the progress total and its ETA)."""
    status = dict(zip(videos["video_id"], videos["status"])) if len(videos) else {}
    paths = dict(zip(videos["video_id"], videos["path"])) if len(videos) else {}
    out = []
    for t in tasks:
        s = status.get(t["video_id"], PLANNED)
        if s == SKIPPED or (s == DONE and paths.get(t["video_id"]) and root.exists(paths[t["video_id"]])):
            continue
        if s == FAILED and not options.retry_failed:
            continue
        out.append(t)
    return out


def print_fetch_report(report: FetchReport) -> None:
    if report.dry_run:
        print_plan(report)
    else:
        print_tallies(report)
