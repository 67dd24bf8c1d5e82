from __future__ import annotations

from typing import Annotated

import typer

from realsync_build.cli.common import RootOpt, app, fail, root_of


@app.command()
def stats(
    root: RootOpt = None,
    name: Annotated[str, typer.Option("--name", help="Dataset name in Table 1.")] = "realsync",
) -> None:
    """Tables 1-2 (videos, clips, hours, talking-head and voice-over hours per channel) and the figures.

    Prints the tables and writes ROOT/report/: table1/table2 as Markdown and CSV,
    events_top50.png (Figure 1), offset_classes.png, channel_hours.png and index.html.
    """
    from realsync_build.core.manifest import ManifestError
    from realsync_build.stages.stats import run_stats
    from realsync_build.stages.stats.tables import to_rich
    from realsync_build.core.ui import console

    try:
        res = run_stats(root_of(root, must_exist=True), name=name)
    except (ManifestError, OSError) as exc:
        fail(str(exc), code=1)
    console.print(to_rich(res.table1, "Table 1: the dataset"))
    console.print(to_rich(res.table2, "Table 2: per channel"))
    if not res.annotated:
        console.print("[yellow]note:[/yellow] not annotated: talking-head / voice-over hours are 0 (run `realsync annotate`)")
    console.print(f"[green]report: {res.index}[/green]", highlight=False)
