"""RedisStreamSource: events published by a RedisStreamSink, read back as
the same event objects (see :mod:`mdsdk.sinks`).

It runs in the caller's thread and holds no thread of its own: every Redis
call happens inside ``next()``, ``frame()``, ``ack()`` or ``close()``.
"""

from __future__ import annotations

import collections
import logging
import os
import re
import socket
import threading
import time
import uuid
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Deque, Dict, FrozenSet, Iterable, Iterator, List, Optional, Sequence, Set, \
    Tuple, Union

from . import _validate as check
from ._redis_codec import DATA, KIND, EventCodec, MalformedEntry, StreamNames, event_class, id_bounds, id_order
from ._redis_conn import DEFAULT_URL, RedisTarget
from .errors import ConfigurationError, ProviderError
from .events import EVENT_KINDS, Event
from .intervals import MAX_NS, TimeLike, to_ns

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["RedisStreamSource"]

log = logging.getLogger("mdsdk.sinks")

_BLOCK = 1.0  # longest single XREAD BLOCK (s): new streams, claims and close() are noticed at least this often
_ACK_DELAY = 0.1  # seconds an acknowledgement may wait to share one XACK round trip with others
_PAGE = 1000  # entries per XRANGE page
_ID = re.compile(r"\d+(-\d+)?\Z")
_UNSET: Any = object()
_Ref = Tuple[bytes, bytes]  # stream, entry ID


def _kinds(value: Any) -> Optional[FrozenSet[str]]:
    if value is None:
        return None
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, (list, tuple, set, frozenset)) or not names:
        raise ConfigurationError(f"kinds must be a kind or a list of kinds such as ['quote', 'trade'], got {names!r}"
                                 [:200])
    for kind in names:
        if not isinstance(kind, str):
            raise ConfigurationError(f"kinds must be strings, got {type(kind).__name__}")
        try:
            event_class(kind)
        except MalformedEntry:
            raise ConfigurationError(f"unknown event kind {kind[:60]!r}: use {', '.join(EVENT_KINDS)} or a "
                                     "provider's own snake_case notice kind") from None
    return frozenset(names)


def _name(what: str, value: Any) -> Optional[str]:
    if value is None:
        return None
    text = check.text(what, value, limit=200)
    if ":" in text:
        raise ConfigurationError(f"{what} must not contain ':', got {text[:60]!r}")
    return text


def _after(value: Any) -> str:
    if not isinstance(value, str) or not (value == "$" or _ID.match(value)):
        raise ConfigurationError(f"after must be '$' (new entries only), '0' (everything kept) or an entry ID "
                                 f"such as '1700000000000-0', got {check.show(value)}")
    return value


