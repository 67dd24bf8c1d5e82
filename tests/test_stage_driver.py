"""The shared driver at scale: vectorised task states, batched merges, resume."""

from __future__ import annotations

import random

import pandas as pd

from realsync_build.core import manifest
from realsync_build.core.root import DatasetRoot
from realsync_build.core.schema import CLIPS, DONE, FAILED
from realsync_build.core.stage import RunOptions, StageSpec, run_stage, task_states


def _reference_states(df: pd.DataFrame, key: str) -> dict[str, str]:
    """The rule, one task at a time: any failed row -> failed; all known rows done/skipped -> done."""
    out = {}
    for tid, status in df.groupby(key, sort=False)["status"]:
        values = set(status.dropna())
        out[tid] = FAILED if FAILED in values else (DONE if values and values <= {DONE, "skipped"} else "pending")
    return out


def test_task_states_matches_the_rule():
    rng = random.Random(7)
    for _ in range(200):
        n = rng.randint(1, 30)
        df = pd.DataFrame(
            {
                "video_id": [rng.choice("abcdef") for _ in range(n)],
                "status": [rng.choice([DONE, FAILED, "skipped", "planned", None]) for _ in range(n)],
            }
        )
        assert task_states(df, "video_id") == _reference_states(df, "video_id")


def two_clips_or_fail(task: dict) -> list[dict]:
    if task.get("bad"):
        raise ValueError("bad source")
    vid = task["video_id"]
    return [{"clip_id": f"{vid}_{s}_{s + 2}", "start_s": float(s), "end_s": float(s + 2), "status": DONE} for s in (0, 2)]


def _error_rows(task: dict, err: str) -> list[dict]:
    return [{"clip_id": task["video_id"], "status": FAILED, "error": err}]


def test_many_tasks_batched_then_retry_replaces_rows(tmp_path):
    root = DatasetRoot(tmp_path)
    spec = StageSpec("t", "clips", "video_id", two_clips_or_fail, _error_rows)
    tasks = [{"video_id": f"v{i:04d}", "bad": i % 100 == 0} for i in range(500)]
    opts = RunOptions(executor="inline", progress=False, save_every_s=0.01)  # many intermediate saves
    report = run_stage(spec, root, tasks, opts)
    assert (report.done, report.failed) == (495, 5)
    df = manifest.read(root.manifest("clips"), CLIPS)
    assert len(df) == 495 * 2 + 5 and df["clip_id"].is_unique

    fixed = [dict(t, bad=False) for t in tasks]
    assert run_stage(spec, root, fixed, opts).skipped_failed == 5
    report = run_stage(spec, root, fixed, RunOptions(executor="inline", progress=False, retry_failed=True))
    assert (report.done, report.skipped_done) == (5, 495)
    df = manifest.read(root.manifest("clips"), CLIPS)
    assert len(df) == 1000 and (df["status"] == DONE).all()  # the error rows were replaced, not kept
