"""The errors a user sees as one line, and the exit code each maps to.

Library code raises these; the CLI (``realsync_build.cli.main``) prints the
message as one line and exits with ``exit_code``. Convention, across commands:

* 2 -- the user asked for something wrong (bad option value, missing input, wrong root);
* 1 -- the environment failed (read-only root, disk full, no CUDA, a lock held by another run);
* 3 -- reserved for "finished, but some items failed" under ``--strict``.
"""

from __future__ import annotations


class RealsyncError(Exception):
    """Base: a one-line message for the user, never a traceback."""

    exit_code = 1


class UserError(RealsyncError):
    """The request itself is wrong: an option value, an input, a root that is not a dataset."""

    exit_code = 2


class EnvironmentFault(RealsyncError):
    """The machine or the root cannot do what was asked: permissions, disk, device, lock."""

    exit_code = 1


EXIT_FAILED_ITEMS = 3


class UnsafePath(UserError):
    """A path read from a manifest that is absolute or climbs out of the root (``..``): tampered or foreign."""


class RootLocked(EnvironmentFault):
    """Another run holds the root's writer lock."""


class ParamsChanged(UserError):
    """A rerun asks for output-shaping parameters that differ from those the stage recorded."""


EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for a program stopped by Ctrl-C


class Interrupted(RealsyncError):
    """Ctrl-C: the run stopped; every finished item is saved. ``report`` holds what it did."""

    exit_code = EXIT_INTERRUPTED

    def __init__(self, message: str, report=None) -> None:
        super().__init__(message)
        self.report = report


class NothingToDo(UserError):
    """A stage found zero items to work on ("0 videos downloaded; nothing to cut"): one line, exit 2,
    and the root is left as it was."""


class StaleInput(UserError):
    """An upstream stage did not complete, or was rebuilt after this stage's inputs were made."""
