"""One Tradovate MD client connection: the protocol handling of the
Tradovate emulator (tradovate.md section 13), on the shared session loop."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Set, Tuple

from websockets.sync.server import ServerConnection

from ._base import Farewell, SessionBase
from ._tradovate_data import Chart, parse_iso, trade_date

if TYPE_CHECKING:
    from .tradovate_emulator import TradovateEmulator

__all__ = ["TradovateSession", "shutdown_frame", "TAKEOVER_REASON"]

TAKEOVER_REASON = "Another session was opened with the same credentials"
HEARTBEAT = 2.5  # the server sends "h" after this long without sending anything


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def shutdown_frame(reason_code: str, reason: Optional[str] = None) -> str:
    """The ``a`` frame of a ``shutdown`` event (tradovate.md section 4)."""
    d: Dict[str, Any] = {"reasonCode": reason_code}
    if reason is not None:
        d["reason"] = reason
    return "a" + _dumps([{"e": "shutdown", "d": d}])


class TradovateSession(SessionBase["TradovateEmulator"]):
    """Runs on the websockets handler thread of one client connection."""

    def __init__(self, emu: "TradovateEmulator", ws: ServerConnection) -> None:
        super().__init__(emu, ws)
        self.last_tick = 0.0
        self.quotes: Set[int] = set()
        self.doms: Set[int] = set()
        self.charts: Dict[int, Chart] = {}
        self.outbox: List[Any] = []

    # -- sending
    def queue(self, item: Any) -> None:
        """Queue one response or event for the next ``a`` frame."""
        self.outbox.append(item)

    def flush(self) -> None:
        """Send queued items, ``items_per_frame`` per ``a`` frame."""
        per = max(1, self.emu.items_per_frame)
        items, self.outbox = self.outbox, []
        for i in range(0, len(items), per):
            self.send_text("a" + _dumps(items[i:i + per]))

    # -- hooks of the shared loop
    def greet(self) -> None:
        self.send_text("o")

    def close_frames(self, code: int, reason: str) -> Sequence[str]:
        return ("c" + json.dumps([code, reason]),)

    def takeover_farewell(self) -> Farewell:
        frames = (shutdown_frame("ConnectionQuotaReached", TAKEOVER_REASON), "c" + _dumps([3000, TAKEOVER_REASON]))
        return frames, 1000, TAKEOVER_REASON

    def periodic(self, now: float) -> bool:
        if now - self.last_recv > self.emu.client_timeout:
            self.send_text('c[3000,"client heartbeat timeout"]')
            self.ws.close(1000, "heartbeat timeout")
            return False
        if self.authorized and now - self.last_tick >= self.emu.tick:
            self.last_tick = now
            self.tick(self.emu.clock())
        self.flush()
        if now - self.last_send >= HEARTBEAT:
            self.send_text("h")
        return True

    # -- requests
    def on_message(self, text: str) -> None:
        if text != "[]":  # "[]" is the client's heartbeat: receiving it is enough
            self.on_request(text)
            self.flush()

    def on_request(self, text: str) -> None:
        """One request document: ``endpoint\\nid\\nquery\\nbody``."""
        parts = text.split("\n", 3)
        if len(parts) < 2 or not parts[1].strip().lstrip("-").isdigit():
            self.queue({"s": 400, "i": 0, "d": "Bad request document"})
            return
        endpoint, rid = parts[0].strip().lower(), int(parts[1])
        body_text = parts[3] if len(parts) > 3 else ""
        if endpoint == "authorize":
            self.authorize(rid, body_text.strip())
            return
        if not self.authorized:
            self.queue({"i": rid, "s": 401, "d": "Not authorized"})
            return
        try:
            body = json.loads(body_text) if body_text.strip() else {}
        except (ValueError, RecursionError):
            self.queue({"s": 400, "i": rid, "d": "Invalid JSON body"})
            return
        handler = self.ROUTES.get(endpoint)
        if handler is None:
            self.queue({"s": 404, "i": rid, "d": json.dumps(f"Not found: {parts[0]}")})
            return
        try:
            handler(self, rid, body if isinstance(body, dict) else {})
        except (TypeError, ValueError, AttributeError, ArithmeticError, RecursionError) as exc:
            # A real server answers a request it cannot read with 400 and keeps the socket.
            self.queue({"s": 400, "i": rid, "d": f"Bad request: {type(exc).__name__}"})

    def authorize(self, rid: int, token: str) -> None:
        """``authorize`` with the raw or JSON-quoted access token."""
        if token.startswith('"'):
            try:
                token = str(json.loads(token))
            except ValueError:
                pass
        if self.emu.refuse_auth or not self.emu.accepts_token(token):
            self.queue({"i": rid, "s": 401, "d": "Invalid access token"})
            return
        self.log_in(token)
        self.queue({"s": 200, "i": rid})

    def _contract(self, rid: int, body: Dict[str, Any]) -> Optional[Tuple[int, str]]:
        found = self.emu.lookup(body.get("symbol"))
        if found is None or found[1] in self.emu.inaccessible_symbols:
            self.queue({"s": 200, "i": rid, "d": {"errorText": "Symbol is inaccessible",
                                                 "errorCode": "UnknownSymbol", "mode": "None"}})
            return None
        return found

    def _sub(self, target: Set[int], rid: int, body: Dict[str, Any], dom: bool = False) -> None:
        found = self._contract(rid, body)
        if found is None:
            return
        cid = found[0]
        early = self.emu.data_before_response
        if early:
            self.queue(self.md_event([cid], dom))
        target.add(cid)
        self.queue({"s": 200, "i": rid})
        if not early:
            self.queue(self.md_event([cid], dom, full=True))

    def _unsub(self, target: Set[int], rid: int, body: Dict[str, Any]) -> None:
        found = self.emu.lookup(body.get("symbol"))
        if found is not None:
            target.discard(found[0])
        self.queue({"s": 200, "i": rid})

    def r_subscribe_quote(self, rid: int, body: Dict[str, Any]) -> None:
        """``md/subscribeQuote``."""
        self._sub(self.quotes, rid, body)

    def r_unsubscribe_quote(self, rid: int, body: Dict[str, Any]) -> None:
        """``md/unsubscribeQuote``."""
        self._unsub(self.quotes, rid, body)

    def r_subscribe_dom(self, rid: int, body: Dict[str, Any]) -> None:
        """``md/subscribeDOM``."""
        self._sub(self.doms, rid, body, dom=True)

    def r_unsubscribe_dom(self, rid: int, body: Dict[str, Any]) -> None:
        """``md/unsubscribeDOM``."""
        self._unsub(self.doms, rid, body)

    def r_get_chart(self, rid: int, body: Dict[str, Any]) -> None:
        """``md/getChart``: the ids, history packets, ``eoh``, then live bars."""
        found = self._contract(rid, body)
        if found is None:
            return
        desc = body.get("chartDescription") or {}
        kind = desc.get("underlyingType", "MinuteBar")
        if kind not in ("MinuteBar", "DailyBar", "Tick"):
            self.queue({"s": 400, "i": rid, "d": f"Unsupported underlyingType {kind}"})
            return
        hid, rtid = self.emu.contracts.new_chart_ids()
        size = desc.get("elementSize") or 1
        if not isinstance(size, int) or not 0 < size <= 10_000:
            self.queue({"s": 400, "i": rid, "d": f"Bad elementSize {size!r}"})
            return
        chart = Chart(found[0], found[1], kind, size, hid, rtid, self.emu.clock())
        history = self.history(chart, body.get("timeRange") or {})
        if self.emu.data_before_response and history:
            self.queue({"e": "chart", "d": {"charts": history[:1]}})
            history = history[1:]
        self.queue({"s": 200, "i": rid, "d": {"historicalId": hid, "realtimeId": rtid}})
        for i in range(0, len(history), 4):
            self.queue({"e": "chart", "d": {"charts": history[i:i + 4]}})
        self.queue({"e": "chart", "d": {"charts": [{"id": self._history_tag(chart), "eoh": True}]}})
        self.charts[rtid] = chart
        self.charts[hid] = chart

    def r_cancel_chart(self, rid: int, body: Dict[str, Any]) -> None:
        """``md/cancelChart`` by either id; unknown ids succeed too."""
        sid = body.get("subscriptionId")
        chart = self.charts.pop(sid, None) if isinstance(sid, int) else None
        if chart is not None:
            self.charts.pop(chart.hid, None)
            self.charts.pop(chart.rid, None)
        self.queue({"s": 200, "i": rid})

    ROUTES = {"md/subscribequote": r_subscribe_quote, "md/unsubscribequote": r_unsubscribe_quote,
              "md/subscribedom": r_subscribe_dom, "md/unsubscribedom": r_unsubscribe_dom,
              "md/getchart": r_get_chart, "md/cancelchart": r_cancel_chart}

    # -- data
    def md_event(self, cids: List[int], dom: bool = False, full: bool = False) -> Dict[str, Any]:
        """An ``md`` event with quotes (or DOMs) of ``cids``."""
        t = self.emu.clock()
        data = self.emu.data
        if dom:
            return {"e": "md", "d": {"doms": [data.dom(c, t) for c in cids]}}
        return {"e": "md", "d": {"quotes": [data.quote(c, t, full) for c in cids]}}

    def _history_tag(self, chart: Chart) -> int:
        return chart.rid if self.emu.history_tag == "realtime" else chart.hid

    def _bar_starts(self, period: int, time_range: Dict[str, Any], now: float) -> List[int]:
        closest = parse_iso(time_range.get("closestTimestamp"))
        newest = min(closest or now, now)
        oldest = parse_iso(time_range.get("asFarAsTimestamp"))
        wanted = time_range.get("asMuchAsElements")
        count = wanted if isinstance(wanted, int) else 100
        s = int(newest // period) * period
        if closest is not None and s >= newest:
            s -= period  # closestTimestamp bounds the newest bar start (exclusive when paging)
        starts: List[int] = []
        while len(starts) < self.emu.max_bars:
            if (oldest is not None and s < oldest) or (oldest is None and len(starts) >= count):
                break
            starts.append(s)
            s -= period
        return starts

    def history(self, chart: Chart, time_range: Dict[str, Any]) -> List[Dict[str, Any]]:
        """The history packets of a new chart (50 bars a packet)."""
        now = self.emu.clock()
        if chart.kind == "Tick":
            return [self.emu.data.ticks(chart, now, 3, tag=chart.rid)]
        period = chart.period
        starts = self._bar_starts(period, time_range, now)
        chart.last_start = max(starts) if starts else int(now // period) * period
        tag = self._history_tag(chart)
        return [{"id": tag, "td": trade_date(now),
                 "bars": [self.emu.data.bar(chart.name, st, period, now) for st in starts[i:i + 50]]}
                for i in range(0, len(starts), 50)]

    def tick(self, t: float) -> None:
        """Queue one update of everything subscribed, at epoch second ``t``."""
        if self.quotes:
            self.queue(self.md_event(sorted(self.quotes)))
        if self.doms:
            self.queue(self.md_event(sorted(self.doms), dom=True))
        for chart in {id(c): c for c in self.charts.values()}.values():
            self.queue({"e": "chart", "d": {"charts": [self.chart_update(chart, t)]}})

    def chart_update(self, chart: Chart, t: float) -> Dict[str, Any]:
        """A live chart packet: new ticks, or the forming bar (and the one
        just completed, on a roll)."""
        data = self.emu.data
        if chart.kind == "Tick":
            return data.ticks(chart, t, 2, tag=chart.rid)
        period = chart.period
        start = int(t // period) * period
        bars = []
        if start > chart.last_start:
            bars.append(data.bar(chart.name, chart.last_start, period, t))
            chart.last_start = start
        bars.append(data.bar(chart.name, start, period, t))
        return {"id": chart.rid, "td": trade_date(t), "bars": bars}
