"""The scenario of an evaluation segment: ONE rule, which split, export, stats and evaluate share.

The paper's Table 6 reports accuracy per scenario (talking heads, voice-overs,
others).  A StreamSync evaluation segment is not 5 s of video: the model
streams ``iterations`` windows of ``window_s`` with a ``hop_s`` hop from the
segment start (``streamsync.data.plan_segment``; 18 windows at a 2 s hop by
default, 39 s of video), so the scenario is taken over that whole streamed span
(:func:`streamed_span_s`), not over the first window only.

The rule (:data:`RULE` = ``"majority"``): the label that covers the most time
of the span in ``intervals.parquet`` (``talking_head``, ``voice_over``,
``unscored``; time no interval labels is ``other``).  Ties go
``talking_head > voice_over > unscored > other``.  ``unscored`` (a face and
speech that SyncNet did not score) stays its own scenario: folding it into
voice-over or other would be a guess.  A clip with no intervals at all (never
annotated, or its annotation failed) is ``unannotated``, not ``other``: nothing
was measured there.

Why majority and not "any talking head": a streamed segment accumulates
evidence over all its windows (APA averages them), so the scenario that
dominates the span is the one the prediction is mostly about; "any talking
head" would file a 39 s wide shot of a crowd with one 2 s close-up under
talking heads.  Callers:

* ``split`` (:func:`realsync_build.core.segments.make_segments`) writes
  the ``scenario`` column of ``segments.parquet`` with the default stream
  (:data:`DEFAULT_STREAM`); ``export`` copies that column into the shards and
  lists, and ``stats`` counts it;
* ``evaluate`` streams with its own ``iterations`` / ``hop_s``; where they differ
  from the default it recomputes the scenario with :func:`segment_scenario`
  over :func:`streamed_span_s` of its own :class:`StreamSpan`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from realsync_build.core.clipview import rows_by_clip

TALKING_HEAD, VOICE_OVER, UNSCORED, OTHER = "talking_head", "voice_over", "unscored", "other"
SCENARIOS = (TALKING_HEAD, VOICE_OVER, UNSCORED, OTHER)  # also the tie order
UNANNOTATED = "unannotated"  # a segment of a clip without intervals: no scenario was measured
LABELLED = (TALKING_HEAD, VOICE_OVER, UNSCORED)  # what intervals.parquet marks; the rest is other
RULE = "majority"


@dataclass(frozen=True)
class StreamSpan:
    """How an evaluation streams through a segment (StreamSync's evaluation defaults)."""

    window_s: float = 5.0
    iterations: int = 18
    hop_s: float = 2.0


DEFAULT_STREAM = StreamSpan()


def streamed_span_s(start_s: float, duration_s: float, offset_s: float = 0.0, stream: StreamSpan = DEFAULT_STREAM) -> tuple[float, float]:
    """``(first video second, last video second)`` the evaluation reads for a segment at ``start_s``.

    Places the windows as ``streamsync.data.plan_segment`` does: from the segment start
    with ``hop_s`` between window starts, shifted back (and the hop shrunk) where the
    clip of ``duration_s`` is too short for all windows at the segment's audio offset.
    """
    n = max(1, int(stream.iterations))
    lo = max(0.0, -offset_s)
    room = max(0.0, duration_s - stream.window_s - abs(offset_s))
    hop = stream.hop_s
    if n > 1 and (n - 1) * hop > room:
        hop = room / (n - 1)
    v0 = min(max(start_s, lo), lo + room - (n - 1) * hop)
    v0 = min(max(v0, lo), lo + room)
    return v0, min(duration_s, v0 + (n - 1) * hop + stream.window_s)


def _covered(spans: Sequence[tuple[float, float]], a: float, b: float) -> float:
    """Length of the union of ``spans`` inside [a, b]."""
    clipped = sorted((max(s, a), min(e, b)) for s, e in spans if min(e, b) > max(s, a))
    total, cur_s, cur_e = 0.0, None, None
    for s, e in clipped:
        if cur_e is None or s > cur_e:
            if cur_e is not None:
                total += cur_e - cur_s
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    if cur_e is not None:
        total += cur_e - cur_s
    return total


def label_seconds(spans: Mapping[str, Sequence[tuple[float, float]]] | None, a: float, b: float) -> dict[str, float]:
    """Seconds of [a, b] per scenario; time no labelled interval covers is ``other``."""
    spans = spans or {}
    out = {s: _covered(spans.get(s, ()), a, b) for s in LABELLED}
    out[OTHER] = max(0.0, (b - a) - _covered([x for s in LABELLED for x in spans.get(s, ())], a, b))
    return out


def segment_scenario(spans: Mapping[str, Sequence[tuple[float, float]]] | None, a: float, b: float) -> str:
    """THE rule: the scenario covering most of [a, b] (ties: talking head, voice-over, unscored, other).

    ``spans`` maps labels to the clip's intervals (seconds); ``None`` means the clip has no
    intervals at all (never annotated), and the answer is ``unannotated``."""
    if spans is None:
        return UNANNOTATED
    secs = label_seconds(spans, a, b)
    return max(SCENARIOS, key=lambda s: (secs[s], -SCENARIOS.index(s)))


@dataclass
class ClipAnnotations:
    """One clip's intervals and events as plain arrays (fast per-segment lookups)."""

    spans: dict[str, list[tuple[float, float]]] | None  # scenario label -> intervals (seconds); None: no intervals
    ev_start: np.ndarray
    ev_end: np.ndarray
    ev_score: np.ndarray
    ev_label: np.ndarray

    @classmethod
    def from_frames(cls, intervals: pd.DataFrame | None, events: pd.DataFrame | None) -> "ClipAnnotations":
        """From one clip's rows of ``intervals.parquet`` and ``events.parquet``."""
        iv = intervals if intervals is not None else pd.DataFrame(columns=["label", "start_s", "end_s"])
        ev = events if events is not None else pd.DataFrame(columns=["start_s", "end_s", "score", "label"])
        spans: dict[str, list[tuple[float, float]]] = {k: [] for k in LABELLED}
        for label, a, b in zip(iv["label"].to_numpy(object), iv["start_s"].to_numpy(float), iv["end_s"].to_numpy(float)):
            if label in spans:
                spans[label].append((float(a), float(b)))
        return cls(
            spans if len(iv) else None,
            ev["start_s"].to_numpy(float),
            ev["end_s"].to_numpy(float),
            ev["score"].to_numpy(float),
            ev["label"].to_numpy(object),
        )


def annotations_by_clip(intervals: pd.DataFrame, events: pd.DataFrame, clip_ids: set[str]) -> dict[str, ClipAnnotations]:
    """:class:`ClipAnnotations` for every clip in ``clip_ids`` that has intervals or events."""
    iv, ev = rows_by_clip(intervals, clip_ids), rows_by_clip(events, clip_ids)
    return {cid: ClipAnnotations.from_frames(iv.get(cid), ev.get(cid)) for cid in sorted(set(iv) | set(ev))}


def scenario_of(ann: ClipAnnotations | None, a: float, b: float) -> str:
    """The scenario of [a, b] (seconds from the clip start) by the shared rule (:func:`segment_scenario`)."""
    return segment_scenario(None if ann is None else ann.spans, a, b)


def top_events_of(ann: ClipAnnotations | None, a: float, b: float, k: int) -> list[str]:
    """The ``k`` best-scoring event labels among the event windows overlapping [a, b]."""
    if ann is None or k <= 0 or not len(ann.ev_start):
        return []
    hit = (ann.ev_end > a) & (ann.ev_start < b)
    best: dict[str, float] = {}
    for label, score in zip(ann.ev_label[hit], ann.ev_score[hit]):
        if label is not None and (label not in best or score > best[label]):
            best[label] = float(score)
    return [lab for lab, _ in sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))[:k]]
