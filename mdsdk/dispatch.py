"""Fan-out of decoded batches to bounded queues, callbacks and iterators.

One point feeds every consumer (model: databento Live): the socket thread
calls :meth:`Dispatcher.publish` with the list of events decoded from one
frame; each consumer's :class:`BatchQueue` takes the list in one operation.
Queues are bounded; on overflow their :class:`~mdsdk.policy.QueuePolicy`
conflates, drops the oldest, or blocks, and every discarded event is
counted and reported as ``Status(overflow)``. Callbacks run on one
dispatcher thread; a raising callback is logged and handed to its
``on_error``, and the others go on.
"""

from __future__ import annotations

import logging
import threading
import time
from itertools import chain
from typing import (Any, Callable, Dict, FrozenSet, Iterable, Iterator, List, Optional, Set,
                    Tuple)

from . import _html
from .errors import ClosedError, ConfigurationError
from .events import EVENT_KINDS, Batch, Event, Status, classes_of
from .policy import QueuePolicy
from .queues import BatchQueue

__all__ = ["Batch", "BatchQueue", "Dispatcher", "Handle", "EventStream", "Stats", "classes_of"]

log = logging.getLogger("mdsdk.dispatch")
_ERROR_SUMMARY_EVERY = 10.0  # seconds between summary lines of one callback's repeated errors


class Stats(Dict[str, Any]):
    """Figures of a feed or a stream: a plain ``dict`` (index it, compare
    it, ``json.dumps`` it as before) that a notebook shows as tables, the
    flat figures first, then one row per queue and per symbol."""

    def _repr_html_(self) -> str:
        """The figures as HTML tables (see :func:`mdsdk._html.stats_html`)."""
        return _html.stats_html(self)


def _check_kinds(kinds: Optional[Iterable[str]], known: Tuple[str, ...]) -> Optional[FrozenSet[str]]:
    if kinds is None:
        return None
    if isinstance(kinds, str):
        kinds = (kinds,)
    ks = frozenset(kinds)
    bad = ks - set(known) - {"*"}
    if bad:
        raise ConfigurationError(f"unknown event kind(s) {sorted(bad)}; use {', '.join(known)}")
    return None if "*" in ks else ks


class _Consumer:
    """A queue plus the filter deciding which events it takes."""

    def __init__(self, queue: BatchQueue, kinds: Optional[FrozenSet[str]],
                 symbols: Optional[FrozenSet[str]]) -> None:
        self.queue = queue
        self.symbols = symbols
        self.kinds = kinds

    @property
    def kinds(self) -> Optional[FrozenSet[str]]:
        """The topics taken (None: all)."""
        return self._filter[0]

    @kinds.setter
    def kinds(self, kinds: Optional[FrozenSet[str]]) -> None:
        # One attribute, swapped whole: the socket thread may be reading it. The set
        # learns the event classes this consumer takes, so a batch of them is taken
        # with one check in C instead of a test per event.
        self._filter: Tuple[Optional[FrozenSet[str]], Set[type]] = (kinds, set())

    def offer(self, events: List[Event]) -> None:
        (kinds, taken), symbols = self._filter, self.symbols
        if symbols is None and (kinds is None or taken.issuperset(
                events.classes if events.__class__ is Batch else classes_of(events))):
            self.queue.put(events)
            return
        picked = [e for e in events if (kinds is None or e.topic in kinds)
                  and (symbols is None or e.symbol in symbols or e.topic == "status")]
        if symbols is None:
            taken.update(map(type, picked))
        if picked:
            self.queue.put(picked)


