"""The fetch stage's tables: the plan (``--dry-run``) and the per-channel outcome."""

from __future__ import annotations

from rich.table import Table

from realsync_build.stages.fetch.select import REASONS
from realsync_build.core.stage import print_report
from realsync_build.core.ui import console, fit_table, results


def _hours(seconds: float | None) -> str:
    if seconds is None or seconds != seconds:  # unknown: n/a, never "nan"
        return "n/a"
    return f"{seconds / 3600:.2f}" if seconds else "-"


def print_plan(report) -> None:
    """Videos and hours per channel that a run would fetch (and, from a list, the clip spans it needs)."""
    from_list = getattr(report, "from_list", False)
    table = Table(title="fetch plan (dry run: nothing downloaded)")
    cols = ("channel", "category", "videos") + (("clip spans", "hours needed", "video hours") if from_list else ("hours",))
    for col in cols:
        table.add_column(col, justify="left" if col in ("channel", "category") else "right")
    n = spans = 0
    total_s = listed_s = 0.0
    for t in report.tallies.values():
        if from_list:
            table.add_row(t.channel, t.category, str(t.kept), str(t.spans), _hours(t.listed_s), _hours(t.kept_s) if t.kept_s else "n/a")
        else:
            table.add_row(t.channel, t.category, str(t.kept), _hours(t.kept_s))
        n += t.kept
        spans += t.spans
        total_s += t.kept_s
        listed_s += t.listed_s
    if from_list:
        table.add_row("[bold]total[/bold]", "", f"[bold]{n}[/bold]", str(spans), _hours(listed_s), _hours(total_s) if total_s else "n/a")
    else:
        table.add_row("[bold]total[/bold]", "", f"[bold]{n}[/bold]", _hours(total_s))
    fit_table(table, results.width, {"category": "cat.", "clip spans": "spans", "hours needed": "h needed", "video hours": "video h"})
    results.print(table)  # the plan is the command's result: stdout
    if from_list:
        by_channel: dict[str, list[str]] = {}
        for row in report.planned:
            by_channel.setdefault(row["channel"], []).append(f"{row['video_id']} ({len(row.get('listed_spans') or [])})")
        for ch, vids in by_channel.items():
            console.print(f"[bold]{ch}[/bold]: {', '.join(vids)}", highlight=False)
        console.print(
            "(n): clip spans needed from that video; hours needed: the clip spans the lists name (what `preprocess --only-listed` cuts); "
            "video hours: whole videos, n/a until fetch has seen them (downloads fetch whole videos)"
        )
    _print_listing_errors(report)


def rejected_text(rejected) -> str:
    return ", ".join(f"{r} {rejected[r]}" for r in REASONS if rejected.get(r)) or "-"


def print_tallies(report) -> None:
    """Per channel: found, kept, rejected by reason, downloaded, failed."""
    table = Table(title="fetch")
    table.add_column("channel", no_wrap=True)
    for col in ("found", "kept", "hours"):
        table.add_column(col, justify="right")
    table.add_column("rejected", overflow="fold")
    for col in ("over budget", "downloaded", "failed"):
        table.add_column(col, justify="right")
    for t in report.tallies.values():
        failed = f"[red]{t.failed}[/red]" if t.failed else "0"
        table.add_row(t.channel, str(t.found), str(t.kept), _hours(t.kept_s), rejected_text(t.rejected), str(t.not_examined or "-"), str(t.downloaded), failed)
    fit_table(table, console.width, {"downloaded": "fetched", "over budget": "over budget"})
    console.print(table)
    _print_listing_errors(report)
    if report.stage is not None:
        print_report(report.stage)


def _print_listing_errors(report) -> None:
    for t in report.tallies.values():
        for w in t.warnings:
            console.print(f"[yellow]{t.channel}: yt-dlp: {w}[/yellow]", highlight=False)
        if t.error:
            console.print(f"[red]{t.channel}: channel not listed: {t.error}[/red]", highlight=False)


def plan_dict(report, manifest_path: str) -> dict:
    """The JSON document of ``realsync fetch --dry-run --json`` (docs/scripting.md); hours are null
    where they are not known yet (a published list's videos before fetch has seen them)."""
    from_list = getattr(report, "from_list", False)

    def hours(seconds: float) -> float | None:
        return round(seconds / 3600.0, 6) if seconds and seconds == seconds else None

    channels = []
    for t in report.tallies.values():
        channels.append({
            "channel": t.channel, "category": t.category, "videos": t.kept, "hours": hours(t.kept_s) if (t.kept_s or not from_list) else None,
            "found": t.found, "rejected": {r: n for r, n in t.rejected.items() if n}, "not_examined": t.not_examined,
            "clip_spans": t.spans if from_list else None, "hours_needed": hours(t.listed_s) if from_list else None,
            "error": t.error, "warnings": list(t.warnings),
        })  # fmt: skip
    total_s = sum(t.kept_s for t in report.tallies.values())
    videos = []
    for row in report.planned:
        d = row.get("duration_s")
        videos.append({
            "video_id": row["video_id"], "channel": row["channel"], "title": row.get("title"), "url": row.get("url"),
            "duration_s": d if isinstance(d, (int, float)) and d == d else None,
            "listed_spans": [list(s) for s in row["listed_spans"]] if from_list and row.get("listed_spans") is not None else None,
        })  # fmt: skip
    return {
        "dry_run": True,
        "from_list": bool(from_list),
        "manifest": manifest_path,
        "channels": channels,
        "total": {
            "videos": sum(t.kept for t in report.tallies.values()),
            "hours": hours(total_s) if (total_s or not from_list) else None,
            "clip_spans": sum(t.spans for t in report.tallies.values()) if from_list else None,
            "hours_needed": hours(sum(t.listed_s for t in report.tallies.values())) if from_list else None,
        },
        "videos": videos,
    }
