"""The run folder's per-step log: ``metrics.jsonl`` (append-only) and ``metrics.csv``.

Every step appends one JSON line, flushed, so a kill leaves at most one torn
last line.  On resume the file is cut (``truncate``, never rewritten) right
after the last complete line whose step is at most the checkpoint's: a torn
line and the steps after the checkpoint go, everything before stays
byte for byte.  ``metrics.csv`` is derived from the kept lines.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

from realsync_build.core import atomic

FIELDS = ["step", "phase", "epoch", "lr", "loss", "loss_snapshot", "loss_stream", "acc_snapshot", "acc_stream_last", "step_s",
          "dev_map", "dev_acc"]


def cut_jsonl(path: Path, max_step: int) -> list[dict]:
    """Keep the complete lines with ``step <= max_step`` (a prefix); truncate the rest. Returns the kept rows."""
    if not path.exists():
        return []
    data = path.read_bytes()
    rows, keep = [], 0
    pos = 0
    while pos < len(data):
        end = data.find(b"\n", pos)
        if end < 0:
            break  # a torn last line (no newline): drop it
        try:
            row = json.loads(data[pos:end])
        except ValueError:
            break  # a torn line that happens to end the file with garbage
        if not isinstance(row, dict) or row.get("step", 0) > max_step:
            break
        rows.append(row)
        pos = keep = end + 1
    if keep < len(data):
        with open(path, "r+b") as fh:
            fh.truncate(keep)
    return rows


class RunLog:
    def __init__(self, run: Path, resume_step: int | None) -> None:
        self.csv, self.jsonl = run / "metrics.csv", run / "metrics.jsonl"
        if resume_step is None:  # a fresh run
            atomic.write_text(self.jsonl, "")
            rows = []
        else:
            rows = cut_jsonl(self.jsonl, resume_step)
        with atomic.atomic_path(self.csv) as tmp:
            with open(tmp, "w", newline="") as fh:
                w = csv.DictWriter(fh, FIELDS, extrasaction="ignore")
                w.writeheader()
                w.writerows(rows)

    def add(self, row: dict) -> None:
        with open(self.jsonl, "a") as fh:
            fh.write(json.dumps(row) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        with open(self.csv, "a", newline="") as fh:
            csv.DictWriter(fh, FIELDS, extrasaction="ignore").writerow(row)
