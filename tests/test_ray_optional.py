"""``--executor ray`` without Ray installed: one clear line, no traceback (runs without ray)."""

from __future__ import annotations

import sys

import pytest
from typer.testing import CliRunner

from realsync_build.cli import app
from realsync_build.core.executors.base import get_executor
from realsync_build.media.synth import make_source


@pytest.fixture
def no_ray(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError


def test_get_executor_without_ray_says_how_to_install(no_ray):
    with pytest.raises(RuntimeError, match=r"pip install 'realsync\[ray\]'"):
        get_executor("ray")


def test_cli_without_ray_is_one_line(no_ray, tmp_path):
    make_source(tmp_path / "src" / "c" / "v.mp4", 2.0, width=160, height=120)
    result = CliRunner().invoke(
        app, ["preprocess", "--root", str(tmp_path / "d"), "--input", str(tmp_path / "src"), "--executor", "ray", "--no-progress"]
    )
    assert result.exit_code == 1
    out = result.output.strip()
    assert "Traceback" not in out
    assert "pip install 'realsync[ray]'" in out


def test_unreachable_address_fails_fast():
    import socket

    from realsync_build.core.executors.ray import check_reachable

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again below: nobody listens there
    with pytest.raises(RuntimeError, match=rf"cannot reach the Ray cluster at 127.0.0.1:{port}"):
        check_reachable(f"127.0.0.1:{port}", timeout_s=2)
    check_reachable("auto")  # left to Ray
