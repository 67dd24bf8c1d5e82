"""``realsync export webdataset``: one tar shard series per split, one sample per clip.

``shards/{split}-{shard:06d}.tar`` holds, per clip, ``{key}.mp4`` (the clip as
preprocess wrote it) then ``{key}.json`` (:mod:`realsync_build.stages.export.samples`);
the key is the clip id, so keys are stable across runs.  Samples are ordered by
a seeded hash of the clip id (a fixed shuffle that keeps each clip's place when
others are added) and packed greedily up to ``shard_bytes`` (a sample larger
than the target gets a shard of its own).  Tar headers are fixed (mtime 0,
uid/gid 0, mode 0644), so the same inputs give byte-identical shards.

Every clip is checked against ``clips.parquet`` as it is packed: its size before, its sha256
(hashed while it is copied into the tar, in the same single read) after; a clip that differs
(swapped for another file of the same size, damaged in place) gets an error row and the shard is
planned and written again without it, so nothing unverified is packed.  Member names come only
from validated clip ids (:func:`checked_key`).

Every shard is written under a temp name and renamed when complete.  A rerun
skips shards whose planned content (keys, json bytes, mp4 size and mtime) has
the fingerprint recorded in ``manifests/shards.parquet`` and whose file is the
recorded size; shards of an earlier, larger plan are deleted.  A clip whose mp4
is missing or unreadable gets an error row there and the others are exported.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from realsync_build.core import atomic, manifest
from realsync_build.stages.export.samples import clip_record, record_bytes, sample_key
from realsync_build.core.clipview import load_split_inputs, rows_by_clip
from realsync_build.core.root import DatasetRoot
from realsync_build.core.state import SPECS, stage_run
from realsync_build.core.schema import DONE, FAILED
from realsync_build.core.ui import stage_progress

SPLITS = ("train", "dev", "test")
TAR_OVERHEAD = 3 * 512  # two headers and padding per sample, roughly
DEFAULT_SHARD_BYTES = 1_000_000_000


@dataclass
class WebDatasetConfig:
    shard_bytes: int = DEFAULT_SHARD_BYTES
    splits: tuple[str, ...] = SPLITS
    seed: int = 0


@dataclass
class Sample:
    key: str
    clip_id: str
    split: str
    mp4: Path
    json: bytes
    mp4_bytes: int
    mp4_mtime_ns: int
    sha256: str | None = None  # recorded by preprocess; checked while packing

    @property
    def size(self) -> int:
        return self.mp4_bytes + len(self.json) + TAR_OVERHEAD


class ClipChanged(OSError):
    """A clip's bytes differ from what ``clips.parquet`` recorded (found while packing it)."""

    def __init__(self, sample: Sample, message: str) -> None:
        super().__init__(message)
        self.sample = sample


_KEY = re.compile(r"^[A-Za-z0-9_-]{1,200}$")


def checked_key(clip_id) -> str:
    """The tar member stem of a clip: :func:`sample_key` of a validated clip id.  A clip id that is
    not ``A-Za-z0-9_-`` (absolute, ``..``, a separator: a tampered manifest) is refused
    (:class:`UnsafePath`), so no member name can leave the sample's key."""
    key = sample_key(clip_id)
    if not isinstance(clip_id, str) or not _KEY.match(key) or key != clip_id:
        from realsync_build.core.errors import UnsafePath

        raise UnsafePath(f"clips.parquet: clip_id {clip_id!r} is not a safe id (tampered manifest?): refusing to name a tar member after it")
    return key


@dataclass
class ShardPlan:
    name: str  # e.g. train-000000.tar
    samples: list[Sample] = field(default_factory=list)

    @property
    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for s in self.samples:
            h.update(f"{s.key}\0{s.mp4_bytes}\0{s.mp4_mtime_ns}\0".encode())
            h.update(hashlib.sha256(s.json).digest())
        return h.hexdigest()


