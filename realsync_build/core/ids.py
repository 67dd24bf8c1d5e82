"""Video ids are untrusted: the file-safe id every path and manifest row uses.

A YouTube id (11 characters of ``A-Z a-z 0-9 _ -``) is kept as it is, ``_`` and
``-`` included, so the manifest matches the published lists.  Anything else (a
``../``, a ``;``, a space, an overlong id from some other site) becomes
:func:`realsync_build.core.root.safe_name` of it plus a short hash, so distinct ids
never collide and nothing from the id can leave ``raw/{channel}/``.
"""

from __future__ import annotations

import hashlib
import re

from realsync_build.core.root import safe_name

_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def is_file_safe_id(video_id: str) -> bool:
    return bool(_SAFE_ID.match(str(video_id)))


def file_id(video_id: str) -> str:
    """``video_id`` when it is file-safe, else a sanitised form with a hash of the original."""
    text = str(video_id)
    if is_file_safe_id(text):
        return text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{safe_name(text, max_len=40)}-{digest}"
