"""The fetch stage's options (one picklable record, shipped to every download worker)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from realsync_build.stages.fetch.select import Rules


@dataclass
class FetchConfig:
    # selection (ignored with --from-list: a list names exactly what to fetch)
    min_minutes: float = 20.0
    min_height: int = 720
    max_height: int = 1080
    min_kbps: float | None = None  # None: the per-height default (see select.py)
    max_kbps: float | None = None
    hours_per_channel: float | None = 100.0  # the paper: ~100 h per channel; None: every kept video
    seed: int = 0
    max_candidates: int | None = 2000  # newest uploads listed per channel
    # download
    limit_rate: str | None = None  # bytes/s, yt-dlp syntax: "4M", "500K"
    cookies: str | None = None  # Netscape cookie file
    retries: int = 5  # per request / fragment, with exponential backoff
    backoff_s: float = 1.0  # first retry waits this long, then doubles (max 60 s)
    socket_timeout_s: float = 30.0
    keep_partial: bool = False  # keep .part files of videos given up on
    use_archive: bool = True  # yt-dlp's download archive: raw/download-archive.txt
    # extra yt-dlp extractors, "module:Class" (site plug-ins; tests register a loopback one)
    extractors: tuple[str, ...] = field(default_factory=tuple)

    def rules(self) -> Rules:
        return Rules(
            min_duration_s=self.min_minutes * 60.0,
            min_height=self.min_height,
            max_height=self.max_height,
            min_kbps=self.min_kbps,
            max_kbps=self.max_kbps,
        )

    def to_dict(self) -> dict:
        d = asdict(self)
        d["extractors"] = list(self.extractors)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "FetchConfig":
        d = dict(d)
        d["extractors"] = tuple(d.get("extractors") or ())
        return cls(**d)
