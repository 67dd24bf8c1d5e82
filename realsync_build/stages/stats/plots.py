"""The report's figures, drawn headless (matplotlib Agg) at fixed pixel sizes.

* ``events_top.png`` (Figure 1): the most frequent audio events (up to 50), by
  number of event windows in ``events.parquet``; the title says how many.
* ``channel_hours.png``: duration per channel split into the four scenarios
  (``unscored`` in its own colour); time whose scenario was not measured (no
  annotation, or talking head / voice-over without SyncNet) is a hatched "n/a"
  part of the bar, never 0.
* ``scenarios.png``: evaluation segments per scenario and split.
* ``offset_classes.png``: evaluation segments per offset class (-2.0 .. +2.0 s).

Counts have integer ticks; durations are in hours, or minutes when the dataset
is under an hour (the axis says which).  A figure without data says so in the
plot (it is still written, so the report never links a missing image).
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from realsync_build.core import atomic  # noqa: E402
from realsync_build.core.avformat import NUM_CLASSES, class_to_offset  # noqa: E402
from realsync_build.stages.stats.tables import HOURS, SCENARIO_HOURS, SCENARIO_NAMES, Unit  # noqa: E402

DPI = 100
SIZES = {  # pixels (width, height)
    "events_top.png": (1000, 1200),
    "channel_hours.png": (1000, 600),
    "scenarios.png": (1000, 450),
    "offset_classes.png": (1000, 500),
}
COLOURS = {"talking_head": "#3b6ea5", "voice_over": "#e3a33b", "unscored": "#8e5ea2", "other": "#b0b0b0", "unannotated": "#dddddd"}
SPLIT_COLOURS = {"dev": "#5b8c5a", "test": "#a5553b"}
NA_COLOUR = "#ffffff"


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


def _integer_counts(axis) -> None:
    axis.set_major_locator(MaxNLocator(integer=True))


def events_size(n: int) -> tuple[int, int]:
    """Figure 1's pixel size for ``n`` events: about 20 px a bar, 1000 x 1200 at 50."""
    w, h = SIZES["events_top.png"]
    return w, int(min(h, max(320, 160 + 21 * n)))


def plot_events(counts: pd.Series, path) -> str:
    """Horizontal bars of ``counts`` (label -> event windows, most frequent first); returns the title.

    The figure is :func:`events_size` ``(len(counts))`` pixels (a few events get short bars, not giant ones)."""
    w, h = events_size(len(counts))
    fig = plt.figure(figsize=(w / DPI, h / DPI), dpi=DPI)
    ax = fig.add_axes([0.3, 90 / h, 0.66, 1 - 140 / h])
    if len(counts):
        title = f"Top {len(counts)} audio events by number of event windows"
        ax.barh(range(len(counts)), counts.values[::-1], color="#3b6ea5", height=0.7)
        ax.set_yticks(range(len(counts)), counts.index[::-1], fontsize=9)
        ax.set_ylim(-0.6, len(counts) - 0.4)
        ax.set_xlabel("event windows")
        _integer_counts(ax.xaxis)
        ax.set_title(title)
    else:
        title = "No audio events"
        _empty(ax, "no audio events (run `realsync annotate`)")
    _save(fig, path)
    return title


