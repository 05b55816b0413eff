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
* Pushes name contracts only by ``contractId``: names are learned from REST
  lookups (:meth:`learn_symbols`); an unknown id is shown as its number.
* Quotes arrive as partial ``entries`` merged into per-contract state.
* Charts answer ``{historicalId, realtimeId}``; packets for either id are
  accepted (also before the answer: they are held until it comes); ``eoh``
  ends the history. Bars are upserted by timestamp; a live bar is complete
  once a newer one starts. Long history is paged with ``closestTimestamp``.
* Nothing survives a reconnect: after ``authorize`` every quote, DOM and
  chart subscription is sent again; live bar charts restart from the last bar
  received, so bars missed in the gap are fetched again and deduplicated.

Socket states: IDLE -> WAIT_OPEN -(o)-> AUTHORIZING -(s:200 i:0)-> READY;
AUTHORIZING -(401)-> FAILED (AuthRejected); READY -(401 on a request)-> FAILED (AuthExpired).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Set, Tuple

from ...errors import (AuthenticationError, ConnectionLost, MdsdkError, ProviderError, RateLimitedError,
                       SubscriptionError)
from ...events import Bar, Event
from ...intervals import Interval, parse_interval
from ..base import (AuthExpired, AuthRejected, HistoryDone, HistoryFailed, HistoryRequest, ProviderProtocol,
                    Ready, Subscription, SubscriptionAcked, SubscriptionRejected)
from .codec import (HEARTBEAT, QuoteBook, bar_from_packet, book_from_dom, chart_description, encode_request,
                    error_text, ns_to_iso, parse_frame, ticks_from_packet)

__all__ = ["TradovateProtocol", "HEARTBEAT_INTERVAL"]

HEARTBEAT_INTERVAL = 2.5
_LIVE_BARS = 3  # bars asked for when a live bar chart starts fresh


@dataclass
class _Chart:
    """One md/getChart: live bars, live ticks, or (a page of) history."""

    mode: str                       # "bars" | "ticks" | "history"
    symbol: str
    interval: Optional[Interval]
    sub: Optional[Subscription] = None
    request: Optional[HistoryRequest] = None
    ids: Set[int] = field(default_factory=set)
    realtime_id: Optional[int] = None
    eoh: bool = False
    bars: Dict[int, Any] = field(default_factory=dict)   # bar start ns -> raw bar (history)
    live: Optional[Bar] = None
    since_ns: int = 0                                    # bars from here on are news
    closest_ns: Optional[int] = None                      # paging bound for history
    seen_ticks: Set[Any] = field(default_factory=set)
    pages: int = 0


