"""--distribution normal|uniform wherever published lists are named, read or written, and the list roles."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from realsync_build.cli import app
from realsync_build.core import lists, manifest
from realsync_build.core.avformat import list_offset_class, offset_to_class
from realsync_build.core.root import DatasetRoot
from splitdata import clip_rows, write_clips

UNIFORM = "sports_and_news_uniform"
NORMAL = "sports_and_news_normal"


def test_a_uniform_lists_offset_gets_the_class_the_streamsync_code_gives_it():
    """Against the reference's own arithmetic, run with torch: round to 0.01 s, then the first nearest
    point of np.linspace(-2, 2, 21) as a float32 tensor."""
    import torch

    grid = torch.from_numpy(np.linspace(-2, 2, 21)).float()
    values = [k / 100 for k in range(-200, 201)] + list(np.random.default_rng(0).uniform(-2, 2, 3000)) + [1.6566572342556056, -1.999999]
    for v in values:
        assert list_offset_class(v) == int((grid - round(float(v), 2)).abs().argmin()), v
    assert list_offset_class(0.3) == offset_to_class(0.4)  # a tie goes where float32 puts it, not where round() would
    assert all(list_offset_class(o) == offset_to_class(o) for o in np.round(np.linspace(-2, 2, 21), 1))  # grid offsets: the grid class


def _write_list(folder: Path, stem: str, kind: str, rows: list[tuple[str, int, str, float]]) -> Path:
    """rows: (clip name, segment start, channel, offset)."""
    folder.mkdir(parents=True, exist_ok=True)
    parsed = [lists.ListRow(lists.parse_segment_id(f"{clip}_{start}_0"), float(start), ch) for clip, start, ch, _ in rows]
    lists.write_csv(parsed, folder / f"{stem}.{kind}.csv")
    lists.write_json({f"{clip}_{start}_0": {"offset_sec": off, "v_start_i_sec": float(start)} for clip, start, _, off in rows},
                     folder / f"{stem}.{kind}.json")
    return folder / f"{stem}.{kind}.csv"


def _repository(tmp_path: Path) -> Path:
    """A StreamSync-like checkout: both distributions' lists in data/, the uniform skip lists at its root."""
    repo = tmp_path / "StreamSync"
    data = repo / "data"
    _write_list(data, UNIFORM, "evaluation", [("uEval_0_300", 10, "CNN", 0.3), ("uEval_0_300", 20, "CNN", 1.6566572342556056),
                                               ("uEval_0_300", 30, "CNN", -0.1), ("uEval-B_300_600", 10, "NFL", -1.93)])  # fmt: skip
    _write_list(data, UNIFORM, "test", [("uTest_0_300", 10, "CNN", 0.71), ("uTest_0_300", 20, "CNN", -0.42)])
    _write_list(data, NORMAL, "evaluation", [("nEval_0_300", 10, "mlb", 0.0)])
    _write_list(data, NORMAL, "test", [("nTest_0_300", 10, "mlb", 0.4)])
    (repo / f"{UNIFORM}.test.skip_id_list.txt").write_text("")  # the loader's skip list of its test split (the evaluation list)
    (repo / f"{UNIFORM}.valid.skip_id_list.txt").write_text("uTest_0_300_20_0\n")  # ... of its valid split (the test list)
    return repo


def _root(ds, spans: dict[str, tuple[str, list[tuple[int, int]]]]):
    rows = []
    for vid, (ch, ss) in spans.items():
        for a, b in ss:
            r = clip_rows(ch, vid, 1, clip_s=b - a)[0]
            cid = f"{vid}_{a}_{b}"
            r.update(clip_id=cid, start_s=float(a), end_s=float(b), path=f"clips/{ch}/{vid}/{cid}.mp4")
            rows.append(r)
    write_clips(ds, rows)