@dataclass
class ExportReport:
    samples: int = 0
    failed: int = 0
    shards_written: int = 0
    shards_kept: int = 0
    shards_removed: int = 0
    bytes_written: int = 0
    per_split: dict[str, int] = field(default_factory=dict)
    errors: list[tuple[str, str]] = field(default_factory=list)
    shard_paths: list[Path] = field(default_factory=list)


SHARD_RE = re.compile(r"^(?P<split>[a-z]+)-(?P<n>\d{6})\.tar$")


def shard_name(split: str, n: int) -> str:
    return f"{split}-{n:06d}.tar"


def _order(seed: int, clip_id: str) -> str:
    return hashlib.sha256(f"{seed}:{clip_id}".encode()).hexdigest()


def build_samples(root: DatasetRoot, cfg: WebDatasetConfig) -> tuple[list[Sample], list[dict]]:
    """Samples to export (in shard order per split) and error rows for clips that cannot be."""
    inputs, segments = load_split_inputs(root, "export")
    ann_all = inputs.annotations.set_index("clip_id") if inputs.annotated else None
    clips = inputs.clips[inputs.clips["split"].isin(cfg.splits)].copy()
    ids = set(clips["clip_id"])
    iv, ev, seg = (rows_by_clip(df, ids) for df in (inputs.intervals, inputs.events, segments))
    clips["_order"] = [_order(cfg.seed, c) for c in clips["clip_id"]]
    clips = clips.sort_values(["split", "_order"], kind="mergesort")
    samples, errors = [], []
    for clip in clips.to_dict("records"):
        cid = clip["clip_id"]
        key = checked_key(cid)
        path = root.abs(clip["path"]) if clip.get("path") else None
        try:
            if path is None:
                raise FileNotFoundError("the clips manifest has no path for it")
            if root.url is not None:
                path = root.cache(clip["path"])  # a URL root: the clip's copy in the local mirror
            st = path.stat()
            if st.st_size == 0:
                raise OSError(f"{path} is empty")
            recorded = clip.get("size_bytes")
            if recorded is not None and not pd.isna(recorded) and int(recorded) != st.st_size:
                raise OSError(f"{path} is {st.st_size} bytes, preprocess recorded {int(recorded)} (changed since)")
        except OSError as exc:
            errors.append(_error_row(clip, f"clip file missing or unreadable ({exc}): rerun `realsync preprocess`"))
            continue
        annotation = ann_all.loc[cid].to_dict() if ann_all is not None and cid in ann_all.index else None
        rec = clip_record(clip, annotation, iv.get(cid), ev.get(cid), seg.get(cid), inputs.annotated)
        sha = clip.get("sha256")
        sha = sha if isinstance(sha, str) and sha else None
        samples.append(Sample(key, cid, clip["split"], path, record_bytes(rec), st.st_size, st.st_mtime_ns, sha))
    return samples, errors


def _error_row(clip: dict, error: str) -> dict:
    return {"key": sample_key(clip["clip_id"]), "clip_id": clip["clip_id"], "split": clip["split"], "status": FAILED, "error": error}


def plan_shards(samples: list[Sample], shard_bytes: int) -> list[ShardPlan]:
    """Greedy packing per split, in sample order."""
    plans: list[ShardPlan] = []
    by_split: dict[str, list[Sample]] = {}
    for s in samples:
        by_split.setdefault(s.split, []).append(s)
    for split in sorted(by_split):
        current: ShardPlan | None = None
        size = 0
        n = 0
        for s in by_split[split]:
            if current is None or (current.samples and size + s.size > shard_bytes):
                current = ShardPlan(shard_name(split, n))
                plans.append(current)
                n += 1
                size = 0
            current.samples.append(s)
            size += s.size
    return plans


def _info(name: str, size: int) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.size = size
    ti.mtime = 0
    ti.mode = 0o644
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = ""
    ti.type = tarfile.REGTYPE
    return ti


class _Hashing:
    """A file read once: what tarfile copies is hashed on the way."""

    def __init__(self, fh) -> None:
        self.fh, self.h, self.n = fh, hashlib.sha256(), 0

    def read(self, size: int = -1) -> bytes:
        data = self.fh.read(size)
        self.h.update(data)
        self.n += len(data)
        return data


