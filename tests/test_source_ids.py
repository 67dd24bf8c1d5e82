"""One source, one id; ids kept as published (issue 23, items 0 and 7).

A user's story: they run `preprocess --input` again (from another folder spelling, through a
link, twice with `make demo`) and nothing is registered twice; a file named by its YouTube id
keeps that id, leading `-` included, so the published lists adopt it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from realsync_build.core.ids import file_id, is_youtube_id
from realsync_build.core.root import DatasetRoot
from realsync_build.core.stage import RunOptions
from realsync_build.media.synth import make_source
from realsync_build.stages.preprocess import PreprocessConfig, run_preprocess

FAST = dict(width=160, height=120, preset="ultrafast")
CLIP_S = 2


def _opts(**kw) -> RunOptions:
    kw.setdefault("workers", 1)
    kw.setdefault("progress", False)
    kw.setdefault("executor", "inline")
    return RunOptions(**kw)


def _ids(ds: DatasetRoot) -> list[str]:
    return sorted(ds.read("videos")["video_id"])


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "realsync_build", *args], capture_output=True, text=True)


# ------------------------------------------------------------------ the id rule (fetch and preprocess)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("-FX_ew97f-8", "-FX_ew97f-8"),  # YouTube-shaped: exactly as published, leading '-' kept
        ("dQw4w9WgXcQ", "dQw4w9WgXcQ"),
        ("bulletin_0001", "bulletin_0001"),  # any other file-safe id: as it is
        ("a-b_c", "a-b_c"),
    ],
)
def test_file_safe_ids_are_kept_as_they_are(raw, expected):
    assert file_id(raw) == expected


@pytest.mark.parametrize("raw", ["--help", "-rf", "../../x", "a b", "体育", "x" * 65, "/abs", "a.b"])
def test_other_ids_get_a_safe_form_with_a_hash_of_the_original(raw):
    out = file_id(raw)
    assert out != raw and not out.startswith("-") and "/" not in out and "." not in out
    assert file_id(raw) == out  # a pure function of the name
    assert is_youtube_id("-FX_ew97f-8") and not is_youtube_id("--help-me")  # 9 characters: not the shape
    assert len({file_id(r) for r in ("a b", "a_b ", "a  b")}) == 3  # distinct names never collide


# ------------------------------------------------------------------ one source, one id


def _source_tree(folder: Path) -> Path:
    make_source(folder / "news" / "bulletin.mp4", 2.2, **FAST)
    return folder


@pytest.mark.parametrize("where", ["inside", "outside"])
def test_a_source_keeps_one_id_whichever_way_input_names_it(tmp_path, where):
    ds = DatasetRoot(tmp_path / "root")
    src = _source_tree((ds.root / "src") if where == "inside" else (tmp_path / "src"))
    link = tmp_path / "link"
    link.symlink_to(src, target_is_directory=True)
    cfg = PreprocessConfig(clip_seconds=CLIP_S)
    run_preprocess(ds, src, cfg, _opts())
    first = _ids(ds)
    assert first == ["bulletin"]
    # the same folder again, with a trailing slash, through a symlink, through '.', and the channel
    # folder itself (the same files, channel read from the folder's own name)
    for spelling in (src, Path(f"{src}/"), link, src / "." / "news" / "..", src / "news"):
        report = run_preprocess(ds, spelling, cfg, _opts())
        assert _ids(ds) == first, f"{spelling}: a new id for the same file"
        assert report.done == 0
    clips = ds.read("clips")
    assert clips["video_id"].value_counts().to_dict() == {"bulletin": 1}


def test_split_refuses_a_root_where_two_ids_share_a_source_and_status_reports_it(tmp_path):
    """A root made before the fix: `bulletin` and `bulletin-d002a792` hold the same file."""
    from realsync_build.stages.split.run import SplitConfig, SplitError, run_split

    ds = DatasetRoot(tmp_path / "root")
    src = _source_tree(ds.root / "src")
    make_source(src / "news" / "other.mp4", 2.2, **dict(FAST, pattern="smptebars"))
    make_source(src / "news" / "third.mp4", 2.2, **dict(FAST, pattern="rgbtestsrc"))
    run_preprocess(ds, src, PreprocessConfig(clip_seconds=CLIP_S), _opts())
    # what the old bug left behind: the same path registered again under a suffixed id, its clip cut again
    videos, clips = ds.read("videos"), ds.read("clips")
    dup = videos[videos["video_id"] == "bulletin"].assign(video_id="bulletin-d002a792")
    ds.write("videos", pd.concat([videos, dup], ignore_index=True))
    c = clips[clips["video_id"] == "bulletin"].iloc[0].to_dict()
    old = ds.abs(c["path"])
    new_rel = c["path"].replace("bulletin/bulletin_", "bulletin-d002a792/bulletin-d002a792_").replace("/bulletin/", "/bulletin-d002a792/")
    ds.abs(new_rel).parent.mkdir(parents=True)
    shutil.copy(old, ds.abs(new_rel))
    c.update(clip_id=c["clip_id"].replace("bulletin", "bulletin-d002a792"), video_id="bulletin-d002a792", path=new_rel)
    ds.write("clips", pd.concat([clips, pd.DataFrame([c])], ignore_index=True))

    with pytest.raises(SplitError) as err:
        run_split(ds, SplitConfig(seed=0))
    msg = str(err.value)
    assert "bulletin" in msg and "bulletin-d002a792" in msg and "\n" not in msg
    assert "src/news/bulletin.mp4" in msg  # what they share
    assert not ds.has("splits")

    proc = _cli("status", "--root", str(ds.root))
    out = " ".join(proc.stdout.split())  # the status screen is the command's result: stdout
    assert proc.returncode == 0, proc.stderr
    assert "bulletin-d002a792" in out and "same source" in out

    # same content under two ids, different paths (a copy under another name): named too
    dup_rows = ds.read("videos")
    dup_rows = dup_rows[dup_rows["video_id"] != "bulletin-d002a792"]
    dup_rows.loc[dup_rows["video_id"] == "bulletin", "path"] = None  # not a path match any more
    dup_rows.loc[dup_rows["video_id"] == "bulletin", "source_path"] = "/elsewhere/bulletin-copy.mp4"
    dup_rows = pd.concat([dup_rows, dup.assign(path="src/news/bulletin.mp4")], ignore_index=True)
    ds.write("videos", dup_rows)
    with pytest.raises(SplitError, match=r"bulletin.*bulletin-d002a792.*same content|same content.*bulletin.*bulletin-d002a792"):
        run_split(ds, SplitConfig(seed=0))


def test_preprocess_input_drops_a_duplicate_registration_left_by_an_older_realsync(tmp_path):
    """The fix the refusal names: rerunning `preprocess --input` keeps the first id and removes the
    second registration of the same file (its rows and clip folder); split then runs."""
    from realsync_build.stages.split.run import SplitConfig, run_split

    ds = DatasetRoot(tmp_path / "root")
    src = _source_tree(ds.root / "src")
    make_source(src / "news" / "other.mp4", 2.2, **dict(FAST, pattern="smptebars"))
    make_source(src / "news" / "third.mp4", 2.2, **dict(FAST, pattern="rgbtestsrc"))
    cfg = PreprocessConfig(clip_seconds=CLIP_S)
    run_preprocess(ds, src, cfg, _opts())
    videos = ds.read("videos")
    dup = videos[videos["video_id"] == "bulletin"].assign(video_id="bulletin-d002a792")
    ds.write("videos", pd.concat([videos, dup], ignore_index=True))
    clips = ds.read("clips")
    c = clips[clips["video_id"] == "bulletin"].iloc[0].to_dict()
    c.update(clip_id="bulletin-d002a792_0_2", video_id="bulletin-d002a792", path="clips/news/bulletin-d002a792/bulletin-d002a792_0_2.mp4")
    ds.abs(c["path"]).parent.mkdir(parents=True)
    shutil.copy(ds.abs("clips/news/bulletin/bulletin_0_2.mp4"), ds.abs(c["path"]))
    ds.write("clips", pd.concat([clips, pd.DataFrame([c])], ignore_index=True))

    run_preprocess(ds, src, cfg, _opts())
    assert _ids(ds) == ["bulletin", "other", "third"]
    assert set(ds.read("clips")["video_id"]) == {"bulletin", "other", "third"}
    assert not (ds.root / "clips" / "news" / "bulletin-d002a792").exists()
    run_split(ds, SplitConfig(seed=0))


def test_two_demo_runs_leave_one_id_per_source(tmp_path, monkeypatch):
    """`make demo` twice on one root, through the demo's own entry point: its generated sources
    live under the root, the shared real clips are linked from outside it.  Its preprocess step
    (the generated sources made short), twice: one id per source."""
    from realsync_build import demo
    from realsync_build.testdata import shared_media

    real = demo.make_source
    monkeypatch.setattr(demo, "make_source", lambda out, duration_s, **kw: real(out, 10.5, **{**kw, **FAST}))
    monkeypatch.setattr(demo, "STEPS", [("preprocess", demo.step_preprocess)])
    ds = DatasetRoot(tmp_path / "root")
    demo.run_demo(ds, workers=1, progress=False)
    first = _ids(ds)
    assert len(first) == 2 + len(shared_media())
    demo.run_demo(ds, workers=1, progress=False)
    assert _ids(ds) == first
    assert sorted(ds.read("clips")["video_id"].unique()) == first


# ------------------------------------------------------------------ ids kept as published


@pytest.mark.slow  # ~25 s: a 1200 s source cut into four 300 s clips
def test_a_file_named_by_a_published_id_keeps_it_and_split_from_list_adopts_its_segments(tmp_path):
    """The published test list's `-FX_ew97f-8` (golfshome): 4 clips of 300 s, 114 segments.  A
    user downloaded it by id and runs `preprocess --input`: every listed segment is adopted."""
    from realsync_build.stages.split.adopt import AdoptConfig, run_adopt

    lists = Path(__file__).parent / "data" / "published_ids"
    src = tmp_path / "in"
    # a cheap 1200 s source: 32 px, 5 fps, flat colour, a tone (preprocess makes 25 fps 256 px clips of it)
    make_source(src / "golfshome" / "-FX_ew97f-8.mp4", 1200.5, width=32, height=32, fps="5", audio="tone",
                sample_rate=16000, audio_channels=1, pattern="color", preset="ultrafast")  # fmt: skip
    ds = DatasetRoot(tmp_path / "root")
    report = run_preprocess(ds, src, PreprocessConfig(clip_seconds=300, preset="ultrafast"), _opts())
    assert report.failed == 0
    assert _ids(ds) == ["-FX_ew97f-8"]
    result = run_adopt(ds, [lists / "sports_and_news_normal.test.csv"], AdoptConfig(protocol="all"))
    assert result.n_missing == 0 and len(result.segments) == 114
    assert set(result.segments["video_id"]) == {"-FX_ew97f-8"}


def test_split_from_list_names_the_true_reason_when_a_clip_is_under_another_id(tmp_path):
    """A root preprocessed by an older realsync registered `-FX_ew97f-8.mp4` as `_FX_ew97f-8`:
    the report says the clips are under another id, not that they are not in the root."""
    from realsync_build.stages.split.adopt import AdoptConfig, print_adoption, run_adopt

    lists = Path(__file__).parent / "data" / "published_ids"
    src = tmp_path / "in"
    make_source(src / "golfshome" / "-FX_ew97f-8.mp4", 2.2, **FAST)
    make_source(src / "golfshome" / "keep.mp4", 2.2, **dict(FAST, pattern="smptebars"))
    ds = DatasetRoot(tmp_path / "root")
    run_preprocess(ds, src, PreprocessConfig(clip_seconds=CLIP_S), _opts())
    for name in ("videos", "clips"):  # the old id, as the older rule made it
        df = ds.read(name)
        for col in [c for c in ("video_id", "clip_id") if c in df]:
            df[col] = df[col].str.replace("-FX_ew97f-8", "_FX_ew97f-8", regex=False)
        ds.write(name, df)
    result = run_adopt(ds, [lists / "sports_and_news_normal.test.csv"], AdoptConfig(protocol="all"))
    assert result.n_missing == 114
    assert result.channels["golfshome"].missing["under another id"] == 114
    from realsync_build.core.ui import console

    with console.capture() as cap:
        print_adoption(result)
    text = " ".join(cap.get().split())
    assert "_FX_ew97f-8" in text and "-FX_ew97f-8" in text and "not in the root" not in text


def test_a_leading_dash_never_becomes_an_argument(tmp_path):
    """`-FX_ew97f-8.mp4` through the CLI with relative folders: ffmpeg and PyAV get paths with a
    folder prefix, so the id is kept and its clip is cut, not read as an option."""
    make_source(tmp_path / "in" / "golfshome" / "-FX_ew97f-8.mp4", 2.2, **FAST)
    proc = subprocess.run(
        [sys.executable, "-m", "realsync_build", "preprocess", "--root", "root", "--input", "in", "--clip-seconds", "2",
         "--no-progress", "--workers", "1", "--preset", "ultrafast"],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    ds = DatasetRoot(tmp_path / "root")
    assert _ids(ds) == ["-FX_ew97f-8"]
    clip = ds.read("clips").iloc[0]
    assert clip["status"] == "done" and clip["path"] == "clips/golfshome/-FX_ew97f-8/-FX_ew97f-8_0_2.mp4"
    assert ds.abs(clip["path"]).is_file()
