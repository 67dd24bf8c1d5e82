"""``realsync split``: video-level train/dev/test split, stratified per channel by duration.

Per channel, the videos are put in a seeded pseudo-random order (sha256 of
seed, channel and video id, so the order of rows in the manifest never
matters) and laid end to end by duration; a video goes to the split whose
share of the channel's duration contains the midpoint of its own span.  Each
channel therefore lands within half its largest video of the 90/5/5 target.

Small datasets: a split with a non-zero share that gets no video at all (every
channel too small to reach it, e.g. the demo's 4 videos) receives one video
from the split holding the most videos, taken from the channel that has the
most videos there (the video nearest the boundary in the seeded order).  Such
channels are reported as ``small`` and exempt from the drift check.

Checks (before anything is written; a failure writes nothing): no video in two
splits, every clip in its video's split, and each channel's split shares
within ``tolerance`` of the target, or within its largest video's share when
that is larger (a channel of 3 videos cannot be split 90/5/5).

Outputs: ``splits.parquet`` (video_id, channel, split), the ``split`` column of
``clips.parquet`` (null for clips left out), and ``segments.parquet`` for the
dev/test clips (:mod:`realsync_build.core.segments`).  Same inputs and seed give
byte-identical files.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

import pandas as pd


from realsync_build.core.clipview import load_inputs, suspect_clips
from realsync_build.core.manifest import ManifestError, MissingInput
from realsync_build.core.root import DatasetRoot
from realsync_build.core.schema import DONE
from realsync_build.core.segments import SegmentConfig, make_segments
from realsync_build.stages.split import SPEC
from realsync_build.stages.split.outputs import write_outputs

SPLIT_NAMES = ("train", "dev", "test")


class SplitError(ValueError):
    """Bad split options or inputs that cannot be split."""


class SplitCheckError(SplitError):
    """A split that leaks videos across splits or drifts from its target shares."""


@dataclass
class SplitConfig:
    seed: int = 0
    ratios: tuple[float, float, float] = (0.90, 0.05, 0.05)
    exclude_suspect_sync: bool = False
    tolerance: float = 0.05
    skip_empty_channels: bool = False
    segments: SegmentConfig = field(default_factory=SegmentConfig)


@dataclass
class ChannelReport:
    channel: str
    videos: int
    clips: int
    hours: float
    shares: dict[str, float]
    drift: float
    allowed: float
    excluded_clips: int = 0
    excluded_hours: float = 0.0
    fallback: bool = False

    @property
    def ok(self) -> bool:
        return self.fallback or self.drift <= self.allowed + 1e-9


@dataclass
class SplitResult:
    splits: pd.DataFrame
    clips: pd.DataFrame
    segments: pd.DataFrame
    channels: list[ChannelReport]
    notes: list[str] = field(default_factory=list)


def parse_seed(text) -> int:
    """``--seed``: an integer, nothing else (``"3"`` yes; ``"3.5"``, ``"abc"`` no)."""
    if isinstance(text, bool):
        raise SplitError(f"--seed must be an integer, got {text!r}")
    if isinstance(text, int):
        return text
    s = str(text).strip()
    try:
        return int(s, 10)
    except ValueError:
        raise SplitError(f"--seed must be an integer (e.g. --seed 0), got {text!r}") from None


def parse_ratios(text: str) -> tuple[float, float, float]:
    """``90/5/5`` or ``0.9,0.05,0.05`` -> shares summing to 1."""
    parts = [p for p in str(text).replace(",", "/").split("/") if p.strip()]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise SplitError(f"--ratios must be three numbers like 90/5/5, got {text!r}") from None
    if len(values) != 3 or not all(math.isfinite(v) for v in values) or any(v < 0 for v in values) or sum(values) <= 0 or values[0] <= 0:
        raise SplitError(f"--ratios must be three non-negative numbers (train > 0) like 90/5/5, got {text!r}")
    total = sum(values)
    return tuple(v / total for v in values)  # type: ignore[return-value]


def _order_key(seed: int, channel: str, video_id: str) -> str:
    return hashlib.sha256(f"{seed}:{channel}:{video_id}".encode()).hexdigest()


def assign_channel(videos: pd.DataFrame, ratios, seed: int) -> dict[str, str]:
    """One channel's videos (video_id, duration_s) -> {video_id: split} by the midpoint rule."""
    channel = str(videos["channel"].iloc[0])
    order = sorted(videos.itertuples(index=False), key=lambda v: _order_key(seed, channel, v.video_id))
    total = float(sum(v.duration_s for v in order)) or 1.0
    bounds, acc = [], 0.0
    for r in ratios:
        acc += r
        bounds.append(acc)
    out, cum = {}, 0.0
    for v in order:
        mid = (cum + v.duration_s / 2.0) / total
        cum += v.duration_s
        idx = next((i for i, b in enumerate(bounds) if mid < b and ratios[i] > 0), None)
        if idx is None:  # past the last boundary by rounding: the last split with a share
            idx = max(i for i, r in enumerate(ratios) if r > 0)
        out[v.video_id] = SPLIT_NAMES[idx]
    return out