def write_shard(path: Path, plan: ShardPlan) -> int:
    """Write one shard atomically; returns its size in bytes.  Raises :class:`ClipChanged` (and
    leaves no shard) when a clip's size or sha256 differs from the recorded ones."""
    with atomic.atomic_path(path) as tmp:
        with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
            for s in plan.samples:
                with open(s.mp4, "rb") as fh:
                    size = os.fstat(fh.fileno()).st_size
                    if size != s.mp4_bytes:
                        raise ClipChanged(s, f"{s.mp4} is {size} bytes, preprocess recorded {s.mp4_bytes} (changed since)")
                    src = _Hashing(fh)
                    tar.addfile(_info(f"{s.key}.mp4", size), src)
                    if s.sha256 is not None and src.h.hexdigest() != s.sha256:
                        raise ClipChanged(s, f"{s.mp4}: sha256 {src.h.hexdigest()[:16]}... differs from the recorded {s.sha256[:16]}... (changed since)")
                tar.addfile(_info(f"{s.key}.json", len(s.json)), io.BytesIO(s.json))
    return path.stat().st_size


SPEC = SPECS["export"].complete(params=("--shard-size", "--seed"))  # the options that shape the shards


def output_params(cfg: WebDatasetConfig) -> dict:
    """The options that shape the shards, under their CLI names (recorded in the root)."""
    return {"--shard-size": cfg.shard_bytes, "--seed": cfg.seed}


def run_export_webdataset(
    root: DatasetRoot, cfg: WebDatasetConfig | None = None, progress: bool = True, overwrite: bool = False
) -> ExportReport:
    cfg = cfg or WebDatasetConfig()
    if cfg.shard_bytes < 1:
        raise ValueError("--shard-size must be positive")
    unknown = [s for s in cfg.splits if s not in SPLITS]
    if unknown:
        raise ValueError(f"unknown split(s) {unknown}: use train, dev, test")
    with stage_run(root, SPEC, output_params(cfg), overwrite=overwrite) as run:
        report = _export(root, cfg, progress)
        run.note(samples=report.samples, failed=report.failed, shards=len(report.shard_paths))
    return report


def verify_shards(root: DatasetRoot, split: str) -> list[Path]:
    """The shard files of ``split`` listed in ``shards.parquet``, each checked: present, the recorded
    size, no listed shard missing and no unlisted ``{split}-*.tar`` beside them.  Raises
    :class:`~realsync_build.core.manifest.ManifestError` naming the fix."""
    from realsync_build.core.manifest import ManifestError

    rows = root.read("shards", required=True, hint="run `realsync export webdataset` first")
    rows = rows[(rows["split"] == split) & (rows["status"] == DONE)]
    listed = rows.drop_duplicates("shard")[["shard", "shard_bytes"]]
    problems, paths = [], []
    for rel, size in zip(listed["shard"], listed["shard_bytes"]):
        actual = root.size(rel)
        if actual is None:
            problems.append(f"{rel} is missing")
        elif actual != int(size):
            problems.append(f"{rel} is {actual} bytes, shards.parquet says {int(size)}")
        paths.append(root.abs(rel))
    names = {p.name for p in paths}
    extra = [r.rsplit("/", 1)[-1] for r in root.ls("shards", f"{split}-*.tar") if r.rsplit("/", 1)[-1] not in names]
    if extra:
        problems.append(f"{len(extra)} shard(s) not in shards.parquet ({', '.join(extra[:3])})")
    if problems:
        raise ManifestError(
            f"the {split} shards do not match {root.manifest('shards')}: {'; '.join(problems[:5])}: rerun `realsync export webdataset`"
        )
    return sorted(paths)


def check_train_inputs(root: DatasetRoot, split: str = "train") -> None:
    """Before ``train`` (``split="train"``) or ``evaluate`` (dev/test): the export completed and is
    not stale, and the split's shards match ``shards.parquet`` (checked when the manifest exists;
    hand-made or synthetic shard folders have none)."""
    from realsync_build.core.state import check_inputs

    check_inputs(root, "train")
    if root.url is not None:
        root.mirror("shards", "*.tar")  # a URL root: train/evaluate read the shards from the local mirror
    if root.has("shards"):
        verify_shards(root, split)


