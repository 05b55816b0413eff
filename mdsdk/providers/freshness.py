"""Staleness, once for every provider (ProtocolCore uses it): a symbol quiet far longer than its own recent
cadence while its market trades gets one ``Status(stale)``, and one more (``extra["stale"] = False``) when it
speaks again; a feed where every watched symbol went quiet together, on a socket that still looks alive (a
server answering keepalives but sending no data), is reconnected.

Cheap on the hot path: a frame's events only stamp their symbols' last-update time (one C-level dict update);
cadences are learnt and judged by a check about once a second, from the stamps. The cadence of a symbol is the
smoothed time between the checks that saw it update, so it is never below the check's second."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, List, Optional, Tuple

from .. import _validate as check
from ..errors import ConnectionLost
from ..events import Batch, Event
from ..sessions import MarketCalendar

__all__ = ["Staleness", "Freshness", "asset_class_of"]

_OPTION = re.compile(r"\.?[A-Z0-9.]{1,6} *[0-9]{6}[CP][0-9.]+\Z")


def asset_class_of(symbol: str) -> str:
    """A symbol's session class by its form (see :meth:`ProtocolCore.asset_class`)."""
    if symbol.startswith("/"):
        return "future"
    if symbol.startswith("$"):
        return "index"
    if len(symbol) == 7 and symbol[3] == "/":
        return "fx"
    return "option" if _OPTION.match(symbol) else "equity"


@dataclass(frozen=True)
class Staleness:
    """When silence counts: a symbol is stale after ``factor`` times its usual gap between updates, and never
    sooner than ``floor`` seconds; a feed whose watched symbols are all stale for ``feed_quiet`` seconds is
    reconnected (None: never). ``calendar`` decides when markets trade (None: always, as for emulators)."""

    factor: float = 20.0
    floor: float = 10.0
    feed_quiet: Optional[float] = 300.0
    calendar: Optional[MarketCalendar] = MarketCalendar()

    def __post_init__(self) -> None:
        check.number("Staleness factor", self.factor, low=1.0, high=1e6)
        check.seconds("Staleness floor", self.floor)
        if self.feed_quiet is not None:
            check.seconds("Staleness feed_quiet", self.feed_quiet, positive=True)
        if self.calendar is not None:
            check.instance("Staleness calendar", self.calendar, MarketCalendar, "a mdsdk.MarketCalendar or None")


class _Track:
    __slots__ = ("seen", "checked", "cadence", "stale")

    def __init__(self, now: float) -> None:
        self.seen = now      # the last update's time, as the last check saw it
        self.checked = now   # when the last check saw an update
        self.cadence = math.nan
        self.stale = False


class Freshness:
    """Per-symbol last-update times and the once-a-second judgement (see the module docstring)."""

    def __init__(self, policy: Staleness = Staleness()) -> None:
        self.policy = policy
        self.last: Dict[str, float] = {}  # symbol -> monotonic time of its last event
        self._tracks: Dict[str, _Track] = {}
        self._classes: Dict[str, str] = {}
        self.deadline: Optional[float] = None
        self._all_quiet_since: Optional[float] = None

    def watch(self, symbols: Iterable[Tuple[str, str]], now: float) -> None:
        """The symbols to judge now, each with its asset class."""
        self._classes = dict(symbols)
        self._tracks = {s: self._tracks.get(s) or _Track(now) for s in self._classes}
        self.deadline = now + 1.0 if self._classes else None

    def watch_later(self, now: float) -> List[Event]:
        """No socket: nothing to judge until one streams again (its silence is the outage's, reported as a gap)."""
        self.deadline = now + 1.0
        for track in self._tracks.values():
            track.seen = track.checked = now
        return []

    def stamp(self, events: List[Event], now: float) -> None:
        """A frame's events arrived at ``now``."""
        try:
            # The distinct symbols first: a burst holds many events of few symbols, and the dict then takes one
            # update per symbol instead of one per event. A Batch's latest-per-symbol dict (which the cache
            # reuses) has them; another list's set display reads the slot at C speed.
            syms = events.latest() if isinstance(events, Batch) else {e.symbol for e in events}
            self.last.update(dict.fromkeys(syms, now))
        except TypeError:  # a provider's bug (an unhashable symbol) is the runtime's to report, not ours to raise
            self.last.update((e.symbol, now) for e in events if e.symbol.__class__ is str)

    def check(self, now: float, wall_ns: int, status: Callable[..., Event]) -> List[Event]:
        """The judgement, due every second; raises ConnectionLost when the whole feed went quiet."""
        self.deadline = now + 1.0 if self._classes else None
        out: List[Event] = []
        cal, quiet = self.policy.calendar, 0
        for symbol, track in self._tracks.items():
            seen = self.last.get(symbol, track.seen)
            if seen > track.seen:  # it spoke since the last check
                gap = now - track.checked
                track.cadence = gap if math.isnan(track.cadence) else 0.8 * track.cadence + 0.2 * gap
                track.seen, track.checked = seen, now
                if track.stale:
                    track.stale = False
                    out.append(status("stale", f"{symbol} updates again", wall_ns, symbol=symbol, stale=False))
                continue
            if cal is not None and not cal.is_open(self._classes[symbol], wall_ns):
                track.checked = track.seen = now  # closed: silence is normal, and the clock restarts at the open
                continue
            limit = max(self.policy.floor, self.policy.factor * (track.cadence if track.cadence == track.cadence
                                                                 else self.policy.floor))
            if now - track.seen > limit:
                quiet += 1
                if not track.stale:
                    track.stale = True
                    out.append(status("stale", f"{symbol} has not updated for {now - track.seen:.0f} s (it "
                                               f"usually does every {track.cadence:.1f} s)", wall_ns,
                                      symbol=symbol, stale=True, age=now - track.seen))
        self._feed(quiet, now)
        return out

    def _feed(self, quiet: int, now: float) -> None:
        # Only a feed that has spoken can fall silent: symbols that never updated (unknown ones) prove nothing.
        if not self._tracks or quiet < len(self._tracks) or all(t.cadence != t.cadence for t in self._tracks.values()):
            self._all_quiet_since = None
            return
        if self._all_quiet_since is None:
            self._all_quiet_since = now
        limit = self.policy.feed_quiet
        if limit is not None and now - self._all_quiet_since >= limit:
            self._all_quiet_since = None
            raise ConnectionLost(f"no data for any of {len(self._tracks)} symbols for {limit:g} s while the socket "
                                 "stays open; reconnecting")

    def snapshot(self, now: float) -> Dict[str, Dict[str, object]]:
        """``{symbol: {"age": seconds since its last update, "stale": bool}}`` for ``stats()``."""
        return {s: {"age": round(now - self.last.get(s, t.seen), 3), "stale": t.stale} for s, t in self._tracks.items()}
