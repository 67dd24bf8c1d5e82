"""What split, export and stats read: the done clips and, when present, their annotations.

:func:`load_inputs` reads ``clips.parquet`` (required) and ``annotations.parquet``,
``intervals.parquet`` and ``events.parquet`` (each optional: a root that was never
annotated gives scenario ``unannotated`` and unmeasured (n/a) scenario hours), and
refuses stale combinations with a :class:`StaleManifest` error that names the file
and the fix:

* annotations exist but some done clips have no annotation row (``annotate`` ran
  before ``preprocess`` added clips): rerun ``realsync annotate``;
* annotation, interval or event rows name clips the clips manifest does not have
  (clips were removed or re-cut): rerun ``realsync annotate`` (it rewrites them),
  or delete the file;
* clip rows without a channel.

Reading never writes anything.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


from realsync_build.core.errors import UserError
from realsync_build.core.manifest import ManifestError, MissingInput
from realsync_build.core.root import DatasetRoot
from realsync_build.core.schema import DONE
from realsync_build.core.state import check_inputs


class StaleManifest(ManifestError, UserError):
    """Manifests that do not belong together (one was written before the other changed): the
    message names the command that fixes it, so it is a usage error (exit 2) like every "run X first"."""

    exit_code = 2


@dataclass
class Inputs:
    clips: pd.DataFrame  # done clips only
    annotations: pd.DataFrame | None  # None: the root was never annotated
    intervals: pd.DataFrame
    events: pd.DataFrame
    all_clips: pd.DataFrame | None = None  # every row of clips.parquet, failed ones included

    @property
    def annotated(self) -> bool:
        return self.annotations is not None


def join_split(clips: pd.DataFrame, clip_splits: pd.DataFrame | None) -> pd.DataFrame:
    """``clips`` with the ``split`` column from ``clip_splits.parquet`` (null for clips it does not
    list).  A root split before that file existed keeps the column its clips.parquet carries."""
    if clip_splits is None:
        return clips
    clips = clips.copy()
    clips["split"] = clips["clip_id"].map(dict(zip(clip_splits["clip_id"], clip_splits["split"])))
    return clips


def joined_clip_columns(clips: pd.DataFrame, ann: pd.DataFrame | None) -> pd.DataFrame:
    """``clips`` with annotate's per-clip totals joined in (``t_talking_head_s``, ``t_voice_over_s``,
    ``top_events``; null for clips without a done annotation)."""
    clips = clips.copy()
    done = ann[ann["status"] == DONE].set_index("clip_id") if ann is not None and len(ann) else None
    for col, src in (("t_talking_head_s", "t_th_s"), ("t_voice_over_s", "t_vo_s"), ("top_events", "top_events")):
        clips[col] = clips["clip_id"].map(done[src]) if done is not None else None
    return clips


def read_clips(root: DatasetRoot) -> pd.DataFrame:
    """Every row of ``clips.parquet`` with the columns later stages join in (annotate's totals,
    split's assignment): what a reader of "the clips" wants."""
    return load_inputs(root).all_clips


def _unknown(df: pd.DataFrame, known: set[str]) -> list[str]:
    if df.empty:
        return []
    return sorted(set(df["clip_id"].unique().tolist()) - known)


def _examples(ids: list[str], n: int = 3) -> str:
    more = f" and {len(ids) - n} more" if len(ids) > n else ""
    return ", ".join(ids[:n]) + more


def load_inputs(root: DatasetRoot, stage: str | None = None) -> Inputs:
    """The done clips plus their annotations, checked to belong together.

    ``stage`` (the reading stage, e.g. ``"split"``) also refuses inputs whose producing stage
    did not complete or went stale (:func:`realsync_build.core.state.check_inputs`)."""
    if stage is not None:
        check_inputs(root, stage)
    clips_path = root.manifest("clips")
    clips_all = root.read("clips", required=True, hint="run `realsync preprocess` first")
    clips = clips_all[clips_all["status"] == DONE].reset_index(drop=True)
    if clips.empty:
        raise MissingInput(f"{clips_path} has no done clips: run `realsync preprocess` (or --retry-failed) first")
    bad_channel = clips[clips["channel"].isna() | (clips["channel"].astype(str).str.strip() == "")]
    if len(bad_channel):
        raise StaleManifest(
            f"{clips_path}: {len(bad_channel)} clips have no channel ({_examples(list(bad_channel['clip_id']))}): "
            "rerun `realsync preprocess` on sources whose folder (or fetch entry) names a channel"
        )
    known = set(clips["clip_id"])
    all_known = set(clips_all["clip_id"])

    annotations = None
    ann_path = root.manifest("annotations")
    if root.has("annotations"):
        annotations = root.read("annotations")
        unknown = _unknown(annotations, all_known)
        if unknown:
            raise StaleManifest(
                f"{ann_path} annotates {len(unknown)} clips that {clips_path} does not have ({_examples(unknown)}): "
                "rerun `realsync annotate` (or delete the file) so annotations match the clips"
            )
        missing = sorted(known - set(annotations["clip_id"]))
        if missing:
            raise StaleManifest(
                f"{ann_path} has no row for {len(missing)} done clips ({_examples(missing)}): "
                "run `realsync annotate` again so every clip is annotated (or delete the file to treat the root as unannotated)"
            )
        annotations = annotations[annotations["clip_id"].isin(known)].reset_index(drop=True)
    # clips.parquet has one writer (preprocess); annotate's totals and split's assignment are joined in here
    clip_splits = root.read("clip_splits") if root.has("clip_splits") else None
    clips = join_split(joined_clip_columns(clips, annotations), clip_splits)
    clips_all = join_split(joined_clip_columns(clips_all, annotations), clip_splits)

    tables = {}
    for name in ("intervals", "events"):
        path = root.manifest(name)
        df = root.read(name)
        unknown = _unknown(df, all_known)
        if unknown:
            raise StaleManifest(
                f"{path} has rows for {len(unknown)} clips that {clips_path} does not have ({_examples(unknown)}): "
                "rerun `realsync annotate` (or delete the file) so it matches the clips"
            )
        if len(df) and annotations is None:
            raise StaleManifest(
                f"{path} exists but {ann_path} does not: rerun `realsync annotate` so both are written"
            )
        tables[name] = df[df["clip_id"].isin(known)].reset_index(drop=True)
    return Inputs(clips, annotations, tables["intervals"], tables["events"], all_clips=clips_all)


def rows_by_clip(df: pd.DataFrame | None, clip_ids: set[str] | None = None) -> dict[str, pd.DataFrame]:
    """``df``'s rows per clip_id (only ``clip_ids`` when given), in one sort instead of a groupby per clip."""
    if df is None or df.empty:
        return {}
    if clip_ids is not None:
        df = df[df["clip_id"].isin(clip_ids)]
        if df.empty:
            return {}
    ids = df["clip_id"].to_numpy(object)
    order = np.argsort(ids, kind="stable")
    ids, df = ids[order], df.iloc[order]
    cuts = np.flatnonzero(ids[1:] != ids[:-1]) + 1
    return {ids[a]: df.iloc[a:b] for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(ids)])}


