"""Building ``yt_dlp.YoutubeDL`` instances the way every part of fetch needs them.

yt-dlp is used as a library: its extractors list channels and read per-video
metadata, its format selector picks the streams, its HTTP/fragment downloader does
retries with backoff, ``.part`` resume (``continuedl``), rate limiting and cookies,
and its download archive records finished videos.  Nothing here shells out.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

import yt_dlp
from yt_dlp.utils import parse_bytes

from realsync_build.stages.fetch.config import FetchConfig
from realsync_build.media.ffmpeg import ffmpeg_exe

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def clean_message(text: str) -> str:
    """yt-dlp's error text as one plain line (no colour codes, ``ERROR:`` or ``[download]`` prefixes)."""
    text = _ANSI.sub("", str(text)).replace("\r", "\n")
    for line in text.splitlines():
        line = line.strip()
        for prefix in ("ERROR:", "WARNING:"):
            if line.startswith(prefix):
                line = line[len(prefix):].strip()
        line = re.sub(r"^\[[\w:]+\]\s*", "", line)
        if line:
            return _drop_repeat(line)
    return "unknown yt-dlp error"


_CAUSED_BY = re.compile(r"\s*\(caused by \w+\((['\"])(.*)\1\)\)\s*$")


def _drop_repeat(line: str) -> str:
    """yt-dlp appends ``(caused by TransportError("<the same text>"))``: keep the cause once."""
    m = _CAUSED_BY.search(line)
    if m and m[2].strip() and m[2].strip() in line[: m.start()]:
        return line[: m.start()].rstrip()
    return line


NETWORK_RETRIES = 1  # retries for a network-level failure (DNS, refused, no route); --retries is for everything else
_RETRY = re.compile(r"Got error: (.*?)\.? Retrying \((\d+)/(\d+)\)")


class NetworkDown(RuntimeError):
    """A download failed for a network-level cause again after :data:`NETWORK_RETRIES` retries."""


class YdlLog:
    """yt-dlp's ``logger``: keeps warnings and errors, prints nothing itself.

    It also cuts yt-dlp's retries short for a network-level cause: waiting out ``--retries``
    with backoff (1 + 2 + 4 + 8 + 16 s by default) for every video of a machine that is offline
    only delays the one line that says so (see :mod:`.network`)."""

    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.errors: list[str] = []

    def debug(self, msg: str) -> None:
        m = _RETRY.search(str(msg))  # "[download] Got error: ... Connection refused. Retrying (2/5)..."
        if m and int(m[2]) > NETWORK_RETRIES:
            from realsync_build.stages.fetch.network import network_cause

            if network_cause(m[1]) is not None:
                raise NetworkDown(_drop_repeat(clean_message(m[1])))

    def info(self, msg: str) -> None:
        pass

    def warning(self, msg: str) -> None:
        self.warnings.append(clean_message(msg))

    def error(self, msg: str) -> None:
        self.errors.append(clean_message(msg))


def parse_rate(text: str | None) -> int | None:
    """``--limit-rate`` (bytes/s, e.g. ``4M``, ``500K``) as an int; raises ValueError on nonsense."""
    if text in (None, ""):
        return None
    value = parse_bytes(str(text))
    if value is None or value <= 0:
        raise ValueError(f"--limit-rate {text!r}: expected bytes per second like 500K or 4M")
    return int(value)


def load_extractor(spec: str):
    """An extractor class from ``"module:Class"``."""
    module, _, name = spec.partition(":")
    if not module or not name:
        raise ValueError(f"extractor {spec!r} is not 'module:Class'")
    return getattr(importlib.import_module(module), name)


def backoff(base_s: float):
    def sleep_for(n: int) -> float:  # yt-dlp passes n=0 before the first retry, 1 before the second, ...
        return min(base_s * (2 ** max(n, 0)), 60.0) if base_s > 0 else 0.0

    return sleep_for


def base_params(cfg: FetchConfig, log: YdlLog) -> dict[str, Any]:
    """Parameters every YoutubeDL here shares: quiet, logged, retries with backoff, cookies."""
    wait = backoff(cfg.backoff_s)
    params: dict[str, Any] = {
        "quiet": True,
        "no_warnings": False,
        "noprogress": True,
        "logger": log,
        "color": {"stdout": "no_color", "stderr": "no_color"},
        "retries": cfg.retries,
        "fragment_retries": cfg.retries,
        "extractor_retries": cfg.retries,
        "file_access_retries": 3,
        "retry_sleep_functions": {"http": wait, "fragment": wait, "extractor": wait},
        "socket_timeout": cfg.socket_timeout_s,
        "noplaylist": True,
        "ignoreerrors": False,
        "restrictfilenames": True,
        "ffmpeg_location": ffmpeg_exe(),
    }
    if cfg.cookies:
        params["cookiefile"] = str(cfg.cookies)
    runtimes = js_runtimes()
    if runtimes:
        params["js_runtimes"] = runtimes
    return params


def js_runtimes() -> dict[str, dict]:
    """The JavaScript runtime yt-dlp needs for YouTube: the ``deno`` wheel's binary, else one on PATH.

    yt-dlp looks for ``deno`` on PATH only; a venv's ``bin/`` is not on PATH when the
    ``realsync`` script is run by its full path, so the wheel's binary is passed explicitly.
    """
    try:
        import deno  # the PyPI redistribution of the Deno binary (a dependency)

        path = deno.find_deno_bin()
        if path:
            return {"deno": {"path": str(path)}}
    except (ImportError, FileNotFoundError, RuntimeError):
        pass
    return {}


def make_ydl(params: dict[str, Any], cfg: FetchConfig) -> yt_dlp.YoutubeDL:
    """A YoutubeDL whose extra extractors (``cfg.extractors``) come before yt-dlp's own.

    yt-dlp tries extractors in order and its generic one accepts any URL, so plug-ins
    are added first and the default list after them.
    """
    ydl = yt_dlp.YoutubeDL(params, auto_init=False)
    for spec in cfg.extractors:
        ydl.add_info_extractor(load_extractor(spec)())
    ydl.add_default_info_extractors()
    return ydl


def format_selector(min_height: int, max_height: int, fallback: bool) -> str:
    """Best video in [min, max] height plus best audio (merged), else the best single file in range.

    With ``fallback`` the best of anything follows, so a video without a 720p format still
    yields metadata and is rejected by the height rule with a clear reason rather than by
    "Requested format is not available".
    """
    rng = f"[height>={min_height}][height<={max_height}]"
    spec = f"bv*{rng}+ba/b{rng}"
    if fallback:
        spec += "/bv*+ba/b"
    return spec
