"""The root holds against an adversary (issue 23): lock races, symlinks out of the root, torn
reads, state that lies.  Each test is one attack that used to work, tried again."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from realsync_build.core import state
from realsync_build.core.errors import RootLocked, UnsafePath
from realsync_build.core.lock import LOCK_NAME, root_lock
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


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "realsync_build", *args], capture_output=True, text=True)


def _one_line_error(proc: subprocess.CompletedProcess) -> str:
    err = proc.stderr.strip()
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines and lines[-1].startswith("error:") or lines[0].startswith("error:"), err
    return " ".join(err.split())


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("adv") / "in"
    make_source(src / "news" / "a.mp4", 4.2, **FAST)
    make_source(src / "news" / "b.mp4", 4.2, **dict(FAST, pattern="smptebars"))
    return src


@pytest.fixture(scope="module")
def built(sources, tmp_path_factory) -> DatasetRoot:
    """Preprocessed and split once (2 videos x 2 clips of 2 s); tests copy it."""
    from realsync_build.stages.split.run import SplitConfig, run_split

    ds = DatasetRoot(tmp_path_factory.mktemp("built") / "root")
    run_preprocess(ds, sources, PreprocessConfig(clip_seconds=CLIP_S), _opts())
    run_split(ds, SplitConfig(seed=0, ratios=(0.5, 0.0, 0.5)))
    return ds


@pytest.fixture
def root(built, tmp_path) -> DatasetRoot:
    dst = tmp_path / "root"
    shutil.copytree(built.root, dst, symlinks=True)
    return DatasetRoot(dst)


# ------------------------------------------------------------------ item 2: the lock


def _contender(root_dir: str, rounds: int, start, hold, results, slow_alive: bool) -> None:
    """One driver: at each round, wait for the other, try the lock, report, release together."""
    from realsync_build.core import lock

    if slow_alive:  # the race the issue showed: a slow liveness check of the stale holder
        real = lock._alive

        def slow(pid: int) -> bool:
            import time

            time.sleep(0.02)
            return real(pid)

        lock._alive = slow
    for i in range(rounds):
        start.wait()
        try:
            with lock.root_lock(Path(root_dir) / f"r{i}", "preprocess"):
                results.put((i, "ran"))
                hold.wait()  # keep it until the other one has tried
        except lock.RootLocked as exc:
            msg = str(exc)
            results.put((i, "refused" if "pid" in msg and "host" in msg and "preprocess" in msg else f"bad message: {msg}"))
            hold.wait()


def test_two_drivers_released_together_fifty_times_one_runs_one_is_refused(tmp_path):
    """Each round starts after a crash: a stale lock of a dead process is in place, both drivers
    are released by one barrier; exactly one takes the lock over, the other is refused."""
    rounds = 50
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    for i in range(rounds):
        (tmp_path / f"r{i}").mkdir()
        stale = {"pid": dead.pid, "host": os.uname().nodename, "command": "preprocess", "since": "then"}
        (tmp_path / f"r{i}" / LOCK_NAME).write_text(json.dumps(stale))
    ctx = mp.get_context("fork")
    start, hold, results = ctx.Barrier(2), ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_contender, args=(str(tmp_path), rounds, start, hold, results, True)) for _ in range(2)]
    for p in procs:
        p.start()
    got: dict[int, list[str]] = {}
    for _ in range(2 * rounds):
        i, what = results.get(timeout=900)
        got.setdefault(i, []).append(what)
    for p in procs:
        p.join(timeout=900)
    assert all(p.exitcode == 0 for p in procs)
    bad = {i: v for i, v in got.items() if sorted(v) != ["ran", "refused"]}
    assert not bad, f"rounds where both or neither ran: {bad}"
    assert not any((tmp_path / f"r{i}" / LOCK_NAME).exists() for i in range(rounds))  # released


def test_the_lock_is_released_by_the_kernel_when_its_holder_dies(tmp_path):
    code = (
        "import os, sys; from pathlib import Path; from realsync_build.core.lock import root_lock\n"
        "with root_lock(Path(sys.argv[1]), 'annotate'):\n    os.kill(os.getpid(), 9)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == -9
    assert (tmp_path / LOCK_NAME).exists()  # left behind, holder dead
    with root_lock(tmp_path, "preprocess") as me:  # taken over
        with pytest.raises(RootLocked, match=rf"pid {me['pid']} on host"):
            with root_lock(tmp_path, "split"):
                pass


# ------------------------------------------------------------------ item 1: nothing leads outside the root


def test_a_clip_folder_linked_outside_the_root_is_refused_for_writes(root, sources, tmp_path):
    """`ln -s /tmp/x ROOT/clips/news/c; realsync preprocess` used to write the new clip into /tmp/x."""
    src = tmp_path / "src"
    shutil.copytree(sources, src)
    make_source(src / "news" / "c.mp4", 2.2, **dict(FAST, pattern="rgbtestsrc"))
    outside = tmp_path / "outside"
    outside.mkdir()
    (root.root / "clips" / "news" / "c").symlink_to(outside, target_is_directory=True)
    proc = _cli("preprocess", "--root", str(root.root), "--input", str(src), "--clip-seconds", str(CLIP_S), "--no-progress", "--workers", "1")
    line = _one_line_error(proc)
    assert proc.returncode == 2 and "leads outside" in line and str(outside) in line
    assert list(outside.iterdir()) == []


def test_a_manifests_folder_linked_outside_the_root_is_refused_for_reads_and_writes(root, sources, tmp_path):
    outside = tmp_path / "outside"
    shutil.move(str(root.root / "manifests"), outside)
    (root.root / "manifests").symlink_to(outside, target_is_directory=True)
    before = {p.name: p.read_bytes() for p in outside.iterdir()}
    proc = _cli("preprocess", "--root", str(root.root), "--input", str(sources), "--clip-seconds", str(CLIP_S), "--no-progress")
    assert proc.returncode == 2 and "leads outside" in _one_line_error(proc)
    assert {p.name: p.read_bytes() for p in outside.iterdir()} == before
    proc = _cli("status", "--root", str(root.root))  # a reader: refused too
    assert proc.returncode == 2 and "leads outside" in _one_line_error(proc)


def test_export_refuses_a_clip_linked_to_an_outside_file_of_the_same_size(root, tmp_path):
    from realsync_build.stages.export.webdataset import run_export_webdataset

    clips = root.read("clips")
    victim = root.abs(clips["path"].iloc[0])
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"SECRET" * (victim.stat().st_size // 6) + b"S" * (victim.stat().st_size % 6))
    victim.unlink()
    victim.symlink_to(secret)
    proc = _cli("export", "webdataset", "--root", str(root.root), "--overwrite", "--no-progress")
    line = _one_line_error(proc)
    assert proc.returncode == 2 and "leads outside" in line
    assert not any(b"SECRETSECRET" in p.read_bytes() for p in root.root.rglob("*.tar"))


def test_export_checks_every_clip_against_its_recorded_sha256_while_packing(root):
    """A clip swapped for other bytes of the same size (mtime kept) passes a size check; the export
    hashes what it packs and gives that clip an error row, the others are packed."""
    from realsync_build.stages.export.webdataset import run_export_webdataset

    clips = root.read("clips")
    victim = root.abs(clips["path"].iloc[0])
    st = victim.stat()
    data = bytearray(victim.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = b"\xff" * 64
    victim.write_bytes(bytes(data))
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
    report = run_export_webdataset(root, progress=False)
    assert report.failed == 1 and report.errors[0][0] == clips["clip_id"].iloc[0] and "sha256" in report.errors[0][1]
    assert report.samples == len(clips) - 1
    packed = b"".join(p.read_bytes() for p in root.shards.glob("*.tar"))
    assert bytes(data[len(data) // 2 - 32 : len(data) // 2 + 64]) not in packed
    rows = root.read("shards")
    assert set(rows.loc[rows["status"] == "done", "clip_id"]) == set(clips["clip_id"].iloc[1:])


@pytest.mark.parametrize("evil", ["/tmp/ABSKEY", "../../x", "a.b/../c"])
def test_a_tampered_clip_id_cannot_name_a_tar_member(root, evil):
    from realsync_build.stages.export.webdataset import run_export_webdataset

    clips = root.read("clips")
    clips.loc[0, "clip_id"] = evil
    root.write("clips", clips)
    cs = root.read("clip_splits")
    cs.loc[cs["clip_id"] == root.read("clips")["clip_id"].iloc[0], "clip_id"] = evil
    root.write("clip_splits", pd.concat([cs, pd.DataFrame([{"clip_id": evil, "video_id": clips.loc[0, "video_id"], "split": "train"}])]))
    with pytest.raises(UnsafePath, match="not a safe id"):
        run_export_webdataset(root, progress=False, overwrite=True)
    import tarfile

    for p in root.root.rglob("*.tar"):
        with tarfile.open(p) as tf:
            assert all(not n.startswith("/") and ".." not in n and "/" not in n for n in tf.getnames())


# ------------------------------------------------------------------ item 3: crafted shards


def _tar(path: Path, members: list[tuple[str, bytes]]) -> Path:
    import io
    import tarfile

    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w") as tf:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    return path


META = json.dumps({"clip_id": "v_0_5", "start_s": 0.0, "end_s": 5.0, "mp4_bytes": 100}).encode()


@pytest.mark.parametrize("name", ["../../x.mp4", "/abs/x.json", "a/b.mp4", "__/__/x.mp4", "noext", "-"])
def test_train_and_evaluate_refuse_members_not_named_key_dot_ext(tmp_path, name):
    from realsync_build.streamsync.shards import ShardError, index_split

    ds = DatasetRoot(tmp_path / "root")
    shard = _tar(ds.shards / "train-000000.tar", [("v_0_5.mp4", b"\0" * 100), ("v_0_5.json", META), (name, b"x")])
    with pytest.raises(ShardError) as err:
        index_split(ds, "train")
    assert str(shard) in str(err.value) and repr(name) in str(err.value) and "\n" not in str(err.value)


def test_an_oversize_member_is_refused_from_its_header_without_reading_it(tmp_path):
    """A small file holding a sparse 1.5 GB json member: refused on the header's size."""
    import tarfile

    from realsync_build.streamsync.shards import ShardError, index_split

    ds = DatasetRoot(tmp_path / "root")
    shard = ds.shards / "train-000000.tar"
    shard.parent.mkdir(parents=True)
    ti = tarfile.TarInfo("v_0_5.json")
    ti.size = 1_500_000_000
    with open(shard, "wb") as fh:
        fh.write(ti.tobuf(format=tarfile.GNU_FORMAT))
        fh.truncate(512 + ti.size + 1024)  # sparse: takes no disk, reads as zeros
    with pytest.raises(ShardError, match=r"'v_0_5\.json' is 1500000000 bytes, over the 1000000 byte cap"):
        index_split(ds, "train")
    # media: over the clip's recorded size (json mp4_bytes) plus the margin
    _tar(shard, [("v_0_5.mp4", b"\0" * (100 + 64 * 1024 + 1)), ("v_0_5.json", META)])
    with pytest.raises(ShardError, match=r"'v_0_5\.mp4' is 65637 bytes, over its cap of 65636"):
        index_split(ds, "train")


