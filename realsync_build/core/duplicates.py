"""One source, one id: finding two video ids that hold the same source.

Two ids are the same source when their rows in ``videos.parquet`` name the same file (one
resolved path, see :func:`registered_files`) or when their clips have the same content (the
sha256 preprocess records per clip).  An older ``preprocess --input`` registered a source under
the root again on every run (``bulletin`` and ``bulletin-d002a792``); split would then put the
copies in different splits, leaking test data into training.  ``split`` refuses such a root and
``realsync status`` reports it (:func:`find_duplicates`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pandas as pd

from realsync_build.core.schema import DONE

SAME_FILE, SAME_CONTENT = "same file", "same content"


@dataclass(frozen=True)
class Duplicate:
    first: str  # the id that stays (shorter, then alphabetical: the one registered before a suffix)
    second: str
    kind: str  # SAME_FILE | SAME_CONTENT
    what: str  # the shared path, or the shared clip's sha256

    def __str__(self) -> str:
        if self.kind == SAME_FILE:
            return f"{self.first} and {self.second} are the same source (the same file {self.what})"
        return f"{self.first} and {self.second} are the same source (the same content: clip sha256 {self.what[:16]}...)"


def _is_url(text: str) -> bool:
    return "://" in text


def registered_files(videos: pd.DataFrame, root=None) -> list[str | None]:
    """Each row's source file as one resolved absolute path (None for a row without a local file:
    a planned download): ``source_path`` for an ``--input`` file outside the root, else the
    root-relative ``path`` under ``root`` (older roots stored an absolute path there).  Two rows
    with the same value are the same source."""
    src = videos["source_path"] if "source_path" in videos else pd.Series([None] * len(videos), index=videos.index)
    out: list[str | None] = []
    for s, p in zip(src, videos["path"] if "path" in videos else [None] * len(videos)):
        where = s if isinstance(s, str) and s else p if isinstance(p, str) and p else None
        if where is None or _is_url(where):
            out.append(where)
        elif os.path.isabs(where):
            out.append(os.path.realpath(where))
        elif root is not None and getattr(root, "url", None) is None:
            out.append(os.path.realpath(root.root / where))
        else:
            out.append(where)  # root-relative under a URL root: compared as it is
    return out


def _order(a: str, b: str) -> tuple[str, str]:
    return tuple(sorted((a, b), key=lambda v: (len(v), v)))  # type: ignore[return-value]


def find_duplicates(videos: pd.DataFrame, clips: pd.DataFrame, root=None, among: set[str] | None = None) -> list[Duplicate]:
    """Pairs of video ids that are one source (``among``: only ids in that set), sorted."""
    found: dict[tuple[str, str], Duplicate] = {}
    if videos is not None and len(videos):
        shown = {}
        for vid, path, rel, src in zip(videos["video_id"], registered_files(videos, root), videos["path"],
                                       videos["source_path"] if "source_path" in videos else [None] * len(videos)):  # fmt: skip
            if path is None or (among is not None and vid not in among):
                continue
            shown.setdefault(path, (vid, rel if isinstance(rel, str) and rel else src))
            first, label = shown[path]
            if first != vid:
                a, b = _order(first, vid)
                found.setdefault((a, b), Duplicate(a, b, SAME_FILE, str(label)))
    if clips is not None and len(clips) and "sha256" in clips:
        done = clips[(clips["status"] == DONE) & clips["sha256"].notna()]
        if among is not None:
            done = done[done["video_id"].isin(among)]
        for sha, ids in done.groupby("sha256")["video_id"]:
            vids = sorted(set(ids), key=lambda v: (len(v), v))
            for other in vids[1:]:
                a, b = _order(vids[0], other)
                found.setdefault((a, b), Duplicate(a, b, SAME_CONTENT, str(sha)))
    return [found[k] for k in sorted(found)]


def fix_for(dups: list[Duplicate]) -> str:
    """The way out, in words, for the kinds found."""
    ways = []
    if any(d.kind == SAME_FILE for d in dups):
        ways.append("rerun `realsync preprocess --input DIR`: it keeps the first id and drops the second registration "
                    "of the same file (an older realsync made it)")
    if any(d.kind == SAME_CONTENT for d in dups):
        ways.append("remove one of the two copies from the sources and rebuild with `realsync preprocess --overwrite`")
    return "; ".join(ways)


def describe(dups: list[Duplicate], limit: int = 3) -> str:
    more = f" (and {len(dups) - limit} more)" if len(dups) > limit else ""
    return "; ".join(str(d) for d in dups[:limit]) + more