class TradovateProtocol(ProviderProtocol):
    """Sans-I/O Tradovate MD client; see the module docstring for its rules."""

    def __init__(self, token: Optional[str] = None, *, provider: str = "tradovate",
                 heartbeat_interval: float = HEARTBEAT_INTERVAL, server_timeout: float = 10.0,
                 handshake_timeout: float = 10.0, page_limit: int = 20) -> None:
        super().__init__()
        self.provider = provider
        self.token = token
        self.heartbeat_interval = heartbeat_interval
        self.server_timeout = server_timeout
        self.handshake_timeout = handshake_timeout
        self.page_limit = page_limit
        self._desired: Dict[Subscription, None] = {}
        self._contracts: Dict[str, int] = {}
        self._names: Dict[int, str] = {}
        self._series: Dict[Tuple[str, str], _Chart] = {}     # live bar charts by (symbol, interval)
        self._history: Dict[int, _Chart] = {}                 # by request id
        self._replayed_charts: List[_Chart] = []              # getChart requests seen in a recording
        self._connections = 0
        self._reset_socket()

    # ------------------------------------------------------------ lifecycle
    def _reset_socket(self) -> None:
        self.state = "IDLE"
        self._next_id = 1
        self._pending: Dict[int, Tuple[str, Any]] = {}
        self._charts: Dict[int, _Chart] = {}           # subscription id -> chart
        self._orphans: Dict[int, List[Any]] = {}       # packets that beat their getChart answer
        self._quotes = QuoteBook()
        self._tick_symbols: Set[str] = set()
        self._last_recv = self._last_beat = self._hs_deadline = 0.0
        self._close: Optional[Tuple[Any, str]] = None
        self._retry: List[Tuple[float, str, int, Dict[str, Any], Tuple[str, Any]]] = []

    def connection_made(self, now: float) -> None:
        self._reset_socket()
        self._connections += 1
        self.state = "WAIT_OPEN"
        self._last_recv = self._last_beat = now
        self._hs_deadline = now + self.handshake_timeout

    def connection_lost(self) -> None:
        for chart in self._history.values():
            chart.ids.clear()
            chart.eoh = False
        self._reset_socket()

    @property
    def ready(self) -> bool:
        return self.state == "READY"

    def learn_symbols(self, contracts: Mapping[str, Any]) -> None:
        for name, cid in contracts.items():
            self._contracts[name] = int(cid)
            self._names[int(cid)] = name

    def replay_sent(self, text: str, now: float) -> None:
        parts = text.split("\n", 3)
        if len(parts) == 4 and parts[0].lower() == "md/getchart":
            try:
                body = json.loads(parts[3])
                desc = body.get("chartDescription") or {}
                size = int(desc.get("elementSize") or 1)
                kind = desc.get("underlyingType")
                interval = None if kind == "Tick" else parse_interval("1d" if kind == "DailyBar" else f"{size}m")
                self._replayed_charts.append(_Chart("bars" if interval else "ticks", str(body.get("symbol")),
                                                    interval, eoh=True))
            except (ValueError, TypeError, AttributeError):
                return

    def _name(self, cid: Any) -> str:
        return self._names.get(cid) or str(cid)

    # ------------------------------------------------------------ timers
    def next_deadline(self) -> Optional[float]:
        if self.state == "IDLE":
            return None
        if self._close is not None:
            return 0.0
        deadline = min(self._last_beat + self.heartbeat_interval, self._last_recv + self.server_timeout)
        if self.state != "READY":
            deadline = min(deadline, self._hs_deadline)
        if self._retry:
            deadline = min(deadline, min(r[0] for r in self._retry))
        return deadline

    def handle_timer(self, now: float) -> None:
        if self.state == "IDLE":
            return
        if self._close is not None:
            code, reason = self._close
            raise ConnectionLost(f"Tradovate closed the session (c frame {code} {reason!r}); reconnecting")
        if self.state not in ("READY", "FAILED") and now >= self._hs_deadline:
            raise ConnectionLost(f"Tradovate handshake did not finish within {self.handshake_timeout:g} s "
                                 f"(stuck in {self.state})")
        if now >= self._last_recv + self.server_timeout:
            raise ConnectionLost(f"no frame from Tradovate for {now - self._last_recv:.1f} s "
                                 f"(limit {self.server_timeout:g} s); reconnecting")
        if now >= self._last_beat + self.heartbeat_interval:
            self._out.append(HEARTBEAT)
            self._last_beat = now
        due = [r for r in self._retry if r[0] <= now]
        if due and self.state == "READY":
            self._retry = [r for r in self._retry if r[0] > now]
            for _, endpoint, _, body, pending in due:
                self._request(endpoint, body, pending)

    # ------------------------------------------------------------ requests
    def _request(self, endpoint: str, body: Any, pending: Tuple[str, Any]) -> int:
        rid = self._next_id
        self._next_id += 1
        self._pending[rid] = (pending[0], (pending[1], endpoint, body))
        self._out.append(encode_request(endpoint, rid, body))
        return rid

    def _md_endpoints(self, kind: str) -> Tuple[str, str]:
        return ("md/subscribeDOM", "md/unsubscribeDOM") if kind == "book" else \
            ("md/subscribeQuote", "md/unsubscribeQuote")

    def _send_sub(self, sub: Subscription) -> None:
        if sub.kind in ("quote", "summary", "book"):
            if sub.kind == "summary" and Subscription("quote", sub.symbol) in self._desired:
                self.signals.append(SubscriptionAcked(sub))  # one quote subscription serves both
                return
            self._request(self._md_endpoints(sub.kind)[0], {"symbol": sub.symbol}, ("sub", sub))
        elif sub.kind == "trade":
            chart = _Chart("ticks", sub.symbol, None, sub=sub)
            self._tick_symbols.add(sub.symbol)
            self._get_chart(chart, {"asMuchAsElements": 1})
        elif sub.kind == "bar":
            key = (sub.symbol, sub.interval or "1m")
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = _Chart("bars", sub.symbol, parse_interval(sub.interval or "1m"), sub=sub)
            chart = series
            chart.ids.clear()
            chart.eoh = False
            if chart.live is not None:
                # resume from the last bar we had: the gap is fetched again, duplicates skipped
                self._get_chart(chart, {"asFarAsTimestamp": ns_to_iso(chart.live.time)})
            else:
                self._get_chart(chart, {"asMuchAsElements": _LIVE_BARS})

    def _get_chart(self, chart: _Chart, time_range: Dict[str, Any]) -> None:
        body = {"symbol": chart.symbol, "chartDescription": chart_description(chart.interval),
                "timeRange": time_range}
        self._request("md/getChart", body, ("chart", chart))

    def subscribe(self, subs: Iterable[Subscription], now: float) -> None:
        for sub in subs:
            if sub in self._desired:
                continue
            self._desired[sub] = None
            if self.ready:
                self._send_sub(sub)

    def unsubscribe(self, subs: Iterable[Subscription], now: float) -> None:
        for sub in subs:
            if sub not in self._desired:
                continue
            del self._desired[sub]
            if not self.ready:
                if sub.kind == "bar":
                    self._series.pop((sub.symbol, sub.interval or "1m"), None)
                continue
            if sub.kind in ("quote", "summary", "book"):
                other = Subscription("summary" if sub.kind == "quote" else "quote", sub.symbol)
                if sub.kind != "book" and other in self._desired:
                    continue
                self._request(self._md_endpoints(sub.kind)[1], {"symbol": sub.symbol}, ("unsub", sub))
            else:
                for chart in {id(c): c for c in self._charts.values() if c.sub == sub}.values():
                    self._cancel_chart(chart)
                if sub.kind == "bar":
                    self._series.pop((sub.symbol, sub.interval or "1m"), None)
                else:
                    self._tick_symbols.discard(sub.symbol)

    def _cancel_chart(self, chart: _Chart) -> None:
        for sid in list(chart.ids):
            self._charts.pop(sid, None)
        if chart.realtime_id is not None and self.ready:
            self._request("md/cancelChart", {"subscriptionId": chart.realtime_id}, ("cancel", None))
        chart.ids.clear()

    @property
    def subscriptions(self) -> Tuple[Subscription, ...]:
        """The desired subscriptions, replayed after every reconnect."""
        return tuple(self._desired)

    # ------------------------------------------------------------ history
    def request_history(self, request: HistoryRequest, now: float) -> None:
        try:
            chart_description(request.interval)
        except MdsdkError as exc:
            self.signals.append(HistoryFailed(request.id, exc))
            return
        chart = _Chart("history", request.symbol, request.interval, request=request)
        chart.closest_ns = request.end_ns
        self._history[request.id] = chart
        if self.ready:
            self._history_page(chart)

    def _history_page(self, chart: _Chart) -> None:
        assert chart.request is not None
        chart.eoh = False
        chart.ids.clear()
        self._get_chart(chart, {"closestTimestamp": ns_to_iso(chart.closest_ns or chart.request.end_ns),
                                "asFarAsTimestamp": ns_to_iso(chart.request.start_ns)})

    def cancel_history(self, request_id: int, now: float) -> None:
        chart = self._history.pop(request_id, None)
        if chart is not None:
            self._cancel_chart(chart)

    def _history_eoh(self, chart: _Chart, received_ns: int) -> None:
        req = chart.request
        assert req is not None
        self._cancel_chart(chart)
        oldest = min(chart.bars) if chart.bars else None
        span = req.interval.seconds * 1_000_000_000
        # The server caps bars per answer: while a bar could still fit between
        # start and the oldest one received, ask for the page before it.
        if (oldest is not None and oldest - span >= req.start_ns and chart.pages < self.page_limit
                and (chart.closest_ns is None or oldest < chart.closest_ns)):
            chart.closest_ns = oldest
            chart.pages += 1
            self._history_page(chart)
            return
        del self._history[req.id]
        bars = []
        for t in sorted(chart.bars):
            if req.start_ns <= t < req.end_ns:
                raw, td = chart.bars[t]
                bars.append(bar_from_packet(raw, req.symbol, str(req.interval), self.provider, td,
                                            complete=t + span <= received_ns))
        truncated = oldest is not None and oldest - span >= req.start_ns
        self.signals.append(HistoryDone(req.id, tuple(bars), truncated=truncated))

    # ------------------------------------------------------------ receiving
    def receive(self, text: str, now: float, received_ns: int) -> List[Event]:
        self._last_recv = now
        try:
            kind, payload = parse_frame(text)
        except (ValueError, TypeError) as exc:
            return self._malformed(text, received_ns, str(exc))
        if kind == "array":
            out: List[Event] = []
            for item in payload:
                try:
                    out.extend(self._item(item, now, received_ns))
                except (TypeError, ValueError, KeyError, AttributeError) as exc:
                    out.extend(self._malformed(json.dumps(item)[:200], received_ns, f"bad item ({exc})"))
            return out
        if kind == "open":
            if self.state == "WAIT_OPEN":
                self.state = "AUTHORIZING"
                self._pending[0] = ("authorize", None)
                self._out.append(encode_request("authorize", 0, self.token or ""))
            return []
        if kind == "close":
            self._close = payload
            return [self._status("disconnected", f"Tradovate sent close {payload[0]} {payload[1]!r}", received_ns)]
        return []  # heartbeat: its arrival already counts as life

    def _malformed(self, text: str, received_ns: int, why: str) -> List[Event]:
        self.malformed += 1
        shown = text if len(text) <= 120 else text[:117] + "..."
        return [self._status("error", f"skipped a malformed frame from Tradovate: {why}: {shown!r}",
                             received_ns, malformed=self.malformed)]

    def _item(self, item: Any, now: float, received_ns: int) -> List[Event]:
        if not isinstance(item, dict):
            raise ValueError("array item is not an object")
        if "e" in item:
            handler = self._EVENTS.get(item["e"])
            if handler is None:
                return self._malformed(json.dumps(item)[:200], received_ns, f"unknown event {item['e']!r}")
            return handler(self, item.get("d"), now, received_ns)
        return self._response(item, now, received_ns)

    # -- responses
    def _response(self, item: Dict[str, Any], now: float, received_ns: int) -> List[Event]:
        rid, status, d = item.get("i"), item.get("s"), item.get("d")
        pending = self._pending.pop(rid, None) if isinstance(rid, int) else None
        if pending is None:
            # An answer to nothing we track (a stale id, or a recording): errors are still news.
            if status == 429:
                return [self._status("error", f"Tradovate rate limit (429) on request {rid}; wait before "
                                              "sending more", received_ns, code=429)]
            if isinstance(d, dict) and "p-ticket" in d:
                return [self._status("error", f"Tradovate penalty on request {rid}: wait {d.get('p-time')} s"
                                              f"{' (captcha demanded)' if d.get('p-captcha') else ''}",
                                     received_ns, code="p-ticket")]
            if status != 200 or (isinstance(d, dict) and d.get("errorText")):
                code = d.get("errorCode") if isinstance(d, dict) and d.get("errorCode") else status
                return [self._status("error", f"Tradovate error on request {rid}: {error_text(d)} ({code})",
                                     received_ns, code=code)]
            return []
        what, ctx = pending
        if what == "authorize":
            if status == 200 and not (isinstance(d, dict) and d.get("errorText")):
                return self._authorized(now, received_ns)
            err = AuthenticationError(f"Tradovate refused the token: {error_text(d) or status}")
            self.state = "FAILED"
            self.signals.append(AuthRejected(err))
            return [self._status("error", str(err), received_ns)]
        payload, endpoint, body = ctx
        if status == 200 and isinstance(d, dict) and "p-ticket" in d:
            return self._penalty(d, endpoint, body, (what, payload), now, received_ns)
        if status == 200 and isinstance(d, dict) and d.get("errorText"):
            return self._rejected(what, payload, d.get("errorCode"), str(d["errorText"]), received_ns)
        if status == 401:
            err = AuthenticationError(f"Tradovate answered 401 to {endpoint}: {error_text(d)}")
            self.state = "FAILED"
            self.signals.append(AuthExpired(err))
            return [self._status("error", str(err), received_ns)]
        if status != 200:
            return self._rejected(what, payload, status, error_text(d) or f"HTTP {status}", received_ns)
        if what == "sub":
            self.signals.append(SubscriptionAcked(payload))
        elif what == "chart":
            return self._chart_opened(payload, d, now, received_ns)
        return []

    def _authorized(self, now: float, received_ns: int) -> List[Event]:
        self.state = "READY"
        self.signals.append(Ready())
        for sub in self._desired:
            self._send_sub(sub)
        for chart in self._history.values():
            self._history_page(chart)
        if self._connections > 1 and self._desired:
            return [self._status("resubscribed", f"restored {len(self._desired)} subscriptions after reconnect",
                                 received_ns, count=len(self._desired))]
        return []

    def _penalty(self, d: Dict[str, Any], endpoint: str, body: Any, pending: Tuple[str, Any], now: float,
                 received_ns: int) -> List[Event]:
        if d.get("p-captcha"):
            return self._rejected(pending[0], pending[1], "p-captcha", "Tradovate demands a captcha (too many "
                                  "requests); log in on the web site and wait about an hour", received_ns)
        wait = float(d.get("p-time") or 1)
        body = dict(body or {}, **{"p-ticket": d["p-ticket"]})
        self._retry.append((now + wait, endpoint, 0, body, pending))
        return [self._status("error", f"Tradovate penalty on {endpoint}: retrying in {wait:g} s with the ticket",
                             received_ns, code="p-ticket")]

    def _rejected(self, what: str, payload: Any, code: Any, text: str, received_ns: int) -> List[Event]:
        if what == "sub":
            sub = payload
            self._desired.pop(sub, None)
            err: MdsdkError = SubscriptionError(
                f"Tradovate rejected {sub.kind} for {sub.symbol!r}: {text} ({code})", symbol=sub.symbol,
                code=code, text=text)
            if code == 429:
                err = RateLimitedError(f"Tradovate rate-limited the subscription of {sub.symbol!r}: {text}",
                                       provider="tradovate", code=429, server_message=text)
            self.signals.append(SubscriptionRejected(sub, err))
            return [self._status("error", str(err), received_ns, symbol=sub.symbol, code=code)]
        if what == "chart":
            chart = payload
            if chart.request is not None:
                self._history.pop(chart.request.id, None)
                cls = RateLimitedError if code == 429 else ProviderError
                self.signals.append(HistoryFailed(chart.request.id, cls(
                    f"Tradovate refused history of {chart.symbol!r}: {text}", provider="tradovate", code=code,
                    server_message=text)))
            elif chart.sub is not None:
                self._desired.pop(chart.sub, None)
                err = SubscriptionError(f"Tradovate rejected the chart of {chart.symbol!r}: {text} ({code})",
                                        symbol=chart.symbol, code=code, text=text)
                self.signals.append(SubscriptionRejected(chart.sub, err))
            return [self._status("error", f"Tradovate rejected a chart of {chart.symbol!r}: {text}", received_ns,
                                 symbol=chart.symbol, code=code)]
        return [self._status("error", f"Tradovate answered {code}: {text}", received_ns, code=code)]

    def _chart_opened(self, chart: _Chart, d: Any, now: float, received_ns: int) -> List[Event]:
        d = d if isinstance(d, dict) else {}
        ids = [d.get("historicalId"), d.get("realtimeId"), d.get("subscriptionId")]
        chart.ids = {i for i in ids if isinstance(i, int)}
        chart.realtime_id = d.get("realtimeId") if isinstance(d.get("realtimeId"), int) else \
            d.get("subscriptionId") if isinstance(d.get("subscriptionId"), int) else d.get("historicalId")
        for sid in chart.ids:
            self._charts[sid] = chart
        if chart.sub is not None and chart.mode != "history":
            self.signals.append(SubscriptionAcked(chart.sub))
        out: List[Event] = []
        for sid in list(chart.ids):
            for packet in self._orphans.pop(sid, ()):
                out.extend(self._chart_packet(packet, now, received_ns))
        return out

    # -- events
    def _on_md(self, d: Any, now: float, received_ns: int) -> List[Event]:
        out: List[Event] = []
        for quote in d.get("quotes") or ():
            name = self._name(quote.get("contractId"))
            out.extend(self._quotes.apply(quote, name, self.provider, received_ns,
                                          with_trades=name not in self._tick_symbols))
        for dom in d.get("doms") or ():
            out.append(book_from_dom(dom, self._name(dom.get("contractId")), self.provider, received_ns))
        return out

    def _on_chart(self, d: Any, now: float, received_ns: int) -> List[Event]:
        out: List[Event] = []
        for packet in d.get("charts") or ():
            out.extend(self._chart_packet(packet, now, received_ns))
        return out

    def _chart_packet(self, packet: Dict[str, Any], now: float, received_ns: int) -> List[Event]:
        sid = packet.get("id")
        chart = self._charts.get(sid) if isinstance(sid, int) else None
        if chart is None and self.state == "IDLE" and self._replayed_charts:
            # A recording whose ids do not line up: the packet belongs to the chart it asked for.
            chart = self._replayed_charts[-1]
        if chart is None:
            if isinstance(sid, int) and any(p[0] == "chart" for p in self._pending.values()):
                self._orphans.setdefault(sid, []).append(packet)
            return []
        if packet.get("eoh"):
            chart.eoh = True
            if chart.mode == "history":
                self._history_eoh(chart, received_ns)
            return []
        if chart.mode == "ticks":
            if not chart.eoh:
                return []
            fresh: List[Event] = []
            for trade in ticks_from_packet(packet, chart.symbol, self.provider):
                tid = trade.extra.get("tick_id")
                if tid is not None and tid in chart.seen_ticks:
                    continue
                if tid is not None:
                    chart.seen_ticks.add(tid)
                fresh.append(trade)
            if len(chart.seen_ticks) > 50_000:
                chart.seen_ticks = set(sorted(chart.seen_ticks, key=str)[-10_000:])
            return fresh
        td = packet.get("td")
        if chart.mode == "history":
            for raw in packet.get("bars") or ():
                chart.bars[bar_from_packet(raw, "", "", "", None, True).time] = (raw, td)
            return []
        return self._live_bars(chart, packet.get("bars") or (), td)

    def _live_bars(self, chart: _Chart, raws: Iterable[Any], td: Any) -> List[Event]:
        out: List[Event] = []
        interval = str(chart.interval)
        for raw in sorted(raws, key=lambda b: str(b.get("timestamp"))):
            bar = bar_from_packet(raw, chart.symbol, interval, self.provider, td, complete=False)
            live = chart.live
            if live is not None and bar.time < live.time:
                continue  # already delivered before the gap
            if live is not None and bar.time > live.time:
                out.append(_completed(live))
            chart.live = bar
            out.append(bar)
        return out

    def _on_shutdown(self, d: Any, now: float, received_ns: int) -> List[Event]:
        reason = (d or {}).get("reasonCode", "unknown") if isinstance(d, dict) else d
        return [self._status("error", f"Tradovate is shutting this connection down ({reason}); "
                                      "mdsdk will reconnect", received_ns, code=reason)]

    def _ignore(self, d: Any, now: float, received_ns: int) -> List[Event]:
        return []

    _EVENTS = {"md": _on_md, "chart": _on_chart, "shutdown": _on_shutdown, "props": _ignore, "clock": _ignore}


def _completed(bar: Bar) -> Bar:
    return Bar(bar.symbol, bar.time, bar.provider, interval=bar.interval, open=bar.open, high=bar.high,
               low=bar.low, close=bar.close, volume=bar.volume, complete=True, extra=bar.extra)

