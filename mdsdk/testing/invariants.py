"""The event invariants (DESIGN.md section 4), written once.

Whatever a server sent, every event that reaches a user holds them: it is
one of the :mod:`mdsdk.events` classes (a provider's own kinds are the
:func:`~mdsdk.events.notice_class` ones); ``symbol`` is a non-empty str (a
Status may have "" for connection-wide news); ``time`` is an int of epoch
nanoseconds in the int64-safe range the decoders guarantee; ``provider`` is
a non-empty str; every price and size is exactly a ``float``, finite or nan;
text fields are str or None as their type says; ``extra`` maps snake_case
names to JSON scalars (or a list of flat rows of them, such as a
screener's ranking). :func:`violations` lists what an event breaks;
:func:`check_events` raises for a batch. The protocol tests, the fuzz
harness (:mod:`mdsdk.testing.fuzz`) and ``benchmarks/fuzz.py`` share them.
"""

from __future__ import annotations

import math
import re
from typing import Any, Dict, Iterable, List, Mapping, Tuple, Type

from ..events import (STATUS_KINDS, Bar, BookSnapshot, Event, Notice, PnL, Profile, Quote, Status, Summary, Trade,
                      notice_class)

__all__ = ["violations", "check_events", "MAX_TIME_NS", "MAX_TEXT", "FLOAT_FIELDS", "EXTRA_KEY"]

# fields.MAX_MS * fields.NS_PER_MS: epoch ns that still fit an int64 (the year 2255). Spelled out
# because mdsdk.testing may not import provider code (tests/test_layering.py).
MAX_TIME_NS = 9_000_000_000_000 * 1_000_000
MAX_TEXT = 10_000        # characters of one str value in ``extra``
_INT64 = 1 << 63
EXTRA_KEY = re.compile(r"^[a-z][a-z0-9_]*$")

FLOAT_FIELDS: Dict[Type[Event], Tuple[str, ...]] = {
    Quote: ("bid", "ask", "bid_size", "ask_size"),
    Trade: ("price", "size", "day_volume"),
    Bar: ("open", "high", "low", "close", "volume"),
    Summary: ("open", "high", "low", "close", "prev_close", "volume", "open_interest"),
    PnL: ("realized", "unrealized"),
    Profile: (),
    BookSnapshot: (),
    Status: (),
}


def _is_float(v: Any) -> bool:
    """Exactly a float (not int, bool or a subclass), finite or nan."""
    return v.__class__ is float and not math.isinf(v)


def _is_int(v: Any) -> bool:
    return v.__class__ is int  # bool is a subclass of int: excluded on purpose


def _optional_str(v: Any) -> bool:
    return v is None or v.__class__ is str


def _head(ev: Event) -> List[str]:
    out = []
    symbol = ev.symbol
    if symbol.__class__ is not str:
        out.append(f"symbol is {type(symbol).__name__}, not str")
    elif not symbol and not isinstance(ev, Status):
        out.append("symbol is empty")
    if not _is_int(ev.time):
        out.append(f"time is {type(ev.time).__name__}, not int")
    elif not 0 < ev.time < MAX_TIME_NS:
        out.append(f"time {ev.time} is outside (0, {MAX_TIME_NS})")
    if ev.provider.__class__ is not str or not ev.provider:
        out.append(f"provider {ev.provider!r} is not a non-empty str")
    return out


def _scalar_problem(v: Any) -> str:
    """Why ``v`` is not a JSON scalar an extra may hold ("" when it is)."""
    if v is None or v.__class__ is bool:
        return ""
    if v.__class__ is int:
        return "" if -_INT64 <= v < _INT64 else "an int beyond int64"
    if v.__class__ is float:
        return "" if not math.isinf(v) else "an infinite float"
    if v.__class__ is str:
        return "" if len(v) <= MAX_TEXT else f"a str of {len(v)} characters"
    return f"a {type(v).__name__}"


