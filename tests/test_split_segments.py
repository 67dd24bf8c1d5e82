"""Evaluation segments: the published list's grid and offset distribution, scenarios, events."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest

from realsync_build.core import lists
from realsync_build.core.avformat import NUM_CLASSES, class_to_offset, offset_to_class
from realsync_build.core.scenario import ClipAnnotations, scenario_of, top_events_of
from realsync_build.core.segments import SegmentConfig, clip_rng, make_segments, sample_offset_classes, segment_starts
from conftest import shared
from splitdata import clip_rows

PUBLISHED_JSON = "realsync_lists/sports_and_news_normal.evaluation.json"
PUBLISHED_CSV = "realsync_lists/sports_and_news_normal.evaluation.csv"


def _shares(classes: np.ndarray) -> np.ndarray:
    return np.bincount(classes, minlength=NUM_CLASSES) / len(classes)


def test_default_offsets_match_the_published_list_within_2_points():
    published = lists.read_json(shared(PUBLISHED_JSON))
    offsets = np.array([v["offset_sec"] for v in published.values()])
    pub_classes = np.array([offset_to_class(o) for o in offsets])
    pub = _shares(pub_classes)
    # the facts in shared/README.md, measured here
    assert pub[10] == pytest.approx(0.503, abs=0.0005)
    assert offsets.std() == pytest.approx(0.62, abs=0.005)

    cfg = SegmentConfig()
    ours_classes = sample_offset_classes(np.random.default_rng(0), 100_000, cfg.offset_sd, cfg.offset_zero_share)
    ours = _shares(ours_classes)
    print("published %:", np.round(100 * pub, 2))
    print("defaults  %:", np.round(100 * ours, 2))
    assert abs(ours[10] - pub[10]) < 0.02  # the share of exactly-0 offsets
    assert np.abs(ours - pub).max() < 0.02  # every one of the 21 classes
    ours_s = np.array([class_to_offset(c) for c in ours_classes])
    assert ours_s.std() == pytest.approx(offsets.std(), abs=0.02)
    assert ours_s.min() == -2.0 and ours_s.max() == 2.0


def test_offset_options_change_the_distribution():
    rng = np.random.default_rng(1)
    none_zero = sample_offset_classes(rng, 5000, sd=1.0, zero_share=0.0)
    assert (none_zero != 10).all() and set(np.unique(none_zero)) <= set(range(NUM_CLASSES))
    assert (sample_offset_classes(rng, 500, zero_share=1.0) == 10).all()
    narrow = np.array([class_to_offset(c) for c in sample_offset_classes(rng, 5000, sd=0.3, zero_share=0.0)])
    wide = np.array([class_to_offset(c) for c in sample_offset_classes(rng, 5000, sd=3.0, zero_share=0.0)])
    assert narrow.std() < 0.45 < wide.std()
    assert np.abs(wide).max() <= 2.0


def test_offsets_and_classes_on_the_0_2_s_grid():
    assert [class_to_offset(c) for c in (0, 1, 9, 10, 11, 20)] == [-2.0, -1.8, -0.2, 0.0, 0.2, 2.0]
    assert str(class_to_offset(10)) == "0.0"  # never -0.0 in a list
    assert all(offset_to_class(class_to_offset(c)) == c for c in range(NUM_CLASSES))
    for bad in (0.1, 2.2, -2.4):
        with pytest.raises(ValueError):
            offset_to_class(bad)


def test_grid_of_a_300_s_clip_is_the_published_grid():
    starts = segment_starts(300.0, SegmentConfig(), clip_rng(0, "x"))
    assert starts == list(range(10, 300, 10))
    rows = lists.read_csv(shared(PUBLISHED_CSV))
    published = sorted({int(r.seg_start_s) for r in rows})
    assert starts == published


def test_random_sampling_draws_distinct_whole_second_starts():
    cfg = SegmentConfig(sampling="random")
    a = segment_starts(300.0, cfg, clip_rng(4, "clip"))
    b = segment_starts(300.0, cfg, clip_rng(4, "clip"))
    c = segment_starts(300.0, cfg, clip_rng(5, "clip"))
    assert a == b and a != c
    assert len(a) == 29 and len(set(a)) == 29 and a == sorted(a)
    assert all(isinstance(t, int) and 10 <= t <= 293 for t in a)


def test_short_clips_need_a_shorter_grid():
    assert segment_starts(10.0, SegmentConfig(), clip_rng(0, "x")) == []
    assert segment_starts(10.0, SegmentConfig(start_s=2, stride_s=1), clip_rng(0, "x")) == [2, 3]
    assert segment_starts(10.0, SegmentConfig(start_s=0, stride_s=1), clip_rng(0, "x")) == [2, 3]  # audio shift fits


def test_scenario_is_the_majority_of_the_window_and_events_the_best_scores():
    iv = pd.DataFrame(
        [
            {"clip_id": "c", "start_s": 0.0, "end_s": 12.0, "label": "talking_head"},
            {"clip_id": "c", "start_s": 12.0, "end_s": 20.0, "label": "voice_over"},
        ]
    )
    ev = pd.DataFrame(
        [
            {"clip_id": "c", "start_s": 0.0, "end_s": 2.0, "label": "Speech", "score": 0.9},
            {"clip_id": "c", "start_s": 9.0, "end_s": 11.0, "label": "Music", "score": 0.5},
            {"clip_id": "c", "start_s": 10.0, "end_s": 12.0, "label": "Applause", "score": 0.7},
            {"clip_id": "c", "start_s": 10.0, "end_s": 12.0, "label": "Music", "score": 0.8},
            {"clip_id": "c", "start_s": 30.0, "end_s": 32.0, "label": "Crowd", "score": 0.99},
        ]
    )
    ann = ClipAnnotations.from_frames(iv, ev)
    assert scenario_of(ann, 0, 5) == "talking_head"
    assert scenario_of(ann, 10, 15) == "voice_over"  # 2 s talking head, 3 s voice-over
    assert scenario_of(ann, 18, 23) == "other"  # 2 s voice-over, 3 s nothing
    assert scenario_of(ann, 9.5, 14.5) == "talking_head"  # 2.5 s each: a tie goes to talking_head
    assert scenario_of(None, 0, 5) == "unannotated"  # nothing measured: not "other"
    assert top_events_of(ann, 8, 13, 3) == ["Music", "Applause"]
    assert top_events_of(ann, 8, 13, 1) == ["Music"]
    assert top_events_of(ann, 40, 45, 3) == []


def test_make_segments_only_for_dev_and_test_and_stable_per_clip():
    clips = pd.DataFrame(clip_rows("CNN", "a", 2) + clip_rows("CNN", "b", 1) + clip_rows("NFL", "c", 1))
    clips["split"] = ["dev", "dev", "train", "test"]
    empty_iv = pd.DataFrame(columns=["clip_id", "start_s", "end_s", "label"])
    empty_ev = pd.DataFrame(columns=["clip_id", "start_s", "end_s", "label", "score"])
    seg = make_segments(clips, empty_iv, empty_ev, SegmentConfig(), seed=3)
    assert set(seg["clip_id"]) == {"a_0_300", "a_300_600", "c_0_300"}
    assert len(seg) == 3 * 29 and (seg["scenario"] == "unannotated").all() and seg["top_events"].map(len).eq(0).all()
    assert seg["segment_id"].iloc[0] == "a_0_300_10_0"
    assert (seg["end_s"] - seg["start_s"] == 5.0).all()
    assert all(class_to_offset(c) == o for c, o in zip(seg["offset_class"], seg["offset_sec"]))
    # a clip's segments do not change when another clip leaves the set
    fewer = make_segments(clips.iloc[[0, 3]], empty_iv, empty_ev, SegmentConfig(), seed=3)
    keep = seg[seg["clip_id"].isin(fewer["clip_id"])].reset_index(drop=True)
    assert keep.equals(fewer.reset_index(drop=True))
    other_seed = make_segments(clips, empty_iv, empty_ev, SegmentConfig(), seed=4)
    assert not other_seed["offset_class"].equals(seg["offset_class"])
    assert list(seg["top_events"].iloc[0]) == []


def test_bad_segment_options_are_refused():
    for kw in ({"sampling": "every"}, {"offset_sd": 0}, {"offset_zero_share": 1.5}, {"window_s": 0}):
        with pytest.raises(ValueError):
            SegmentConfig(**kw).validate()
