"""``realsync status``: one screen on where every stage of a root stands (read-only)."""

from __future__ import annotations

from typing import Annotated

import typer

from realsync_build.cli.common import RootOpt, app

JSON_HELP = (
    "Print one JSON document on stdout instead of the table: {root, stages: [{stage, state, unit, done, failed, pending, "
    "hours, last_run_utc, stale, params, flags, realsync_version, notes}], train: [{folder, complete, steps, best_dev_map, "
    "best_step, checkpoint, finished_at}], evaluations: [{folder, split, checkpoint, n_segments, metrics, finished_at}], "
    "next}; null where nothing was measured (docs/scripting.md)."
)


@app.command()
def status(
    root: RootOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
    failed: Annotated[
        bool,
        typer.Option("--failed", help="List every failed item instead: its one-line error, where its log "
                     "(logs/STAGE/ITEM.log: the traceback, ffmpeg's last stderr lines) is, and the log's last lines."),
    ] = False,
) -> None:
    """Per stage: done / failed / pending counts and hours, last run, recorded parameters, stale or not, the next command.

    Also the training runs under runs/ and the evaluations (report/eval-*, runs/*/eval-*).
    Reads manifests/, stages.json, logs/ and those folders only: no lock is taken and nothing is
    written, so it is safe while another command runs on the root. The screen goes to stdout.
    """
    import json

    from realsync_build.core.errors import UserError
    from realsync_build.core.root import resolve_root
    from realsync_build.core.status import as_dict, collect, collect_runs, render

    ds = resolve_root(root)
    if ds.url is None and not ds.root.is_dir():
        raise UserError(f"--root {ds.root} is not a dataset folder (nothing there yet: start with realsync fetch or preprocess)")
    if failed:
        from realsync_build.core.itemlog import failed_items, render_failed

        render_failed(ds, failed_items(ds))
        return
    stages, runs = collect(ds), collect_runs(ds)
    if json_out:
        typer.echo(json.dumps(as_dict(ds, stages, runs), indent=1, sort_keys=False, default=str))
        return
    render(ds, stages, runs)
