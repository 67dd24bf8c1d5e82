"""Channel enumeration and selection (runs in the driver, before any download).

1. A flat listing of the channel's uploads (yt-dlp ``extract_flat='in_playlist'``):
   one request per page, no per-video requests.  The selection rules run as yt-dlp's
   ``match_filter`` on each flat entry (``incomplete=True``), so videos whose listing
   already shows them short, live or members-only are rejected here.
2. The remaining candidates are visited in the seeded order; each one's full
   metadata (formats included) is extracted without downloading and checked
   against all the rules; kept videos are taken until the channel's hours budget.
   Videos a previous run already planned, fetched or failed keep their place in the
   plan without a request (a fresh selection needs a fresh ``videos.parquet``).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlparse

from yt_dlp.utils import DownloadError

from realsync_build.core.channels import Channel, load_channels
from realsync_build.stages.fetch.config import FetchConfig
from realsync_build.core.ids import file_id
from realsync_build.stages.fetch.select import UNAVAILABLE, Budget, MatchFilter, Rejection, seeded_order, total_kbps
from realsync_build.stages.fetch.network import FAIL_FAST_AFTER, SiteUnreachable, network_cause, unreachable_message
from realsync_build.stages.fetch.ydl import YdlLog, base_params, clean_message, format_selector, make_ydl
from realsync_build.core.root import safe_name
from realsync_build.core.schema import DONE, FAILED, PLANNED


@dataclass
class ChannelTally:
    """One line of the final per-channel table."""

    channel: str
    category: str = ""
    found: int = 0
    kept: int = 0
    kept_s: float = 0.0
    rejected: Counter = field(default_factory=Counter)
    not_examined: int = 0  # listed, but the hours budget was full before their turn
    downloaded: int = 0
    failed: int = 0
    error: str | None = None  # the channel could not be listed
    warnings: list[str] = field(default_factory=list)  # distinct yt-dlp warnings while selecting
    spans: int = 0  # --from-list: clip spans the lists need
    listed_s: float = 0.0  # --from-list: seconds those spans cover


@dataclass
class Decision:
    channel: str
    video_id: str
    kept: bool
    reason: str = ""  # a rejection reason (select.REASONS) when not kept
    message: str = ""


def channel_name_from_url(url: str) -> str | None:
    """``https://www.youtube.com/@CNN/videos`` -> ``CNN`` (known channels by URL first)."""
    try:
        for ch in load_channels():
            if ch.url.rstrip("/").lower() == url.rstrip("/").lower():
                return ch.name
    except (FileNotFoundError, ValueError):
        pass
    m = re.search(r"/@([^/?#]+)", urlparse(url).path)
    if m:
        return safe_name(m.group(1))
    return None


def _planned_row(channel: Channel, info: dict, fallback_url: str) -> dict:
    return {
        "video_id": file_id(info["id"]),
        "channel": channel.name,
        "category": channel.category,
        "title": None if info.get("title") is None else str(info["title"])[:500],
        "upload_date": None if info.get("upload_date") is None else str(info["upload_date"]),
        "duration_s": _float(info.get("duration")),
        "width": _int(info.get("width")),
        "height": _int(info.get("height")),
        "fps": _float(info.get("fps")),
        "tbr_kbps": total_kbps(info),
        "url": str(info.get("webpage_url") or fallback_url),
        "path": None,
        "size_bytes": None,
        "status": PLANNED,
        "error": None,
    }


def _float(v) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _int(v) -> int | None:
    f = _float(v)
    return None if f is None else int(f)


