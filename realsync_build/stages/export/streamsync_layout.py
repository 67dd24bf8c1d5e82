"""``realsync export streamsync --layout streamsync``: the files StreamSync's loader opens.

Under ``--out`` (default ``ROOT/streamsync``), with ``{name}`` = ``sports_and_news_normal``:

* ``{name}.evaluation.{csv,json}``: the dev segments (the loader's ``test`` split reads them);
* ``{name}.test.{csv,json}``: the test segments (the loader's ``valid`` split reads them);
* ``{name}.train.{csv,json}``: one line per train clip start, every 10 s from 10 s as in the
  published lists (the grid of :func:`realsync_build.stages.split.segments.segment_starts`),
  with offsets drawn as the split stage draws them (the loader draws a fresh random offset
  for every train item and only reads this JSON);
* ``{name}.{test,valid,train}.skip_id_list.txt``: the skip list the loader opens for each
  of its splits (it always opens one): the skip list recorded when the list was adopted
  (``split --from-list``), else empty.  Skip lists recorded under other names (the
  published ``{name}.evaluation.skip_id_list.txt`` and ``{name}.skip_id_list.txt``) are
  written back under those names too, byte for byte.

An adopted split is written in the list's own line order (``list_row``), so published
files adopted with ``--protocol all`` come back byte for byte when every clip is present.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from realsync_build.core import atomic
from realsync_build.core.root import DatasetRoot, safe_name
from realsync_build.stages.split.inputs import load_split_inputs
from realsync_build.stages.split.protocol import LOADER_SPLIT

FILE_KIND = {"dev": "evaluation", "test": "test", "train": "train"}
TRAIN_SEED = 0


def _ordered(seg: pd.DataFrame) -> pd.DataFrame:
    if "list_row" in seg and len(seg) and seg["list_row"].notna().all():
        return seg.sort_values("list_row", kind="mergesort")
    return seg.sort_values(["channel", "clip_id", "start_s"], kind="mergesort")


def train_rows(clips: pd.DataFrame, seed: int = TRAIN_SEED) -> pd.DataFrame:
    """A start every 10 s (from 10 s) over the train clips, with offsets from the split's sampler."""
    from realsync_build.stages.split.segments import SegmentConfig, make_segments

    train = clips[clips["split"] == "train"]
    if train.empty:
        return pd.DataFrame(columns=["segment_id", "clip_id", "channel", "start_s", "offset_sec"])
    empty = pd.DataFrame(columns=["clip_id", "start_s", "end_s", "label", "score"])
    rows = make_segments(train.assign(split="dev"), empty, empty, SegmentConfig(), seed)
    return rows.assign(split="train").sort_values(["channel", "clip_id", "start_s"], kind="mergesort")


def export_layout(root: DatasetRoot, out: Path, name: str = "sports_and_news_normal"):
    from realsync_build.stages.export.streamsync import StreamSyncReport, format_lists
    from realsync_build.stages.split.adopt import read_adoption

    name = safe_name(name)
    inputs, segments = load_split_inputs(root)
    record = read_adoption(root) or {}
    texts: dict[Path, bytes] = {}
    report = StreamSyncReport()
    for split, kind in FILE_KIND.items():
        seg = train_rows(inputs.clips) if split == "train" else _ordered(segments[segments["split"] == split])
        csv_text, json_text = format_lists(seg)
        texts[out / f"{name}.{kind}.csv"] = csv_text.encode()
        texts[out / f"{name}.{kind}.json"] = json_text.encode()
        report.per_split[split] = len(seg)
    # skip lists: the loader's names first, then the names they were published under
    lists_dir = root.manifests / "lists"
    own: dict[str, bytes] = {}
    for split, kind in FILE_KIND.items():
        data = b""
        for li in record.get("lists", []):
            if li.get("split") != split:
                continue
            parts = []
            for sk in li.get("skip_lists", []):
                p = root.pull(lists_dir / sk["name"])
                if not p.is_file():
                    raise FileNotFoundError(f"{p} (recorded in {root.manifests / 'adoption.json'}) is gone: rerun `realsync split --from-list`")
                parts.append(p.read_bytes())
                own[sk["name"]] = parts[-1]
            data = parts[0] if len(parts) == 1 else b"".join(x if x.endswith(b"\n") else x + b"\n" for x in parts)
        texts[out / f"{name}.{LOADER_SPLIT[kind]}.skip_id_list.txt"] = data
    for fname, data in own.items():
        path = out / fname
        texts.setdefault(path, data)  # a loader name already written keeps the loader's content
    for path, data in texts.items():  # everything formatted and checked first
        atomic.write_bytes(path, data)
        root.publish(path)  # a URL root: to the URL too (when --out is in the root)
        report.files.append(path)
    return report