def test_the_train_command_refuses_a_crafted_shard_in_one_line(tmp_path):
    ds = DatasetRoot(tmp_path / "root")
    ds.manifests.mkdir(parents=True)
    _tar(ds.shards / "train-000000.tar", [("../../evil.mp4", b"x"), ("v_0_5.json", META)])
    proc = _cli("train", "--root", str(ds.root), "--no-progress", "--max-steps", "1")
    line = _one_line_error(proc)
    assert proc.returncode == 2 and "../../evil.mp4" in line and "train-000000.tar" in line


# ------------------------------------------------------------------ item 4: torn reads


def _writer(path: str, rounds: int, go) -> None:
    """Rewrite a manifest atomically, alternating small and large contents (as a running stage does)."""
    from realsync_build.core import manifest
    from realsync_build.core.schema import SCHEMAS

    go.wait()
    for i in range(rounds):
        n = 5 if i % 2 else 2000
        rows = [{"video_id": f"v{i}-{k}", "channel": "c" * (k % 40), "status": "done", "title": "t" * (k % 97)} for k in range(n)]
        manifest.write(rows, path, SCHEMAS["videos"], ["video_id"])


def test_a_reader_racing_a_writer_never_sees_a_torn_manifest(tmp_path):
    """A lock-free reader (status, stats) reads while a stage rewrites the manifest by atomic
    renames: every read gives a whole file, never "Page was smaller than expected"."""
    from realsync_build.core import manifest
    from realsync_build.core.schema import SCHEMAS

    path = tmp_path / "videos.parquet"
    _writer(str(path), 1, type("Go", (), {"wait": lambda self: None})())
    ctx = mp.get_context("fork")
    go = ctx.Event()
    proc = ctx.Process(target=_writer, args=(str(path), 150, go))
    proc.start()
    go.set()
    reads, sizes = 0, set()
    while proc.is_alive() and reads < 3000:
        df = manifest.read(path, SCHEMAS["videos"])  # raises on a torn file
        sizes.add(len(df))
        reads += 1
    proc.join(timeout=900)
    assert proc.exitcode == 0 and reads > 50
    assert sizes <= {1, 5, 2000} and len(sizes) >= 2  # whole files, both kinds seen


