"""``realsync config show | init``: the effective options of a command and a commented template.

The mechanism itself (``--config FILE.toml`` on every command) is in :mod:`realsync_build.cli.configfile`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from typer.core import TyperGroup

from realsync_build.cli import configfile
from realsync_build.cli.configfile import Command, Context, MissingParameter, ParameterSource, UsageError
from realsync_build.cli.common import app, fail
from realsync_build.core.ui import console

config_app = typer.Typer(
    name="config",
    help=(
        "Config files: `realsync config init` writes a commented template, `realsync config show` prints the "
        "effective options of a command and where each value came from (default, file, env, flag).\n\n"
        "Any command takes --config FILE.toml (or $REALSYNC_CONFIG): a shared top level (root, workers) and "
        "one table per command ([preprocess], [annotate], [export.webdataset], ...); flags override the file."
    ),
    no_args_is_help=True,
)
app.add_typer(config_app, name="config")


@config_app.command(
    "show",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
)
def show(
    ctx: typer.Context,
    command: Annotated[
        Optional[list[str]],
        typer.Argument(
            help="The command and, if you like, its flags: `preprocess --clip-seconds 5`, `export webdataset`. "
            "Default: every command.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Print the options a command would run with, and where each value comes from.

    Example: realsync config show preprocess --config rs.toml --crf 20
    """
    root_ctx = ctx.find_root()
    root_cmd = root_ctx.command
    args = list(command or []) + list(ctx.args)
    config_file = ctx.meta.get(configfile.META_FILE) or _own_config(args)
    legacy = {v for _, values in configfile.LEGACY_CONFIG.values() for v in values}  # train --config tiny
    if config_file and not (config_file in legacy and not Path(config_file).is_file()):
        # read it here: the contexts below parse resiliently and would swallow its errors
        configfile.build_default_map(root_cmd, configfile.load_toml(config_file), config_file)
    leaves = configfile.leaves(root_cmd)
    if not args or args[0].startswith("-"):
        targets = [(p, []) for p in leaves if p[0] != "config"]
        extra = args
    else:
        path, rest = _resolve(root_cmd, args)
        targets, extra = [(path, rest)], []
    if extra and any(a != "--config" and not a.endswith(".toml") for a in extra):
        fail("flags go after a command name: realsync config show COMMAND [FLAGS]")
    out = []
    for path, rest in targets:
        sub = _context_for(root_ctx, path, rest, config_file)
        out.append(f"[{'.'.join(path)}]")
        for name, value, where in parameter_rows(sub):
            text = toml_value(value)
            out.append(f"{name} = {text if text is not None else '(unset)'}   # {where}")
        out.append("")
    typer.echo("\n".join(out).rstrip())


def _own_config(args: list[str]) -> str | None:
    for i, a in enumerate(args):
        if a == "--config" and i + 1 < len(args):
            return args[i + 1]
        if a.startswith("--config="):
            return a.split("=", 1)[1]
    return None


def _resolve(root_cmd: TyperGroup, args: list[str]) -> tuple[tuple[str, ...], list[str]]:
    cmd: Command = root_cmd
    path: list[str] = []
    while isinstance(cmd, TyperGroup) and args and not args[0].startswith("-"):
        name, args = args[0], args[1:]
        sub = cmd.commands.get(name)
        if sub is None:
            fail(f"no command {' '.join(path + [name])!r}; see `realsync --help`")
        cmd, path = sub, path + [name]
    if isinstance(cmd, TyperGroup):
        fail(f"`{' '.join(path)}` has subcommands: {', '.join(sorted(cmd.commands))}")
    return tuple(path), args


