"""The one check for a number a user gives: finite, in range, on the grid where a grid applies.

Every numeric option of every command and every numeric value of a config file goes
through :meth:`Rule.check` (wired in by :mod:`realsync_build.cli.values`); the lists a
user hands over (``split --from-list`` offsets) use :func:`check_offset_s`.  A value that
fails is a :class:`BadValue`: one line that names the option and says what it accepts,
exit 2.

Python's ``float()`` reads ``nan``, ``inf`` and ``1e309`` (= inf) without complaint and
every comparison with nan is false, so ``x >= 0`` lets nan through: the check here asks
for ``math.isfinite`` first, then the bounds.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Optional

from realsync_build.core.errors import UserError


class BadValue(UserError, ValueError):
    """A number (or size) outside what its option accepts: one line, exit 2."""


def _num(x: float) -> str:
    """``5.0`` -> ``5``, ``0.04`` -> ``0.04``, ``4294967295`` as is: bounds as a user would write them."""
    return f"{x:g}" if isinstance(x, float) and abs(x) < 1e15 else str(x)


@dataclass(frozen=True)
class Rule:
    """What a numeric value may be.  Bounds are inclusive (``ge``/``le``) or strict (``gt``/``lt``).

    ``integer``: whole numbers only (a float like ``2.0`` from a config file is read as 2, ``2.5``
    is refused).  ``grid``: the value must be a multiple of it (within 1e-9 of one).  ``parse``:
    for text options (``--shard-size 1GB``, ``--ratios 90/5/5``): turns the text into the number
    that is checked (raising ``ValueError`` with its own message); the option keeps its text.
    ``unit`` and ``why`` only go into the message.
    """

    ge: Optional[float] = None
    gt: Optional[float] = None
    le: Optional[float] = None
    lt: Optional[float] = None
    integer: bool = False
    grid: Optional[float] = None
    unit: str = ""
    why: str = ""
    parse: Optional[Callable[[str], Any]] = None

    def merged(self, **bounds: Any) -> "Rule":
        """This rule with the bounds given filled in where it has none (a declaration's min/max)."""
        fields = {k: v for k, v in bounds.items() if v is not None and getattr(self, k) is None}
        if "ge" in fields and self.gt is not None:
            del fields["ge"]
        if "le" in fields and self.lt is not None:
            del fields["le"]
        return Rule(**{**self.__dict__, **fields}) if fields else self

    @property
    def lower(self) -> Optional[float]:
        return self.ge if self.ge is not None else self.gt

    def describe(self) -> str:
        """The accepted range as ``0<x<=25``, ``x>=1`` or ``any number``."""
        lo = f"{_num(self.ge)}<=" if self.ge is not None else f"{_num(self.gt)}<" if self.gt is not None else ""
        hi = f"<={_num(self.le)}" if self.le is not None else f"<{_num(self.lt)}" if self.lt is not None else ""
        if not lo and not hi:
            text = "any integer" if self.integer else "any number"
        elif lo and hi:
            text = f"{lo}x{hi}"
        elif lo:  # x>=1 reads better than 1<=x
            text = f"x{'>=' if self.ge is not None else '>'}{_num(self.lower)}"
        else:
            text = f"x{hi}"
        if self.grid is not None:
            text += f", a multiple of {_num(self.grid)}"
        return text

    def _give(self) -> str:
        """``give 0<x<=25 frames/s (the clips have 25)``."""
        unit = f" {self.unit}" if self.unit else ""
        why = f" ({self.why})" if self.why else ""
        kind = "an integer, " if self.integer else ""
        return f"give {kind}{self.describe()}{unit}{why}"

    def check(self, value: Any, name: str = "") -> Any:
        """``value`` if it obeys the rule, else :class:`BadValue` (one line, starting with ``name``
        when given: click adds the option's name itself).

        Text options are parsed by ``parse`` and keep their text; numbers come back as numbers
        (an integral float is returned as ``int`` under ``integer``).  ``None`` (an option not
        given) passes.
        """
        if value is None:
            return None
        shown = f"{name} {value!r}" if name else repr(value)
        if isinstance(value, bool):  # TOML true/false, Python's bool: never a number here
            raise BadValue(f"{shown} is not a number: {self._give()}")
        number = value
        if self.parse is not None and isinstance(value, str):
            try:
                number = self.parse(value)
            except (ValueError, OverflowError) as exc:  # the parser's message names the value
                raise BadValue(f"{name}: {exc}" if name else str(exc)) from None
            if number is None:
                return value
        if isinstance(number, str):
            try:
                number = int(number.strip(), 10) if self.integer else float(number)
            except ValueError:
                raise BadValue(f"{shown} is not {'an integer' if self.integer else 'a number'}: {self._give()}") from None
        if not isinstance(number, (int, float)):
            raise BadValue(f"{shown} is not a number: {self._give()}")
        if isinstance(number, float) and not math.isfinite(number):
            raise BadValue(f"{shown} is not a finite number: {self._give()}")
        if self.integer and isinstance(number, float):
            if number != int(number):
                raise BadValue(f"{shown} is not an integer: {self._give()}")
            number = int(number)
        low_bad = (self.ge is not None and number < self.ge) or (self.gt is not None and number <= self.gt)
        high_bad = (self.le is not None and number > self.le) or (self.lt is not None and number >= self.lt)
        if low_bad or high_bad:
            raise BadValue(f"{shown} is out of range: {self._give()}")
        if self.grid is not None and abs(number / self.grid - round(number / self.grid)) > 1e-9 * max(1.0, abs(number / self.grid)):
            raise BadValue(f"{shown} is not on the {_num(self.grid)}{' ' + self.unit if self.unit else ''} grid: {self._give()}")
        return value if self.parse is not None else number


# ---------------------------------------------------------------- sizes

_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9, "t": 10**12, "tb": 10**12}
_SIZE = re.compile(r"\s*([0-9]*\.?[0-9]+(?:[eE][+]?[0-9]+)?)\s*([a-zA-Z]*)\s*")
MAX_SIZE_BYTES = 10**15  # 1 PB: beyond it a size is a typo, and float arithmetic on bytes loses precision


