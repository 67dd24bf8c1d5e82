"""Selection rules, the hours budget, untrusted ids, and planning from the published lists."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import shared
from realsync_build.cli import app
from realsync_build.core.ids import file_id, is_file_safe_id
from realsync_build.stages.fetch.plan import plan_from_list
from realsync_build.stages.fetch.select import (
    BITRATE,
    HEIGHT,
    LIVE,
    MEMBERS,
    SHORT,
    MatchFilter,
    Rules,
    default_min_kbps,
    pick_by_hours,
    seeded_order,
    total_kbps,
)
from realsync_build.stages.fetch.ydl import backoff, clean_message, format_selector, parse_rate
from realsync_build.core.lists import ListFormatError, read_list

LIST = "realsync_lists/sports_and_news_normal.evaluation.csv"


def video(**kw):
    base = dict(id="abc", duration=25 * 60, height=1080, tbr=2500.0, live_status="not_live")
    base.update(kw)
    return base


def test_each_rule_rejects_with_its_reason():
    rules = Rules()
    assert rules.check(video()) is None
    assert rules.check(video(duration=19 * 60)).reason == SHORT
    assert rules.check(video(duration=None)).reason == SHORT  # unknown length when complete
    assert rules.check(video(height=480)).reason == HEIGHT
    assert rules.check(video(height=2160)).reason == HEIGHT  # no format within --max-height
    assert rules.check(video(tbr=150)).reason == BITRATE
    assert rules.check(video(tbr=90000)).reason == BITRATE
    assert rules.check(video(live_status="is_upcoming")).reason == LIVE
    assert rules.check(video(live_status="is_live", duration=None)).reason == LIVE
    assert rules.check(video(availability="subscriber_only")).reason == MEMBERS
    # a flat listing entry (incomplete): only what it shows is judged
    assert rules.check({"id": "x", "duration": 600}, incomplete=True).reason == SHORT
    assert rules.check({"id": "x"}, incomplete=True) is None
    assert rules.check({"id": "x", "duration": 3600}, incomplete={"height", "tbr", "url"}) is None


def test_bitrate_window_default_scales_with_pixels_and_can_be_fixed():
    assert default_min_kbps(720) == 250
    assert default_min_kbps(1080) == 562.5
    assert Rules().check(video(height=720, tbr=300)) is None
    assert Rules().check(video(height=1080, tbr=300)).reason == BITRATE
    assert Rules(min_kbps=100).check(video(height=1080, tbr=300)) is None
    # tbr missing: summed from the chosen formats, else size / duration
    assert total_kbps({"requested_formats": [{"tbr": 1000}, {"tbr": 128}]}) == 1128
    assert total_kbps({"filesize": 1_000_000, "duration": 8}) == 1000
    assert total_kbps({}) is None


def test_match_filter_speaks_yt_dlp_and_remembers_reasons():
    f = MatchFilter(Rules())
    assert f(video(), incomplete=False) is None
    msg = f(video(id="s", duration=60), incomplete=True)
    assert msg and "short" in msg and f.rejections["s"].reason == SHORT


def test_seeded_order_is_deterministic_and_stable_as_the_channel_grows():
    ids = [f"v{i}" for i in range(50)]
    a = seeded_order(ids, 3, "CNN")
    assert a == seeded_order(list(reversed(ids)), 3, "CNN")
    assert a != seeded_order(ids, 4, "CNN") and a != seeded_order(ids, 3, "NBCNews")
    grown = seeded_order(ids + ["new1", "new2"], 3, "CNN")
    assert [v for v in grown if v in ids] == a  # old videos keep their relative ranks


def test_hours_budget_stops_once_reached():
    cands = [("a", 1800), ("b", 1800), ("c", 3600), ("d", 1800)]
    assert pick_by_hours(cands, 1.0) == ["a", "b"]
    assert pick_by_hours(cands, 1.5) == ["a", "b", "c"]  # the last one may overshoot
    assert pick_by_hours(cands, None) == ["a", "b", "c", "d"]


def test_untrusted_ids_become_file_safe_and_youtube_ids_stay():
    for yt_id in ("-OR-bvQNDSs", "_pYLBF3Uz9E", "w_cJYKM7J2Q"):
        assert file_id(yt_id) == yt_id
    for bad in ("../../etc/passwd", "a; rm -rf ~", "x" * 200, "", ".hidden", "a/b", "a b"):
        fid = file_id(bad)
        assert is_file_safe_id(fid) and "/" not in fid and ".." not in fid and not fid.startswith(".")
    assert file_id("a;b") != file_id("a:b")  # no collisions through sanitising


def test_yt_dlp_helpers():
    assert clean_message("ERROR: \r[download] Got error: HTTP Error 500: x") == "Got error: HTTP Error 500: x"
    assert clean_message("\x1b[0;31mERROR:\x1b[0m [youtube] abc: Private video") == "abc: Private video"
    assert parse_rate("4M") == 4 * 1024 * 1024 and parse_rate(None) is None
    with pytest.raises(ValueError):
        parse_rate("fast")
    assert [backoff(1.0)(n=n) for n in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff(0.0)(n=3) == 0
    assert format_selector(720, 1080, fallback=False) == "bv*[height>=720][height<=1080]+ba/b[height>=720][height<=1080]"


def test_from_list_dry_run_plans_exactly_the_shared_list(tmp_path):
    path = shared(LIST)
    root = tmp_path / "data"
    result = CliRunner().invoke(app, ["fetch", "--root", str(root), "--from-list", str(path), "--dry-run"])
    assert result.exit_code == 0, result.output
    rows = pd.read_parquet(root / "manifests" / "videos.parquet")
    expected = {(r.segment.video_id, r.channel) for r in read_list(path)}
    assert len(expected) == 65 and len({c for _, c in expected}) == 9
    assert set(zip(rows["video_id"], rows["channel"])) == expected and len(rows) == 65
    assert set(rows["status"]) == {"planned"}
    assert rows["url"].str.startswith("https://www.youtube.com/watch?v=").all()
    assert any("-" in v for v in rows["video_id"]) and any("_" in v for v in rows["video_id"])
    assert dict(rows.groupby("channel")["category"].first()) == {
        "ABCNews": "news", "CBSNews": "news", "CNN": "news", "NBCNews": "news",
        "NFL": "sports", "NHL": "sports", "WTA": "sports", "golfshome": "sports", "mlb": "sports",
    }  # fmt: skip
    assert not (root / "raw").exists()  # nothing downloaded
    # a second dry run changes nothing
    before = (root / "manifests" / "videos.parquet").read_bytes()
    CliRunner().invoke(app, ["fetch", "--root", str(root), "--from-list", str(path), "--dry-run"])
    assert (root / "manifests" / "videos.parquet").read_bytes() == before


def test_a_malformed_list_is_reported_with_its_line_number(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("abc_0_300_10_0,10.0,CNN\nabc_0_300_20,20.0,CNN\n")
    r = CliRunner().invoke(app, ["fetch", "--root", str(tmp_path / "d"), "--from-list", str(bad), "--dry-run"])
    assert r.exit_code == 2 and "bad.csv:2" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "d" / "manifests" / "videos.parquet").exists()
    clash = tmp_path / "clash.csv"
    clash.write_text("abc_0_300_10_0,10.0,CNN\nabc_0_300_20_0,20.0,NBCNews\n")
    with pytest.raises(ListFormatError, match="channels CNN and NBCNews"):
        plan_from_list(clash)
    r = CliRunner().invoke(app, ["fetch", "--root", str(tmp_path / "d"), "--from-list", str(tmp_path / "nope.csv"), "--dry-run"])
    assert r.exit_code == 1 and "not found" in r.output
