"""Regenerate ``tests/data/loader_reference.json``: what StreamSync's own loader keeps of a list.

Runs ``SportsAndNews.__init__`` from a checkout of jvoas655/StreamSync (outside this
project) on a published list and records the segment ids it yields, in order.  Only
the imports the constructor never uses (s3fs, torchaudio, torchvision, omegaconf, requests and the
lengths file it reads from S3) are stubbed; the list reading, seeded shuffle, cap,
``broken`` filter and skip-list match are the reference's own code.

    python bench/streamsync_loader_reference.py --ref /tmp/StreamSync \\
        --lists ../shared/testdata/realsync_lists --out tests/data/loader_reference.json

``--ref`` is a checkout (``git archive`` of the repository is enough; it needs
``dataset/``, ``utils/``).  The evaluation list is read by the loader's ``test`` split,
whose skip list is ``sports_and_news_normal.test.skip_id_list.txt``; where that file is
not beside the lists, the published ``...evaluation.skip_id_list.txt`` (same entries)
is used under that name.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import sys
import tempfile
import types
from pathlib import Path


def _stub_modules() -> None:
    s3fs = types.ModuleType("s3fs")

    class S3FileSystem:  # the constructor reads a lengths file it never uses afterwards
        def open(self, *_a, **_k):
            return io.StringIO("{}")

    s3fs.S3FileSystem = S3FileSystem
    sys.modules["s3fs"] = s3fs
    for name in ("torchaudio", "torchvision", "omegaconf", "requests"):
        if name not in sys.modules:
            mod = types.ModuleType(name)
            mod.OmegaConf = object  # utils.utils imports it; the loader never calls it
            sys.modules[name] = mod


def run(ref: Path, lists: Path, split: str, kind: str, skip_src: Path, size: int | None) -> list[str]:
    work = Path(tempfile.mkdtemp(prefix="loader-ref-"))
    (work / "data").mkdir()
    for suffix in ("csv", "json"):
        shutil.copy(lists / f"sports_and_news_normal.{kind}.{suffix}", work / "data" / f"sports_and_news_normal.{kind}.{suffix}")
    shutil.copy(skip_src, work / f"sports_and_news_normal.{split}.skip_id_list.txt")
    cwd = os.getcwd()
    os.chdir(work)
    try:
        sys.path.insert(0, str(ref))
        _stub_modules()
        from dataset.sports_and_news import SportsAndNews

        ds = SportsAndNews(split, vids_dir=None, distribution_type="normal")
        return [vid for vid, _path, _start in ds.dataset]
    finally:
        os.chdir(cwd)
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ref", type=Path, required=True)
    ap.add_argument("--lists", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    skip = a.lists / "sports_and_news_normal.test.skip_id_list.txt"
    if not skip.exists():
        skip = a.lists / "sports_and_news_normal.evaluation.skip_id_list.txt"
    ids = run(a.ref.resolve(), a.lists.resolve(), "test", "evaluation", skip.resolve(), None)
    digest = hashlib.sha256("\n".join(ids).encode()).hexdigest()
    fixture = {
        "source": "jvoas655/StreamSync f9cc067 dataset/sports_and_news.py, SportsAndNews('test', distribution_type='normal'), seed 1337",
        "list": "sports_and_news_normal.evaluation.csv",
        "skip_list": skip.name,
        "n": len(ids),
        "sha256_of_ids_joined_by_newline": digest,
        "first_ids": ids[:20],
    }
    a.out.write_text(json.dumps(fixture, indent=1) + "\n")
    print(f"{len(ids)} segments, sha256 {digest}")


if __name__ == "__main__":
    main()