def test_a_damaged_manifest_is_named_as_damaged_not_a_guess(tmp_path):
    from realsync_build.core import manifest
    from realsync_build.core.schema import SCHEMAS

    path = tmp_path / "videos.parquet"
    manifest.write([{"video_id": "a", "status": "done"}], path, SCHEMAS["videos"], ["video_id"])
    path.write_bytes(path.read_bytes()[:-40])  # truncated
    with pytest.raises(manifest.ManifestError) as err:
        manifest.read(path, SCHEMAS["videos"])
    msg = str(err.value)
    assert "damaged" in msg and "delete it" not in msg and "\n" not in msg


# ------------------------------------------------------------------ item 5: state that lies


def test_a_garbage_stages_json_is_an_error_not_fresh(root):
    from realsync_build.core.status import collect
    from realsync_build.stages.export.webdataset import run_export_webdataset

    (root.root / "stages.json").write_bytes(b"{garbage")
    proc = _cli("status", "--root", str(root.root))
    line = _one_line_error(proc)
    assert proc.returncode == 2 and "stages.json is damaged" in line and "--overwrite" in line
    assert "complete and fresh" not in proc.stdout + proc.stderr
    for content in (b"[1, 2]", b'{"preprocess": 3}', b""):  # JSON, but not per-stage records; empty
        (root.root / "stages.json").write_bytes(content)
        with pytest.raises(state.RecordsLost, match="stages.json is damaged"):
            collect(root)
        with pytest.raises(state.RecordsLost, match="stages.json is damaged"):
            run_export_webdataset(root, progress=False)


