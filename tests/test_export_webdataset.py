"""realsync export webdataset: real preprocessed clips -> tar shards that webdataset reads."""

from __future__ import annotations

import shutil
import tarfile

import pandas as pd
import pytest

from realsync_build.core.errors import StaleInput
from realsync_build.core.clipview import read_clips
import webdataset as wds
from typer.testing import CliRunner

from realsync_build.core import manifest
from realsync_build.cli import app
from realsync_build.core.values import parse_size
from realsync_build.stages.export.webdataset import WebDatasetConfig, run_export_webdataset, shard_urls
from realsync_build.core.clipview import StaleManifest
from realsync_build.media.synth import make_source
from realsync_build.core.root import DatasetRoot
from realsync_build.stages.preprocess import PreprocessConfig, run_preprocess
from realsync_build.core.segments import SegmentConfig
from realsync_build.stages.split.run import SplitConfig, run_split
from realsync_build.core.stage import RunOptions
from splitdata import annotate

SEGMENTS_9S = SegmentConfig(start_s=2, stride_s=1)  # 9 s clips: one segment at 2 s


@pytest.fixture(scope="module")
def preprocessed(tmp_path_factory) -> DatasetRoot:
    """4 videos over 2 channels, one 9 s clip each, through the real preprocess."""
    base = tmp_path_factory.mktemp("wds")
    src = base / "sources"
    for i, rel in enumerate(("news/anchor-1.mp4", "news/anchor_2.mp4", "sports/match-1.mp4", "sports/match_2.mp4")):
        # distinct content (one source, one id: split refuses two ids holding the same clip)
        make_source(src / rel, 9, width=160, height=90, fps="25", sample_rate=16000, audio_channels=1, events=[3.0 + i])
    root = DatasetRoot(base / "root")
    report = run_preprocess(root, src, PreprocessConfig(clip_seconds=9, preset="ultrafast"), RunOptions(executor="inline", workers=1, progress=False))
    assert report.done == 4, report.errors
    return root


@pytest.fixture
def split_root(preprocessed, tmp_path) -> DatasetRoot:
    root = DatasetRoot(tmp_path / "root")
    shutil.copytree(preprocessed.root, root.root)
    run_split(root, SplitConfig(seed=0, segments=SEGMENTS_9S))
    return root


def _read_all(urls) -> list[dict]:
    return list(wds.WebDataset(urls, shardshuffle=False).decode()) if urls else []


def test_shards_read_back_with_webdataset(split_root):
    report = run_export_webdataset(split_root, progress=False)
    clips = read_clips(split_root).set_index("clip_id")
    assert report.samples == 4 and report.failed == 0
    names = sorted(p.name for p in split_root.shards.glob("*.tar"))
    assert names == ["dev-000000.tar", "test-000000.tar", "train-000000.tar"]
    seen = {}
    for split in ("train", "dev", "test"):
        for sample in _read_all(shard_urls(split_root, split)):
            key = sample["__key__"]
            meta = sample["json"]
            clip = clips.loc[key]
            assert sample["mp4"] == split_root.abs(clip["path"]).read_bytes()
            assert meta["clip_id"] == key and meta["split"] == split == clip["split"]
            assert meta["video_id"] == clip["video_id"] and meta["channel"] == clip["channel"]
            assert meta["fps"] == 25.0 and meta["sample_rate"] == 16000 and meta["n_frames"] == 225
            assert (meta["start_s"], meta["end_s"], meta["category"]) == (0.0, 9.0, "unknown")
            assert meta["annotations"] is None
            if split == "train":
                assert meta["segments"] == []
            else:
                (seg,) = meta["segments"]
                assert set(seg) >= {"segment_id", "start_s", "end_s", "offset_sec", "offset_class", "scenario"}
                assert seg["segment_id"] == f"{key}_2_0" and seg["scenario"] == "unannotated" and seg["start_s"] == 2.0
            seen[key] = split
    assert seen == clips["split"].to_dict()
    rows = manifest.read_named(split_root, "shards")
    assert (rows["status"] == "done").all() and set(rows["key"]) == set(clips.index)


