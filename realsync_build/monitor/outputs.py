"""Monitor outputs: the JSONL log, the live panel and the end-of-run report (PNG + summary)."""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from realsync_build.core import atomic

JSONL_FIELDS = ("t_s", "offset_ms", "class_offset_ms", "confidence", "alert")


def offset_words(offset_ms: float) -> str:
    """What an offset says in words, at the ms the panel prints: ``-400`` -> ``audio lags``."""
    ms = round(float(offset_ms))
    return "in sync" if ms == 0 else "audio leads" if ms > 0 else "audio lags"


@dataclass
class HopResult:
    t_s: float  # stream time at the end of the window
    offset_ms: float | None  # the sign of offset_sec: + audio leads, - audio lags; None when nothing could be measured
    class_offset_ms: float | None
    confidence: float
    alert: bool

    def row(self) -> dict:
        r = lambda v, n: None if v is None else round(float(v), n)  # noqa: E731
        return {"t_s": r(self.t_s, 3), "offset_ms": r(self.offset_ms, 1), "class_offset_ms": r(self.class_offset_ms, 1),
                "confidence": r(self.confidence, 4), "alert": bool(self.alert)}


class JsonlLog:
    """One JSON object per hop, one ``write`` + flush per line (a live log a tail can follow)."""

    def __init__(self, path: Path | None) -> None:
        self.fh: IO[str] | None = None
        self.own = True
        if path is not None and str(path) == "-":  # stdout, for pipes (the panel and logs are on stderr)
            self.fh, self.own = sys.stdout, False
        elif path is not None:
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            self.fh = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def write(self, hop: HopResult) -> None:
        if self.fh is not None:
            self.fh.write(json.dumps(hop.row()) + "\n")
            self.fh.flush()

    def close(self) -> None:
        if self.fh is not None and self.own:
            self.fh.close()
        self.fh = None


SPARK = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float | None], limit_ms: float = 500.0) -> str:
    """One character per hop, offset clamped to +/-limit_ms; a space where nothing was measured."""
    out = []
    for v in values:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out.append(" ")
            continue
        x = (min(max(v, -limit_ms), limit_ms) + limit_ms) / (2 * limit_ms)
        out.append(SPARK[min(int(x * len(SPARK)), len(SPARK) - 1)])
    return "".join(out)


class Panel:
    """A rich Live panel on stderr: current offset, confidence, alert state, the last minute."""

    def __init__(self, enabled: bool, title: str, hop_s: float, rules) -> None:
        self.enabled, self.title, self.rules = enabled, title, rules
        self.history: list[float | None] = []
        self.n_hist = max(1, int(round(60.0 / hop_s)))
        self.live = None
        self.last_event = ""
        if enabled:
            from rich.live import Live

            from realsync_build.core.ui import console

            self.live = Live(self._render(None), console=console, refresh_per_second=4, transient=False)
            self.live.start()

    def _render(self, hop: HopResult | None):
        from rich.panel import Panel as RPanel
        from rich.table import Table

        t = Table.grid(padding=(0, 2))
        t.add_column(style="bold")
        t.add_column()
        if hop is None:
            t.add_row("status", "waiting for the first window ...")
        else:
            off = "n/a" if hop.offset_ms is None else f"{hop.offset_ms:+.0f} ms ({offset_words(hop.offset_ms)})"
            t.add_row("stream time", f"{hop.t_s:.1f} s")
            t.add_row("offset", off)
            t.add_row("confidence", f"{hop.confidence:.2f}")
            t.add_row("alert", "[red bold]ALERT[/red bold]" if hop.alert else "[green]ok[/green]")
            t.add_row("last minute", sparkline(self.history[-self.n_hist :]))
        t.add_row("limits", f"-{self.rules.lag_ms:g} ms (lag) .. +{self.rules.lead_ms:g} ms (lead)")
        if self.last_event:
            t.add_row("event", self.last_event)
        from rich.markup import escape

        return RPanel(t, title=escape(self.title), expand=False)

    def update(self, hop: HopResult) -> None:
        self.history.append(hop.offset_ms)
        self.history = self.history[-self.n_hist :]
        if self.live is not None:
            self.live.update(self._render(hop))

    def event(self, message: str) -> None:
        self.last_event = message

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None


