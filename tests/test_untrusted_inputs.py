"""Issue 23 (6): hostile values, as the issue found them, each refused in one line (exit 2).

Numbers in options (through the real commands, not a recorder), config files nested
100,000 deep or not UTF-8, published lists with bad bytes, off-grid or non-finite offsets,
200,000-deep JSON, and ids or channels that would read as options or paths.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from realsync_build.cli import app
from realsync_build.core import lists
from realsync_build.core.names import channel_problem, id_problem
from realsync_build.core.textfiles import MAX_DEPTH, TextFileError, loads_json, loads_toml, nesting_depth
from realsync_build.core.values import BadValue, Rule, check_offset_s, parse_size

runner = CliRunner()
MEDIA_REL = "media/vggsound_ZYc410CE4Rg_0_10000.mp4"


def _one_line_exit_2(res, *needles: str) -> str:
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    line = res.output.strip()
    assert res.exit_code == 2, res.output
    assert len(line.splitlines()) == 1 and "Traceback" not in line, res.output
    for n in needles:
        assert n in line, (n, line)
    return line


@pytest.fixture
def small_root(tmp_path) -> Path:
    (tmp_path / "root" / "manifests").mkdir(parents=True)
    return tmp_path / "root"


# ---------------------------------------------------------------- the issue's numbers, through the real commands


def _cases(root: Path, ckpt: Path, media: Path) -> list[tuple[list[str], str]]:
    r = ["--root", str(root)]
    mon = ["monitor", str(media), "--reference-audio", str(media), "--no-progress"]
    return [
        (["split", *r, "--segment-window", "inf"], "--segment-window"),  # OverflowError before
        (["export", "webdataset", *r, "--shard-size", "1e309B"], "--shard-size"),  # OverflowError
        ([*mon, "--hop", "inf"], "--hop"),  # OverflowError
        ([*mon, "--window", "inf"], "--window"),
        ([*mon, "--max-delay-ms", "inf"], "--max-delay-ms"),
        ([*mon, "--stall-timeout", "inf"], "--stall-timeout"),  # time_t overflow
        ([*mon, "--reference-video-offset", "nan"], "--reference-video-offset"),  # "+nan ms, within limits 100%"
        (["evaluate", "--checkpoint", str(ckpt), *r, "--hop", "0"], "--hop"),  # ZeroDivisionError
        (["evaluate", "--checkpoint", str(ckpt), *r, "--hop", "nan"], "--hop"),  # exit 1
        (["train", *r, "--jitter", "nan"], "--jitter"),
        (["train", *r, "--hop", "0"], "--hop"),  # accepted
        (["train", *r, "--lr", "nan"], "--lr"),  # exit 1
        (["annotate", *r, "--face-fps", "nan"], "--face-fps"),  # accepted
        (["annotate", *r, "--event-hop", "nan"], "--event-hop"),  # rc 0, every clip failed
        (["annotate", *r, "--min-confidence", "nan"], "--min-confidence"),
        (["annotate", *r, "--min-track", "-1"], "--min-track"),
        (["annotate", *r, "--event-threshold", "inf"], "--event-threshold"),
        (["annotate", *r, "--min-face-score", "2"], "--min-face-score"),  # exit 1 (missing models first)
        (["split", *r, "--offset-sd", "1e6"], "--offset-sd"),  # a rejection loop that never ends
    ]


def test_the_numbers_the_issue_found_are_one_line_usage_errors(small_root, tmp_path):
    from conftest import shared

    media = shared(MEDIA_REL)
    ckpt = tmp_path / "x.pt"
    ckpt.write_bytes(b"")
    for args, flag in _cases(small_root, ckpt, media):
        res = runner.invoke(app, args, env={"REALSYNC_CONFIG": None})
        _one_line_exit_2(res, flag)
    assert sorted(p.name for p in small_root.iterdir()) == ["manifests"]  # refused before any work


def test_monitor_on_an_empty_checkpoint_is_one_line(tmp_path):
    from conftest import shared

    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    res = runner.invoke(app, ["monitor", str(shared(MEDIA_REL)), "--checkpoint", str(empty), "--no-progress"])
    _one_line_exit_2(res, str(empty))  # IndexError before
    assert "weights_only=False" not in res.output


# ---------------------------------------------------------------- config files


def test_config_files_nested_100k_deep_or_not_utf8_are_one_line(tmp_path, small_root):
    deep = tmp_path / "deep.toml"
    deep.write_text("x = " + "[" * 100_000 + "]" * 100_000 + "\n")
    res = runner.invoke(app, ["stats", "--root", str(small_root), "--config", str(deep)])
    _one_line_exit_2(res, str(deep), "nested")  # RecursionError before
    res = runner.invoke(app, ["stats", "--root", str(small_root)], env={"REALSYNC_CONFIG": str(deep)})
    _one_line_exit_2(res, str(deep), "nested")
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b"[preprocess]\n# caf\xe9\ncrf = 20\n")
    res = runner.invoke(app, ["preprocess", "--root", str(small_root), "--config", str(latin)])
    _one_line_exit_2(res, f"{latin}:2", "UTF-8")  # UnicodeDecodeError traceback before


def test_config_show_with_a_missing_or_bad_file_is_an_error_not_the_defaults(tmp_path):
    missing = tmp_path / "missing.toml"
    res = runner.invoke(app, ["config", "show", "--config", str(missing)])
    _one_line_exit_2(res, "config file not found")  # printed the defaults, rc 0, before
    res = runner.invoke(app, ["config", "show", "preprocess", "--config", str(missing)])
    _one_line_exit_2(res, "config file not found")
    bad = tmp_path / "bad.toml"
    bad.write_text("[annotate]\nface_fps = nan\n")
    _one_line_exit_2(runner.invoke(app, ["config", "show", "annotate", "--config", str(bad)]), "--face-fps")
    _one_line_exit_2(runner.invoke(app, ["config", "show", "annotate", "--min-track", "-1"]), "--min-track")
    bad.write_text("[annotate]\nface_fpz = 5\n")
    _one_line_exit_2(runner.invoke(app, ["config", "show", "annotate", "--config", str(bad)]), "face_fpz")


# ---------------------------------------------------------------- published lists


def _write_list(folder: Path, csv_lines: list[str], entries: dict | str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / "mine.evaluation.csv"
    csv.write_text("".join(line + "\n" for line in csv_lines))
    (folder / "mine.evaluation.json").write_text(entries if isinstance(entries, str) else json.dumps(entries))
    return csv


def test_split_from_list_refuses_bad_offsets_naming_file_and_segment(ds, tmp_path):
    from splitdata import clip_rows, write_clips

    write_clips(ds, clip_rows("CNN", "abcdefghijk", 1))
    sid = "abcdefghijk_0_300_10_0"
    for offset, needle in [(0.1, "grid"), (float("nan"), "not a number"), (1e308, "beyond"), ("0.2", "not a number"), (True, "not a number")]:
        csv = _write_list(tmp_path / "lists", [f"{sid},10.0,CNN"], {sid: {"offset_sec": offset, "v_start_i_sec": 10.0}})
        res = runner.invoke(app, ["split", "--root", str(ds.root), "--from-list", str(csv), "--protocol", "all"])
        _one_line_exit_2(res, "mine.evaluation.json", sid, needle)  # ValueError traceback before
    # a 200,000-deep JSON beside the list
    csv = _write_list(tmp_path / "lists", [f"{sid},10.0,CNN"], "[" * 200_000 + "]" * 200_000)
    res = runner.invoke(app, ["split", "--root", str(ds.root), "--from-list", str(csv), "--protocol", "all"])
    _one_line_exit_2(res, "mine.evaluation.json", "nested")
    # the list itself with a bad byte: file and line
    csv.write_bytes(f"{sid},10.0,CNN\n".encode() + b"abcdefghijk_0_300_20_0,20.0,CN\xffN\n")
    res = runner.invoke(app, ["split", "--root", str(ds.root), "--from-list", str(csv), "--protocol", "all"])
    _one_line_exit_2(res, f"{csv}:2", "UTF-8")
    # a good offset still adopts
    _write_list(tmp_path / "lists", [f"{sid},10.0,CNN"], {sid: {"offset_sec": -0.4, "v_start_i_sec": 10.0}})
    res = runner.invoke(app, ["split", "--root", str(ds.root), "--from-list", str(csv), "--protocol", "all"])
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize(
    "line, needle",
    [
        ("--help_0_300_10_0,10.0,mlb", "begins with '-'"),  # a video id that reads as an option
        ("x" * 4000 + "_0_300_10_0,10.0,mlb", "longer than 64"),  # a 4,000-character id
        ("abcdefghijk_0_300_10_0,10.0,-rf", "begins with '-'"),  # a channel that reads as an option
        ("abcdefghijk_0_300_10_0,10.0,../../x", "could read as a path"),
    ],
)
def test_fetch_list_refuses_ids_and_channels_that_read_as_options_or_paths(tmp_path, line, needle):
    lst = tmp_path / "list.csv"
    lst.write_text(line + "\n")
    res = runner.invoke(app, ["fetch", "--root", str(tmp_path / "r"), "--from-list", str(lst), "--dry-run", "--no-progress"])
    out = _one_line_exit_2(res, f"{lst}:1", needle)  # accepted into the plan before
    assert len(out) < 400  # the 4,000-character id is not echoed whole


def test_fetch_list_keeps_a_youtube_id_with_a_leading_dash_and_names_a_bad_byte(tmp_path):
    lst = tmp_path / "list.csv"
    lst.write_text("-FX_ew97f-8_0_300_10_0,10.0,mlb\n")  # in the published test list
    res = runner.invoke(app, ["fetch", "--root", str(tmp_path / "r"), "--from-list", str(lst), "--dry-run", "--no-progress"])
    assert res.exit_code == 0, res.output
    videos = pd.read_parquet(tmp_path / "r" / "manifests" / "videos.parquet")
    assert videos["video_id"].tolist() == ["-FX_ew97f-8"]
    lst.write_bytes(b"-FX_ew97f-8_0_300_10_0,10.0,mlb\n-FX_ew97f-8_0_300_20_0,20.0,m\xe9lb\n")
    res = runner.invoke(app, ["fetch", "--root", str(tmp_path / "r"), "--from-list", str(lst), "--dry-run", "--no-progress"])
    _one_line_exit_2(res, f"{lst}:2", "UTF-8")  # no file or line before (and exit 1)


@pytest.mark.parametrize("name", ["-rf", "../../x", "a" * 4000])
def test_channel_lists_refuse_names_that_read_as_options_or_paths(tmp_path, name):
    chans = tmp_path / "channels.toml"
    chans.write_text(f'[[channel]]\nname = "{name}"\nurl = "https://www.youtube.com/@x/videos"\ncategory = "news"\n')
    res = runner.invoke(app, ["fetch", "--root", str(tmp_path / "r"), "--channels", str(chans), "--dry-run", "--no-progress"])
    _one_line_exit_2(res, str(chans), "channel name")
    res = runner.invoke(app, ["fetch", "--root", str(tmp_path / "r"), "--channel", "https://www.youtube.com/@x/videos", "--name", name])
    _one_line_exit_2(res, "--name")


# ---------------------------------------------------------------- the pieces


def test_the_shipped_channels_and_published_ids_pass_the_name_rule():
    from conftest import shared
    from realsync_build.core.channels import load_channels

    assert all(channel_problem(c.name) is None for c in load_channels())
    rows = lists.read_csv(shared("realsync_lists/sports_and_news_normal.evaluation.csv"))
    assert all(id_problem(r.segment.video_id) is None for r in rows)
    assert sum(r.segment.video_id.startswith("-") for r in rows) == 1029  # YouTube ids may begin with '-': kept
    assert id_problem("-FX_ew97f-8") is None and id_problem("--help") and id_problem("-FX_ew97f-") and id_problem("a/b")


def test_nesting_is_counted_outside_strings_and_comments():
    text = '# [[[[\nkey = "[[[[" \nlit = \'{{{\'\nml = """\n[[[[\n"""\narr = [[1], [2]]\n'
    assert nesting_depth(text, "toml") == (2, 7)
    assert loads_toml(text, "t")["arr"] == [[1], [2]]
    assert nesting_depth('{"a": "[[[[\\"[[", "b": [[{}]]}', "json")[0] == 4
    ok = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert loads_json(ok, "j") is not None
    with pytest.raises(TextFileError, match="nested more than"):
        loads_json("[" + ok + "]", "j")


def test_the_rule_refuses_what_float_lets_through():
    r = Rule(gt=0, le=25, unit="frames/s")
    for bad in (float("nan"), float("inf"), 0, 25.5, True, "x", [1]):
        with pytest.raises(BadValue):
            r.check(bad, "--face-fps")
    assert r.check(25, "--face-fps") == 25 and r.describe() == "0<x<=25"
    i = Rule(ge=0, integer=True)
    assert i.check(3.0) == 3 and i.check("7") == 7
    with pytest.raises(BadValue, match="not an integer"):
        i.check(2.5)
    g = Rule(ge=-2, le=2, grid=0.2, unit="s")
    assert g.check(-1.4) == -1.4
    with pytest.raises(BadValue, match="grid"):
        g.check(0.1)
    assert parse_size("1GB") == 10**9 and parse_size("2e9") == 2 * 10**9
    for bad in ("1e309B", "1e16", "0", "-1", "nan", "inf", True):
        with pytest.raises(ValueError):
            parse_size(bad)
    assert check_offset_s(-2, "x") == -2.0
    assert check_offset_s(0.13, "x") == 0.13  # continuous offsets (the uniform lists); a normal list's grid is adoption's check
    for bad in (float("nan"), 1e308, 2.2, "0.2", None):
        with pytest.raises(BadValue):
            check_offset_s(bad, "x")
