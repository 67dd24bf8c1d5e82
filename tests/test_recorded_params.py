"""One record of each stage's parameters, printed one way (issue 24, item 3).

The report, ``realsync status`` and the refusal of a rerun with other values all print what
``stages.json`` recorded, as the flags a user would type; every flag printed is an option of the
stage's own command (checked by parsing it with that command); status knows the training runs
and evaluations under the root; ``preprocess --verify`` says what it checked and what it redid.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
import typer

import tiny_root
from realsync_build.cli import app
from realsync_build.core import state
from realsync_build.core.params import flags_text
from realsync_build.core.status import Runs, next_command
from realsync_build.core.runs import Evaluation, TrainRun


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return tiny_root.build(tmp_path_factory.mktemp("params"))


@pytest.fixture
def root(built, tmp_path):
    return tiny_root.copy(built, tmp_path / "root")


def _command(path: tuple[str, ...]):
    cmd = typer.main.get_command(app)
    for name in path:
        cmd = cmd.commands[name]
    return cmd


def _records() -> list[tuple[tuple[str, ...], dict]]:
    """Each stage's recorded parameters, made by the stage's own code, at defaults and at other values."""
    from realsync_build.stages.annotate.config import AnnotateConfig
    from realsync_build.stages.annotate.run import output_params as annotate_params
    from realsync_build.stages.export.webdataset import WebDatasetConfig, output_params as export_params
    from realsync_build.stages.fetch import FetchConfig, output_params as fetch_params
    from realsync_build.stages.preprocess.run import PreprocessConfig, output_params as preprocess_params
    from realsync_build.stages.split.adopt import AdoptConfig, output_params as adopt_params
    from realsync_build.stages.split.run import SplitConfig, output_params as split_params

    return [
        (("fetch",), fetch_params(FetchConfig())),
        (("fetch",), fetch_params(FetchConfig(hours_per_channel=None, min_kbps=300.0, seed=3))),
        (("preprocess",), preprocess_params(PreprocessConfig())),
        (("preprocess",), preprocess_params(PreprocessConfig(clip_seconds=10, keep_tail=True, crf=20, audio_bitrate="96k"), only_listed=True)),
        (("annotate",), annotate_params(AnnotateConfig())),
        (("annotate",), annotate_params(AnnotateConfig(face_detector="blazeface-back", events="yamnet", min_confidence=2.5))),
        (("split",), split_params(SplitConfig())),
        (("split",), split_params(SplitConfig(seed=4, ratios=(0.8, 0.1, 0.1), exclude_suspect_sync=True))),
        (("split",), adopt_params([Path("a.test.csv"), Path("b.evaluation.csv")], AdoptConfig(protocol="all", cap=2000), ["test", "dev"])),
        (("export", "webdataset"), export_params(WebDatasetConfig())),
        (("export", "webdataset"), export_params(WebDatasetConfig(shard_bytes=500_000_000, seed=2))),
    ]


def _same(flag: str, recorded, parsed) -> bool:
    from realsync_build.core.values import parse_size
    from realsync_build.stages.split.run import parse_ratios, parse_seed

    convert = {"--ratios": parse_ratios, "--shard-size": parse_size}
    if flag in convert:
        parsed = convert[flag](parsed)
    if isinstance(recorded, (list, tuple)):
        got = [Path(x).name if isinstance(x, Path) else x for x in parsed]
        return len(got) == len(recorded) and all(str(a) == str(b) or float(a) == pytest.approx(float(b)) for a, b in zip(got, recorded))
    if isinstance(recorded, bool):
        return parsed is recorded
    if isinstance(recorded, (int, float)):
        return float(parse_seed(parsed) if flag == "--seed" and isinstance(parsed, str) else parsed) == pytest.approx(float(recorded))
    return str(parsed) == str(recorded)


@pytest.mark.parametrize("path,params", _records(), ids=lambda x: ".".join(x) if isinstance(x, tuple) else "")
def test_every_printed_parameter_is_a_flag_its_command_parses_back_to_the_recorded_value(path, params):
    text = flags_text(params)
    assert "[" not in text and "True" not in text and "False" not in text and "None" not in text, text
    cmd = _command(path)
    ctx = cmd.make_context(path[-1], shlex.split(text))  # "No such option" would raise here
    by_flag = {o: p for p in cmd.params for o in [*getattr(p, "opts", []), *getattr(p, "secondary_opts", [])]}
    for flag, value in params.items():
        if value is None:
            assert flag not in shlex.split(text)  # not given: the default applies, nothing printed
            continue
        param = by_flag[flag]
        assert _same(flag, value, ctx.params[param.name]), (flag, value, ctx.params[param.name])


def test_booleans_lists_and_unset_values_print_as_typed():
    assert flags_text({"--keep-tail": False, "--only-listed": True}) == "--no-keep-tail --only-listed"
    assert flags_text({"--ratios": [0.9, 0.05, 0.05], "--min-kbps": None}) == "--ratios 0.9,0.05,0.05"
    assert flags_text({"--from-list": ["a.csv", "b c.csv"]}) == "--from-list a.csv --from-list 'b c.csv'"


@pytest.mark.slow
def test_status_the_report_and_a_refused_rerun_print_the_same_record(root):
    rec = state.load(root, "preprocess")
    flags = flags_text(rec["params"])
    assert "--clip-seconds 2" in flags and "--no-keep-tail" in flags and "--audio-bitrate 64k" in flags

    status = tiny_root.cli("status", "--root", str(root.root))
    assert status.returncode == 0, status.stderr
    assert flags in " ".join(status.stdout.split())  # the screen is the result: stdout

    stats = tiny_root.cli("stats", "--root", str(root.root))
    assert stats.returncode == 0, stats.stderr
    html = (root.report / "index.html").read_text()
    assert "recorded no parameters" not in html and flags in html.replace("&#x27;", "'")

    again = tiny_root.cli("preprocess", "--root", str(root.root), "--clip-seconds", "2", "--crf", "20", "--keep-tail", "--no-progress")
    line = " ".join(again.stderr.split())
    assert again.returncode == 2 and "--crf 18 -> --crf 20" in line and "--no-keep-tail -> --keep-tail" in line, line


def test_status_covers_training_runs_and_evaluations(root):
    run = root.root / "runs" / "streamsync-tiny"
    run.mkdir(parents=True)
    (run / "config.json").write_text("{}")
    half = root.root / "runs" / "half"
    half.mkdir()
    (half / "config.json").write_text("{}")  # started, never finished
    (run / "best.pt").write_bytes(b"x")
    (run / "summary.json").write_text(json.dumps({"steps": 40, "best_dev_map": 0.31, "best_step": 40}))
    ev = root.report / "eval-test"
    ev.mkdir(parents=True)
    (ev / "metrics.json").write_text(json.dumps({"split": "test", "checkpoint": str(run / "best.pt"), "n_segments": 12,
                                                 "apa": {"map": 0.2}, "streamsync": {"map": 0.25}, "snapshot": {"map": 0.1}}))  # fmt: skip
    doc = json.loads(tiny_root.cli("status", "--root", str(root.root), "--json").stdout)
    train = {r["folder"]: r for r in doc["train"]}
    assert train["runs/streamsync-tiny"]["complete"] and train["runs/streamsync-tiny"]["steps"] == 40
    assert train["runs/streamsync-tiny"]["checkpoint"] == "runs/streamsync-tiny/best.pt" and not train["runs/half"]["complete"]
    assert doc["evaluations"][0]["folder"] == "report/eval-test" and doc["evaluations"][0]["metrics"]["streamsync"] == 0.25
    screen = " ".join(tiny_root.cli("status", "--root", str(root.root)).stdout.split())
    assert "train │ complete │ 1" in screen and "evaluate │ complete │ 1" in screen and "40 steps, best dev mAP 0.310" in screen

    # after the stages, what comes next depends on the runs: never "train" again once trained and evaluated
    done = TrainRun("runs/x", True, checkpoint="runs/x/best.pt")
    assert next_command([], Runs()).startswith("realsync train")
    assert next_command([], Runs(train=[TrainRun("runs/x", False)])).startswith("realsync train --out runs/x --resume")
    assert next_command([], Runs(train=[done])) == "realsync evaluate --checkpoint runs/x/best.pt --split test (trained, not evaluated)"
    after = next_command([], Runs(train=[done], evaluations=[Evaluation("report/eval-test")]))
    assert "train" not in after.split("(")[0] and after.startswith("realsync stats")


@pytest.mark.slow
def test_verify_says_what_it_checked_and_what_it_redid(root):
    out = tiny_root.cli("preprocess", "--root", str(root.root), "--clip-seconds", "2", "--verify", "--no-progress", "--workers", "1")
    line = " ".join(out.stderr.split())
    assert out.returncode == 0, out.stderr
    assert "preprocess --verify: 4 clips of 2 videos re-probed and sha256 re-hashed, 4 intact (kept), 0 redone, 0 failed" in line
    assert "realtime" not in line  # nothing was cut: no speed to claim

    clip = next((root.root / "clips").rglob("*.mp4"))
    data = bytearray(clip.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, other bytes: only the hash can tell
    clip.write_bytes(bytes(data))
    out = tiny_root.cli("preprocess", "--root", str(root.root), "--clip-seconds", "2", "--verify", "--no-progress", "--workers", "1")
    line = " ".join(out.stderr.split())
    assert "3 intact (kept), 1 redone, 0 failed" in line and "h of media redone at" in line, line
