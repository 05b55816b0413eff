"""Fan-out of a feed's events to Redis Streams, and reading them back.

:class:`RedisStreamSink` publishes every event of a feed to Redis Streams
from a thread of its own; :class:`RedisStreamSource` reads them back, live
(``XREAD``, or a consumer group with ``XREADGROUP``) or as a DataFrame of a
time range. Redis Streams are what a market-data desk already fans out on:
any number of processes, in any language, read one publisher's stream, and a
consumer group shares the work among workers with acknowledgements and
recovery of what a dead worker held.

Requires the ``redis`` extra (``pip install 'mdsdk[redis]'``); ``import
mdsdk`` does not load it, and ``mdsdk.sinks`` is imported explicitly::

    from mdsdk.sinks import RedisStreamSink
    with mdsdk.connect("sim") as feed, RedisStreamSink(feed, "redis://127.0.0.1:6379/0"):
        feed.subscribe(["SPY", "AAPL"])
        ...

Stream names and the entry encoding are described in ``mdsdk._redis_codec``:
``<prefix>:<feed>:<kind>:<symbol>`` (``layout="per_symbol"``) or
``<prefix>:<feed>`` (``layout="per_feed"``); each entry holds ``kind`` and
``data``, the event's fields as one MessagePack array.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from itertools import islice
from typing import Any, Deque, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from . import _validate as check
from ._redis_codec import DATA, KIND, LAYOUTS, EventCodec, StreamNames
from ._redis_conn import DEFAULT_URL, RedisTarget, redis_errors
from ._redis_source import RedisStreamSource
from .errors import MdsdkError
from .events import EVENT_KINDS, Event, Status
from .feed import Feed
from .policy import MAX_QUEUE, QueuePolicy, ReconnectPolicy

__all__ = ["RedisStreamSink", "RedisStreamSource", "LAYOUTS", "DEFAULT_URL", "SINK_PROVIDER"]

log = logging.getLogger("mdsdk.sinks")

SINK_PROVIDER = "redis"  # the ``provider`` of the Status events a sink reports about Redis
_LINGER = 0.02  # seconds an event may wait for more to share its pipeline
_REPORT_EVERY = 1.0  # seconds between two Status(overflow) reports of a sink
_Entry = Tuple[bytes, bytes, bytes]  # stream, kind, body


class RedisStreamSink:
    """Publish every event of ``feed`` to Redis Streams, from a thread of its own.

    Events are read from a ``feed.events()`` stream of their own (the feed
    never waits for Redis), encoded compactly (see module doc), and added with
    ``XADD ... MAXLEN ~ maxlen`` in pipelines of up to ``batch`` entries.
    ``layout`` picks one stream per kind and symbol or one per feed;
    ``kinds`` and ``symbols`` limit what is published (None: everything).
    When Redis goes away the sink keeps reading the feed, holds up to
    ``buffer`` events, drops the oldest past that (counted), reconnects with
    ``reconnect`` backoff, and reports each change as a ``Status`` (provider
    ``"redis"``) through ``feed.report``: ``disconnected``, ``overflow``
    (events dropped), ``connected``. Delivery is at least once: a pipeline
    cut off by an outage is sent again. A URL that cannot be reached now
    raises TransportError (AuthenticationError for refused credentials), a
    malformed one ConfigurationError. ``timeout`` bounds connecting, each
    Redis reply, and the flush at ``close()`` (or the end of the ``with``
    block), which publishes what is held and joins the thread. The sink also
    ends by itself, after the same flush, when the feed closes."""

    def __init__(self, feed: Feed, url: str = DEFAULT_URL, *, layout: str = "per_symbol", prefix: str = "mdsdk",
                 maxlen: Optional[int] = 100_000, kinds: Optional[Union[str, Sequence[str]]] = None,
                 symbols: Optional[Union[str, Sequence[str]]] = None, batch: int = 500, buffer: int = 100_000,
                 reconnect: Optional[ReconnectPolicy] = None, timeout: float = 5.0) -> None:
        check.instance("feed", feed, Feed, "a mdsdk Feed (from mdsdk.connect)")
        self._names = StreamNames(prefix, layout)
        self.maxlen = None if maxlen is None else check.integer("maxlen", maxlen, low=1)
        self.batch = check.integer("batch", batch, low=1, high=100_000)
        self.buffer = check.integer("buffer", buffer, low=1, high=MAX_QUEUE)
        if reconnect is not None:
            check.instance("reconnect", reconnect, ReconnectPolicy, "a mdsdk.ReconnectPolicy")
        self.reconnect = reconnect or ReconnectPolicy(initial=0.25, cap=5.0)
        self.timeout = check.seconds("timeout", timeout, positive=True)
        wanted = None if kinds is None else check.kinds(kinds, EVENT_KINDS + feed.capabilities.notices + ("*",))
        self._wanted = None if wanted is None or "*" in wanted else frozenset(wanted)
        self._target = RedisTarget(url)
        self._feed = feed
        self._client = self._target.client(self.timeout)
        try:
            self._target.call("connecting", self._client.ping)
            # Status always comes in, whatever ``kinds`` says: the feed's last one tells the sink it ended.
            self._stream = feed.events(None if self._wanted is None else sorted(self._wanted | {"status"}), symbols,
                                       timeout=_LINGER, policy=QueuePolicy(maxsize=max(self.buffer, 10_000)))
        except BaseException:
            self._client.close()
            raise
        self._init_state()
        self._thread = threading.Thread(target=self._run, name="mdsdk-redis-sink", daemon=True)
        self._thread.start()

    def _init_state(self) -> None:
        self._codec = EventCodec()
        self._errors = redis_errors()
        self._keys: Dict[Tuple[str, str], Tuple[bytes, bytes]] = {}
        self._pending: Deque[_Entry] = collections.deque()
        self._it: Iterator[Event] = iter(self._stream)
        self._closing = threading.Event()
        self._deadline = float("inf")
        self._closed = self._fatal = self._gave_up = False
        self._up = True
        self.received = self.published = self.reconnects = self._taken = 0
        self._dropped = self._reported_drops = self._drops_at_loss = self._attempt = 0
        self._retry_at = self._report_at = 0.0
        self.last_error: Optional[str] = None

    # ------------------------------------------------------------ the thread
    def _run(self) -> None:
        try:
            while self._step():
                pass
        except Exception:  # noqa: BLE001 - a bug here must be seen, and must not stop the feed
            log.exception("the Redis sink for %s stopped on an internal error; events are no longer published",
                          self._target.safe)
            self._up = False
            self._stream.close()

    def _step(self) -> bool:
        """One round: read what the feed has, publish it or wait for Redis;
        False once the feed's stream has ended and what was held is flushed."""
        ended = self._take()
        if self._up:
            self._flush()
        elif not self._gave_up and time.monotonic() >= self._retry_at:
            self._try_reconnect()
        self._report_drops()
        if ended:
            self._finish()
        return not ended

    def _take(self) -> bool:
        """Encode events from the feed into the pending buffer until a batch
        is full or ``_LINGER`` passes; True when the feed's stream has ended."""
        start = time.monotonic()
        deadline = start + _LINGER
        n = 0
        for ev in self._it:
            self._add(ev)
            n += 1
            if n >= self.batch or time.monotonic() >= deadline:
                return False
        self._it = iter(self._stream)  # idle for _LINGER, or closed: the next round starts a fresh iterator
        quick = n == 0 and time.monotonic() - start < _LINGER / 2  # only a closed queue returns at once
        if not (self._closing.is_set() or self._fatal or self._feed.closed or quick):
            return False
        for ev in self._it:  # closed: what it still holds, then its end
            self._add(ev)
        return True

    def _add(self, ev: Event) -> None:
        self._taken += 1
        if ev.__class__ is Status:
            if ev.extra.get("fatal"):
                self._fatal = True
            if self._wanted is not None and "status" not in self._wanted:
                return
        self.received += 1
        key = self._keys.get((ev.topic, ev.symbol))
        if key is None:
            key = self._key(ev)
        self._pending.append((key[0], key[1], self._codec.encode(ev)))
        if len(self._pending) > self.buffer:
            self._pending.popleft()
            self._dropped += 1

    def _key(self, ev: Event) -> Tuple[bytes, bytes]:
        if len(self._keys) > 100_000:  # one per kind and symbol streamed; a runaway universe must not grow it forever
            self._keys.clear()
        name = self._names.key(self._feed.provider, ev.topic, ev.symbol)
        key = self._keys[(ev.topic, ev.symbol)] = (name.encode("utf-8", "surrogatepass"), ev.topic.encode())
        return key

    def _flush(self) -> None:
        while self._pending and self._up and time.monotonic() < self._deadline:
            self._send(min(len(self._pending), self.batch))

    def _send(self, n: int) -> None:
        """XADD the first ``n`` pending entries in one pipeline; they leave the
        buffer only once Redis answered (so an outage sends them again)."""
        pipe = self._client.pipeline(transaction=False)
        for stream, kind, body in islice(self._pending, n):
            pipe.xadd(stream, {KIND: kind, DATA: body}, maxlen=self.maxlen, approximate=True)
        try:
            results = pipe.execute(raise_on_error=False)
        except self._errors as exc:
            self._lost(exc)
            return
        for _ in range(n):
            self._pending.popleft()
        failed = [r for r in results if isinstance(r, Exception)]
        self.published += n - len(failed)
        if failed:  # refused by Redis itself (out of memory, a key that is not a stream): counted and logged
            self._dropped += len(failed)
            self.last_error = self._target.redact(str(failed[0]))
            log.warning("Redis at %s refused %d of %d entries (%s); they are dropped", self._target.safe,
                        len(failed), n, self.last_error)

    # ------------------------------------------------------------ outage and recovery
    def _lost(self, exc: BaseException) -> None:
        self._up = False
        self._attempt = 0
        self._retry_at = time.monotonic() + self.reconnect.delay(1)
        self._drops_at_loss = self.dropped
        self.last_error = self._target.redact(str(exc) or type(exc).__name__)
        log.warning("Redis at %s is unreachable (%s); holding up to %d events and reconnecting",
                    self._target.safe, self.last_error, self.buffer)
        self._report("disconnected", f"Redis at {self._target.safe} is unreachable ({self.last_error}); the sink "
                     f"holds up to {self.buffer} events, drops the oldest past that, and reconnects")

    def _try_reconnect(self) -> None:
        self._attempt += 1
        try:
            self._client.ping()
        except self._errors as exc:
            self.last_error = self._target.redact(str(exc) or type(exc).__name__)
            if self.reconnect.gives_up(self._attempt + 1):
                self._gave_up = True
                log.error("Redis at %s: giving up after %d attempts", self._target.safe, self._attempt)
                self._report("error", f"the Redis sink gave up reconnecting to {self._target.safe} after "
                             f"{self._attempt} attempts ({self.last_error}); events are dropped from now on")
            self._retry_at = time.monotonic() + self.reconnect.delay(self._attempt + 1)
            return
        self._up = True
        self.reconnects += 1
        lost = self.dropped - self._drops_at_loss
        log.warning("Redis at %s is reachable again; %d events were dropped while it was not",
                    self._target.safe, lost)
        self._report("connected", f"Redis at {self._target.safe} is reachable again; publishing resumed "
                     f"({lost} events dropped while it was not)", dropped_in_outage=lost)

    def _report_drops(self) -> None:
        dropped = self.dropped
        if dropped == self._reported_drops or time.monotonic() < self._report_at:
            return
        self._report_at = time.monotonic() + _REPORT_EVERY
        why = "Redis is unreachable and the buffer is full" if not self._up else "the sink fell behind the feed"
        self._report("overflow", f"the Redis sink for {self._target.safe} dropped {dropped - self._reported_drops} "
                     f"events ({dropped} so far): {why} (buffer {self.buffer} events)")
        self._reported_drops = dropped

    def _report(self, kind: str, detail: str, **extra: object) -> None:
        status = Status("", time.time_ns(), SINK_PROVIDER, kind=kind, detail=detail,
                        extra={"url": self._target.safe, "dropped": self.dropped, "buffered": len(self._pending),
                               **extra})
        try:
            self._feed.report(status)
        except MdsdkError:  # the feed is closed or failed: there is no listener left to tell
            pass

    def _finish(self) -> None:
        """The feed's stream ended (close, or the feed stopped): publish what
        is held before the deadline, one reconnect attempt if Redis is down;
        what cannot be published is counted as dropped."""
        if self._deadline == float("inf"):
            self._deadline = time.monotonic() + self.timeout
        self._stream.close()  # the feed stopped on its own: detach, and take what the queue still holds
        for ev in iter(self._stream):
            self._add(ev)
        if not self._up and self._pending and not self._gave_up:
            self._try_reconnect()
        self._flush()
        if self._pending:
            self._dropped += len(self._pending)
            log.warning("the Redis sink for %s closed with %d events it could not publish (%s)",
                        self._target.safe, len(self._pending), self.last_error or "out of time")
            self._pending.clear()

    # ------------------------------------------------------------ public
    @property
    def dropped(self) -> int:
        """Events lost so far: dropped from the full buffer, refused by Redis,
        unpublished at close, or shed by the feed's queue of this sink."""
        return self._dropped + int(self._stream.stats()["dropped"])

    def stats(self) -> Dict[str, Any]:
        """``published``, ``dropped`` (every event lost, see :attr:`dropped`),
        ``buffered`` (held, not yet in Redis), ``reconnects``, ``connected``,
        plus ``received`` (events the sink took from the feed: each ends up
        published, dropped or buffered), ``shed`` (the part of ``dropped``
        the feed's queue of this sink shed before the sink took it),
        ``streams`` (names written so far) and ``last_error``."""
        q = self._stream.stats()
        in_flight = max(0, int(q["depth"]) + int(q["delivered"]) - self._taken)
        return {"published": self.published, "dropped": self._dropped + int(q["dropped"]), "shed": q["dropped"],
                "buffered": len(self._pending) + in_flight, "reconnects": self.reconnects,
                "connected": self._up and not self._closed, "received": self.received,
                "streams": len(self._keys), "layout": self._names.layout, "last_error": self.last_error}

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

    def close(self, timeout: Optional[float] = None) -> None:
        """Stop reading the feed, publish what is held within ``timeout``
        seconds (default: the sink's ``timeout``), join the thread and close
        the connection. What could not be published is counted as dropped. Idempotent."""
        if self._closed:
            return
        wait = self.timeout if timeout is None else check.seconds("timeout", timeout)
        self._closed = True
        self._deadline = time.monotonic() + wait
        self._stream.close()  # first: once the thread sees _closing, the stream holds all it will ever get
        self._closing.set()
        self._thread.join(wait + 1.0)
        if self._thread.is_alive():  # stuck in a reply from a hung server: cutting the socket frees it
            self._client.connection_pool.disconnect()
            self._thread.join(2.0)
        self._client.close()

    def __enter__(self) -> "RedisStreamSink":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "connected" if self._up else "reconnecting"
        return (f"<RedisStreamSink {self._target.safe} {self._names.layout} prefix={self._names.prefix!r} {state}, "
                f"{self.published} published, {self.dropped} dropped>")

    def streams(self) -> List[str]:
        """The stream names this sink has written to so far."""
        return sorted(k[0].decode("utf-8", "replace") for k in list(self._keys.values()))
