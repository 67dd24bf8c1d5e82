"""The Typer app and the options every stage shares."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from realsync_build import __version__
from realsync_build.cli.configfile import RealsyncGroup
from realsync_build.core.errors import UserError
from realsync_build.core.executors.base import default_workers  # the one default of --workers
from realsync_build.core.root import DatasetRoot, resolve_root
from realsync_build.core.stage import RunOptions, StageReport, print_report
from realsync_build.core.ui import console

class _OneLineErrors(RealsyncGroup):
    """(On top of RealsyncGroup: --config/--no-progress everywhere, one-line usage errors.)
    Every command's :class:`~realsync_build.core.errors.RealsyncError` (and an environment
    ``OSError``: read-only, disk full) becomes one line and its exit code, never a traceback."""

    def invoke(self, ctx):
        from realsync_build.core.errors import EXIT_INTERRUPTED, Interrupted, RealsyncError

        try:
            return super().invoke(ctx)
        except Interrupted as exc:  # Ctrl-C in a stage: its summary, then one line; exit 130
            if exc.report is not None:
                print_report(exc.report)
            console.print(f"[yellow]{escape(str(exc))}[/yellow]", highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except KeyboardInterrupt:  # Ctrl-C anywhere else (listing a channel, a model download)
            console.print("[yellow]stopped by Ctrl-C[/yellow]; rerun the same command to go on", highlight=False)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except RealsyncError as exc:
            fail(str(exc), code=exc.exit_code)
        except OSError as exc:
            if exc.errno in ENV_ERRNOS:
                where = f" ({exc.filename})" if exc.filename else ""
                fix = "free some space" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else "check the permissions or choose another --root"
                fail(f"{exc.strerror or exc}{where}: writes are atomic, so nothing partial was left; {fix} and rerun", code=1)
            raise


ENV_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT}

app = typer.Typer(
    name="realsync",
    cls=_OneLineErrors,  # a RealsyncGroup: adds --config FILE.toml and --no-progress to every command
    help=(
        "Build RealSync-style audio-visual synchronisation datasets and train StreamSync on them.\n\n"
        "Pipeline: fetch -> preprocess -> annotate -> split -> export -> train / evaluate, stats.\n"
        "Every stage reads and writes under one dataset root (--root, $REALSYNC_ROOT, default ./realsync-data)."
    ),
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish, PowerShell)
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"realsync {__version__}")  # stdout: `realsync --version | ...` works
        raise typer.Exit()


@app.callback()
def _root_callback(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
    quiet: Annotated[
        bool, typer.Option("-q", "--quiet", help="Errors only on stderr: no progress bars, notes or warnings. Results still go to stdout.")
    ] = False,
    verbose: Annotated[
        int, typer.Option("-v", "--verbose", count=True, help="Debug lines on stderr too (each item's outcome and time, the plan of a run).", show_default=False)
    ] = 0,
) -> None:
    """Results (tables, plans, JSON) go to stdout; logs, progress and errors to stderr."""
    from realsync_build.core.ui import NORMAL, QUIET, VERBOSE, set_verbosity

    if quiet and verbose:
        fail("give -q/--quiet or -v/--verbose, not both")
    set_verbosity(QUIET if quiet else VERBOSE if verbose else NORMAL)
    ctx.call_on_close(lambda: set_verbosity(NORMAL))  # an in-process caller (tests, notebooks) gets the default back


RootOpt = Annotated[
    Optional[str],  # a str, not a Path: Path("s3://b/x") would collapse the "//" of a URL
    typer.Option(
        "--root",
        help="Dataset root: a folder or an fsspec URL such as s3://bucket/ds (default: $REALSYNC_ROOT, else ./realsync-data).",
        show_default=False,
    ),
]
WORKERS_HELP = "Parallel worker processes (default: the number of CPU cores this process may use)."
WorkersOpt = Annotated[Optional[int], typer.Option("--workers", min=1, help=WORKERS_HELP, show_default=False)]
ExecutorOpt = Annotated[
    str,
    typer.Option(
        "--executor",
        help="Where items run: local (a process pool on this machine), ray (Ray tasks, see --ray-address; "
        "needs pip install 'realsync\\[ray]') or inline (one at a time in this process, for debugging).",
    ),
]
RayAddressOpt = Annotated[
    Optional[str],
    typer.Option(
        "--ray-address",
        help="Ray cluster to run on: auto (the cluster this machine belongs to), HOST:PORT (its head node), "
        "or ray://HOST:10001 (Ray Client; needs pip install 'ray\\[client]'). Default: start a private local Ray for this run and stop it after.",
    ),
]
CATEGORIES = ("news", "sports", "unknown")


def CategoryOpt(help: str):  # noqa: N802 - used like the *Opt aliases
    """--category, the same values and default (unknown: not given) in fetch and preprocess."""
    return typer.Option("--category", help=f"{help}: news, sports or unknown (not given).")


def DistributionOpt(what: str):  # noqa: N802 - used like the *Opt aliases
    """--distribution, the published lists' offset distribution (fetch, split, export streamsync)."""
    return typer.Option(
        "--distribution",
        metavar="normal|uniform",
        help="Offset distribution of the published StreamSync lists: normal (sports_and_news_normal.*, offsets on the "
        "0.2 s grid, half of them 0) or uniform (sports_and_news_uniform.*, continuous offsets; the StreamSync loader's "
        f"default). {what}",
    )


