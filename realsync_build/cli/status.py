"""``realsync status``: one screen on where every stage of a root stands (read-only)."""

from __future__ import annotations

from typing import Annotated

import typer

from realsync_build.cli.common import RootOpt, app


@app.command()
def status(
    root: RootOpt = None,
    failed: Annotated[
        bool,
        typer.Option("--failed", help="List every failed item instead: its one-line error, where its log "
                     "(logs/STAGE/ITEM.log: the traceback, ffmpeg's last stderr lines) is, and the log's last lines."),
    ] = False,
) -> None:
    """Per stage: done / failed / pending counts and hours, last run, recorded parameters, stale or not, the next command.

    Reads manifests/, stages.json and logs/ only: no lock is taken and nothing is written, so it is
    safe while another command runs on the root.
    """
    from realsync_build.core.errors import UserError
    from realsync_build.core.root import resolve_root

    ds = resolve_root(root)
    if ds.url is None and not ds.root.is_dir():
        raise UserError(f"--root {ds.root} is not a dataset folder (nothing there yet: start with realsync fetch or preprocess)")
    if failed:
        from realsync_build.core.itemlog import failed_items, render_failed

        render_failed(ds, failed_items(ds))
        return
    from realsync_build.core.status import collect, render

    render(ds, collect(ds))
