"""What a preprocess run did, for its summary: clips kept (found intact), written or failed, and the
one line of a run with nothing to cut.  Counted in the driver as results come in."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from realsync_build.core.schema import DONE, FAILED

KEPT = "_kept"  # a row's mark (never stored): its clip file was already there, passed the checks and was kept


def media_seconds(rows: list[dict]) -> float:
    """Media cut in this run: clips written now, not those found intact and kept."""
    return float(sum((r.get("end_s") or 0) - (r.get("start_s") or 0) for r in rows if r.get("status") == DONE and not r.get(KEPT)))


@dataclass
class ClipOutcomes:
    """Driver side: what happened to each clip of the videos that ran (for ``--verify``'s account)."""

    kept: int = 0  # found, re-probed and re-hashed, intact: not rewritten
    written: int = 0  # cut in this run (missing, or redone because a check failed)
    failed: int = 0

    def media_seconds(self, rows: list[dict]) -> float:
        media = media_seconds(rows)
        for r in rows:
            kept = r.pop(KEPT, False)
            if r.get("status") == DONE:
                if kept:
                    self.kept += 1
                else:
                    self.written += 1
            elif r.get("status") == FAILED:
                self.failed += 1
        return media

    def as_verify(self) -> dict:
        return {"unit": "clips", "items": "videos", "checked": self.kept + self.written + self.failed, "intact": self.kept,
                "redone": self.written, "failed": self.failed, "how": "re-probed and sha256 re-hashed"}  # fmt: skip


def nothing_to_cut(videos: pd.DataFrame, only_spans: dict | None = None) -> str:
    """The one line for a run with no source to cut: how many videos are in which state."""
    if only_spans is not None:
        videos = videos[videos["video_id"].isin(set(only_spans))]
    counts = videos["status"].value_counts().to_dict() if len(videos) else {}
    listed = " listed" if only_spans is not None else ""
    others = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()) if s != DONE)
    hint = " (`realsync status` shows them; `realsync fetch --retry-failed` tries the failed ones again)" if counts.get(FAILED) else ""
    return f"0{listed} videos downloaded{f' ({others})' if others else ''}; nothing to cut{hint}"