def check_category(category: str) -> None:
    if category not in CATEGORIES:
        fail(f"--category {category!r}: use news, sports or unknown")


RetryOpt = Annotated[bool, typer.Option("--retry-failed", help="Run again the items whose last attempt failed.")]
StrictOpt = Annotated[bool, typer.Option("--strict", help="Exit 3 if any item failed (default: exit 0 and list the failures).")]
ProgressOpt = Annotated[bool, typer.Option("--progress/--no-progress", help="Show progress bars.")]
OverwriteOpt = Annotated[
    bool,
    typer.Option(
        "--overwrite",
        help="Rebuild this stage from scratch with the options given (needed when they differ from the ones "
        "recorded in the root); the stages downstream of it are marked invalid and must be rerun.",
    ),
]
VerifyOpt = Annotated[
    bool, typer.Option("--verify", help="Re-check every finished output (re-probe and re-hash), redo those that fail.")
]


EXECUTORS = ("local", "ray", "inline")


def is_dataset(r: DatasetRoot) -> bool:
    """Whether ``r`` holds a dataset: its manifests/ folder exists (locally, or at the URL)."""
    if r.url is not None:
        try:
            return r.has_folder("manifests") or any(r.has(n) for n in ("videos", "clips"))
        except Exception:  # noqa: BLE001 - an unreachable URL is reported by the stage itself
            return True
    return r.manifests.is_dir()


def root_of(root: Optional[str | Path], *, must_exist: bool = False) -> DatasetRoot:
    """The dataset root of ``--root`` (created when missing); a file, or a folder that cannot be
    made, is one line. ``must_exist``: a command that reads a dataset refuses a folder that holds
    none (a mistyped --root) and creates nothing there."""
    from realsync_build.core.errors import EnvironmentFault

    r = resolve_root(root)
    if r.root.exists() and not r.root.is_dir():
        raise UserError(f"--root {r.root} is a file, not a folder: pass a folder (it is created when missing)")
    if must_exist:
        if not is_dataset(r):
            where = r.url or r.root
            raise UserError(
                f"no dataset here: {where} has no manifests/ folder (check --root / $REALSYNC_ROOT; "
                "a new dataset starts with `realsync fetch` or `realsync preprocess --input DIR`)"
            )
        return r
    try:
        r.root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EnvironmentFault(f"cannot create the root {r.root}: {exc.strerror or exc}") from None
    return r


DryRunOpt = Annotated[
    bool,
    typer.Option(
        "--dry-run",
        help="Print the plan and write nothing: the items that would run, their media hours and an estimated time "
        "from the figures measured in docs/benchmarks.md (an estimate, and said to be one).",
    ),
]


def print_plan(plan) -> None:
    """A stage's ``--dry-run`` plan: the command's result, on stdout."""
    from realsync_build.core.ui import results

    for line in plan.lines():
        results.print(line, markup=False, highlight=False, soft_wrap=True)


def dry_root(root: Optional[str | Path], must_exist: bool = True) -> DatasetRoot:
    """The root of a ``--dry-run``: resolved and checked like :func:`root_of`, but never created."""
    r = resolve_root(root)
    if must_exist and not is_dataset(r):
        return root_of(root, must_exist=True)  # the same one-line refusal
    return r


def run_options(workers, executor, ray_address, retry_failed, strict, progress, overwrite=False, verify=False) -> RunOptions:
    if executor not in EXECUTORS:
        fail(f"unknown executor {executor!r}: use {', '.join(EXECUTORS[:-1])} or {EXECUTORS[-1]}")
    return RunOptions(
        workers=workers, executor=executor, ray_address=ray_address, retry_failed=retry_failed, strict=strict, progress=progress,
        overwrite=overwrite, verify=verify,
    )


def code_of(exc: BaseException, default: int = 1) -> int:
    """The exit code an error carries (``exit_code``: 2 for "run X first" and other usage errors),
    else ``default`` (1: an environment or runtime failure)."""
    code = getattr(exc, "exit_code", None)
    return code if isinstance(code, int) else default


def fail(message: str, code: int = 2) -> None:
    """Print a one-line error and exit (no traceback); shown under -q too."""
    from realsync_build.core.ui import error

    error(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(code)


def finish(report: StageReport, strict: bool) -> None:
    print_report(report)
    exit_if_failed(not report.ok, strict)


def exit_if_failed(any_failed: bool, strict: bool) -> None:
    """Under --strict, a run that finished with failed items exits 3 (EXIT_FAILED_ITEMS)."""
    from realsync_build.core.errors import EXIT_FAILED_ITEMS

    if strict and any_failed:
        raise typer.Exit(EXIT_FAILED_ITEMS)
