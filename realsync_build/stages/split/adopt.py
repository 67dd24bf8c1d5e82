"""``realsync split --from-list``: adopt published StreamSync lists exactly.

* The videos a list names go to the split of its role, as the StreamSync code uses
  them (:data:`realsync_build.core.protocol.LIST_ROLE`): the evaluation list is the
  *test* (realsync ``test``), the test list *selects the model* (realsync ``dev``, where
  ``train`` picks ``best.pt``); ``--role selection|test`` or ``--as dev|test`` say
  otherwise.  Every other video in the root goes to train.
* Offsets: a ``normal`` list's are on the 0.2 s grid (an off-grid one is an error); a
  ``uniform`` list's are continuous and keep their listed value, labelled with the class
  the StreamSync code gives them (:func:`realsync_build.core.avformat.list_offset_class`).
  The distribution is ``--distribution``, else the list's name, else ``normal``.
* Each selected segment keeps its id, start and offset; the clip-name tag
  (``broken_silence`` ...) goes to the ``tag`` column and ``list_row`` keeps the
  line's position so the export writes the list back in its own order.
* Which lines are selected is the protocol (:mod:`realsync_build.core.protocol`): ``paper`` is what
  the StreamSync loader evaluated, ``all`` every line.
* A selected segment whose clip is not a done row of ``clips.parquet`` is
  *missing*, counted per channel with its reason (``video not fetched``, ``clip
  not cut``, ``clip failed``), and not written.
* The scenario is ``unannotated`` until the root is annotated, then the one rule
  of :mod:`realsync_build.core.scenario` (majority over the span the
  evaluation streams through), as ``split`` applies it.

The protocol, the lists (with sha256) and the skip lists used are recorded in
``manifests/adoption.json``; the skip lists' bytes are kept under
``manifests/lists/`` so the export can write them back.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from realsync_build.core import atomic, lists
from realsync_build.core.adoption import ADOPTION, AdoptError
from realsync_build.core.clipview import Inputs, load_inputs
from realsync_build.core.protocol import LOADER_SEED, LOADER_SPLIT, SPLIT_ROLE, ProtocolError, Selection, loader_selection, read_skip_list
from realsync_build.core.records import Segment
from realsync_build.core.root import DatasetRoot
from realsync_build.core.scenario import UNANNOTATED, annotations_by_clip, scenario_of, streamed_span_s, top_events_of
from realsync_build.core.schema import DONE, FAILED
from realsync_build.core.segments import SegmentConfig
from realsync_build.core.textfiles import TextFileError, decode_utf8
from realsync_build.stages.split import SPEC
from realsync_build.stages.split.listed import ListInput, list_inputs, listed_class
from realsync_build.stages.split.outputs import write_outputs

WINDOW_S = 5.0
REASONS = ("video not fetched", "clip not cut", "clip failed", "under another id")


@dataclass
class AdoptConfig:
    protocol: str = "paper"
    cap: int | None = None
    seed: int = LOADER_SEED
    skip_lists: tuple[Path, ...] | None = None  # None: look beside each list
    distribution: str | None = None  # None: from each list's name, else normal


@dataclass
class ChannelCount:
    channel: str
    listed: int = 0  # lines of the list for this channel
    selected: int = 0  # kept by the protocol
    adopted: int = 0
    missing: dict[str, int] = field(default_factory=lambda: {r: 0 for r in REASONS})

    @property
    def n_missing(self) -> int:
        return sum(self.missing.values())


@dataclass
class AdoptResult:
    splits: pd.DataFrame
    clips: pd.DataFrame
    segments: pd.DataFrame
    channels: dict[str, ChannelCount]
    record: dict
    skip_bytes: dict[str, bytes]
    notes: list[str] = field(default_factory=list)

    @property
    def n_missing(self) -> int:
        return sum(c.n_missing for c in self.channels.values())

    @property
    def n_selected(self) -> int:
        return sum(c.selected for c in self.channels.values())


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _missing_reason(clip_id: str, video_id: str, clip_status: dict, videos_with_clips: set, videos_fetched: set) -> str | None:
    st = clip_status.get(clip_id)
    if st == DONE:
        return None
    if st == FAILED or clip_status.get(video_id) == FAILED:  # preprocess's error row for a whole video
        return "clip failed"
    if video_id in videos_with_clips or video_id in videos_fetched:
        return "clip not cut"
    return "video not fetched"


def _refuse_duplicates(root: DatasetRoot, videos: pd.DataFrame, clips: pd.DataFrame, among: set[str]) -> None:
    """One source, one id (as in a drawn split): two ids of one source could be listed apart."""
    from realsync_build.core.duplicates import describe, find_duplicates, fix_for

    dups = find_duplicates(videos, clips, root, among)
    if dups:
        raise AdoptError(
            f"{root.manifest('videos')}: {len(dups)} source(s) registered under two video ids, which split could put "
            f"in different splits: {describe(dups)}: {fix_for(dups)}; then rerun this command"
        )


def _other_ids(videos: pd.DataFrame) -> dict[str, str]:
    """Published id -> the id this root holds the same source under, when they differ: a file named
    by its published id (``-FX_ew97f-8.mp4``) that an older ``preprocess --input`` registered under a
    sanitised id (``_FX_ew97f-8``)."""
    out: dict[str, str] = {}
    if videos is None or videos.empty:
        return out
    for vid, title, path, src in zip(videos["video_id"], videos["title"], videos["path"],
                                     videos["source_path"] if "source_path" in videos else [None] * len(videos)):  # fmt: skip
        for name in (title, path, src):
            if isinstance(name, str) and name:
                stem = Path(name.replace("\\", "/").rsplit("/", 1)[-1]).stem
                if stem and stem != vid:
                    out.setdefault(stem, vid)
    return out


@dataclass
class _RootFacts:
    """What the root holds, for each listed segment: its clip done, missing, or why."""

    inputs: Inputs
    clip_status: dict
    videos_with_clips: set
    videos_fetched: set
    done_clip: dict
    ann: dict
    other_ids: dict  # published id -> the id this root holds the same source under
    under_other: dict = field(default_factory=dict)  # listed id -> the id the root holds it under (found so far)

    @classmethod
    def read(cls, root: DatasetRoot) -> "_RootFacts":
        inputs = load_inputs(root)
        clips_all = inputs.all_clips
        videos = root.read("videos")
        _refuse_duplicates(root, videos, clips_all, set(inputs.clips["video_id"]))
        done_clip = {c["clip_id"]: c for c in inputs.clips.to_dict("records")}
        return cls(
            inputs,
            dict(zip(clips_all["clip_id"], clips_all["status"])),
            set(clips_all["video_id"].dropna()),
            set(videos.loc[videos["status"] == DONE, "video_id"]) if len(videos) else set(),
            done_clip,
            annotations_by_clip(inputs.intervals, inputs.events, set(done_clip)) if inputs.annotated else {},
            _other_ids(videos),
        )


@dataclass
class _ListRead:
    """One published list, parsed, with its JSON, its skip list and the protocol's selection."""

    raw: bytes
    rows: list
    json_path: Path
    entries: dict
    skip_paths: list
    sel: Selection

    @classmethod
    def read(cls, li: ListInput, cfg: AdoptConfig, explicit_skip: list | None) -> "_ListRead":
        raw = li.csv.read_bytes()
        text = decode_utf8(raw, li.csv)  # a bad byte: one line with the file and line
        rows = lists.parse_csv_text(text, str(li.csv))
        json_path = li.csv.with_suffix(".json")
        if not json_path.is_file():
            raise AdoptError(f"{json_path} not found: the JSON list (offsets) must sit beside {li.csv.name}")
        entries = lists.read_json(json_path)
        if cfg.skip_lists:
            skip = [e for sk in explicit_skip for e in sk]
            skip_paths = list(cfg.skip_lists)
        else:
            skip = read_skip_list(li.skip_list) if li.skip_list else []
            skip_paths = [li.skip_list] if li.skip_list else []
        sel = loader_selection(text.splitlines(keepends=True), skip, protocol=cfg.protocol, cap=cfg.cap, seed=cfg.seed)
        return cls(raw, rows, json_path, entries, skip_paths, sel)


