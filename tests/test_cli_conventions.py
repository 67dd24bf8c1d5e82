"""Issue 16: the command line's config file and conventions, through the CLI as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from realsync_build.cli import app
from realsync_build.cli.configfile import leaves

runner = CliRunner()


def _cmd_paths() -> list[tuple[str, ...]]:
    import typer

    return list(leaves(typer.main.get_command(app)))


def _show(*args: str, env: dict | None = None) -> dict[str, tuple[str, str]]:
    """`realsync config show ...` -> {key: (value, source)}."""
    res = runner.invoke(app, ["config", "show", *args], env=env)
    assert res.exit_code == 0, res.output
    rows = {}
    for line in res.stdout.splitlines():
        if " = " in line and "#" in line:
            key, rest = line.split(" = ", 1)
            value, where = rest.rsplit("#", 1)
            rows[key.strip()] = (value.strip(), where.strip())
    return rows


# ---------------------------------------------------------------- 1. config file


def test_precedence_default_then_file_then_flag(tmp_path):
    cfg = tmp_path / "rs.toml"
    cfg.write_text('workers = 3\nroot = "from-file"\n[preprocess]\nclip_seconds = 10\ncrf = 20\n')
    rows = _show("preprocess", "--config", str(cfg), "--crf", "22")
    assert rows["preset"] == ('"veryfast"', "default")  # no file value: the default
    assert rows["clip_seconds"] == ("10", f"file {cfg} [preprocess]")  # file over default
    assert rows["crf"] == ("22", "flag")  # flag over file
    assert rows["workers"] == ("3", f"file {cfg}, top level")  # the shared top level
    assert rows["root"] == ('"from-file"', f"file {cfg}, top level")
    # the table beats the top level; the file also works before the subcommand and from $REALSYNC_CONFIG
    cfg.write_text("workers = 3\n[preprocess]\nworkers = 1\n")
    assert _show("preprocess", "--config", str(cfg))["workers"][0] == "1"
    assert _show("preprocess", env={"REALSYNC_CONFIG": str(cfg)})["workers"][0] == "1"
    res = runner.invoke(app, ["--config", str(cfg), "config", "show", "preprocess"])
    assert res.exit_code == 0 and "workers = 1" in res.stdout


def test_preprocess_runs_with_the_config_file(tmp_path):
    from realsync_build.media.synth import make_source

    src = tmp_path / "src" / "chan"
    make_source(src / "a.mp4", 21.0, width=320, height=240, fps="25", preset="ultrafast")
    cfg = tmp_path / "rs.toml"
    cfg.write_text('[preprocess]\nclip_seconds = 10\npreset = "ultrafast"\n')
    root = tmp_path / "root"
    res = runner.invoke(app, ["preprocess", "--config", str(cfg), "--root", str(root), "--input", str(tmp_path / "src"), "--no-progress"])
    assert res.exit_code == 0, res.output
    clips = pd.read_parquet(root / "manifests" / "clips.parquet")
    assert sorted(zip(clips["start_s"], clips["end_s"])) == [(0.0, 10.0), (10.0, 20.0)]  # clip_seconds from the file
    assert "preprocess: 1 done" in res.output  # the one-line summary
    # 5. paths are root-relative; an --input file outside the root keeps its location in source_path
    videos = pd.read_parquet(root / "manifests" / "videos.parquet")
    assert videos["path"].isna().all() and videos["source_path"].tolist() == [str((src / "a.mp4").resolve())]
    assert all(not Path(p).is_absolute() for p in clips["path"])


def test_bad_config_files_are_one_line_usage_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    for text, needle in [
        ("[preprocess]\nclip_second = 10\n", "has no option 'clip_second'"),
        ("[preproces]\nclip_seconds = 10\n", "[preproces] is no command"),
        ("nonsense = 1\n", "top-level key 'nonsense'"),
        ("[preprocess\n", "not valid TOML"),
        ('[preprocess]\ncrf = "high"\n', "comes from the config file"),
    ]:
        bad.write_text(text)
        res = runner.invoke(app, ["preprocess", "--config", str(bad), "--root", str(tmp_path)])
        assert res.exit_code == 2, res.output
        assert needle in res.output and len(res.output.strip().splitlines()) == 1, res.output
    res = runner.invoke(app, ["stats", "--config", str(tmp_path / "nope.toml")])
    assert res.exit_code == 2 and "config file not found" in res.output


def test_config_init_writes_the_defaults_commented(tmp_path):
    path = tmp_path / "realsync.toml"
    res = runner.invoke(app, ["config", "init", str(path)])
    assert res.exit_code == 0, res.output
    text = path.read_text()
    data = tomllib.loads(text)  # everything commented out: a valid file that changes nothing

    def scalars(d):
        return [v for v in d.values() if not isinstance(v, dict)] + [x for v in d.values() if isinstance(v, dict) for x in scalars(v)]

    assert scalars(data) == []
    assert runner.invoke(app, ["config", "show", "preprocess", "--config", str(path)]).stdout.count("# default") > 5
    assert "[preprocess]" in text and "# clip_seconds = 300" in text and "[export.webdataset]" in text
    # uncommenting every value gives back exactly the defaults
    uncommented = "\n".join(
        line[2:].split("   #")[0] if line.startswith("# ") and " = " in line and "(no default)" not in line else line
        for line in text.splitlines()
    )
    full = tmp_path / "full.toml"
    full.write_text(uncommented)
    rows = _show("preprocess", "--config", str(full))
    assert rows["clip_seconds"][0] == "300" and rows["clip_seconds"][1].startswith("file")
    assert rows["crf"][0] == "18"
    assert runner.invoke(app, ["config", "init", str(path)]).exit_code == 2  # no silent overwrite


# ---------------------------------------------------------------- 2. conventions


def test_every_command_accepts_no_progress_and_config():
    for path in _cmd_paths():
        res = runner.invoke(app, [*path, "--no-progress", "--help"])
        assert res.exit_code == 0, (path, res.output)
        assert "--config" in res.output or path == ("config", "show"), path
        assert "<bool>" not in res.output, path  # a flag shows no value metavar
    # before the subcommand it reaches every command below
    res = runner.invoke(app, ["--no-progress", "config", "show", "preprocess"])
    assert "progress = false   # flag, before the command" in res.stdout


def test_version_on_stdout_and_exit_codes(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    out = subprocess.run([sys.executable, "-m", "realsync_build", "--version"], capture_output=True, text=True, env=env)
    assert out.returncode == 0 and out.stdout.startswith("realsync ") and out.stderr == ""
    res = subprocess.run([sys.executable, "-m", "realsync_build", "split", "--ratios", "nan/5/5"],
                         capture_output=True, text=True, env=env, cwd=tmp_path)  # fmt: skip
    assert res.returncode == 2 and len((res.stdout + res.stderr).strip().splitlines()) == 1, res.stderr
    assert not (tmp_path / "realsync-data").exists()  # a refused command leaves nothing behind
    res = runner.invoke(app, ["preprocess", "--root", str(tmp_path), "--input", str(tmp_path), "--executor", "dask"])
    assert res.exit_code == 2 and "local, ray or inline" in res.output


def test_bad_option_values_are_usage_errors_in_every_command(tmp_path):
    (tmp_path / "manifests").mkdir()
    root = ["--root", str(tmp_path)]
    for args in (["annotate", "--only", "bogus"], ["annotate", "--events", "x"], ["annotate", "--face-detector", "x"],
                 ["preprocess", "--preset", "fastest", "--input", str(tmp_path)], ["train", "--stream-head", "gru"],
                 ["train", "--model-size", "huge"], ["evaluate", "--checkpoint", str(tmp_path / "no.pt")],
                 ["evaluate", "--checkpoint", "x", "--split", "val"], ["split", "--ratios", "1/2"],
                 ["fetch", "--category", "cooking", "--channel", "http://x"], ["models", "download", "--for", "stats"],
                 ["export", "webdataset", "--shard-size", "lots"], ["preprocess", "--bogus"],
                 ["preprocess", "--crf", "x"], ["evaluate"]):  # fmt: skip click's own usage errors too
        res = runner.invoke(app, [*args, *(root if args[0] != "models" else [])])
        assert res.exit_code == 2, (args, res.output)
        assert len(res.output.strip().splitlines()) == 1 and "Traceback" not in res.output, (args, res.output)


def test_train_model_size_and_the_deprecated_config_value():
    rows = _show("train", "--model-size", "base")
    assert rows["model_size"] == ('"base"', "flag")
    res = runner.invoke(app, ["config", "show", "train", "--config", "tiny"])
    assert res.exit_code == 0 and "deprecated" in res.output and 'model_size = "tiny"' in res.stdout


def test_one_workers_meaning_and_one_category_default():
    helps = {}
    for path in _cmd_paths():
        rows = _show(*path)
        if "workers" in rows:
            assert rows["workers"] == ("(unset)", "default"), path  # default: the cores, everywhere
            helps[path] = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "400"}).output
        if "category" in rows:
            assert rows["category"][0] == '"unknown"', path
    assert {("preprocess",), ("annotate",), ("train",), ("evaluate",), ("demo",)} <= set(helps)
    assert all("Parallel worker processes" in h for h in helps.values())  # one meaning everywhere
    assert all("number of CPU cores" in h for p, h in helps.items() if p != ("train",))  # train: the cores of each process - 1
    assert _show("fetch")["hours_per_channel"] == ("100.0", "default")  # the paper's ~100 h per channel
    res = runner.invoke(app, ["preprocess", "--category", "cooking", "--input", "."])
    assert res.exit_code == 2 and "news, sports or unknown" in res.output


def test_empty_input_and_a_mistyped_root(tmp_path):
    (tmp_path / "empty").mkdir()
    res = runner.invoke(app, ["preprocess", "--root", str(tmp_path / "r"), "--input", str(tmp_path / "empty")])
    assert res.exit_code == 2 and "no media files" in res.output, res.output
    typo = tmp_path / "typo"
    typo.mkdir()
    ckpt = tmp_path / "x.pt"
    ckpt.write_bytes(b"")
    for args in (["train"], ["evaluate", "--checkpoint", str(ckpt)], ["stats"], ["split"], ["annotate"],
                 ["export", "webdataset"], ["export", "streamsync"], ["preprocess"]):  # fmt: skip
        res = runner.invoke(app, [*args, "--root", str(typo)])
        assert res.exit_code == 2 and "no dataset here" in res.output, (args, res.output)
    assert list(typo.iterdir()) == []  # no runs/, report/ or manifests/ left behind


# ---------------------------------------------------------------- 3. models


def test_models_download_several_names_or_for_annotate(monkeypatch, tmp_path):
    from realsync_build.models import registry

    monkeypatch.setenv("REALSYNC_MODELS_DIR", str(tmp_path / "models"))
    help_text = runner.invoke(app, ["models", "download", "--help"], env={"COLUMNS": "200"}).output
    assert "--for" in help_text and "names..." in help_text.lower()
    fetched: list[str] = []

    def fake_fetch(entry, mf, root, **kw):  # no network in tests: record what would be fetched
        fetched.append(entry.name)
        return Path(root) / mf.rel

    monkeypatch.setattr(registry, "fetch_file", fake_fetch)
    res = runner.invoke(app, ["models", "download", "sfd", "yamnet", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert sorted(set(fetched)) == ["s3fd", "yamnet"]
    fetched.clear()
    res = runner.invoke(app, ["models", "download", "--for", "annotate", "--face-detector", "blazeface", "--events", "panns"])
    assert res.exit_code == 0, res.output
    assert sorted(set(fetched)) == ["audioset-labels", "blazeface", "panns-cnn14-16k", "syncnet"]


def test_annotate_names_every_missing_model_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("REALSYNC_MODELS_DIR", str(tmp_path / "models"))
    from realsync_build.core.root import DatasetRoot

    # a root with a clip to annotate (an empty one stops earlier: "run `realsync preprocess` first", issue 24)
    DatasetRoot(tmp_path / "ds").write("clips", [{"clip_id": "v_0_2", "video_id": "v", "channel": "news", "start_s": 0.0, "end_s": 2.0,
                                                  "path": "clips/news/v/v_0_2.mp4", "status": "done"}])  # fmt: skip
    res = runner.invoke(app, ["annotate", "--root", str(tmp_path / "ds"), "--events", "yamnet", "--require-sync"])
    assert res.exit_code == 1
    line = res.output.strip()
    assert len(line.splitlines()) == 1, line
    for name in ("s3fd", "yamnet", "syncnet"):
        assert name in line
    assert "realsync models download --for annotate --face-detector sfd --events yamnet" in line


@pytest.mark.parametrize("strict", [False, True])
def test_strict_exit_code_is_3_for_failed_items(tmp_path, strict):
    src = tmp_path / "src" / "chan"
    src.mkdir(parents=True)
    (src / "broken.mp4").write_bytes(b"not a video")
    args = ["preprocess", "--root", str(tmp_path / "r"), "--input", str(tmp_path / "src"), "--no-progress", "--executor", "inline"]
    res = runner.invoke(app, args + (["--strict"] if strict else []))
    assert res.exit_code == (3 if strict else 0), res.output
    assert "1 failed" in res.output


# ---------------------------------------------------------------- 5. manifests


def test_list_columns_are_native_lists_and_old_string_forms_still_read(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from realsync_build.core import manifest
    from realsync_build.core.schema import ANNOTATIONS, CLIPS, SEGMENTS

    # a root written before issue 16: "a;b;c" in clips/annotations, a JSON list in segments
    def old(schema, rows):
        schema = schema.set(schema.get_field_index("top_events"), pa.field("top_events", pa.string()))
        return pa.Table.from_pandas(pd.DataFrame(rows, columns=schema.names), schema=schema, preserve_index=False)

    old_clips = old(CLIPS, {"clip_id": ["c1", "c2", "c3"], "top_events": ["Speech;Music", "", None]})
    old_segs = old(SEGMENTS, {"segment_id": ["s1", "s2"], "top_events": ['["Speech", "Applause"]', "[]"]})
    pq.write_table(old_clips, tmp_path / "clips.parquet")
    pq.write_table(old_segs, tmp_path / "segments.parquet")
    clips = manifest.read(tmp_path / "clips.parquet", CLIPS)
    assert [None if v is None else list(v) for v in clips["top_events"]] == [["Speech", "Music"], [], None]
    segs = manifest.read(tmp_path / "segments.parquet", SEGMENTS)
    assert [list(v) for v in segs["top_events"]] == [["Speech", "Applause"], []]
    # written back, they are list<string>
    manifest.write(clips, tmp_path / "clips2.parquet", CLIPS, ["clip_id"])
    manifest.write([{"clip_id": "c", "top_events": "Speech;Music"}], tmp_path / "ann.parquet", ANNOTATIONS)
    for name in ("clips2", "ann"):
        field = pq.read_schema(tmp_path / f"{name}.parquet").field("top_events")
        assert field.type == pa.list_(pa.string()), name
    assert pq.read_table(tmp_path / "ann.parquet").column("top_events").to_pylist() == [["Speech", "Music"]]


# ---------------------------------------------------------------- 4. progress


def test_preprocess_progress_moves_per_media_second_and_clip(tmp_path):
    import hashlib

    from realsync_build.media.ffmpeg import run_ffmpeg, run_ffmpeg_lines
    from realsync_build.media.synth import make_source
    from realsync_build.stages.preprocess.run import PreprocessConfig, build_ffmpeg_args, plan_clips

    src = make_source(tmp_path / "src" / "chan" / "a.mp4", 6.5, width=320, height=240, fps="25", preset="ultrafast")
    plans, cfg = plan_clips(6.5, 2, False), PreprocessConfig(preset="ultrafast")
    plain = [tmp_path / f"p{i}.mp4" for i in range(len(plans))]
    watched = [tmp_path / f"w{i}.mp4" for i in range(len(plans))]
    run_ffmpeg(build_ffmpeg_args(src, plans, plain, cfg, 1))
    lines: list[str] = []
    run_ffmpeg_lines(build_ffmpeg_args(src, plans, watched, cfg, 1, progress=True), lines.append)
    times = [float(x.split("pts_time:")[1]) for x in lines if "pts_time:" in x]
    assert times == [float(t) for t in range(7)]  # one report per source second (0..6 of 6.5 s), while ffmpeg runs
    for a, b in zip(plain, watched):  # the progress branch changes nothing in the clips
        assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()
    res = runner.invoke(app, ["preprocess", "--root", str(tmp_path / "r"), "--input", str(tmp_path / "src"),
                              "--clip-seconds", "2", "--preset", "ultrafast", "--workers", "1"], env={"COLUMNS": "250"})  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "0.1/0.1 media min, 3 clips, 1/1 videos" in res.output  # the bar's last state: media, clips, videos
    assert "preprocess: 1 done, 0 failed" in res.output  # the one-line summary


def test_tflite_delegate_line_is_silenced(tmp_path):
    from conftest import shared

    models = shared("models/yamnet")
    code = (
        "from realsync_build.models.events import YamnetTagger\n"
        f"t = YamnetTagger({str(models / 'yamnet.tflite')!r}, {str(models / 'yamnet_class_map.csv')!r})\n"
        "import sys; print('loaded', len(t.labels), file=sys.stderr)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=900)
    assert out.returncode == 0, out.stderr
    assert "loaded 521" in out.stderr and "XNNPACK" not in out.stderr  # TFLite's INFO line, once per worker before


# ---------------------------------------------------------------- 6. packaging, 7. the recipe

REPO = Path(__file__).resolve().parents[1]


def test_packaging_declares_what_is_imported_and_make_selects_a_torch_index():
    import shutil

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    deps = " ".join(project["dependencies"])
    assert "opencv-python-headless" in deps  # cv2 is imported directly
    assert "ffmpeg-python" not in deps  # dropped: never imported (docs/architecture.md says why)
    assert not any("import ffmpeg\n" in p.read_text() for p in (REPO / "realsync_build").rglob("*.py"))
    if shutil.which("make") is None:
        pytest.skip("no make on this machine")
    out = subprocess.run(["make", "-n", "-B", "install", "VENV=/nonexistent/venv", "PYTHON=python3",
                          "TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128", "TORCH_SPEC=torch==2.13.0+cu128"],
                         capture_output=True, text=True, cwd=REPO)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "pip install --index-url https://download.pytorch.org/whl/cu128 torch==2.13.0+cu128" in out.stdout


def test_the_readme_recipe_uses_commands_and_options_that_exist():
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Recipe: from an empty disk to a trained model", 1)[1].split("\n## ", 1)[0]
    blocks = [b.split("```", 1)[0] for b in section.split("```bash")[1:]]
    assert len(blocks) == 2  # the full recipe and the published benchmark
    commands = [line.split("#")[0].replace("&&", "\n").split() for line in "\n".join(blocks).splitlines()
                if line.strip().startswith("realsync ")]  # fmt: skip
    commands = [c[: c.index("realsync", 1)] if "realsync" in c[1:] else c for c in commands]
    names = {c[1] for c in commands}
    assert {"fetch", "models", "preprocess", "annotate", "split", "export", "train", "evaluate", "stats"} <= names
    for cmd in commands:
        args = [a.replace("$REALSYNC_ROOT", "/x") for a in cmd[1:]]
        res = runner.invoke(app, [*args, "--help"])  # every option is parsed before --help runs
        assert res.exit_code == 0, (cmd, res.output)
    for stage in ("fetch", "preprocess", "annotate", "export webdataset", "train"):
        assert stage in readme.split("| stage | disk |", 1)[1]  # a disk and time row per stage


def _recipe_commands(text: str) -> list[list[str]]:
    """The ``realsync`` command lines of a document's code blocks (loop bodies included; a loop's ``$1 $2``
    become its first ``set --`` values), as argument lists."""
    commands = []
    for block in text.split("```")[1::2]:
        values = []
        for line in block.splitlines():
            if line.strip().startswith("for hk in"):
                values = line.split('"')[1].split()
            line = line.split("  #")[0].strip()
            if not line.startswith("realsync "):
                continue
            for i, v in enumerate(values, 1):
                line = line.replace(f"${i}", v)
            for part in line.replace("&&", "\n").splitlines():
                words = part.split()
                if words and words[0] == "realsync":
                    commands.append([w.replace("$REALSYNC_ROOT", "/x").replace("DIR", "/x") for w in words])
    return commands


@pytest.mark.parametrize("doc", ["README.md", "docs/streamsync.md"])
def test_training_recipes_in_the_docs_parse_and_start_public_checkpoints_from_the_base_size(doc):
    commands = [c for c in _recipe_commands((REPO / doc).read_text()) if c[1] in ("train", "evaluate")]
    trains = [c for c in commands if c[1] == "train"]
    assert trains, doc
    for cmd in commands:
        res = runner.invoke(app, [*cmd[1:], "--help"])  # every option is parsed before --help runs
        assert res.exit_code == 0, (cmd, res.output)
    for cmd in trains:
        if "--init-from" in cmd:  # a public checkpoint holds the base network: tiny (the default) refuses it
            assert "--model-size" in cmd and cmd[cmd.index("--model-size") + 1] == "base", cmd


def test_the_table_5_recipe_trains_the_papers_rows():
    commands = _recipe_commands((REPO / "docs" / "streamsync.md").read_text())
    text = (REPO / "docs" / "streamsync.md").read_text()
    loop = text.split("**Table 5", 1)[1].split("```", 2)[1]
    rows = {tuple(int(x) for x in hk.split()) for hk in loop.split("for hk in", 1)[1].split(";", 1)[0].split('"')[1::2]}
    assert rows == {(12, 3), (12, 2), (12, 4), (6, 3), (18, 3)}  # the paper's Table 5: base, K=2, K=4, H=6, H=18
    train = next(c for c in commands if c[1] == "train" and "RUN-H12-K3" in c)
    assert "--init-from" in train and train[train.index("--model-size") + 1] == "base"
