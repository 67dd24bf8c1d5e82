"""``realsync export streamsync``: the evaluation lists in the format StreamSync's code reads.

Per split (dev, test) two files under ``--out``:

* ``{name}.{split}.csv``, one segment a line, no header:
  ``{clip_id}_{seg_start}_0,{seg_start}.0,{channel}``
* ``{name}.{split}.json``: ``{segment_id: {"offset_sec": float, "v_start_i_sec": float}}``

written with :mod:`realsync_build.core.lists` (the project's strict parser/writer of
the published lists), rows ordered by channel, clip and start.  Every id is
parsed back before anything is written, so a list this command writes always
reads back.  :func:`segments_from_lists` turns a published list into segment
rows and :func:`format_lists` writes rows back in their given order: the
published list round-trips byte for byte (tested).

``--layout streamsync``: the files StreamSync's loader opens.

Under ``--out`` (default ``ROOT/streamsync``), with ``{name}`` = ``sports_and_news_{distribution}``
(``--distribution``; default: the adopted lists' distribution, else ``normal``):

* ``{name}.evaluation.{csv,json}``: the test segments (the loader's ``test`` split reads them and
  reports its figures on them);
* ``{name}.test.{csv,json}``: the dev segments (the loader's ``valid`` split reads them and picks the
  best checkpoint on them: the roles of :data:`realsync_build.core.protocol.LIST_ROLE`).  An adopted
  split goes back to the file of the list it came from, whatever its role (``split --role``);
* ``{name}.train.{csv,json}``: one line per train clip start, every 10 s from 10 s as in the
  published lists (the grid of :func:`realsync_build.core.segments.segment_starts`),
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

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from realsync_build.core import atomic, lists
from realsync_build.core.adoption import read_adoption
from realsync_build.core.avformat import list_offset_class, offset_to_class
from realsync_build.core.clipview import load_split_inputs
from realsync_build.core.protocol import DISTRIBUTIONS, LIST_STEM, LOADER_SPLIT, SPLIT_KIND
from realsync_build.core.root import DatasetRoot, safe_name
from realsync_build.core.segments import EVAL_SPLITS, SegmentConfig, make_segments


class StreamSyncExportError(ValueError):
    pass


@dataclass
class StreamSyncReport:
    files: list[Path] = field(default_factory=list)
    per_split: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def segments_to_list(segments: pd.DataFrame) -> tuple[list[lists.ListRow], dict[str, dict[str, float]]]:
    """Segment rows (in their order) -> CSV rows and JSON entries; ids are validated."""
    rows, entries = [], {}
    for s in segments.to_dict("records"):
        start = float(s["start_s"])
        if abs(start - round(start)) > 1e-9:
            raise StreamSyncExportError(f"segment {s['segment_id']}: start {start} s is not a whole second (StreamSync ids need one)")
        try:
            sid = lists.parse_segment_id(str(s["segment_id"]))
        except ValueError as exc:
            raise StreamSyncExportError(str(exc)) from None
        if sid.seg_start_s != int(round(start)) or sid.clip_id != str(s["clip_id"]) or (sid.tag or None) != (_tag(s) or None):
            raise StreamSyncExportError(
                f"segment {s['segment_id']} does not match its clip {s['clip_id']!r} and start {start}: rerun `realsync split`"
            )
        rows.append(lists.ListRow(sid, start, str(s["channel"])))
        if str(sid) in entries:
            raise StreamSyncExportError(f"segment {sid} appears twice")
        entries[str(sid)] = {"offset_sec": float(s["offset_sec"]) + 0.0, "v_start_i_sec": start}
    return rows, entries


def _tag(row: dict):
    tag = row.get("tag")
    return None if tag is None or (isinstance(tag, float) and tag != tag) else str(tag)


def format_lists(segments: pd.DataFrame) -> tuple[str, str]:
    """The CSV and JSON texts of ``segments`` in their given order."""
    rows, entries = segments_to_list(segments)
    return lists.format_csv(rows), lists.format_json(entries)


def segments_from_lists(rows: list[lists.ListRow], entries: dict[str, dict[str, float]], window_s: float = 5.0,
                        distribution: str = "normal") -> pd.DataFrame:
    """A published list as segment rows (order kept); the JSON must hold every CSV id.  ``offset_class``:
    the grid's class (``normal``: an off-grid offset is an error), or the StreamSync code's label of a
    continuous offset (``uniform``: :func:`~realsync_build.core.avformat.list_offset_class`).

    ``clip_id`` is realsync's clip id (``{video_id}_{start}_{end}``); a clip-name tag
    (``broken_silence`` ...) goes to ``tag``."""
    out = []
    for r in rows:
        sid = str(r.segment)
        if sid not in entries:
            raise StreamSyncExportError(f"segment {sid} is in the CSV but not in the JSON list")
        e = entries[sid]
        if abs(float(e["v_start_i_sec"]) - r.seg_start_s) > 1e-9:
            raise StreamSyncExportError(f"segment {sid}: JSON start {e['v_start_i_sec']} differs from the CSV's {r.seg_start_s}")
        out.append(
            {
                "segment_id": sid,
                "clip_id": r.segment.clip_id,
                "video_id": r.segment.video_id,
                "channel": r.channel,
                "start_s": float(r.seg_start_s),
                "end_s": float(r.seg_start_s) + window_s,
                "offset_sec": float(e["offset_sec"]),
                "offset_class": (list_offset_class if distribution == "uniform" else offset_to_class)(float(e["offset_sec"])),
                "tag": r.segment.tag or None,
            }
        )
    if len(out) != len(entries):
        raise StreamSyncExportError(f"the JSON list has {len(entries) - len(out)} segments the CSV does not")
    return pd.DataFrame(out)


def run_export_streamsync(
    root: DatasetRoot, out: Path, name: str | None = None, splits=EVAL_SPLITS, layout: str = "realsync", distribution: str | None = None
) -> StreamSyncReport:
    """``layout="realsync"``: ``{name}.{dev,test}.{csv,json}``.  ``layout="streamsync"``: the files the
    StreamSync code opens (:func:`export_layout`)."""
    if distribution is not None and distribution not in DISTRIBUTIONS:
        raise StreamSyncExportError(f"--distribution must be one of {', '.join(DISTRIBUTIONS)}, not {distribution!r}")
    if layout == "streamsync":
        if name and distribution:
            raise StreamSyncExportError("give --name or --distribution, not both (--distribution D names the files sports_and_news_D.*)")
        return export_layout(root, Path(out), name, distribution)
    if layout != "realsync":
        raise StreamSyncExportError(f"--layout must be realsync or streamsync, not {layout!r}")
    if distribution:
        raise StreamSyncExportError("--distribution names the files of --layout streamsync; --layout realsync writes {name}.{dev,test}.*")
    name = name or "realsync"
    unknown = [s for s in splits if s not in EVAL_SPLITS]
    if unknown:
        raise StreamSyncExportError(f"only dev and test have evaluation segments, not {unknown}")
    name = safe_name(name)
    _, segments = load_split_inputs(root, "export")
    texts: dict[Path, str] = {}
    report = StreamSyncReport()
    for split in splits:
        seg = segments[segments["split"] == split].sort_values(["channel", "clip_id", "start_s"], kind="mergesort")
        csv_text, json_text = format_lists(seg)
        texts[Path(out) / f"{name}.{split}.csv"] = csv_text
        texts[Path(out) / f"{name}.{split}.json"] = json_text
        report.per_split[split] = len(seg)
    for path, text in texts.items():  # everything was formatted and checked first
        atomic.write_text(path, text)
        root.publish(path)  # a URL root: the lists go to the URL too (when --out is in the root)
        report.files.append(path)
    return report


TRAIN_SEED = 0


def _ordered(seg: pd.DataFrame) -> pd.DataFrame:
    if "list_row" in seg and len(seg) and seg["list_row"].notna().all():
        return seg.sort_values("list_row", kind="mergesort")
    return seg.sort_values(["channel", "clip_id", "start_s"], kind="mergesort")


def train_rows(clips: pd.DataFrame, seed: int = TRAIN_SEED) -> pd.DataFrame:
    """A start every 10 s (from 10 s) over the train clips, with offsets from the split's sampler."""
    train = clips[clips["split"] == "train"]
    if train.empty:
        return pd.DataFrame(columns=["segment_id", "clip_id", "channel", "start_s", "offset_sec"])
    empty = pd.DataFrame(columns=["clip_id", "start_s", "end_s", "label", "score"])
    rows = make_segments(train.assign(split="dev"), empty, empty, SegmentConfig(), seed)
    return rows.assign(split="train").sort_values(["channel", "clip_id", "start_s"], kind="mergesort")


