"""Every numeric option of every command, checked by one rule (:class:`realsync_build.core.values.Rule`).

:func:`install` runs once when the command tree is built (``configfile.decorate``).  For each
option whose type is ``int`` or ``float`` (and the text options in :data:`RULES` that hold a
number: sizes, seeds, ratios), it combines the declaration's ``min=``/``max=`` with the rule
below and attaches the check as the option's callback.  click runs that callback on every
value the option gets: a flag, a config file (``--config``, ``$REALSYNC_CONFIG``), an
environment variable, the default.  So ``nan``, ``inf`` and ``1e309`` never reach a command,
and an out-of-range value is one line naming the option (exit 2) before any work starts.

A numeric option must have a lower bound (its declaration's ``min=`` or a rule here): the
generated test (``tests/test_option_values.py``) walks the command tree and fails for an
option without one, so a new option cannot skip the decision.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, Iterator

from realsync_build.core.values import BadValue, Rule, parse_int_text, parse_size

SEED = Rule(ge=0, le=2**32 - 1, integer=True, why="the seed range numpy, torch and Python's random all accept")
FRAME_S = 0.04  # one video frame at 25 fps: the shortest hop that moves a window


def _ratios(text: str):
    from realsync_build.stages.split.run import parse_ratios

    parse_ratios(text)
    return None  # checked in full by the parser: nothing left for the bounds


def _iterations(text: str):
    from realsync_build.streamsync.evaluate import parse_iterations

    parse_iterations(text)
    return None


def _rate(text: str):
    from realsync_build.stages.fetch.ydl import parse_rate

    return parse_rate(text)


def _kbits(text: str) -> int:
    """``64k`` -> 64 (kbit/s): the AAC bitrate as ffmpeg's ``-b:a`` takes it."""
    import re

    m = re.fullmatch(r"([0-9]{1,4})k", text.strip())
    if m is None:
        raise ValueError(f"{text!r} is not a bitrate like 64k")
    return int(m[1])


# The range of each numeric option, where its declaration (min=/max=) does not already say all
# of it.  Keys: the command path, then the option's parameter name (the key a config file uses).
RULES: dict[str, dict[str, Rule]] = {
    "fetch": {
        "seed": SEED,
        "limit_rate": Rule(ge=1, parse=_rate, unit="bytes/s"),
    },
    "preprocess": {
        "audio_bitrate": Rule(ge=16, le=320, integer=True, parse=_kbits, unit="kbit/s", why="AAC-LC mono at 16 kHz"),
    },
    "annotate": {
        "face_fps": Rule(gt=0, le=25, unit="frames/s", why="the clips have 25"),
        "face_fps_idle": Rule(gt=0, le=25, unit="frames/s", why="the clips have 25 (and at most --face-fps)"),
        "face_fps_steady": Rule(gt=0, le=25, unit="frames/s", why="the clips have 25 (and at most --face-fps)"),
        "gpus_per_task": Rule(ge=0, le=64),
        "min_face_score": Rule(ge=0, le=1, why="detector scores are probabilities"),
        "min_face_px": Rule(ge=0, le=256, unit="px", why="clips are 256 px on the shorter side"),
        "min_track": Rule(ge=0, unit="s"),
        "min_sync_run": Rule(ge=0.25, unit="s", why="SyncNet needs more than 5 frames"),
        "min_confidence": Rule(ge=0, why="SyncNet's confidence is a distance gap, never below 0"),
        "event_window": Rule(ge=0.5, le=60, unit="s", why="the taggers need about half a second"),
        "event_hop": Rule(ge=0.1, le=60, unit="s"),
        "event_threshold": Rule(ge=0, le=1, why="tagger scores are probabilities"),
    },
    "split": {
        "seed": Rule(ge=0, le=2**32 - 1, integer=True, parse=parse_int_text, why="the seed range numpy, torch and Python's random all accept"),
        "ratios": Rule(parse=_ratios),
        "segment_window": Rule(le=3600, unit="s"),
        "offset_sd": Rule(gt=0, le=10, unit="s", why="offsets are drawn within +/-2 s"),
        "offset_zero_share": Rule(ge=0, le=1),
        "loader_seed": SEED,
    },
    "export webdataset": {
        "shard_size": Rule(ge=1, parse=parse_size, unit="bytes"),
        "seed": SEED,
    },
    "train": {
        "lr": Rule(gt=0, le=1),
        "adam_eps": Rule(gt=0, le=1),
        "hop": Rule(ge=FRAME_S, unit="s", why="one video frame"),
        "jitter": Rule(ge=0, unit="s"),
        "seed": SEED,
    },
    "evaluate": {
        "iterations": Rule(parse=_iterations),
        "hop": Rule(ge=FRAME_S, unit="s", why="one video frame"),
    },
    "monitor": {
        "reference_video_offset": Rule(ge=-10_000, le=10_000, unit="ms"),
        "hop": Rule(le=60, unit="s"),
        "window": Rule(le=60, unit="s"),
        "max_delay_ms": Rule(le=10_000, unit="ms"),
        "lead_ms": Rule(le=10_000, unit="ms"),
        "lag_ms": Rule(le=10_000, unit="ms"),
        "hysteresis_ms": Rule(le=10_000, unit="ms"),
        "stall_timeout": Rule(le=3600, unit="s"),
    },
    "models download": {
        "timeout_s": Rule(le=3600, unit="s"),
    },
}

