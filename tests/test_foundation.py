"""Building blocks every stage shares: safe names, atomic writes, manifests, the stage driver."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from realsync_build.core import atomic, manifest, schema
from realsync_build.core.executors.base import error_message
from realsync_build.core.executors.local import InlineExecutor, LocalExecutor
from realsync_build.core.root import DatasetRoot, safe_name
from realsync_build.core.stage import RunOptions, StageSpec, run_stage, task_states


def test_safe_name_never_lets_a_title_escape():
    assert safe_name("../../etc/passwd") == "etc_passwd"
    assert safe_name("; rm -rf / #") == "rm_-rf"
    assert safe_name("-rf") == "_rf"
    assert safe_name("") == "x"
    assert safe_name("T-v0Y9z_6Y8") == "T-v0Y9z_6Y8"


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    final = tmp_path / "out.bin"
    with pytest.raises(RuntimeError):
        with atomic.atomic_path(final) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("crash")
    assert not final.exists() and list(tmp_path.iterdir()) == []
    atomic.write_text(final, "whole")
    assert final.read_text() == "whole"
    stale = atomic.temp_path_for(final)
    stale.write_bytes(b"x")
    assert atomic.remove_stale_temps(tmp_path) == 1 and final.exists()


def test_manifest_roundtrip_is_sorted_and_typed(tmp_path):
    p = tmp_path / "m.parquet"
    rows = [{"video_id": "b", "status": "done"}, {"video_id": "a", "status": "failed", "error": "x"}]
    manifest.write(rows, p, schema.VIDEOS, ["video_id"])
    df = manifest.read(p, schema.VIDEOS)
    assert list(df["video_id"]) == ["a", "b"] and list(df.columns) == schema.VIDEOS.names
    df2 = manifest.upsert(df, [{"video_id": "a", "status": "done"}], ["video_id"])
    assert df2.set_index("video_id").loc["a", "status"] == "done" and len(df2) == 2


def test_a_damaged_manifest_is_a_clear_error(tmp_path):
    p = tmp_path / "clips.parquet"
    p.write_bytes(b"garbage")
    with pytest.raises(manifest.ManifestError, match="rerun the stage"):
        manifest.read(p, schema.CLIPS)


def _square(task):
    if task["n"] == 3:
        raise ValueError("three is bad\nsecond line")
    return [{"clip_id": f"c{task['n']}", "status": "done", "n_frames": task["n"] ** 2}]


def _error(task, msg):
    return [{"clip_id": f"c{task['n']}", "status": "failed", "error": msg}]


SPEC = StageSpec(name="square", manifest="clips", task_key="video_id", fn=_square, error_rows=_error)


@pytest.mark.parametrize("executor", [InlineExecutor(), LocalExecutor(workers=2)])
def test_stage_driver_records_errors_and_resumes(tmp_path, executor):
    root = DatasetRoot(tmp_path)
    tasks = [{"video_id": f"v{n}", "n": n} for n in range(5)]
    rep = run_stage(SPEC, root, tasks, RunOptions(progress=False), executor=executor)
    assert (rep.done, rep.failed) == (4, 1)
    assert rep.errors == [("v3", "ValueError: three is bad")]
    df = pd.read_parquet(root.manifest("clips"))
    assert list(df["clip_id"]) == [f"c{n}" for n in range(5)]
    assert task_states(df, "video_id") == {**{f"v{n}": "done" for n in (0, 1, 2, 4)}, "v3": "failed"}
    log = (tmp_path / "logs" / "square" / "v3.log").read_text()  # the whole story, from the worker process
    assert "ValueError: three is bad" in log and "Traceback (most recent call last)" in log and "second line" in log
    assert sorted(p.name for p in (tmp_path / "logs" / "square").iterdir()) == ["v3.log"]
    again = run_stage(SPEC, root, tasks, RunOptions(progress=False), executor=executor)
    assert (again.done, again.skipped_done, again.skipped_failed) == (0, 4, 1)


def test_error_message_is_one_line():
    assert error_message(OSError("disk full\nmore")) == "OSError: disk full"
