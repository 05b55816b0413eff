"""The Tradovate market-data client protocol as a pure state machine.

Rules (protocols/tradovate.md sections 3-7, 10, 12):

* Wait for the ``o`` frame, then send ``authorize`` (id 0, raw token); no
  other request before ``{"s":200,"i":0}``.
* Send ``[]`` every 2.5 s whatever else is flowing (the server does not send
  ``h`` while it streams, so answering ``h`` is not enough). A server silent
  for ``server_timeout`` seconds is dead.
* Every item of an ``a`` array is handled: items with ``e`` are events,
  the rest responses routed by ``i``. ``s:200`` is not success when ``d``
  carries ``errorText`` (unknown or inaccessible symbol) or ``p-ticket``
  (penalty: wait ``p-time`` and resend with the ticket).
* Pushes name contracts only by ``contractId``: a new symbol is first looked
  up over REST (``/contract/find``, through the runtime's REST worker) and
  subscribed once its id is known; a name Tradovate does not know fails
  that subscription alone.
* Quotes arrive as partial ``entries`` merged into per-contract state
  (:mod:`.quotes`: a quote frame is decoded by msgspec into typed Structs,
  and only what does not fit that shape takes the tolerant dict path);
  charts are handled by :mod:`.charts`.
* ``shutdown`` with a quota reason code means another session holds the
  connection: the feed stops (TakeoverError) rather than fight for it.
* Nothing survives a reconnect: after ``authorize`` every quote, DOM and
  chart subscription is sent again.
"""

from __future__ import annotations

import enum
import json
from typing import Any, Callable, Dict, List, Mapping, Optional, Set, Tuple

from ...errors import (AuthenticationError, ConnectionLost, MdsdkError, ProviderError, RateLimitedError,
                       SubscriptionError, TakeoverError)
from ...events import Event
from ...intervals import parse_interval
from ..base import Capabilities, Endpoint, Fatal, History, Subscription
from ..core import Liveness, ProtocolCore, StateMachine, loads, subscription_error
from ..credentials import LoginFlow, RenewFlow
from .charts import Chart, Charts
from .codec import (HEARTBEAT, MAX_PENALTY, book_from_dom, contract_id, encode_request, error_text, parse_frame,
                    penalty_wait)
from .quotes import MD_HEADS, QuoteBook, decode_md

__all__ = ["TradovateProtocol", "State", "TRANSITIONS", "HEARTBEAT_INTERVAL", "MAX_PENALTY"]

HEARTBEAT_INTERVAL = 2.5
Lookup = Callable[[Endpoint, str], Any]  # (endpoint, symbol) -> REST flow returning the contract id


class State(enum.Enum):
    """States of one Tradovate market-data socket."""

    IDLE = "IDLE"
    WAIT_OPEN = "WAIT_OPEN"
    AUTHORIZING = "AUTHORIZING"
    READY = "READY"
    FAILED = "FAILED"


TRANSITIONS: Dict[Tuple[State, str], State] = {
    (State.IDLE, "connect"): State.WAIT_OPEN,
    (State.WAIT_OPEN, "open"): State.AUTHORIZING,
    (State.AUTHORIZING, "authorized"): State.READY,
    (State.AUTHORIZING, "refused"): State.FAILED,
    (State.READY, "refused"): State.FAILED,
    (State.READY, "taken_over"): State.FAILED,
}
_QUOTA_CODES = ("ConnectionQuotaReached", "IPQuotaReached")
_UNDECODABLE = (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError, RecursionError)


