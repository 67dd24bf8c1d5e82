"""core/: the executor registry has no import cycle, the clip format and the offset grid live in one place."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import pytest

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
    from realsync_build.stages import preprocess
    from realsync_build.stages.annotate import decode
    from realsync_build.stages.split import segments
    from realsync_build.streamsync import task

    assert (preprocess.FPS, preprocess.SAMPLE_RATE, preprocess.SHORT_SIDE) == (25, 16000, 256)
    assert decode.FPS is avformat.FPS and task.SAMPLE_RATE is avformat.SAMPLE_RATE
    assert segments.class_of_offset is task.offset_to_class is avformat.offset_to_class
    assert [avformat.class_to_offset(c) for c in (0, 10, 20)] == [-2.0, 0.0, 2.0]
    assert all(avformat.offset_to_class(avformat.class_to_offset(c)) == c for c in range(avformat.NUM_CLASSES))
    for off_grid in (0.1, -2.2, 2.0000001 + 1e-3):
        with pytest.raises(ValueError, match="not on the 0.2 s grid"):
            avformat.offset_to_class(off_grid)


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
