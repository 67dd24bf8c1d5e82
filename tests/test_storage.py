"""URL dataset roots (fsspec): the Store, and preprocess publishing clips + manifests to a URL."""

from __future__ import annotations

from pathlib import Path

import fsspec
import pandas as pd
import pytest
from typer.testing import CliRunner

from realsync_build.core import manifest
from realsync_build.core.atomic import TMP_MARK
from realsync_build.cli import app
from realsync_build.media.synth import make_source
from realsync_build.core.root import DatasetRoot, from_task, resolve_root
from realsync_build.stages.preprocess import PreprocessConfig, run_preprocess
from realsync_build.core.schema import CLIPS, DONE
from realsync_build.core.stage import RunOptions
from realsync_build.core.storage import Store, StorageError, is_url

CFG = PreprocessConfig(clip_seconds=2, preset="ultrafast")


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("REALSYNC_CACHE", str(tmp_path / "cache"))


def test_is_url():
    assert is_url("s3://bucket/x") and is_url("file:///tmp/x") and is_url("memory://ds")
    assert not is_url("/tmp/x") and not is_url("relative/dir") and not is_url("C:\\data") and not is_url(Path("/x"))


@pytest.mark.parametrize("base", ["memory://store-test", "file"])
def test_store_roundtrip(base, tmp_path):
    if base == "file":
        base = (tmp_path / "remote").as_uri()
    store = Store(base)
    assert not store.exists("a/b.txt") and store.ls("a") == []
    local = tmp_path / "x.txt"
    local.write_text("hello")
    assert store.put_file(local, "a/b.txt") == f"{base}/a/b.txt"
    assert store.exists("a/b.txt") and store.size("a/b.txt") == 5
    assert store.ls("a") == ["b.txt"]  # the temp name used for the atomic rename is gone
    with store.open_write("a/c.txt") as tmp:
        tmp.write_text("world")
    assert store.ls("a") == ["b.txt", "c.txt"]
    assert store.get_file("a/c.txt", tmp_path / "got" / "c.txt").read_text() == "world"
    with pytest.raises(RuntimeError):
        with store.open_write("a/d.txt") as tmp:
            tmp.write_text("half")
            raise RuntimeError("writer failed")
    assert not store.exists("a/d.txt")  # a failed write publishes nothing
    store.remove("a/b.txt")
    assert store.ls("a") == ["c.txt"]


def test_unknown_protocol_is_a_clear_error():
    with pytest.raises(StorageError, match="nosuchproto"):
        Store("nosuchproto://x/y")


def test_resolve_root_keeps_urls(tmp_path):
    r = resolve_root("s3://bucket/some/ds/")
    assert r.url == "s3://bucket/some/ds" and r.is_remote
    assert r.root.is_relative_to(tmp_path / "cache")
    assert resolve_root("s3://bucket/some/ds").root == r.root  # same URL, same mirror
    local = resolve_root(tmp_path / "d")
    assert local.url is None and local.root == tmp_path / "d" and local.store is None


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    make_source(src / "chan_a" / "alpha.mp4", 4.0, width=320, height=180)
    make_source(src / "chan_b" / "gamma.mp4", 4.0, width=240, height=320)
    (src / "chan_b" / "broken.mp4").write_bytes(b"junk")
    return src


@pytest.fixture(scope="module")
def local_clips(sources, tmp_path_factory) -> pd.DataFrame:
    root = DatasetRoot(tmp_path_factory.mktemp("localroot"))
    run_preprocess(root, sources, CFG, RunOptions(workers=2, progress=False))
    return manifest.read(root.manifest("clips"), CLIPS)


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    """Rows in one order, without ``mtime_ns`` (recorded for a local root's files only)."""
    return df.drop(columns=["mtime_ns"], errors="ignore").sort_values("clip_id").reset_index(drop=True)


def _published_clips(remote: Path) -> list[str]:
    return sorted(p.relative_to(remote).as_posix() for p in (remote / "clips").rglob("*") if p.is_file())


