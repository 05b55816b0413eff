"""Bar intervals ("1s", "5m", "1h", "1d", "1w", "1mo") and time arguments.

Pure helpers used by every provider and the façade: they turn user text into
values and raise :class:`~mdsdk.errors.ConfigurationError` naming what is
allowed when the text is wrong.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
import time as _time
from dataclasses import dataclass
from typing import Any, Optional, Tuple, Union

from . import _validate as check
from .errors import ConfigurationError

__all__ = ["Interval", "parse_interval", "to_ns", "time_range", "expiry_seconds", "UNITS", "TimeLike"]

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "mo": 30 * 86400}
_ALIASES = {"sec": "s", "min": "m", "hour": "h", "day": "d", "week": "w", "month": "mo",
            "mon": "mo", "t": "m"}
_PATTERN = re.compile(r"^\s*(\d{0,12})\s*([a-zA-Z]+)\s*$")
MAX_BAR = 366 * 86400   # seconds: no provider serves bars longer than a year
MAX_NS = 2**63 - 1      # int64 epoch nanoseconds: times must lie in 1970..2262
TimeLike = Union[str, int, float, _dt.datetime, _dt.date, None]


@dataclass(frozen=True)
class Interval:
    """A bar length: ``count`` of ``unit`` (one of s, m, h, d, w, mo)."""

    count: int
    unit: str

    def __post_init__(self) -> None:
        check.integer("Interval count", self.count, low=1, high=MAX_BAR)
        if self.unit not in UNITS:
            raise ConfigurationError(f"Interval unit must be one of {', '.join(UNITS)}, got {check.show(self.unit)}")
        if self.seconds > MAX_BAR:
            raise ConfigurationError(f"interval {self} is longer than a year; no provider serves such bars")

    @property
    def seconds(self) -> int:
        """Nominal length in seconds (a month counts as 30 days)."""
        return self.count * UNITS[self.unit]

    def __str__(self) -> str:
        return f"{self.count}{self.unit}"


def parse_interval(text: Union[str, Interval]) -> Interval:
    """Parse ``"5m"``, ``"1h"``, ``"1d"``, ``"1mo"`` (also ``"m"`` = ``"1m"``).

    Raises ConfigurationError naming the allowed units when the text is not
    an interval.
    """
    if isinstance(text, Interval):
        return text
    count, unit = _span(text, "interval")
    return Interval(count, unit)


def _span(text: Any, name: str) -> Tuple[int, str]:
    """``(count, unit)`` of ``"5m"``-like text, with the error naming ``name``."""
    if not isinstance(text, str):
        raise ConfigurationError(f"{name} must be text such as '5m' or '1d', got {type(text).__name__} "
                                 f"{check.show(text)}")
    m = _PATTERN.match(text[:64])
    raw = m.group(2) if m and len(text) <= 64 else ""
    # "M" is minute to some and month to others: refuse to guess.
    unit = "" if raw == "M" else _ALIASES.get(raw.lower(), raw.lower())
    if not m or unit not in UNITS or (m.group(1) and int(m.group(1)) == 0):
        raise ConfigurationError(
            f"bad {name} {check.show(text)}: use a positive count and one of the units "
            f"{', '.join(UNITS)} (for example '1m', '5m', '1h', '1d', '1w', '1mo')")
    return int(m.group(1) or 1), unit


def to_ns(value: TimeLike, *, name: str = "time", now_ns: Optional[int] = None) -> Optional[int]:
    """Turn a user time into UTC epoch nanoseconds.

    Accepts ISO-8601 text (``"2024-08-01"``, ``"2024-08-01T13:30:00Z"``; a
    naive value means UTC), ``"now"``, a relative ``"-2h"``/``"-3d"``, a
    datetime/date, or an epoch number in seconds, milliseconds or
    nanoseconds (told apart by size). ``None`` stays ``None``. Raises
    ConfigurationError naming ``name`` for anything else, and for a time
    outside 1970..2262 (what int64 epoch nanoseconds can hold).
    """
    if value is None:
        return None
    now = _time.time_ns() if now_ns is None else now_ns
    return _in_range(name, value, _ns(value, name, now))


def _ns(value: TimeLike, name: str, now: int) -> Optional[int]:
    """Epoch nanoseconds of ``value``, unchecked; None when it is out of any range."""
    if isinstance(value, _dt.datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=_dt.timezone.utc)
        try:
            return int(round(dt.timestamp() * 1e6)) * 1000
        except (OverflowError, ValueError, OSError):
            return None
    if isinstance(value, _dt.date):
        return _ns(_dt.datetime(value.year, value.month, value.day), name, now)
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ConfigurationError(f"{name} must be a date, datetime, ISO text or epoch number, "
                                 f"got {type(value).__name__} {check.show(value)}")
    if isinstance(value, (int, float)):
        return _epoch_ns(value)
    text = value.strip()
    if text.lower() == "now":
        return now
    if text.startswith("-"):
        try:
            count, unit = _span(text[1:], name)
            return now - count * UNITS[unit] * 1_000_000_000
        except ConfigurationError:
            pass
    try:
        if len(text) > 64:
            raise ValueError(text)
        dt = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigurationError(
            f"bad {name} {check.show(value)}: use ISO-8601 text like '2024-08-01' or "
            "'2024-08-01T13:30:00Z', a relative '-2h', 'now', a datetime, or epoch seconds") from None
    return _ns(dt, name, now)


def _epoch_ns(value: Union[int, float]) -> Optional[int]:
    """Epoch seconds, milliseconds or nanoseconds (told apart by size) in nanoseconds."""
    try:
        v = float(value)
    except OverflowError:
        return None
    if not math.isfinite(v):
        return None
    if abs(v) > 1e17:
        return int(value)
    if abs(v) > 1e11:
        return int(v * 1e6)
    return int(v * 1e9)


def _in_range(name: str, value: Any, ns: Optional[int]) -> int:
    if ns is None or not 0 <= ns <= MAX_NS:
        raise ConfigurationError(f"{name} {check.show(value)} is outside the supported range "
                                 "1970-01-01 .. 2262-04-11 (UTC); pass a time within it")
    return ns


def time_range(start: TimeLike, end: TimeLike, *, now_ns: Optional[int] = None) -> Tuple[int, int]:
    """Resolve a history range to ``(start_ns, end_ns)``; ``end=None`` is now.

    Raises ConfigurationError when start is missing or after end, or either
    is not a time within 1970..2262.
    """
    now = _time.time_ns() if now_ns is None else now_ns
    s = to_ns(start, name="start", now_ns=now)
    e = to_ns(end, name="end", now_ns=now)
    if s is None:
        raise ConfigurationError("history needs a start time, for example start='2024-08-01' or '-1d'")
    e = now if e is None else e
    if s > e:
        raise ConfigurationError(
            f"start ({_iso(s)}) is after end ({_iso(e)}); pass an earlier start or a later end")
    return s, e


def expiry_seconds(text: Any, default: float) -> float:
    """Epoch seconds of an ISO-8601 expiry stamp from a server, or ``default``
    when the stamp is missing or unreadable (tokens then get a known lifetime)."""
    if isinstance(text, str):
        try:
            dt = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return default
        return (dt if dt.tzinfo else dt.replace(tzinfo=_dt.timezone.utc)).timestamp()
    return default


def _iso(ns: int) -> str:
    return _dt.datetime.fromtimestamp(ns / 1e9, tz=_dt.timezone.utc).isoformat()
