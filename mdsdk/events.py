"""Event types delivered to users.

Every event is a frozen, slotted dataclass; callbacks always receive exactly
one event object. Common fields: ``symbol``, ``time`` (UTC epoch nanoseconds:
the event's own time, or the receive time when the provider sends none),
``provider`` and ``extra`` (provider fields that have no common name, keyed in
readable snake_case). Missing numbers are ``math.nan``, missing text ``None``.

Protocol decoders on the hot path write the slots directly instead of calling
the dataclass ``__init__`` (a frozen dataclass pays ``object.__setattr__`` per
field); the objects are identical either way.
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass, field
from typing import ClassVar, Iterator, Mapping, Optional, Tuple

__all__ = [
    "Event", "Quote", "Trade", "Bar", "Summary", "Profile", "BookSnapshot", "PnL",
    "Status", "STATUS_KINDS", "EVENT_KINDS", "EMPTY", "NAN",
]

NAN = math.nan


class _EmptyMap(Mapping[str, object]):
    """An immutable, hashable empty mapping: the shared default ``extra``."""

    __slots__ = ()

    def __getitem__(self, key: str) -> object:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "{}"


EMPTY: Mapping[str, object] = _EmptyMap()

STATUS_KINDS = (
    "connected", "disconnected", "reconnecting", "resubscribed",
    "gap", "stale", "overflow", "error",
)


@dataclass(frozen=True, slots=True)
class Event:
    """Fields shared by every event: symbol, UTC epoch-nanosecond time,
    provider name and provider extras. The class attribute ``topic`` names
    the event type ("quote", "trade", ...) for subscriptions and callbacks."""

    topic: ClassVar[str] = "event"
    symbol: str
    time: int
    provider: str
    extra: Mapping[str, object] = field(default=EMPTY, kw_only=True, compare=False)

    @property
    def datetime(self) -> _dt.datetime:
        """The event time as a timezone-aware UTC datetime (microsecond precision)."""
        return _dt.datetime.fromtimestamp(self.time / 1e9, tz=_dt.timezone.utc)


@dataclass(frozen=True, slots=True)
class Quote(Event):
    """Best bid and offer for one symbol."""

    topic: ClassVar[str] = "quote"
    bid: float = NAN
    ask: float = NAN
    bid_size: float = NAN
    ask_size: float = NAN

    @property
    def mid(self) -> float:
        """The midpoint of bid and ask (``nan`` when either is missing)."""
        return (self.bid + self.ask) / 2.0


@dataclass(frozen=True, slots=True)
class Trade(Event):
    """A last-sale print: price, size and the session's volume so far."""

    topic: ClassVar[str] = "trade"
    price: float = NAN
    size: float = NAN
    day_volume: float = NAN


@dataclass(frozen=True, slots=True)
class Bar(Event):
    """An OHLCV bar; ``time`` is the bar's start. ``complete`` is False while
    the bar is still forming."""

    topic: ClassVar[str] = "bar"
    interval: str = ""
    open: float = NAN
    high: float = NAN
    low: float = NAN
    close: float = NAN
    volume: float = NAN
    complete: bool = True


@dataclass(frozen=True, slots=True)
class Summary(Event):
    """Session statistics: open, high, low, close, previous close, volume and
    open interest."""

    topic: ClassVar[str] = "summary"
    open: float = NAN
    high: float = NAN
    low: float = NAN
    close: float = NAN
    prev_close: float = NAN
    volume: float = NAN
    open_interest: float = NAN


@dataclass(frozen=True, slots=True)
class Profile(Event):
    """Instrument reference data: description and trading status; the
    provider's other reference fields are in ``extra``."""

    topic: ClassVar[str] = "profile"
    description: Optional[str] = None
    trading_status: Optional[str] = None


@dataclass(frozen=True, slots=True)
class BookSnapshot(Event):
    """Depth of book: ``bids`` and ``asks`` as tuples of ``(price, size)``,
    best first."""

    topic: ClassVar[str] = "book"
    bids: Tuple[Tuple[float, float], ...] = ()
    asks: Tuple[Tuple[float, float], ...] = ()


@dataclass(frozen=True, slots=True)
class PnL(Event):
    """Account profit and loss, where a provider streams it."""

    topic: ClassVar[str] = "pnl"
    account: str = ""
    realized: float = NAN
    unrealized: float = NAN


@dataclass(frozen=True, slots=True)
class Status(Event):
    """Connection and delivery news: ``kind`` is one of :data:`STATUS_KINDS`,
    ``detail`` a human-readable sentence. Counters and codes travel in
    ``extra``; ``symbol`` is empty for connection-wide news."""

    topic: ClassVar[str] = "status"
    kind: str = "error"
    detail: str = ""


EVENT_KINDS = ("quote", "trade", "bar", "summary", "profile", "book", "pnl", "status")
