"""The root protects itself: fault injection against real runs on short generated media.

One test per promise of the stage contract (docs/architecture.md): changed parameters,
one writer, verified outputs, completion records and stale inputs, stable ids, clean
failures (user errors exit 2, environment errors exit 1, one line, nothing partial),
workers that die with their driver, tampered manifests, a bad channel list, and status.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from realsync_build.core import state
from realsync_build.core.errors import ParamsChanged, RootLocked, StaleInput, UnsafePath
from realsync_build.core.lock import LOCK_NAME, root_lock
from realsync_build.core.root import DatasetRoot
from realsync_build.core.stage import RunOptions
from realsync_build.media.probe import check_clip, probe_clip
from realsync_build.media.synth import make_source
from realsync_build.stages.preprocess import PreprocessConfig, run_preprocess

FAST = dict(width=320, height=240, preset="ultrafast")
CLIP_S = 2


def _opts(**kw) -> RunOptions:
    kw.setdefault("workers", 1)
    kw.setdefault("progress", False)
    kw.setdefault("executor", "inline")
    return RunOptions(**kw)


def _cli(*args: str, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "realsync_build", *args], capture_output=True, text=True, env=env, **kw)


def _one_line_error(proc: subprocess.CompletedProcess) -> str:
    err = proc.stderr.strip()
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines and lines[-1].startswith("error:"), err
    return " ".join(lines)  # rich may wrap one long line on a narrow terminal


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("faults") / "in"
    for name, pattern in (("a", "testsrc2"), ("b", "smptebars")):  # distinct content: one source, one id
        make_source(src / "news" / f"{name}.mp4", 4.2, **dict(FAST, pattern=pattern))
    return src


@pytest.fixture(scope="module")
def built(sources, tmp_path_factory) -> DatasetRoot:
    """A root preprocessed once (2 videos x 2 clips of 2 s); tests copy it."""
    ds = DatasetRoot(tmp_path_factory.mktemp("built") / "root")
    run_preprocess(ds, sources, PreprocessConfig(clip_seconds=CLIP_S), _opts())
    return ds


@pytest.fixture
def root(built, tmp_path) -> DatasetRoot:
    dst = tmp_path / "root"
    shutil.copytree(built.root, dst, symlinks=True)
    return DatasetRoot(dst)


def _clips(ds: DatasetRoot) -> pd.DataFrame:
    return ds.read("clips").set_index("clip_id")


# ------------------------------------------------------------------ recorded parameters


def test_changed_parameters_stop_before_anything_and_overwrite_rebuilds(root, sources):
    from realsync_build.stages.split.run import SplitConfig, run_split

    run_split(root, SplitConfig(seed=0))
    before = root.manifest("clips").read_bytes()
    with pytest.raises(ParamsChanged) as err:
        run_preprocess(root, sources, PreprocessConfig(clip_seconds=3, crf=20), _opts())
    msg = str(err.value)
    assert "--clip-seconds 2 -> --clip-seconds 3" in msg and "--crf 18 -> --crf 20" in msg and "--overwrite" in msg and "new --root" in msg
    assert "invalidate annotate, split, export" in msg and "\n" not in msg
    assert root.manifest("clips").read_bytes() == before  # stopped before doing anything
    # options that do not shape outputs never block
    report = run_preprocess(root, sources, PreprocessConfig(clip_seconds=CLIP_S), _opts(workers=2, executor="local"))
    assert report.skipped_done == 2 and report.done == 0
    # --overwrite rebuilds the stage and invalidates what was built from it
    report = run_preprocess(root, sources, PreprocessConfig(clip_seconds=3, crf=20), _opts(overwrite=True))
    clips = _clips(root)
    assert report.done == 2 and set(clips["end_s"] - clips["start_s"]) == {3.0}
    assert sorted(p.name for p in root.clips.rglob("*.mp4")) == sorted(f"{c}.mp4" for c in clips.index)
    assert state.load(root, "preprocess")["params"]["--clip-seconds"] == 3
    assert state.load(root, "split")["status"] == state.INVALIDATED
    with pytest.raises(StaleInput, match=r"run `realsync split` first"):
        from realsync_build.stages.export.webdataset import run_export_webdataset

        run_export_webdataset(root, progress=False)


# ------------------------------------------------------------------ one writer


def test_a_second_writer_is_refused_naming_the_holder_and_a_dead_holder_is_taken_over(root, sources):
    with root_lock(root.root, "preprocess"):
        proc = _cli("preprocess", "--root", str(root.root), "--input", str(sources), "--clip-seconds", str(CLIP_S), "--no-progress")
        assert proc.returncode == 1
        line = _one_line_error(proc)
        assert f"pid {os.getpid()}" in line and "host" in line and "in use by `realsync preprocess`" in line
        # readers need no lock
        status = _cli("status", "--root", str(root.root))
        assert status.returncode == 0, status.stderr
        with pytest.raises(RootLocked):
            run_preprocess(root, sources, PreprocessConfig(clip_seconds=CLIP_S), _opts())
    # a lock left by a process that is gone is taken over
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock = root.root / LOCK_NAME
    lock.write_text(json.dumps({"pid": dead.pid, "host": os.uname().nodename, "command": "preprocess", "since": "then"}))
    report = run_preprocess(root, sources, PreprocessConfig(clip_seconds=CLIP_S), _opts())
    assert report.skipped_done == 2 and not lock.exists()


# ------------------------------------------------------------------ done means verified


def test_a_garbage_clip_is_redone_and_a_same_size_forged_mtime_one_is_caught_by_verify(root, sources):
    clips = _clips(root)
    cid = clips.index[0]
    path = root.abs(clips.loc[cid, "path"])
    good = path.read_bytes()
    path.write_bytes(os.urandom(20_000))  # a different size: the plain rerun notices
    report = run_preprocess(root, sources, PreprocessConfig(clip_seconds=CLIP_S), _opts())
    assert report.done == 1 and report.skipped_done == 1
    assert check_clip(probe_clip(path), CLIP_S) == []
    assert _clips(root).loc[cid, "size_bytes"] == path.stat().st_size
    # same size, damaged inside, its mtime put back: only --verify (re-probe + re-hash) can tell
    # (with the mtime moved, a plain rerun re-hashes it: tests/test_root_adversary.py)
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 4000] = os.urandom(4000)
    st = path.stat()
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert run_preprocess(root, sources, PreprocessConfig(clip_seconds=CLIP_S), _opts()).skipped_done == 2  # size + mtime match
    report = run_preprocess(root, sources, PreprocessConfig(clip_seconds=CLIP_S), _opts(verify=True))
    import hashlib

    assert hashlib.sha256(path.read_bytes()).hexdigest() == _clips(root).loc[cid, "sha256"]
    assert check_clip(probe_clip(path), CLIP_S) == [] and report.failed == 0
    del good


def test_export_refuses_a_clip_changed_since_preprocess(root):
    from realsync_build.stages.export.webdataset import run_export_webdataset
    from realsync_build.stages.split.run import SplitConfig, run_split

    run_split(root, SplitConfig(seed=0))
    clips = _clips(root)
    victim = clips.index[0]
    root.abs(clips.loc[victim, "path"]).write_bytes(os.urandom(20_000))
    report = run_export_webdataset(root, progress=False)
    assert report.failed == 1 and report.errors[0][0] == victim and "changed since" in report.errors[0][1]
    assert report.samples == len(clips) - 1


# ------------------------------------------------------------------ completion, not presence


_KILLED_ANNOTATE = """
import os, sys
sys.path.insert(0, {tests!r})
from splitdata import annotate
from realsync_build.core.root import DatasetRoot
from realsync_build.core.state import stage_run
ds = DatasetRoot({root!r})
with stage_run(ds, "annotate", {{"--events": "panns"}}):
    clips = ds.read("clips")
    annotate(ds, clips)  # the per-clip rows are saved...
    os.kill(os.getpid(), 9)  # ...and the run dies before its completion record