class Handle:
    """A registered callback; ``remove()`` unregisters it (idempotent)."""

    def __init__(self, dispatcher: "Dispatcher", kind: str, fn: Callable[[Event], None],
                 symbols: Optional[FrozenSet[str]],
                 on_error: Optional[Callable[[BaseException, Event], None]]) -> None:
        self._dispatcher = dispatcher
        self.kind, self.fn, self.symbols, self.on_error = kind, fn, symbols, on_error
        self.errors = 0
        self._unlogged = 0  # errors since the last log line
        self.on_error_failed = False
        self._logged_at = 0.0

    def failed(self, exc: Exception, ev: Event, now: float) -> None:
        """Count one error of this callback: the first is logged with its
        traceback, later ones as one summary line per 10 s at most (a callback
        that raises on every event must not flood the log)."""
        self.errors += 1
        name = getattr(self.fn, "__qualname__", repr(self.fn))
        if self.errors == 1:
            self._logged_at = now
            log.error("callback %s raised %s on a %s event for %r (logged once; later errors are counted "
                      "and summarised)", name, type(exc).__name__, ev.topic, ev.symbol, exc_info=exc)
            return
        self._unlogged += 1
        if now - self._logged_at >= _ERROR_SUMMARY_EVERY:
            log.error("callback %s raised %d more times in the last %.0f s (%d in all; last: %s: %s)", name,
                      self._unlogged, now - self._logged_at, self.errors, type(exc).__name__, exc)
            self._logged_at, self._unlogged = now, 0

    def remove(self) -> None:
        """Stop calling this callback."""
        self._dispatcher._remove(self)

    def __repr__(self) -> str:
        return f"Handle(kind={self.kind!r}, fn={getattr(self.fn, '__qualname__', self.fn)!r})"


class EventStream:
    """An iterator over events with its own bounded queue. Ends when no event
    arrives for ``timeout`` seconds, or when it or the feed is closed."""

    def __init__(self, dispatcher: "Dispatcher", consumer: _Consumer, timeout: Optional[float]) -> None:
        self._dispatcher = dispatcher
        self._consumer = consumer
        self.timeout = timeout
        self._chain: Optional[Iterator[Event]] = None  # the iteration in progress

    def __enter__(self) -> "EventStream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Event]:
        # Events come out of chain.from_iterable, in C: Python code runs once per batch, not once per event
        # (a generator resumed per event cost a third of the iterator's time at 100 events per frame). The
        # chain stays on the stream while it runs: a loop that breaks and a new loop over the same stream
        # resume where the first one stopped, losing nothing.
        if self._chain is None:
            self._chain = chain.from_iterable(self._batches())
        return self._chain

    def _batches(self) -> Iterator[List[Event]]:
        queue = self._consumer.queue
        try:
            while True:
                batches = queue.get(self.timeout)
                if batches is None:
                    return
                yield from batches
        finally:
            self._chain = None  # ended (timeout, close): the next loop waits afresh

    def close(self) -> None:
        """Stop receiving; iteration ends after what is already queued."""
        self._dispatcher._detach(self._consumer)
        self._consumer.queue.close()

    def stats(self) -> Stats:
        """This stream's queue figures."""
        return Stats(self._consumer.queue.stats())


_Plan = Dict[type, Tuple[Tuple[Handle, Callable[[Event], None], Optional[FrozenSet[str]]], ...]]