def _fallback(assign: dict[str, str], videos: pd.DataFrame, ratios, seed: int) -> tuple[set[str], list[str]]:
    """Give every split with a share at least one video when there are enough videos."""
    touched: set[str] = set()
    notes: list[str] = []
    channel_of = dict(zip(videos["video_id"], videos["channel"]))
    for i, name in enumerate(SPLIT_NAMES):
        if ratios[i] <= 0 or name in assign.values():
            continue
        counts = pd.Series(list(assign.values())).value_counts()
        donor = counts.index[0] if len(counts) else None
        if donor is None or counts.iloc[0] < 2:
            notes.append(f"only {len(assign)} videos: split {name!r} stays empty")
            continue
        donors = [(vid, channel_of[vid]) for vid, s in assign.items() if s == donor]
        per_channel = pd.Series([c for _, c in donors]).value_counts()
        top = sorted(c for c, n in per_channel.items() if n == per_channel.max())[0]
        cands = sorted((v for v, c in donors if c == top), key=lambda v: _order_key(seed, top, v))
        moved = cands[-1]
        assign[moved] = name
        touched.add(top)
        notes.append(f"small dataset: moved video {moved} of channel {top} from {donor} to {name} so {name} is not empty")
    return touched, notes


def _channel_report(channel: str, vids: pd.DataFrame, assign: dict[str, str], ratios, tol: float) -> ChannelReport:
    total = float(vids["duration_s"].sum()) or 1.0
    shares = {s: float(vids.loc[vids["video_id"].map(assign) == s, "duration_s"].sum()) / total for s in SPLIT_NAMES}
    drift = max(abs(shares[s] - r) for s, r in zip(SPLIT_NAMES, ratios))
    allowed = max(tol, float(vids["duration_s"].max()) / total)
    return ChannelReport(channel, len(vids), int(vids["n_clips"].sum()), total / 3600.0, shares, drift, allowed)


def check_split(clips: pd.DataFrame, splits: pd.DataFrame, reports: list[ChannelReport]) -> None:
    """Raise :class:`SplitCheckError` on a leak (a video in two splits) or drift beyond tolerance."""
    problems = []
    dup = splits[splits["video_id"].duplicated(keep=False)]
    if len(dup):
        problems.append(f"videos listed twice in splits: {sorted(set(dup['video_id']))[:5]}")
    placed = clips.dropna(subset=["split"])
    multi = placed.groupby("video_id")["split"].nunique()
    if (multi > 1).any():
        problems.append(f"videos with clips in two splits: {sorted(multi[multi > 1].index)[:5]}")
    expected = placed["video_id"].map(dict(zip(splits["video_id"], splits["split"])))
    wrong = placed[expected != placed["split"]]
    if len(wrong):
        problems.append(f"clips whose split differs from their video's: {sorted(wrong['clip_id'])[:5]}")
    for r in reports:
        if not r.ok:
            problems.append(f"channel {r.channel}: shares drift {r.drift:.3f} beyond the allowed {r.allowed:.3f}")
    if problems:
        raise SplitCheckError("split check failed: " + "; ".join(problems))


