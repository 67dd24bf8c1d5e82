"""``manifests/listed_spans.json``: the clip spans each video of a published list needs.

``fetch --from-list`` records them (:func:`record_spans`); ``preprocess --only-listed`` cuts exactly
these (:func:`read_listed_spans`).
"""

from __future__ import annotations

import json
from pathlib import Path

from realsync_build.core import atomic

LISTED_SPANS = "listed_spans.json"


def record_spans(root, planned: list[dict]) -> Path:
    """``manifests/listed_spans.json``: ``{video_id: [[start_s, end_s], ...]}``, the clip spans each listed
    video needs; ``preprocess --only-listed`` cuts exactly these."""
    path = root.manifests / LISTED_SPANS
    spans = {r["video_id"]: r["listed_spans"] for r in planned}
    atomic.write_text(path, json.dumps(spans, sort_keys=True, separators=(",", ":")) + "\n")
    root.push(path)
    return path


def read_listed_spans(root) -> dict[str, list[list[int]]]:
    """What :func:`record_spans` wrote; a clear error when ``fetch --from-list`` never ran."""
    path = root.pull(root.manifests / LISTED_SPANS)
    if not path.is_file():
        from realsync_build.core.manifest import MissingInput

        raise MissingInput(
            f"{path} not found: --only-listed cuts the spans `realsync fetch --from-list` records; run it first (--dry-run is enough)"
        )
    return {str(k): [[int(a), int(b)] for a, b in v] for k, v in json.loads(path.read_text(encoding="utf-8")).items()}
