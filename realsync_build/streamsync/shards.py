"""Random access into the export's WebDataset shards without unpacking them.

A tar member's data is stored contiguously, so one pass over the headers gives
``(offset, size)`` of every ``{key}.mp4`` / ``{key}.json``; a sample is then one
``seek`` + ``read``.  Keys follow WebDataset: the member name up to its first dot.
"""

from __future__ import annotations

import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from realsync_build.core.root import DatasetRoot


@dataclass
class ShardSample:
    shard: str  # absolute path of the tar
    key: str
    members: dict[str, tuple[int, int]] = field(default_factory=dict)  # ext -> (data offset, size)
    meta: dict = field(default_factory=dict)  # the sample's json

    def read(self, ext: str) -> bytes:
        off, size = self.members[ext]
        with open(self.shard, "rb") as fh:
            fh.seek(off)
            return fh.read(size)

    @property
    def duration_s(self) -> float:
        m = self.meta
        if m.get("n_frames") and m.get("fps"):
            return float(m["n_frames"]) / float(m["fps"])
        return float(m["end_s"]) - float(m["start_s"])


def shard_paths(root: DatasetRoot, split: str) -> list[Path]:
    return sorted(root.shards.glob(f"{split}-*.tar"))


def index_shard(path: Path) -> tuple[list[ShardSample], list[str]]:
    """Samples (with their json parsed) of one tar, and one-line problems found."""
    samples: dict[str, ShardSample] = {}
    problems: list[str] = []
    try:
        with tarfile.open(path, "r:") as tf:
            for m in tf:
                if not m.isfile():
                    continue
                name = m.name.rsplit("/", 1)[-1]
                if "." not in name:
                    continue
                key, ext = name.split(".", 1)
                s = samples.setdefault(key, ShardSample(shard=str(path), key=key))
                s.members[ext] = (m.offset_data, m.size)
                if ext == "json":
                    s.meta = json.loads(tf.extractfile(m).read().decode("utf-8"))
    except (tarfile.TarError, OSError, ValueError) as exc:
        problems.append(f"{path.name}: unreadable shard ({exc})")
    out = []
    for key, s in samples.items():
        if "mp4" not in s.members or "json" not in s.members:
            problems.append(f"{path.name}:{key}: sample lacks mp4 or json, skipped")
            continue
        out.append(s)
    return out, problems


def index_split(root: DatasetRoot, split: str) -> tuple[list[ShardSample], list[str]]:
    samples: list[ShardSample] = []
    problems: list[str] = []
    for p in shard_paths(root, split):
        s, pr = index_shard(p)
        samples += s
        problems += pr
    return samples, problems