def _note_listed(li: ListInput, rows: list, listed_split: dict[str, str], channels: dict[str, ChannelCount]) -> None:
    """Every line's video goes to the list's split (one split per video) and counts for its channel."""
    for r in rows:
        vid = r.segment.video_id
        other = listed_split.get(vid)
        if other is not None and other != li.split:
            raise AdoptError(f"video {vid} is in two lists ({other} and {li.split}): a video can be in one split only")
        listed_split[vid] = li.split
        channels.setdefault(r.channel, ChannelCount(r.channel)).listed += 1


def _adopt_line(i: int, li: ListInput, lr: _ListRead, facts: _RootFacts, cc: ChannelCount) -> dict | None:
    """The segment row of selected line ``i``, or None (counted as missing, with its reason)."""
    r = lr.rows[i]
    sid = str(r.segment)
    e = lr.entries.get(sid)
    if e is None:
        raise AdoptError(f"{li.csv}: segment {sid} is in the CSV but not in {lr.json_path.name}")
    if abs(float(e["v_start_i_sec"]) - r.seg_start_s) > 1e-9:
        raise AdoptError(f"{lr.json_path}: {sid}: v_start_i_sec {e['v_start_i_sec']} differs from the CSV start {r.seg_start_s}")
    cc.selected += 1
    cid = r.segment.clip_id
    reason = _missing_reason(cid, r.segment.video_id, facts.clip_status, facts.videos_with_clips, facts.videos_fetched)
    if reason == "video not fetched" and r.segment.video_id in facts.other_ids:
        reason = "under another id"  # the source is here, registered under another id
        facts.under_other[r.segment.video_id] = facts.other_ids[r.segment.video_id]
    if reason is None:
        clip = facts.done_clip[cid]
        if clip["channel"] != r.channel:
            raise AdoptError(f"{li.csv}: segment {sid} is listed under channel {r.channel} but its clip is under {clip['channel']}")
        if float(r.seg_start_s) + WINDOW_S > float(clip["end_s"]) - float(clip["start_s"]) + 1e-6:
            reason = "clip not cut"  # the root's clip is shorter than the listed span
    if reason is not None:
        cc.missing[reason] += 1
        return None
    a, offset = float(r.seg_start_s), float(e["offset_sec"])
    duration_s = float(clip["end_s"]) - float(clip["start_s"])
    scenario = UNANNOTATED
    if facts.inputs.annotated:
        scenario = scenario_of(facts.ann.get(cid), *streamed_span_s(a, duration_s, offset, SegmentConfig().stream))
    cc.adopted += 1
    return Segment(
        segment_id=sid, clip_id=cid, video_id=r.segment.video_id, channel=r.channel, split=li.split, start_s=a,
        end_s=a + WINDOW_S, offset_sec=offset, offset_class=listed_class(offset, li.distribution, sid, lr.json_path), scenario=scenario,
        top_events=top_events_of(facts.ann.get(cid), a, a + WINDOW_S, SegmentConfig().top_events),
        tag=r.segment.tag or None, list_row=int(i),
    ).to_row()  # fmt: skip


