"""RealSync's selection rules: which channel videos are kept, and how many.

A candidate is kept when it is

* at least ``min_duration_s`` long (RealSync: 20 min),
* not live, upcoming or still being processed after a live stream,
* not members-only / premium / behind a login,
* available in a height between ``min_height`` and ``max_height`` (720..1080), and
* of *standard bitrate*: the total bitrate (video + audio, kbit/s, as yt-dlp reports
  it as ``tbr`` for the chosen formats) lies in a window for its height.

The bitrate window scales with the pixel count: ``DEFAULT_MIN_KBPS_720P`` x (h/720)^2
up to ``DEFAULT_MAX_KBPS_720P`` x (h/720)^2, i.e. 250..12000 kbit/s at 720p and
562.5..27000 kbit/s at 1080p.  The floor rejects slide shows, static cards and
heavily starved uploads; the ceiling rejects mislabelled or broken format metadata.
``--min-kbps`` / ``--max-kbps`` replace the bounds with fixed numbers.

The rules are one object used two ways: as yt-dlp's ``match_filter`` (yt-dlp calls
it with ``incomplete=True`` on flat playlist entries, with the set of format fields
before format selection, and with ``incomplete=False`` just before a download) and
directly on the metadata the driver extracted.

Balance: candidates are visited in a seeded order that depends only on
(seed, channel, video id), so a video's rank never changes when the channel
uploads more; kept videos are taken until the channel's hours budget is reached.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Iterable, Iterator

DEFAULT_MIN_KBPS_720P = 250.0
DEFAULT_MAX_KBPS_720P = 12000.0

# Rejection reasons, in the order the per-channel table shows them.
SHORT, LIVE, MEMBERS, HEIGHT, BITRATE, UNAVAILABLE = "short", "live", "members", "height", "bitrate", "unavailable"
REASONS = (SHORT, LIVE, MEMBERS, HEIGHT, BITRATE, UNAVAILABLE)

_LIVE_STATES = {"is_live", "is_upcoming", "post_live"}
_MEMBERS_STATES = {"subscriber_only", "premium_only", "needs_auth"}
_FORMAT_FIELDS = {"height", "tbr"}


def default_min_kbps(height: int) -> float:
    return DEFAULT_MIN_KBPS_720P * (height / 720.0) ** 2


def default_max_kbps(height: int) -> float:
    return DEFAULT_MAX_KBPS_720P * (height / 720.0) ** 2


@dataclass(frozen=True)
class Rejection:
    reason: str  # one of REASONS
    message: str

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"


@dataclass(frozen=True)
class Rules:
    min_duration_s: float = 20 * 60.0
    min_height: int = 720
    max_height: int = 1080
    min_kbps: float | None = None  # None: default_min_kbps(height)
    max_kbps: float | None = None  # None: default_max_kbps(height)

    def kbps_window(self, height: int) -> tuple[float, float]:
        lo = self.min_kbps if self.min_kbps is not None else default_min_kbps(height)
        hi = self.max_kbps if self.max_kbps is not None else default_max_kbps(height)
        return lo, hi

    def check(self, info: dict, incomplete: bool | set | frozenset = False) -> Rejection | None:
        """Why ``info`` is rejected, or None.  Fields named in ``incomplete`` (or all, if True) may be missing."""
        vid = str(info.get("id") or "?")
        live = info.get("live_status")
        if live in _LIVE_STATES or info.get("is_live") is True:
            return Rejection(LIVE, f"{vid} is {live or 'live'}")
        availability = info.get("availability")
        if availability in _MEMBERS_STATES:
            return Rejection(MEMBERS, f"{vid} is {availability}")
        duration = _number(info.get("duration"))
        if duration is not None and duration < self.min_duration_s:
            return Rejection(SHORT, f"{vid} lasts {_span(duration)} < {_span(self.min_duration_s)}")
        if incomplete is True:
            return None
        if duration is None:
            return Rejection(SHORT, f"{vid} has no known duration")
        if incomplete and _FORMAT_FIELDS & set(incomplete):
            return None
        height = _number(info.get("height"))
        if height is None:
            return Rejection(HEIGHT, f"{vid} has no video format with a known height")
        if height < self.min_height:
            return Rejection(HEIGHT, f"{vid} is at most {int(height)}p < {self.min_height}p")
        if height > self.max_height:
            return Rejection(HEIGHT, f"{vid} has no format between {self.min_height}p and {self.max_height}p (best {int(height)}p)")
        kbps = total_kbps(info)
        if kbps is not None:
            lo, hi = self.kbps_window(int(height))
            if kbps < lo:
                return Rejection(BITRATE, f"{vid} at {int(height)}p has {kbps:.0f} kbit/s < {lo:.0f}")
            if kbps > hi:
                return Rejection(BITRATE, f"{vid} at {int(height)}p has {kbps:.0f} kbit/s > {hi:.0f}")
        return None


def _span(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.1f} s"


def _number(value) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if out == out else None  # NaN -> None


def total_kbps(info: dict) -> float | None:
    """The chosen formats' total bitrate (kbit/s): ``tbr``, else summed parts, else size / duration."""
    tbr = _number(info.get("tbr"))
    if tbr:
        return tbr
    parts = info.get("requested_formats") or []
    rates = [_number(f.get("tbr")) or _number(f.get("vbr") or 0) + (_number(f.get("abr") or 0) or 0) for f in parts]
    if parts and all(rates):
        return float(sum(rates))
    size = _number(info.get("filesize") or info.get("filesize_approx"))
    duration = _number(info.get("duration"))
    if size and duration:
        return size * 8 / 1000.0 / duration
    return None


class MatchFilter:
    """The rules as yt-dlp's ``match_filter``; remembers why each video was rejected."""

    def __init__(self, rules: Rules) -> None:
        self.rules = rules
        self.rejections: dict[str, Rejection] = {}

    def __call__(self, info: dict, *, incomplete: bool | set = False) -> str | None:
        rejection = self.rules.check(info, incomplete)
        if rejection is None:
            return None
        self.rejections[str(info.get("id"))] = rejection
        return f"rejected ({rejection})"


def rank_key(seed: int, channel: str, video_id: str) -> str:
    return hashlib.sha256(f"{seed}\x00{channel}\x00{video_id}".encode()).hexdigest()


def seeded_order(video_ids: Iterable[str], seed: int, channel: str) -> list[str]:
    """``video_ids`` in a deterministic order given ``seed`` (stable as a channel grows)."""
    return sorted(dict.fromkeys(video_ids), key=lambda v: rank_key(seed, channel, v))


@dataclass
class Budget:
    """Take videos until ``hours`` of media (None: no limit)."""

    hours: float | None
    taken_s: float = 0.0
    taken: list[str] = field(default_factory=list)

    @property
    def full(self) -> bool:
        return self.hours is not None and self.taken_s >= self.hours * 3600.0

    def take(self, video_id: str, duration_s: float) -> None:
        self.taken.append(video_id)
        self.taken_s += float(duration_s or 0.0)


def pick_by_hours(candidates: Iterable[tuple[str, float]], hours: float | None) -> list[str]:
    """Ids from ``(id, duration_s)`` pairs, in order, until ``hours`` is reached (the last may overshoot)."""
    budget = Budget(hours)
    for vid, dur in candidates:
        if budget.full:
            break
        budget.take(vid, dur)
    return budget.taken


def iter_until_full(order: list[str], budget: Budget) -> Iterator[str]:
    for vid in order:
        if budget.full:
            return
        yield vid
