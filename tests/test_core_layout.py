"""The package's shape, read from its code: layers that import only downwards, stages that stand
alone, no import circle; the executor registry, the one clip format and offset grid, the root."""

from __future__ import annotations

import ast
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

import realsync_build
from realsync_build.core import avformat
from realsync_build.core.errors import UnsafePath
from realsync_build.core.executors.base import EXECUTORS, get_executor
from realsync_build.core.root import DatasetRoot, check_rel, resolve_root


def test_the_base_executor_module_imports_no_plugin():
    code = (
        "import sys, realsync_build.core.executors.base as b;"
        "print(sorted(m for m in sys.modules if m.startswith('realsync_build.core.executors.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['realsync_build.core.executors.base']"
    assert set(EXECUTORS) >= {"local", "inline", "ray"}
    assert type(get_executor("local", workers=2)).__name__ == "LocalExecutor"
    assert [r for _, r, _ in get_executor("inline").imap(abs, [-1, -2])] == [1, 2]
    with pytest.raises(ValueError, match="unknown executor 'slurm'"):
        get_executor("slurm")


def test_every_module_uses_the_one_clip_format_and_offset_grid():
    from realsync_build.core import segments
    from realsync_build.stages.annotate import decode
    from realsync_build.stages.preprocess import run as preprocess
    from realsync_build.streamsync import task

    assert (preprocess.FPS, preprocess.SAMPLE_RATE, preprocess.SHORT_SIDE) == (25, 16000, 256)
    assert decode.FPS is avformat.FPS and task.SAMPLE_RATE is avformat.SAMPLE_RATE
    assert segments.class_to_offset is avformat.class_to_offset and task.offset_to_class is avformat.offset_to_class
    assert [avformat.class_to_offset(c) for c in (0, 10, 20)] == [-2.0, 0.0, 2.0]
    assert all(avformat.offset_to_class(avformat.class_to_offset(c)) == c for c in range(avformat.NUM_CLASSES))
    for off_grid in (0.1, -2.2, 2.0000001 + 1e-3):
        with pytest.raises(ValueError, match="not on the 0.2 s grid"):
            avformat.offset_to_class(off_grid)


# the modules outside preprocess/annotate that need the clip format: each takes it from core/avformat.py
CLIP_FORMAT_USERS = (
    "models/syncnet.py",
    "monitor/model.py",
    "monitor/run.py",
    "monitor/source.py",
    "monitor/synth.py",
    "streamsync/data.py",
    "streamsync/synthetic.py",
    "streamsync/model/config.py",
)
FORMAT_NAMES = {"fps", "sample_rate", "sample_rate_hz", "sr", "n_classes", "num_classes"}


def _restated_format(path: Path) -> list[str]:
    """Numbers of the clip format written out again: 16000 / 640 anywhere, or a literal bound to an
    fps / sample-rate / class-count name (keyword, default, assignment)."""
    found = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and type(node.value) in (int, float) and node.value in (16000, 640):
            found.append(f"{path.name}:{node.lineno}: {node.value}")
        bound: list[tuple[str, ast.AST]] = []
        if isinstance(node, ast.keyword) and node.arg:
            bound.append((node.arg, node.value))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            bound.append((node.target.id, node.value))
        elif isinstance(node, ast.arguments):
            args = node.posonlyargs + node.args
            bound += [(a.arg, d) for a, d in zip(args[len(args) - len(node.defaults):], node.defaults)]
            bound += [(a.arg, d) for a, d in zip(node.kwonlyargs, node.kw_defaults) if d is not None]
        for name, value in bound:
            if name.lower() in FORMAT_NAMES and isinstance(value, ast.Constant) and type(value.value) in (int, float, str):
                found.append(f"{path.name}:{value.lineno}: {name}={value.value!r}")
    return found


def test_the_monitor_the_trainer_and_syncnet_take_the_clip_format_from_avformat():
    from realsync_build.models import syncnet
    from realsync_build.monitor.source import MediaSpec
    from realsync_build.streamsync.model import ModelConfig

    restated = [hit for rel in CLIP_FORMAT_USERS for hit in _restated_format(PACKAGE / rel)]
    assert restated == [], restated
    assert (MediaSpec().fps, MediaSpec().sample_rate) == (avformat.FPS, avformat.SAMPLE_RATE)
    assert (ModelConfig().fps, ModelConfig().sample_rate) == (avformat.FPS, avformat.SAMPLE_RATE)
    assert syncnet.FPS is avformat.FPS and syncnet.SAMPLES_PER_FRAME == avformat.SAMPLES_PER_FRAME


def test_the_root_is_a_small_picklable_reference_that_refuses_escaping_paths(tmp_path):
    ds = resolve_root(str(tmp_path / "r"))
    back = pickle.loads(pickle.dumps(ds))
    assert back == ds and back.url is None
    url_root = resolve_root("memory://bucket/ds")
    _ = url_root.store  # cached, yet not pickled
    again = pickle.loads(pickle.dumps(url_root))
    assert again.url == "memory://bucket/ds" and "store" not in again.__dict__
    assert check_rel("clips/a/b.mp4") == "clips/a/b.mp4"
    for bad in ("/etc/passwd", "../x", "clips/../../x", "", "C:/x"):
        with pytest.raises(UnsafePath):
            check_rel(bad)
    with pytest.raises(UnsafePath):
        DatasetRoot(Path(tmp_path)).abs("../../etc/passwd")



# ------------------------------------------------------------------ the import graph, from the code

PACKAGE = Path(realsync_build.__file__).parent
# core -> media, models -> stages -> streamsync -> monitor -> cli: an import may only point to a lower
# rank or stay in its own layer (media and models sit side by side and do not import each other).
RANK = {"core": 0, "media": 1, "models": 1, "stages": 2, "streamsync": 3, "monitor": 4, "cli": 5}
# the loose top-level modules and the layer they belong to
TOP_LEVEL = {"realsync_build": "core", "realsync_build.testdata": "core", "realsync_build.demo": "cli", "realsync_build.__main__": "cli"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(mods: dict[str, Path]) -> list[tuple[str, str, int]]:
    """``(importer, imported module, line)`` for every import of the package's own modules, at the top
    or inside a function; ``from pkg import sub`` counts as importing the submodule ``pkg.sub``."""
    edges = []
    for name, path in mods.items():
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".") if is_pkg else name.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in mods]
                targets = subs or [target]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            for target in targets:
                if target.split(".")[0] != "realsync_build":
                    continue
                while target not in mods:
                    target = target.rsplit(".", 1)[0]
                if target != name:
                    edges.append((name, target, node.lineno))
    return edges