def test_preprocess_to_file_url_root(sources, local_clips, tmp_path):
    remote = tmp_path / "bucket" / "ds"
    root = resolve_root(remote.as_uri())
    report = run_preprocess(root, sources, CFG, RunOptions(workers=2, progress=False))
    assert (report.done, report.failed) == (2, 1)

    # the published manifest is the one the local root gets; every done clip is published, nothing else
    published = manifest.read(remote / "manifests" / "clips.parquet", CLIPS)
    pd.testing.assert_frame_equal(_sorted(published), _sorted(local_clips))
    done_paths = sorted(published.loc[published["status"] == DONE, "path"])
    assert _published_clips(remote) == done_paths and len(done_paths) == 4
    assert (remote / "manifests" / "videos.parquet").is_file()
    assert not (root.root / "clips").exists() or not any((root.root / "clips").rglob("*.mp4"))  # driver keeps no media

    # rerun: nothing to do; a clip deleted at the URL is made again (only its video re-runs)
    assert run_preprocess(root, sources, CFG, RunOptions(workers=2, progress=False)).skipped_done == 2
    (remote / done_paths[0]).unlink()
    report = run_preprocess(root, sources, CFG, RunOptions(workers=2, progress=False))
    assert report.done == 1 and report.skipped_done == 1
    assert _published_clips(remote) == done_paths
    assert not any(TMP_MARK in p.name for p in remote.rglob("*"))


def test_stale_mirror_is_not_trusted(sources, tmp_path):
    remote = tmp_path / "r"
    root = resolve_root(remote.as_uri())
    run_preprocess(root, sources, CFG, RunOptions(executor="inline", progress=False))
    # the dataset at the URL is wiped; the driver's mirror still has old manifests
    fsspec.filesystem("file").rm(str(remote), recursive=True)
    assert root.manifest("clips").exists()
    report = run_preprocess(root, sources, CFG, RunOptions(executor="inline", progress=False))
    assert report.done == 2 and report.skipped_done == 0


def test_preprocess_to_memory_root_inline(sources, local_clips, tmp_path):
    root = resolve_root("memory://realsync-test/ds")
    report = run_preprocess(root, sources, CFG, RunOptions(executor="inline", progress=False))
    assert (report.done, report.failed) == (2, 1)
    fs = fsspec.filesystem("memory")
    copy = tmp_path / "clips.parquet"
    copy.write_bytes(fs.cat_file("/realsync-test/ds/manifests/clips.parquet"))
    published = manifest.read(copy, CLIPS)
    pd.testing.assert_frame_equal(_sorted(published), _sorted(local_clips))
    assert fs.exists("/realsync-test/ds/" + published.loc[published["status"] == DONE, "path"].iloc[0])


def test_cli_url_root(sources, tmp_path):
    remote = tmp_path / "cli-remote"
    result = CliRunner().invoke(
        app,
        ["preprocess", "--root", remote.as_uri(), "--input", str(sources), "--clip-seconds", "2",
         "--preset", "ultrafast", "--workers", "1", "--no-progress"],  # fmt: skip
    )
    assert result.exit_code == 0, result.output
    assert len(_published_clips(remote)) == 4
    assert (remote / "manifests" / "clips.parquet").is_file()


@pytest.mark.parametrize("kind", ["local", "url"])
def test_a_worker_publishes_and_reads_back_through_the_root_the_same_way_for_local_and_url(kind, tmp_path):
    root = from_task(resolve_root(tmp_path / "d" if kind == "local" else (tmp_path / "remote").as_uri()).task_fields())
    assert not root.exists("annotations/a.json")
    local = tmp_path / "scratch" / "a.json"
    local.parent.mkdir()
    local.write_text('{"ok": 1}')
    root.put(local, "annotations/a.json")
    assert root.exists("annotations/a.json") and not root.exists("annotations/b.json")
    with root.local_file("annotations/a.json") as path:
        assert path.read_text() == '{"ok": 1}'
    where = tmp_path / "d" if kind == "local" else tmp_path / "remote"
    assert sorted(p.name for p in (where / "annotations").iterdir()) == ["a.json"]