def _list_record(li: ListInput, lr: _ListRead, n_adopted: int, skip_bytes: dict[str, bytes]) -> dict:
    """What adoption.json says about one list (and its skip lists, whose bytes are kept)."""
    skips = []
    for p in lr.skip_paths:
        data = Path(p).read_bytes()
        skip_bytes[Path(p).name] = data
        skips.append({"path": str(Path(p).resolve()), "name": Path(p).name, "sha256": _sha256(data), "entries": len(data.decode().split())})
    return {
        "path": str(li.csv.resolve()),
        "name": li.csv.name,
        "json_name": lr.json_path.name,
        "sha256": _sha256(lr.raw),
        "json_sha256": _sha256(lr.json_path.read_bytes()),
        "kind": li.kind,
        "loader_split": LOADER_SPLIT.get(li.kind or ""),
        "split": li.split,
        "role": SPLIT_ROLE[li.split],
        "distribution": li.distribution,
        "lines": len(lr.rows),
        "selected": len(lr.sel.kept),
        "adopted": n_adopted,
        "missing": len(lr.sel.kept) - n_adopted,
        "dropped_cap": lr.sel.dropped_cap,
        "dropped_broken": lr.sel.dropped_broken,
        "dropped_skip": lr.sel.dropped_skip,
        "skip_lists": skips,
    }


