"""Options every command shares, added in one place: ``--config FILE.toml`` and ``--no-progress``.

A config file has a shared top level and one table per command::

    root = "/data/realsync"          # any command that has --root
    workers = 8                      # any command that has --workers

    [preprocess]
    clip_seconds = 10

    [export.webdataset]              # a subcommand: a nested table
    shard_size = "500MB"

Keys are the option names without the leading dashes (``clip-seconds`` or ``clip_seconds``).
Precedence, lowest first: the built-in default, the file's top level, the command's table,
a flag on the command line.  The mechanism is click's ``default_map``: an eager ``--config``
option loads the file before any other option of the command is read, so the commands'
own code does not change.  ``--config`` is accepted before the subcommand
(``realsync --config rs.toml preprocess``) and after it (``realsync preprocess --config rs.toml``);
``$REALSYNC_CONFIG`` names a file when no ``--config`` is given.

Relative paths in the file are read like the same flag: relative to the working directory.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from typer.core import TyperGroup

from realsync_build.cli.tree import BadParameter, Command, Context, MissingParameter, ParameterSource, UsageError, walk  # noqa: F401

from realsync_build.cli import values
from realsync_build.core.errors import UserError

CONFIG_ENV = "REALSYNC_CONFIG"
META_FILE = "realsync.config_file"  # ctx.meta: the config file in effect
META_ORIGIN = "realsync.config_origin"  # ctx.meta: {(command path, key): "FILE [table]"}
NOT_KEYS = {"config", "help", "version", "dry_run", "json_out"}  # options that make no sense in a file (one-off actions)

# Commands whose --config once meant something else; kept for one release with a warning.
# {command path: (parameter it fills, values that mean the old thing)}
LEGACY_CONFIG = {("train",): ("model_size", ("tiny", "base"))}


# ---------------------------------------------------------------- walking the command tree


def leaves(group: TyperGroup) -> dict[tuple[str, ...], Command]:
    return {p: c for p, c in walk(group) if not isinstance(c, TyperGroup)}


def file_keys(cmd: Command) -> dict[str, typer.CallbackParam]:
    """The parameters a config file may set for ``cmd``, by name."""
    return {p.name: p for p in cmd.params if p.name and p.expose_value and p.name not in NOT_KEYS}


def _norm(key: str) -> str:
    return key.strip().lstrip("-").replace("-", "_")


# ---------------------------------------------------------------- loading a file


def load_toml(path: str | Path) -> dict[str, Any]:
    """The config file's table; not found, unreadable, not UTF-8, nested too deep or not TOML: one line, exit 2."""
    from realsync_build.core.textfiles import load_toml as load_checked

    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file not found: {path} (write a template with `realsync config init {path}`)")
    try:
        return load_checked(path)  # a TextFileError is a UserError already
    except OSError as exc:
        raise UserError(f"cannot read config file {path}: {exc}") from None


def build_default_map(root: TyperGroup, data: dict[str, Any], label: str) -> tuple[dict, dict]:
    """The file's values as a nested click ``default_map`` and, per (path, key), where each came from.

    Raises :class:`UserError` for a table that is no command or a key that is no option of its
    command, naming what is allowed, so a typo never passes silently.
    """
    cmds = dict(walk(root))
    all_leaves = leaves(root)
    shared_ok = {k for c in all_leaves.values() for k in file_keys(c)}
    default_map: dict = {}
    origin: dict = {}

    def node(path: tuple[str, ...]) -> dict:
        d = default_map
        for name in path:
            d = d.setdefault(name, {})
        return d

    shared = {}
    for key, value in data.items():
        if isinstance(value, dict):
            continue
        k = _norm(key)
        if k not in shared_ok:
            raise UserError(
                f"{label}: top-level key {key!r} is no option of any command; "
                f"shared keys are options such as root, workers (or put it in a [command] table)"
            )
        shared[k] = value
    for path, cmd in all_leaves.items():
        keys = file_keys(cmd)
        for k, value in shared.items():
            if k in keys:
                _check_file_value(label, keys[k], k, value)
                node(path)[k] = value
                origin[(path, k)] = f"file {label}, top level"

    def visit(table: dict, path: tuple[str, ...]) -> None:
        cmd = cmds.get(path)
        if cmd is None:
            known = ", ".join(sorted(".".join(p) for p in all_leaves))
            raise UserError(f"{label}: [{'.'.join(path)}] is no command; tables are: {known}")
        keys = file_keys(cmd) if not isinstance(cmd, TyperGroup) else {}
        for key, value in table.items():
            if isinstance(value, dict) and isinstance(cmd, TyperGroup):
                visit(value, path + (key,))
                continue
            k = _norm(key)
            if k not in keys:
                where = ".".join(path)
                raise UserError(f"{label}: [{where}] has no option {key!r}; known: {', '.join(sorted(keys)) or '(none)'}")
            _check_file_value(label, keys[k], key, value)
            node(path)[k] = value
            origin[(path, k)] = f"file {label} [{'.'.join(path)}]"

    for key, value in data.items():
        if isinstance(value, dict):
            visit(value, (key,))
    return default_map, origin


