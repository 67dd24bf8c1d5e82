"""Driver overhead at scale: run_stage over many tiny tasks into a large manifest.

Prints the seconds the driver needs for ``--tasks`` one-row tasks (inline executor,
the function does nothing) merged into a ``clips`` manifest that already holds
``--rows`` rows: the cost of resume checks, merging and atomic saves alone.

    python bench/bench_driver.py --rows 100000 --tasks 5000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from realsync_build.core import manifest
from realsync_build.core.root import DatasetRoot
from realsync_build.core.schema import CLIPS, DONE, KEYS
from realsync_build.core.stage import RunOptions, StageSpec, run_stage


def one_row(task: dict) -> list[dict]:
    return [{"clip_id": task["video_id"] + "_0_300", "start_s": 0.0, "end_s": 300.0, "status": DONE}]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--tasks", type=int, default=5_000)
    args = ap.parse_args()
    root = DatasetRoot(Path(tempfile.mkdtemp(prefix="realsync-driver-")))
    old = pd.DataFrame({"clip_id": [f"old{i:07d}_0_300" for i in range(args.rows)],
                        "video_id": [f"old{i:07d}" for i in range(args.rows)], "status": DONE})  # fmt: skip
    manifest.write(old, root.manifest("clips"), CLIPS, KEYS["clips"])
    tasks = [{"video_id": f"new{i:07d}"} for i in range(args.tasks)]
    spec = StageSpec("driver", "clips", "video_id", one_row, lambda t, e: [])
    t = time.monotonic()
    report = run_stage(spec, root, tasks, RunOptions(executor="inline", progress=False))
    wall = time.monotonic() - t
    print(f"{args.tasks} tasks into {args.rows} rows: {wall:.1f} s ({1000 * wall / args.tasks:.2f} ms per task), done={report.done}")
    t = time.monotonic()
    report = run_stage(spec, root, tasks, RunOptions(executor="inline", progress=False))
    print(f"resume check of {args.tasks} done tasks over {args.rows + args.tasks} rows: {time.monotonic() - t:.1f} s, skipped={report.skipped_done}")


if __name__ == "__main__":
    main()
