"""Feed: the blocking façade over one provider connection.

Everything here is safe to call from any thread. Work that touches the
socket is handed to the connection thread; answers come back through its
one pending-request table, the latest-quote cache and the dispatcher's
queues. The feed keeps no state of its own beyond its collaborators: the
desired subscriptions live in the protocol object (the only copy).
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import time
from typing import IO, TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union
from urllib.parse import urlsplit

from . import _progress
from . import _validate as check
from .bars import BarBuilder, BarStream
from .cache import LatestCache
from .connection import Connection
from .dispatch import Dispatcher, EventStream, Handle, Stats
from .errors import ClosedError, ConfigurationError, RequestTimeout
from .events import EVENT_KINDS, Bar, Event, Quote, Status
from .intervals import Interval, TimeLike, parse_interval, time_range
from .policy import QueuePolicy, ReconnectPolicy, Timeouts
from .providers.freshness import Staleness
from .providers.base import (SUBSCRIBABLE_KINDS, Capabilities, Config, Endpoint, History, HistoryResult,
                             Option, ProviderSpec, Rpc, Subscribe, Subscription, Ticks, TicksResult, as_bool,
                             resolve_options)
from .registry import DEFAULT_PROVIDER, emulator_options, get_spec, load_object, notice_kinds
from .transport import WebSocketTransport

if TYPE_CHECKING:  # pandas and requests load on first use, not at `import mdsdk` (DESIGN.md section 2)
    import pandas as pd

    from .http import HttpClient

__all__ = ["Feed", "emulator_options"]

log = logging.getLogger("mdsdk.feed")
Symbols = Union[str, Iterable[str]]
PathLike = Union[str, "os.PathLike[str]"]
DEFAULT_KINDS = ("quote", "trade")


def _check_option(provider: str, opt: Option, value: Any) -> None:
    """Refuse a provider option of the wrong type or out of range (never
    echoing a secret); ``None`` means unset (the variable or default applies)."""
    name = f"option {opt.name}"
    try:
        if value is None:
            return
        if opt.kind is float:
            check.number(name, value)
        elif opt.kind is int:
            check.integer(name, value)
        elif opt.kind is as_bool:
            if not isinstance(value, (bool, str)):
                raise ConfigurationError(f"{name} must be True or False, got {type(value).__name__}")
        elif opt.kind is str:
            check.text(name, value)
            scheme = _URL_SCHEMES.get(opt.name)
            if scheme is not None:
                _check_url(name, value, scheme)
    except ConfigurationError as exc:
        if opt.secret:
            raise ConfigurationError(f"{name} for {provider!r} is not valid: {opt.help or 'a string'}") from None
        raise ConfigurationError(f"{exc} (provider {provider!r}: {opt.help})") from None


_URL_SCHEMES = {"url": ("ws", "wss"), "api_url": ("http", "https")}


def _check_url(name: str, value: str, schemes: Tuple[str, ...]) -> None:
    parts = urlsplit(value.strip())
    if parts.scheme.lower() not in schemes or not parts.hostname:
        raise ConfigurationError(f"{name} must be a {' or '.join(s + '://' for s in schemes)} URL with a host, "
                                 f"got {check.show(value)}")


def _check_options(spec: ProviderSpec, given: Dict[str, Any]) -> Config:
    """Resolve the provider options of ``spec`` from ``given``, the
    environment and the defaults, checking each value at this boundary."""
    known = {o.name: o for o in spec.options}
    for key, value in given.items():
        if key in known:
            _check_option(spec.name, known[key], value)
    config = resolve_options(spec.name, spec.options, given)
    for opt in spec.options:  # environment values too, once converted
        if opt.name not in given or given[opt.name] is None:
            _check_option(spec.name, opt, config.get(opt.name))
    return config


def _check_wiring(record: Any, reconnect: Any, timeouts: Any, queue: Any, callback_queue: Any,
                  clock: Any) -> None:
    """Refuse bad ``connect`` arguments before any thread or socket exists."""
    for name, value, cls in (("reconnect", reconnect, ReconnectPolicy), ("timeouts", timeouts, Timeouts),
                             ("queue", queue, QueuePolicy), ("callback_queue", callback_queue, QueuePolicy)):
        if value is not None:
            check.instance(name, value, cls, f"a mdsdk.{cls.__name__}")
    if record is not None:
        check.instance("record", record, (str, os.PathLike), "a file path (str)")
        if not str(os.fspath(record)).strip():
            raise ConfigurationError("record must be a file path, got an empty string")
    if clock is not None and not all(callable(getattr(clock, m, None)) for m in ("monotonic", "time_ns")):
        raise ConfigurationError(f"clock must have monotonic() and time_ns() methods, got {check.show(clock)}")


def _symbol(value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigurationError(f"symbol must be one symbol (a string), got {type(value).__name__} "
                                 f"{check.show(value)}")
    return check.symbols(value, "symbol")[0]


class _Emulated:
    """The provider's own emulator, run in-process (``emulate=True``; ``sim``)."""

    def __init__(self, spec: ProviderSpec, config: Config) -> None:
        if not spec.emulator:
            raise ConfigurationError(f"provider {spec.name!r} has no emulator; drop emulate=True")
        args = {o.name: config[o.name] for o in spec.options if o.emulator and config.get(o.name) is not None}
        self.server = load_object(spec.emulator)(**args)

    def config(self, spec: ProviderSpec, config: Config) -> Config:
        """``config`` pointed at the emulator (its URLs and credentials)."""
        return config.with_values(**emulator_options(spec, self.server))


