"""Fixed-offset evaluation segments for the dev and test clips.

Positions.  ``grid`` (default) starts a segment every ``stride_s`` seconds from
``start_s``; ``random`` draws the same number of distinct whole-second starts
uniformly from the same range.  A start ``t`` is valid when the window and the
largest audio shift stay inside the clip: ``t >= max_offset_s`` and
``t + window_s + max_offset_s <= clip duration``.  For 300 s clips with the
defaults (10 s grid from 10 s, 5 s window, +/-2 s) that is 10, 20, ..., 290 --
exactly the published list.  Starts are whole seconds because StreamSync's
segment ids carry them as integers.

Offsets.  A share ``zero_share`` of segments get exactly 0 s.  The others draw
from a normal with sd ``offset_sd`` truncated to +/-``max_offset_s``, quantised
to the ``step_s`` grid; a draw that would round to 0 goes to the nearest
non-zero step (+/-0.2 s), so ``zero_share`` is the share of exactly-0 offsets.
With the defaults (0.503, sd 1.0) the 21 class shares match the published
RealSync evaluation list within 0.2 points and the overall sd is 0.62 s
(``tests/test_split_segments.py`` measures both against the shared list).

Scenario.  :mod:`realsync_build.core.scenario` (the one rule, shared
with export, stats and evaluate): the majority label of ``intervals.parquet``
over the span the evaluation streams through (``SegmentConfig.stream``, by
default 18 windows of 5 s at a 2 s hop), not only the segment's first 5 s;
``unannotated`` for clips without intervals (nothing was measured there).
Top events: the ``top_events`` labels of ``events.parquet`` windows that
overlap the segment, by best score.

Every clip draws from its own random stream seeded by (seed, clip_id), so a
clip's segments do not change when other clips are added or removed.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from realsync_build.core.avformat import CLASS_STEP_S, MAX_OFFSET_S, NUM_CLASSES, class_to_offset
from realsync_build.core.records import Segment
from realsync_build.core.scenario import DEFAULT_STREAM, StreamSpan, annotations_by_clip, scenario_of, streamed_span_s, top_events_of

EVAL_SPLITS = ("dev", "test")


@dataclass
class SegmentConfig:
    sampling: str = "grid"  # grid | random
    start_s: int = 10
    stride_s: int = 10
    window_s: float = 5.0
    offset_sd: float = 1.0
    offset_zero_share: float = 0.503
    max_offset_s: float = MAX_OFFSET_S
    top_events: int = 3
    stream: StreamSpan = DEFAULT_STREAM  # the span the evaluation streams through (for the scenario)

    def validate(self) -> None:
        if self.sampling not in ("grid", "random"):
            raise ValueError(f"segment sampling must be grid or random, not {self.sampling!r}")
        if self.stride_s < 1 or self.start_s < 0:
            raise ValueError("segment stride must be >= 1 s and start >= 0 s")
        if not self.window_s > 0:
            raise ValueError("segment window must be > 0 s")
        if not self.offset_sd > 0 or not math.isfinite(self.offset_sd):
            raise ValueError(f"--offset-sd must be a positive number of seconds, not {self.offset_sd}")
        if not 0.0 <= self.offset_zero_share <= 1.0:
            raise ValueError(f"--offset-zero-share must be within 0..1, not {self.offset_zero_share}")
        if abs(self.max_offset_s - MAX_OFFSET_S) > 1e-9:
            raise ValueError("offsets are +/-2 s on a 0.2 s grid (21 classes)")


def sample_offset_classes(rng: np.random.Generator, n: int, sd: float = 1.0, zero_share: float = 0.503) -> np.ndarray:
    """``n`` offset classes (0..20) from the zero-inflated truncated, quantised normal."""
    half = NUM_CLASSES // 2
    zero = rng.random(n) < zero_share
    steps = np.zeros(n, dtype=np.int64)
    need = int((~zero).sum())
    draws: list[np.ndarray] = []
    got = 0
    while got < need:  # rejection sampling for the truncation
        x = rng.normal(0.0, sd, size=max(16, 2 * (need - got)))
        x = x[np.abs(x) <= MAX_OFFSET_S]
        draws.append(x)
        got += len(x)
    if need:
        x = np.concatenate(draws)[:need]
        k = np.rint(x / CLASS_STEP_S).astype(np.int64)
        k = np.where(k == 0, np.where(x < 0, -1, 1), k)  # never 0: exact zeros come from zero_share
        steps[~zero] = np.clip(k, -half, half)
    return steps + half


def clip_rng(seed: int, clip_id: str) -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}:{clip_id}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "little"))


def segment_starts(duration_s: float, cfg: SegmentConfig, rng: np.random.Generator) -> list[int]:
    """Whole-second segment starts within a clip of ``duration_s`` seconds."""
    first = max(cfg.start_s, int(math.ceil(cfg.max_offset_s - 1e-9)))
    last = int(math.floor(duration_s - cfg.window_s - cfg.max_offset_s + 1e-9))
    if last < first:
        return []
    grid = list(range(cfg.start_s, last + 1, cfg.stride_s))
    grid = [t for t in grid if t >= first]
    if cfg.sampling == "grid" or not grid:
        return grid
    positions = np.arange(first, last + 1)
    picked = rng.choice(positions, size=min(len(grid), len(positions)), replace=False)
    return sorted(int(t) for t in picked)


def make_segments(
    clips: pd.DataFrame,
    intervals: pd.DataFrame,
    events: pd.DataFrame,
    cfg: SegmentConfig,
    seed: int,
) -> pd.DataFrame:
    """Segments (``schema.SEGMENTS`` columns) for the clips whose ``split`` is dev or test."""
    cfg.validate()
    eval_clips = clips[clips["split"].isin(EVAL_SPLITS)].sort_values("clip_id")
    by_clip = annotations_by_clip(intervals, events, set(eval_clips["clip_id"]))
    rows = []
    for clip in eval_clips.to_dict("records"):
        rng = clip_rng(seed, clip["clip_id"])
        starts = segment_starts(float(clip["end_s"]) - float(clip["start_s"]), cfg, rng)
        classes = sample_offset_classes(rng, len(starts), cfg.offset_sd, cfg.offset_zero_share)
        ann = by_clip.get(clip["clip_id"])
        duration_s = float(clip["end_s"]) - float(clip["start_s"])
        for t, cls in zip(starts, classes):
            a, b = float(t), float(t) + float(cfg.window_s)
            span = streamed_span_s(a, duration_s, class_to_offset(int(cls)), cfg.stream)
            rows.append(
                Segment(
                    segment_id=f"{clip['clip_id']}_{t}_0",
                    clip_id=clip["clip_id"],
                    video_id=clip["video_id"],
                    channel=clip["channel"],
                    split=clip["split"],
                    start_s=a,
                    end_s=b,
                    offset_sec=class_to_offset(int(cls)),
                    offset_class=int(cls),
                    scenario=scenario_of(ann, *span),
                    top_events=top_events_of(ann, a, b, cfg.top_events),
                ).to_row()
            )
    return pd.DataFrame(rows, columns=Segment.columns())