def refuse_duplicates(root: DatasetRoot, clips: pd.DataFrame, among: set[str], error=None) -> None:
    """One source, one id: two video ids of ``among`` that hold the same file or the same content
    would land in different splits (a leak).  Raises ``error`` (SplitError) naming both."""
    from realsync_build.core.duplicates import describe, find_duplicates, fix_for

    dups = find_duplicates(root.read("videos"), clips, root, among)
    if dups:
        raise (error or SplitError)(
            f"{root.manifest('videos')}: {len(dups)} source(s) registered under two video ids, which split could put "
            f"in different splits: {describe(dups)}: {fix_for(dups)}; then rerun this command"
        )


def compute_split(root: DatasetRoot, cfg: SplitConfig) -> SplitResult:
    """Everything ``split`` writes, computed and checked in memory."""
    if abs(sum(cfg.ratios) - 1.0) > 1e-6:
        raise SplitError(f"split ratios must sum to 1, got {cfg.ratios}")
    cfg.segments.validate()
    inputs = load_inputs(root)
    clips_path = root.manifest("clips")
    clips_all = inputs.all_clips
    done = inputs.clips.copy()

    excluded: set[str] = set()
    if cfg.exclude_suspect_sync:
        if not inputs.annotated:
            raise MissingInput(
                f"--exclude-suspect-sync needs {root.manifest('annotations')}: run `realsync annotate` first, or drop the flag"
            )
        excluded = suspect_clips(inputs) & set(done["clip_id"])
    usable = done[~done["clip_id"].isin(excluded)].copy()
    usable["duration_s"] = usable["end_s"] - usable["start_s"]
    refuse_duplicates(root, clips_all, set(usable["video_id"]), SplitError)

    notes: list[str] = []
    empty = sorted(set(clips_all["channel"].dropna()) - set(usable["channel"]))
    if empty:
        msg = (
            f"channel(s) {', '.join(empty)} in {clips_path} have no usable clips (all failed"
            f"{' or excluded as suspect sync' if excluded else ''}): rerun `realsync preprocess --retry-failed`, "
            "or pass --skip-empty-channels to split without them"
        )
        if not cfg.skip_empty_channels:
            raise SplitError(msg)
        notes.append(f"skipped empty channel(s): {', '.join(empty)}")

    videos = (
        usable.groupby(["video_id", "channel"], as_index=False)
        .agg(duration_s=("duration_s", "sum"), n_clips=("clip_id", "count"))
        .sort_values("video_id", kind="mergesort")
    )
    multi_channel = videos[videos["video_id"].duplicated(keep=False)]
    if len(multi_channel):
        raise SplitError(
            f"{clips_path}: videos under two channels ({sorted(set(multi_channel['video_id']))[:5]}): "
            "fix the channel of those sources and rerun `realsync preprocess`"
        )
    assign: dict[str, str] = {}
    for _, vids in videos.groupby("channel", sort=True):
        assign.update(assign_channel(vids, cfg.ratios, cfg.seed))
    touched, fb_notes = _fallback(assign, videos, cfg.ratios, cfg.seed)
    notes += fb_notes

    reports = []
    for channel, vids in videos.groupby("channel", sort=True):
        r = _channel_report(str(channel), vids, assign, cfg.ratios, cfg.tolerance)
        r.fallback = channel in touched
        ex = done[(done["channel"] == channel) & done["clip_id"].isin(excluded)]
        r.excluded_clips, r.excluded_hours = len(ex), float((ex["end_s"] - ex["start_s"]).sum()) / 3600.0
        reports.append(r)

    splits = pd.DataFrame(
        {"video_id": videos["video_id"], "channel": videos["channel"], "split": videos["video_id"].map(assign)}
    ).reset_index(drop=True)
    usable_ids = set(usable["clip_id"])
    clips_out = clips_all.copy()
    placed = (clips_out["status"] == DONE) & clips_out["clip_id"].isin(usable_ids)
    clips_out["split"] = None
    clips_out.loc[placed, "split"] = clips_out.loc[placed, "video_id"].map(assign)
    check_split(clips_out, splits, reports)

    placed_clips = usable.assign(split=usable["video_id"].map(assign))
    segments = make_segments(placed_clips, inputs.intervals, inputs.events, cfg.segments, cfg.seed)
    eval_clips = set(placed_clips.loc[placed_clips["split"].isin(("dev", "test")), "clip_id"])
    bare = len(eval_clips - set(segments["clip_id"] if len(segments) else []))
    if bare:
        sc = cfg.segments
        notes.append(
            f"{bare} dev/test clips are too short for a segment (a start needs start >= {sc.max_offset_s:g} s and "
            f"start + {sc.window_s:g} s window + {sc.max_offset_s:g} s shift <= clip length; grid from {sc.start_s} s): "
            "lower --segment-start / --segment-stride / --segment-window for short clips"
        )
    return SplitResult(splits, clips_out, segments, reports, notes)