META_KEY = "realsync_rule"  # the rule in effect, on the click parameter (read by config show and the tests)


def _numeric_kind(p: Any) -> str | None:
    """``"int"``/``"float"`` for a numeric option (typer's own annotation, or click's type in older typer)."""
    if getattr(p, "count", False) or getattr(p, "is_flag", False):
        return None
    td = getattr(p, "type_descriptor", None)
    if td is not None:
        return {int: "int", float: "float"}.get(td.annotation)
    t = getattr(p, "type", None)
    name = type(t).__name__ if t is not None else ""
    return "int" if name in ("IntParamType", "IntRange") else "float" if name in ("FloatParamType", "FloatRange") else None


def _declared_bounds(p: Any) -> dict[str, Any]:
    """The declaration's min/max, taken off the option so that the rule alone checks (one message)."""
    td = getattr(p, "type_descriptor", None)
    if td is not None:  # typer >= 0.20: bounds live in the parameter info, checked by pydantic
        info = td.parameter_info
        bounds = {"ge": info.min, "le": info.max}
        if info.min is not None or info.max is not None:
            info = copy.copy(info)  # the info object may be shared (WorkersOpt): change a copy
            info.min = info.max = None
            p.type_descriptor = dataclasses.replace(td, parameter_info=info)
            p._runtime_param = None
        return bounds
    t = getattr(p, "type", None)  # older typer: click's IntRange/FloatRange
    if t is None or not hasattr(t, "min"):
        return {}
    bounds = {"gt" if t.min_open else "ge": t.min, "lt" if t.max_open else "le": t.max}
    import click

    p.type = click.INT if _numeric_kind(p) == "int" else click.FLOAT
    return bounds


def rule_of(p: Any) -> Rule | None:
    return getattr(p, META_KEY, None)


def flag_of(p: Any) -> str:
    longs = [o for o in getattr(p, "opts", []) if o.startswith("--")]
    return longs[0] if longs else (p.opts[0] if getattr(p, "opts", None) else str(p.name))


def _callback(rule: Rule, previous):
    def check(ctx, param, value):
        from realsync_build.cli.tree import BadParameter

        try:
            if getattr(param, "multiple", False) and isinstance(value, (list, tuple)):
                value = type(value)(rule.check(v) for v in value)
            else:
                value = rule.check(value)  # click's message names the option: "Invalid value for '--hop': ..."
        except BadValue as exc:
            raise BadParameter(str(exc), ctx=ctx, param=param) from None
        return previous(ctx, param, value) if previous is not None else value

    return check


def install(path: tuple[str, ...], cmd: Any) -> None:
    """Attach the rule of every numeric option of ``cmd`` (the command at ``path``) as its callback."""
    table = RULES.get(" ".join(path), {})
    for p in cmd.params:
        name = getattr(p, "name", None)
        kind = _numeric_kind(p)
        if (kind is None and name not in table) or rule_of(p) is not None:
            continue
        rule = table.get(name, Rule())
        if kind is not None:
            rule = rule.merged(**_declared_bounds(p))
            if kind == "int" and not rule.integer:
                rule = dataclasses.replace(rule, integer=True)
            p.metavar = f"<{kind}> [{rule.describe()}]"  # the whole range, open bounds too
            if hasattr(p, "min"):
                p.min = p.max = None  # typer would add the declaration's half of it again
        setattr(p, META_KEY, rule)
        p.callback = _callback(rule, p.callback)


def numeric_options(group: Any) -> Iterator[tuple[tuple[str, ...], Any, Any]]:
    """``(command path, command, parameter)`` for every option that carries a rule."""
    from realsync_build.cli.tree import walk

    for path, cmd in walk(group):
        for p in cmd.params:
            if rule_of(p) is not None:
                yield path, cmd, p