def test_shard_size_target_and_byte_identical_reruns(split_root):
    cfg = WebDatasetConfig(shard_bytes=1)  # every sample its own shard
    run_export_webdataset(split_root, WebDatasetConfig(), progress=False)
    first = run_export_webdataset(split_root, cfg, progress=False, overwrite=True)  # another --shard-size
    names = sorted(p.name for p in split_root.shards.glob("*.tar"))
    train = [n for n in names if n.startswith("train-")]
    assert train == [f"train-{i:06d}.tar" for i in range(len(train))] and len(train) == 2
    assert first.shards_removed == 0  # the earlier single shards were replaced by name
    before = {n: (split_root.shards / n).read_bytes() for n in names}
    again = run_export_webdataset(split_root, cfg, progress=False)
    assert again.shards_written == 0 and again.shards_kept == len(names)
    (split_root.shards / train[0]).unlink()
    third = run_export_webdataset(split_root, cfg, progress=False)
    assert third.shards_written == 1
    assert {n: (split_root.shards / n).read_bytes() for n in names} == before  # deterministic bytes
    # back to one big shard per split (--overwrite: another --shard-size): the old plan's shards go away
    fourth = run_export_webdataset(split_root, WebDatasetConfig(shard_bytes=parse_size("1GB")), progress=False, overwrite=True)
    assert sorted(p.name for p in split_root.shards.glob("*.tar")) == sorted(p.name for p in fourth.shard_paths)
    assert len(fourth.shard_paths) < len(names)
    assert not list(split_root.shards.glob(".*tmp-*"))
    for p in split_root.shards.glob("*.tar"):
        members = tarfile.open(p).getmembers()
        assert all(m.mtime == 0 and m.uid == 0 for m in members)
        assert [m.name.split(".", 1)[1] for m in members] == ["mp4", "json"] * (len(members) // 2)


def test_annotations_and_segments_go_into_the_json(split_root):
    clips = manifest.read_named(split_root, "clips")
    annotate(split_root, clips)
    run_split(split_root, SplitConfig(seed=0, segments=SEGMENTS_9S))
    run_export_webdataset(split_root, progress=False)
    dev = _read_all(shard_urls(split_root, "dev"))
    meta = dev[0]["json"]
    ann = meta["annotations"]
    assert ann["t_th_s"] == 100.0 and ann["suspect_sync"] is False
    assert [i["label"] for i in ann["intervals"]] == ["talking_head", "voice_over"]
    assert {e["label"] for e in ann["events"]} == {"Speech", "Music"}
    seg = meta["segments"][0]
    assert seg["scenario"] == "talking_head" and seg["top_events"] == ["Speech", "Music"]


def test_a_missing_clip_file_gets_an_error_row_and_the_rest_is_exported(split_root):
    clips = manifest.read_named(split_root, "clips")
    victim = clips.iloc[0]
    split_root.abs(victim["path"]).unlink()
    report = run_export_webdataset(split_root, progress=False)
    assert report.failed == 1 and report.samples == 3
    assert "rerun `realsync preprocess`" in report.errors[0][1]
    rows = manifest.read_named(split_root, "shards").set_index("clip_id")
    assert rows.loc[victim["clip_id"], "status"] == "failed"
    keys = {s["__key__"] for split in ("train", "dev", "test") for s in _read_all(shard_urls(split_root, split))}
    assert victim["clip_id"] not in keys and len(keys) == 3


def test_export_before_split_or_after_a_new_preprocess_is_refused(preprocessed, tmp_path):
    root = DatasetRoot(tmp_path / "root")
    shutil.copytree(preprocessed.root, root.root)
    with pytest.raises(Exception, match=r"splits\.parquet does not exist: run `realsync split --seed S` first"):
        run_export_webdataset(root, progress=False)
    run_split(root, SplitConfig(seed=0, segments=SEGMENTS_9S))
    placed = manifest.read_named(root, "clip_splits")
    manifest.write_named(root, "clip_splits", placed.iloc[1:])  # a done clip split does not know
    with pytest.raises(StaleManifest, match=r"clips\.parquet has 1 done clips without a split.*rerun `realsync split"):
        run_export_webdataset(root, progress=False)
    assert not root.shards.exists() or not list(root.shards.glob("*.tar"))


def test_preprocess_rerun_keeps_the_split_and_a_redone_clip_needs_a_new_split(split_root):
    opts = RunOptions(executor="inline", workers=1, progress=False)
    before = read_clips(split_root)[["clip_id", "split"]]
    report = run_preprocess(split_root, None, PreprocessConfig(clip_seconds=9, preset="ultrafast"), opts)
    assert report.skipped_done == 4
    after = read_clips(split_root)[["clip_id", "split"]]
    assert after.equals(before) and after["split"].notna().all()
    assert run_export_webdataset(split_root, progress=False).samples == 4  # a no-op rerun changes nothing
    # a clip whose file went missing is redone by preprocess; the same bytes come back, so the
    # clips did not change and the split still holds ...
    victim = manifest.read_named(split_root, "clips").iloc[0]
    split_root.abs(victim["path"]).unlink()
    run_preprocess(split_root, None, PreprocessConfig(clip_seconds=9, preset="ultrafast"), opts)
    assert manifest.read_named(split_root, "clips").iloc[0]["sha256"] == victim["sha256"]
    assert run_export_webdataset(split_root, progress=False).samples == 4
    # ... while a clip that comes back different makes the split stale: export asks for a new one
    clips = manifest.read_named(split_root, "clips")
    clips.loc[0, "sha256"] = "0" * 64  # another content hash, as a re-encode would record
    manifest.write_named(split_root, "clips", clips)
    from realsync_build.core import state

    rec = state.load(split_root, "preprocess")
    rec["fingerprint"] = state.fingerprint(split_root, "preprocess")  # as preprocess's completion record would
    state.save(split_root, "preprocess", rec)
    with pytest.raises(StaleInput, match=r"preprocess changed after it ran.*run `realsync split` first"):
        run_export_webdataset(split_root, progress=False)
    run_split(split_root, SplitConfig(seed=0, segments=SEGMENTS_9S))
    assert run_export_webdataset(split_root, progress=False).samples == 4


def test_cli_export_webdataset(split_root):
    res = CliRunner().invoke(app, ["export", "webdataset", "--root", str(split_root.root), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "4 samples" in res.output.replace("\n", " ")
    assert len(list(split_root.shards.glob("*.tar"))) == 3
    res = CliRunner().invoke(app, ["export", "webdataset", "--root", str(split_root.root), "--shard-size", "lots"])
    assert res.exit_code == 2 and "--shard-size must be a size" in res.output.replace("\n", "")
