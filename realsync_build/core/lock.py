"""One writer per root: ``.realsync.lock`` at the root, created exclusively.

The file holds the holder's pid, host, command and start time.  A second run
is refused in one line naming them (:class:`~realsync_build.core.errors.RootLocked`,
exit 1).  A lock whose holder is gone (same host, pid not alive) is taken
over.  Readers (``status``, ``stats``) never take it.

A URL root is locked in its local mirror, which protects against a second
driver on the same machine only (object stores have no exclusive create);
run one driver per URL root.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Iterator

from realsync_build.core.errors import EnvironmentFault, RootLocked

LOCK_NAME = ".realsync.lock"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie still answers kill(0); treat it as dead
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


def holder(root_dir: Path) -> dict | None:
    """The lock's content, or None when the root is not locked."""
    try:
        return json.loads((Path(root_dir) / LOCK_NAME).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {"pid": None, "host": "?", "command": "?", "since": "?"}


def writable_root(root_dir: Path) -> None:
    """Raise :class:`EnvironmentFault` when ``root_dir`` cannot be created or written."""
    root_dir = Path(root_dir)
    if root_dir.exists() and not root_dir.is_dir():
        from realsync_build.core.errors import UserError

        raise UserError(f"--root {root_dir} is a file, not a folder: pass a folder (it is created when missing)")
    try:
        root_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EnvironmentFault(f"cannot create the root {root_dir}: {exc.strerror or exc}") from None
    if not os.access(root_dir, os.W_OK | os.X_OK):
        raise EnvironmentFault(f"the root {root_dir} is read-only: nothing was written; choose a writable --root")


@contextlib.contextmanager
def root_lock(root_dir: Path, command: str) -> Iterator[dict]:
    """Hold the writer lock of ``root_dir`` for the block."""
    root_dir = Path(root_dir)
    writable_root(root_dir)
    path = root_dir / LOCK_NAME
    me = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": command,
        "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "argv": " ".join(sys.argv[:1] + sys.argv[1:6]),
    }
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            other = holder(root_dir)
            if other is None:
                continue  # released meanwhile
            pid = other.get("pid")
            if other.get("host") == me["host"] and isinstance(pid, int) and not _alive(pid):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()  # the holder died without releasing it: take over
                continue
            raise RootLocked(
                f"{root_dir} is in use by `realsync {other.get('command')}` (pid {pid} on host {other.get('host')}, "
                f"since {other.get('since')}): wait for it to finish; if that process is gone, delete {path}"
            ) from None
        except OSError as exc:
            if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
                raise EnvironmentFault(f"the root {root_dir} is read-only ({exc.strerror}): nothing was written") from None
            raise
        with os.fdopen(fd, "w") as fh:
            json.dump(me, fh)
        break
    else:
        raise RootLocked(f"{root_dir}: could not take the writer lock {path}; retry")
    try:
        yield me
    finally:
        current = holder(root_dir)
        if current and current.get("pid") == me["pid"] and current.get("host") == me["host"]:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