def _extra(extra: Any) -> List[str]:
    if not isinstance(extra, Mapping):
        return [f"extra is {type(extra).__name__}, not a Mapping"]
    out = []
    for key, value in extra.items():
        if key.__class__ is not str or not EXTRA_KEY.match(key):
            out.append(f"extra key {key!r} is not snake_case")
            continue
        why = _rows_problem(value) if value.__class__ is list else _scalar_problem(value)
        if why:
            out.append(f"extra[{key!r}] is {why}")
    return out


def _rows_problem(rows: List[Any]) -> str:
    """Why ``rows`` is not a table an extra may hold (a list of flat objects: a screener's ranking)."""
    for row in rows:
        if not isinstance(row, dict):
            return f"a list holding a {type(row).__name__}, not only rows"
        for k, v in row.items():
            if k.__class__ is not str or not EXTRA_KEY.match(k):
                return f"a list of rows with the key {k!r}, not snake_case"
            why = _scalar_problem(v)
            if why:
                return f"a list of rows whose {k!r} is {why}"
    return ""


def _levels(name: str, levels: Any) -> List[str]:
    if levels.__class__ is not tuple:
        return [f"{name} is {type(levels).__name__}, not a tuple"]
    for level in levels:
        if level.__class__ is not tuple or len(level) != 2 or not all(map(_is_float, level)):
            return [f"{name} holds {level!r}, not a (float, float) pair"]
    return []


def _specific(ev: Event) -> List[str]:
    """The rules of the event's own fields."""
    out = [f"{name} is {getattr(ev, name)!r} ({type(getattr(ev, name)).__name__}), not a finite-or-nan float"
           for name in FLOAT_FIELDS.get(type(ev), ()) if not _is_float(getattr(ev, name))]
    if isinstance(ev, Bar):
        if ev.interval.__class__ is not str or not ev.interval:
            out.append(f"interval {ev.interval!r} is not a non-empty str")
        if ev.complete.__class__ is not bool:
            out.append(f"complete is {type(ev.complete).__name__}, not bool")
    elif isinstance(ev, Profile):
        out += [f"{n} is {type(getattr(ev, n)).__name__}, not str or None"
                for n in ("description", "trading_status") if not _optional_str(getattr(ev, n))]
    elif isinstance(ev, BookSnapshot):
        out += _levels("bids", ev.bids) + _levels("asks", ev.asks)
    elif isinstance(ev, Status):
        if ev.kind not in STATUS_KINDS:
            out.append(f"kind {ev.kind!r} is not one of STATUS_KINDS")
        if ev.detail.__class__ is not str:
            out.append(f"detail is {type(ev.detail).__name__}, not str")
    elif isinstance(ev, PnL) and ev.account.__class__ is not str:
        out.append(f"account is {type(ev.account).__name__}, not str")
    return out


def violations(event: Any) -> List[str]:
    """What ``event`` breaks of the event invariants, as sentences (an empty
    list when it holds them all). Never raises, whatever ``event`` is."""
    if type(event) not in FLOAT_FIELDS and not (isinstance(event, Notice) and type(event) is notice_class(event.topic)):
        return [f"{type(event).__name__} is not an mdsdk event class"]
    try:
        return _head(event) + _specific(event) + _extra(event.extra)
    except Exception as exc:  # noqa: BLE001 - a checker that raises hides the event it checks
        return [f"checking raised {exc!r}"]


def check_events(events: Iterable[Any]) -> None:
    """Raise AssertionError listing every invariant an event of ``events``
    breaks (each with a short repr of its event); return when all hold."""
    problems = []
    for ev in events:
        found = violations(ev)
        if found:
            problems.append(f"{_short(ev)}: {'; '.join(found)}")
    if problems:
        raise AssertionError("events break the invariants:\n" + "\n".join(problems[:50]))


def _short(ev: Any) -> str:
    try:
        text = repr(ev)
    except Exception:  # noqa: BLE001 - a repr that raises is itself a finding, not a crash
        text = f"<{type(ev).__name__}>"
    return text if len(text) <= 200 else text[:197] + "..."
