"""AudioSet events over overlapping windows with the chosen tagger (PANNs Cnn14 or YAMNet)."""

from __future__ import annotations

import numpy as np

from realsync_build.stages.annotate.decode import SAMPLE_RATE


def event_rows(
    clip_id: str,
    tagger,
    audio: np.ndarray,
    window_s: float,
    hop_s: float,
    threshold: float,
    duration_s: float,
    top_k: int = 3,
) -> tuple[list[dict], str | None]:
    """Rows (clip_id, start_s, end_s, label, mid, score) for every window x class above ``threshold``,
    and the clip's top events (``;``-joined labels by best score, at most ``top_k``)."""
    need = int(round(window_s * SAMPLE_RATE))
    if audio.size < need:
        audio = np.pad(audio, (0, need - audio.size))
    starts, scores = tagger.tag(audio, window_s, hop_s)
    scores = np.asarray(scores, np.float64)
    rows: list[dict] = []
    if scores.size == 0:
        return rows, None
    wi, ci = np.nonzero(scores >= threshold)
    for w, c in zip(wi.tolist(), ci.tolist()):
        start = float(starts[w])
        rows.append(
            {
                "clip_id": clip_id,
                "start_s": start,
                "end_s": min(start + window_s, max(duration_s, start)),
                "label": str(tagger.labels[c]),
                "mid": str(tagger.mids[c]),
                "score": float(scores[w, c]),
            }
        )
    rows.sort(key=lambda r: (r["start_s"], -r["score"]))
    best = scores.max(axis=0)
    order = [int(c) for c in np.argsort(-best) if best[c] >= threshold][:top_k]
    top = [str(tagger.labels[c]) for c in order]  # a list<string> column, best first
    return rows, top