def plot_channel_hours(table2: pd.DataFrame, path, unit: Unit = HOURS) -> bool:
    """Stacked scenario time per channel; returns whether some channel shows an n/a (hatched or labelled)."""
    fig = _figure("channel_hours.png")
    ax = fig.add_axes([0.08, 0.2, 0.9, 0.72])
    hatched = False
    if len(table2):
        x = np.arange(len(table2))
        total = table2["hours"].to_numpy(float) * unit.per_hour
        vals = {scen: pd.to_numeric(table2[col], errors="coerce").to_numpy(float) * unit.per_hour for scen, col in SCENARIO_HOURS.items()}
        known = sum(np.nan_to_num(v) for v in vals.values())
        unknown = np.where(np.isnan(np.stack(list(vals.values()))).any(axis=0), np.clip(total - known, 0.0, None), 0.0)
        hatched = bool((unknown > 0).any())
        bottom = np.zeros(len(table2))
        for scen in SCENARIO_HOURS:
            v = np.nan_to_num(vals[scen])
            ax.bar(x, v, bottom=bottom, label=SCENARIO_NAMES[scen], color=COLOURS[scen])
            bottom += v
            if scen == "voice_over" and hatched:  # the time whose scenario was not measured, where TH/VO would be
                ax.bar(x, unknown, bottom=bottom, color=NA_COLOUR, edgecolor="#777777", hatch="//", label="not measured (n/a)")
                for xi, b0, u in zip(x, bottom, unknown):
                    if u > 0:
                        ax.text(xi, b0 + u / 2, "n/a", ha="center", va="center", fontsize=11, backgroundcolor="white")
                bottom += unknown
        for xi, ti, u, th in zip(x, total, unknown, vals["talking_head"]):
            if np.isnan(th) and u == 0:  # the time is all accounted for, but SyncNet's split of it was not measured
                ax.text(xi, ti, "talking head / voice-over: n/a", ha="center", va="bottom", fontsize=9)
                hatched = True
        ax.set_xticks(list(x), list(table2["channel"]), rotation=45, ha="right")
        ax.set_ylabel("hours" if unit.name == "h" else "minutes")
        ax.set_ylim(0, max(float(total.max()), 1e-9) * 1.12)
        ax.set_title(f"{'Hours' if unit.name == 'h' else 'Minutes'} per channel by scenario")
        ax.legend()
    else:
        _empty(ax, "no clips")
    _save(fig, path)
    return hatched


def plot_scenarios(by_scenario: pd.DataFrame | None, path) -> None:
    fig = _figure("scenarios.png")
    ax = fig.add_axes([0.08, 0.15, 0.9, 0.73])
    if by_scenario is not None and int(by_scenario["total"].sum()):
        splits = [c for c in by_scenario.columns if c not in ("scenario", "total")]
        x = np.arange(len(by_scenario))
        width = 0.8 / max(1, len(splits))
        for k, s in enumerate(splits):
            ax.bar(x + (k - (len(splits) - 1) / 2) * width, by_scenario[s], width, label=s, color=SPLIT_COLOURS.get(s, "#777777"))
        names = [SCENARIO_NAMES.get(s, s) for s in by_scenario["scenario"]]
        ax.set_xticks(list(x), names)
        for tick, scen in zip(ax.get_xticklabels(), by_scenario["scenario"]):
            tick.set_color(COLOURS.get(scen, "black") if scen != "other" else "#555555")
        ax.set_ylabel("segments")
        _integer_counts(ax.yaxis)
        ax.set_title(f"Evaluation segments per scenario ({int(by_scenario['total'].sum())} segments)")
        ax.legend(title="split")
    else:
        _empty(ax, "no evaluation segments (run `realsync split`)")
    _save(fig, path)


def plot_offsets(by_offset: pd.DataFrame | None, path) -> None:
    fig = _figure("offset_classes.png")
    ax = fig.add_axes([0.08, 0.15, 0.9, 0.75])
    if by_offset is not None and int(by_offset["total"].sum()):
        splits = [c for c in by_offset.columns if c not in ("offset_s", "total")]
        bottom = np.zeros(NUM_CLASSES)
        for s in splits:
            ax.bar(range(NUM_CLASSES), by_offset[s], bottom=bottom, label=s, color=SPLIT_COLOURS.get(s, "#777777"))
            bottom += by_offset[s].to_numpy()
        ax.set_xticks(range(NUM_CLASSES), [f"{class_to_offset(c):+.1f}" for c in range(NUM_CLASSES)], rotation=60)
        ax.set_xlabel("audio offset (s)")
        ax.set_ylabel("segments")
        _integer_counts(ax.yaxis)
        ax.set_title(f"Evaluation segments per offset class ({int(by_offset['total'].sum())} segments)")
        ax.legend(title="split")
    else:
        _empty(ax, "no evaluation segments (run `realsync split`)")
    _save(fig, path)