def test_a_missing_stages_json_beside_recorded_manifests_is_an_error(root, sources):
    (root.root / "stages.json").unlink()
    proc = _cli("status", "--root", str(root.root))
    line = _one_line_error(proc)
    assert proc.returncode == 2 and "stages.json is missing" in line and "clips.parquet" in line
    with pytest.raises(state.RecordsLost):
        run_preprocess(root, sources, PreprocessConfig(clip_seconds=CLIP_S), _opts())
    # the way out it names: rebuild from a stage with --overwrite; later stages become invalid
    run_preprocess(root, sources, PreprocessConfig(clip_seconds=CLIP_S), _opts(overwrite=True))
    assert state.load(root, "preprocess")["status"] == state.COMPLETE
    assert state.load(root, "split")["status"] == state.INVALIDATED


def test_a_root_without_records_made_by_hand_is_still_accepted(tmp_path):
    """Older and hand-made roots never had stages.json: their manifests carry no recorded-run mark."""
    ds = DatasetRoot(tmp_path / "root")
    ds.write("videos", [{"video_id": "a", "status": "done", "duration_s": 4.0}])
    proc = _cli("status", "--root", str(ds.root))
    assert proc.returncode == 0, proc.stderr


def test_overwrite_keeps_a_damaged_stages_json_beside_and_starts_new_records(root, sources):
    (root.root / "stages.json").write_text("{garbage")
    run_preprocess(root, sources, PreprocessConfig(clip_seconds=CLIP_S), _opts(overwrite=True))
    kept = list(root.root.glob("stages.json.damaged-*"))
    assert len(kept) == 1 and kept[0].read_text() == "{garbage"
    assert state.load(root, "split")["status"] == state.INVALIDATED