def _export(root: DatasetRoot, cfg: WebDatasetConfig, progress: bool) -> ExportReport:
    samples, errors = build_samples(root, cfg)
    written: dict[str, tuple[str, int]] = {}  # shard name -> (fingerprint, bytes) written by this run
    while True:  # a clip found changed while packing: an error row, and the shards are planned again without it
        try:
            return _export_samples(root, cfg, progress, samples, errors, written)
        except ClipChanged as exc:
            samples = [s for s in samples if s.clip_id != exc.sample.clip_id]
            clip = {"clip_id": exc.sample.clip_id, "split": exc.sample.split}
            errors = [*errors, _error_row(clip, f"clip file does not match clips.parquet ({exc}): rerun `realsync preprocess`")]


def _export_samples(
    root: DatasetRoot, cfg: WebDatasetConfig, progress: bool, samples: list[Sample], errors: list[dict], written: dict
) -> ExportReport:
    plans = plan_shards(samples, cfg.shard_bytes)
    report = ExportReport(samples=len(samples), failed=len(errors), errors=[(e["clip_id"], e["error"]) for e in errors])
    shards_dir = root.shards
    shards_dir.mkdir(parents=True, exist_ok=True)
    atomic.remove_stale_temps(shards_dir)

    old = root.read("shards")
    recorded = {}
    if len(old):
        for shard, g in old[old["status"] == DONE].groupby("shard"):
            recorded[shard] = (g["shard_fingerprint"].iloc[0], int(g["shard_bytes"].iloc[0]))

    rows: list[dict] = list(errors)
    total = sum(p.samples.__len__() for p in plans)
    with stage_progress("export webdataset", total, enabled=progress, unit="clips") as bar:
        for plan in plans:
            path = shards_dir / plan.name
            rel = root.rel(path)
            fp = plan.fingerprint
            rec = recorded.get(rel)
            if rec and rec[0] == fp and root.size(rel) == rec[1]:  # at the URL for a URL root
                nbytes = rec[1]
                report.shards_kept += 1
            elif written.get(plan.name, ("", -1))[0] == fp and root.size(rel) == written[plan.name][1]:
                nbytes = written[plan.name][1]  # written (and checked) earlier in this run, before a replan
                report.shards_written += 1
                report.bytes_written += nbytes
            else:
                nbytes = write_shard(path, plan)
                written[plan.name] = (fp, nbytes)
                root.publish(path)  # a URL root: publish the shard atomically (no-op for a folder)
                report.shards_written += 1
                report.bytes_written += nbytes
            report.shard_paths.append(path)
            for s in plan.samples:
                report.per_split[s.split] = report.per_split.get(s.split, 0) + 1
                rows.append(
                    {
                        "key": s.key, "clip_id": s.clip_id, "split": s.split, "shard": rel,
                        "size_bytes": s.mp4_bytes + len(s.json), "shard_bytes": nbytes,
                        "shard_fingerprint": fp, "status": DONE, "error": None,
                    }
                )  # fmt: skip
                bar.advance()
    planned = {p.name for p in plans}
    for rel in root.ls("shards", "*.tar"):  # at the URL for a URL root
        name = rel.rsplit("/", 1)[-1]
        m = SHARD_RE.match(name)
        if m and m["split"] in cfg.splits and name not in planned:
            root.remove(rel)
            report.shards_removed += 1
    if len(old):  # keep rows of splits this run did not export
        rows += old[~old["split"].isin(cfg.splits)].to_dict("records")
    root.write("shards", pd.DataFrame(rows))
    return report


def shard_urls(root: DatasetRoot, split: str) -> list[str]:
    """The shard files of ``split``, in order (for ``webdataset.WebDataset``)."""
    return [str(p) for p in sorted(root.shards.glob(f"{split}-[0-9][0-9][0-9][0-9][0-9][0-9].tar"))]
