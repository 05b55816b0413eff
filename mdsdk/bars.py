"""Bars built from trades: time bars (``"1m"``, ``"5s"``, any interval), tick bars (``"100t"``: every 100
trades) and volume bars (``"5000v"``: every 5,000 shares or contracts).

The rules, so built bars are predictable:

* A **time bar** covers ``[start, start + interval)`` in UTC, aligned to the epoch like every provider's bars. It
  completes when the first trade of a later period arrives (a quiet symbol's bar therefore completes late, at its
  next trade; :meth:`BarBuilder.flush` completes it on demand, for example at the end of a session). Periods
  without trades produce no bar.
* A **late trade** (stamped before the start of the bar being built: out-of-order delivery, a correction) is left
  out and counted in :attr:`BarBuilder.late`: bars already delivered are final and never change.
* A **tick bar** completes at its N-th trade; a **volume bar** completes with the trade that brings its volume to
  N or more, which it includes whole (trades are never split). Their ``time`` is their first trade's time, and
  arrival order decides, so nothing is late.
* Every bar carries ``extra["trades"]``, the number of trades in it. A trade without a finite price is skipped; one
  without a finite size counts as size 0.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Union

from . import _validate as check
from .errors import ConfigurationError
from .events import NAN, Bar, Trade
from .intervals import Interval, parse_interval

__all__ = ["BarBuilder", "BarStream", "parse_rule"]


def parse_rule(rule: Union[str, Interval]) -> Union[Interval, str]:
    """A bar rule: an :class:`~mdsdk.intervals.Interval` for time bars, else ``"100t"`` (ticks) or ``"5000v"``
    (volume), checked; ConfigurationError saying the accepted forms otherwise."""
    if isinstance(rule, str) and len(rule) > 1 and rule[-1] in "tv" and rule[:-1].isdigit():
        if int(rule[:-1]) < 1:
            raise ConfigurationError(f"a bar rule needs a count of at least 1, got {rule!r}")
        return str(int(rule[:-1])) + rule[-1]
    try:
        return parse_interval(rule)
    except ConfigurationError:
        raise ConfigurationError(f"bar rule must be a time interval like '1m' or '5s', a tick count like '100t' or "
                                 f"a volume like '5000v', got {check.show(rule)}") from None


class _Open:
    """The bar being built."""

    __slots__ = ("time", "open", "high", "low", "close", "volume", "trades")

    def __init__(self, time: int, price: float, size: float) -> None:
        self.time, self.open, self.high, self.low, self.close = time, price, price, price, price
        self.volume, self.trades = size, 1

    def add(self, price: float, size: float) -> None:
        if price > self.high:
            self.high = price
        elif price < self.low:
            self.low = price
        self.close = price
        self.volume += size
        self.trades += 1


class BarBuilder:
    """Builds one symbol's bars from its trades under one rule (see the module doc): feed it trades with
    :meth:`add`, which returns the bars each trade completes (and, with ``forming=True``, the bar so far after
    each trade, ``complete=False``)."""

    def __init__(self, rule: Union[str, Interval] = "1m", *, forming: bool = False, provider: str = "built") -> None:
        self.rule = parse_rule(rule)
        self.name = str(self.rule)
        self.forming = forming
        self.provider = provider
        self.late = 0  # trades left out because their bar was already delivered
        self._span = self.rule.seconds * 1_000_000_000 if isinstance(self.rule, Interval) else 0
        self._limit = 0 if self._span else int(str(self.rule)[:-1])
        self._by_volume = not self._span and str(self.rule).endswith("v")
        self._open: Dict[str, _Open] = {}

    def add(self, trade: Trade) -> List[Bar]:
        """Take one trade; the bars it completes, oldest first (and the forming bar, when asked for)."""
        price, size = trade.price, trade.size
        if not math.isfinite(price):
            return []
        size = size if math.isfinite(size) else 0.0
        cur = self._open.get(trade.symbol)
        out: List[Bar] = []
        start = trade.time
        if self._span:
            start = trade.time - trade.time % self._span
            if cur is not None and start < cur.time:
                self.late += 1
                return []
            if cur is not None and start > cur.time:
                out.append(self._bar(trade.symbol, cur, True))
                cur = None
        if cur is None:
            cur = self._open[trade.symbol] = _Open(start, price, size)
        else:
            cur.add(price, size)
        if not self._span and (cur.volume >= self._limit if self._by_volume else cur.trades >= self._limit):
            out.append(self._bar(trade.symbol, cur, True))
            del self._open[trade.symbol]
        elif self.forming:
            out.append(self._bar(trade.symbol, cur, False))
        return out

    def flush(self, symbol: Optional[str] = None) -> List[Bar]:
        """Complete the bars being built now (of ``symbol``, or of every symbol), as they stand."""
        names = [symbol] if symbol is not None else sorted(self._open)
        return [self._bar(name, self._open.pop(name), True) for name in names if name in self._open]

    def _bar(self, symbol: str, b: _Open, complete: bool) -> Bar:
        return Bar(symbol, b.time, self.provider, self.name, b.open, b.high, b.low, b.close,
                   b.volume if b.trades else NAN, complete, extra={"trades": b.trades})


class BarStream:
    """Bars as an iterator, from a stream of events: built from its trades by a :class:`BarBuilder`, or passed
    through when they are the provider's own bars. Use it in a ``with`` block (``feed.bars`` returns one); when the
    event stream ends, the bars still being built are completed and delivered last."""

    def __init__(self, events: Iterable[Any], builder: Optional[BarBuilder], close: Callable[[], None],
                 forming: bool = False) -> None:
        self._events = events
        self.builder = builder
        self._close = close
        self._forming = forming

    def __enter__(self) -> "BarStream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Bar]:
        build = self.builder
        for ev in self._events:
            if build is None:
                if ev.__class__ is Bar and (ev.complete or self._forming):
                    yield ev
            elif ev.__class__ is Trade:
                yield from build.add(ev)
        if build is not None:
            yield from build.flush()

    def close(self) -> None:
        """Stop: the underlying event stream is closed (bars still being built are dropped)."""
        self._close()
