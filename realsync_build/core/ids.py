"""Video ids are untrusted: the one rule that turns a name into the id every path and manifest row uses.

:func:`file_id` is that rule, for ``fetch`` (a site's id) and ``preprocess --input`` (a file's stem)
alike:

* a YouTube-shaped id (exactly 11 characters of ``A-Z a-z 0-9 _ -``) is kept exactly as it is,
  a leading ``-`` included, so the manifest matches the published lists (4 of the 86 videos of
  the published test list begin with ``-``);
* any other id is kept as it is when it is file-safe: 1-64 characters of ``A-Z a-z 0-9 _ -``
  that do not begin with ``-`` (so it cannot read as an option);
* anything else (a ``../``, a ``;``, a space, ``--help``, an overlong id from some other site)
  becomes :func:`realsync_build.core.root.safe_name` of it plus a short hash of the original, so
  distinct names never collide and nothing from the id can leave its folder.

Paths built from ids always carry a folder prefix (``clips/{channel}/{id}/...``, absolute paths
for tools), so an id that begins with ``-`` never becomes an argument of its own.
:func:`is_file_safe_id` is the guard for ids read back from a manifest (they may be older or
YouTube-shaped, so a leading ``-`` is allowed there).
"""

from __future__ import annotations

import hashlib
import re

from realsync_build.core.root import safe_name

_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_YOUTUBE_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")


def is_youtube_id(video_id: str) -> bool:
    """Whether ``video_id`` has the shape of a YouTube id (11 characters of ``A-Za-z0-9_-``)."""
    return bool(_YOUTUBE_ID.match(str(video_id)))


def is_file_safe_id(video_id: str) -> bool:
    """Whether an id read from a manifest is safe in a path (``A-Za-z0-9_-``, 1-64 characters)."""
    return bool(_SAFE_ID.match(str(video_id)))


def file_id(video_id: str) -> str:
    """The id of ``video_id`` (a site's id, a file's stem): kept as it is when it is YouTube-shaped
    or file-safe, else a sanitised form with a hash of the original (see the module doc)."""
    text = str(video_id)
    if is_youtube_id(text) or (is_file_safe_id(text) and not text.startswith("-")):
        return text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{safe_name(text, max_len=40)}-{digest}"