def annotation_done(inputs: Inputs) -> pd.DataFrame:
    """Annotation rows usable for hours and flags (status done), indexed by clip_id."""
    if inputs.annotations is None:
        return pd.DataFrame(columns=["t_th_s", "t_vo_s", "suspect_sync"]).rename_axis("clip_id")
    ann = inputs.annotations
    ok = ann[ann["status"].isna() | (ann["status"] == DONE)]
    return ok.set_index("clip_id")


def load_split_inputs(root: DatasetRoot, stage: str | None = None) -> tuple[Inputs, pd.DataFrame]:
    """:func:`load_inputs` plus the split's outputs, checked against the clips.

    Returns the inputs (their ``clips`` keep only clips with a split) and ``segments``.
    """
    inputs = load_inputs(root, stage)
    clips_path, splits_path, seg_path = root.manifest("clips"), root.manifest("splits"), root.manifest("segments")
    splits = root.read("splits", required=True, hint="run `realsync split --seed S` first")
    clips = inputs.clips
    placed = clips[clips["split"].notna()]
    if placed.empty:
        raise StaleManifest(f"{clips_path} has no clip with a split: run `realsync split --seed S` (after preprocess) first")
    by_video = dict(zip(splits["video_id"], splits["split"]))
    wrong = placed[placed["video_id"].map(by_video) != placed["split"]]
    if len(wrong):
        raise StaleManifest(
            f"{clips_path} and {splits_path} disagree on {len(wrong)} clips ({_examples(list(wrong['clip_id']))}): "
            "rerun `realsync split --seed S`"
        )
    # split leaves out only clips flagged suspect_sync; any other done clip without one is new
    unplaced = clips[clips["split"].isna() & ~clips["clip_id"].isin(suspect_clips(inputs))]
    if len(unplaced):
        raise StaleManifest(
            f"{clips_path} has {len(unplaced)} done clips without a split ({_examples(list(unplaced['clip_id']))}), "
            "added after the last split: rerun `realsync split --seed S`"
        )
    segments = root.read("segments")
    split_of = dict(zip(placed["clip_id"], placed["split"]))
    bad = segments[segments["clip_id"].map(split_of).fillna("") != segments["split"]]
    if len(bad):
        raise StaleManifest(
            f"{seg_path} has {len(bad)} segments of clips that are not (or no longer) in that split "
            f"({_examples(list(bad['segment_id']))}): rerun `realsync split --seed S`"
        )
    inputs.clips = placed.reset_index(drop=True)
    return inputs, segments


def suspect_clips(inputs: Inputs) -> set[str]:
    """Done clips whose annotation flags them ``suspect_sync`` (``split --exclude-suspect-sync`` leaves them out)."""
    ann = annotation_done(inputs)
    if ann.empty or "suspect_sync" not in ann:
        return set()
    flags = ann["suspect_sync"].fillna(False).astype(bool)
    return set(flags[flags].index)
