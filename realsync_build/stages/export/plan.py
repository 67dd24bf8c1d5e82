"""``realsync export webdataset --dry-run``: the samples per split, the shards that would be written
(and those kept because their content did not change), the bytes, and about how long.  Reads only."""

from __future__ import annotations

from realsync_build.core import estimates
from realsync_build.core.plan import Plan
from realsync_build.core.root import DatasetRoot
from realsync_build.core.schema import DONE
from realsync_build.stages.export.webdataset import SPLITS, WebDatasetConfig, build_samples, plan_shards


def plan_export(root: DatasetRoot, cfg: WebDatasetConfig | None = None, overwrite: bool = False) -> Plan:
    cfg = cfg or WebDatasetConfig()
    unknown = [s for s in cfg.splits if s not in SPLITS]
    if unknown:
        raise ValueError(f"unknown split(s) {unknown}: use train, dev, test")
    samples, errors = build_samples(root, cfg)
    shards = plan_shards(samples, cfg.shard_bytes)
    old = root.read("shards")
    recorded = {}
    if len(old) and not overwrite:
        for shard, g in old[old["status"] == DONE].groupby("shard"):
            recorded[shard] = (g["shard_fingerprint"].iloc[0], int(g["shard_bytes"].iloc[0]))
    write, kept, n_bytes, media_s = 0, 0, 0, 0.0
    for sp in shards:
        rel = f"shards/{sp.name}"
        rec = recorded.get(rel)
        if rec and rec[0] == sp.fingerprint and root.size(rel) == rec[1]:
            kept += 1
            continue
        write += 1
        n_bytes += sum(s.size for s in sp.samples)
    by_split: dict[str, int] = {}
    for s in samples:
        by_split[s.split] = by_split.get(s.split, 0) + 1
    clips = root.read("clips").set_index("clip_id")
    for s in samples:
        if s.clip_id in clips.index:
            media_s += float(clips.at[s.clip_id, "end_s"]) - float(clips.at[s.clip_id, "start_s"])
    plan = Plan("export webdataset", len(samples), "samples", media_s)
    plan.outputs = {**{f"{k} samples": v for k, v in sorted(by_split.items())}, "shards to write": write, "shards unchanged": kept,
                    "MB to write": round(n_bytes / 1e6, 1)}  # fmt: skip
    if errors:
        plan.notes.append(f"{len(errors)} clips cannot be exported (file missing or changed): they would get failed rows")
    plan.estimate = estimates.export(n_bytes)
    if plan.estimate is None:
        plan.no_estimate = "n/a (no shard to write)"
    return plan