def test_a_folder_of_lists_needs_a_distribution_and_a_file_must_agree_with_it(tmp_path):
    repo = _repository(tmp_path)
    run = CliRunner()
    r = run.invoke(app, ["fetch", "--root", str(tmp_path / "r1"), "--from-list", str(repo / "data"), "--dry-run"])
    assert r.exit_code == 2 and "holds both the normal and the uniform lists: pass --distribution" in " ".join(r.output.split())
    r = run.invoke(app, ["fetch", "--root", str(tmp_path / "r1"), "--from-list", str(repo / "data"), "--distribution", "uniform", "--dry-run"])
    assert r.exit_code == 0, r.output
    planned = set(manifest.read_named(DatasetRoot(tmp_path / "r1"), "videos")["video_id"])
    assert planned == {"uEval", "uEval-B", "uTest"}  # the uniform lists' videos only
    r = run.invoke(app, ["fetch", "--root", str(tmp_path / "r2"), "--from-list", str(repo / "data" / f"{NORMAL}.test.csv"),
                         "--distribution", "uniform", "--dry-run"])  # fmt: skip
    assert r.exit_code == 2 and f"{NORMAL}.test.csv is a normal list, but --distribution is uniform" in " ".join(r.output.split())
    r = run.invoke(app, ["fetch", "--root", str(tmp_path / "r2"), "--channel", "https://example.invalid/@x", "--distribution", "normal"])
    assert r.exit_code == 2 and "--distribution goes with --from-list" in r.output
    r = run.invoke(app, ["split", "--root", str(tmp_path / "r1"), "--from-list", str(repo / "data"), "--distribution", "skewed"])
    assert r.exit_code == 2 and "--distribution must be one of normal, uniform" in r.output


def test_uniform_lists_are_adopted_as_the_reference_labels_them_and_written_back_byte_for_byte(ds, tmp_path):
    repo = _repository(tmp_path)
    data = repo / "data"
    _root(ds, {"uEval": ("CNN", [(0, 300)]), "uEval-B": ("NFL", [(300, 600)]), "uTest": ("CNN", [(0, 300)]), "zz-train": ("CNN", [(0, 300)])})
    run = CliRunner()
    r = run.invoke(app, ["split", "--root", str(ds.root), "--from-list", str(data), "--distribution", "uniform"])
    assert r.exit_code == 0, r.output
    seg = manifest.read_named(ds, "segments").set_index("segment_id")
    published = {**lists.read_json(data / f"{UNIFORM}.evaluation.json"), **lists.read_json(data / f"{UNIFORM}.test.json")}
    # the repository-root skip list of the loader's valid split dropped uTest ... 20 s
    assert sorted(seg.index) == sorted(set(published) - {"uTest_0_300_20_0"})
    for sid, row in seg.iterrows():
        assert row["offset_sec"] == published[sid]["offset_sec"]  # kept as listed (full precision)
        assert row["offset_class"] == list_offset_class(row["offset_sec"])
    assert seg.loc["uEval_0_300_10_0", "offset_class"] == 12  # 0.3 s: the StreamSync code's class (0.4 s)
    # roles as in the StreamSync code: the evaluation list is the test, the test list selects the model
    assert set(seg.loc[seg.index.str.startswith("uEval"), "split"]) == {"test"} and set(seg.loc[seg.index.str.startswith("uTest"), "split"]) == {"dev"}
    rec = json.loads((ds.manifests / "adoption.json").read_text())
    assert rec["distribution"] == "uniform" and {li["name"]: li["role"] for li in rec["lists"]} == {
        f"{UNIFORM}.evaluation.csv": "test", f"{UNIFORM}.test.csv": "selection"}
    assert "role: selection; uniform offsets" in " ".join(r.output.split())
    # export --layout streamsync names the files after the adopted distribution; --protocol all gives the lists back
    r = run.invoke(app, ["split", "--root", str(ds.root), "--from-list", str(data), "--distribution", "uniform", "--protocol", "all"])
    assert r.exit_code == 0, r.output
    out = tmp_path / "out"
    r = run.invoke(app, ["export", "streamsync", "--root", str(ds.root), "--layout", "streamsync", "--out", str(out)])
    assert r.exit_code == 0, r.output
    for kind in ("evaluation", "test"):
        for ext in ("csv", "json"):
            assert (out / f"{UNIFORM}.{kind}.{ext}").read_bytes() == (data / f"{UNIFORM}.{kind}.{ext}").read_bytes(), (kind, ext)
    assert (out / f"{UNIFORM}.valid.skip_id_list.txt").read_bytes() == (repo / f"{UNIFORM}.valid.skip_id_list.txt").read_bytes()
    assert not list(out.glob(f"{NORMAL}.*"))
    # asked for the other name: written, and said
    r = run.invoke(app, ["export", "streamsync", "--root", str(ds.root), "--layout", "streamsync", "--distribution", "normal", "--out", str(tmp_path / "o2")])
    assert r.exit_code == 0 and "the offsets are from uniform lists; the files are named normal as asked" in " ".join(r.output.split())
    assert (tmp_path / "o2" / f"{NORMAL}.evaluation.csv").read_bytes() == (data / f"{UNIFORM}.evaluation.csv").read_bytes()
    r = run.invoke(app, ["export", "streamsync", "--root", str(ds.root), "--distribution", "uniform", "--out", str(tmp_path / "o3")])
    assert r.exit_code == 2 and "--layout streamsync" in r.output


