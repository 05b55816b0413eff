"""When markets trade: a small session calendar per asset class, so silence while a market is closed is not
taken for a stale feed. Times are New York wall-clock (zoneinfo), holidays are data (NYSE full closures; CME
equity and rate futures close on the same days), and early closes are ignored (a half day looks quiet sooner,
which at worst reports a symbol stale a few hours early).

Asset classes: ``equity`` (04:00-20:00 with extended hours, weekdays), ``option`` and ``index`` (09:30-16:15),
``future`` (CME Globex: Sunday 18:00 to Friday 17:00 with the daily 17:00-18:00 pause), ``fx`` (Sunday 17:00 to
Friday 17:00), ``always`` (crypto, emulators).
"""

from __future__ import annotations

import datetime as _dt
from typing import Callable, Dict, FrozenSet, Optional

__all__ = ["MarketCalendar", "HOLIDAYS", "ASSET_CLASSES"]

ASSET_CLASSES = ("equity", "option", "index", "future", "fx", "always")
HOLIDAYS: FrozenSet[_dt.date] = frozenset(_dt.date.fromisoformat(d) for d in """
2024-01-01 2024-01-15 2024-02-19 2024-03-29 2024-05-27 2024-06-19 2024-07-04 2024-09-02 2024-11-28 2024-12-25
2025-01-01 2025-01-09 2025-01-20 2025-02-17 2025-04-18 2025-05-26 2025-06-19 2025-07-04 2025-09-01 2025-11-27
2025-12-25 2026-01-01 2026-01-19 2026-02-16 2026-04-03 2026-05-25 2026-06-19 2026-07-03 2026-09-07 2026-11-26
2026-12-25 2027-01-01 2027-01-18 2027-02-15 2027-03-26 2027-05-31 2027-06-18 2027-07-05 2027-09-06 2027-11-25
2027-12-24
""".split())
_MIN = 60


def _ny() -> _dt.tzinfo:
    try:
        import zoneinfo
        return zoneinfo.ZoneInfo("America/New_York")
    except Exception:  # noqa: BLE001 - no tz database: EST all year beats no calendar
        return _dt.timezone(_dt.timedelta(hours=-5))


def _weekday_hours(start: int, end: int) -> Callable[[int, int], bool]:
    return lambda day, minute: day < 5 and start <= minute < end


def _globex(day: int, minute: int) -> bool:
    if day == 5:
        return False  # Saturday
    if day == 6:
        return minute >= 18 * _MIN  # Sunday evening open
    if day == 4:
        return minute < 17 * _MIN  # Friday close
    return not 17 * _MIN <= minute < 18 * _MIN  # the daily pause


def _fx(day: int, minute: int) -> bool:
    return (day < 4) or (day == 4 and minute < 17 * _MIN) or (day == 6 and minute >= 17 * _MIN)


_RULES: Dict[str, Callable[[int, int], bool]] = {
    "equity": _weekday_hours(4 * _MIN, 20 * _MIN), "option": _weekday_hours(9 * _MIN + 30, 16 * _MIN + 15),
    "index": _weekday_hours(9 * _MIN + 30, 16 * _MIN + 15), "future": _globex, "fx": _fx,
    "always": lambda day, minute: True,
}
_HOLIDAY_CLOSED = ("equity", "option", "index", "future")


class MarketCalendar:
    """Whether an asset class trades at a moment; ``holidays`` (dates, New York) replace the built-in list."""

    def __init__(self, holidays: Optional[FrozenSet[_dt.date]] = None) -> None:
        self.holidays = HOLIDAYS if holidays is None else holidays
        self._zone = _ny()

    def is_open(self, asset_class: str, t_ns: int) -> bool:
        """True when ``asset_class`` trades at epoch ``t_ns`` (an unknown class counts as always open)."""
        rule = _RULES.get(asset_class)
        if rule is None:
            return True
        local = _dt.datetime.fromtimestamp(t_ns / 1e9, self._zone)
        if asset_class in _HOLIDAY_CLOSED and local.date() in self.holidays:
            # Globex reopens at 18:00 on a holiday evening for the next session.
            return asset_class == "future" and local.hour >= 18 and local.weekday() != 5
        return rule(local.weekday(), local.hour * _MIN + local.minute)