def file_kinds(record: dict) -> dict[str, str]:
    """realsync split -> the list kind its file is named after: an adopted split goes back to its
    list's kind; the others play their role (dev selects: ``test``; test: ``evaluation``)."""
    kinds = {li["split"]: li["kind"] for li in record.get("lists", []) if li.get("kind") in ("evaluation", "test")}
    for split, kind in SPLIT_KIND.items():
        if split not in kinds:
            kinds[split] = kind if kind not in kinds.values() else next(k for k in ("evaluation", "test") if k not in kinds.values())
    return {**kinds, "train": "train"}


def export_layout(root: DatasetRoot, out: Path, name: str | None = None, distribution: str | None = None) -> StreamSyncReport:
    inputs, segments = load_split_inputs(root)
    record = read_adoption(root) or {}
    adopted = record.get("distribution") if record.get("distribution") in DISTRIBUTIONS else None
    report = StreamSyncReport()
    if name is None:
        distribution = distribution or adopted or "normal"
        name = f"{LIST_STEM}_{distribution}"
        content = adopted or ("normal" if not record else None)
        if content and content != distribution:
            what = "drawn on the 0.2 s grid (the normal lists' kind)" if not record else f"from {content} lists"
            report.notes.append(f"the offsets are {what}; the files are named {distribution} as asked")
    name = safe_name(name)
    kinds = file_kinds(record)
    texts: dict[Path, bytes] = {}
    for split, kind in kinds.items():
        seg = train_rows(inputs.clips) if split == "train" else _ordered(segments[segments["split"] == split])
        csv_text, json_text = format_lists(seg)
        texts[out / f"{name}.{kind}.csv"] = csv_text.encode()
        texts[out / f"{name}.{kind}.json"] = json_text.encode()
        report.per_split[split] = len(seg)
    # skip lists: the loader's names first, then the names they were published under
    lists_dir = root.manifests / "lists"
    own: dict[str, bytes] = {}
    for split, kind in kinds.items():
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
