"""The scenario of an evaluation segment: one rule over the span the evaluation streams through."""

from __future__ import annotations

import pandas as pd
import pytest

from realsync_build.core.scenario import (
    DEFAULT_STREAM,
    SCENARIOS,
    StreamSpan,
    label_seconds,
    segment_scenario,
    streamed_span_s,
)
from realsync_build.core.segments import SegmentConfig, make_segments
from tests.splitdata import clip_rows


@pytest.mark.parametrize(
    "duration_s, start_s, offset_s, stream",
    [
        (300.0, 10.0, 0.0, DEFAULT_STREAM),
        (300.0, 290.0, 1.4, DEFAULT_STREAM),  # shifted back to fit the clip
        (300.0, 150.0, -2.0, StreamSpan(5.0, 4, 3.0)),
        (10.0, 2.0, 0.6, DEFAULT_STREAM),  # hop shrunk on a short clip
        (60.0, 12.0, -0.4, StreamSpan(5.0, 1, 2.0)),
    ],
)
def test_the_streamed_span_is_where_the_evaluation_places_its_windows(duration_s, start_s, offset_s, stream):
    from realsync_build.streamsync.data import plan_segment
    from realsync_build.streamsync.model.config import ModelConfig

    cfg = ModelConfig()
    assert cfg.window_s == stream.window_s
    plan, _ = plan_segment(duration_s, start_s, offset_s, stream.iterations, stream.hop_s, cfg)
    a, b = streamed_span_s(start_s, duration_s, offset_s, stream)
    assert a == pytest.approx(plan.video_starts_s[0], abs=0.021)  # plan rounds to the 25 fps grid
    assert b == pytest.approx(plan.video_starts_s[-1] + stream.window_s, abs=0.021)


def test_majority_with_unscored_as_its_own_class_and_a_fixed_tie_order():
    spans = {"talking_head": [(0, 4)], "voice_over": [(4, 7)], "unscored": [(7, 12)]}
    assert label_seconds(spans, 0, 20) == {"talking_head": 4, "voice_over": 3, "unscored": 5, "other": 8}
    assert segment_scenario(spans, 0, 20) == "other"
    assert segment_scenario(spans, 0, 12) == "unscored"  # never folded into voice-over or other
    assert segment_scenario(spans, 1, 10) == "talking_head"  # 3 s each of th / vo / unscored: tie order
    assert segment_scenario(None, 0, 5) == "unannotated"  # no intervals: nothing measured
    assert segment_scenario({}, 0, 5) == "other"  # intervals, none labelled here: nobody speaks
    assert SCENARIOS == ("talking_head", "voice_over", "unscored", "other")


def test_split_takes_the_scenario_over_the_streamed_span_not_the_first_window():
    clips = pd.DataFrame(clip_rows("CNN", "a", 1))
    clips["split"] = "test"
    # a talking head from 20 s to 45 s: the segment at 10 s starts on 5 s of nothing
    iv = pd.DataFrame([{"clip_id": "a_0_300", "start_s": 20.0, "end_s": 45.0, "label": "talking_head"}])
    ev = pd.DataFrame(columns=["clip_id", "start_s", "end_s", "label", "score"])
    seg = make_segments(clips, iv, ev, SegmentConfig(), seed=0).set_index("start_s")
    assert segment_scenario({"talking_head": [(20.0, 45.0)]}, 10.0, 15.0) == "other"  # the first window alone
    assert seg.loc[10.0, "scenario"] == "talking_head"  # 25 s of the 39 s it streams through
    assert seg.loc[50.0, "scenario"] == "other"
    one_window = make_segments(clips, iv, ev, SegmentConfig(stream=StreamSpan(5.0, 1, 2.0)), seed=0).set_index("start_s")
    assert one_window.loc[10.0, "scenario"] == "other"
