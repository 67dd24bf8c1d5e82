"""split --from-list: adopt the published lists exactly, as the StreamSync loader reads them."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from realsync_build.cli import app
from realsync_build.core import manifest
from realsync_build.core import lists
from realsync_build.core.protocol import loader_selection, read_skip_list
from conftest import shared
from splitdata import clip_rows, write_clips

LISTS = "realsync_lists"
EVAL = "sports_and_news_normal.evaluation"
REFERENCE = Path(__file__).parent / "data" / "loader_reference.json"


def _eval_files():
    base = shared(f"{LISTS}/{EVAL}.csv").parent
    return base / f"{EVAL}.csv", base / f"{EVAL}.json", base


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines(keepends=True)


def test_paper_protocol_with_cap_picks_what_the_streamsync_loader_picks():
    csv_path, _, base = _eval_files()
    ref = json.loads(REFERENCE.read_text())
    skip = read_skip_list(base / ref["skip_list"])
    lines = _lines(csv_path)
    sel = loader_selection(lines, skip, protocol="paper", cap=2000, seed=1337)
    ids = [lines[i].split(",")[0] for i in sel.kept]
    assert len(ids) == ref["n"] == 1060
    assert ids[:20] == ref["first_ids"]
    assert hashlib.sha256("\n".join(ids).encode()).hexdigest() == ref["sha256_of_ids_joined_by_newline"]
    assert sel.dropped_cap == 32065 - 2000 and sel.dropped_broken + sel.dropped_skip + len(ids) == 2000
    # another seed picks other segments
    other = loader_selection(lines, skip, protocol="paper", cap=2000, seed=1338)
    assert [lines[i] for i in other.kept] != [lines[i] for i in sel.kept]


def test_paper_versus_all_counts_on_the_whole_shared_list():
    csv_path, _, base = _eval_files()
    lines = _lines(csv_path)
    every = loader_selection(lines, None, protocol="all")
    assert len(every.kept) == 32065
    per_split = loader_selection(lines, read_skip_list(base / f"{EVAL}.skip_id_list.txt"), protocol="paper")
    union = loader_selection(lines, read_skip_list(base / "sports_and_news_normal.skip_id_list.txt"), protocol="paper")
    assert per_split.dropped_broken == 14421  # every tagged line holds "broken"
    assert per_split.dropped_skip == 288
    assert len(per_split.kept) == 32065 - 14421 - 288 == 17356
    assert union.kept == per_split.kept  # the published union selects the same lines
    # no kept line is tagged, and none matches a skip entry on (clip, start)
    kept = {lines[i].split(",")[0] for i in per_split.kept}
    assert not any("broken" in k for k in kept)
    skipped = {s.strip() for s in (base / f"{EVAL}.skip_id_list.txt").read_text().split()}
    assert not kept & skipped


def _root_with_clips(ds, spans: dict[str, list[tuple[int, int]]], channel_of: dict[str, str], failed: set[str] = frozenset()):
    rows = []
    for vid, ss in spans.items():
        for a, b in ss:
            r = clip_rows(channel_of[vid], vid, 1, clip_s=b - a)[0]
            cid = f"{vid}_{a}_{b}"
            r.update(clip_id=cid, start_s=float(a), end_s=float(b), path=f"clips/{channel_of[vid]}/{vid}/{cid}.mp4")
            if cid in failed:
                r.update(status="failed", error="boom")
            rows.append(r)
    return write_clips(ds, rows)


def _listed(csv_path: Path):
    return lists.read_csv(csv_path)


def test_adoption_keeps_ids_starts_offsets_and_reports_missing_per_channel(ds, tmp_path):
    csv_path, json_path, _ = _eval_files()
    rows = _listed(csv_path)
    channel_of = {r.segment.video_id: r.channel for r in rows}
    # in the root: two spans of one golf video (one failed), one CNN span, and an unlisted train video
    spans = {"HOu1OnAwpTY": [(0, 300), (300, 600)], "2YPty5dsAyw": [(0, 300)], "zz-train-1": [(0, 300)]}
    channel_of["zz-train-1"] = "CNN"
    _root_with_clips(ds, spans, channel_of, failed={"HOu1OnAwpTY_300_600"})
    res = CliRunner().invoke(app, ["split", "--root", str(ds.root), "--from-list", str(csv_path), "--protocol", "all"])
    assert res.exit_code == 0, res.output
    seg = manifest.read_named(ds, "segments")
    present = {"HOu1OnAwpTY_0_300", "2YPty5dsAyw_0_300"}
    expect = [r for r in rows if r.segment.clip_id in present]
    assert sorted(seg["segment_id"]) == sorted(str(r.segment) for r in expect)
    entries = lists.read_json(json_path)
    by_id = seg.set_index("segment_id")
    for r in expect:
        s = by_id.loc[str(r.segment)]
        assert s["start_s"] == r.seg_start_s and s["offset_sec"] == entries[str(r.segment)]["offset_sec"]
        assert s["split"] == "test" and s["scenario"] == "unannotated" and (s["tag"] if isinstance(s["tag"], str) else "") == r.segment.tag
    # missing: counted per channel with reasons
    n_missing = len(rows) - len(expect)
    assert f"missing: {n_missing} of {len(rows)} listed segments" in " ".join(res.output.split())
    rec = json.loads((ds.manifests / "adoption.json").read_text())
    golf = rec["missing_by_channel"]["golfshome"]
    failed = sum(1 for r in rows if r.segment.clip_id == "HOu1OnAwpTY_300_600")
    not_cut = sum(1 for r in rows if r.segment.video_id == "HOu1OnAwpTY" and r.segment.clip_id not in spans_ids(spans))
    assert golf["missing"]["clip failed"] == failed > 0 and golf["missing"]["clip not cut"] == not_cut > 0
    assert golf["missing"]["video not fetched"] == sum(1 for r in rows if r.channel == "golfshome" and r.segment.video_id != "HOu1OnAwpTY")
    assert rec["protocol"] == "all" and rec["n_missing"] == n_missing
    splits = manifest.read_named(ds, "splits").set_index("video_id")["split"].to_dict()
    assert splits == {"HOu1OnAwpTY": "test", "2YPty5dsAyw": "test", "zz-train-1": "train"}  # the evaluation list is the test
    assert rec["lists"][0]["role"] == "test" and rec["lists"][0]["distribution"] == "normal" and rec["distribution"] == "normal"
    # --strict: the same run exits 3 (finished, items missing)
    res = CliRunner().invoke(app, ["split", "--root", str(ds.root), "--from-list", str(csv_path), "--strict"])
    assert res.exit_code == 3, res.output
    rec = json.loads((ds.manifests / "adoption.json").read_text())
    assert rec["protocol"] == "paper" and rec["lists"][0]["skip_lists"][0]["name"] == f"{EVAL}.skip_id_list.txt"
    assert not manifest.read_named(ds, "segments")["segment_id"].str.contains("broken").any()
    # after annotate, the same adoption fills in the scenario (talking head over each clip's first half, here)
    from splitdata import annotate

    annotate(ds, manifest.read_named(ds, "clips").query("status == 'done'"))
    res = CliRunner().invoke(app, ["split", "--root", str(ds.root), "--from-list", str(csv_path)])
    assert res.exit_code == 0, res.output
    scen = manifest.read_named(ds, "segments").set_index("start_s")["scenario"]
    assert set(scen[scen.index < 140]) == {"talking_head"} and set(scen[scen.index > 230]) == {"other"}
    assert "voice_over" in set(scen) and json.loads((ds.manifests / "adoption.json").read_text())["annotated"] is True
    assert set(manifest.read_named(ds, "segments")["top_events"].map(tuple)) == {("Speech", "Music")}


def spans_ids(spans):
    return {f"{v}_{a}_{b}" for v, ss in spans.items() for a, b in ss}


def test_published_list_round_trips_through_split_and_streamsync_layout_byte_for_byte(ds, tmp_path):
    csv_path, json_path, base = _eval_files()
    rows = _listed(csv_path)
    spans: dict[str, set] = {}
    channel_of = {}
    for r in rows:
        spans.setdefault(r.segment.video_id, set()).add((r.segment.clip_start_s, r.segment.clip_end_s))
        channel_of[r.segment.video_id] = r.channel
    _root_with_clips(ds, {v: sorted(s) for v, s in spans.items()}, channel_of)
    listdir = tmp_path / "published"
    listdir.mkdir()
    for name in (f"{EVAL}.csv", f"{EVAL}.json", f"{EVAL}.skip_id_list.txt", "sports_and_news_normal.skip_id_list.txt"):
        shutil.copy(base / name, listdir / name)
    r = CliRunner().invoke(app, ["split", "--root", str(ds.root), "--from-list", str(listdir / f"{EVAL}.csv"), "--protocol", "all"])
    assert r.exit_code == 0, r.output
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["export", "streamsync", "--root", str(ds.root), "--layout", "streamsync", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert (out / f"{EVAL}.csv").read_bytes() == csv_path.read_bytes()
    assert (out / f"{EVAL}.json").read_bytes() == json_path.read_bytes()
    assert (out / f"{EVAL}.skip_id_list.txt").read_bytes() == (base / f"{EVAL}.skip_id_list.txt").read_bytes()
    # the loader's own skip-list names exist (it always opens one per split)
    assert (out / "sports_and_news_normal.test.skip_id_list.txt").read_bytes() == (base / f"{EVAL}.skip_id_list.txt").read_bytes()
    for name in ("sports_and_news_normal.valid.skip_id_list.txt", "sports_and_news_normal.train.skip_id_list.txt",
                 "sports_and_news_normal.test.csv", "sports_and_news_normal.train.csv", "sports_and_news_normal.train.json"):
        assert (out / name).exists(), name
    assert (out / "sports_and_news_normal.test.csv").read_text() == ""  # no test list adopted
    assert (out / "sports_and_news_normal.train.csv").read_text() == ""  # every video is listed


def test_generated_sources_named_after_listed_videos_are_cut_and_adopted(tmp_path):
    """fetch --from-list --dry-run records the spans; preprocess --only-listed cuts real 300 s clips;
    split --from-list adopts exactly their segments and reports every other listed segment missing."""
    from realsync_build.core.root import DatasetRoot
    from realsync_build.media.probe import probe_clip
    from realsync_build.media.synth import make_source

    csv_path, _, base = _eval_files()
    src = tmp_path / "src" / "golfshome"
    tiny = dict(width=64, height=36, fps="5", sample_rate=16000, audio="tone", audio_channels=1, crf=40)
    make_source(src / "HOu1OnAwpTY.mp4", 301, **tiny)  # holds the listed span 0-300 only
    make_source(src / "1iE9LQ3FXCQ.mp4", 20, **tiny)  # too short for any listed span
    root = tmp_path / "data"
    run = CliRunner()
    # a second list (a made-up test list of one video) fetched together with the evaluation list
    extra = tmp_path / "lists" / "sports_and_news_normal.test.csv"
    extra.parent.mkdir()
    extra.write_text("zz_Vid-1_1200_1500_10_0,10.0,CNN\nzz_Vid-1_1200_1500_broken_20_0,20.0,CNN\nzz_Vid-1_0_300_30_0,30.0,CNN\n")
    r = run.invoke(app, ["fetch", "--root", str(root), "--from-list", str(csv_path), "--from-list", str(extra), "--dry-run"])
    assert r.exit_code == 0, r.output
    out = " ".join(r.output.split())
    assert "│ total │ │ 66 │ 623 │ 51.92 │ n/a │" in out and "zz_Vid-1 (2)" in out  # videos, clip spans, hours needed
    spans = json.loads((root / "manifests" / "listed_spans.json").read_text())
    assert spans["zz_Vid-1"] == [[0, 300], [1200, 1500]] and len(spans) == 66
    assert spans["HOu1OnAwpTY"] == [[0, 300], [300, 600], [600, 900], [900, 1200]]
    r = run.invoke(app, ["preprocess", "--root", str(root), "--input", str(tmp_path / "src"), "--only-listed",
                         "--no-progress", "--preset", "ultrafast", "--crf", "40", "--workers", "2"])
    assert r.exit_code == 0, r.output
    ds = DatasetRoot(root)
    clips = manifest.read_named(ds, "clips").set_index("clip_id")
    assert clips.loc["HOu1OnAwpTY_0_300", "status"] == "done"
    facts = probe_clip(root / clips.loc["HOu1OnAwpTY_0_300", "path"])
    assert facts.n_frames == 300 * 25 and facts.audio_samples == 300 * 16000 and facts.fps == 25
    assert set(clips.index) == {f"{v}_{a}_{a + 300}" for v in ("HOu1OnAwpTY", "1iE9LQ3FXCQ") for a in (0, 300, 600, 900)}
    r = run.invoke(app, ["split", "--root", str(root), "--from-list", str(csv_path)])
    assert r.exit_code == 0, r.output
    lines = _lines(csv_path)
    rows = _listed(csv_path)
    sel = loader_selection(lines, read_skip_list(base / f"{EVAL}.skip_id_list.txt"), protocol="paper")
    want = sorted(str(rows[i].segment) for i in sel.kept if rows[i].segment.clip_id == "HOu1OnAwpTY_0_300")
    seg = manifest.read_named(ds, "segments")
    assert sorted(seg["segment_id"]) == want and len(want) > 20
    rec = json.loads((root / "manifests" / "adoption.json").read_text())
    missing = len(sel.kept) - len(want)
    assert rec["n_missing"] == missing and f"missing: {missing} of {len(sel.kept)} listed segments" in " ".join(r.output.split())
    golf = rec["missing_by_channel"]["golfshome"]["missing"]
    kept_rows = [rows[i] for i in sel.kept]
    assert golf["clip failed"] == sum(1 for x in kept_rows if x.segment.video_id in ("HOu1OnAwpTY", "1iE9LQ3FXCQ")) - len(want)
    assert golf["video not fetched"] == sum(1 for x in kept_rows if x.channel == "golfshome" and x.segment.video_id not in ("HOu1OnAwpTY", "1iE9LQ3FXCQ"))
    assert rec["missing_by_channel"]["CNN"]["adopted"] == 0


def test_streamsync_layout_of_a_drawn_split_has_a_train_start_every_10_s(ds, tmp_path):
    from realsync_build.stages.export.streamsync import run_export_streamsync
    from realsync_build.stages.split.run import SplitConfig, run_split
    from splitdata import many_videos

    many_videos(ds, channels=("CNN", "NFL"), n_videos=12)
    run_split(ds, SplitConfig(seed=1))
    out = tmp_path / "ss"
    report = run_export_streamsync(ds, out, layout="streamsync")
    names = sorted(p.name for p in out.iterdir())
    stem = "sports_and_news_normal"
    assert names == sorted([f"{stem}.{k}.{e}" for k in ("evaluation", "test", "train") for e in ("csv", "json")]
                           + [f"{stem}.{s}.skip_id_list.txt" for s in ("test", "valid", "train")])
    train = lists.read_csv(out / f"{stem}.train.csv")
    from realsync_build.core.clipview import read_clips

    clips = read_clips(ds)  # split's assignment joined in (clips.parquet has one writer)
    n_train_clips = int((clips["split"] == "train").sum())
    assert len(train) == report.per_split["train"] == 29 * n_train_clips  # 10, 20, ..., 290 s in each 300 s clip
    assert sorted({r.seg_start_s for r in train}) == [float(t) for t in range(10, 300, 10)]
    assert set(lists.read_json(out / f"{stem}.train.json")) == {str(r.segment) for r in train}
    # roles as in the StreamSync code: the evaluation files hold the test split (its test), the test files dev (its valid)
    test = lists.read_csv(out / f"{stem}.evaluation.csv")
    dev = lists.read_csv(out / f"{stem}.test.csv")
    assert len(test) == report.per_split["test"] > 0 and len(dev) == report.per_split["dev"] > 0
    assert (out / f"{stem}.test.skip_id_list.txt").read_text() == ""


def test_list_roles_default_to_the_reference_and_a_flag_swaps_them(ds, tmp_path):
    """The StreamSync code picks its best checkpoint on the test list (its valid split) and reports the
    evaluation list (its test split): evaluation -> realsync test, test -> dev, unless --role says otherwise."""
    csv_path, _, base = _eval_files()
    rows = _listed(csv_path)
    channel_of = {r.segment.video_id: r.channel for r in rows}
    channel_of["zz_Vid-1"] = "CNN"
    _root_with_clips(ds, {"HOu1OnAwpTY": [(0, 300)], "zz_Vid-1": [(0, 300)]}, channel_of)
    listdir = tmp_path / "published"
    listdir.mkdir()
    for name in (f"{EVAL}.csv", f"{EVAL}.json", f"{EVAL}.skip_id_list.txt"):
        shutil.copy(base / name, listdir / name)
    test_csv = listdir / "sports_and_news_normal.test.csv"
    test_csv.write_text("zz_Vid-1_0_300_10_0,10.0,CNN\nzz_Vid-1_0_300_20_0,20.0,CNN\n")
    (listdir / "sports_and_news_normal.test.json").write_text(json.dumps(
        {"zz_Vid-1_0_300_10_0": {"offset_sec": 0.4, "v_start_i_sec": 10.0}, "zz_Vid-1_0_300_20_0": {"offset_sec": -1.2, "v_start_i_sec": 20.0}}))
    both = ["--from-list", str(listdir / f"{EVAL}.csv"), "--from-list", str(test_csv)]
    run = CliRunner()

    def roles():
        splits = manifest.read_named(ds, "splits").set_index("video_id")["split"].to_dict()
        return splits["HOu1OnAwpTY"], splits["zz_Vid-1"]

    r = run.invoke(app, ["split", "--root", str(ds.root), *both])
    assert r.exit_code == 0, r.output
    assert roles() == ("test", "dev")
    rec = json.loads((ds.manifests / "adoption.json").read_text())
    assert [(li["kind"], li["loader_split"], li["split"], li["role"]) for li in rec["lists"]] == [
        ("evaluation", "test", "test", "test"), ("test", "valid", "dev", "selection")]
    r = run.invoke(app, ["split", "--root", str(ds.root), *both, "--role", "selection", "--role", "test"])
    assert r.exit_code == 0, r.output
    assert roles() == ("dev", "test")
    # each list goes back to its own file whatever its role
    out = tmp_path / "out"
    r = run.invoke(app, ["export", "streamsync", "--root", str(ds.root), "--layout", "streamsync", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert {x.segment.video_id for x in lists.read_csv(out / f"{EVAL}.csv")} == {"HOu1OnAwpTY"}
    assert (out / "sports_and_news_normal.test.csv").read_bytes() == test_csv.read_bytes()
    for bad, msg in ((["--role", "selection"], "two lists go to the same split"), (["--as", "dev", "--role", "test"], "give --as or --role, not both"),
                     (["--role", "judge"], "--role must be selection or test")):
        r = run.invoke(app, ["split", "--root", str(ds.root), *both, *bad])
        assert r.exit_code == 2 and msg in " ".join(r.output.split()), (bad, r.output)