def _layer(module: str) -> str:
    if module in TOP_LEVEL:
        return TOP_LEVEL[module]
    return module.split(".")[1]


MODULES = _modules()
EDGES = _imports(MODULES)


def test_the_graph_reader_sees_imports_inside_functions_and_submodules_imported_by_name():
    edges = {(a, b) for a, b, _ in EDGES}
    assert ("realsync_build.demo", "realsync_build.stages.split.run") in edges  # inside step_split()
    assert ("realsync_build.stages.annotate.clip", "realsync_build.stages.annotate.labels") in edges  # from ... import labels
    assert all(_layer(m) in RANK for m in MODULES), sorted(m for m in MODULES if _layer(m) not in RANK)


def test_no_stage_imports_another_stage():
    def stage(module: str) -> str | None:
        parts = module.split(".")
        return parts[2] if len(parts) > 2 and parts[1] == "stages" else None

    crossing = [f"{a}:{n} imports {b}" for a, b, n in EDGES if stage(a) and stage(b) and stage(a) != stage(b)]
    assert crossing == [], "\n".join(crossing)


def test_imports_point_only_down_the_layers():
    upward = [
        f"{a}:{n} ({_layer(a)}) imports {b} ({_layer(b)})"
        for a, b, n in EDGES
        if _layer(a) != _layer(b) and RANK[_layer(b)] >= RANK[_layer(a)]
    ]
    assert upward == [], "\n".join(upward)


def test_there_is_no_import_circle():
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for a, b, _ in EDGES:
        graph[a].add(b)
    # Tarjan's strongly connected components; any component of two or more modules is a circle
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                circles.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert circles == [], circles


# ------------------------------------------------------------------ one I/O owner, one writer per manifest

# A call that does manifest or file-placement I/O by itself: parquet in or out, a rename into place,
# or a Store of the root's URL.  Outside core/ these go through DatasetRoot (read / write /
# write_table / read_table / put / publish / write_text) and core.atomic (write_*, commit).
IO_CALLS = {("pq", "write_table"), ("pq", "read_table"), ("os", "replace"), ("os", "rename"), ("shutil", "move")}
IO_METHODS = {"read_parquet", "to_parquet"}
# the justified exceptions: module -> why (none today; the monitor's outputs go through core.atomic too)
IO_EXCEPTIONS: dict[str, str] = {}


def _io_calls(module: str, path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute) and node.attr == "store":
            found.append(f"{module}:{node.lineno}: .store (the root's URL store: use DatasetRoot's methods)")
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id == "Store":
            found.append(f"{module}:{node.lineno}: Store(...)")
        if not isinstance(func, ast.Attribute):
            continue
        owner = func.value.id if isinstance(func.value, ast.Name) else None
        if (owner, func.attr) in IO_CALLS or func.attr in IO_METHODS:
            found.append(f"{module}:{node.lineno}: {ast.unparse(func)}")
        elif func.attr in ("replace", "rename") and len(node.args) == 1 and not node.keywords:
            found.append(f"{module}:{node.lineno}: {ast.unparse(node)} (a rename into place: core.atomic.commit)")
    return found