class RedisStreamSource:
    """Read events that a :class:`~mdsdk.sinks.RedisStreamSink` published.

    ``prefix`` and ``layout`` must match the sink's; ``provider`` (the feed's
    provider name), ``kinds`` and ``symbols`` select streams (None: all
    found). Streams are found by SCAN on the prefix (and again every
    ``rescan`` seconds, for symbols that appear later), or named directly
    when ``provider``, ``kinds`` and ``symbols`` are all given.

    Iterating (``for ev in source``, or :meth:`events` with its own
    ``timeout``) reads live with ``XREAD BLOCK``: entries after ``after``
    (``"$"``: only new ones; ``"0"``: everything kept) and ends after
    ``timeout`` seconds without an entry (None: never). Order is kept within
    each stream; entries of several streams read in one round are sorted by
    entry ID, that is by arrival at Redis.

    With ``group`` (and a ``consumer`` name, default host-pid-random), reads
    go through a consumer group (``XREADGROUP``; the group is created at
    ``after`` where missing): consumers of one group share the entries, each
    handed to one of them. An event is acknowledged (``XACK``) when the next
    one is asked for, so one that was being processed when its consumer died
    stays pending; with ``autoack=False`` call :meth:`ack`. Entries pending
    longer than ``claim_idle`` seconds (their consumer died, or took longer
    than that) are claimed with ``XAUTOCLAIM`` and handed out again: delivery
    is at least once, and ``claim_idle`` must exceed the time a consumer
    takes for ``count`` events. All consumers of a group should use the same
    ``kinds`` and ``symbols``: an entry one of them skips is acknowledged.

    :meth:`frame` and :meth:`read` give the events of one kind and symbol in
    a time range. Errors: TransportError when Redis cannot be reached (at
    creation, or from ``next()``: call :meth:`events` again to go on where it
    stopped), AuthenticationError for refused credentials, ConfigurationError
    for a bad argument or URL. A source belongs to one thread; it starts
    none of its own."""

    def __init__(self, url: str = DEFAULT_URL, *, prefix: str = "mdsdk", provider: Optional[str] = None,
                 kinds: Optional[Union[str, Sequence[str]]] = None,
                 symbols: Optional[Union[str, Sequence[str]]] = None, layout: str = "per_symbol",
                 group: Optional[str] = None, consumer: Optional[str] = None, after: str = "$",
                 timeout: Optional[float] = None, count: int = 100, claim_idle: float = 30.0, autoack: bool = True,
                 rescan: float = 2.0, connect_timeout: float = 5.0) -> None:
        self._names = StreamNames(prefix, layout)
        self.provider = _name("provider", provider)
        self.kinds = _kinds(kinds)
        self.symbols = None if symbols is None else frozenset(check.symbols(symbols))
        self.group = _name("group", group)
        if consumer is not None and group is None:
            raise ConfigurationError("consumer needs group=...: a consumer name belongs to a consumer group")
        self.consumer = check.text("consumer", consumer, limit=200) if consumer is not None else \
            f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.after = _after(after)
        self.timeout = None if timeout is None else check.seconds("timeout", timeout)
        self.count = check.integer("count", count, low=1, high=100_000)
        self.claim_idle = check.seconds("claim_idle", claim_idle, positive=True)
        self.autoack = bool(autoack)
        self.rescan = check.seconds("rescan", rescan, positive=True)
        self._target = RedisTarget(url)
        self._client = self._target.client(check.seconds("connect_timeout", connect_timeout, positive=True), _BLOCK)
        try:
            self._target.call("connecting", self._client.ping)
        except BaseException:
            self._client.close()
            raise
        self._init_state()

    def _init_state(self) -> None:
        self._codec = EventCodec()
        self._cursor: Dict[bytes, bytes] = {}  # stream -> last ID read (XREAD) or b">" (a group joined)
        self._claim_from: Dict[bytes, bytes] = {}
        self._buffer: Deque[Tuple[bytes, bytes, Event]] = collections.deque()
        self._inhand: Optional[_Ref] = None
        self._unacked: List[_Ref] = []
        self._acks: Dict[bytes, List[bytes]] = {}
        self._acks_since = 0.0
        self._held: Set[_Ref] = set()  # entries this consumer holds: never claimed back from itself
        self._started = False
        self._next_scan = self._claim_at = 0.0
        self._wake = threading.Event()
        self._closed = False
        self.received = self.acked = self.claimed = self.malformed = self.skipped = 0

    # ------------------------------------------------------------ streams
    def _explicit(self) -> Optional[List[str]]:
        """The stream names, when the arguments name every one of them."""
        feed, names = self.provider, self._names
        if feed is None:
            return None
        if names.layout == "per_feed":
            return [names.key(feed, "", "")]
        if self.kinds is None or self.symbols is None:
            return None
        keys = [names.key(feed, k, s) for k in sorted(self.kinds) for s in sorted(self.symbols)]
        return keys + ([names.key(feed, "status", "")] if "status" in self.kinds else [])

    def _wants(self, parsed: Tuple[str, Optional[str], Optional[str]]) -> bool:
        _, kind, symbol = parsed
        if kind is None:
            return True
        return (self.kinds is None or kind in self.kinds) and (self.symbols is None or not symbol
                                                               or symbol in self.symbols)

    def _scan(self, feed: Optional[str]) -> Iterator[Tuple[bytes, Tuple[str, Optional[str], Optional[str]]]]:
        """Every stream of this layout under the prefix (of ``feed``), with what its name stands for."""
        keys = self._target.call("listing streams", lambda: list(
            self._client.scan_iter(match=self._names.pattern(feed), count=1000, _type="stream")))
        for raw in sorted(set(keys)):
            parsed = self._names.parse(raw.decode("utf-8", "replace"))
            if parsed is not None:
                yield raw, parsed

    def streams(self) -> List[str]:
        """The names of the streams this source reads now."""
        explicit = self._explicit()
        if explicit is not None:
            return explicit
        return [raw.decode("utf-8", "replace") for raw, parsed in self._scan(self.provider) if self._wants(parsed)]

    def _refresh(self) -> None:
        """Start reading streams that appeared since the last look."""
        now = time.monotonic()
        if now < self._next_scan:
            return
        explicit = self._explicit()
        self._next_scan = float("inf") if explicit is not None else now + self.rescan
        found = [k.encode("utf-8", "surrogatepass") for k in explicit] if explicit is not None else \
            [raw for raw, parsed in self._scan(self.provider) if self._wants(parsed)]
        new = [k for k in found if k not in self._cursor]
        # Streams found later were made after we started: everything in them is new.
        start = self.after if not self._started else "0"
        self._started = True
        if new and self.group is not None:
            self._join(new, start, explicit is not None)
        elif new:
            self._start_at(new, start)

    def _start_at(self, keys: List[bytes], start: str) -> None:
        if start != "$":
            self._cursor.update((k, start.encode()) for k in keys)
            return
        pipe = self._client.pipeline(transaction=False)
        for k in keys:  # "$" pinned to each stream's last ID now, so nothing is missed between two reads
            pipe.xrevrange(k, "+", "-", count=1)
        lasts = self._target.call("finding the end of the streams", pipe.execute)
        self._cursor.update((k, last[0][0] if last else b"0-0") for k, last in zip(keys, lasts))

    def _join(self, keys: List[bytes], start: str, make: bool) -> None:
        pipe = self._client.pipeline(transaction=False)
        for k in keys:
            pipe.xgroup_create(k, self.group, id=start, mkstream=make)
        results = self._target.call("creating the consumer group", pipe.execute, raise_on_error=False)
        for k, res in zip(keys, results):
            if not isinstance(res, Exception) or "BUSYGROUP" in str(res):
                self._cursor[k] = b">"
            elif "requires the key to exist" not in str(res):  # a stream deleted since SCAN found it: skipped
                raise self._target.translate(res, f"creating consumer group {self.group!r}")

    # ------------------------------------------------------------ reading
    def __iter__(self) -> Iterator[Event]:
        return self.events()

    def events(self, timeout: Optional[float] = _UNSET) -> Iterator[Event]:
        """Iterate live events; ends after ``timeout`` seconds without one
        (default: the source's ``timeout``; None: never) or at :meth:`close`."""
        wait = self.timeout if timeout is _UNSET else None if timeout is None else check.seconds("timeout", timeout)
        return self._iterate(wait)

    def _iterate(self, wait: Optional[float]) -> Iterator[Event]:
        idle_until = None if wait is None else time.monotonic() + wait
        while not self._closed:
            if not self._buffer:
                self._fill(idle_until)
            if self._buffer:
                stream, eid, ev = self._buffer.popleft()
                self._inhand = (stream, eid)
                self.received += 1
                yield ev
                self._handed()  # runs at the next next(): the consumer is done with ``ev``
                idle_until = None if wait is None else time.monotonic() + wait
            elif idle_until is not None and time.monotonic() >= idle_until:
                break
        if not self._closed:
            self._flush_acks(force=True)

    def _block_ms(self, idle_until: Optional[float]) -> int:
        most = _BLOCK if self.group is None else min(_BLOCK, self.claim_idle / 2)
        if idle_until is not None:
            most = min(most, idle_until - time.monotonic())
        return max(1, int(most * 1000))

    def _fill(self, idle_until: Optional[float]) -> None:
        self._refresh()
        block = self._block_ms(idle_until)
        if not self._cursor:  # nothing to read yet: look again soon for a stream to appear
            self._wake.wait(min(block / 1000, _BLOCK / 4))
            self._next_scan = min(self._next_scan, time.monotonic())
            return
        if self.group is None:
            reply = self._target.call("reading streams", self._client.xread, dict(self._cursor), count=self.count,
                                      block=block)
        else:
            self._flush_acks(force=True)
            self._claim()
            if self._buffer:
                return
            reply = self._read_group(block)
        self._take(reply or [])

    def _read_group(self, block: int) -> Any:
        try:
            return self._target.call("reading streams", self._client.xreadgroup, self.group, self.consumer,
                                     dict(self._cursor), count=self.count, block=block)
        except ProviderError as exc:
            if "NOGROUP" not in str(exc):
                raise
            self._cursor.clear()  # a stream was deleted and made again: join its new incarnation
            self._next_scan = 0.0
            return []

    def _take(self, reply: Iterable[Any]) -> None:
        got: List[Tuple[bytes, bytes, Any]] = []
        for stream, entries in reply:
            for eid, fields in entries:
                got.append((stream, eid, fields))
            if entries and self.group is None:
                self._cursor[stream] = entries[-1][0]
        if len(got) > 1:
            got.sort(key=lambda e: id_order(e[1]))
        for stream, eid, fields in got:
            self._accept(stream, eid, fields)

    def _accept(self, stream: bytes, eid: bytes, fields: Optional[Dict[bytes, bytes]]) -> None:
        """Decode one entry into the buffer; one that is not an mdsdk event, or
        not selected, is counted (and acknowledged in a group: never redelivered)."""
        ev = self._decode(stream, eid, fields)
        if ev is not None and self._names.layout == "per_feed" and not self._selected(ev):
            self.skipped += 1
            ev = None
        if ev is None:
            if self.group is not None:
                self._queue_ack(stream, eid)
            return
        self._buffer.append((stream, eid, ev))
        if self.group is not None:
            self._held.add((stream, eid))

    def _decode(self, stream: bytes, eid: bytes, fields: Optional[Dict[bytes, bytes]]) -> Optional[Event]:
        try:
            if not fields:
                raise MalformedEntry("an entry without fields (deleted while pending)")
            return self._codec.decode(fields[KIND], fields[DATA])
        except (MalformedEntry, KeyError) as exc:
            self.malformed += 1
            level = logging.WARNING if self.malformed == 1 else logging.DEBUG
            log.log(level, "entry %s of stream %r is not an mdsdk event (%s); skipped (logged once, counted in "
                    "stats()['malformed'])", eid.decode(errors="replace"), stream[:200].decode(errors="replace"),
                    exc if isinstance(exc, MalformedEntry) else f"no {exc} field")
            return None

    def _selected(self, ev: Event) -> bool:
        return (self.kinds is None or ev.topic in self.kinds) and (
            self.symbols is None or not ev.symbol or ev.symbol in self.symbols)

    # ------------------------------------------------------------ groups
    def _claim(self) -> None:
        """Take over entries of this group pending longer than ``claim_idle``."""
        now = time.monotonic()
        if now < self._claim_at:
            return
        self._claim_at = now + self.claim_idle / 2
        keys = list(self._cursor)
        pipe = self._client.pipeline(transaction=False)
        for k in keys:
            pipe.xautoclaim(k, self.group, self.consumer, min_idle_time=int(self.claim_idle * 1000),
                            start_id=self._claim_from.get(k, b"0-0"), count=self.count)
        results = self._target.call("claiming pending entries", pipe.execute, raise_on_error=False)
        for k, res in zip(keys, results):
            if isinstance(res, Exception):
                if "NOGROUP" in str(res):
                    continue  # the stream went away; the next read finds out and rejoins
                raise self._target.translate(res, "claiming pending entries")
            self._claim_from[k] = res[0]
            for eid, fields in res[1]:
                if eid is not None and (k, eid) not in self._held:
                    self.claimed += 1
                    self._accept(k, eid, fields)

    def _handed(self) -> None:
        if self._inhand is None or self.group is None:
            self._inhand = None
            return
        if self.autoack:
            self._queue_ack(*self._inhand)
            self._flush_acks()
        else:
            self._unacked.append(self._inhand)
        self._inhand = None

    def _queue_ack(self, stream: bytes, eid: bytes) -> None:
        if not self._acks:
            self._acks_since = time.monotonic()
        self._acks.setdefault(stream, []).append(eid)

    def _flush_acks(self, force: bool = False) -> int:
        if not self._acks or (not force and time.monotonic() - self._acks_since < _ACK_DELAY):
            return 0
        acks, self._acks = self._acks, {}
        pipe = self._client.pipeline(transaction=False)
        for stream, ids in acks.items():
            pipe.xack(stream, self.group, *ids)
        self._target.call("acknowledging entries", pipe.execute)
        n = sum(len(ids) for ids in acks.values())
        self.acked += n
        self._held.difference_update((s, i) for s, ids in acks.items() for i in ids)
        return n

    def ack(self) -> int:
        """Acknowledge every event handed out so far, the one in hand
        included, now (with ``autoack=False``, the only way they are); returns
        how many were acknowledged. Nothing to do outside a consumer group."""
        if self.group is None or self._closed:
            return 0
        for ref in self._unacked + ([self._inhand] if self._inhand else []):
            self._queue_ack(*ref)
        self._unacked, self._inhand = [], None
        return self._flush_acks(force=True)

    # ------------------------------------------------------------ ranges
    def read(self, kind: str, symbol: str, start: TimeLike = None, end: TimeLike = None, *,
             by: str = "event") -> List[Event]:
        """The ``kind`` events of ``symbol`` ("" for news without a symbol) in
        ``[start, end)``, sorted by event time. ``by="event"`` (default)
        compares each event's own ``time`` and reads the whole stream (at most
        its MAXLEN); ``by="arrival"`` selects by when the entry reached Redis
        (its ID) and reads only that range. Times take what ``feed.history``
        takes; None means no bound."""
        if not isinstance(kind, str):
            raise ConfigurationError(f"kind must be one event kind (a string), got {type(kind).__name__}")
        _kinds(kind)
        cls = event_class(kind)
        if not isinstance(symbol, str):
            raise ConfigurationError(f"symbol must be a string, got {type(symbol).__name__}")
        if by not in ("event", "arrival"):
            raise ConfigurationError(f"by must be 'event' or 'arrival', got {check.show(by)}")
        lo, hi = to_ns(start, name="start") or 0, to_ns(end, name="end")
        hi = MAX_NS if hi is None else hi
        if lo > hi:
            raise ConfigurationError("start is after end; pass an earlier start or a later end")
        bounds = ("-", "+") if by == "event" else id_bounds(lo, hi)
        out: List[Event] = []
        for key in (self._range_keys(cls.topic, symbol) if bounds else ()):
            for ev in self._entries(key, *bounds):  # type: ignore[misc]
                if ev.topic == cls.topic and ev.symbol == symbol and (by == "arrival" or lo <= ev.time < hi):
                    out.append(ev)
        out.sort(key=attrgetter("time"))
        return out

    def _range_keys(self, kind: str, symbol: str) -> List[bytes]:
        names, feed = self._names, self.provider
        if feed is not None:
            return [names.key(feed, kind, symbol).encode("utf-8", "surrogatepass")]
        return [raw for raw, (_, k, s) in self._scan(None) if k is None or (k == kind and s == symbol)]

    def _entries(self, key: bytes, lo: str, hi: str) -> Iterator[Event]:
        while True:
            page = self._target.call("reading a range", self._client.xrange, key, lo, hi, count=_PAGE)
            for eid, fields in page:
                ev = self._decode(key, eid, fields)
                if ev is not None:
                    yield ev
            if len(page) < _PAGE:
                return
            lo = "(" + page[-1][0].decode()

    def frame(self, kind: str, symbol: str, start: TimeLike = None, end: TimeLike = None, *, by: str = "event",
              interval: Optional[str] = None) -> "pd.DataFrame":
        """The events of :meth:`read` as a DataFrame with a UTC index ``time``
        (event time): bars as ``feed.history`` gives them (the last update of
        each bar wins; pass ``interval`` when the stream holds several), quotes
        and trades as ``feed.ticks`` does, other kinds with one column per
        field then the extras (rows sharing a time keep the last)."""
        from . import frames  # pandas loads on the first DataFrame
        events = self.read(kind, symbol, start, end, by=by)
        if kind == "bar":
            events = [b for b in events if interval is None or getattr(b, "interval", None) == interval]
            found = sorted({getattr(b, "interval", "") for b in events})
            if len(found) > 1:
                raise ConfigurationError(f"the bars of {symbol!r} come in several intervals ({', '.join(found)}); "
                                         "pass interval=... to pick one")
            df = frames.bars_to_frame(events)  # type: ignore[arg-type]
        elif kind in ("quote", "trade"):
            df = frames.ticks_to_frame(events, kind)
        else:
            df = _fields_frame(frames, event_class(kind), events)
        df.attrs.update(symbol=symbol, kind=kind, source=self._target.safe, by=by)
        return df

    # ------------------------------------------------------------ lifecycle
    def stats(self) -> Dict[str, Any]:
        """``streams`` read, events ``received`` (handed out), ``acked``,
        ``claimed`` from other consumers, ``malformed`` and ``skipped`` entries, ``buffered``."""
        return {"streams": len(self._cursor), "received": self.received, "acked": self.acked,
                "claimed": self.claimed, "malformed": self.malformed, "skipped": self.skipped,
                "buffered": len(self._buffer), "group": self.group, "consumer": self.consumer}

    def close(self) -> None:
        """Send the acknowledgements due and close the connection. Events
        fetched but not handed out stay pending in the group, for another
        consumer to claim. Idempotent; iteration ends."""
        if self._closed:
            return
        try:
            if self.group is not None:
                self._flush_acks(force=True)
        finally:
            self._closed = True
            self._wake.set()
            self._client.close()

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

    def __enter__(self) -> "RedisStreamSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        group = f" group={self.group!r} consumer={self.consumer!r}" if self.group else ""
        return (f"<RedisStreamSource {self._target.safe} {self._names.layout} prefix={self._names.prefix!r}{group}"
                f"{' closed' if self._closed else ''}, {len(self._cursor)} streams>")


def _fields_frame(frames: Any, cls: type, events: Sequence[Event]) -> "pd.DataFrame":
    """Events of any kind as the contract frame: one column per own field, then the extras."""
    own = [f for f in cls.__struct_fields__ if f not in ("symbol", "time", "provider", "extra")]  # type: ignore
    cols: Dict[str, List[Any]] = {name: [getattr(e, name) for e in events] for name in own}
    for key in dict.fromkeys(k for e in events for k in e.extra):
        if key not in cols:
            cols[key] = [e.extra.get(key) for e in events]
    df = frames.from_columns([e.time for e in events], cols)
    return df.drop(columns=[c for c in frames.OHLCV if c not in cols])
