"""Telling "this video failed" from "the site cannot be reached", and stopping early on the second.

yt-dlp reports a failed connection in the words of the OS resolver and socket layer
(``Failed to resolve 'www.youtube.com' ([Errno -3] Temporary failure in name resolution)``,
``[Errno 111] Connection refused``, ``[Errno 113] No route to host``).  Those causes are the
machine's or the network's, not a video's: when the first downloads of a run all fail with the
same one, every other video would fail the same way after waiting out its retries.
:class:`Reachability` watches the results as they come in and stops the run after
:data:`FAIL_FAST_AFTER` such failures in a row; those videos are not marked failed (they stay
planned), so a plain rerun tries them again once the network is back.  ``--retries`` still
applies to everything else (HTTP errors, dropped transfers, a video that is gone).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from realsync_build.core.errors import EnvironmentFault

FAIL_FAST_AFTER = 3  # network-level failures in a row (fewer when the run has fewer videos)

# (kind, what a person reads, patterns); the first match wins
_CAUSES = (
    ("dns", "the host name does not resolve (DNS)", (
        r"Failed to resolve", r"Name or service not known", r"Temporary failure in name resolution",
        r"nodename nor servname", r"getaddrinfo failed", r"No address associated with hostname",
        r"\[Errno -[235]\]", r"Could not resolve host",
    )),
    ("refused", "the connection is refused", (r"Connection refused", r"\[Errno 111\]", r"WinError 10061")),
    ("no-route", "there is no route to it (offline?)", (
        r"No route to host", r"Network is unreachable", r"\[Errno 101\]", r"\[Errno 113\]", r"WinError 10051", r"WinError 10065",
    )),
)  # fmt: skip
_HOST = (
    re.compile(r"host='([^']+)', port=(\d+)"),  # urllib3 / requests: HTTPConnection(host='x', port=80)
    re.compile(r"Failed to resolve '([^']+)'"),
    re.compile(r"Could not resolve host: ([\w.\-]+)"),
)


@dataclass(frozen=True)
class NetworkCause:
    kind: str  # dns | refused | no-route
    what: str  # for the message
    host: str | None  # "www.youtube.com" or "127.0.0.1:8080" when the message names it

    @property
    def where(self) -> str:
        return self.host or "the site"


def network_cause(message: str | None) -> NetworkCause | None:
    """The network-level cause a download error names, or None for any other error."""
    if not message:
        return None
    for kind, what, patterns in _CAUSES:
        if any(re.search(p, message) for p in patterns):
            return NetworkCause(kind, what, _host(message))
    return None


def _host(message: str) -> str | None:
    for rx in _HOST:
        m = rx.search(message)
        if m:
            return f"{m[1]}:{m[2]}" if m.lastindex and m.lastindex >= 2 and m[2] not in ("80", "443") else m[1]
    return None


class SiteUnreachable(EnvironmentFault):
    """The first downloads all failed with one network-level cause: the run stopped (exit 1)."""


def unreachable_message(cause: NetworkCause, n: int, what: str = "downloads") -> str:
    first = f"the first {n} {what} all failed this way" if n > 1 else f"the only {what.rstrip('s')} failed this way"
    kept = "those videos stay planned, nothing was marked failed" if what == "downloads" else "nothing was planned from it"
    return (
        f"fetch: cannot reach {cause.where}: {cause.what}; {first}, so fetch stopped ({kept}). "
        "Check the network, proxy or firewall, then rerun the same command"
    )


class Reachability:
    """A watcher for the stage driver (``run_stage(..., watch=)``): holds back network-level
    failures; :data:`~realsync_build.core.stage.HOLD` them until a result shows the site is
    reachable (then they are recorded as the per-video failures they were), or raises
    :class:`SiteUnreachable` after ``limit`` in a row with the same cause (then they are dropped)."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self.run: list[NetworkCause] = []

    def __call__(self, task_id: str, rows: list[dict], error: str | None):
        from realsync_build.core.stage import HOLD

        message = error or next((r.get("error") for r in rows if r.get("status") == "failed"), None)
        cause = network_cause(message)
        if cause is None:
            self.run.clear()  # the site answered (a success, or a video's own failure)
            return None
        if self.run and self.run[0].kind != cause.kind:  # the same cause: DNS, refused or no route (hosts may differ)
            self.run.clear()
        self.run.append(cause)
        if len(self.run) >= self.limit:
            raise SiteUnreachable(unreachable_message(cause, len(self.run)))
        return HOLD
