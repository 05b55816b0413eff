"""Event types delivered to users.

Every event is a frozen ``msgspec.Struct`` (``gc=False``): decoders build
them from C with positional arguments, about fifteen times cheaper than a
frozen dataclass, and millions of them never burden the garbage collector.
Callbacks always receive exactly one event object. Common fields:
``symbol``, ``time`` (UTC epoch nanoseconds: the event's own time, or the
receive time when the provider sends none), ``provider`` and the keyword-only
``extra`` (provider fields that have no common name, keyed in readable
snake_case). Missing numbers are ``math.nan``, missing text ``None``.

Events were dataclasses before; ``dataclasses.fields``, ``asdict`` and
``replace`` still work on them (see :func:`_as_dataclass`), and
``msgspec.structs`` offers the same natively.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import operator
import re
import threading
import types
from typing import AbstractSet, Any, ClassVar, Dict, FrozenSet, Iterable, Iterator, List, Mapping, Optional, Tuple, Type

import msgspec

from . import _html

__all__ = [
    "Event", "Quote", "Trade", "Bar", "Summary", "Profile", "BookSnapshot", "PnL",
    "Status", "Notice", "notice_class", "STATUS_KINDS", "EVENT_KINDS", "EMPTY", "NAN", "to_json",
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


class _Head(msgspec.Struct, frozen=True, gc=False):
    symbol: str
    time: int
    provider: str


class Event(_Head, frozen=True, gc=False, kw_only=True):
    """Fields shared by every event: symbol, UTC epoch-nanosecond time,
    provider name and provider extras (keyword-only, so each event type's
    own fields follow ``provider`` positionally). The class attribute
    ``topic`` names the event type ("quote", "trade", ...) for subscriptions
    and callbacks."""

    topic: ClassVar[str] = "event"
    extra: Mapping[str, object] = EMPTY

    @property
    def datetime(self) -> _dt.datetime:
        """The event time as a timezone-aware UTC datetime (microsecond precision)."""
        return _dt.datetime.fromtimestamp(self.time / 1e9, tz=_dt.timezone.utc)

    def _repr_html_(self) -> str:
        """The event as a small HTML table for notebooks: every field, the
        time as ISO UTC, nan as a dash, ``extra`` as a nested table, all
        text escaped (a symbol is whatever the server sent)."""
        return _html.event_html(self)


class Quote(Event, frozen=True, gc=False):
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


class Trade(Event, frozen=True, gc=False):
    """A last-sale print: price, size and the session's volume so far."""

    topic: ClassVar[str] = "trade"
    price: float = NAN
    size: float = NAN
    day_volume: float = NAN


class Bar(Event, frozen=True, gc=False):
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


class Summary(Event, frozen=True, gc=False):
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


class Profile(Event, frozen=True, gc=False):
    """Instrument reference data: description and trading status; the
    provider's other reference fields are in ``extra``."""

    topic: ClassVar[str] = "profile"
    description: Optional[str] = None
    trading_status: Optional[str] = None


class BookSnapshot(Event, frozen=True, gc=False):
    """Depth of book: ``bids`` and ``asks`` as tuples of ``(price, size)``,
    best first."""

    topic: ClassVar[str] = "book"
    bids: Tuple[Tuple[float, float], ...] = ()
    asks: Tuple[Tuple[float, float], ...] = ()


class PnL(Event, frozen=True, gc=False):
    """Account profit and loss, where a provider streams it."""

    topic: ClassVar[str] = "pnl"
    account: str = ""
    realized: float = NAN
    unrealized: float = NAN


class Status(Event, frozen=True, gc=False):
    """Connection and delivery news: ``kind`` is one of :data:`STATUS_KINDS`,
    ``detail`` a human-readable sentence. Counters and codes travel in
    ``extra``; ``symbol`` is empty for connection-wide news."""

    topic: ClassVar[str] = "status"
    kind: str = "error"
    detail: str = ""


class Notice(Event, frozen=True, gc=False):
    """A provider's own kind of event, with no common shape: account
    activity, a news headline, a screener's ranking. Each kind is its own
    subclass (see :func:`notice_class`) whose ``topic`` is the kind's name,
    so ``feed.on("news", fn)`` and ``feed.events(kinds="news")`` select it
    like any other kind; ``symbol`` is the key it streams for and every field
    is in ``extra``. A provider lists its notice kinds in its capabilities."""

    topic: ClassVar[str] = "notice"


EVENT_KINDS = ("quote", "trade", "bar", "summary", "profile", "book", "pnl", "status")

_NOTICE_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}\Z")
_notices: Dict[str, Type[Notice]] = {}
_notices_lock = threading.Lock()


