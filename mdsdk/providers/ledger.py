"""Continuity and integrity checks on what a protocol object emits, once for every provider (ProtocolCore
uses them): bars across reconnects, and books (:func:`book_problem`).

Per bar series (symbol, interval) the ledger remembers the start of the last complete bar it let through. After a
reconnect the protocol asks history for the bars from there to now (the *backfill*); meanwhile the live bars of
that series are *held*, so the missed bars arrive first, in order, and the live ones after them. Every complete
bar passes once: one whose start is not after the last one let through is a repeat (a provider that replays a
snapshot on resubscribe, a backfill overlapping the live stream) and is dropped; a forming bar older than that
is stale and dropped too.

A provider that resumes bar series itself after a reconnect (DXLink's ``fromTime``, Tradovate's chart reopen) is
trusted but checked: each series stays *suspect* until its first complete live bar. If that bar starts more than
one interval after the last one let through, the resumption skipped bars (a resume cut short by another drop, a
snapshot that never finished); the series is held and the hole is backfilled from history like a reconnect's gap.
Only the first bar after a reconnect is checked, so a quiet market's legitimately missing bars cost at most one
history request per series per reconnect.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple

from ..events import Bar, BookSnapshot, Event
from ..intervals import parse_interval
from .base import Capabilities, History

__all__ = ["BarLedger", "Continuity", "Sequences", "Series", "book_problem", "NEXT", "REPEAT"]

Series = Tuple[str, str]  # (symbol, interval)


class BarLedger:
    """The last complete bar per series, and the series on hold while their backfill runs."""

    def __init__(self) -> None:
        self.last: Dict[Series, int] = {}
        self._held: Dict[Series, List[Bar]] = {}
        self.watched: Set[Series] = set()  # the series subscribed now; nothing is checked when this is empty
        self.repeats = 0
        self.suspect: Dict[Series, int] = {}  # resumed series not yet verified -> their last complete bar
        self.holes: List[Tuple[Series, int, int]] = []  # (series, first missing bar start, revealing bar start)

    def watch(self, series: Sequence[Series]) -> None:
        """The bar series subscribed now (forgets the others)."""
        self.watched = set(series)
        for key in [k for k in self.last if k not in self.watched]:
            del self.last[key]
        for key in [k for k in self.suspect if k not in self.watched]:
            del self.suspect[key]

    def hold(self, key: Series) -> None:
        """Hold the live bars of ``key`` until :meth:`release`."""
        self._held.setdefault(key, [])

    @property
    def holding(self) -> bool:
        """True while some series waits for its backfill."""
        return bool(self._held)

    def release(self, key: Series, backfill: Sequence[Bar] = ()) -> List[Event]:
        """The backfilled bars (complete ones) and the held live ones merged by bar start, each passing once. Held
        bars can be older than backfilled ones (two outages close together: live bars came between them), so
        neither group may simply go first; within a period the forming bars keep their place before its complete bar, as
        live delivered them."""
        held = self._held.pop(key, [])
        merged = [b for b in backfill if b.complete] + held
        return self._pass(sorted(merged, key=lambda b: (b.time, b.complete)))

    def release_all(self, backfills: Optional[Dict[Series, List[Bar]]] = None) -> List[Event]:
        """Every held bar, in order, with whatever ``backfills`` did arrive (backfills that cannot finish)."""
        out: List[Event] = []
        for key in list(self._held):
            out += self.release(key, (backfills or {}).get(key, ()))
        return out

    def apply(self, events: List[Event]) -> List[Event]:
        """``events`` with repeated and stale bars dropped and held series' bars kept back."""
        if not self.watched or not any(e.__class__ is Bar for e in events):
            return events
        out: List[Event] = []
        for ev in events:
            if ev.__class__ is not Bar:
                out.append(ev)
                continue
            key = (ev.symbol, ev.interval)
            held = self._held.get(key)
            if held is not None:
                held.append(ev)
            elif self.suspect and ev.complete and key in self.suspect and self._hole(key, ev):
                self._held[key] = [ev]
            else:
                out += self._pass([ev])
        return out

    def _hole(self, key: Series, bar: Bar) -> bool:
        """Whether the first complete bar of a resumed series shows bars missing before it (then noted)."""
        last = self.suspect.pop(key)
        try:
            span = parse_interval(key[1]).seconds * 1_000_000_000
        except ValueError:
            return False
        if bar.time <= last + span:
            return False
        self.holes.append((key, last + span, bar.time))
        return True

    def _pass(self, bars: Sequence[Bar]) -> List[Event]:
        out: List[Event] = []
        for bar in bars:
            key = (bar.symbol, bar.interval)
            last: Optional[int] = self.last.get(key)
            if last is not None and bar.time <= last:  # a repeat, or a forming bar of a finished period
                self.repeats += 1
                continue
            if bar.complete and key in self.watched:
                self.last[key] = bar.time
            out.append(bar)
        return out


