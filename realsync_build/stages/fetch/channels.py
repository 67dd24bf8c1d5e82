"""The channel list (``manifests/channels.toml``): name, URL, category, sport/network."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

# The project's own copy, next to the package in a source checkout.
DEFAULT_CHANNELS_FILE = Path(__file__).resolve().parents[3] / "manifests" / "channels.toml"


@dataclass(frozen=True)
class Channel:
    name: str
    url: str
    category: str  # "sports" or "news"
    topic: str = ""  # the sport or the network


def load_channels(path: str | Path | None = None) -> list[Channel]:
    path = Path(path) if path else DEFAULT_CHANNELS_FILE
    if not path.exists():
        raise FileNotFoundError(f"channel list not found: {path}")
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    out = []
    for i, entry in enumerate(data.get("channel", [])):
        try:
            out.append(Channel(name=str(entry["name"]), url=str(entry["url"]), category=str(entry["category"]), topic=str(entry.get("topic", ""))))
        except KeyError as exc:
            raise ValueError(f"{path}: channel #{i + 1} lacks {exc.args[0]!r}") from None
    return out


def category_of(channel: str, default: str = "unknown") -> str:
    """The category of a known channel name (case-insensitive), else ``default``."""
    try:
        channels = load_channels()
    except (FileNotFoundError, ValueError):
        return default
    lookup = {c.name.lower(): c.category for c in channels}
    return lookup.get(channel.lower(), default)
