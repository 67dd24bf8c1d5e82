"""What ``realsync train`` and ``realsync evaluate`` left under a root, read from their files only.

* a training run is a folder ``runs/NAME/`` with ``config.json`` (written when it starts) and
  ``summary.json`` (written when it finishes: steps, best dev mAP); ``best.pt`` / ``last.pt``
  are its checkpoints;
* an evaluation is a folder with ``metrics.json``: ``report/eval-SPLIT/`` (evaluate's default
  ``--out``) or ``runs/NAME/eval-SPLIT/`` (the demo's).

Used by ``realsync status`` (which never imports the trainer: reading a few JSON files is enough).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from realsync_build.core.root import DatasetRoot


def _json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _utc(path: Path) -> str | None:
    try:
        t = path.stat().st_mtime
    except OSError:
        return None
    return _dt.datetime.fromtimestamp(t, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class TrainRun:
    folder: str  # relative to the root, e.g. runs/streamsync-base
    complete: bool  # summary.json written: the run reached its last step
    steps: int | None = None
    best_dev_map: float | None = None
    best_step: int | None = None
    checkpoint: str | None = None  # best.pt (else last.pt) relative to the root; None: none yet
    finished_at: str | None = None  # UTC, from summary.json's time

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Evaluation:
    folder: str  # relative to the root, e.g. report/eval-test
    split: str | None = None
    checkpoint: str | None = None
    n_segments: int | None = None
    metrics: dict = field(default_factory=dict)  # {method: mAP} of the methods it measured
    finished_at: str | None = None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def train_runs(root: DatasetRoot) -> list[TrainRun]:
    """Every folder under ``runs/`` that a training started (it has ``config.json``)."""
    out = []
    base = root.root / "runs"
    for folder in sorted(p for p in base.iterdir() if p.is_dir()) if base.is_dir() else []:
        if not (folder / "config.json").is_file():
            continue
        summary = _json(folder / "summary.json")
        ck = next((folder / n for n in ("best.pt", "last.pt") if (folder / n).is_file()), None)
        run = TrainRun(folder=os.path.relpath(folder, root.root), complete=summary is not None,
                       checkpoint=os.path.relpath(ck, root.root) if ck else None)  # fmt: skip
        if summary is not None:
            run.steps = summary.get("steps")
            run.best_dev_map = summary.get("best_dev_map")
            run.best_step = summary.get("best_step")
            run.finished_at = _utc(folder / "summary.json")
        out.append(run)
    return out


def evaluations(root: DatasetRoot) -> list[Evaluation]:
    """Every ``metrics.json`` of an evaluation: ``report/eval-*/`` and ``runs/*/eval-*/``."""
    found = sorted((root.root / "report").glob("eval-*/metrics.json")) + sorted((root.root / "runs").glob("*/eval-*/metrics.json"))
    out = []
    for path in found:
        m = _json(path)
        if m is None:
            continue
        maps = {k: m[k].get("map") for k in ("snapshot", "apa", "streamsync", "pretrained") if isinstance(m.get(k), dict)}
        out.append(Evaluation(folder=os.path.relpath(path.parent, root.root), split=m.get("split"), checkpoint=m.get("checkpoint"),
                              n_segments=m.get("n_segments"), metrics=maps, finished_at=_utc(path)))  # fmt: skip
    return out
