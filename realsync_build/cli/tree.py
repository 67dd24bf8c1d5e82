"""The command tree, walked, and click's classes from wherever this typer keeps them.

Shared by :mod:`realsync_build.cli.configfile` (config files) and :mod:`realsync_build.cli.values`
(the numeric rules), which must not import each other."""

from __future__ import annotations

from typing import Iterator

from typer.core import TyperGroup

try:  # typer >= 0.20 carries its own copy of click's core; older typer uses click itself
    from typer._click.core import Command, Context, ParameterSource
    from typer._click.exceptions import BadParameter, MissingParameter, UsageError
except ImportError:  # pragma: no cover
    from click.core import Command, Context, ParameterSource
    from click.exceptions import BadParameter, MissingParameter, UsageError

__all__ = ["BadParameter", "Command", "Context", "MissingParameter", "ParameterSource", "UsageError", "walk"]


def walk(group: TyperGroup, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Command]]:
    """Every command and group under ``group`` with its path of names (the root's is ())."""
    yield path, group
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, TyperGroup):
            yield from walk(cmd, path + (name,))
        else:
            yield path + (name,), cmd
