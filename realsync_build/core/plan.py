"""What a ``--dry-run`` of a stage prints: the items it would run, their media, an estimated time.

A plan is computed from the manifests only (read, never written: no lock, no ``stages.json``
record, no folder made), so a dry run leaves the root byte for byte as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from realsync_build.core.errors import NothingToDo
from realsync_build.core.estimates import Estimate


@dataclass
class Plan:
    stage: str  # "preprocess", "annotate", "export webdataset"
    items: int  # what would run
    item_label: str  # "videos", "clips"
    media_s: float | None  # media those items hold (None: not known before the run)
    done_before: int = 0  # already done: skipped
    failed_before: int = 0  # failed before: skipped unless --retry-failed
    outputs: dict[str, int] = field(default_factory=dict)  # {"clips to cut": 36} / {"shards": 4, ...}
    estimate: Estimate | None = None
    no_estimate: str = ""  # why there is none
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        media = "n/a (known once probed)" if self.media_s is None else f"{self.media_s / 3600:.3f} h"
        out = [f"{self.stage} --dry-run: the plan (nothing is written)"]
        out.append(f"  {self.item_label} to run: {self.items}, media {media}")
        skipped = []
        if self.done_before:
            skipped.append(f"{self.done_before} already done")
        if self.failed_before:
            skipped.append(f"{self.failed_before} failed before (--retry-failed runs them)")
        if skipped:
            out.append("  skipped: " + ", ".join(skipped))
        if self.outputs:
            out.append("  " + ", ".join(f"{k}: {v}" for k, v in self.outputs.items()))
        if self.estimate is not None:
            out.append(f"  estimated time: {self.estimate.text()}")
        else:
            out.append(f"  estimated time: {self.no_estimate or 'n/a'}")
        out += [f"  note: {n}" for n in self.notes]
        return out

    def to_dict(self) -> dict:
        return {
            "stage": self.stage, "items": self.items, "item_label": self.item_label,
            "media_hours": None if self.media_s is None else round(self.media_s / 3600.0, 6),
            "done_before": self.done_before, "failed_before": self.failed_before, "outputs": dict(self.outputs),
            "estimate": None if self.estimate is None else self.estimate.to_dict(), "no_estimate": self.no_estimate or None,
            "notes": list(self.notes),
        }  # fmt: skip


def nothing_to_do(message: str) -> NothingToDo:
    """The one line of a stage over zero items (exit 2)."""
    return NothingToDo(message)