def write_split(root: DatasetRoot, result: SplitResult) -> None:
    """Write split's three manifests (:func:`realsync_build.stages.split.outputs.write_outputs`)."""
    write_outputs(root, result.splits, result.clips, result.segments)


def output_params(cfg: SplitConfig) -> dict:
    """The options that shape split's outputs, under their CLI names (recorded in the root)."""
    sc = cfg.segments
    return {
        "--seed": cfg.seed,
        "--ratios": [round(r, 12) for r in cfg.ratios],
        "--exclude-suspect-sync": cfg.exclude_suspect_sync,
        "--skip-empty-channels": cfg.skip_empty_channels,
        "--segment-sampling": sc.sampling,
        "--segment-start": sc.start_s,
        "--segment-stride": sc.stride_s,
        "--segment-window": sc.window_s,
        "--offset-sd": sc.offset_sd,
        "--offset-zero-share": sc.offset_zero_share,
        "--top-events": sc.top_events,
    }


def run_split(root: DatasetRoot, cfg: SplitConfig, overwrite: bool = False) -> SplitResult:
    from realsync_build.core.state import stage_run

    from realsync_build.stages.split.adopt import clear_adoption

    from realsync_build.core.state import load

    # a split adopted from published lists is replaced by a drawn one without --overwrite
    adopted = "--from-list" in ((load(root, "split") or {}).get("params") or {})
    with stage_run(root, SPEC, output_params(cfg), overwrite=overwrite, guard_params=not adopted) as run:
        result = compute_split(root, cfg)
        write_split(root, result)
        clear_adoption(root)  # this split replaces one adopted from published lists
        run.note(videos=len(result.splits), segments=len(result.segments))
    return result


def print_result(result: SplitResult) -> None:
    """The per-channel split table, notes and totals on the console."""
    from rich.table import Table

    from realsync_build.core.ui import console

    show_excluded = any(r.excluded_clips for r in result.channels)
    table = Table(title="split per channel (shares of duration, train/dev/test)")
    table.add_column("channel", no_wrap=True)
    for col in ("videos", "clips", "hours", "shares %", "drift", "max"):
        table.add_column(col, justify="right")
    if show_excluded:
        table.add_column("excluded", justify="right")
    table.add_column("check")
    for r in result.channels:
        check = "small" if r.fallback else ("ok" if r.ok else "DRIFT")
        shares = "/".join(f"{100 * r.shares[s]:.0f}" for s in SPLIT_NAMES)
        cells = [r.channel, str(r.videos), str(r.clips), f"{r.hours:.2f}", shares, f"{r.drift:.2f}", f"{r.allowed:.2f}"]
        table.add_row(*cells, *([str(r.excluded_clips)] if show_excluded else []), check)
    console.print(table)
    for note in result.notes:
        console.print(f"[yellow]note:[/yellow] {note}")
    counts = result.segments["split"].value_counts().to_dict() if len(result.segments) else {}
    per_split = result.splits["split"].value_counts().to_dict()
    videos = ", ".join(f"{s} {per_split.get(s, 0)}" for s in SPLIT_NAMES)
    console.print(
        f"[green]split: {len(result.splits)} videos ({videos}); "
        f"{len(result.segments)} evaluation segments (dev {counts.get('dev', 0)}, test {counts.get('test', 0)})[/green]"
    )


__all__ = [
    "ManifestError",
    "SplitCheckError",
    "SplitConfig",
    "SplitError",
    "SplitResult",
    "check_split",
    "compute_split",
    "parse_ratios",
    "parse_seed",
    "run_split",
]