def _context_for(root_ctx: Context, path: tuple[str, ...], args: list[str], config_file: str | None) -> Context:
    """The context ``realsync PATH ARGS`` would run with (parsed, not run)."""
    # the root's default_map carries what options before the subcommand set (--no-progress, --config)
    parent = Context(root_ctx.command, info_name="realsync", resilient_parsing=True, default_map=root_ctx.default_map)
    parent.meta.update({k: dict(v) if isinstance(v, dict) else v for k, v in root_ctx.meta.items()})
    cmd: Command = root_ctx.command
    for name in path:
        cmd = cmd.commands[name]  # type: ignore[attr-defined]
        parent = Context(cmd, info_name=name, parent=parent, resilient_parsing=True)
    if config_file and "--config" not in args and not any(a.startswith("--config=") for a in args):
        args = ["--config", config_file, *args]
    try:  # a strict parse first: a value the command would refuse (--crf nan, a bad file value) is refused here too
        cmd.make_context(path[-1], list(args), parent=parent.parent)
    except UsageError as exc:
        if not isinstance(exc, MissingParameter):  # a required option of the command: show it as (unset)
            fail(exc.format_message())
    try:
        return cmd.make_context(path[-1], list(args), parent=parent.parent, resilient_parsing=True)
    except UsageError as exc:
        fail(exc.format_message())
        raise