class Dispatcher:
    """Takes batches from the socket thread and feeds the cache, the callback
    thread and every open stream."""

    def __init__(self, provider: str, callback_policy: QueuePolicy,
                 on_batch: Optional[Callable[[List[Event]], None]] = None,
                 on_stop: Optional[Callable[[], None]] = None, kinds: Tuple[str, ...] = EVENT_KINDS) -> None:
        self.provider = provider
        self.kinds = kinds  # the common kinds plus the provider's own notices
        self._on_batch = on_batch
        self._on_stop = on_stop  # told once the feed stopped for good (the final Status passed)
        self._lock = threading.Lock()
        self._consumers: Tuple[_Consumer, ...] = ()
        self._handlers: Dict[str, Tuple[Handle, ...]] = {}
        self._plan: _Plan = {}
        self._callback = _Consumer(BatchQueue(callback_policy, "callbacks"), frozenset(), None)
        self._thread: Optional[threading.Thread] = None
        self._streams = 0
        self._closed = False
        self.callback_errors = 0

    # -- producer side (socket thread)
    def publish(self, events: List[Event]) -> None:
        """Hand one decoded batch to every consumer (the consumers get it even
        if updating the cache fails; that failure then reaches the caller)."""
        if events.__class__ is not Batch:  # the protocol core makes one; a bare list (a Status, news) is wrapped
            events = Batch(events)
        try:
            if self._on_batch is not None:
                self._on_batch(events)
        finally:
            for consumer in self._consumers:
                consumer.offer(events)
                q = consumer.queue
                if q.dropped or q.conflated:
                    news = q.overflow_news()
                    if news is not None:
                        self._report_overflow(q, *news)
            if events and events[-1].__class__ is Status and events[-1].extra.get("fatal"):
                self._end_streams()
            events.forget_latest()

    def _end_streams(self) -> None:
        """The feed stopped: iterators end after what they hold (callbacks keep
        running until close(), so they still see the final Status), and
        ``on_stop`` wakes whoever else waits."""
        for consumer in self._consumers:
            if consumer is not self._callback:
                consumer.queue.close()
        if self._on_stop is not None:
            self._on_stop()

    def _report_overflow(self, q: BatchQueue, dropped: int, conflated: int) -> None:
        behind = f"; it fell {q.behind:.1f} s behind (max_lag {q.policy.max_lag:g} s)" if q.behind else ""
        why = "fell behind" if q.behind and len(q) < q.policy.maxsize else "is full"
        detail = (f"queue {q.name!r} ({q.policy.mode}, max {q.policy.maxsize}) {why}: "
                  f"{dropped} events dropped and {conflated} conflated so far; "
                  f"the consumer is slower than the stream{behind}")
        # Warn once per queue; later reports (every second) go to Status events and DEBUG.
        log.log(logging.WARNING if not q.warned else logging.DEBUG, detail)
        q.warned = True
        status = Status("", time.time_ns(), self.provider, kind="overflow", detail=detail,
                        extra={"queue": q.name, "dropped": dropped, "conflated": conflated, "behind": q.behind})
        cb = self._callback
        if cb.kinds is None or "status" in cb.kinds:
            cb.queue.put_front([status])

    # -- callbacks
    def add_handler(self, kind: str, fn: Callable[[Event], None], symbols: Optional[Iterable[str]] = None,
                    on_error: Optional[Callable[[BaseException, Event], None]] = None) -> Handle:
        """Register ``fn`` for events of ``kind`` ("*" = all), optionally only ``symbols``."""
        if self._closed:
            raise ClosedError("the feed is closed; connect again to register callbacks")
        if not callable(fn):
            raise ConfigurationError(f"callback must be callable, got {type(fn).__name__}")
        _check_kinds((kind,), self.kinds)
        syms = None if symbols is None else frozenset([symbols] if isinstance(symbols, str) else symbols)
        handle = Handle(self, kind, fn, syms, on_error)
        with self._lock:
            self._handlers[kind] = self._handlers.get(kind, ()) + (handle,)
            self._refresh_callback_filter()
            if self._thread is None:
                self._thread = threading.Thread(target=self._callback_loop, name="mdsdk-callbacks",
                                                daemon=True)
                self._thread.start()
                self._consumers = self._consumers + (self._callback,)
        return handle

    def _remove(self, handle: Handle) -> None:
        with self._lock:
            current = self._handlers.get(handle.kind, ())
            self._handlers[handle.kind] = tuple(h for h in current if h is not handle)
            self._refresh_callback_filter()

    def _refresh_callback_filter(self) -> None:
        self._plan = {}  # the callback thread rebuilds its per-class plan from the new handlers
        kinds = {k for k, hs in self._handlers.items() if hs}
        self._callback.kinds = None if "*" in kinds else frozenset(kinds)

    def _callback_loop(self) -> None:
        queue = self._callback.queue
        while True:
            batches = queue.get(0.5)
            if batches is None:
                if queue.closed:
                    return
                continue
            for batch in batches:
                if queue.closed:
                    return  # close() must not wait for a slow callback to drain a backlog
                self._each(batch)

    def _each(self, batch: List[Event]) -> None:
        plan = self._plan
        calls = plan.get(batch[0].__class__) if batch else None
        if calls is not None and len(calls) == 1 and calls[0][2] is None and len(classes_of(batch)) == 1:
            return self._one_callback(plan, calls[0][0], calls[0][1], batch)
        self._mixed(plan, iter(batch))

    def _one_callback(self, plan: _Plan, h: Handle, fn: Callable[[Event], None], batch: List[Event]) -> None:
        """The usual batch: one event class, one callback for it, no symbol
        filter; the loop does nothing else per event."""
        it = iter(batch)
        for ev in it:
            if self._plan is not plan:  # a callback was added or removed: this event and the rest, the long way
                return self._mixed(self._plan, chain((ev,), it))
            try:
                fn(ev)
            except Exception as exc:  # noqa: BLE001 - user code must not stop the others
                self._callback_failed(h, exc, ev)

    def _mixed(self, plan: _Plan, events: Iterator[Event]) -> None:
        for ev in events:
            if self._plan is not plan:  # a callback was added or removed (maybe by a callback): from this event on
                plan = self._plan
            calls = plan.get(ev.__class__)
            if calls is None:
                calls = plan[ev.__class__] = self._calls_for(ev)
            for h, fn, syms in calls:
                if syms is not None and ev.symbol not in syms and ev.__class__ is not Status:
                    continue
                try:
                    fn(ev)
                except Exception as exc:  # noqa: BLE001 - user code must not stop the others
                    self._callback_failed(h, exc, ev)

    def _calls_for(self, ev: Event) -> Tuple[Tuple[Handle, Callable[[Event], None], Optional[FrozenSet[str]]], ...]:
        """The callbacks an event of this class goes to, in registration order
        within its kind, then the catch-all ones."""
        handlers = self._handlers
        return tuple((h, h.fn, h.symbols) for h in handlers.get(ev.topic, ()) + handlers.get("*", ()))

    def _callback_failed(self, h: Handle, exc: Exception, ev: Event) -> None:
        self.callback_errors += 1
        h.failed(exc, ev, time.monotonic())
        if h.on_error is not None:
            try:
                h.on_error(exc, ev)
            except Exception as again:  # noqa: BLE001 - user code must not stop the others
                self.callback_errors += 1
                if not h.on_error_failed:
                    h.on_error_failed = True
                    log.error("on_error handler of %s raised %s (logged once)",
                              getattr(h.fn, "__qualname__", repr(h.fn)), type(again).__name__, exc_info=again)

    # -- streams
    def stream(self, kinds: Optional[Iterable[str]], symbols: Optional[Iterable[str]],
               timeout: Optional[float], policy: QueuePolicy) -> EventStream:
        """Open an :class:`EventStream` with its own queue."""
        if self._closed:
            raise ClosedError("the feed is closed; connect again to stream events")
        syms = None if symbols is None else frozenset([symbols] if isinstance(symbols, str) else symbols)
        with self._lock:
            self._streams += 1
            consumer = _Consumer(BatchQueue(policy, f"events#{self._streams}"), _check_kinds(kinds, self.kinds), syms)
            self._consumers = self._consumers + (consumer,)
        return EventStream(self, consumer, timeout)

    def _detach(self, consumer: _Consumer) -> None:
        with self._lock:
            self._consumers = tuple(c for c in self._consumers if c is not consumer)

    # -- lifecycle and figures
    def close(self, timeout: float = 2.0) -> None:
        """Close every queue and join the callback thread (within ``timeout``).
        A backlog still queued for callbacks is not delivered: the callback
        thread finishes the batch in hand and stops, so a slow callback cannot
        hold ``close()`` up; ``stats()`` taken before closing shows the depth."""
        self._closed = True
        with self._lock:
            consumers, self._consumers = self._consumers, ()
        for c in consumers:
            c.queue.close()
        self._callback.queue.close()
        if self._thread is not None and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def queues(self) -> List[BatchQueue]:
        """Every live queue (callbacks first)."""
        qs = [c.queue for c in self._consumers]
        if self._callback.queue not in qs and self._thread is not None:
            qs.insert(0, self._callback.queue)
        return qs
