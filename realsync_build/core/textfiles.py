"""Text files a user hands over (config files, channel lists, published lists), read defensively.

* UTF-8 only; a bad byte is one line naming the file, the line and the column.
* TOML and JSON nesting is bounded (:data:`MAX_DEPTH`) before the parser runs: both parsers
  recurse per level, so a 100,000-deep array would otherwise end in a ``RecursionError``.
  None of realsync's own files nests deeper than 3.

Every problem is a :class:`TextFileError` (a :class:`~realsync_build.core.errors.UserError`,
exit 2, and a ``ValueError`` for callers that catch those).
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

from realsync_build.core.errors import UserError

MAX_DEPTH = 64  # nested arrays/tables/objects; realsync's own files use at most 3


class TextFileError(UserError, ValueError):
    """A user's text file that is not UTF-8, too deeply nested, or not valid TOML/JSON."""


def decode_utf8(data: bytes, source: str | Path) -> str:
    """``data`` as UTF-8 text (a leading BOM dropped), or one line naming ``source``'s line and column."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        start = exc.start
        line = data.count(b"\n", 0, start) + 1
        column = start - (data.rfind(b"\n", 0, start) + 1) + 1
        raise TextFileError(f"{source}:{line}: not UTF-8 text (byte 0x{data[start]:02x} at column {column}); save it as UTF-8") from None


def read_utf8(path: str | Path) -> str:
    path = Path(path)
    return decode_utf8(path.read_bytes(), path)


# The tokens that matter for nesting; strings and comments are skipped whole so a "[" inside them
# does not count.  JSON has only "..." strings; TOML has four string forms and # comments.
_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[\]{}]', re.S)
_TOML_TOKENS = re.compile(r'"""(?:[^\\]|\\.)*?"""|\'\'\'.*?\'\'\'|"(?:[^"\\\n]|\\.)*"?|\'[^\'\n]*\'?|#[^\n]*|[\[\]{}]', re.S)


def nesting_depth(text: str, kind: str = "json", limit: int = MAX_DEPTH) -> tuple[int, int]:
    """``(depth, line)``: the deepest nesting of ``[``/``{`` in ``text`` (stopping once past ``limit``)
    and the line where that depth was reached."""
    tokens = _JSON_TOKENS if kind == "json" else _TOML_TOKENS
    depth = deepest = 0
    at = 0
    for m in tokens.finditer(text):
        tok = m.group()
        if tok in ("[", "{"):
            depth += 1
            if depth > deepest:
                deepest, at = depth, m.start()
                if deepest > limit:
                    break
        elif tok in ("]", "}"):
            depth = max(depth - 1, 0)
    return deepest, text.count("\n", 0, at) + 1


def _check_depth(text: str, kind: str, source: str | Path) -> None:
    depth, line = nesting_depth(text, kind)
    if depth > MAX_DEPTH:
        raise TextFileError(f"{source}:{line}: nested more than {MAX_DEPTH} levels deep: not a {kind.upper()} file realsync reads")


def loads_toml(text: str, source: str | Path) -> dict[str, Any]:
    _check_depth(text, "toml", source)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TextFileError(f"{source} is not valid TOML: {exc}") from None
    except RecursionError:  # a nesting the scan above did not see (it stops at MAX_DEPTH anyway)
        raise TextFileError(f"{source}: nested too deep to read as TOML") from None


def load_toml(path: str | Path) -> dict[str, Any]:
    """A TOML file: UTF-8, at most :data:`MAX_DEPTH` deep, valid; else one :class:`TextFileError`."""
    return loads_toml(read_utf8(path), path)


def loads_json(text: str, source: str | Path) -> Any:
    _check_depth(text, "json", source)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise TextFileError(f"{source}:{exc.lineno}: invalid JSON ({exc.msg})") from None
    except RecursionError:
        raise TextFileError(f"{source}: nested too deep to read as JSON") from None


def load_json(path: str | Path) -> Any:
    """A JSON file: UTF-8, at most :data:`MAX_DEPTH` deep, valid; else one :class:`TextFileError`."""
    return loads_json(read_utf8(path), path)
