"""The scenario of an evaluated stream (Table 6): the rule over the whole span the evaluation streams through.

A segment evaluated over ``n`` windows with a ``hop_s`` hop covers
``[start_s, start_s + (n - 1) * hop_s + window_s]`` (:func:`stream_span_s`), not
only its first window.  Its scenario is the majority label of
``intervals.parquet`` over that span, with the ties and the ``other`` rule of
:func:`realsync_build.stages.split.segments.scenario_of` (the one
implementation of the rule; split uses it for a segment's first window).
Without annotations for a clip, the segment keeps the scenario its row carries.
"""

from __future__ import annotations

import pandas as pd

from realsync_build.core.root import DatasetRoot


def stream_span_s(start_s: float, iterations: int, hop_s: float, window_s: float) -> tuple[float, float]:
    """``(a, b)`` seconds from the clip start: every window of an ``iterations``-window stream."""
    return float(start_s), float(start_s) + (max(int(iterations), 1) - 1) * float(hop_s) + float(window_s)


def stream_scenarios(root: DatasetRoot, segments: list, iterations: int, hop_s: float, window_s: float) -> tuple[list[str], str]:
    """Scenario per segment over its streamed span, and a one-line note saying which rule applied."""
    from realsync_build.stages.split.segments import annotations_by_clip, scenario_of

    path = root.manifest("intervals")
    if not path.exists():
        return [s.scenario for s in segments], "no intervals.parquet: scenarios as the segment rows carry them (their first window)"
    intervals = pd.read_parquet(path)
    clip_ids = {str(s.sample.meta.get("clip_id", s.sample.key)) for s in segments}
    events = pd.DataFrame(columns=["clip_id", "start_s", "end_s", "score", "label"])
    by_clip = annotations_by_clip(intervals, events, clip_ids)
    out = []
    for s in segments:
        ann = by_clip.get(str(s.sample.meta.get("clip_id", s.sample.key)))
        if ann is None:
            out.append(s.scenario)
            continue
        a, b = stream_span_s(s.start_s, iterations, hop_s, window_s)
        out.append(scenario_of(ann, a, b))
    return out, f"scenario = majority label over each stream's whole span ({iterations} windows, hop {hop_s:g} s)"