class Feed:
    """A live connection to one provider: subscribe, read the latest quotes,
    register callbacks, iterate events, fetch history. Use it as a context
    manager, or call :meth:`close`. Create it with :func:`mdsdk.connect`."""

    def __init__(self, provider: str = DEFAULT_PROVIDER, *, record: Optional[str] = None,
                 reconnect: Optional[ReconnectPolicy] = None, timeouts: Optional[Timeouts] = None,
                 queue: Optional[QueuePolicy] = None, callback_queue: Optional[QueuePolicy] = None,
                 clock: Any = None, staleness: Optional[Staleness] = None, **options: Any) -> None:
        _check_wiring(record, reconnect, timeouts, queue, callback_queue, clock)
        if staleness is not None:
            check.instance("staleness", staleness, Staleness, "a mdsdk.Staleness")
        self.spec: ProviderSpec = get_spec(provider)
        self.provider = self.spec.name
        self.timeouts = timeouts or Timeouts()
        self.queue_policy = queue or QueuePolicy()
        self._closed = False
        self._emulated: Optional[_Emulated] = None
        self._http: Optional[HttpClient] = None
        self._record: Optional[IO[str]] = None
        self.cache = LatestCache()
        # When the feed stops for good, get_quote waiters must hear it now, not at their timeout.
        self._dispatcher = Dispatcher(self.provider, callback_queue or QueuePolicy(), self.cache.update,
                                      self.cache.close, EVENT_KINDS + self.spec.capabilities.notices)
        try:
            config = _check_options(self.spec, options)
            self._connection = self._build(config, record, reconnect or ReconnectPolicy(), clock)
            if staleness is not None and hasattr(self._connection.protocol, "fresh"):
                self._connection.protocol.fresh.policy = staleness
            self._connection.start()
        except BaseException:
            self._release()
            raise

    # ------------------------------------------------------------ wiring
    def _build(self, config: Config, record: Optional[PathLike], reconnect: ReconnectPolicy,
               clock: Any) -> Connection:
        spec = self.spec
        if config.get("emulate"):
            self._emulated = _Emulated(spec, config)
            config = self._emulated.config(spec, config)
        self.config = config
        protocol = spec.make_protocol(config)
        if protocol.api_url:  # only REST providers pay for importing requests
            from .http import HttpClient
            self._http = HttpClient(protocol.api_url, deadline=self.timeouts.rest,
                                    verify_tls=config.get("verify_tls", True), secrets=config.secrets)
        if record is not None:
            try:
                self._record = open(record, "w", encoding="utf-8", buffering=1 << 16)
            except OSError as exc:
                raise ConfigurationError(f"record: cannot write the recording {check.show(os.fspath(record))}: "
                                         f"{exc.strerror or exc}") from None
            self._record.write(f'{{"provider": "{self.provider}"}}\n')
        return Connection(provider=self.provider, protocol=protocol, transport_factory=self._transport_for,
                          sink=self._dispatcher.publish, http=self._http.perform if self._http else None,
                          reconnect=reconnect, timeouts=self.timeouts, record=self._record, clock=clock)

    def _transport_for(self, endpoint: Endpoint) -> WebSocketTransport:
        return WebSocketTransport(endpoint.url, timeout=self.timeouts.connect, headers=dict(endpoint.headers),
                                  verify_tls=self.config.get("verify_tls", True),
                                  secrets=self.config.secrets + endpoint.secrets)

    # ------------------------------------------------------------ helpers
    def _check(self) -> None:
        if self._closed:
            raise ClosedError("this feed is closed; call mdsdk.connect(...) again")
        if self._connection.error is not None:
            raise self._connection.error

    def _kinds(self, kinds: Union[str, Iterable[str]]) -> List[str]:
        ks = self._known(kinds, SUBSCRIBABLE_KINDS + self.capabilities.notices)
        for k in ks:
            self.capabilities.require(self.provider, k)
        return ks

    def _known(self, kinds: Any, allowed: Tuple[str, ...], name: str = "kinds") -> List[str]:
        """``kinds`` checked against ``allowed``: a kind another provider streams (its own notice kind, such as
        Schwab's "screener") is UnsupportedError naming this provider, anything else ConfigurationError."""
        try:
            return check.kinds(kinds, allowed, name)
        except ConfigurationError:
            names = [kinds] if isinstance(kinds, str) else kinds if isinstance(kinds, (list, tuple)) else ()
            for k in names:
                if isinstance(k, str) and k not in allowed and k in notice_kinds():
                    self.capabilities.require(self.provider, k)
            raise

    @property
    def capabilities(self) -> Capabilities:
        """What this provider can do (kinds, history, acks, rpc, rest)."""
        return self.spec.capabilities

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("connected" if self._connection.connected else "connecting")
        return f"<Feed {self.provider} {state}, {len(self.subscriptions)} subscriptions>"

    def report(self, status: Status) -> None:
        """Deliver a ``Status`` of your own to this feed's status callbacks and
        streams, beside the provider's: how a component built on the feed (a
        Redis sink, an application's own watchdog) tells the same listeners."""
        self._check()
        check.instance("status", status, Status, "a mdsdk.Status")
        self._dispatcher.publish([status])

    def _repr_html_(self) -> str:
        """This feed as HTML for notebooks: provider, state, subscriptions and queue depths."""
        from . import _html
        return _html.feed_html(self)

    def __enter__(self) -> "Feed":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ subscriptions
    def subscribe(self, symbols: Symbols, kinds: Union[str, Sequence[str]] = DEFAULT_KINDS,
                  interval: Optional[Union[str, Interval]] = None) -> None:
        """Stream ``kinds`` ("quote", "trade", "bar", "summary", "profile",
        "book") for ``symbols``; bars use ``interval`` (default "1m").
        Idempotent. Raises SubscriptionError for a symbol the provider
        rejects (the others keep streaming)."""
        self._check()
        syms = check.symbols(symbols)
        ks = self._kinds(kinds)
        iv: Optional[str] = str(parse_interval("1m" if interval is None else interval))
        iv = iv if "bar" in ks else None
        for s in syms:
            self.cache.clear_error(s)
        subs = tuple(Subscription(k, s, iv if k == "bar" else None) for s in syms for k in ks)
        errors = self._connection.request(Subscribe(subs), self.timeouts.request,
                                          f"{self.provider}'s confirmation of {', '.join(syms)}")
        for sub, err in errors:
            self.cache.reject(sub.symbol, err)
        if errors:
            raise errors[0][1]

    def unsubscribe(self, symbols: Symbols, kinds: Optional[Union[str, Sequence[str]]] = None) -> None:
        """Stop streaming ``symbols`` (all kinds, or only ``kinds``)."""
        self._check()
        syms = set(check.symbols(symbols))
        ks = None if kinds is None else set(self._kinds(kinds))
        gone = [s for s in self.subscriptions if s.symbol in syms and (ks is None or s.kind in ks)]
        if gone:
            self._connection.call(lambda p, now, wall: p.unsubscribe(gone, now, wall))

    @property
    def subscriptions(self) -> List[Subscription]:
        """What this feed streams (restored after every reconnect)."""
        return list(self._connection.protocol.subscriptions)

    # ------------------------------------------------------------ latest values
    def get_quote(self, symbol: str, timeout: Optional[float] = 5.0) -> Quote:
        """The latest quote of ``symbol``; subscribes if needed and waits up to
        ``timeout`` seconds (None: 5) for the first. Raises RequestTimeout if none comes."""
        self._check()
        sym = _symbol(symbol)
        wait = check.seconds("timeout", timeout, 5.0)
        if Subscription("quote", sym) not in self._connection.protocol.subscriptions:
            self.subscribe(sym, ("quote",))
        q = self.cache.wait_quote(sym, wait)
        if q is None:
            self._check()
            raise RequestTimeout(
                f"no quote for {sym!r} within {wait:g} s: the symbol may be unknown or not "
                "entitled on your account, or the market may be closed; check the symbol or "
                "pass a longer timeout")
        return q

    def quotes(self) -> pd.DataFrame:
        """The latest quote of every symbol as a DataFrame (one row per symbol,
        with mid, spread and age in seconds)."""
        self._check()
        from . import frames  # pandas loads on the first DataFrame, not at import
        return frames.quotes_to_frame(list(self.cache.quotes.values()))

    # ------------------------------------------------------------ callbacks and streams
    def on(self, kind: str, fn: Callable[[Any], None], symbols: Optional[Symbols] = None,
           on_error: Optional[Callable[[BaseException, Event], None]] = None) -> Handle:
        """Call ``fn(event)`` on the dispatcher thread for every event of
        ``kind`` ("quote", "trade", "bar", "summary", "profile", "book",
        "pnl", "status", one of the provider's own ``capabilities.notices``
        such as "news", or "*"); ``on_error(exc, event)`` gets what ``fn`` raises."""
        self._check()
        if not isinstance(kind, str):
            raise ConfigurationError(f"kind must be one event kind (a string), got {type(kind).__name__}")
        self._known(kind, self._dispatcher.kinds + ("*",), "kind")
        check.callback("fn", fn)
        check.callback("on_error", on_error, optional=True)
        syms = None if symbols is None else check.symbols(symbols)
        return self._dispatcher.add_handler(kind, fn, syms, on_error)

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
        ks = None if kinds is None else self._known(kinds, self._dispatcher.kinds + ("*",))
        syms = None if symbols is None else check.symbols(symbols)
        wait = None if timeout is None else check.seconds("timeout", timeout)
        if policy is not None:
            check.instance("policy", policy, QueuePolicy, "a mdsdk.QueuePolicy")
        return self._dispatcher.stream(ks, syms, wait, policy or self.queue_policy)

    # ------------------------------------------------------------ requests
    def history(self, symbol: str, interval: Union[str, Interval] = "1d", start: TimeLike = None, end: TimeLike = None,
                timeout: Optional[float] = None, progress: bool = False) -> pd.DataFrame:
        """Bars of ``interval`` for ``symbol`` starting in ``[start, end)`` (end
        defaults to now) as a DataFrame: UTC index ``time``, float columns
        ``open high low close volume`` then provider extras. ``progress=True``
        (the ``progress`` extra) fetches the range in consecutive chunks behind
        a progress bar on stderr, each chunk within ``timeout``; the frame is the same."""
        self._check()
        self.capabilities.require(self.provider, "history")
        sym = _symbol(symbol)
        iv = parse_interval(interval)
        if start is None:  # a hundred bars back, but never before the epoch
            start = _dt.datetime.fromtimestamp(max(0.0, time.time() - 100 * iv.seconds), _dt.timezone.utc)
        start_ns, end_ns = time_range(start, end)
        limit = check.seconds("timeout", timeout, self.timeouts.request)

        def fetch(request: History) -> HistoryResult:
            answer: HistoryResult = self._connection.request(request, limit, f"history of {sym!r} ({iv})")
            return answer

        request = History(sym, iv, start_ns, end_ns)
        result = _progress.fetch_history(request, fetch) if _progress.wanted("progress", progress) else fetch(request)
        from . import frames
        df = frames.bars_to_frame(result.bars)
        df.attrs.update(symbol=sym, interval=str(iv), provider=self.provider, truncated=result.truncated)
        return df

    def bars(self, symbol: str, interval: Union[str, Interval] = "1m", source: str = "trades",
             timeout: Optional[float] = None, forming: bool = False) -> BarStream:
        """Live bars of ``symbol`` as an iterator (use it in a ``with`` block): built here from its trades
        (``source="trades"``: time bars like ``"1m"``, tick bars ``"100t"``, volume bars ``"5000v"``; the rules,
        late trades included, are in :mod:`mdsdk.bars`) or the provider's own (``source="provider"``). Complete
        bars only, unless ``forming=True``. Ends like :meth:`events`: after ``timeout`` seconds without a trade
        (or bar), or at close."""
        self._check()
        sym = _symbol(symbol)
        check.kinds(source, ("trades", "provider"), "source")
        if source == "provider":
            iv = str(parse_interval(interval))
            stream = self.events(kinds=("bar",), symbols=[sym], timeout=timeout)
            self.subscribe(sym, kinds="bar", interval=iv)
            return BarStream((b for b in stream if getattr(b, "interval", None) == iv), None, stream.close, forming)
        builder = BarBuilder(interval, forming=forming, provider=self.provider)
        stream = self.events(kinds=("trade",), symbols=[sym], timeout=timeout)
        self.subscribe(sym, kinds="trade")
        return BarStream(stream, builder, stream.close)

    def ticks(self, symbol: str, kind: str = "trade", start: TimeLike = None, end: TimeLike = None,
              timeout: Optional[float] = None) -> pd.DataFrame:
        """Every ``kind`` ("trade" or "quote") tick of ``symbol`` in ``[start, end)`` (start defaults to an hour
        before end, end to now), where the provider serves ticks, as a DataFrame: UTC index ``time`` (ticks may
        share one), float ``price size`` or ``bid ask bid_size ask_size``, then provider extras."""
        self._check()
        self.capabilities.require(self.provider, "ticks")
        sym = _symbol(symbol)
        check.kinds(kind, ("trade", "quote"), "kind")
        if start is None:
            start = _dt.datetime.fromtimestamp(time.time() - 3600, _dt.timezone.utc)
        start_ns, end_ns = time_range(start, end)
        limit = check.seconds("timeout", timeout, self.timeouts.request)
        result: TicksResult = self._connection.request(Ticks(sym, kind, start_ns, end_ns), limit,
                                                       f"{kind} ticks of {sym!r}")
        from . import frames
        df = frames.ticks_to_frame(result.events, kind)
        df.attrs.update(symbol=sym, kind=kind, provider=self.provider, truncated=result.truncated)
        return df

    def rpc(self, api: str, timeout: Optional[float] = None, **args: Any) -> Any:
        """Call the provider's remote procedure ``api`` with ``args`` (where
        the provider has RPC) and return the ``data`` it answers."""
        self._check()
        self.capabilities.require(self.provider, "rpc")
        check.text("api", api, limit=check.MAX_SYMBOL)
        limit = check.seconds("timeout", timeout, self.timeouts.request)
        return self._connection.request(Rpc(api, dict(args), limit), limit, f"the answer to {api}")

    # ------------------------------------------------------------ figures and lifecycle
    def stats(self) -> Stats:
        """Per-queue depth, high-water mark, dropped and conflated counts, plus
        reconnects, frames in/out, malformed frames, internal errors (bugs the
        runtime contained: each cost one frame) and last frame age."""
        conn = self._connection
        proto = conn.protocol
        queues = {q.name: q.stats() for q in self._dispatcher.queues()}
        last = conn.last_frame_at
        return Stats({
            "provider": self.provider, "connected": conn.connected and not self._closed,
            "reconnects": conn.reconnects, "frames_in": conn.frames_in, "frames_out": conn.frames_out,
            "malformed": proto.malformed, "internal_errors": conn.internal_errors,
            "bad_books": getattr(proto, "bad_books", 0),
            "symbols": proto.fresh.snapshot(conn.clock.monotonic()) if hasattr(proto, "fresh") else {},
            "last_frame_age": None if last is None else time.time() - last,
            "subscriptions": len(proto.subscriptions), "callback_errors": self._dispatcher.callback_errors,
            "token_renewals": proto.token_renewals, "pending_requests": len(conn.pending),
            "dropped": sum(q.dropped for q in self._dispatcher.queues()),
            "conflated": sum(q.conflated for q in self._dispatcher.queues()),
            "queues": queues,
        })

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
        self._connection.close()
        self._release()

    def _release(self) -> None:
        self._dispatcher.close(timeout=1.0)
        self.cache.close()
        if self._emulated is not None:
            self._emulated.server.close()
            self._emulated = None
        if self._http is not None:
            self._http.close()
        if self._record is not None:
            try:
                self._record.close()
            except OSError as exc:  # a full disk: the feed already reported it; close() must still succeed
                log.warning("closing the recording failed: %s", exc)
            self._record = None
