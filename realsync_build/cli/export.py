from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Optional

import typer

from realsync_build.cli.common import OverwriteOpt, ProgressOpt, RootOpt, app, fail, root_of

export_app = typer.Typer(
    name="export",
    help="Export a split dataset: WebDataset shards for training, StreamSync evaluation lists.",
    no_args_is_help=True,
)
app.add_typer(export_app, name="export")

_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9, "t": 10**12, "tb": 10**12}


def parse_size(text: str) -> int:
    """``1GB``, ``500MB``, ``2e9`` -> bytes (decimal units)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([a-zA-Z]*)\s*", str(text))
    if not m or m[2].lower() not in _UNITS:
        raise ValueError(f"--shard-size must be a size like 1GB, 500MB or 2000000, got {text!r}")
    value = int(float(m[1]) * _UNITS[m[2].lower()])
    if value < 1:
        raise ValueError(f"--shard-size must be positive, got {text!r}")
    return value


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
) -> None:
    """Write shards/{split}-{shard:06d}.tar: per clip {key}.mp4 + {key}.json (metadata, annotations, dev/test segments).

    Keys are the clip ids (stable across runs); shards are written atomically and a rerun
    rewrites only shards whose content changed. Read them with webdataset.WebDataset.
    """
    from realsync_build.stages.export.webdataset import WebDatasetConfig, run_export_webdataset
    from realsync_build.core.manifest import ManifestError
    from realsync_build.core.ui import console

    try:
        cfg = WebDatasetConfig(shard_bytes=parse_size(shard_size), splits=_splits(splits), seed=seed)
    except ValueError as exc:
        fail(str(exc), code=2)
    ds = root_of(root, must_exist=True)
    try:
        report = run_export_webdataset(ds, cfg, progress=progress, overwrite=overwrite)
    except (ManifestError, ValueError, OSError) as exc:
        fail(str(exc), code=1)
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
) -> None:
    """Write the evaluation lists in StreamSync's format.

    {name}.{split}.csv lines are {clip_id}_{seg_start}_0,{seg_start},{channel};
    {name}.{split}.json maps each segment id to {offset_sec, v_start_i_sec}.
    With --layout streamsync: dev -> {name}.evaluation.*, test -> {name}.test.*, a train
    list with a start every 10 s, and {name}.{test,valid,train}.skip_id_list.txt; an adopted
    split (split --from-list) is written back in the list's own order.
    """
    from realsync_build.stages.export.streamsync import run_export_streamsync
    from realsync_build.core.manifest import ManifestError
    from realsync_build.core.ui import console

    ds = root_of(root, must_exist=True)
    try:
        report = run_export_streamsync(ds, out or ds.abs("streamsync"), name=name, splits=_splits(splits), layout=layout)
    except (ManifestError, ValueError, OSError) as exc:
        fail(str(exc), code=1)
    per = ", ".join(f"{k} {v}" for k, v in report.per_split.items())
    console.print(f"[green]export streamsync: {per} segments[/green]")
    for p in report.files:
        console.print(f"  {p}", highlight=False)
