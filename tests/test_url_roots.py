"""URL roots (``--root file:///...`` and ``s3://`` on moto's S3 server, in the test process on 127.0.0.1).

Every stage runs on both kinds of URL root: ``preprocess`` alone (clips equal to a local
root's), the whole chain preprocess -> annotate -> split -> export webdataset + streamsync ->
stats -> train --max-steps 1 -> evaluate (every manifest equal to a local root's run of the
same chain, the shards byte for byte, report/lists/evaluation published at the URL; train and
evaluate start from an empty local mirror, so they read the shards from the URL), and
``fetch`` from the loopback video site (tests/fetch_support.py) into a URL root.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from realsync_build.cli import app
from realsync_build.core import manifest
from realsync_build.core.root import DatasetRoot
from realsync_build.core.schema import CLIPS
from realsync_build.media.synth import make_source
from tests.conftest import shared

BUCKET = "realsync-test"


@pytest.fixture(scope="module")
def s3_server():
    pytest.importorskip("s3fs", reason="s3fs is not installed")
    server_mod = pytest.importorskip("moto.server", reason="moto[server] is not installed")
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_env(s3_server, monkeypatch):
    import fsspec.config

    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setitem(fsspec.config.conf, "s3", {"endpoint_url": s3_server, "anon": False})
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    fs = s3fs.S3FileSystem(endpoint_url=s3_server)
    if not fs.exists(BUCKET):
        fs.mkdir(BUCKET)
    return fs


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    make_source(src / "chan_a" / "alpha.mp4", 4.0, width=320, height=180)
    make_source(src / "chan_b" / "beta.mp4", 2.0, width=180, height=320)
    return src


def _cli(args: list[str], cache: Path):
    return CliRunner().invoke(app, args, env={"REALSYNC_CACHE": str(cache), "COLUMNS": "200"})


def _clips(root_ref: str, cache: Path, monkeypatch) -> pd.DataFrame:
    from realsync_build.core.root import resolve_root

    monkeypatch.setenv("REALSYNC_CACHE", str(cache))
    root = resolve_root(root_ref)
    clips = manifest.read(root.pull(root.manifest("clips")), CLIPS).drop(columns=["mtime_ns"])  # a local root's only
    return clips.sort_values("clip_id").reset_index(drop=True)


@pytest.fixture(scope="module")
def local_clips(sources, tmp_path_factory) -> pd.DataFrame:
    root = tmp_path_factory.mktemp("local")
    res = CliRunner().invoke(app, ["preprocess", "--root", str(root), "--input", str(sources), "--clip-seconds", "2", "--preset", "ultrafast", "--workers", "1", "--no-progress"])
    assert res.exit_code == 0, res.output
    clips = manifest.read(DatasetRoot(root).manifest("clips"), CLIPS).drop(columns=["mtime_ns"])  # a local root's only
    return clips.sort_values("clip_id").reset_index(drop=True)


@pytest.mark.parametrize("kind", ["file", "s3"])
def test_preprocess_on_a_url_root_matches_a_local_root(kind, sources, local_clips, tmp_path, request, monkeypatch):
    if kind == "s3":
        fs = request.getfixturevalue("s3_env")
        url = f"s3://{BUCKET}/ds-{tmp_path.name}"
    else:
        fs = None
        url = f"file://{tmp_path / 'published'}"
    cache = tmp_path / "cache"
    res = _cli(["preprocess", "--root", url, "--input", str(sources), "--clip-seconds", "2", "--preset", "ultrafast", "--workers", "1", "--no-progress"], cache)
    assert res.exit_code == 0, res.output
    got = _clips(url, tmp_path / "cache2", monkeypatch)  # a fresh mirror: read back from the URL
    pd.testing.assert_frame_equal(got, local_clips)
    for rel in got["path"]:
        if fs is not None:
            assert fs.exists(f"{url[len('s3://'):]}/{rel}")
        else:
            assert (tmp_path / "published" / rel).is_file()


# ------------------------------------------------------------------ every stage, end to end

MANIFESTS = ("videos", "clips", "annotations", "intervals", "events", "tracks", "splits", "clip_splits", "segments", "shards")
VOLATILE = {"shards": ["shard_fingerprint"], "clips": ["mtime_ns"]}  # file mtimes: a mirror's copy has its own; a URL root records none


@pytest.fixture(scope="module")
def chain_sources(tmp_path_factory) -> Path:
    """Three 10 s videos of one channel: one each for train, dev and test (two 5 s segments each)."""
    src = tmp_path_factory.mktemp("chain_src")
    for i in range(3):
        make_source(src / "chan_a" / f"v{i}.mp4", 10.0, width=256, height=144, events=[1.0 + i])  # distinct content
    return src


def _chain(root_ref: str, src: Path, work: Path) -> dict[str, str]:
    """Run every stage on ``root_ref`` through the CLI; train and evaluate get an empty mirror
    (their own cache), so they read the shards from the root itself.  Returns the outputs."""
    models = str(shared("models"))
    cache = work / "cache"
    steps = [
        ["preprocess", "--input", str(src), "--clip-seconds", "10", "--preset", "ultrafast", "--workers", "1"],
        ["annotate", "--face-detector", "blazeface-back", "--events", "yamnet", "--device", "cpu", "--face-fps", "1",
         "--models-dir", models, "--executor", "inline"],
        ["split", "--ratios", "34/33/33", "--tolerance", "1", "--segment-start", "2", "--segment-stride", "1"],
        ["export", "webdataset"],
        ["export", "streamsync"],
        ["stats"],
    ]  # fmt: skip
    for args in steps:
        progress = [] if args[0] in ("split", "stats") or args[-1] == "streamsync" else ["--no-progress"]
        res = _cli([*args, "--root", root_ref, *progress], cache)
        assert res.exit_code == 0, (args, res.output)
    run = work / "run"
    train = ["train", "--root", root_ref, "--out", str(run), "-H", "2", "-K", "1", "--phase1-steps", "1", "--phase2-epochs", "1",
             "--max-steps", "1", "--batch-size", "1", "--workers", "0", "--device", "cpu", "--no-progress"]  # fmt: skip
    res = _cli(train, work / "train-cache")
    assert res.exit_code == 0, res.output
    evaluate = ["evaluate", "--root", root_ref, "--checkpoint", str(run / "last.pt"), "--iterations", "1", "--no-ablation",
                "--no-cost", "--device", "cpu", "--no-progress"]  # fmt: skip
    res = _cli(evaluate, work / "eval-cache")
    assert res.exit_code == 0, res.output
    return {"run": str(run)}


def _manifests(root) -> dict[str, pd.DataFrame]:
    from realsync_build.core.manifest import KEYS

    out = {}
    for name in MANIFESTS:
        df = root.read(name, required=True).drop(columns=VOLATILE.get(name, []))
        key = KEYS.get(name) or list(df.columns[:1])
        out[name] = df.sort_values(key, kind="mergesort").reset_index(drop=True)
    return out


@pytest.fixture(scope="module")
def local_chain(chain_sources, tmp_path_factory):
    work = tmp_path_factory.mktemp("chain_local")
    root = DatasetRoot(work / "root")
    _chain(str(root.root), chain_sources, work)
    return root


@pytest.mark.parametrize("kind", ["file", "s3"])
def test_every_stage_on_a_url_root_matches_a_local_root(kind, chain_sources, local_chain, tmp_path, request, monkeypatch):
    from realsync_build.core.root import resolve_root

    if kind == "s3":
        request.getfixturevalue("s3_env")
        url = f"s3://{BUCKET}/chain-{tmp_path.name}"
    else:
        url = f"file://{tmp_path / 'published'}"
    _chain(url, chain_sources, tmp_path)

    monkeypatch.setenv("REALSYNC_CACHE", str(tmp_path / "fresh"))  # read everything back from the URL
    root = resolve_root(url)
    got, want = _manifests(root), _manifests(local_chain)
    for name in MANIFESTS:
        assert len(want[name]) or name == "tracks", name  # the chain produced rows (the synthetic media have no faces)
        pd.testing.assert_frame_equal(got[name], want[name], obj=name)

    store = root.store
    shards = root.ls("shards", "*.tar")
    assert shards == ["shards/dev-000000.tar", "shards/test-000000.tar", "shards/train-000000.tar"]
    for rel in shards:  # fixed tar headers: the same bytes as the local root's
        assert store.fs.cat_file(store._path(rel)) == (local_chain.root / rel).read_bytes(), rel
    for rel in got["clips"]["path"]:
        assert root.exists(rel), rel
    for kind_ in ("intervals", "events", "tracks"):
        assert len(root.ls(f"annotations/{kind_}", "*.parquet")) == 3
    for rel in ("streamsync/realsync.test.csv", "streamsync/realsync.dev.json", "report/index.html", "report/table1.csv",
                "report/eval-test/metrics.json", "stages.json"):  # fmt: skip
        assert root.exists(rel), rel
        with root.open(rel) as fh:
            assert fh.read() == (local_chain.root / rel).read_bytes() or rel.endswith((".html", ".json")), rel
    import json

    with root.open("report/eval-test/metrics.json") as fh:
        metrics = json.loads(fh.read())
    local_metrics = json.loads((local_chain.root / "report/eval-test/metrics.json").read_text())
    assert metrics["n_segments"] == local_metrics["n_segments"] == 2


# ------------------------------------------------------------------ fetch into a URL root


@pytest.mark.parametrize("kind", ["file", "s3"])
def test_fetch_into_a_url_root(kind, tmp_path, request, monkeypatch, tmp_path_factory):
    import fetch_support as fsup

    from realsync_build.core.root import resolve_root
    from realsync_build.core.stage import RunOptions
    from realsync_build.stages.fetch import FetchConfig, run_fetch
    from realsync_build.core.channels import Channel

    if kind == "s3":
        request.getfixturevalue("s3_env")
        url = f"s3://{BUCKET}/fetch-{tmp_path.name}"
    else:
        url = f"file://{tmp_path / 'published'}"
    monkeypatch.setenv("REALSYNC_CACHE", str(tmp_path / "cache"))
    site = fsup.LoopbackSite(fsup.make_media(tmp_path / "media", 2.0))
    try:
        site.add_video("news", "n1", duration=2.0)
        site.add_video("news", "n2", duration=2.0, merged=True, height=720, tbr=1500)
        cfg = FetchConfig(min_minutes=1 / 60, retries=0, backoff_s=0.0, extractors=fsup.EXTRACTORS)
        inline = RunOptions(executor="inline", progress=False)
        root = resolve_root(url)
        report = run_fetch(root, cfg, channels=[Channel("news", site.channel_url("news"), "news")], options=inline)
        assert (report.stage.done, report.stage.failed) == (2, 0), report.stage.errors
        fresh = tmp_path / "fresh"
        monkeypatch.setenv("REALSYNC_CACHE", str(fresh))
        videos = resolve_root(url).read("videos").set_index("video_id")
        assert set(videos["status"]) == {"done"} and set(videos.index) == {"n1", "n2"}
        for vid, rel in videos["path"].items():
            assert rel == f"raw/news/{vid}.mp4" and root.exists(rel) and root.size(rel) == videos.loc[vid, "size_bytes"]
            assert root.exists(f"raw/news/{vid}.info.json")
            assert not (root.root / rel).exists()  # the media live at the URL, not in the local mirror
        # a rerun finds both at the URL: nothing is downloaded again
        before = len(site.requests)
        report = run_fetch(resolve_root(url), cfg, channels=[Channel("news", site.channel_url("news"), "news")], options=inline)
        assert report.stage.done == 0 and not [r for r in site.requests[before:] if "/media/" in r[0]]
        # preprocess reads what fetch put at the URL
        res = _cli(["preprocess", "--root", url, "--clip-seconds", "2", "--preset", "ultrafast", "--workers", "1", "--no-progress"], fresh)
        assert res.exit_code == 0 and "2 done, 0 failed" in res.output, res.output
    finally:
        site.close()
