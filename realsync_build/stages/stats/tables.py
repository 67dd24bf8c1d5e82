"""The paper's Table 1 row and Table 2 (per channel) for a dataset root.

Table 2 columns: channel, category, videos, clips, total hours, talking-head
hours, voice-over hours (from ``annotations.parquet``'s per-clip ``t_th_s`` /
``t_vo_s``; zero when the root was never annotated).  Table 1 is the same
figures for the whole dataset in one row, plus channels and evaluation
segments.  Renderers: a ``rich`` table, Markdown and CSV.
"""

from __future__ import annotations

import csv
import io

import pandas as pd
from rich.table import Table

from realsync_build.stages.split.inputs import Inputs, annotation_done

TABLE2_COLUMNS = ["channel", "category", "videos", "clips", "hours", "talking_head_hours", "voice_over_hours"]
TABLE1_COLUMNS = ["dataset", "channels", "videos", "clips", "hours", "talking_head_hours", "voice_over_hours", "eval_segments"]
HEADERS = {
    "channel": "Channel", "category": "Category", "videos": "Videos", "clips": "Clips", "hours": "Hours",
    "talking_head_hours": "Talking-head h", "voice_over_hours": "Voice-over h", "dataset": "Dataset",
    "channels": "Channels", "eval_segments": "Eval segments",
}  # fmt: skip


def clip_hours(inputs: Inputs) -> pd.DataFrame:
    """Per done clip: channel, category, video, hours, talking-head and voice-over hours."""
    c = inputs.clips
    ann = annotation_done(inputs)
    out = pd.DataFrame(
        {
            "clip_id": c["clip_id"],
            "channel": c["channel"],
            "category": c["category"].fillna("unknown"),
            "video_id": c["video_id"],
            "hours": (c["end_s"] - c["start_s"]) / 3600.0,
        }
    )
    th = c["clip_id"].map(ann["t_th_s"]) if len(ann) else pd.Series(0.0, index=c.index)
    vo = c["clip_id"].map(ann["t_vo_s"]) if len(ann) else pd.Series(0.0, index=c.index)
    out["talking_head_hours"] = pd.to_numeric(th, errors="coerce").fillna(0.0) / 3600.0
    out["voice_over_hours"] = pd.to_numeric(vo, errors="coerce").fillna(0.0) / 3600.0
    return out


def table2(inputs: Inputs) -> pd.DataFrame:
    h = clip_hours(inputs)
    g = h.groupby("channel", sort=True)
    t = pd.DataFrame(
        {
            "category": g["category"].agg(lambda s: ",".join(sorted(set(s)))),
            "videos": g["video_id"].nunique(),
            "clips": g["clip_id"].count(),
            "hours": g["hours"].sum(),
            "talking_head_hours": g["talking_head_hours"].sum(),
            "voice_over_hours": g["voice_over_hours"].sum(),
        }
    ).reset_index()
    return t[TABLE2_COLUMNS]


def table1(inputs: Inputs, segments: pd.DataFrame | None, name: str) -> pd.DataFrame:
    h = clip_hours(inputs)
    row = {
        "dataset": name,
        "channels": int(h["channel"].nunique()),
        "videos": int(h["video_id"].nunique()),
        "clips": int(len(h)),
        "hours": float(h["hours"].sum()),
        "talking_head_hours": float(h["talking_head_hours"].sum()),
        "voice_over_hours": float(h["voice_over_hours"].sum()),
        "eval_segments": int(len(segments)) if segments is not None else 0,
    }
    return pd.DataFrame([row], columns=TABLE1_COLUMNS)


def _fmt(col: str, v) -> str:
    if col.endswith("hours"):
        return f"{float(v):.3f}"
    return str(v)


def to_markdown(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(HEADERS.get(c, c) for c in cols) + " |"]
    lines.append("| " + " | ".join("---:" if pd.api.types.is_numeric_dtype(df[c]) else "---" for c in cols) + " |")
    for r in df.to_dict("records"):
        lines.append("| " + " | ".join(_fmt(c, r[c]).replace("|", "\\|") for c in cols) + " |")
    return "\n".join(lines) + "\n"


def to_csv(df: pd.DataFrame) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(list(df.columns))
    for r in df.to_dict("records"):
        w.writerow([_fmt(c, r[c]) for c in df.columns])
    return buf.getvalue()


def to_rich(df: pd.DataFrame, title: str) -> Table:
    t = Table(title=title)
    for c in df.columns:
        t.add_column(HEADERS.get(c, c), justify="right" if pd.api.types.is_numeric_dtype(df[c]) else "left")
    for r in df.to_dict("records"):
        t.add_row(*(_fmt(c, r[c]) for c in df.columns))
    return t


def to_html(df: pd.DataFrame) -> str:
    from html import escape

    head = "".join(f"<th>{escape(HEADERS.get(c, c))}</th>" for c in df.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(_fmt(c, r[c]))}</td>" for c in df.columns) + "</tr>" for r in df.to_dict("records")
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
