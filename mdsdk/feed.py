"""Feed: the blocking façade over one provider connection.

Everything here is safe to call from any thread. Work that touches the
socket is handed to the connection thread as a command; answers come back
through futures, the latest-quote cache and the dispatcher's queues.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from concurrent.futures import Future
from typing import IO, TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Optional, Sequence, Union

from . import frames
from .cache import LatestCache
from .connection import Connection
from .dispatch import Dispatcher, EventStream, Handle
from .errors import (AuthenticationError, ClosedError, ConfigurationError, MdsdkError, RequestTimeout,
                     SubscriptionError, UnsupportedError)
from .events import Bar, Event, Quote, Status
from .http import HttpClient, run_flow
from .intervals import TimeLike, parse_interval, time_range
from .policy import QueuePolicy, ReconnectPolicy, Timeouts
from .providers.base import (SUBSCRIBABLE_KINDS, Endpoint, Fatal, HistoryDone, HistoryFailed,
                             HistoryRequest, ProviderSpec, Subscription, SubscriptionAcked,
                             SubscriptionRejected, resolve_options)
from .registry import get_spec, load_object
from .transport import WebSocketTransport

if TYPE_CHECKING:  # pandas is imported by frames only (DESIGN.md section 2)
    import pandas as pd

__all__ = ["Feed"]

log = logging.getLogger("mdsdk.feed")
Symbols = Union[str, Iterable[str]]
DEFAULT_KINDS = ("quote", "trade")


def _symbols(symbols: Symbols) -> List[str]:
    items = [symbols] if isinstance(symbols, str) else list(symbols)
    out = []
    for s in items:
        if not isinstance(s, str) or not s.strip():
            raise ConfigurationError(f"symbols must be non-empty strings, got {s!r}")
        out.append(s.strip())
    if not out:
        raise ConfigurationError("no symbols given; pass a symbol or a list of symbols")
    return out


class Feed:
    """A live connection to one provider: subscribe, read the latest quotes,
    register callbacks, iterate events, fetch history. Use it as a context
    manager, or call :meth:`close`. Create it with :func:`mdsdk.connect`."""

    def __init__(self, provider: str = "sim", *, record: Optional[str] = None,
                 reconnect: Optional[ReconnectPolicy] = None, timeouts: Optional[Timeouts] = None,
                 queue: Optional[QueuePolicy] = None, callback_queue: Optional[QueuePolicy] = None,
                 **options: Any) -> None:
        self.spec: ProviderSpec = get_spec(provider)
        self.provider = self.spec.name
        self.config = resolve_options(self.spec.name, self.spec.options, options)
        self.timeouts = timeouts or Timeouts()
        self.queue_policy = queue or QueuePolicy()
        self._closed = False
        self._lock = threading.Lock()
        self._subs: Dict[Subscription, None] = {}
        self._history: Dict[int, "Future[Any]"] = {}
        self._ids = itertools.count(1)
        self._fatal: Optional[MdsdkError] = None
        self._server: Any = None
        self._http: Optional[HttpClient] = None
        self._record: Optional[IO[str]] = None
        self._endpoint: Optional[Endpoint] = None
        self._endpoint_at = time.time()
        self._rest_lock = threading.Lock()
        self._stop = threading.Event()
        self._renewer: Optional[threading.Thread] = None
        self._resolved: Dict[str, Any] = {}
        self._lookup_errors: Dict[str, SubscriptionError] = {}
        self._acks: Dict[Subscription, "Future[None]"] = {}
        self.token_renewals = 0
        self.cache = LatestCache()
        self._dispatcher = Dispatcher(self.provider, callback_queue or QueuePolicy(), self.cache.update)
        try:
            self._connection = self._build(record, reconnect or ReconnectPolicy())
            self._connection.start()
            if self.spec.renew_flow is not None:
                self._renewer = threading.Thread(target=self._renew_loop, name=f"mdsdk-{self.provider}-renew",
                                                 daemon=True)
                self._renewer.start()
        except BaseException:
            self._release()
            raise

    # ------------------------------------------------------------ wiring
    def _build(self, record: Optional[str], reconnect: ReconnectPolicy) -> Connection:
        spec, config = self.spec, self.config
        if spec.local_server:
            server_cls = load_object(spec.local_server)
            self._server = server_cls(seed=config["seed"], tick=config["tick"],
                                      keepalive_timeout=config["keepalive_timeout"])
        elif spec.auth_flow is not None:
            self._http = HttpClient(spec.api_url(config), timeout=self.timeouts.request,
                                    verify_tls=config.get("verify_tls", True), secrets=config.secrets)
        if record:
            self._record = open(record, "w", encoding="utf-8", buffering=1 << 16)
        protocol = spec.make_protocol(config)
        return Connection(provider=self.provider, config=config, protocol=protocol,
                          endpoint_source=self._endpoint_for, transport_factory=self._transport_for,
                          sink=self._dispatcher.publish, on_signal=self._on_signal,
                          reconnect=reconnect, timeouts=self.timeouts, record=self._record)

    def _endpoint_for(self, refresh: bool) -> Endpoint:
        """Where to connect; runs on the connection thread (REST login here)."""
        if self._server is not None:
            return Endpoint(self._server.url, self._server.token)
        if self.spec.auth_flow is None:
            return self.spec.endpoint(self.config)
        ep = self._endpoint
        if refresh or ep is None or (ep.expires_at is not None and ep.expires_at - time.time() < 60):
            ep = self._login(renew=ep is not None)
        return ep

    def _rest(self, flow: Any) -> Any:
        """Run a provider REST flow (serialised: the session is shared)."""
        assert self._http is not None
        with self._rest_lock:
            return run_flow(flow, self._http, sleep=self._stop.wait)

    def _login(self, renew: bool) -> Endpoint:
        """A fresh endpoint: renew the current token where the provider can,
        and log in again when renewal is refused."""
        spec, current = self.spec, self._endpoint
        if renew and spec.renew_flow is not None and current is not None:
            try:
                self._endpoint = self._rest(spec.renew_flow(self.config, current))
                self._endpoint_at = time.time()
                self.token_renewals += 1
                return self._endpoint
            except AuthenticationError as exc:
                log.info("token renewal refused (%s); logging in again", exc)
        assert spec.auth_flow is not None
        self._endpoint = self._rest(spec.auth_flow(self.config))
        self._endpoint_at = time.time()
        return self._endpoint

    def _renew_loop(self) -> None:
        """Renew the token ahead of its expiry, off the socket thread, so the
        next reconnect always has a valid one and the stream never drops."""
        while not self._stop.is_set():
            ep = self._endpoint
            if ep is None or ep.expires_at is None:
                if self._stop.wait(1.0):
                    return
                continue
            lifetime = max(1.0, ep.expires_at - self._endpoint_at)
            due = ep.expires_at - min(15 * 60.0, lifetime / 4)
            if self._stop.wait(max(0.05, due - time.time())):
                return
            if self._endpoint is not ep:
                continue
            try:
                self._login(renew=True)
            except MdsdkError as exc:
                self._dispatcher.publish([Status("", time.time_ns(), self.provider, kind="error",
                                                 detail=f"token renewal failed: {exc}")])
                if self._stop.wait(5.0):
                    return

    def _resolve(self, symbols: List[str]) -> List[str]:
        """Look up provider ids for new symbols (cached); returns the symbols
        that failed, after recording their errors."""
        flow = self.spec.resolve_flow
        if flow is None:
            return []
        failed: List[str] = []
        learned: Dict[str, Any] = {}
        for sym in symbols:
            if sym in self._resolved:
                continue
            ep = self._endpoint
            assert ep is not None
            try:
                learned[sym] = self._resolved[sym] = self._rest(flow(self.config, ep, sym))
            except SubscriptionError as exc:
                self._lookup_errors[sym] = exc
                failed.append(sym)
        if learned:
            self._connection.call(lambda p, now: p.learn_symbols(learned))
        return failed

    def _transport_for(self, endpoint: Endpoint) -> WebSocketTransport:
        return WebSocketTransport(endpoint.url, timeout=self.timeouts.connect,
                                  verify_tls=self.config.get("verify_tls", True),
                                  secrets=self.config.secrets + endpoint.secrets)

    def _on_signal(self, signal: Any) -> None:
        """Runtime news from the connection thread; must not block."""
        if isinstance(signal, (HistoryDone, HistoryFailed)):
            fut = self._history.pop(signal.request_id, None)
            if fut is not None and not fut.done():
                if isinstance(signal, HistoryDone):
                    fut.set_result(signal)
                else:
                    fut.set_exception(signal.error)
        elif isinstance(signal, SubscriptionAcked):
            fut = self._acks.pop(signal.subscription, None)
            if fut is not None and not fut.done():
                fut.set_result(None)
        elif isinstance(signal, SubscriptionRejected):
            with self._lock:
                self._subs.pop(signal.subscription, None)
            self.cache.reject(signal.subscription.symbol, signal.error)
            fut = self._acks.pop(signal.subscription, None)
            if fut is not None and not fut.done():
                fut.set_exception(signal.error)
        elif isinstance(signal, Fatal):
            self._fatal = signal.error
            self.cache.close()
            for fut in list(self._history.values()):
                if not fut.done():
                    fut.set_exception(signal.error)

    # ------------------------------------------------------------ helpers
    def _check(self) -> None:
        if self._closed:
            raise ClosedError("this feed is closed; call mdsdk.connect(...) again")
        if self._fatal is not None:
            raise self._fatal

    def _kinds(self, kinds: Union[str, Iterable[str]]) -> List[str]:
        ks = [kinds] if isinstance(kinds, str) else list(kinds)
        for k in ks:
            if k not in SUBSCRIBABLE_KINDS:
                raise ConfigurationError(f"unknown kind {k!r}; use {', '.join(SUBSCRIBABLE_KINDS)}")
            if k not in self.spec.kinds:
                raise UnsupportedError(f"{self.provider} does not stream {k!r}; it offers "
                                       f"{', '.join(self.spec.kinds)}")
        return ks

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("connected" if self._connection.connected else "connecting")
        return f"<Feed {self.provider} {state}, {len(self._subs)} subscriptions>"

    def __enter__(self) -> "Feed":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ subscriptions
    def subscribe(self, symbols: Symbols, kinds: Union[str, Sequence[str]] = DEFAULT_KINDS,
                  interval: Optional[str] = None) -> None:
        """Stream ``kinds`` ("quote", "trade", "bar", "summary", "profile")
        for ``symbols``; bars use ``interval`` (default "1m"). Idempotent."""
        self._check()
        syms = _symbols(symbols)
        ks = self._kinds(kinds)
        iv = str(parse_interval(interval or "1m")) if "bar" in ks else None
        for s in syms:
            self.cache.clear_error(s)
        failed = self._resolve(syms)
        for s in failed:
            self.cache.reject(s, self._lookup_errors[s])
        new = [Subscription(k, s, iv if k == "bar" else None) for s in syms if s not in failed for k in ks]
        with self._lock:
            new = [sub for sub in new if sub not in self._subs]
            for sub in new:
                self._subs[sub] = None
                if self.spec.acks:
                    self._acks[sub] = Future()
            waits = [(sub, self._acks[sub]) for sub in new if sub in self._acks]
        if new:
            self._connection.call(lambda p, now: p.subscribe(new, now))
        errors: List[MdsdkError] = [self._lookup_errors[s] for s in failed]
        deadline = time.monotonic() + self.timeouts.request  # one budget for all the answers
        for sub, fut in waits:
            try:
                fut.result(timeout=max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                self._acks.pop(sub, None)
                errors.append(RequestTimeout(f"{self.provider} did not confirm {sub.kind} for {sub.symbol!r} "
                                             f"within {self.timeouts.request:g} s"))
            except MdsdkError as exc:
                errors.append(exc)
        if errors:
            raise errors[0]

    def unsubscribe(self, symbols: Symbols, kinds: Optional[Union[str, Sequence[str]]] = None) -> None:
        """Stop streaming ``symbols`` (all kinds, or only ``kinds``)."""
        self._check()
        syms = set(_symbols(symbols))
        ks = None if kinds is None else set(self._kinds(kinds))
        with self._lock:
            gone = [s for s in self._subs if s.symbol in syms and (ks is None or s.kind in ks)]
            for s in gone:
                del self._subs[s]
        if gone:
            self._connection.call(lambda p, now: p.unsubscribe(gone, now))

    @property
    def subscriptions(self) -> List[Subscription]:
        """What this feed streams (restored after every reconnect)."""
        return list(self._subs)

    # ------------------------------------------------------------ latest values
    def get_quote(self, symbol: str, timeout: float = 5.0) -> Quote:
        """The latest quote of ``symbol``; subscribes if needed and waits up to
        ``timeout`` seconds for the first. Raises RequestTimeout if none comes."""
        self._check()
        sym = _symbols(symbol)[0]
        if Subscription("quote", sym) not in self._subs:
            self.subscribe(sym, ("quote",))
        q = self.cache.wait_quote(sym, timeout)
        if q is None:
            self._check()
            raise RequestTimeout(
                f"no quote for {sym!r} within {timeout:g} s: the symbol may be unknown or not "
                "entitled on your account, or the market may be closed; check the symbol or "
                "pass a longer timeout")
        return q

    def quotes(self) -> pd.DataFrame:
        """The latest quote of every symbol as a DataFrame (one row per symbol,
        with mid, spread and age in seconds)."""
        self._check()
        return frames.quotes_to_frame(list(self.cache.quotes.values()))

    # ------------------------------------------------------------ callbacks and streams
    def on(self, kind: str, fn: Callable[[Any], None], symbols: Optional[Symbols] = None,
           on_error: Optional[Callable[[BaseException, Event], None]] = None) -> Handle:
        """Call ``fn(event)`` on the dispatcher thread for every event of
        ``kind`` ("quote", "trade", "bar", "summary", "profile", "status",
        or "*"); ``on_error(exc, event)`` gets what ``fn`` raises."""
        self._check()
        return self._dispatcher.add_handler(kind, fn, symbols, on_error)

    def on_quote(self, fn: Callable[[Quote], None], symbols: Optional[Symbols] = None,
                 on_error: Optional[Callable[[BaseException, Event], None]] = None) -> Handle:
        """Call ``fn(quote)`` for every Quote (optionally of ``symbols`` only)."""
        return self.on("quote", fn, symbols, on_error)

    def on_trade(self, fn: Callable[[Any], None], symbols: Optional[Symbols] = None,
                 on_error: Optional[Callable[[BaseException, Event], None]] = None) -> Handle:
        """Call ``fn(trade)`` for every Trade (optionally of ``symbols`` only)."""
        return self.on("trade", fn, symbols, on_error)

    def on_bar(self, fn: Callable[[Bar], None], symbols: Optional[Symbols] = None,
               on_error: Optional[Callable[[BaseException, Event], None]] = None) -> Handle:
        """Call ``fn(bar)`` for every live Bar (subscribe with kinds=("bar",))."""
        return self.on("bar", fn, symbols, on_error)

    def on_status(self, fn: Callable[[Status], None],
                  on_error: Optional[Callable[[BaseException, Event], None]] = None) -> Handle:
        """Call ``fn(status)`` for connection news: connected, disconnected,
        reconnecting, resubscribed, overflow, error."""
        return self.on("status", fn, None, on_error)

    def events(self, kinds: Optional[Union[str, Sequence[str]]] = None, symbols: Optional[Symbols] = None,
               timeout: Optional[float] = None, policy: Optional[QueuePolicy] = None) -> EventStream:
        """An iterator over events with its own bounded queue; use it in a
        ``with`` block. Ends after ``timeout`` seconds without an event, or at close."""
        self._check()
        return self._dispatcher.stream(kinds, symbols, timeout, policy or self.queue_policy)

    # ------------------------------------------------------------ history
    def history(self, symbol: str, interval: str = "1d", start: TimeLike = None, end: TimeLike = None,
                timeout: Optional[float] = None) -> pd.DataFrame:
        """Bars of ``interval`` for ``symbol`` starting in ``[start, end)`` (end
        defaults to now) as a DataFrame: UTC index ``time``, float columns
        ``open high low close volume`` then provider extras."""
        self._check()
        sym = _symbols(symbol)[0]
        iv = parse_interval(interval)
        if start is None:
            start = f"-{iv.count * 100}{iv.unit}"
        start_ns, end_ns = time_range(start, end)
        if not self.spec.has_history:
            raise UnsupportedError(f"{self.provider} has no history")
        req = HistoryRequest(next(self._ids), sym, iv, start_ns, end_ns)
        fut: "Future[Any]" = Future()
        self._history[req.id] = fut
        self._connection.call(lambda p, now: p.request_history(req, now))
        limit = self.timeouts.request if timeout is None else timeout
        try:
            done: HistoryDone = fut.result(timeout=limit)
        except TimeoutError:
            self._history.pop(req.id, None)
            self._connection.call(lambda p, now: p.cancel_history(req.id, now))
            raise RequestTimeout(f"history of {sym!r} ({iv}) did not arrive within {limit:g} s; try a "
                                 "shorter range, a larger interval or a longer timeout") from None
        df = frames.bars_to_frame(done.bars)
        df.attrs.update(symbol=sym, interval=str(iv), provider=self.provider, truncated=done.truncated)
        return df

    # ------------------------------------------------------------ figures and lifecycle
    def stats(self) -> Dict[str, Any]:
        """Per-queue depth, high-water mark, dropped and conflated counts, plus
        reconnects, frames in/out, malformed frames and last frame age."""
        conn = self._connection
        queues = {q.name: q.stats() for q in self._dispatcher.queues()}
        last = conn.last_frame_at
        return {
            "provider": self.provider, "connected": conn.connected and not self._closed,
            "reconnects": conn.reconnects, "frames_in": conn.frames_in, "frames_out": conn.frames_out,
            "malformed": conn.protocol.malformed, "last_frame_age": None if last is None else time.time() - last,
            "subscriptions": len(self._subs), "callback_errors": self._dispatcher.callback_errors,
            "token_renewals": self.token_renewals,
            "dropped": sum(q.dropped for q in self._dispatcher.queues()),
            "conflated": sum(q.conflated for q in self._dispatcher.queues()),
            "queues": queues,
        }

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

    def close(self) -> None:
        """Stop streaming, close the socket and join every thread (within about 2 s).
        Idempotent; any later call raises ClosedError."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._connection.close()
        if self._renewer is not None:
            self._renewer.join(2.0)
        for fut in list(self._history.values()):
            if not fut.done():
                fut.set_exception(ClosedError("the feed was closed while waiting for history"))
        self._release()

    def _release(self) -> None:
        self._dispatcher.close(timeout=1.0)
        self.cache.close()
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._http is not None:
            self._http.close()
        if self._record is not None:
            self._record.close()
            self._record = None