class Continuity:
    """The reconnect side of the ledger: the outage window as ``Status(gap)`` news, and a backfill (an internal
    history request) per bar series that had a complete bar before the drop. Request ids are negative, so they
    never meet the runtime's. A backfill that has not answered within ``patience`` seconds lets the held bars go."""

    def __init__(self, patience: float = 30.0, start: Optional[Callable[[int, History], None]] = None) -> None:
        self.ledger = BarLedger()
        self.patience = patience
        self.last_rx_ns = 0  # wall time of the last frame received
        self.outage_from = 0  # ... when the socket went: where the outage starts
        self.backfilled = 0
        self._requests: Dict[int, Series] = {}
        self._arrived: Dict[Series, List[Bar]] = {}  # backfilled bars of a series still waiting for another backfill
        self._next = -1
        self.deadline: Optional[float] = None
        self._start: Callable[[int, History], None] = start or (lambda rid, req: None)  # the history path

    def dropped(self) -> None:
        """The socket is gone: the outage started at the last frame received."""
        if self.last_rx_ns:
            self.outage_from = self.last_rx_ns

    def owns(self, request_id: Optional[int]) -> bool:
        """True for the id of one of our backfills."""
        return request_id in self._requests

    def reconnected(self, now: float, wall_ns: int, can: Capabilities,
                    start: Callable[[int, History], None], status: Callable[..., Event]) -> List[Event]:
        """After a reconnect: the gap news, and a backfill for each series that has a last complete bar (unless
        the provider's resubscription brings the missed bars back itself, or it has no history)."""
        if not self.outage_from:
            return []
        began, self.outage_from = self.outage_from, 0
        series = [(key, t) for key, t in self.ledger.last.items() if key in self.ledger.watched]
        backfill = can.history and not can.resumes_bars
        how = (f"{len(series)} bar series backfilled from history" if backfill else
               f"{len(series)} bar series resumed by the provider" if can.resumes_bars else "no history to backfill")
        news = [status("gap", f"no data for {(wall_ns - began) / 1e9:.1f} s (a reconnect); {how}", wall_ns,
                       start=began, end=wall_ns)]
        self._start = start
        if can.history and can.resumes_bars:  # trust the resumption, but check its first bar (see the module doc)
            self.ledger.suspect = dict(series)
        for (symbol, interval), last in series if backfill else ():
            try:
                span = parse_interval(interval).seconds * 1_000_000_000
            except ValueError:
                continue
            self.ledger.hold((symbol, interval))
            self._fetch((symbol, interval), last + span, wall_ns - wall_ns % span, now)
        return news

    def doubt(self, key: Series) -> None:
        """A provider knows bars of ``key`` went missing mid-stream (its message numbers skipped): check the next
        complete bar against the last one as after a resumption, and backfill the hole it shows."""
        last = self.ledger.last.get(key)
        if last is not None and key in self.ledger.watched:
            self.ledger.suspect[key] = last

    def _fetch(self, key: Series, start_ns: int, end_ns: int, now: float) -> None:
        rid, self._next = self._next, self._next - 1
        self._requests[rid] = key
        self.deadline = now + self.patience
        self._start(rid, History(key[0], parse_interval(key[1]), start_ns, end_ns))

    def apply(self, events: List[Event], now: float, status: Callable[..., Event], wall_ns: int) -> List[Event]:
        """``events`` through the ledger; a hole found in a resumed series is reported and backfilled."""
        out = self.ledger.apply(events)
        while self.ledger.holes:
            (symbol, interval), first, upto = self.ledger.holes.pop(0)
            missing = (upto - first) // (parse_interval(interval).seconds * 1_000_000_000)
            out.insert(0, status("gap", f"the {symbol} {interval} bars skipped {missing} bar(s); backfilling "
                                        "them from history", wall_ns, symbol=symbol, start=first, end=upto))
            self._fetch((symbol, interval), first, upto, now)
        return out

    def answer(self, request_id: int, value: Any, error: Optional[BaseException],
               status: Callable[..., Event], wall_ns: int) -> List[Event]:
        """A backfill's answer: its bars, then the live ones held meanwhile."""
        key = self._requests.pop(request_id)
        if not self._requests:
            self.deadline = None
        arrived = self._arrived.setdefault(key, [])
        arrived += getattr(value, "bars", ()) if error is None else ()
        failed = [status("error", f"could not backfill the missing {key[0]} {key[1]} bars: {error}", wall_ns,
                         symbol=key[0])] if error is not None else []
        if key in self._requests.values():  # a second outage's backfill of this series is still out: keep holding
            return failed
        out = self.ledger.release(key, self._arrived.pop(key))
        self.backfilled += sum(1 for e in out if e.__class__ is Bar and e.complete)
        return failed + out

    def timer(self, now: float, status: Callable[..., Event], wall_ns: int) -> List[Event]:
        """Give up on backfills past their patience: the held bars go out, and a Status says so."""
        if self.deadline is None or now < self.deadline:
            return []
        keys, self._requests, self.deadline = sorted(set(self._requests.values())), {}, None
        arrived, self._arrived = self._arrived, {}
        names = ", ".join(f"{s} {i}" for s, i in keys)
        late = status("error", f"the backfill of {names} did not answer in {self.patience:g} s; live bars go on "
                               "without it", wall_ns)
        return [late] + self.ledger.release_all(arrived)