def parse_size(text: Any, name: str = "--shard-size") -> int:
    """``1GB``, ``500MB``, ``2e9`` -> bytes (decimal units), 1 byte to 1 PB; ``ValueError`` otherwise."""
    if isinstance(text, bool):
        raise ValueError(f"{name} must be a size like 1GB, 500MB or 2000000, got {text!r}")
    if isinstance(text, (int, float)):
        number, unit = float(text), ""
    else:
        m = _SIZE.fullmatch(str(text))
        if not m or m[2].lower() not in _UNITS:
            raise ValueError(f"{name} must be a size like 1GB, 500MB or 2000000, got {text!r}")
        number, unit = float(m[1]), m[2].lower()
    value = number * _UNITS[unit]
    if not math.isfinite(value) or value > MAX_SIZE_BYTES:
        raise ValueError(f"{name} {text!r} is beyond 1 PB: give a size like 1GB or 500MB")
    if int(value) < 1:
        raise ValueError(f"{name} must be positive, got {text!r}")
    return int(value)


def parse_int_text(text: str) -> int:
    """An integer written in base 10 (``"3"`` yes; ``"3.5"``, ``"1e3"``, ``"abc"`` no)."""
    try:
        return int(str(text).strip(), 10)
    except ValueError:
        raise ValueError(f"{text!r} is not an integer such as 0 or 42") from None


# ---------------------------------------------------------------- offsets read from lists


def check_offset_s(value: Any, where: str) -> float:
    """A listed offset in seconds: a finite JSON number within +/-2 s (a normal list's offsets are
    on the 0.2 s grid, a uniform list's are continuous: the grid is checked where the list's
    distribution is known, ``stages/split/listed.listed_class``); else :class:`BadValue` naming
    ``where`` (the file and the segment)."""
    from realsync_build.core.avformat import list_offset_class

    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadValue(f"{where}: offset_sec {value!r} is not a number")
    try:
        list_offset_class(value)
    except (ValueError, OverflowError) as exc:
        raise BadValue(f"{where}: {exc}") from None
    return float(value)
