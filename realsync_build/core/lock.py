"""One writer per root: ``.realsync.lock`` at the root, held with ``fcntl.flock``.

The driver opens the lock file and holds an exclusive ``flock`` on it for its whole life; the
file holds the holder's pid, host, command and start time.  A second run is refused in one line
naming them (:class:`~realsync_build.core.errors.RootLocked`, exit 1).  Taking the lock is one
atomic step of the kernel: there is no "read the holder, check its pid, delete, create" sequence
for two drivers to interleave, and a holder that dies (``kill -9``, a crash) releases it with its
last file descriptor, so a lock left behind is simply taken over.  The file is removed on
release; a driver that locked a file which was removed meanwhile (its inode is no longer the
path's) lets it go and tries again, so two drivers never hold two different files.
Readers (``status``, ``stats``) never take it.

A URL root is locked in its local mirror, which protects against a second
driver on the same machine only (object stores have no exclusive create);
run one driver per URL root.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
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


def _refusal(root_dir: Path, path: Path) -> RootLocked:
    other: dict = {}
    for _ in range(50):  # the holder writes its name right after taking the lock: give it a moment
        other = holder(root_dir) or {}
        pid = other.get("pid")
        if isinstance(pid, int) and (other.get("host") != socket.gethostname() or _alive(pid)):
            break
        time.sleep(0.01)
    return RootLocked(
        f"{root_dir} is in use by `realsync {other.get('command', '?')}` (pid {other.get('pid')} on host "
        f"{other.get('host', '?')}, since {other.get('since', '?')}): wait for it to finish"
    )


def _open_lock(path: Path, root_dir: Path) -> int:
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        return os.open(path, flags, 0o644)
    except OSError as exc:
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise EnvironmentFault(f"the root {root_dir} is read-only ({exc.strerror}): nothing was written") from None
        if exc.errno == errno.ELOOP:
            from realsync_build.core.errors import UnsafePath

            raise UnsafePath(f"{path} is a symlink: refusing to follow it (the lock file must be a plain file in the root)") from None
        raise


@contextlib.contextmanager
def root_lock(root_dir: Path, command: str) -> Iterator[dict]:
    """Hold the writer lock of ``root_dir`` for the block (an exclusive ``flock``, see the module doc)."""
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
    fd = -1
    for _ in range(20):
        fd = _open_lock(path, root_dir)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise _refusal(root_dir, path) from None
        except OSError:
            os.close(fd)
            raise
        try:
            same = os.fstat(fd).st_ino == os.stat(path, follow_symlinks=False).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the holder released and removed the file between our open and our lock: again
        fd = -1
    if fd < 0:
        raise RootLocked(f"{root_dir}: could not take the writer lock {path}; retry")
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me).encode(), 0)
        yield me
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # still holding the flock: nobody else can hold this file now
        os.close(fd)