class TradovateProtocol(ProtocolCore):
    """Sans-I/O Tradovate MD client; see the module docstring for its rules.

    ``token`` and ``url`` make a fixed endpoint; ``login``/``renew`` (REST
    flows) fetch and renew it instead; ``lookup`` resolves symbols to
    contract ids over REST (without it, learn them with :meth:`learn_symbols`)."""

    capabilities = Capabilities(kinds=("quote", "trade", "bar", "summary", "book"), history=True, acks=True,
                                rejects_unknown=True, rest=True, resumes_bars=True)  # charts reopen from the last bar
    #: Quote frames are decoded into typed Structs first (see :mod:`.quotes`); False sends every frame the
    #: tolerant way (the tests compare the two).
    typed_decoding = True

    def __init__(self, token: Optional[str] = None, *, provider: str = "tradovate", url: str = "",
                 login: Optional[LoginFlow] = None, renew: Optional[RenewFlow] = None,
                 lookup: Optional[Lookup] = None, heartbeat_interval: float = HEARTBEAT_INTERVAL,
                 server_timeout: float = 10.0, handshake_timeout: float = 10.0, page_limit: int = 20,
                 secrets: Tuple[str, ...] = ()) -> None:
        static = None if login is not None else Endpoint(url, token, rest_token=token)
        super().__init__(provider, Liveness("Tradovate server", heartbeat_interval, server_timeout,
                                            handshake_timeout, idle_only=False),
                         static=static, login=login, renew=renew, secrets=secrets)
        self._lookup = lookup
        self._contracts: Dict[str, int] = {}
        self._names: Dict[int, str] = {}
        self._looking: Dict[str, List[Subscription]] = {}
        self.machine: StateMachine[State] = StateMachine(TRANSITIONS, State.IDLE)
        self.charts = Charts(provider, self._request, self._reply, page_limit)
        self._reset_socket()

    @property
    def state(self) -> State:
        """The current socket state."""
        return self.machine.state

    # ------------------------------------------------------------ lifecycle
    def _reset_socket(self) -> None:
        self.machine.reset()
        self._next_id = 1
        self._pending: Dict[int, Tuple[str, Any, str, Any]] = {}  # id -> (what, payload, endpoint, body)
        self._quotes = QuoteBook()
        self._tick_symbols: Set[str] = set()
        self._close: Optional[Tuple[Any, str]] = None
        self._retry: List[Tuple[float, str, Dict[str, Any], str, Any]] = []
        self.charts.reset_socket()

    def _connected(self, now: float, wall_ns: int) -> None:
        self._reset_socket()
        self.machine.fire("connect")

    def _disconnected(self) -> None:
        self._reset_socket()

    @property
    def ready(self) -> bool:
        return self.machine.state is State.READY

    def learn_symbols(self, contracts: Mapping[str, Any]) -> None:
        """Take symbol -> contract id mappings (from a lookup done elsewhere)."""
        for name, cid in contracts.items():
            self._contracts[name] = int(cid)
            self._names[int(cid)] = name

    def replay_sent(self, text: str, now: float, wall_ns: int) -> None:
        parts = text.split("\n", 3)
        if len(parts) == 4 and parts[0].lower() == "md/getchart":
            try:
                body = loads(parts[3])
                desc = body.get("chartDescription") or {}
                size = int(desc.get("elementSize") or 1)
                kind = desc.get("underlyingType")
                interval = None if kind == "Tick" else parse_interval("1d" if kind == "DailyBar" else f"{size}m")
                self.charts.replayed.append(Chart("bars" if interval else "ticks", str(body.get("symbol")),
                                                  interval, eoh=True))
            except (ValueError, TypeError, AttributeError, MdsdkError, RecursionError):
                return

    def _name(self, cid: Any) -> str:
        return self._names.get(cid) or str(cid)

    # ------------------------------------------------------------ timers
    def _keepalive(self, now: float) -> None:
        self._send_text(HEARTBEAT, now)

    def _deadline(self) -> Optional[float]:
        if self._close is not None:
            return 0.0
        return min((r[0] for r in self._retry), default=None)

    def _timer(self, now: float, wall_ns: int) -> None:
        if self._close is not None:
            code, reason = self._close
            raise ConnectionLost(f"Tradovate closed the session (c frame {code} {reason!r}); reconnecting")
        due = [r for r in self._retry if r[0] <= now]
        if due and self.ready:
            self._retry = [r for r in self._retry if r[0] > now]
            for _, endpoint, body, what, payload in due:
                self._request(endpoint, body, what, payload)

    # ------------------------------------------------------------ requests
    def _request(self, endpoint: str, body: Any, what: str, payload: Any) -> int:
        rid = self._next_id
        self._next_id += 1
        self._pending[rid] = (what, payload, endpoint, body)
        self._send_text(encode_request(endpoint, rid, body), self._now)
        return rid

    def _send_subscriptions(self, subs: List[Subscription], now: float, wall_ns: int) -> None:
        for sub in subs:
            if self._lookup is not None and self.auth.current is not None and sub.symbol not in self._contracts:
                self._look_up(sub)
            else:
                self._send_sub(sub)

    def _look_up(self, sub: Subscription) -> None:
        waiting = self._looking.setdefault(sub.symbol, [])
        waiting.append(sub)
        if len(waiting) > 1 or self._lookup is None or self.auth.current is None:
            return  # a lookup of this symbol is already running
        symbol = sub.symbol

        def found(cid: Any) -> None:
            self.learn_symbols({symbol: cid})
            for s in self._looking.pop(symbol, ()):
                if s in self.desired and self.ready:
                    self._send_sub(s)

        def failed(exc: MdsdkError) -> None:
            for s in self._looking.pop(symbol, ()):
                err = exc if isinstance(exc, SubscriptionError) else SubscriptionError(
                    f"looking up {symbol!r} failed: {exc}", symbol=symbol)
                self.news.extend(self._rejected(s, err, self._wall_ns))

        self.rest.start(self._lookup(self.auth.current, symbol), found, failed)

    def _send_sub(self, sub: Subscription) -> None:
        if sub.kind in ("quote", "summary", "book"):
            if sub.kind == "summary" and Subscription("quote", sub.symbol) in self.desired:
                self._acked(sub)  # one quote subscription serves both
                return
            endpoint = "md/subscribeDOM" if sub.kind == "book" else "md/subscribeQuote"
            self._request(endpoint, {"symbol": sub.symbol}, "sub", sub)
        elif sub.kind == "trade":
            self._tick_symbols.add(sub.symbol)
            self.charts.get(Chart("ticks", sub.symbol, None, sub=sub), {"asMuchAsElements": 1})
        elif sub.kind == "bar":
            self.charts.live_bars(sub, parse_interval(sub.interval or "1m"))

    def _send_unsubscriptions(self, subs: List[Subscription], now: float, wall_ns: int) -> None:
        for sub in subs:
            if sub.kind in ("quote", "summary", "book"):
                other = Subscription("summary" if sub.kind == "quote" else "quote", sub.symbol)
                if sub.kind != "book" and other in self.desired:
                    continue
                endpoint = "md/unsubscribeDOM" if sub.kind == "book" else "md/unsubscribeQuote"
                self._request(endpoint, {"symbol": sub.symbol}, "unsub", sub)
            else:
                self.charts.cancel_sub(sub, self.ready)
                self._tick_symbols.discard(sub.symbol)

    def _forget(self, subs: List[Subscription]) -> None:
        for sub in subs:
            if sub.kind == "bar":
                self.charts.series.pop((sub.symbol, sub.interval or "1m"), None)

    def _start_history(self, request_id: int, request: History, now: float, wall_ns: int) -> None:
        self.charts.start_history(request_id, request, self.ready)

    def _cancel_request(self, request_id: int, now: float, wall_ns: int) -> None:
        self.charts.cancel_history(request_id, self.ready)

    # ------------------------------------------------------------ receiving
    def _receive(self, text: str, now: float, wall_ns: int) -> List[Event]:
        if text.startswith(MD_HEADS) and self.typed_decoding:
            typed = self._typed_md(text, wall_ns)
            if typed is not None:
                return typed
        try:
            kind, payload = parse_frame(text)
        except (ValueError, TypeError, RecursionError) as exc:
            return self._malformed(text, wall_ns, str(exc))
        if kind == "array":
            out: List[Event] = []
            bad, first = 0, ""
            for item in payload:
                try:
                    out.extend(self._item(item, now, wall_ns))
                except _UNDECODABLE as exc:
                    bad, first = bad + 1, first or f"{exc}: {_short(item)}"
            if bad:  # the good items are delivered; the frame is reported once, however many items were bad
                out.extend(self._malformed(text, wall_ns, f"{bad} bad item(s) ({first})"))
            return out
        if kind == "open":
            if self.machine.fire("open"):
                self._pending[0] = ("authorize", None, "authorize", None)
                self._send_text(encode_request("authorize", 0, self._token()), now)
            return []
        if kind == "close":
            self._close = payload
            return [self._status("disconnected", f"Tradovate sent close {payload[0]} {payload[1]!r}", wall_ns)]
        return []  # heartbeat: its arrival already counts as life

    def _token(self) -> str:
        ep = self.auth.current
        return (ep.token if ep is not None else None) or ""

    def _item(self, item: Any, now: float, wall_ns: int) -> List[Event]:
        if not isinstance(item, dict):
            raise ValueError("array item is not an object")
        if "e" in item:
            handler = self._EVENTS.get(item["e"]) if isinstance(item["e"], str) else None
            if handler is None:
                raise ValueError(f"unknown event {_short(item['e'])}")
            return handler(self, item.get("d"), now, wall_ns)
        return self._response(item, now, wall_ns)

    def _response(self, item: Dict[str, Any], now: float, wall_ns: int) -> List[Event]:
        rid, status, d = item.get("i"), item.get("s"), item.get("d")
        pending = self._pending.pop(rid, None) if isinstance(rid, int) else None
        if pending is None:
            return self._stray(rid, status, d, wall_ns)
        what, payload, endpoint, body = pending
        if what == "authorize":
            if status == 200 and not (isinstance(d, dict) and d.get("errorText")):
                self.machine.fire("authorized")
                return self._authorized(now, wall_ns)
            self.machine.fire("refused")
            return self._auth_refused(AuthenticationError(
                f"Tradovate refused the token: {error_text(d) or status}"), wall_ns)
        if status == 200 and isinstance(d, dict) and "p-ticket" in d:
            return self._penalty(d, endpoint, body, what, payload, now, wall_ns)
        if status == 200 and isinstance(d, dict) and d.get("errorText"):
            return self._refused(what, payload, d.get("errorCode"), str(d["errorText"]), wall_ns)
        if status == 401:
            self.machine.fire("refused")
            return self._auth_refused(AuthenticationError(
                f"Tradovate answered 401 to {endpoint}: {error_text(d)}"), wall_ns)
        if status != 200:
            return self._refused(what, payload, status, error_text(d) or f"HTTP {status}", wall_ns)
        if what == "sub":
            self._acked(payload)
        elif what == "chart":
            if payload.sub is not None and payload.mode != "history":
                self._acked(payload.sub)
            return self.charts.opened(payload, d, wall_ns)
        return []

    def _stray(self, rid: Any, status: Any, d: Any, wall_ns: int) -> List[Event]:
        """An answer to nothing we track (a stale id, or a recording): errors are still news."""
        if status == 429:
            return [self._status("error", f"Tradovate rate limit (429) on request {rid}; wait before "
                                          "sending more", wall_ns, code=429)]
        if isinstance(d, dict) and "p-ticket" in d:
            return [self._status("error", f"Tradovate penalty on request {rid}: wait {d.get('p-time')} s"
                                          f"{' (captcha demanded)' if d.get('p-captcha') else ''}",
                                 wall_ns, code="p-ticket")]
        if status != 200 or (isinstance(d, dict) and d.get("errorText")):
            code = d.get("errorCode") if isinstance(d, dict) and d.get("errorCode") else status
            return [self._status("error", f"Tradovate error on request {rid}: {error_text(d)} ({code})",
                                 wall_ns, code=code)]
        return []

    def _authorized(self, now: float, wall_ns: int) -> List[Event]:
        news = self._handshake_done(now, wall_ns)
        for chart in self.charts.history.values():
            self.charts.page(chart)
        return news

    def _penalty(self, d: Dict[str, Any], endpoint: str, body: Any, what: str, payload: Any, now: float,
                 wall_ns: int) -> List[Event]:
        if d.get("p-captcha"):
            return self._refused(what, payload, "p-captcha", "Tradovate demands a captcha (too many "
                                 "requests); log in on the web site and wait about an hour", wall_ns)
        wait = penalty_wait(d.get("p-time"))
        body = dict(body or {}, **{"p-ticket": d["p-ticket"]})
        self._retry.append((now + wait, endpoint, body, what, payload))
        return [self._status("error", f"Tradovate penalty on {endpoint}: retrying in {wait:g} s with the ticket",
                             wall_ns, code="p-ticket")]

    def _refused(self, what: str, payload: Any, code: Any, text: str, wall_ns: int) -> List[Event]:
        if what == "sub":
            err: MdsdkError = subscription_error("Tradovate", payload, code, text)
            if code == 429:
                err = RateLimitedError(f"Tradovate rate-limited the subscription of {payload.symbol!r}: {text}",
                                       provider="tradovate", code=429, server_message=text)
            return self._rejected(payload, err, wall_ns)
        if what == "chart":
            chart: Chart = payload
            if chart.sub is not None and chart.mode != "history":
                return self._rejected(chart.sub, subscription_error("Tradovate", chart.sub, code, text), wall_ns)
            self.charts.failed(chart, code, text)
            return [self._status("error", f"Tradovate rejected a chart of {chart.symbol!r}: {text}", wall_ns,
                                 symbol=chart.symbol, code=code)]
        return [self._status("error", f"Tradovate answered {code}: {text}", wall_ns, code=code)]

    def _typed_md(self, text: str, wall_ns: int) -> Optional[List[Event]]:
        """The events of an ``md`` frame of the typed shape, or None (nothing
        changed) when the tolerant reader must decide: another shape, a DOM it
        cannot read, a crowded contract, an odd timestamp. DOMs come first
        because they can fail; quote merges cannot, once :meth:`QuoteBook.fits`
        said yes."""
        items = decode_md(text)
        if items is None:
            return None
        book = self._quotes
        if len(items) == 1:
            data = items[0].d
            doms = self._doms(data.doms, wall_ns) if data.doms else None
            if (doms is None and data.doms) or not book.fits(data.quotes):
                return None
            out: List[Event] = []
            book.apply_typed(data.quotes, self._names, self._tick_symbols, self.provider, wall_ns, out)
            return out + doms if doms else out
        books = [self._doms(item.d.doms, wall_ns) if item.d.doms else [] for item in items]
        if None in books or not book.fits([q for item in items for q in item.d.quotes]):
            return None
        out = []
        for item, doms in zip(items, books):
            book.apply_typed(item.d.quotes, self._names, self._tick_symbols, self.provider, wall_ns, out)
            out += doms or ()
        return out

    def _doms(self, doms: Any, wall_ns: int) -> Optional[List[Event]]:
        """BookSnapshots of a ``doms`` list as :meth:`_on_md` makes them; None when one fails."""
        try:
            return [book_from_dom(dom, self._name(contract_id(dom.get("contractId"))), self.provider, wall_ns)
                    for dom in doms]
        except Exception:  # noqa: BLE001 - the tolerant reader then reports whatever this is
            return None

    # -- events
    def _on_md(self, d: Any, now: float, wall_ns: int) -> List[Event]:
        out: List[Event] = []
        for quote in d.get("quotes") or ():
            name = self._name(contract_id(quote.get("contractId")))
            out.extend(self._quotes.apply(quote, name, self.provider, wall_ns,
                                          with_trades=name not in self._tick_symbols))
        for dom in d.get("doms") or ():
            out.append(book_from_dom(dom, self._name(contract_id(dom.get("contractId"))), self.provider, wall_ns))
        return out

    def _on_chart(self, d: Any, now: float, wall_ns: int) -> List[Event]:
        waiting = any(p[0] == "chart" for p in self._pending.values())
        idle = self.machine.state is State.IDLE
        out: List[Event] = []
        for packet in d.get("charts") or ():
            out.extend(self.charts.packet(packet, wall_ns, waiting, idle))
        return out

    def _on_shutdown(self, d: Any, now: float, wall_ns: int) -> List[Event]:
        reason = d.get("reasonCode", "unknown") if isinstance(d, dict) else d
        if reason in _QUOTA_CODES:
            text = str(d.get("reason") or reason) if isinstance(d, dict) else str(reason)
            cls = TakeoverError if reason == "ConnectionQuotaReached" else ProviderError
            err = cls(f"Tradovate closed this connection ({reason}: {text}); another session holds the "
                      "connection quota, so mdsdk stops instead of fighting for it", provider=self.provider,
                      code=reason, server_message=text)
            self.machine.fire("taken_over")
            self.signals.append(Fatal(err))
            return [self._status("error", str(err), wall_ns, code=reason)]
        return [self._status("error", f"Tradovate is shutting this connection down ({reason}); "
                                      "mdsdk will reconnect", wall_ns, code=reason)]

    def _ignore(self, d: Any, now: float, wall_ns: int) -> List[Event]:
        return []

    _EVENTS = {"md": _on_md, "chart": _on_chart, "shutdown": _on_shutdown, "props": _ignore, "clock": _ignore}


def _short(item: Any) -> str:
    try:
        return json.dumps(item)[:120]
    except (TypeError, ValueError, RecursionError):
        return repr(type(item))

