"""Random access into the export's WebDataset shards without unpacking them.

A tar member's data is stored contiguously, so one pass over the headers gives
``(offset, size)`` of every ``{key}.mp4`` / ``{key}.json``; a sample is then one
``seek`` + ``read``.  Keys follow WebDataset: the member name up to its first dot.

Shards are untrusted input (a shard folder may be hand-made or tampered with): every member must
be a regular file named ``{key}.{ext}`` with a safe key (``A-Za-z0-9_-``, what export writes) and
no folder; each member's size is capped by its kind before anything is read (JSON <= 1 MB, media
<= the clip's recorded size plus a margin, see :func:`media_cap`).  A member that breaks either
rule stops train / evaluate with one line naming the shard and the member
(:class:`ShardError`, exit 2), never a traceback or a memory blow-up.
"""

from __future__ import annotations

import json
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from realsync_build.core.errors import UserError
from realsync_build.core.root import DatasetRoot

JSON_MAX_BYTES = 1_000_000  # a sample's json: a few KB (annotations, segments) in practice
MEDIA_MARGIN_BYTES = 64 * 1024  # over the recorded clip size
MEDIA_BYTES_PER_S = 1_000_000  # no recorded size (a hand-made shard): 8 Mbit/s, ~20x the clips' rate
MEDIA_MIN_CAP_BYTES = 16 * 1024 * 1024
_MEMBER = re.compile(r"^(?P<key>[A-Za-z0-9_-]{1,200})\.(?P<ext>[a-z0-9]{1,10})$")


class ShardError(UserError):
    """A shard member that export never writes: an unsafe name, a non-file, an oversize member."""


def media_cap(meta: dict) -> int:
    """The largest media member a sample may hold: its recorded size (``mp4_bytes``, written by
    export from clips.parquet) plus a margin; without one, by its duration."""
    recorded = meta.get("mp4_bytes")
    if isinstance(recorded, int) and not isinstance(recorded, bool) and recorded > 0:
        return recorded + MEDIA_MARGIN_BYTES
    try:
        seconds = float(meta.get("end_s")) - float(meta.get("start_s"))
    except (TypeError, ValueError):
        seconds = 0.0
    seconds = seconds if seconds == seconds and 0 < seconds < 86_400 else 0.0
    return max(MEDIA_MIN_CAP_BYTES, int(seconds * MEDIA_BYTES_PER_S))


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


def _refuse(path: Path, name: str, why: str) -> ShardError:
    return ShardError(f"shard {path}: member {name!r} {why}: it was not written by `realsync export webdataset` "
                      "(tampered or foreign): rerun the export, or remove the shard")


def index_shard(path: Path) -> tuple[list[ShardSample], list[str]]:
    """Samples (with their json parsed) of one tar, and one-line problems found.  Raises
    :class:`ShardError` for a member with an unsafe name or over its size cap (module doc)."""
    samples: dict[str, ShardSample] = {}
    problems: list[str] = []
    try:
        with tarfile.open(path, "r:") as tf:
            for m in tf:
                match = _MEMBER.match(m.name)
                if match is None:
                    raise _refuse(path, m.name, "is not named {key}.{ext} with a safe key")
                if not m.isfile():
                    raise _refuse(path, m.name, "is not a regular file")
                key, ext = match["key"], match["ext"]
                if ext == "json" and m.size > JSON_MAX_BYTES:  # checked on the header, before reading
                    raise _refuse(path, m.name, f"is {m.size} bytes, over the {JSON_MAX_BYTES} byte cap of a sample's json")
                s = samples.setdefault(key, ShardSample(shard=str(path), key=key))
                if ext in s.members:
                    raise _refuse(path, m.name, "appears twice")
                s.members[ext] = (m.offset_data, m.size)
                if ext == "json":
                    meta = json.loads(tf.extractfile(m).read().decode("utf-8"))
                    if not isinstance(meta, dict):
                        raise ValueError(f"{m.name} is not a JSON object")
                    s.meta = meta
    except (tarfile.TarError, OSError, ValueError) as exc:
        problems.append(f"{path.name}: unreadable shard ({exc})")
    for key, s in samples.items():  # media: capped once the sample's recorded size is known
        cap = media_cap(s.meta)
        for ext, (_off, size) in s.members.items():
            if ext != "json" and size > cap:
                raise _refuse(path, f"{key}.{ext}", f"is {size} bytes, over its cap of {cap} (the clip's recorded size plus a margin)")
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
