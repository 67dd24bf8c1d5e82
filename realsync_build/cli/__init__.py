"""The ``realsync`` command line: a thin Typer layer over the library.

Each stage's commands live in their own module here and register on
:data:`app` when imported; everything they do is callable from Python.
"""

from __future__ import annotations

import importlib

from realsync_build.cli.common import app

# One module per stage; each adds its commands to ``app``.
COMMAND_MODULES = (
    "fetch",
    "preprocess",
    "annotate",
    "models",
    "split",
    "export",
    "stats",
    "status",
    "train",
    "demo",
    "config",
    "monitor",
)

for _name in COMMAND_MODULES:
    importlib.import_module(f"realsync_build.cli.{_name}")


def main() -> None:
    # errors from core/errors.py (RealsyncError) become one line and their exit code in
    # RealsyncGroup.main, so `python -m realsync_build`, the script and CliRunner agree
    app(prog_name="realsync")  # also under `python -m realsync_build`: one name in usage lines and completion


__all__ = ["app", "main"]