@config_app.command("init")
def init(
    path: Annotated[
        Path, typer.Argument(help="File to write; - prints it.", show_default=True)
    ] = Path("realsync.toml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented config file: every command's options at their defaults, ready to uncomment."""
    from realsync_build.core import atomic

    text = template(typer.main.get_command(app)) + "\n"  # type: ignore[arg-type]
    if str(path) == "-":
        sys.stdout.write(text)
        return
    if path.exists() and not force:
        fail(f"{path} exists (--force overwrites it)")
    atomic.write_bytes(path, text.encode())
    console.print(f"wrote {path}: uncomment what you change, then run any command with --config {path}", highlight=False)


# ---------------------------------------------------------------- show and init helpers


def parameter_rows(ctx: Context) -> list[tuple[str, Any, str]]:
    """(name, value, source) for each option of the command ``ctx`` was made for."""
    origin = ctx.meta.get(configfile.META_ORIGIN, {})
    path = configfile._path_of(ctx)
    rows = []
    for name, p in configfile.file_keys(ctx.command).items():
        value = ctx.params.get(name)
        src = ctx.get_parameter_source(name)
        if src == ParameterSource.COMMANDLINE:
            where = "flag"
        elif src == ParameterSource.ENVIRONMENT:
            where = f"env {p.envvar}" if getattr(p, "envvar", None) else "env"
        elif src == ParameterSource.DEFAULT_MAP:
            where = origin.get((path, name), "deprecated --config value" if path in configfile.LEGACY_CONFIG else "file")
        else:
            where = "default"
        if name == "root" and value is None:
            env = os.environ.get("REALSYNC_ROOT")
            value, where = (env, "env REALSYNC_ROOT") if env else ("realsync-data", "default")
        rows.append((name, value, where))
    return rows


def toml_value(value: Any) -> str | None:
    """``value`` as a TOML literal, or None when TOML cannot say it (no default)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        items = [toml_value(v) for v in value]
        return "[" + ", ".join(i for i in items if i is not None) + "]"
    s = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{s}"'


def default_of(p: typer.CallbackParam) -> Any:
    d = p.default
    if callable(d):
        try:
            d = d()
        except Exception:  # noqa: BLE001 - a dynamic default: leave it out
            return None
    if type(d).__name__ in ("Sentinel", "_Missing", "UnsetType") or repr(d) in ("Sentinel.UNSET", "UNSET"):
        return None
    if hasattr(d, "value") and not isinstance(d, (str, int, float)):  # an Enum
        d = d.value
    if d == () and getattr(p, "multiple", False):
        return None
    return d


def _cores() -> int:
    from realsync_build.core.executors.base import default_workers

    return default_workers()


# Values shown for options that have no default: commented out like the rest, uncommented they are
# valid for the option (the test uncomments every line and runs `config show`).  Per (command, key),
# else per key.  An option without a default and without an example here fails that test.
EXAMPLES: dict[tuple[str, ...] | str, Any] = {
    "workers": 4, "ray_address": "auto", "models_dir": "models", "gpus_per_task": 0.25, "only": "events",
    ("evaluate", "checkpoint"): "runs/streamsync-base/best.pt", ("evaluate", "out"): "report/eval-test", "max_segments": 100,
    "pretrained": "sparsesync-vggsound", ("export", "streamsync", "out"): "streamsync", ("export", "streamsync", "name"): "realsync",
    "channels": "channels.toml", "channel": "https://www.youtube.com/@CNN/videos", ("fetch", "name"): "CNN",
    ("fetch", "from_list"): ["sports_and_news_normal.test.csv"], "min_kbps": 250.0, "max_kbps": 12000.0, "limit_rate": "4M",
    "cookies": "cookies.txt", "extractor": ["my_plugins:MySiteIE"], "names": ["syncnet"], "for_command": "annotate",
    ("monitor", "input"): "rtmp://example.com/live/stream", ("monitor", "checkpoint"): "runs/streamsync-base/best.pt",
    "model": "sparsesync-vggsound", "reference_audio": "original_mix.wav", "reference_video_offset": 0.0, "jsonl": "offsets.jsonl",
    "report": "monitor-report", "window": 5.0, "threads": 2, ("preprocess", "input"): "sources",
    ("split", "from_list"): ["sports_and_news_normal.test.csv"], "as_split": ["test"], "cap": 2000,
    "skip_list": ["sports_and_news_normal.skip_id_list.txt"], ("train", "out"): "runs/streamsync-base", "max_steps": 1000,
    "init_from": "sparsesync-vggsound", "role": ["test"], "distribution": "normal",
    # train's recipe settings (no default: the recipe decides); the examples are the paper recipe's, the schedule steps the repo's
    ("train", "phase1_steps"): 500, ("train", "batch_size"): 16, ("train", "lr"): 4e-5, ("train", "accumulation"): 1,
    ("train", "optimizer"): "adam", ("train", "adam_eps"): 1e-7, ("train", "weight_decay"): 0.0, ("train", "lr_schedule"): "linear",
    ("train", "warmup_steps"): 500, ("train", "constant_steps"): 5000, ("train", "decay_steps"): 7000,
    ("train", "k_placement"): "uniform", ("train", "audio_frontend"): "window", ("train", "window_start"): "listed",
}  # fmt: skip


def example_of(path: tuple[str, ...], name: str) -> Any:
    """The example for an option without a default, or None when there is none."""
    for key in (path + (name,), name):
        if key in EXAMPLES:
            return EXAMPLES[key]
    return None


def _comment(text: str, width: int = 96) -> list[str]:
    """Help text as ``## `` lines: a second ``#`` so that uncommenting the settings (``# key = v``) leaves them comments."""
    import textwrap

    return ["## " + line for line in textwrap.wrap(text, width - 3, break_on_hyphens=False)] or ["##"]


def template(root: TyperGroup) -> str:
    """A commented config file: every command's options at their defaults (or an example when an option
    has none), each under its whole help text.  Settings are ``# key = value`` lines and help lines
    start with ``##``, so uncommenting every setting gives a valid file."""
    cores = _cores()
    lines = [
        *_comment("realsync config file (TOML). Uncomment (remove '# ') what you want to change."),
        *_comment("Precedence: built-in default < top level < [command] table < a flag on the command line."),
        *_comment("Use it with --config FILE on any command, or set $REALSYNC_CONFIG; check with `realsync config show`."),
        "",
        *_comment("Shared: applies to every command that has the option."),
        *_comment("--root: dataset root (a folder or an fsspec URL); default: $REALSYNC_ROOT, else ./realsync-data."),
        '# root = "realsync-data"',
        *_comment(f"--workers: parallel worker processes; default: the number of CPU cores ({cores} here)."),
        f"# workers = {cores}",
        "",
    ]
    for path, cmd in configfile.leaves(root).items():
        keys = {k: p for k, p in configfile.file_keys(cmd).items() if k != "root" and not getattr(p, "hidden", False)}
        if not keys or path[0] == "config":
            continue
        lines.append(f"[{'.'.join(path)}]")
        for name, p in keys.items():
            text = toml_value(default_of(p))
            helptext = " ".join((getattr(p, "help", "") or "").replace("\\[", "[").split())
            flag = next((o for o in getattr(p, "opts", []) if o.startswith("--")), name)
            if text is None:
                example = example_of(path, name)
                text = toml_value(example) if example is not None else '""'
                helptext += " (No default; the value below is an example.)"
            lines += _comment(f"{flag}: {helptext}")
            lines.append(f"# {name} = {text}")
        lines.append("")
    return "\n".join(lines)
