from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from realsync_build.cli.common import (
    DistributionOpt, DryRunOpt, OverwriteOpt, ProgressOpt, RootOpt, app, code_of, dry_root, fail, print_plan, root_of,
)

export_app = typer.Typer(
    name="export",
    help="Export a split dataset: WebDataset shards for training, StreamSync evaluation lists.",
    no_args_is_help=True,
)
app.add_typer(export_app, name="export")


def _splits(text: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in text.split(",") if s.strip())


@export_app.command("webdataset")
def webdataset_cmd(
    root: RootOpt = None,
    shard_size: Annotated[str, typer.Option("--shard-size", help="Target shard size (decimal units: 1GB, 500MB, bytes).")] = "1GB",
    splits: Annotated[str, typer.Option("--splits", help="Comma-separated splits to export.")] = "train,dev,test",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the fixed sample order inside each split.")] = 0,
    progress: ProgressOpt = True,
    overwrite: OverwriteOpt = False,
    dry_run: DryRunOpt = False,
) -> None:
    """Write shards/{split}-{shard:06d}.tar: per clip {key}.mp4 + {key}.json (metadata, annotations, dev/test segments).

    Keys are the clip ids (stable across runs); shards are written atomically and a rerun
    rewrites only shards whose content changed. Read them with webdataset.WebDataset.
    """
    from realsync_build.stages.export.webdataset import WebDatasetConfig, run_export_webdataset
    from realsync_build.core.values import parse_size  # the same parser cli/values.py checked the option with
    from realsync_build.core.manifest import ManifestError
    from realsync_build.core.ui import console

    try:
        cfg = WebDatasetConfig(shard_bytes=parse_size(shard_size), splits=_splits(splits), seed=seed)
    except ValueError as exc:
        fail(str(exc), code=2)
    ds = dry_root(root) if dry_run else root_of(root, must_exist=True)
    if dry_run:
        from realsync_build.stages.export.plan import plan_export

        try:
            print_plan(plan_export(ds, cfg, overwrite=overwrite))
        except (ManifestError, ValueError) as exc:
            fail(str(exc), code=code_of(exc, default=2 if isinstance(exc, ValueError) else 1))
        return
    try:
        report = run_export_webdataset(ds, cfg, progress=progress, overwrite=overwrite)
    except (ManifestError, ValueError, OSError) as exc:
        fail(str(exc), code=code_of(exc))
    style = "green" if not report.failed else "yellow"
    per = ", ".join(f"{k} {v}" for k, v in sorted(report.per_split.items()))
    console.print(
        f"[{style}]export webdataset: {report.samples} samples ({per}) in {len(report.shard_paths)} shards under {ds.shards} "
        f"({report.shards_written} written, {report.shards_kept} unchanged, {report.shards_removed} old removed), "
        f"{report.failed} failed[/{style}]"
    )
    for cid, msg in report.errors[:20]:
        console.print(f"  [red]failed[/red] {cid}: {msg}", highlight=False)


@export_app.command("streamsync")
def streamsync_cmd(
    root: RootOpt = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Folder for the lists (default: ROOT/streamsync).")] = None,
    name: Annotated[
        Optional[str],
        typer.Option("--name", help="File name prefix (default: realsync; sports_and_news_normal with --layout streamsync)."),
    ] = None,
    splits: Annotated[str, typer.Option("--splits", help="Comma-separated evaluation splits (layout realsync).")] = "dev,test",
    layout: Annotated[
        str,
        typer.Option(
            "--layout",
            help="realsync: {name}.{dev,test}.csv/.json. streamsync: the files StreamSync's loader opens, "
            "{name}.{evaluation,test,train}.csv/.json and its per-split skip lists.",
        ),
    ] = "realsync",
    distribution: Annotated[
        Optional[str], DistributionOpt("With --layout streamsync: the files' names. Default: the adopted lists' distribution, else normal.")
    ] = None,
) -> None:
    """Write the evaluation lists in StreamSync's format.

    {name}.{split}.csv lines are {clip_id}_{seg_start}_0,{seg_start},{channel};
    {name}.{split}.json maps each segment id to {offset_sec, v_start_i_sec}.
    With --layout streamsync: test -> {name}.evaluation.* (the loader's test split, whose figures
    are reported), dev -> {name}.test.* (its valid split, which picks the best checkpoint), a train
    list with a start every 10 s, and {name}.{test,valid,train}.skip_id_list.txt; an adopted
    split (split --from-list) is written back to its list's file, in the list's own order.
    The StreamSync code opens the lists under its data/ folder and the skip lists in its
    working directory (the repository root).
    """
    from realsync_build.stages.export.streamsync import run_export_streamsync
    from realsync_build.core.manifest import ManifestError
    from realsync_build.core.ui import console

    from realsync_build.core.protocol import DISTRIBUTIONS

    if distribution is not None and distribution not in DISTRIBUTIONS:
        fail(f"--distribution must be one of {', '.join(DISTRIBUTIONS)}, not {distribution!r}")
    if distribution is not None and layout != "streamsync":
        fail("--distribution names the files of --layout streamsync")
    if distribution is not None and name is not None:
        fail("give --name or --distribution, not both (--distribution D names the files sports_and_news_D.*)")
    ds = root_of(root, must_exist=True)
    try:
        report = run_export_streamsync(ds, out or ds.abs("streamsync"), name=name, splits=_splits(splits), layout=layout,
                                       distribution=distribution)
    except (ManifestError, ValueError, OSError) as exc:
        fail(str(exc), code=code_of(exc))
    per = ", ".join(f"{k} {v}" for k, v in report.per_split.items())
    console.print(f"[green]export streamsync: {per} segments[/green]")
    for note in report.notes:
        console.print(f"note: {note}", highlight=False)
    for p in report.files:
        console.print(f"  {p}", highlight=False)
