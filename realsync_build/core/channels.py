"""The channel list (``manifests/channels.toml``): name, URL, category, sport/network.

The default list ships inside the package (``realsync_build/data/channels.toml``,
copied from ``manifests/channels.toml`` when a wheel is built, see ``setup.py``);
a source checkout reads ``manifests/channels.toml`` directly.

A list is validated as a whole before anything is fetched: every entry is a
table with string ``name``, ``url`` and ``category`` (and optional string
``topic``), no other keys; ``category`` is one of :data:`CATEGORIES`; ``url``
is ``http(s)://`` with a host; names are unique (case-insensitive) and could not read
as an option or a path (:func:`realsync_build.core.names.channel_problem`: ``-rf``,
``../../x`` and 4,000-character names are refused).  The file is UTF-8 with bounded nesting
(:mod:`realsync_build.core.textfiles`).  Any problem is one :class:`ChannelListError`
naming the file and the entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from urllib.parse import urlparse

from realsync_build.core.errors import UserError
from realsync_build.core.names import channel_problem

CATEGORIES = ("sports", "news")
_KEYS = {"name", "url", "category", "topic"}
# The project's own copy in a source checkout (realsync_build/core/ -> repository root).
SOURCE_CHANNELS_FILE = Path(__file__).resolve().parents[2] / "manifests" / "channels.toml"


class ChannelListError(UserError, ValueError):
    """A channel list that is not valid TOML or breaks the rules above."""


def default_channels_file() -> Path:
    """The shipped channel list: package data in an installed wheel, else the checkout's copy."""
    packaged = resources.files("realsync_build").joinpath("data", "channels.toml")
    if packaged.is_file():
        return Path(str(packaged))
    return SOURCE_CHANNELS_FILE


DEFAULT_CHANNELS_FILE = default_channels_file()


@dataclass(frozen=True)
class Channel:
    name: str
    url: str
    category: str  # "sports" or "news"
    topic: str = ""  # the sport or the network


def _check_entry(path: Path, i: int, entry) -> Channel:
    where = f"{path}: channel #{i + 1}"
    if not isinstance(entry, dict):
        raise ChannelListError(f"{where} is not a table ([[channel]] with name, url, category)")
    if isinstance(entry.get("name"), str) and entry["name"].strip():
        where += f" ({entry['name'][:40]!r})"
    for key in ("name", "url", "category"):
        if key not in entry:
            raise ChannelListError(f"{where} lacks {key!r}")
    unknown = sorted(set(entry) - _KEYS)
    if unknown:
        raise ChannelListError(f"{where} has unknown key(s) {unknown}: allowed are name, url, category, topic")
    for key in _KEYS & set(entry):
        if not isinstance(entry[key], str):
            raise ChannelListError(f"{where}: {key} must be a string, got {type(entry[key]).__name__} {entry[key]!r}")
    if not entry["name"].strip():
        raise ChannelListError(f"{where}: name is empty")
    problem = channel_problem(entry["name"].strip())
    if problem:
        raise ChannelListError(f"{path}: channel #{i + 1}: {problem}")
    if entry["category"] not in CATEGORIES:
        raise ChannelListError(f"{where}: category {entry['category']!r} is not one of {', '.join(CATEGORIES)}")
    url = urlparse(entry["url"])
    if url.scheme not in ("http", "https") or not url.netloc:
        raise ChannelListError(f"{where}: url {entry['url']!r} is not an http(s) URL")
    return Channel(name=entry["name"].strip(), url=entry["url"], category=entry["category"], topic=entry.get("topic", ""))


def load_channels(path: str | Path | None = None) -> list[Channel]:
    path = Path(path) if path else default_channels_file()
    if not path.exists():
        raise FileNotFoundError(f"channel list not found: {path}")
    from realsync_build.core.textfiles import TextFileError, load_toml

    try:
        data = load_toml(path)
    except TextFileError as exc:
        raise ChannelListError(str(exc)) from None
    extra = sorted(set(data) - {"channel"})
    if extra:
        raise ChannelListError(f"{path}: unknown top-level key(s) {extra}: the list is [[channel]] tables")
    entries = data.get("channel", [])
    if not isinstance(entries, list):
        raise ChannelListError(f"{path}: 'channel' must be an array of tables ([[channel]])")
    out: list[Channel] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(entries):
        ch = _check_entry(path, i, entry)
        key = ch.name.lower()
        if key in seen:
            raise ChannelListError(f"{path}: channel #{i + 1} repeats the name {ch.name!r} of channel #{seen[key] + 1}")
        seen[key] = i
        out.append(ch)
    return out


def category_of(channel: str, default: str = "unknown") -> str:
    """The category of a known channel name (case-insensitive), else ``default``."""
    try:
        channels = load_channels()
    except (FileNotFoundError, ValueError):
        return default
    lookup = {c.name.lower(): c.category for c in channels}
    return lookup.get(channel.lower(), default)