def test_status_validates_every_manifest_it_reports(root):
    """A truncated clips.parquet is not "complete and fresh"."""
    path = root.manifest("clips")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    proc = _cli("status", "--root", str(root.root))
    out = " ".join(proc.stdout.split())  # the status screen is the command's result: stdout
    assert proc.returncode == 0, proc.stderr
    assert "preprocess │ damaged" in out and "complete and fresh" not in out
    assert "next: realsync preprocess (preprocess:" in out and "damaged" in out


def test_a_same_size_swap_is_caught_by_a_plain_rerun(root, sources):
    """Another clip's bytes of the same size (the mtime moves): a normal rerun re-hashes and redoes it."""
    import hashlib

    clips = root.read("clips").set_index("clip_id")
    cid = clips.index[0]
    path = root.abs(clips.loc[cid, "path"])
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 256] = os.urandom(256)
    path.write_bytes(bytes(data))
    report = run_preprocess(root, sources, PreprocessConfig(clip_seconds=CLIP_S), _opts())
    assert report.done == 1 and report.skipped_done == 1
    assert hashlib.sha256(path.read_bytes()).hexdigest() == clips.loc[cid, "sha256"]  # cut again, the same bytes
    # only the mtime moved (a copy of the root, `touch`): re-hashed, kept, nothing downstream goes stale
    split_before = state.load(root, "split")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    report = run_preprocess(root, sources, PreprocessConfig(clip_seconds=CLIP_S), _opts())
    assert report.done == 1 and root.read("clips").set_index("clip_id").loc[cid, "mtime_ns"] == path.stat().st_mtime_ns
    assert state.stale_reason(root, "split", split_before) is None


# ------------------------------------------------------------------ item 8: byte-identical no-op reruns


def test_every_manifest_is_byte_identical_after_a_no_op_rerun(root, sources):
    from realsync_build.stages.export.webdataset import run_export_webdataset
    from realsync_build.stages.split.run import SplitConfig, run_split

    run_export_webdataset(root, progress=False)

    def manifests() -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in sorted(root.manifests.glob("*.parquet"))}

    before = manifests()
    assert {"videos.parquet", "clips.parquet", "splits.parquet", "shards.parquet"} <= set(before)
    run_preprocess(root, sources, PreprocessConfig(clip_seconds=CLIP_S), _opts())  # rewrites videos.parquet
    run_split(root, SplitConfig(seed=0, ratios=(0.5, 0.0, 0.5)))
    run_export_webdataset(root, progress=False)
    after = manifests()
    assert [n for n in before if before[n] != after.get(n)] == []


def test_a_root_given_through_a_symlink_is_still_the_root(root, tmp_path):
    """Only what is under the root must stay inside it: the root's own path may be a link."""
    link = tmp_path / "link-to-root"
    link.symlink_to(root.root, target_is_directory=True)
    ds = DatasetRoot(link)
    clips = ds.read("clips")
    assert len(clips) == 4 and all(ds.abs(p).is_file() for p in clips["path"])
    assert ds.manifest("videos").is_file() and ds.exists(clips["path"].iloc[0])
