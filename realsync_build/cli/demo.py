from __future__ import annotations

from realsync_build.cli.common import ProgressOpt, RootOpt, WorkersOpt, app, fail, root_of


@app.command()
def demo(root: RootOpt = None, workers: WorkersOpt = None, progress: ProgressOpt = True) -> None:
    """Run the whole pipeline on an embedded default (generated sources + the shared real clips).

    Finishes in a few minutes on 2 cores and prints where every output is.
    """
    from realsync_build.demo import run_demo

    try:
        run_demo(root_of(root), workers=workers, progress=progress)
    except Exception as exc:  # noqa: BLE001 - one line, not a traceback
        fail(f"demo failed: {exc}", code=1)
