"""The report's tables as data frames, and their renderers (rich, Markdown, CSV, HTML).

* Table 1 (the dataset, one row) and Table 2 (per channel): videos, clips,
  hours, and the hours per scenario from ``annotations.parquet``'s per-clip
  ``t_th_s`` / ``t_vo_s`` / ``t_unscored_s`` / ``t_other_s``.
* the split table: videos, clips and hours per split and channel;
* evaluation segments per scenario and per offset class (per evaluation split);
* the top audio events.

Honesty rules.  A value nobody measured is ``None`` in the frames and ``n/a``
in every rendering, never 0: scenario hours when the root was never annotated,
talking-head and voice-over hours when SyncNet did not run on every clip
(``sync_status`` skipped), segment counts when the root was never split.
Durations are kept in hours in the frames and the CSV files (full precision);
the human renderings (rich, Markdown, HTML) switch to minutes when the whole
dataset is under one hour (:func:`duration_unit`), and say the unit in the
header.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from html import escape

import pandas as pd
from rich.table import Table

from realsync_build.core.clipview import Inputs, annotation_done
from realsync_build.core.scenario import SCENARIOS
from realsync_build.core.avformat import NUM_CLASSES, class_to_offset
from realsync_build.core.segments import EVAL_SPLITS

NA = "n/a"
SCENARIO_HOURS = {"talking_head": "talking_head_hours", "voice_over": "voice_over_hours", "unscored": "unscored_hours", "other": "other_hours"}
SCENARIO_SECONDS = {"talking_head": "t_th_s", "voice_over": "t_vo_s", "unscored": "t_unscored_s", "other": "t_other_s"}
TABLE2_COLUMNS = ["channel", "category", "videos", "clips", "hours", *SCENARIO_HOURS.values()]
TABLE1_COLUMNS = ["dataset", "channels", "videos", "clips", "hours", *SCENARIO_HOURS.values(), "eval_segments"]
SPLIT_COLUMNS = ["split", "channel", "videos", "clips", "hours"]
SCENARIO_NAMES = {"talking_head": "Talking head", "voice_over": "Voice-over", "unscored": "Unscored", "other": "Other", "unannotated": "Unannotated"}
HEADERS = {
    "channel": "Channel", "category": "Category", "videos": "Videos", "clips": "Clips", "hours": "Hours",
    "talking_head_hours": "Talking-head h", "voice_over_hours": "Voice-over h", "unscored_hours": "Unscored h",
    "other_hours": "Other h", "dataset": "Dataset", "channels": "Channels", "eval_segments": "Eval segments",
    "split": "Split", "scenario": "Scenario", "offset_s": "Offset (s)", "total": "Total", "label": "Event",
    "windows": "Event windows", "clips_with": "Clips",
}  # fmt: skip


@dataclass(frozen=True)
class Unit:
    """How durations (held in hours) are shown."""

    name: str  # "h" or "min"
    per_hour: float  # 1 or 60
    digits: int

    def header(self, header: str) -> str:
        if header == "Hours":
            return "Hours" if self.name == "h" else "Minutes"
        return header[:-2] + " " + self.name if header.endswith(" h") else header


HOURS = Unit("h", 1.0, 2)
MINUTES = Unit("min", 60.0, 1)


def duration_unit(total_hours: float | None) -> Unit:
    """Hours, or minutes when the whole dataset is under one hour (0.006 h reads as 0.4 min)."""
    return MINUTES if total_hours is not None and total_hours < 1.0 else HOURS


def _is_na(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA


def _sum_or_na(s: pd.Series):
    """Sum of a column, or None when any value in it was not measured (or it is empty of measurements)."""
    if s.isna().any():
        return None
    return float(s.sum())


# ---------------------------------------------------------------- per clip


def clip_hours(inputs: Inputs) -> pd.DataFrame:
    """Per done clip: channel, category, video, split, hours, and hours per scenario (NaN = not measured)."""
    c = inputs.clips
    ann = annotation_done(inputs)
    out = pd.DataFrame(
        {
            "clip_id": c["clip_id"],
            "channel": c["channel"],
            "category": c["category"].fillna("unknown"),
            "video_id": c["video_id"],
            "split": c["split"] if "split" in c else None,
            "hours": (c["end_s"] - c["start_s"]) / 3600.0,
        }
    )
    for scen, col in SCENARIO_HOURS.items():
        src = SCENARIO_SECONDS[scen]
        if len(ann) and src in ann:
            secs = pd.to_numeric(c["clip_id"].map(ann[src]), errors="coerce")
        else:
            secs = pd.Series(float("nan"), index=c.index)
        out[col] = secs / 3600.0
    return out


def table2(inputs: Inputs) -> pd.DataFrame:
    h = clip_hours(inputs)
    rows = []
    for ch, g in h.groupby("channel", sort=True):
        row = {
            "channel": ch,
            "category": ",".join(sorted(set(g["category"]))),
            "videos": int(g["video_id"].nunique()),
            "clips": int(len(g)),
            "hours": float(g["hours"].sum()),
        }
        row.update({col: _sum_or_na(g[col]) for col in SCENARIO_HOURS.values()})
        rows.append(row)
    return pd.DataFrame(rows, columns=TABLE2_COLUMNS)


def table1(inputs: Inputs, segments: pd.DataFrame | None, name: str) -> pd.DataFrame:
    h = clip_hours(inputs)
    row = {
        "dataset": name,
        "channels": int(h["channel"].nunique()),
        "videos": int(h["video_id"].nunique()),
        "clips": int(len(h)),
        "hours": float(h["hours"].sum()),
        **{col: (_sum_or_na(h[col]) if len(h) else None) for col in SCENARIO_HOURS.values()},
        "eval_segments": int(len(segments)) if segments is not None else None,
    }
    return pd.DataFrame([row], columns=TABLE1_COLUMNS)


def split_table(inputs: Inputs) -> pd.DataFrame | None:
    """Videos, clips and hours per split and channel (plus an ``all`` row per split); None before ``split``."""
    h = clip_hours(inputs)
    h = h[h["split"].notna()] if "split" in h else h.iloc[0:0]
    if h.empty:
        return None
    order = {s: k for k, s in enumerate(("train", "dev", "test"))}
    rows = []
    for split, g in sorted(h.groupby("split"), key=lambda kv: (order.get(kv[0], 9), kv[0])):
        for ch, gc in g.groupby("channel", sort=True):
            rows.append({"split": split, "channel": ch, "videos": int(gc["video_id"].nunique()), "clips": int(len(gc)), "hours": float(gc["hours"].sum())})
        rows.append({"split": split, "channel": "all", "videos": int(g["video_id"].nunique()), "clips": int(len(g)), "hours": float(g["hours"].sum())})
    return pd.DataFrame(rows, columns=SPLIT_COLUMNS)


# ---------------------------------------------------------------- evaluation segments


def _eval_splits(segments: pd.DataFrame) -> list[str]:
    present = list(dict.fromkeys(segments["split"].dropna())) if len(segments) else []
    return [s for s in EVAL_SPLITS if s in present] + sorted(s for s in present if s not in EVAL_SPLITS) or list(EVAL_SPLITS)


def segments_by_scenario(segments: pd.DataFrame | None) -> pd.DataFrame | None:
    """Segments per scenario (rows, every scenario listed, ``unscored`` its own) and evaluation split; None before ``split``."""
    if segments is None:
        return None
    splits = _eval_splits(segments)
    found = list(SCENARIOS) + sorted(set(segments["scenario"].dropna()) - set(SCENARIOS))
    rows = []
    for scen in found:
        m = segments["scenario"] == scen
        row = {"scenario": scen, **{s: int((m & (segments["split"] == s)).sum()) for s in splits}, "total": int(m.sum())}
        rows.append(row)
    return pd.DataFrame(rows, columns=["scenario", *splits, "total"])


def segments_by_offset(segments: pd.DataFrame | None) -> pd.DataFrame | None:
    """Segments per offset class (-2.0 .. +2.0 s, 21 rows) and evaluation split; None before ``split``."""
    if segments is None:
        return None
    splits = _eval_splits(segments)
    rows = []
    for cls in range(NUM_CLASSES):
        m = segments["offset_class"] == cls
        rows.append({"offset_s": f"{class_to_offset(cls):+.1f}", **{s: int((m & (segments["split"] == s)).sum()) for s in splits}, "total": int(m.sum())})
    return pd.DataFrame(rows, columns=["offset_s", *splits, "total"])


def top_events(events: pd.DataFrame | None, top: int) -> pd.DataFrame | None:
    """The ``top`` most frequent event labels: windows and clips; None when no events were computed."""
    if events is None or not len(events):
        return None
    g = events.groupby("label")
    df = pd.DataFrame({"windows": g.size(), "clips_with": g["clip_id"].nunique()}).reset_index()
    df = df.sort_values(["windows", "label"], ascending=[False, True], kind="mergesort").head(top)
    return df[["label", "windows", "clips_with"]].reset_index(drop=True)


# ---------------------------------------------------------------- rendering


def is_duration(col: str) -> bool:
    return col == "hours" or col.endswith("_hours")


def fmt(col: str, v, unit: Unit = HOURS) -> str:
    """One cell for people: ``n/a`` when not measured; durations in ``unit``."""
    if _is_na(v):
        return NA
    if is_duration(col):
        return f"{float(v) * unit.per_hour:.{unit.digits}f}"
    if col == "scenario":
        return SCENARIO_NAMES.get(str(v), str(v))
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def fmt_csv(col: str, v) -> str:
    """One CSV cell: ``n/a`` when not measured; durations in hours at full precision."""
    if _is_na(v):
        return NA
    if is_duration(col):
        return f"{float(v):.6f}"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def header(col: str, unit: Unit = HOURS) -> str:
    return unit.header(HEADERS.get(col, col))


def _numeric(df: pd.DataFrame, col: str) -> bool:
    return col not in ("dataset", "channel", "category", "split", "scenario", "label", "offset_s")


def to_markdown(df: pd.DataFrame, unit: Unit = HOURS) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(header(c, unit) for c in cols) + " |"]
    lines.append("| " + " | ".join("---:" if _numeric(df, c) else "---" for c in cols) + " |")
    for r in df.to_dict("records"):
        lines.append("| " + " | ".join(fmt(c, r[c], unit).replace("|", "\\|") for c in cols) + " |")
    return "\n".join(lines) + "\n"


def to_csv(df: pd.DataFrame) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(list(df.columns))
    for r in df.to_dict("records"):
        w.writerow([fmt_csv(c, r[c]) for c in df.columns])
    return buf.getvalue()


# Short headers for a narrow terminal (a legend under the table says what they stand for).
SHORT = {
    "category": "Cat.", "videos": "Vids", "channels": "Chans", "talking_head_hours": "TH h", "voice_over_hours": "VO h",
    "unscored_hours": "Unsc. h", "other_hours": "Oth. h", "eval_segments": "Segs",
}  # fmt: skip


def to_rich(df: pd.DataFrame, title: str, unit: Unit = HOURS, width: int | None = None) -> Table:
    """A rich table; at ``width`` columns (default: the terminal's) headers wrap or shorten, never "Chann…"."""
    from realsync_build.core.ui import fit_table, results

    t = Table(title=title)
    for c in df.columns:
        t.add_column(header(c, unit), justify="right" if _numeric(df, c) else "left")
    for r in df.to_dict("records"):
        t.add_row(*(fmt(c, r[c], unit) for c in df.columns))
    fit_table(t, width or results.width, {header(c, unit): header(SHORT[c], unit) for c in df.columns if c in SHORT})
    return t


def to_html(df: pd.DataFrame, unit: Unit = HOURS) -> str:
    head = "".join(f"<th>{escape(header(c, unit))}</th>" for c in df.columns)
    body = []
    for r in df.to_dict("records"):
        cells = []
        for c in df.columns:
            text = fmt(c, r[c], unit)
            cls = " class=na" if text == NA else (" class=num" if _numeric(df, c) else "")
            cells.append(f"<td{cls}>{escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def offsets_wide_html(by_offset: pd.DataFrame) -> str:
    """The per-offset-class counts with the 21 classes as columns (a split a row): one screen wide, not 21 rows."""
    splits = [c for c in by_offset.columns if c != "offset_s"]
    head = "<th>Offset (s)</th>" + "".join(f"<th>{escape(str(o))}</th>" for o in by_offset["offset_s"])
    rows = "".join(
        f"<tr><td>{escape(HEADERS.get(s, s))}</td>" + "".join(f"<td class=num>{int(v)}</td>" for v in by_offset[s]) + "</tr>" for s in splits
    )
    return f"<table class=wide><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