NEXT, REPEAT = "next", "repeat"


class Sequences:
    """Message counters per key (a symbol's prints, an account's activity, a whole feed), for providers that number
    their messages: each ``seen`` says whether a number is the next one, a repeat of one already seen (or older),
    or a skip, given as the missing range. Counters that wrap (a 32-bit feed sequence) compare modulo
    ``modulus``: a number up to half the modulus ahead is news, anything else behind. At most ``max_keys`` keys are
    kept (past that the counters start over), so a hostile stream of fresh keys cannot grow it."""

    def __init__(self, modulus: int = 0, max_keys: int = 100_000) -> None:
        self.modulus = modulus
        self.max_keys = max_keys
        self.last: Dict[Any, int] = {}

    def seen(self, key: Any, seq: int) -> Any:
        """:data:`NEXT`, :data:`REPEAT`, or the skipped ``(first, last)`` numbers (then counting goes on from
        ``seq``)."""
        last = self.last.get(key)
        if last is None:
            if len(self.last) >= self.max_keys:
                self.last.clear()
            self.last[key] = seq
            return NEXT
        ahead = (seq - last) % self.modulus if self.modulus else seq - last
        if ahead <= 0 or (self.modulus and ahead > self.modulus // 2):
            return REPEAT
        self.last[key] = seq
        if ahead == 1:
            return NEXT
        first, upto = last + 1, seq - 1
        return (first % self.modulus, upto % self.modulus) if self.modulus else (first, upto)

    def reset(self) -> None:
        """Forget every counter (a new session numbers afresh)."""
        self.last.clear()


def book_problem(book: BookSnapshot) -> Optional[str]:
    """Why ``book`` cannot be a true depth of book (None when it can): bid prices strictly falling, ask prices
    strictly rising, the best bid not above the best ask, every price finite and every size above 0."""
    for side, levels, sign in (("bid", book.bids, -1), ("ask", book.asks, 1)):
        for i, (price, size) in enumerate(levels):
            if not (math.isfinite(price) and math.isfinite(size)) or size <= 0:
                return f"{side} level {i} is ({price}, {size})"
            if i and (price - levels[i - 1][0]) * sign <= 0:
                return f"{side} prices are not {'falling' if sign < 0 else 'rising'} at level {i}"
    if book.bids and book.asks and book.bids[0][0] > book.asks[0][0]:
        return f"crossed: best bid {book.bids[0][0]} above best ask {book.asks[0][0]}"
    return None
