"""``realsync status``: one screen on where every stage of a root stands (read-only)."""

from __future__ import annotations

from realsync_build.cli.common import RootOpt, app


@app.command()
def status(root: RootOpt = None) -> None:
    """Per stage: done / failed / pending counts and hours, last run, recorded parameters, stale or not, the next command.

    Reads manifests/ and stages.json only: no lock is taken and nothing is written, so it is safe
    while another command runs on the root.
    """
    from realsync_build.core.errors import UserError
    from realsync_build.core.root import resolve_root
    from realsync_build.core.status import collect, render

    ds = resolve_root(root)
    if ds.url is None and not ds.root.is_dir():
        raise UserError(f"--root {ds.root} is not a dataset folder (nothing there yet: start with realsync fetch or preprocess)")
    render(ds, collect(ds))