def _check_file_value(label: str, param, key: str, value: Any) -> None:
    """A numeric option's value in a file is a number or a string (``"1GB"``): TOML's true/false
    would be read as 1/0 and an array or table is no number.  The value itself is checked by the
    option's rule when the command reads it (:mod:`realsync_build.cli.values`)."""
    if values.rule_of(param) is not None and (isinstance(value, (bool, list, dict)) or value is None):
        raise UserError(f"{label}: {key} = {value!r} is not a number (the option {values.flag_of(param)} takes one)")


def _path_of(ctx: Context) -> tuple[str, ...]:
    names = []
    while ctx.parent is not None:
        names.append(ctx.info_name)
        ctx = ctx.parent
    return tuple(reversed(names))


def _merge(base: dict | None, extra: dict) -> dict:
    out = dict(base or {})
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def _config_callback(ctx: typer.Context, param: typer.CallbackParam, value: Optional[str]) -> None:
    if not value:
        return
    path = _path_of(ctx)
    legacy = LEGACY_CONFIG.get(path)
    if legacy and value in legacy[1] and not Path(value).is_file():
        from realsync_build.core.ui import console

        opt = "--" + legacy[0].replace("_", "-")
        console.print(
            f"[yellow]warning:[/yellow] `--config {value}` is deprecated and will be removed in the next release: "
            f"use `{opt} {value}` (--config now names a TOML config file)",
            highlight=False,
            soft_wrap=True,
        )
        ctx.default_map = _merge(ctx.default_map, {legacy[0]: value})
        return
    root = ctx.find_root().command
    label = str(value)
    data = load_toml(value)  # a bad file: UserError, one line and exit 2 (RealsyncGroup.main)
    full, origin = build_default_map(root, data, label)
    sub = full
    for name in path:
        sub = sub.get(name, {}) if isinstance(sub, dict) else {}
    ctx.default_map = _merge(ctx.default_map, sub)
    ctx.meta[META_FILE] = label
    ctx.meta.setdefault(META_ORIGIN, {}).update({(p, k): o for (p, k), o in origin.items() if p[: len(path)] == path})


def _progress_callback(ctx: typer.Context, param: typer.CallbackParam, value: bool) -> None:
    """--no-progress on a group (or a command without bars): passed down to every command below."""
    if value is False and ctx.get_parameter_source(param.name) == ParameterSource.COMMANDLINE:
        ctx.meta["realsync.no_progress"] = True
        cmd = ctx.command
        if isinstance(cmd, TyperGroup):
            inject = {}
            here = _path_of(ctx)
            origin = ctx.meta.setdefault(META_ORIGIN, {})
            for path, leaf in leaves(cmd).items():
                if "progress" in file_keys(leaf):
                    d = inject
                    for name in path:
                        d = d.setdefault(name, {})
                    d["progress"] = False
                    origin[(here + path, "progress")] = "flag, before the command"
            ctx.default_map = _merge(ctx.default_map, inject)


