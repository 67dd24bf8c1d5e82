"""realsync split: video-level, stratified per channel, deterministic, checked; bad inputs refused."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from realsync_build.core.errors import ParamsChanged
from realsync_build.core.clipview import read_clips  # clips with split's assignment joined in
from typer.testing import CliRunner

from realsync_build.core import manifest
from realsync_build.cli import app
from realsync_build.core.clipview import StaleManifest
from realsync_build.core.manifest import ManifestError, MissingInput
from realsync_build.core.segments import SegmentConfig
from realsync_build.stages.split.run import (
    SplitCheckError,
    SplitConfig,
    SplitError,
    compute_split,
    check_split,
    parse_ratios,
    parse_seed,
    run_split,
)
from splitdata import annotate, clip_rows, many_videos, write_clips

OUTPUTS = ("splits", "segments", "clips")


def _bytes(ds) -> dict[str, bytes]:
    return {n: ds.manifest(n).read_bytes() for n in OUTPUTS}


def test_same_seed_gives_byte_identical_files_and_another_seed_another_split(ds, tmp_path):
    many_videos(ds)
    run_split(ds, SplitConfig(seed=1))
    first = _bytes(ds)
    run_split(ds, SplitConfig(seed=1))
    assert _bytes(ds) == first
    # the same inputs written in another row order give the same split
    clips = manifest.read_named(ds, "clips").sample(frac=1.0, random_state=3)
    other = type(ds)(tmp_path / "other")
    other.manifests.mkdir(parents=True)
    pq.write_table(pa.Table.from_pandas(clips.drop(columns=["split"]), preserve_index=False), other.manifest("clips"))
    run_split(other, SplitConfig(seed=1))
    assert manifest.read_named(other, "splits").equals(manifest.read_named(ds, "splits"))
    s1 = manifest.read_named(ds, "splits").set_index("video_id")["split"]
    with pytest.raises(ParamsChanged, match=r"--seed 1 -> --seed 2.*--overwrite"):  # recorded parameters guard the root
        run_split(ds, SplitConfig(seed=2))
    run_split(ds, SplitConfig(seed=2), overwrite=True)
    s2 = manifest.read_named(ds, "splits").set_index("video_id")["split"]
    assert (s1 != s2).sum() >= 5


def test_every_video_in_one_split_and_channels_stratified_by_duration(ds):
    clips = many_videos(ds, n_videos=80)
    result = run_split(ds, SplitConfig(seed=0))
    splits = manifest.read_named(ds, "splits")
    out = read_clips(ds)
    assert splits["video_id"].is_unique and set(splits["split"]) == {"train", "dev", "test"}
    assert (out.groupby("video_id")["split"].nunique() == 1).all()
    assert out.set_index("clip_id")["split"].equals(out.set_index("clip_id")["video_id"].map(splits.set_index("video_id")["split"]))
    assert len(out) == len(clips) and out["split"].notna().all()
    for r in result.channels:
        assert not r.fallback and r.ok
        assert abs(r.shares["train"] - 0.90) <= 0.05 and abs(r.shares["dev"] - 0.05) <= 0.05 and abs(r.shares["test"] - 0.05) <= 0.05
        dur = out[out["channel"] == r.channel].assign(d=lambda d: d["end_s"] - d["start_s"])
        got = dur.groupby("split")["d"].sum() / dur["d"].sum()
        assert got.get("train", 0) == pytest.approx(r.shares["train"])
    # custom ratios are honoured
    result = run_split(ds, SplitConfig(seed=0, ratios=parse_ratios("80/10/10")), overwrite=True)
    assert all(abs(r.shares["train"] - 0.8) < 0.06 for r in result.channels)


def test_the_check_fails_loudly_on_a_leak_or_drift(ds):
    many_videos(ds, n_videos=20)
    result = compute_split(ds, SplitConfig(seed=0))
    leaked = result.clips.copy()
    vid = leaked["video_id"].iloc[0]
    first = leaked.index[leaked["video_id"] == vid][0]
    leaked.loc[first, "split"] = "test" if leaked.loc[first, "split"] != "test" else "dev"
    with pytest.raises(SplitCheckError, match="two splits"):
        check_split(leaked, result.splits, result.channels)
    twice = pd.concat([result.splits, result.splits.iloc[:1].assign(split="dev")])
    with pytest.raises(SplitCheckError, match="twice"):
        check_split(result.clips, twice, result.channels)
    drifting = result.channels[0]
    drifting.shares = {"train": 0.5, "dev": 0.25, "test": 0.25}
    drifting.drift, drifting.allowed = 0.4, 0.05
    with pytest.raises(SplitCheckError, match=f"channel {drifting.channel}: shares drift"):
        check_split(result.clips, result.splits, result.channels)


def test_small_dataset_still_gets_dev_and_test_videos(ds):
    # the demo's shape: 4 videos over 3 channels, 10 s clips
    write_clips(ds, clip_rows("demo_sports", "match", 3, 10) + clip_rows("demo_news", "bulletin", 2, 10)
                + clip_rows("shared", "ted", 1, 10) + clip_rows("shared", "tennis", 1, 10))  # fmt: skip
    result = run_split(ds, SplitConfig(seed=0, segments=SegmentConfig(start_s=2, stride_s=1)))
    counts = result.splits["split"].value_counts()
    assert counts["train"] >= 1 and counts["dev"] == 1 and counts["test"] == 1
    assert any("small dataset" in n for n in result.notes)
    assert set(result.segments["split"]) == {"dev", "test"}
    assert sorted(set(result.segments["start_s"])) == [2.0, 3.0]


def test_exclude_suspect_sync_leaves_flagged_clips_out_and_reports_them(ds):
    clips = many_videos(ds, n_videos=10)
    suspect = set(clips[clips["channel"] == "NFL"]["clip_id"].iloc[:4])
    annotate(ds, clips, suspect=suspect)
    result = run_split(ds, SplitConfig(seed=0, exclude_suspect_sync=True))
    out = read_clips(ds).set_index("clip_id")
    assert out.loc[sorted(suspect), "split"].isna().all()
    assert out.drop(index=sorted(suspect))["split"].notna().all()
    per = {r.channel: r.excluded_clips for r in result.channels}
    assert per == {"CNN": 0, "NFL": 4, "mlb": 0}
    assert not set(result.segments["clip_id"]) & suspect
    # without the flag they stay in
    run_split(ds, SplitConfig(seed=0), overwrite=True)
    assert read_clips(ds)["split"].notna().all()


def test_exclude_suspect_sync_without_annotations_says_what_to_run(ds):
    many_videos(ds, n_videos=3)
    with pytest.raises(MissingInput, match="annotations.parquet: run `realsync annotate`"):
        run_split(ds, SplitConfig(exclude_suspect_sync=True))
    assert not ds.manifest("splits").exists()


def test_stale_annotations_are_refused_and_nothing_is_written(ds):
    clips = many_videos(ds, n_videos=4)
    annotate(ds, clips.iloc[:-2])  # two clips added after annotate ran
    before = ds.manifest("clips").read_bytes()
    with pytest.raises(StaleManifest, match=r"annotations\.parquet has no row for 2 done clips.*realsync annotate"):
        run_split(ds, SplitConfig())
    extra = pd.concat([clips, pd.DataFrame(clip_rows("CNN", "gone", 1))])
    annotate(ds, extra)  # annotations for a clip the clips manifest does not have
    with pytest.raises(StaleManifest, match=r"annotations\.parquet annotates 1 clips that .*clips\.parquet does not have"):
        run_split(ds, SplitConfig())
    assert ds.manifest("clips").read_bytes() == before
    assert not ds.manifest("splits").exists() and not ds.manifest("segments").exists()


def test_missing_clips_manifest_and_empty_channel(ds):
    with pytest.raises(ManifestError, match=r"clips\.parquet does not exist: run `realsync preprocess` first"):
        run_split(ds, SplitConfig())
    write_clips(ds, clip_rows("CNN", "a", 2) + clip_rows("CNN", "b", 2) + clip_rows("WTA", "c", 2, status="failed"))
    with pytest.raises(SplitError, match=r"channel\(s\) WTA in .*clips\.parquet have no usable clips.*--skip-empty-channels"):
        run_split(ds, SplitConfig())
    assert not ds.manifest("splits").exists()
    result = run_split(ds, SplitConfig(skip_empty_channels=True))
    assert set(result.splits["channel"]) == {"CNN"}
    assert read_clips(ds).query("channel == 'WTA'")["split"].isna().all()


def test_seed_must_be_an_integer():
    assert parse_seed("12") == 12 and parse_seed(-3) == -3
    for bad in ("1.5", "abc", "", "1e3"):
        with pytest.raises(SplitError, match="--seed must be an integer"):
            parse_seed(bad)


def _run(*args):
    res = CliRunner().invoke(app, list(args))
    return res.exit_code, res.output.replace("\n", "")  # the console wraps long lines


def test_cli_split_and_its_errors(ds):
    many_videos(ds, n_videos=6)
    code, out = _run("split", "--root", str(ds.root), "--seed", "x1")
    assert code == 2 and "'--seed'" in out and "not an integer" in out and "Traceback" not in out
    assert not ds.manifest("splits").exists()
    code, out = _run("split", "--root", str(ds.root), "--seed", "5")
    assert code == 0, out
    assert "evaluation segments" in out
    ds.manifest("clips").unlink()
    code, out = _run("split", "--root", str(ds.root), "--seed", "5")
    assert code == 2 and "clips.parquet does not exist: run `realsync preprocess` first" in out and "Traceback" not in out  # issue 24: exit 2 everywhere


def test_clips_written_before_the_split_column_existed_still_read(ds):
    rows = pd.DataFrame(clip_rows("CNN", "a", 2))
    ds.manifests.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(rows, preserve_index=False), ds.manifest("clips"))
    df = manifest.read_named(ds, "clips")
    assert df["split"].isna().all() and len(df) == 2


def test_cli_segment_options_reach_the_segments(ds):
    many_videos(ds, n_videos=10)
    code, out = _run("split", "--root", str(ds.root), "--seed", "1", "--segment-sampling", "random",
                     "--offset-zero-share", "0", "--segment-window", "4")  # fmt: skip
    assert code == 0, out
    seg = manifest.read_named(ds, "segments")
    assert len(seg) and (seg["offset_sec"] != 0).all() and (seg["end_s"] - seg["start_s"] == 4.0).all()
    assert set(seg["start_s"] % 10) != {0.0}  # random starts, not the 10 s grid
    code, out = _run("split", "--root", str(ds.root), "--segment-sampling", "sometimes")
    assert code == 2 and "grid or random" in out
