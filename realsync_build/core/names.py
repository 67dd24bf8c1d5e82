"""Ids and channel names read from a user's lists: refused when they could read as an option or a path.

A video id from a published list or a channel name from ``manifests/channels.toml`` ends up
in folder names (``raw/{channel}/``, ``clips/{channel}/{id}/``), manifest rows and the
arguments of tools.  The rule (the same as :func:`realsync_build.core.ids.file_id` keeps an id
as it is):

* a YouTube-shaped id, exactly 11 characters of ``A-Z a-z 0-9 _ -``, is valid as it is, a
  leading ``-`` included (``-FX_ew97f-8`` is in the published test list);
* any other id, and every channel name, is 1 to 64 characters of ``A-Z a-z 0-9 _ -`` that do
  not begin with ``-``: no path separators, no ``..``, no spaces or control characters, nothing
  that reads as an option (``--help``, ``-rf``).

:func:`id_problem` / :func:`channel_problem` say why a name is refused (``None``: valid);
:func:`check_video_id` / :func:`check_channel` raise :class:`BadName` (exit 2).
"""

from __future__ import annotations

import re

from realsync_build.core.errors import UserError

MAX_NAME_CHARS = 64
_YOUTUBE_SHAPE = re.compile(r"[A-Za-z0-9_-]{11}")
_NAME = re.compile(r"[A-Za-z0-9_-]+")


class BadName(UserError, ValueError):
    """An id or channel name that could read as an option or a path."""


def _shown(text: str) -> str:
    return repr(text) if len(text) <= 40 else f"{text[:20]!r}... ({len(text)} characters)"


def _problem(text: str, what: str) -> str | None:
    if not text:
        return f"{what} is empty"
    if len(text) > MAX_NAME_CHARS:
        return f"{what} {_shown(text)} is longer than {MAX_NAME_CHARS} characters"
    if not _NAME.fullmatch(text):
        return f"{what} {_shown(text)} has characters other than A-Z a-z 0-9 _ - (it could read as a path)"
    if text.startswith("-"):
        return f"{what} {_shown(text)} begins with '-' (it could read as an option)"
    return None


def id_problem(video_id: str) -> str | None:
    """Why ``video_id`` is refused, or ``None`` (YouTube-shaped, or a safe name)."""
    text = str(video_id)
    if _YOUTUBE_SHAPE.fullmatch(text):
        return None
    return _problem(text, "video id")


def channel_problem(name: str) -> str | None:
    """Why a channel name is refused, or ``None``."""
    return _problem(str(name), "channel name")


def check_video_id(video_id: str, where: str = "") -> str:
    problem = id_problem(video_id)
    if problem:
        raise BadName(f"{where}: {problem}" if where else problem)
    return str(video_id)


def check_channel(name: str, where: str = "") -> str:
    problem = channel_problem(name)
    if problem:
        raise BadName(f"{where}: {problem}" if where else problem)
    return str(name)
