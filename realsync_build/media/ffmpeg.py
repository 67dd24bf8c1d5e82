"""Locate and run ffmpeg with argument lists (never a shell string).

The ``ffmpeg`` on PATH is used when present, else the binary shipped in the
``imageio-ffmpeg`` wheel; ``$REALSYNC_FFMPEG`` overrides both.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from typing import Callable, Sequence


STDERR_TAIL_LINES = 40  # how much of a failed run's stderr a per-item log keeps


class FFmpegError(RuntimeError):
    """ffmpeg failed: the message is one line (the last lines of stderr joined); ``stderr_tail``
    keeps the last :data:`STDERR_TAIL_LINES` lines and ``command`` the argument list, for the item's log."""

    def __init__(self, message: str, stderr_tail: list[str] | None = None, command: str | None = None) -> None:
        super().__init__(message)
        self.stderr_tail = list(stderr_tail or [])
        self.command = command


def _failure(cmd: Sequence[str], err: str, returncode: int) -> FFmpegError:
    import shlex

    lines = err.strip().splitlines()
    tail = " | ".join(line.strip() for line in lines[-3:]) or f"exit code {returncode}"
    return FFmpegError(f"ffmpeg failed: {tail}", lines[-STDERR_TAIL_LINES:], "ffmpeg " + shlex.join(map(str, cmd[1:])))


@functools.lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    env = os.environ.get("REALSYNC_FFMPEG")
    if env:
        return env
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise FFmpegError("no ffmpeg on PATH and imageio-ffmpeg is not installed") from exc
    return imageio_ffmpeg.get_ffmpeg_exe()


def _libc_prctl():
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux / glibc
        return None


_PRCTL = _libc_prctl()  # resolved here, in the parent: the child must not import anything


def _die_with_caller() -> None:
    """In the ffmpeg child, between fork and exec: SIGKILL it when the process that started it
    dies (PR_SET_PDEATHSIG), so a killed worker or driver leaves no ffmpeg running."""
    _PRCTL(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG, SIGKILL


def run_ffmpeg(args: Sequence[str], *, timeout: float | None = None) -> str:
    """Run ``ffmpeg -hide_banner -nostdin -y <args>``; returns stderr, raises with its tail on failure."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-loglevel", "error", *map(str, args)]
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
                          preexec_fn=_die_with_caller if _PRCTL is not None else None)
    err = proc.stderr.decode("utf-8", "replace")
    if proc.returncode != 0:
        raise _failure(cmd, err, proc.returncode)
    return err


def run_ffmpeg_lines(args: Sequence[str], on_line: Callable[[str], None], *, timeout: float | None = None) -> str:
    """:func:`run_ffmpeg` that hands each line ffmpeg writes to stdout to ``on_line`` as it comes
    (e.g. a ``metadata=mode=print:direct=1:file='pipe\\:1'`` filter's per-frame lines)."""
    import tempfile
    import time

    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-loglevel", "error", "-nostats", *map(str, args)]
    deadline = None if timeout is None else time.monotonic() + timeout
    with tempfile.TemporaryFile() as err_file:  # a file, not a pipe: a chatty stderr cannot block ffmpeg
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err_file)
        try:
            assert proc.stdout is not None
            for raw in proc.stdout:
                on_line(raw.decode("utf-8", "replace"))
                if deadline is not None and time.monotonic() > deadline:
                    proc.kill()
                    raise subprocess.TimeoutExpired(cmd, timeout or 0)
            proc.wait(timeout=None if deadline is None else max(1.0, deadline - time.monotonic()))
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        err_file.seek(0)
        err = err_file.read().decode("utf-8", "replace")
    if proc.returncode != 0:
        raise _failure(cmd, err, proc.returncode)
    return err
