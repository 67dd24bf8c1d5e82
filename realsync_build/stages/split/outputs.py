"""split's three manifests, written in one place for a drawn split (``split --seed``) and an adopted
one (``split --from-list``): the one writer of ``splits``, ``segments`` and ``clip_splits``."""

from __future__ import annotations

import pandas as pd

from realsync_build.core.root import DatasetRoot


def write_outputs(root: DatasetRoot, splits: pd.DataFrame, clips: pd.DataFrame, segments: pd.DataFrame) -> None:
    """Each manifest atomically, segments first (the completion record follows them all).

    ``clips.parquet`` is not rewritten (preprocess is its one writer): each placed clip's split
    goes to ``clip_splits.parquet`` and is joined in when a later stage reads the clips."""
    root.write("segments", segments)
    root.write("splits", splits)
    placed = clips[clips["split"].notna()]
    root.write("clip_splits", placed[["clip_id", "video_id", "split"]])
