"""Time ``split --from-list`` and ``export streamsync --layout streamsync`` on the shared published list.

A root whose clips manifest holds every span the list names (no media: adoption reads
manifests only), then: adoption with ``--protocol all`` and ``paper``, and the export.

    PYTHONPATH=$PWD python bench/adopt.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from splitdata import clip_rows, write_clips  # noqa: E402

from realsync_build import testdata  # noqa: E402
from realsync_build.core.root import DatasetRoot  # noqa: E402
from realsync_build.stages.export.streamsync import run_export_streamsync  # noqa: E402
from realsync_build.core import lists  # noqa: E402
from realsync_build.stages.split.adopt import AdoptConfig, run_adopt  # noqa: E402


def main() -> None:
    csv_path = testdata.testdata_file("realsync_lists/sports_and_news_normal.evaluation.csv")
    if csv_path is None:
        sys.exit("shared list not found (set REALSYNC_TESTDATA)")
    with tempfile.TemporaryDirectory() as tmp:
        ds = DatasetRoot(Path(tmp) / "data")
        ds.root.mkdir()
        rows, seen = [], set()
        for r in lists.read_csv(csv_path):
            cid = r.segment.clip_id
            if cid not in seen:
                seen.add(cid)
                x = clip_rows(r.channel, r.segment.video_id, 1)[0]
                x.update(clip_id=cid, start_s=float(r.segment.clip_start_s), end_s=float(r.segment.clip_end_s))
                rows.append(x)
        write_clips(ds, rows)
        print(f"load average {os.getloadavg()[0]:.1f}; {len(rows)} clips")
        for proto, cap in (("all", None), ("paper", None), ("paper", 2000)):
            t = time.perf_counter()
            res = run_adopt(ds, [csv_path], AdoptConfig(protocol=proto, cap=cap))
            dt = time.perf_counter() - t
            print(f"split --from-list --protocol {proto}{' --cap 2000' if cap else ''}: {len(res.segments)} segments in {dt:.2f} s")
        t = time.perf_counter()
        run_export_streamsync(ds, Path(tmp) / "out", layout="streamsync")
        print(f"export streamsync --layout streamsync (after --cap 2000): {time.perf_counter() - t:.2f} s")
        run_adopt(ds, [csv_path], AdoptConfig(protocol="all"))
        t = time.perf_counter()
        run_export_streamsync(ds, Path(tmp) / "out", layout="streamsync")
        print(f"export streamsync --layout streamsync (32,065 segments): {time.perf_counter() - t:.2f} s")


if __name__ == "__main__":
    main()