def _shared_params(envvar: str | None) -> dict[str, Any]:
    """--config and --progress/--no-progress, built by typer itself (so they behave like every other option)."""
    config = typer.Option(
        "--config",
        metavar="FILE.toml",
        envvar=envvar,
        show_envvar=False,
        is_eager=True,
        expose_value=False,
        callback=_config_callback,
        help="TOML config file: a shared top level (root, workers) and one \\[command] table; flags override it "
        "(see `realsync config show`)." + (" Default: $REALSYNC_CONFIG." if envvar else ""),
    )
    progress = typer.Option("--progress/--no-progress", expose_value=False, callback=_progress_callback, help="Show progress bars.")

    def _shared(config=None, progress=True) -> None:  # pragma: no cover - never invoked
        pass

    # real objects, not strings: this module uses postponed annotations
    _shared.__annotations__ = {"config": Annotated[Optional[str], config], "progress": Annotated[bool, progress], "return": None}
    dummy = typer.Typer()
    dummy.command()(_shared)
    return {p.name: p for p in typer.main.get_command(dummy).params}


def decorate(group: TyperGroup) -> None:
    """Give every command and group under ``group`` the shared options and flag display."""
    for path, cmd in walk(group):
        names = {p.name for p in cmd.params}
        opts = {o for p in cmd.params for o in getattr(p, "opts", [])}
        shared = _shared_params(CONFIG_ENV if not isinstance(cmd, TyperGroup) else None)
        if "--config" not in opts and path != ("config", "show"):  # show passes --config on to the command it shows
            cmd.params.append(shared["config"])
        if "progress" not in names:
            cmd.params.append(shared["progress"])
        values.install(path, cmd)  # every numeric option: finite, in range (one line, exit 2)
        for p in cmd.params:
            if getattr(p, "is_flag", False):
                p.metavar = ""  # a flag takes no value: show none (typer shows <bool> otherwise)
            elif getattr(p, "count", False):
                p.metavar = ""  # -v, -vv: no value either
        cmd.get_help_option = _flag_help_option(cmd.get_help_option)


def _flag_help_option(original):
    def get_help_option(ctx):
        opt = original(ctx)
        if opt is not None:
            opt.metavar = ""  # --help is a flag too
        return opt

    return get_help_option


class RealsyncGroup(TyperGroup):
    """The root group: adds the shared options to every command once the tree is built, and
    turns a :class:`RealsyncError` raised anywhere (a callback, a command) into one line and its exit code."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        decorate(self)

    def make_context(self, *args, **kwargs):
        with _usage_errors_in_one_line():
            return super().make_context(*args, **kwargs)

    def get_params(self, ctx):
        params = super().get_params(ctx)
        for p in params:  # typer appends --install-completion / --show-completion after the tree is built
            if getattr(p, "is_flag", False):
                p.metavar = ""
        return params

    def invoke(self, ctx):
        with _usage_errors_in_one_line():
            return super().invoke(ctx)

    def main(self, *args, **kwargs):
        from realsync_build.core.errors import RealsyncError

        try:
            return super().main(*args, **kwargs)
        except RealsyncError as exc:
            if not kwargs.get("standalone_mode", True):
                raise
            from rich.markup import escape

            from realsync_build.core.ui import error

            error(f"[red]error:[/red] {escape(str(exc))}")
            sys.exit(exc.exit_code)


@contextlib.contextmanager
def _usage_errors_in_one_line():
    """click's usage errors (no such option, a bad value, a missing option) as one line, exit 2,
    like every other usage error of realsync (not click's boxed three-line block)."""
    try:
        yield
    except UsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # `realsync models`: show the help, as click does
            raise
        from rich.markup import escape

        from realsync_build.core.ui import error

        where = exc.ctx.command_path if exc.ctx is not None else "realsync"
        message = exc.format_message()
        param = getattr(exc, "param", None)
        if exc.ctx is not None and param is not None and exc.ctx.get_parameter_source(param.name) == ParameterSource.DEFAULT_MAP:
            message += f" (the value comes from the config file {exc.ctx.meta.get(META_FILE, '')}, key {param.name})"
        error(f"[red]error:[/red] {escape(message)} (see `{escape(where)} --help`)")
        raise typer.Exit(exc.exit_code) from None
