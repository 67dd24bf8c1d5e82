"""Test helper for the monitor tests: run the CLI as a subprocess under this checkout."""

from __future__ import annotations

import os
import subprocess
import sys


def _env() -> dict:
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join([root, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def realsync(*args, timeout: float = 180, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "realsync_build", *map(str, args)], capture_output=True, text=True, env=_env(),
                          timeout=timeout, **kw)
