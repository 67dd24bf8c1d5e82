"""Recorded parameters as the flags a user types: one formatting for ``status``, the report and
the refusal of a rerun with other values.

Each stage records the options that shape its outputs under their CLI names
(``{"--clip-seconds": 300, "--keep-tail": false, "--ratios": [0.9, 0.05, 0.05]}``, see
:mod:`realsync_build.core.state`).  Printed, each becomes what pasting back onto the stage's
command means the same thing:

* ``True`` / ``False`` -> ``--keep-tail`` / ``--no-keep-tail`` (every recorded flag has both forms);
* ``None`` (not given: the built-in default applies) -> nothing;
* a list -> comma-joined (``--ratios 0.9,0.05,0.05``), or one flag per value for the options
  that repeat (:data:`REPEATED`: ``--from-list A.csv --from-list B.csv``);
* anything else -> its text, shell-quoted when it needs it.

``tests/test_recorded_params.py`` parses every stage's printed parameters with the stage's own
command, so a recorded name that is no option of the CLI fails there.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

# Options given once per value (click's multiple=True); every other list is comma-joined.
REPEATED = frozenset({"--from-list", "--as", "--role", "--skip-list"})


def _text(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)  # 0.05, not 0.05000000000000000277
    return str(value)


def flag_words(name: str, value: Any) -> list[str]:
    """One recorded parameter as the words a user would type (``[]`` when it was not given)."""
    if value is None:
        return []
    if isinstance(value, bool):
        return [name] if value else ["--no-" + name[2:]]
    if isinstance(value, (list, tuple)):
        if name in REPEATED:
            return [w for v in value for w in (name, _text(v))]
        return [name, ",".join(_text(v) for v in value)]
    if isinstance(value, dict):  # never recorded today; kept readable rather than wrong
        return [name, json.dumps(value, sort_keys=True)]
    return [name, _text(value)]


def flags_text(params: dict[str, Any] | None) -> str:
    """All of a record's parameters as one command-line fragment, in recorded order."""
    words = [w for k, v in (params or {}).items() for w in flag_words(k, v)]
    return shlex.join(words)


def setting_text(name: str, value: Any) -> str:
    """One parameter for a sentence: its flag, or ``--min-kbps unset (default)`` when not given."""
    words = flag_words(name, value)
    return shlex.join(words) if words else f"{name} unset (default)"


def change_text(name: str, old: Any, new: Any) -> str:
    """``--crf 18 -> --crf 20``, ``--keep-tail -> --no-keep-tail``: a parameter's change as flags."""
    return f"{setting_text(name, old)} -> {setting_text(name, new)}"
