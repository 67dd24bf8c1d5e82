"""The record ``split --from-list`` leaves in a root (``manifests/adoption.json``): read by the export
(StreamSync's own layout writes the recorded skip lists back) and by ``evaluate`` (the paper tables
say which protocol the segments were selected with).  Written by :mod:`realsync_build.stages.split.adopt`.
"""

from __future__ import annotations

import json

from realsync_build.core.root import DatasetRoot

ADOPTION = "adoption.json"


class AdoptError(ValueError):
    pass


def read_adoption(root: DatasetRoot) -> dict | None:
    """The record ``split --from-list`` left in the root, or None (a root split by ``split --seed``)."""
    path = root.pull(root.manifests / ADOPTION)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise AdoptError(f"{path} is not valid JSON ({exc.msg}): rerun `realsync split --from-list`") from None