def test_continuous_offsets_under_the_normal_distribution_are_refused_in_one_line(ds, tmp_path):
    lst = _write_list(tmp_path / "mine", "mine", "evaluation", [("uEval_0_300", 10, "CNN", 0.3)])  # the name says no distribution
    _root(ds, {"uEval": ("CNN", [(0, 300)])})
    r = CliRunner().invoke(app, ["split", "--root", str(ds.root), "--from-list", str(lst.parent / "mine.evaluation.csv")])
    out = " ".join(r.output.split())
    assert r.exit_code == 2 and "uEval_0_300_10_0" in out and "not on the 0.2 s grid" in out and "needs --distribution uniform" in out
    assert not (ds.manifests / "adoption.json").exists()
    r = CliRunner().invoke(app, ["split", "--root", str(ds.root), "--from-list", str(lst), "--distribution", "uniform"])
    assert r.exit_code == 0, r.output


def test_evaluation_windows_label_and_shift_continuous_offsets_as_the_reference():
    """A uniform list's offsets are evaluated as the StreamSync code does: shifted by round(offset, 2)
    and labelled with the first nearest grid point (0.3 s -> +0.4 s); grid offsets are unchanged."""
    import numpy as np

    from realsync_build.core.avformat import class_to_offset, offset_to_class
    from realsync_build.streamsync.data import Segment, SegmentWindows
    from realsync_build.streamsync.model import tiny_config

    class _Clip:  # a clip whose decode fails: only the label and the planned shift are looked at
        duration_s = 300.0
        key = "a"

        def read(self, ext):
            raise OSError("not decoded here")

    cfg = tiny_config()
    segs = [Segment("a_0_300_10_0", _Clip(), 10.0, 0.4, "other", "CNN"), Segment("a_0_300_20_0", _Clip(), 20.0, 0.3, "other", "CNN"),
            Segment("a_0_300_30_0", _Clip(), 30.0, -1.234, "other", "CNN")]
    ds = SegmentWindows(segs, cfg, 2, 2.0)
    targets = [ds[i]["target"] for i in range(3)]
    assert targets[0] == offset_to_class(0.4)
    assert class_to_offset(targets[1]) == 0.4  # a tie goes where the code's float32 grid puts it
    assert class_to_offset(targets[2]) == -1.2
    assert all(not ds[i]["ok"] for i in range(3)) and np.isfinite(targets).all()