def test_no_manifest_or_file_placement_io_outside_core_except_the_listed_ones():
    outside = {m: p for m, p in MODULES.items() if _layer(m) != "core" or m in TOP_LEVEL}
    found = [hit for m, p in outside.items() if m not in IO_EXCEPTIONS for hit in _io_calls(m, p)]
    assert found == [], "\n".join(found)
    assert all(_io_calls(m, MODULES[m]) for m in IO_EXCEPTIONS), "an exception that no longer does its own I/O: drop it"


def test_the_io_check_sees_what_it_is_for(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os, shutil\nimport pandas as pd\nimport pyarrow.parquet as pq\n"
        "def f(root, df, tmp, final):\n"
        "    pq.write_table(df, final); pd.read_parquet(final); df.to_parquet(final)\n"
        "    os.replace(tmp, final); shutil.move(tmp, final); tmp.replace(final)\n"
        "    root.store.exists('x'); 'a'.replace('a', 'b')\n"
    )
    assert len(_io_calls("sample", sample)) == 7


MANIFESTS = set(__import__("realsync_build.core.schema", fromlist=["SCHEMAS"]).SCHEMAS)
# Each manifest's one writer.  The driver (core/stage.py) writes every per-item manifest a StageSpec
# names (and takes planned items through core.stage.register); split's three go through
# stages/split/outputs.py for a drawn and an adopted split alike.
WRITERS = {
    "videos": "realsync_build.core.stage",
    "clips": "realsync_build.core.stage",
    "annotations": "realsync_build.core.stage",
    "intervals": "realsync_build.stages.annotate.outputs",
    "events": "realsync_build.stages.annotate.outputs",
    "tracks": "realsync_build.stages.annotate.outputs",
    "splits": "realsync_build.stages.split.outputs",
    "segments": "realsync_build.stages.split.outputs",
    "clip_splits": "realsync_build.stages.split.outputs",
    "shards": "realsync_build.stages.export.webdataset",
}
# writes whose manifest name is a variable: the module and the names it can hold
NAMED_BY_VARIABLE = {("realsync_build.stages.annotate.outputs", "write_table"): {"intervals", "events", "tracks"}}
WRITE_METHODS = {"write": 0, "write_table": 0, "write_named": 1, "write_table_named": 1}
IO_LAYER = {"realsync_build.core.root", "realsync_build.core.manifest", "realsync_build.core.stage"}


def _manifest_writes() -> dict[str, set[str]]:
    """manifest name -> the modules that write it (by name, through a StageSpec, or a listed variable)."""
    writers: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            if name in ("StageSpec", "complete"):  # a step's declaration: the driver writes its manifest
                for kw in node.keywords:
                    if kw.arg == "manifest" and isinstance(kw.value, ast.Constant):
                        writers.setdefault(kw.value.value, set()).add("realsync_build.core.stage")
            if name not in WRITE_METHODS or len(node.args) <= WRITE_METHODS[name]:
                continue
            arg = node.args[WRITE_METHODS[name]]
            if isinstance(arg, ast.Constant) and arg.value in MANIFESTS:
                writers.setdefault(arg.value, set()).add(module)
            elif not isinstance(arg, ast.Constant) and module not in IO_LAYER and (module, name) in NAMED_BY_VARIABLE:
                for m in NAMED_BY_VARIABLE[(module, name)]:
                    writers.setdefault(m, set()).add(module)
    return writers


def test_every_manifest_has_one_writer():
    writers = _manifest_writes()
    assert {m: sorted(w) for m, w in writers.items()} == {m: [w] for m, w in WRITERS.items()}
    assert set(WRITERS) == MANIFESTS


# ------------------------------------------------------------------ rooms you can read: named steps under 60 lines

SPLIT_LONG_FUNCTIONS = {  # the functions issue 21 split (train._run was 184 lines), and every step they became
    "realsync_build.streamsync.train": "_run",
    "realsync_build.cli.fetch": "fetch",
    "realsync_build.stages.split.adopt": "compute_adoption",
    "realsync_build.stages.preprocess.run": "_preprocess",
    "realsync_build.models.catalog": "entries",
    "realsync_build.core.stage": "run_stage",
}
STILL_LONG = {("realsync_build.stages.preprocess.run", "build_ffmpeg_args")}  # one filter graph, read top to bottom
MAX_FUNCTION_LINES = 60


def test_the_longest_functions_are_named_steps_under_60_lines():
    too_long = []
    for module, name in SPLIT_LONG_FUNCTIONS.items():
        tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
        found = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]
        assert name in {n.name for n in found}, (module, name)
        for n in found:  # the function, its new steps, and everything else in its module
            lines = n.end_lineno - n.lineno + 1
            if lines >= MAX_FUNCTION_LINES and (module, n.name) not in STILL_LONG:
                too_long.append(f"{module}.{n.name}: {lines} lines")
    assert too_long == [], too_long
