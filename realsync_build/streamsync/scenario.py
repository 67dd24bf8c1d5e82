"""The scenario of an evaluated stream (Table 6): the rule over the whole span the evaluation streams through.

A segment evaluated over ``n`` windows with a ``hop_s`` hop covers every one of
those windows, not only its first.  Both the span and the rule come from
:mod:`realsync_build.core.scenario` (the one implementation that split,
export and stats share): :func:`~realsync_build.core.scenario.streamed_span_s`
places the windows as :func:`realsync_build.streamsync.data.plan_segment` does
(shifted back at a clip's end), and the majority rule with its ties is
:func:`~realsync_build.core.scenario.scenario_of`.  Without annotations
for a clip, the segment keeps the scenario its row carries.
"""

from __future__ import annotations

import pandas as pd

from realsync_build.core.root import DatasetRoot


def stream_span_s(start_s: float, iterations: int, hop_s: float, window_s: float, duration_s: float = float("inf"),
                  offset_s: float = 0.0) -> tuple[float, float]:
    """``(a, b)`` seconds from the clip start: every window of an ``iterations``-window stream."""
    from realsync_build.core.scenario import StreamSpan, streamed_span_s

    return streamed_span_s(start_s, duration_s, offset_s, StreamSpan(window_s=window_s, iterations=iterations, hop_s=hop_s))


def stream_scenarios(root: DatasetRoot, segments: list, iterations: int, hop_s: float, window_s: float) -> tuple[list[str], str]:
    """Scenario per segment over its streamed span, and a one-line note saying which rule applied."""
    from realsync_build.core.scenario import annotations_by_clip, scenario_of

    if not root.has("intervals"):
        return [s.scenario for s in segments], "no intervals.parquet: scenarios as the segment rows carry them (their first window)"
    intervals = root.read("intervals")  # one open handle: never a torn read
    clip_ids = {str(s.sample.meta.get("clip_id", s.sample.key)) for s in segments}
    events = pd.DataFrame(columns=["clip_id", "start_s", "end_s", "score", "label"])
    by_clip = annotations_by_clip(intervals, events, clip_ids)
    out = []
    for s in segments:
        ann = by_clip.get(str(s.sample.meta.get("clip_id", s.sample.key)))
        if ann is None:
            out.append(s.scenario)
            continue
        a, b = stream_span_s(s.start_s, iterations, hop_s, window_s, s.sample.duration_s, s.offset_s)
        out.append(scenario_of(ann, a, b))
    return out, f"scenario = majority label over each stream's whole span ({iterations} windows, hop {hop_s:g} s)"