def notice_class(kind: str) -> Type[Notice]:
    """The :class:`Notice` subclass of provider event ``kind`` (snake_case,
    not one of :data:`EVENT_KINDS`), made on first use and the same class
    ever after, so callbacks, stream filters and pickling see one type per
    kind. ``notice_class("news")`` is named ``News``."""
    cls = _notices.get(kind)
    if cls is not None:
        return cls
    if not _NOTICE_NAME.match(kind) or kind in EVENT_KINDS:
        raise ValueError(f"a notice kind is a snake_case name other than {', '.join(EVENT_KINDS)}, not {kind!r}")
    with _notices_lock:
        cls = _notices.get(kind)
        if cls is None:
            name = "".join(part.capitalize() for part in kind.split("_"))
            cls = types.new_class(name, (Notice,), {"frozen": True, "gc": False},
                                  lambda ns: ns.update(topic=kind, __module__=__name__,
                                                       __doc__=f"Provider event {kind!r} (see :class:`Notice`)."))
            _as_dataclass(cls)
            globals()[name] = cls  # importable by name: pickling finds mdsdk.events.<Name>
            _notices[kind] = cls
    return cls


def _as_dataclass(cls: Any) -> None:
    """Give an event class the field records of the equivalent frozen
    dataclass, so code written when events were dataclasses
    (``dataclasses.fields(ev)``, ``asdict``, ``replace``) keeps working."""
    specs: list[Any] = []
    for f in msgspec.structs.fields(cls):
        if f.default is msgspec.NODEFAULT:
            specs.append((f.name, f.type))
        else:
            specs.append((f.name, f.type, dataclasses.field(default=f.default, kw_only=f.name == "extra")))
    twin = dataclasses.make_dataclass(cls.__name__, specs, frozen=True)
    cls.__dataclass_fields__ = twin.__dataclass_fields__  # type: ignore[attr-defined]


for _cls in (Event, Quote, Trade, Bar, Summary, Profile, BookSnapshot, PnL, Status, Notice):
    _as_dataclass(_cls)


def _plain(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return dict(obj)
    return str(obj)


_ENCODER = msgspec.json.Encoder(enc_hook=_plain)


def _nulls(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _nulls(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_nulls(v) for v in obj]
    return obj


def to_json(ev: Event) -> str:
    """One event as a line of JSON, encoded by msgspec in C: ``kind`` (the
    event type, e.g. ``"quote"``; a Status's own ``kind`` field says which
    news it is) then every field in order, with nan and infinities as
    ``null`` and ``extra`` as an object."""
    try:
        body = _ENCODER.encode(ev).decode()
    except UnicodeEncodeError:  # a lone surrogate (a server's "\ud800"): escaped, as stdlib json does
        body = json.dumps(_nulls(msgspec.to_builtins(ev, enc_hook=_plain)), separators=(",", ":"))
    if ev.__class__ is Status:
        return body
    return '{"kind":"' + ev.topic + '",' + body[1:]


# ---------------------------------------------------------------- batches (the spine's unit of hand-over)
_SYMBOL = operator.attrgetter("symbol")


_CLASS_SETS: Dict[FrozenSet[type], FrozenSet[type]] = {}


class Batch(List[Event]):
    """One decoded burst on its way from a protocol object to the consumers: a
    list of events that also holds the set of their classes, worked out once,
    and the last event of each symbol, worked out on first use. The freshness
    stamps, the cache, every consumer's filter and the callback thread then
    judge the whole batch with one set or dict operation, where each used to
    make its own pass over the events. Nobody changes a Batch once made."""

    __slots__ = ("classes", "_latest")

    def __init__(self, events: Iterable[Event] = ()) -> None:
        super().__init__(events)
        classes = frozenset(map(type, self))
        # Batches wait in queues by the hundred thousand behind a slow consumer, mostly with one event each:
        # they share one set per combination of classes (there are few) rather than hold 200 bytes apiece.
        self.classes: FrozenSet[type] = _CLASS_SETS.setdefault(classes, classes) if len(_CLASS_SETS) < 64 else classes
        self._latest: Optional[Dict[str, Event]] = None

    def latest(self) -> Dict[str, Event]:
        """``{symbol: its last event in the batch}`` (a burst holds many events
        of few symbols); raises TypeError when a symbol is unhashable."""
        if self._latest is None:
            self._latest = dict(zip(map(_SYMBOL, self), self))  # in C: a comprehension is one more call
        return self._latest

    def forget_latest(self) -> None:
        """Drop the :meth:`latest` dict once the batch is published: only the socket thread's passes use it,
        and a batch queued behind a slow consumer should not carry it (about 230 bytes each)."""
        self._latest = None


def classes_of(events: List[Event]) -> AbstractSet[type]:
    """The classes of the events in ``events``: a :class:`Batch` knows them;
    any other list (a slice a queue cut, a filtered list) takes one pass."""
    return events.classes if isinstance(events, Batch) else set(map(type, events))
