"""Tradovate charts: live bars, live ticks and paged history over
``md/getChart`` (protocols/tradovate.md sections 6-7).

A chart answer names a ``historicalId`` and a ``realtimeId``; packets for
either id are accepted, also before the answer arrives (they are held until
it does); ``eoh`` ends the history part. Bars are upserted by timestamp; a
live bar is complete once a newer one starts. Long history is paged with
``closestTimestamp``. Pure: the protocol object owns the socket side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Set, Tuple

from ...errors import MdsdkError, ProviderError, RateLimitedError
from ...events import Bar, Event
from ...intervals import Interval
from ..base import History, HistoryResult, Subscription
from .codec import bar_from_packet, bar_series, bar_start, chart_description, ns_to_iso, ticks_from_packet

__all__ = ["Chart", "Charts", "LIVE_BARS"]

LIVE_BARS = 3  # bars asked for when a live bar chart starts fresh
_SEEN_TICKS = 50_000


@dataclass
class Chart:
    """One md/getChart: live bars, live ticks, or (a page of) history."""

    mode: str                       # "bars" | "ticks" | "history"
    symbol: str
    interval: Optional[Interval]
    sub: Optional[Subscription] = None
    request: Optional[Tuple[int, History]] = None
    ids: Set[int] = field(default_factory=set)
    realtime_id: Optional[int] = None
    eoh: bool = False
    bars: Dict[int, Any] = field(default_factory=dict)   # bar start ns -> (raw bar, td) (history)
    live: Optional[Bar] = None
    closest_ns: Optional[int] = None                     # paging bound for history
    seen_ticks: Set[Any] = field(default_factory=set)
    pages: int = 0


# send(endpoint, body, what, payload) -> request id
Sender = Callable[[str, Any, str, Any], int]


class Charts:
    """Every chart of one protocol object: ``send`` puts a request on the
    socket; ``reply`` answers the caller of a history request."""

    def __init__(self, provider: str, send: Sender, reply: Callable[..., None], page_limit: int = 20) -> None:
        self.provider = provider
        self._send = send
        self._reply = reply
        self.page_limit = page_limit
        self.series: Dict[Tuple[str, str], Chart] = {}    # live bar charts by (symbol, interval)
        self.history: Dict[int, Chart] = {}                # by request id
        self.replayed: List[Chart] = []                    # getChart requests seen in a recording
        self.reset_socket()

    def reset_socket(self) -> None:
        """A new socket: no chart ids are valid any more."""
        self.by_id: Dict[int, Chart] = {}
        self.orphans: Dict[int, List[Any]] = {}
        for chart in self.history.values():
            chart.ids.clear()
            chart.eoh = False

    # ------------------------------------------------------------ requests
    def get(self, chart: Chart, time_range: Dict[str, Any]) -> None:
        """Send md/getChart for ``chart``."""
        chart.ids.clear()
        chart.eoh = False
        body = {"symbol": chart.symbol, "chartDescription": chart_description(chart.interval),
                "timeRange": time_range}
        self._send("md/getChart", body, "chart", chart)

    def live_bars(self, sub: Subscription, interval: Interval) -> None:
        """Start (or restart after a reconnect) the live bar chart of ``sub``:
        from the last bar we had, so the gap is fetched again and deduplicated."""
        key = (sub.symbol, sub.interval or "1m")
        chart = self.series.get(key)
        if chart is None:
            chart = self.series[key] = Chart("bars", sub.symbol, interval, sub=sub)
        if chart.live is not None:
            self.get(chart, {"asFarAsTimestamp": ns_to_iso(chart.live.time)})
        else:
            self.get(chart, {"asMuchAsElements": LIVE_BARS})

    def cancel(self, chart: Chart, ready: bool) -> None:
        """Stop ``chart`` (md/cancelChart with its realtime id)."""
        for sid in list(chart.ids):
            self.by_id.pop(sid, None)
        if chart.realtime_id is not None and ready:
            self._send("md/cancelChart", {"subscriptionId": chart.realtime_id}, "cancel", None)
        chart.ids.clear()

    def cancel_sub(self, sub: Subscription, ready: bool) -> None:
        """Stop every chart serving ``sub``."""
        for chart in {id(c): c for c in self.by_id.values() if c.sub == sub}.values():
            self.cancel(chart, ready)
        if sub.kind == "bar":
            self.series.pop((sub.symbol, sub.interval or "1m"), None)

    # ------------------------------------------------------------ history
    def start_history(self, request_id: int, request: History, ready: bool) -> None:
        """Start paging history for ``request``."""
        try:
            chart_description(request.interval)
        except MdsdkError as exc:
            self._reply(request_id, error=exc)
            return
        chart = Chart("history", request.symbol, request.interval, request=(request_id, request))
        chart.closest_ns = request.end_ns
        self.history[request_id] = chart
        if ready:
            self.page(chart)

    def page(self, chart: Chart) -> None:
        """Ask for the page of history ending at the chart's paging bound."""
        assert chart.request is not None
        req = chart.request[1]
        self.get(chart, {"closestTimestamp": ns_to_iso(chart.closest_ns or req.end_ns),
                         "asFarAsTimestamp": ns_to_iso(req.start_ns)})

    def cancel_history(self, request_id: int, ready: bool) -> None:
        """Abandon a history request."""
        chart = self.history.pop(request_id, None)
        if chart is not None:
            self.cancel(chart, ready)

    def _eoh(self, chart: Chart, wall_ns: int) -> None:
        assert chart.request is not None
        rid, req = chart.request
        self.cancel(chart, True)
        oldest = min(chart.bars) if chart.bars else None
        span = req.interval.seconds * 1_000_000_000
        # The server caps bars per answer: while a bar could still fit between
        # start and the oldest one received, ask for the page before it.
        more = oldest is not None and oldest - span >= req.start_ns
        if (oldest is not None and more and chart.pages < self.page_limit
                and (chart.closest_ns is None or oldest < chart.closest_ns)):
            chart.closest_ns = oldest
            chart.pages += 1
            self.page(chart)
            return
        del self.history[rid]
        starts = [t for t in sorted(chart.bars) if req.start_ns <= t < req.end_ns]
        bars = bar_series([chart.bars[t] for t in starts], req.symbol, str(req.interval), self.provider,
                          [t + span <= wall_ns for t in starts])
        self._reply(rid, HistoryResult(bars, truncated=more))

    def failed(self, chart: Chart, code: Any, text: str) -> None:
        """A chart request was refused: its history caller gets the error."""
        if chart.request is not None:
            self.history.pop(chart.request[0], None)
            cls = RateLimitedError if code == 429 else ProviderError
            self._reply(chart.request[0], error=cls(f"Tradovate refused history of {chart.symbol!r}: {text}",
                                                    provider=self.provider, code=code, server_message=text))

    # ------------------------------------------------------------ packets
    def opened(self, chart: Chart, d: Any, wall_ns: int) -> List[Event]:
        """The getChart answer: learn the chart's ids, then play held packets."""
        d = d if isinstance(d, dict) else {}
        ids = [d.get(k) for k in ("historicalId", "realtimeId", "subscriptionId")]
        chart.ids = {i for i in ids if isinstance(i, int) and not isinstance(i, bool)}
        rt = next((i for i in ids[1:] + ids[:1] if isinstance(i, int)), None)
        chart.realtime_id = rt
        for sid in chart.ids:
            self.by_id[sid] = chart
        out: List[Event] = []
        for sid in list(chart.ids):
            for packet in self.orphans.pop(sid, ()):
                out.extend(self.packet(packet, wall_ns, waiting=False))
        return out

    def packet(self, packet: Any, wall_ns: int, waiting: bool, idle: bool = False) -> List[Event]:
        """One chart packet; ``waiting`` says a getChart answer is outstanding
        (so an unknown id is held rather than dropped)."""
        if not isinstance(packet, dict):
            raise ValueError("chart packet is not an object")
        sid = packet.get("id")
        chart = self.by_id.get(sid) if isinstance(sid, int) else None
        if chart is None and idle and self.replayed:
            chart = self.replayed[-1]  # a recording whose ids do not line up
        if chart is None:
            if isinstance(sid, int) and waiting and len(self.orphans) < 64:
                self.orphans.setdefault(sid, []).append(packet)
            return []
        if packet.get("eoh"):
            chart.eoh = True
            if chart.mode == "history":
                self._eoh(chart, wall_ns)
            return []
        if chart.mode == "ticks":
            return self._ticks(chart, packet) if chart.eoh else []
        if chart.mode == "history":
            for raw in packet.get("bars") or ():
                start = bar_start(raw)
                if start:  # a bar without a readable timestamp has no place in the series
                    chart.bars[start] = (raw, packet.get("td"))
            return []
        return self._live(chart, packet.get("bars") or (), packet.get("td"))

    def _ticks(self, chart: Chart, packet: Dict[str, Any]) -> List[Event]:
        fresh: List[Event] = []
        for trade in ticks_from_packet(packet, chart.symbol, self.provider):
            tid = trade.extra.get("tick_id")
            if tid is not None and tid in chart.seen_ticks:
                continue
            if tid is not None:
                chart.seen_ticks.add(tid)
            fresh.append(trade)
        if len(chart.seen_ticks) > _SEEN_TICKS:
            chart.seen_ticks = set(sorted(chart.seen_ticks, key=str)[-10_000:])
        return fresh

    def _live(self, chart: Chart, raws: Iterable[Any], td: Any) -> List[Event]:
        out: List[Event] = []
        interval = str(chart.interval)
        for raw in sorted(raws, key=lambda b: str(b.get("timestamp"))):
            bar = bar_from_packet(raw, chart.symbol, interval, self.provider, td, complete=False)
            live = chart.live
            if not bar.time or (live is not None and bar.time < live.time):
                continue  # already delivered before the gap
            if live is not None and bar.time > live.time:
                out.append(_completed(live))
            chart.live = bar
            out.append(bar)
        return out


def _completed(bar: Bar) -> Bar:
    return Bar(bar.symbol, bar.time, bar.provider, interval=bar.interval, open=bar.open, high=bar.high,
               low=bar.low, close=bar.close, volume=bar.volume, complete=True, extra=bar.extra)
