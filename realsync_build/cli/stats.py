from __future__ import annotations

from typing import Annotated

import typer

from realsync_build.cli.common import RootOpt, app, fail, root_of, code_of


@app.command()
def stats(
    root: RootOpt = None,
    name: Annotated[str, typer.Option("--name", help="Dataset name in Table 1.")] = "realsync",
    json_out: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print one JSON document on stdout instead of the tables: {hours_unit, table1, table2, splits, "
            "segments_by_scenario, segments_by_offset, top_events: [row, ...] or null, n_segments, annotated, notes, report, "
            "files}; durations in hours; null where nothing was measured (docs/scripting.md). The report is written as usual.",
        ),
    ] = False,
) -> None:
    """Tables 1-2 (videos, clips, hours per scenario per channel), the split and segment tables, figures, report.

    Prints the tables and writes ROOT/report/: table1/table2/splits as Markdown and CSV,
    segments_scenario.csv, segments_offset.csv, top_events.csv, channel_hours.png,
    scenarios.png, offset_classes.png, events_top.png (Figure 1) and index.html. What was not
    measured (no annotation, no SyncNet scores, no split) reads n/a, never 0.
    """
    from realsync_build.core.manifest import ManifestError
    from realsync_build.stages.stats import run_stats
    from realsync_build.stages.stats.tables import to_rich
    from realsync_build.core.ui import console, results

    try:
        res = run_stats(root_of(root, must_exist=True), name=name)
    except (ManifestError, OSError) as exc:
        fail(str(exc), code=code_of(exc))
    if json_out:
        import json

        typer.echo(json.dumps(res.to_dict(), indent=1))
        return
    results.print(to_rich(res.table1, "Table 1: the dataset", res.unit))  # the tables are the result: stdout
    results.print(to_rich(res.table2, "Table 2: per channel", res.unit))
    if res.splits is not None:
        results.print(to_rich(res.splits, "Splits", res.unit))
    for note in res.notes:
        console.print(f"[yellow]note:[/yellow] {note}", highlight=False)
    console.print(f"[green]report: {res.index}[/green]", highlight=False)
