"""The report's figures, drawn headless (matplotlib Agg) at fixed pixel sizes.

* ``events_top50.png`` (Figure 1): the 50 most frequent audio events, by number
  of event windows in ``events.parquet``.
* ``offset_classes.png``: evaluation segments per offset class (-2.0 .. +2.0 s).
* ``channel_hours.png``: hours per channel, split into talking head, voice-over
  and the rest.

A figure without data says so in the plot (it is still written, so the report
never links a missing image).
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from realsync_build.core import atomic  # noqa: E402
from realsync_build.stages.split.segments import N_CLASSES, offset_of_class  # noqa: E402

DPI = 100
SIZES = {  # pixels (width, height)
    "events_top50.png": (1000, 1200),
    "offset_classes.png": (1000, 500),
    "channel_hours.png": (1000, 600),
}


def _figure(name: str):
    w, h = SIZES[name]
    return plt.figure(figsize=(w / DPI, h / DPI), dpi=DPI)


def _save(fig, path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    plt.close(fig)
    atomic.write_bytes(path, buf.getvalue())


def _empty(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=16, transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_events(events: pd.DataFrame, path, top: int = 50) -> pd.Series:
    counts = pd.Series(dtype="int64")
    if len(events):
        n = events.groupby("label").size().reset_index(name="n")
        counts = n.sort_values(["n", "label"], ascending=[False, True], kind="mergesort").set_index("label")["n"]
    counts = counts.head(top)
    fig = _figure("events_top50.png")
    ax = fig.add_axes([0.3, 0.06, 0.66, 0.9])
    if len(counts):
        ax.barh(range(len(counts)), counts.values[::-1], color="#3b6ea5")
        ax.set_yticks(range(len(counts)), counts.index[::-1], fontsize=8)
        ax.set_xlabel("event windows")
        ax.set_title(f"Top {len(counts)} audio events by occurrence")
    else:
        _empty(ax, "no audio events (run `realsync annotate`)")
    _save(fig, path)
    return counts


def plot_offsets(segments: pd.DataFrame | None, path) -> list[int]:
    counts = [0] * N_CLASSES
    if segments is not None:
        for cls, n in segments["offset_class"].value_counts().items():
            counts[int(cls)] = int(n)
    fig = _figure("offset_classes.png")
    ax = fig.add_axes([0.08, 0.15, 0.9, 0.75])
    if sum(counts):
        ax.bar(range(N_CLASSES), counts, color="#a5553b")
        ax.set_xticks(range(N_CLASSES), [f"{offset_of_class(c):+.1f}" for c in range(N_CLASSES)], rotation=60)
        ax.set_xlabel("audio offset (s)")
        ax.set_ylabel("segments")
        ax.set_title(f"Evaluation segments per offset class ({sum(counts)} segments)")
    else:
        _empty(ax, "no evaluation segments (run `realsync split`)")
    _save(fig, path)
    return counts


def plot_channel_hours(table2: pd.DataFrame, path) -> None:
    fig = _figure("channel_hours.png")
    ax = fig.add_axes([0.08, 0.25, 0.9, 0.67])
    if len(table2):
        x = range(len(table2))
        th = table2["talking_head_hours"].to_numpy()
        vo = table2["voice_over_hours"].to_numpy()
        rest = (table2["hours"] - table2["talking_head_hours"] - table2["voice_over_hours"]).clip(lower=0).to_numpy()
        ax.bar(x, th, label="talking head", color="#3b6ea5")
        ax.bar(x, vo, bottom=th, label="voice-over", color="#e3a33b")
        ax.bar(x, rest, bottom=th + vo, label="other", color="#b0b0b0")
        ax.set_xticks(list(x), list(table2["channel"]), rotation=45, ha="right")
        ax.set_ylabel("hours")
        ax.set_title("Hours per channel")
        ax.legend()
    else:
        _empty(ax, "no clips")
    _save(fig, path)