def list_channel(channel: Channel, cfg: FetchConfig) -> tuple[dict | None, list[dict], dict[str, Rejection]]:
    """The channel's flat listing: (playlist info, entries that passed, rejections by id)."""
    log = YdlLog()
    flat_filter = MatchFilter(cfg.rules())
    params = base_params(cfg, log)
    params.update({"extract_flat": "in_playlist", "match_filter": flat_filter, "noplaylist": False})
    if cfg.max_candidates:
        params["playlistend"] = int(cfg.max_candidates)
    with make_ydl(params, cfg) as ydl:
        try:
            info = ydl.extract_info(channel.url, download=False)
        except DownloadError as exc:
            raise RuntimeError(clean_message(log.errors[-1] if log.errors else str(exc))) from None
    if info is None:
        raise RuntimeError(log.errors[-1] if log.errors else "yt-dlp returned nothing for the channel URL")
    if info.get("_type", "video") == "video":  # a single video URL
        return info, [info], dict(flat_filter.rejections)
    entries = [e for e in (info.get("entries") or []) if e and e.get("id")]
    return info, entries, dict(flat_filter.rejections)


def select_channel(
    channel: Channel, cfg: FetchConfig, known: dict[str, dict], tally: ChannelTally, decisions: list[Decision]
) -> list[dict]:
    """Planned rows for ``channel`` (enumeration + rules + hours budget)."""
    rules = cfg.rules()
    try:
        _info, entries, flat_rejections = list_channel(channel, cfg)
    except RuntimeError as exc:
        tally.error = str(exc)
        return []
    tally.found = len(entries) + len(flat_rejections)
    for vid, rej in flat_rejections.items():
        tally.rejected[rej.reason] += 1
        decisions.append(Decision(channel.name, vid, False, rej.reason, rej.message))

    by_id = {str(e["id"]): e for e in entries}
    order = seeded_order(by_id, cfg.seed, channel.name)
    budget = Budget(cfg.hours_per_channel)
    rows: list[dict] = []
    offline: list = []  # video pages in a row that failed with one network-level cause
    limit = min(FAIL_FAST_AFTER, len(order)) or 1
    log = YdlLog()
    meta_filter = MatchFilter(rules)
    params = base_params(cfg, log)
    params.update({"format": format_selector(cfg.min_height, cfg.max_height, fallback=True), "match_filter": meta_filter})
    with make_ydl(params, cfg) as ydl:
        for i, vid in enumerate(order):
            if budget.full:
                tally.not_examined = len(order) - i
                break
            entry = by_id[vid]
            fid = file_id(vid)
            cached = known.get(fid)
            if cached is not None and cached.get("status") in (PLANNED, DONE, FAILED):
                # planned or fetched by an earlier run: it stays in the plan as it was selected, no request
                rej, row = None, dict(cached)
            else:
                url = entry.get("url") or entry.get("webpage_url") or vid
                try:
                    info = ydl.extract_info(url, download=False, ie_key=entry.get("ie_key"))
                except DownloadError as exc:
                    info = None
                    rej = Rejection(UNAVAILABLE, clean_message(log.errors[-1] if log.errors else str(exc)))
                    cause = network_cause(rej.message)
                    if cause is not None and offline and offline[0].kind != cause.kind:
                        offline.clear()
                    if cause is not None:  # not the video's fault: the site cannot be reached
                        offline.append(cause)
                        if len(offline) >= limit:
                            raise SiteUnreachable(unreachable_message(cause, len(offline), "video pages"))
                    else:
                        offline.clear()
                else:
                    offline.clear()
                    if info is None:
                        rej = Rejection(UNAVAILABLE, log.errors[-1] if log.errors else "no metadata")
                    else:
                        rej = meta_filter.rejections.get(str(info.get("id"))) or rules.check(info)
                row = _planned_row(channel, info, url) if info is not None and rej is None else None
            if rej is not None:
                tally.rejected[rej.reason] += 1
                decisions.append(Decision(channel.name, vid, False, rej.reason, rej.message))
                continue
            rows.append(row)
            if row.get("status") == FAILED:
                budget.taken.append(fid)  # stays in the plan for --retry-failed, but costs no hours
            else:
                budget.take(fid, row.get("duration_s") or 0.0)
            decisions.append(Decision(channel.name, vid, True))
    tally.kept = len(rows)
    tally.kept_s = budget.taken_s
    tally.warnings = list(dict.fromkeys(log.warnings))[:5]  # e.g. yt-dlp lacking a JavaScript runtime for YouTube
    return rows
