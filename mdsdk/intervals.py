"""Bar intervals ("1s", "5m", "1h", "1d", "1w", "1mo") and time arguments.

Pure helpers used by every provider and the façade: they turn user text into
values and raise :class:`~mdsdk.errors.ConfigurationError` naming what is
allowed when the text is wrong.
"""

from __future__ import annotations

import datetime as _dt
import re
import time as _time
from dataclasses import dataclass
from typing import Any, Optional, Tuple, Union

from .errors import ConfigurationError

__all__ = ["Interval", "parse_interval", "to_ns", "time_range", "expiry_seconds", "UNITS", "TimeLike"]

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "mo": 30 * 86400}
_ALIASES = {"sec": "s", "min": "m", "hour": "h", "day": "d", "week": "w", "month": "mo",
            "mon": "mo", "t": "m"}
_PATTERN = re.compile(r"^\s*(\d*)\s*([a-zA-Z]+)\s*$")
TimeLike = Union[str, int, float, _dt.datetime, _dt.date, None]


@dataclass(frozen=True)
class Interval:
    """A bar length: ``count`` of ``unit`` (one of s, m, h, d, w, mo)."""

    count: int
    unit: str

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
    m = _PATTERN.match(str(text))
    raw = m.group(2) if m else ""
    # "M" is minute to some and month to others: refuse to guess.
    unit = "" if raw == "M" else _ALIASES.get(raw.lower(), raw.lower())
    if not m or unit not in UNITS or (m.group(1) and int(m.group(1)) == 0):
        raise ConfigurationError(
            f"bad interval {text!r}: use a positive count and one of the units "
            f"{', '.join(UNITS)} (for example '1m', '5m', '1h', '1d', '1w', '1mo')")
    return Interval(int(m.group(1) or 1), unit)


def to_ns(value: TimeLike, *, name: str = "time", now_ns: Optional[int] = None) -> Optional[int]:
    """Turn a user time into UTC epoch nanoseconds.

    Accepts ISO-8601 text (``"2024-08-01"``, ``"2024-08-01T13:30:00Z"``; a
    naive value means UTC), ``"now"``, a relative ``"-2h"``/``"-3d"``, a
    datetime/date, or an epoch number in seconds, milliseconds or
    nanoseconds (told apart by size). ``None`` stays ``None``.
    """
    if value is None:
        return None
    now = _time.time_ns() if now_ns is None else now_ns
    if isinstance(value, _dt.datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=_dt.timezone.utc)
        return int(round(dt.timestamp() * 1e6)) * 1000
    if isinstance(value, _dt.date):
        return to_ns(_dt.datetime(value.year, value.month, value.day), name=name)
    if isinstance(value, bool):
        raise ConfigurationError(f"{name} must be a date, datetime, ISO text or epoch number, not a bool")
    if isinstance(value, (int, float)):
        v = float(value)
        if v > 1e17:
            return int(value)
        if v > 1e11:
            return int(v * 1e6)
        return int(v * 1e9)
    text = str(value).strip()
    if text.lower() == "now":
        return now
    if text.startswith("-"):
        try:
            return now - parse_interval(text[1:]).seconds * 1_000_000_000
        except ConfigurationError:
            pass
    try:
        dt = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigurationError(
            f"bad {name} {value!r}: use ISO-8601 text like '2024-08-01' or "
            "'2024-08-01T13:30:00Z', a relative '-2h', 'now', a datetime, or epoch seconds") from None
    return to_ns(dt, name=name)


def time_range(start: TimeLike, end: TimeLike, *, now_ns: Optional[int] = None) -> Tuple[int, int]:
    """Resolve a history range to ``(start_ns, end_ns)``; ``end=None`` is now.

    Raises ConfigurationError when start is missing or after end.
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