def _placed(root: DatasetRoot, inputs: Inputs, listed_split: dict[str, str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(splits, clips)``: the listed videos in their lists' splits, every other video in train."""
    clips_out = inputs.all_clips.copy()
    video_split = {v: listed_split.get(v, "train") for v in sorted(set(inputs.clips["video_id"]))}
    clips_out["split"] = None
    done = clips_out["status"] == DONE
    clips_out.loc[done, "split"] = clips_out.loc[done, "video_id"].map(video_split)
    vids = inputs.clips.drop_duplicates("video_id")[["video_id", "channel"]]
    multi = inputs.clips.groupby("video_id")["channel"].nunique()
    if (multi > 1).any():
        raise AdoptError(f"videos under two channels in {root.manifest('clips')}: {sorted(multi[multi > 1].index)[:5]}")
    splits = pd.DataFrame({"video_id": vids["video_id"], "channel": vids["channel"], "split": vids["video_id"].map(video_split)})
    return splits.sort_values("video_id", kind="mergesort").reset_index(drop=True), clips_out


def compute_adoption(root: DatasetRoot, inputs_: list[ListInput], cfg: AdoptConfig) -> AdoptResult:
    """Everything ``split --from-list`` writes, computed in memory (nothing written)."""
    facts = _RootFacts.read(root)
    explicit_skip = [read_skip_list(p) for p in cfg.skip_lists] if cfg.skip_lists else None
    listed_split: dict[str, str] = {}
    seg_rows: list[dict] = []
    channels: dict[str, ChannelCount] = {}
    record_lists = []
    skip_bytes: dict[str, bytes] = {}
    for li in inputs_:
        lr = _ListRead.read(li, cfg, explicit_skip)
        _note_listed(li, lr.rows, listed_split, channels)
        adopted = [row for i in lr.sel.kept if (row := _adopt_line(i, li, lr, facts, channels[lr.rows[i].channel])) is not None]
        seg_rows += adopted
        record_lists.append(_list_record(li, lr, len(adopted), skip_bytes))
    splits, clips_out = _placed(root, facts.inputs, listed_split)
    segments = pd.DataFrame(seg_rows)
    if len(segments) and segments["segment_id"].duplicated().any():
        dup = segments.loc[segments["segment_id"].duplicated(), "segment_id"].iloc[0]
        raise AdoptError(f"segment {dup} is listed twice")
    per_channel = {
        ch: {"listed": c.listed, "selected": c.selected, "adopted": c.adopted, "missing": dict(c.missing)} for ch, c in sorted(channels.items())
    }
    record = {
        "protocol": cfg.protocol,
        "distribution": "+".join(sorted({li.distribution for li in inputs_})) or None,
        "cap": cfg.cap,
        "seed": cfg.seed if cfg.cap is not None else None,
        "annotated": bool(facts.inputs.annotated),
        "lists": record_lists,
        "missing_by_channel": per_channel,
        "n_selected": sum(c.selected for c in channels.values()),
        "n_adopted": len(segments),
        "n_missing": sum(c.n_missing for c in channels.values()),
        "under_another_id": dict(sorted(facts.under_other.items())),
    }
    return AdoptResult(splits, clips_out, segments, channels, record, skip_bytes)


def write_adoption(root: DatasetRoot, result: AdoptResult) -> None:
    """split's three manifests (through its one writer), the skip lists' bytes and the record."""
    write_outputs(root, result.splits, result.clips, result.segments)
    lists_dir = root.manifests / "lists"
    for name, data in result.skip_bytes.items():
        atomic.write_bytes(lists_dir / name, data)
        root.push(lists_dir / name)  # a URL root: publish it (no-op for a folder)
    atomic.write_text(root.manifests / ADOPTION, json.dumps(result.record, indent=1) + "\n")
    root.push(root.manifests / ADOPTION)


def clear_adoption(root: DatasetRoot) -> None:
    """A plain ``split`` replaces an adopted one: the record no longer describes the root."""
    root.remove(f"manifests/{ADOPTION}")  # at the URL and in the mirror for a URL root


def output_params(paths: list[Path], cfg: AdoptConfig, as_splits: list[str] | None = None,
                  roles: list[str] | None = None) -> dict:
    """What an adoption records as split's parameters, under their CLI names."""
    return {
        "--from-list": sorted(Path(p).name for p in paths), "--as": list(as_splits) if as_splits else None,
        "--role": list(roles) if roles else None, "--distribution": cfg.distribution, "--protocol": cfg.protocol, "--cap": cfg.cap, "--loader-seed": cfg.seed,
        "--skip-list": sorted(Path(p).name for p in cfg.skip_lists) if cfg.skip_lists else None,
    }  # fmt: skip


def run_adopt(root: DatasetRoot, paths: list[Path], cfg: AdoptConfig, as_splits: list[str] | None = None,
              roles: list[str] | None = None) -> AdoptResult:
    from realsync_build.core.state import stage_run

    params = output_params(paths, cfg, as_splits, roles)
    # recorded as split's parameters; adopting again (other lists) replaces the split, as a plain split does
    with stage_run(root, SPEC, params, guard_params=False) as run:
        try:
            ins = list_inputs(paths, as_splits, list(cfg.skip_lists) if cfg.skip_lists else None, roles, cfg.distribution)
            result = compute_adoption(root, ins, cfg)
        except (ProtocolError, lists.ListFormatError, TextFileError) as exc:
            raise AdoptError(str(exc)) from None
        write_adoption(root, result)
        run.note(videos=len(result.splits), segments=len(result.segments))
    return result


def _missing_words(result: AdoptResult) -> str:
    """Why the missing segments are missing, reason by reason (never a reason that is not true)."""
    if not result.n_missing:
        return ""
    totals = {r: sum(c.missing[r] for c in result.channels.values()) for r in REASONS}
    parts = [f"{n} {r}" for r, n in totals.items() if n and r != "under another id"]
    other = result.record.get("under_another_id") or {}
    if totals["under another id"]:
        pairs = ", ".join(f"{a} is {b} here" for a, b in list(other.items())[:3])
        parts.append(f"{totals['under another id']} under another id: {pairs} (a file named by its published id that an "
                     "older realsync registered under a sanitised id: rebuild with `realsync preprocess --input DIR` on a new --root)")
    return " (" + "; ".join(parts) + ")"


def print_adoption(result: AdoptResult) -> None:
    from rich.table import Table

    from realsync_build.core.ui import console

    rec = result.record
    cap = f", cap {rec['cap']} (seed {rec['seed']})" if rec["cap"] else ""
    t = Table(title=f"split --from-list (protocol {rec['protocol']}{cap})")
    t.add_column("channel", no_wrap=True)
    for col in ("listed", "selected", "adopted", "missing", *REASONS):
        t.add_column(col, justify="right")
    for ch, c in sorted(result.channels.items()):
        t.add_row(ch, str(c.listed), str(c.selected), str(c.adopted), str(c.n_missing), *(str(c.missing[r]) for r in REASONS))
    console.print(t)
    for li in rec["lists"]:
        skips = ", ".join(s["name"] for s in li["skip_lists"]) or "none"
        console.print(
            f"{li['name']} -> {li['split']} (role: {li.get('role', '?')}; {li.get('distribution', 'normal')} offsets): {li['lines']} lines, {li['selected']} selected "
            f"(dropped: {li['dropped_broken']} broken, {li['dropped_skip']} skip list [{skips}], {li['dropped_cap']} over the cap), "
            f"{li['adopted']} adopted, {li['missing']} missing",
            highlight=False,
        )
    per = result.splits["split"].value_counts().to_dict()
    style = "yellow" if result.n_missing else "green"
    why = _missing_words(result)
    if not rec["annotated"]:
        console.print("note: the root is not annotated, so every segment's scenario is 'unannotated': rerun this command after `realsync annotate`")
    console.print(
        f"[{style}]missing: {result.n_missing} of {result.n_selected} listed segments{why}; "
        f"adopted {len(result.segments)}; videos: train {per.get('train', 0)}, dev {per.get('dev', 0)}, test {per.get('test', 0)}[/{style}]"
    )