"""


def test_a_killed_annotate_is_refused_downstream_and_train_checks_shards(root):
    from realsync_build.stages.export.webdataset import check_train_inputs, run_export_webdataset
    from realsync_build.stages.split.run import SplitConfig, run_split

    run_split(root, SplitConfig(seed=0))
    run_export_webdataset(root, progress=False)
    check_train_inputs(root)  # complete and matching: fine
    shard = sorted(root.shards.glob("train-*.tar"))[0]
    with open(shard, "ab") as fh:  # a partial / foreign shard
        fh.write(b"\0" * 512)
    with pytest.raises(Exception, match=r"do not match .*shards\.parquet.*realsync export webdataset"):
        check_train_inputs(root)
    shard.unlink()
    with pytest.raises(Exception, match=r"is missing"):
        check_train_inputs(root)

    code = _KILLED_ANNOTATE.format(tests=str(Path(__file__).parent), root=str(root.root))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert state.load(root, "annotate")["status"] == state.RUNNING
    assert not (root.root / LOCK_NAME).exists() or True  # the dead holder's lock is taken over below
    with pytest.raises(StaleInput, match=r"annotate outputs are not usable \(its last run did not complete.*run `realsync annotate` first"):
        run_split(root, SplitConfig(seed=0))
    with pytest.raises(StaleInput, match=r"run `realsync annotate` first"):
        run_export_webdataset(root, progress=False)
    # status names it too
    status = _cli("status", "--root", str(root.root))
    assert status.returncode == 0 and "running" in status.stdout and "next: realsync annotate" in " ".join(status.stdout.split())  # stdout: issue 24


# ------------------------------------------------------------------ stable ids


def test_ids_never_move_when_a_clashing_name_arrives(tmp_path):
    src = tmp_path / "in"
    make_source(src / "sports" / "a.mp4", 2.2, **FAST)
    ds = DatasetRoot(tmp_path / "root")
    run_preprocess(ds, src, PreprocessConfig(clip_seconds=CLIP_S), _opts())
    key = lambda v: dict(zip(v["channel"] + "/" + v["title"], v["video_id"]))  # noqa: E731
    first = key(ds.read("videos"))
    assert first == {"sports/a.mp4": "a"}
    make_source(src / "news" / "a.mp4", 2.2, **dict(FAST, pattern="smptebars"))  # the same id, and sorts first
    run_preprocess(ds, src, PreprocessConfig(clip_seconds=CLIP_S), _opts())
    ids = key(ds.read("videos"))
    assert ids["sports/a.mp4"] == "a"  # never moves
    assert ids["news/a.mp4"] != "a" and ids["news/a.mp4"].startswith("a-")
    clips = ds.read("clips")
    assert clips["video_id"].value_counts().to_dict() == {v: 1 for v in ids.values()}  # nothing duplicated
    # the suffix comes from the name: a fresh root with both gets the same id for the newcomer's name
    ds2 = DatasetRoot(tmp_path / "root2")
    run_preprocess(ds2, src, PreprocessConfig(clip_seconds=CLIP_S), _opts())
    assert key(ds2.read("videos"))["news/a.mp4"] == ids["news/a.mp4"]


# ------------------------------------------------------------------ clean failure


def test_user_errors_exit_2_in_one_line(tmp_path, sources):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    proc = _cli("preprocess", "--root", str(a_file), "--input", str(sources), "--no-progress")
    assert proc.returncode == 2 and "is a file, not a folder" in _one_line_error(proc)
    proc = _cli("split", "--root", str(tmp_path / "r"), "--ratios", "nan/5/5")
    assert proc.returncode == 2 and "--ratios" in _one_line_error(proc)


def test_no_cuda_exits_1_in_one_line(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the refusal cannot be shown here")
    proc = _cli("train", "--root", str(tmp_path / "r"), "--device", "cuda")
    assert proc.returncode == 1 and "no usable CUDA" in _one_line_error(proc)
    assert not (tmp_path / "r" / "runs").exists()


@contextlib.contextmanager
def _read_only_folder(path: Path):
    """A folder this process cannot write: chmod for a normal user; a read-only tmpfs for root."""
    path.mkdir()
    if os.geteuid() != 0:
        path.chmod(0o555)
        try:
            yield path
        finally:
            path.chmod(0o755)
        return
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", str(path)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"running as root and cannot mount a read-only tmpfs here ({proc.stderr.strip()})")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=False)


def test_a_read_only_root_exits_1_and_writes_nothing(tmp_path, sources):
    with _read_only_folder(tmp_path / "ro") as ro:
        proc = _cli("preprocess", "--root", str(ro), "--input", str(sources), "--clip-seconds", str(CLIP_S), "--no-progress")
        assert proc.returncode == 1 and "read-only" in _one_line_error(proc)
        assert list(ro.iterdir()) == []


def test_workers_die_with_their_driver(tmp_path):
    src = tmp_path / "in"
    for i in range(3):
        make_source(src / "ch" / f"v{i}.mp4", 6.2, **FAST)
    proc = subprocess.Popen(
        [sys.executable, "-m", "realsync_build", "preprocess", "--root", str(tmp_path / "root"), "--input", str(src),
         "--clip-seconds", "2", "--workers", "2", "--no-progress"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    workers: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(workers) < 2:
        workers = subprocess.run(["pgrep", "-P", str(proc.pid), "-f", "spawn_main"], capture_output=True, text=True).stdout.split()
        time.sleep(0.05)
    assert workers, "no pool worker started"
    os.kill(proc.pid, signal.SIGKILL)  # the driver only, not its process group
    proc.wait(timeout=10)
    deadline = time.monotonic() + 10
    alive = workers
    while time.monotonic() < deadline and alive:
        alive = [w for w in workers if Path(f"/proc/{w}").exists() and "Z" not in Path(f"/proc/{w}/stat").read_text().split()[2:3]]
        time.sleep(0.1)
    try:
        assert alive == [], f"orphaned workers {alive}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


def test_tampered_manifests_cannot_reach_outside_the_root(root, sources, tmp_path):
    from realsync_build.stages.export.webdataset import run_export_webdataset
    from realsync_build.stages.split.run import SplitConfig, run_split

    # preprocess: a video id that climbs out of the root
    videos = root.read("videos")
    videos.loc[0, "video_id"] = "../../x"
    root.write("videos", videos)
    proc = _cli("preprocess", "--root", str(root.root), "--clip-seconds", str(CLIP_S), "--no-progress")
    assert proc.returncode == 2 and "not a file-safe id" in _one_line_error(proc)
    assert not (root.root.parent / "x").exists() and not (root.root.parent.parent / "x").exists()
    # export: a clip path that names a file outside the root
    run_split(root, SplitConfig(seed=0))
    for bad in ("/etc/passwd", "../../../../etc/passwd"):
        clips = root.read("clips")
        clips.loc[0, "path"] = bad
        root.write("clips", clips)
        with pytest.raises(UnsafePath, match="refusing path"):
            run_export_webdataset(root, progress=False)
        assert not any(b"root:" in p.read_bytes() for p in root.shards.glob("*.tar"))


# ------------------------------------------------------------------ channel list


@pytest.mark.parametrize(
    "text, problem",
    [
        ('[[channel]]\nname = 3\nurl = "https://x.org/c"\ncategory = "news"\n', "name must be a string"),
        ('[[channel]]\nname = "a"\nurl = "https://x.org/c"\ncategory = "cooking"\n', "is not one of sports, news"),
        ('[[channel]]\nname = "a"\nurl = "file:///etc/passwd"\ncategory = "news"\n', "is not an http(s) URL"),
        ('[[channel]]\nname = "a"\nurl = "https://x.org/a"\ncategory = "news"\n[[channel]]\nname = "A"\nurl = "https://x.org/b"\ncategory = "news"\n', "repeats the name"),
        ('[[channel]]\nname = "a"\nurl = "https://x.org/c"\n', "lacks 'category'"),
        ('[[channel]]\nname = "a"\nurl = "https://x.org/c"\ncategory = "news"\nextra = 1\n', "unknown key"),
        ("[[channel]\nname=", "not valid TOML"),
    ],
)
def test_a_bad_channel_list_is_one_clear_error(tmp_path, text, problem):
    from realsync_build.core.channels import ChannelListError, load_channels

    path = tmp_path / "channels.toml"
    path.write_text(text)
    with pytest.raises(ChannelListError) as err:
        load_channels(path)
    assert problem in str(err.value) and str(path) in str(err.value)


def test_the_default_channel_list_ships_in_the_wheel(tmp_path):
    import zipfile

    from realsync_build.core.channels import load_channels

    assert [c.name for c in load_channels()][:2] == ["golfshome", "NFL"] and len(load_channels()) == 9
    repo = Path(__file__).resolve().parents[1]
    src = tmp_path / "src"  # build from a copy: an in-tree build would leave build/ in the checkout
    src.mkdir()
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md"):
        shutil.copy(repo / name, src / name)
    for name in ("manifests", "realsync_build"):
        shutil.copytree(repo / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path)],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    wheel = next(tmp_path.glob("realsync-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        shipped = zf.read("realsync_build/data/channels.toml")
        zf.extractall(tmp_path / "site")
    assert shipped == (repo / "manifests" / "channels.toml").read_bytes()
    # imported from the unpacked wheel (no checkout around it), the package finds its own copy
    code = "from realsync_build.core.channels import default_channels_file as f, load_channels as l; print(f()); print(len(l()))"
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "site"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(tmp_path / "site" / "realsync_build" / "data" / "channels.toml"), "9"]


# ------------------------------------------------------------------ status


def test_status_shows_each_stage_and_the_next_command(root):
    proc = _cli("status", "--root", str(root.root))
    out = " ".join(proc.stdout.split())  # the screen is the command's result: stdout (issue 24)
    assert proc.returncode == 0, proc.stderr
    assert "preprocess │ complete │ 4 │ 0 │ 0 │ 0.002" in out
    assert "--clip-seconds 2" in out and "next: realsync annotate" in out
    assert not (root.root / LOCK_NAME).exists()


# ------------------------------------------------------------------ kills at several points


def _files(ds: DatasetRoot) -> dict[str, bytes]:
    out = {}
    for p in sorted(ds.root.rglob("*")):
        rel = p.relative_to(ds.root).as_posix()
        if p.is_file() and rel not in ("stages.json", LOCK_NAME):
            out[rel] = p.read_bytes()
    return out


@pytest.mark.parametrize("point", ["split:started", "split:before-complete", "export:started", "export:before-complete"])
def test_a_kill_then_a_rerun_gives_byte_identical_files(built, tmp_path, point):
    def fresh(name: str) -> DatasetRoot:
        shutil.copytree(built.root, tmp_path / name, symlinks=True)
        return DatasetRoot(tmp_path / name)

    def run(ds: DatasetRoot, kill: str | None = None) -> subprocess.CompletedProcess:
        env = dict(os.environ, **({state.KILL_ENV: kill} if kill else {}))
        code = (
            "import sys; from pathlib import Path; from realsync_build.core.root import DatasetRoot;"
            "from realsync_build.stages.split.run import SplitConfig, run_split;"
            "from realsync_build.stages.export.webdataset import run_export_webdataset;"
            "ds = DatasetRoot(Path(sys.argv[1])); run_split(ds, SplitConfig(seed=0)); run_export_webdataset(ds, progress=False)"
        )
        return subprocess.run([sys.executable, "-c", code, str(ds.root)], capture_output=True, text=True, env=env)

    ref = fresh("ref")
    assert run(ref).returncode == 0
    ds = fresh("killed")
    assert run(ds, kill=point).returncode == -signal.SIGKILL
    stage = point.split(":")[0]
    assert state.load(ds, stage)["status"] == state.RUNNING  # incomplete, and known to be
    rerun = run(ds)
    assert rerun.returncode == 0, rerun.stderr
    assert _files(ds) == _files(ref)
    assert state.load(ds, "export")["status"] == state.COMPLETE


def test_a_full_disk_stops_the_run_in_one_line_with_nothing_partial(tmp_path, sources):
    if os.geteuid() != 0:
        pytest.skip("needs a small tmpfs (root) to fill up")
    full = tmp_path / "full"
    full.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(full)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.strip()})")
    try:
        proc = _cli("preprocess", "--root", str(full), "--input", str(sources), "--clip-seconds", str(CLIP_S), "--no-progress", "--workers", "1")
        line = _one_line_error(proc)
        assert proc.returncode == 1 and ("disk is full" in line or "No space left" in line), line
        assert not [p for p in full.rglob("*") if p.is_file() and ".tmp-" in p.name]  # no partial files
        clips = DatasetRoot(full).read("clips") if (full / "manifests" / "clips.parquet").exists() else None
        if clips is not None:  # whatever was recorded is complete and valid, nothing is marked failed
            assert (clips["status"] == "done").all()
            for rel in clips["path"]:
                assert check_clip(probe_clip(full / rel), CLIP_S) == []
    finally:
        subprocess.run(["umount", str(full)], check=False)


def test_an_empty_url_root_fails_like_an_empty_local_root(monkeypatch, tmp_path):
    """Every stage runs on URL roots (tests/test_url_roots.py); one whose inputs are missing there
    fails with the same one-line error as on an empty local root."""
    from realsync_build.core.root import DatasetRoot, resolve_root
    from realsync_build.stages.annotate import AnnotateConfig, run_annotate
    from realsync_build.stages.export.webdataset import run_export_webdataset

    monkeypatch.setenv("REALSYNC_CACHE", str(tmp_path / "cache"))
    url_root = resolve_root("memory://realsync-faults/root")
    local = DatasetRoot(tmp_path / "local")
    for call in (lambda ds: run_export_webdataset(ds, progress=False), lambda ds: run_annotate(ds, AnnotateConfig())):
        errors = []
        for ds in (url_root, local):
            with pytest.raises(Exception) as err:
                call(ds)
            errors.append(err)
        assert type(errors[0].value) is type(errors[1].value)
        assert "\n" not in str(errors[0].value) and "local root only" not in str(errors[0].value)