def summarize(hops: list[HopResult], spans: list[list[float]], hop_s: float, rules, extra: dict) -> dict:
    """Share of measured time within the limits, alert count, longest alert, drift (ms per minute)."""
    measured = [h for h in hops if h.offset_ms is not None and h.confidence >= rules.min_confidence]
    within = [h for h in measured if not rules.outside(h.offset_ms)]
    lengths = [float(b - a) for a, b in spans if b is not None]
    drift = None
    if len(measured) >= 3:
        t = np.array([h.t_s for h in measured])
        o = np.array([h.offset_ms for h in measured])
        if np.ptp(t) > 0:
            drift = float(np.polyfit(t / 60.0, o, 1)[0])
    offs = [h.offset_ms for h in measured]
    return {
        **extra,
        "hops": len(hops),
        "hop_s": hop_s,
        "confident_hops": len(measured),
        "share_within_limits": (len(within) / len(measured)) if measured else None,
        "alert_count": len(spans),
        "longest_alert_s": max(lengths) if lengths else (0.0 if not spans else None),
        "alert_spans_s": [[round(a, 3), None if b is None else round(b, 3)] for a, b in spans],
        "median_offset_ms": float(np.median(offs)) if offs else None,
        "drift_ms_per_min": drift,
        "lead_ms": rules.lead_ms,
        "lag_ms": rules.lag_ms,
        "persist": rules.persist,
        "min_confidence": rules.min_confidence,
    }


def write_report(out_dir: Path, hops: list[HopResult], summary: dict, rules) -> list[Path]:
    """``timeline.png`` (offset and confidence, limits, shaded alert spans) and ``summary.json``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t = np.array([h.t_s for h in hops], dtype=float)
    off = np.array([np.nan if h.offset_ms is None else h.offset_ms for h in hops], dtype=float)
    conf = np.array([h.confidence for h in hops], dtype=float)
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 5.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    low = conf < rules.min_confidence
    ax1.plot(t, off, "-", color="tab:blue", lw=1.2, label="offset (ms, - = audio lags, + = audio leads)")
    ax1.plot(t[low], off[low], "o", color="lightgray", ms=3, label="low confidence")
    ax1.plot(t[~low], off[~low], "o", color="tab:blue", ms=3)
    ax1.axhline(rules.lead_ms, color="tab:orange", ls="--", lw=1, label=f"+{rules.lead_ms:g} ms (lead limit)")
    ax1.axhline(-rules.lag_ms, color="tab:red", ls="--", lw=1, label=f"-{rules.lag_ms:g} ms (lag limit)")
    ax1.axhline(0, color="black", lw=0.5)
    for a, b in summary.get("alert_spans_s", []):
        for ax in (ax1, ax2):
            ax.axvspan(a, b if b is not None else (t.max() if len(t) else a), color="tab:red", alpha=0.15)
    ax1.set_ylabel("offset (ms)")
    ax1.legend(loc="upper left", fontsize=7)
    title = f"realsync monitor: {summary.get('input', '')} ({summary.get('mode', '')})"
    ax1.set_title(title, fontsize=9)
    ax2.plot(t, conf, "-", color="tab:green", lw=1)
    ax2.axhline(rules.min_confidence, color="gray", ls=":", lw=1)
    ax2.set_ylim(0, 1.02)
    ax2.set_ylabel("confidence")
    ax2.set_xlabel("stream time (s)")
    fig.tight_layout()
    png = out_dir / "timeline.png"
    with atomic.atomic_path(png) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    js = out_dir / "summary.json"
    atomic.write_text(js, json.dumps(summary, indent=2) + "\n")
    return [png, js]
