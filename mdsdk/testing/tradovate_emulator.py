"""A faithful Tradovate server for tests: the market-data WebSocket and the
REST calls a client needs (access token, renewal, contract lookup).

Written from ../shared/protocols/tradovate.md section 13, independent of the
client in ``mdsdk.providers.tradovate``. It serves the same synthetic market
as the DXLink emulator. Fault switches: :meth:`drop`, :meth:`stall`,
:meth:`inject`, ``refuse_auth``, :meth:`expire_token`, ``refuse_renewal``,
``unknown_symbols`` (REST does not know them), ``inaccessible_symbols`` (the
socket answers ``errorText``), :meth:`close_with`, :meth:`shutdown`,
``penalty`` / ``captcha`` (REST login penalties), ``client_timeout`` (closes
silent clients), ``data_before_response``, ``items_per_frame``,
``max_bars`` (caps history answers, to exercise paging).
"""

from __future__ import annotations

import collections
import datetime as _dt
import json
import logging
import secrets as _secrets
import time
import zlib
from typing import Any, Deque, Dict, List, Optional, Set, Tuple

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection

from ._base import EmulatorBase
from ._http import JsonRequest, JsonServer
from .market import SyntheticMarket

__all__ = ["TradovateEmulator"]

log = logging.getLogger("mdsdk.testing.tradovate")
_wire_log = logging.getLogger("mdsdk.testing.tradovate.wire")
_wire_log.setLevel(logging.INFO)  # websockets logs frames (tokens included) at DEBUG
TICK_SIZE = 0.25


def _iso(t: float) -> str:
    dt = _dt.datetime.fromtimestamp(t, tz=_dt.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _parse_iso(text: Any) -> Optional[float]:
    if not isinstance(text, str):
        return None
    try:
        return _dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class _Chart:
    def __init__(self, contract: int, name: str, kind: str, size: int, hid: int, rid: int) -> None:
        self.contract, self.name, self.kind, self.size = contract, name, kind, size
        self.hid, self.rid = hid, rid
        self.last_start = 0
        self.tick_id = 0
        self.last_tick = time.time()


class _Session:
    """One client connection, run on the websockets handler thread."""

    def __init__(self, emu: "TradovateEmulator", ws: ServerConnection) -> None:
        self.emu, self.ws = emu, ws
        self.authorized = False
        now = time.monotonic()
        self.last_recv = self.last_send = now
        self.last_tick = 0.0
        self.quotes: Set[int] = set()
        self.doms: Set[int] = set()
        self.charts: Dict[int, _Chart] = {}
        self.stalled = False
        self.injected: Deque[str] = collections.deque()
        self.close_request: Optional[Tuple[int, str]] = None
        self.shutdown_reason: Optional[str] = None
        self.outbox: List[Any] = []

    def send_text(self, text: str) -> None:
        self.ws.send(text)
        self.last_send = time.monotonic()

    def queue(self, item: Any) -> None:
        self.outbox.append(item)

    def flush(self) -> None:
        """Send queued items, ``items_per_frame`` per ``a`` frame."""
        per = max(1, self.emu.items_per_frame)
        items, self.outbox = self.outbox, []
        for i in range(0, len(items), per):
            self.send_text("a" + json.dumps(items[i:i + per], separators=(",", ":")))

    def run(self) -> None:
        self.send_text("o")
        emu = self.emu
        while not emu._closing:
            try:
                raw = self.ws.recv(timeout=0.05)
            except TimeoutError:
                raw = None
            except ConnectionClosed:
                return
            try:
                if raw is not None:
                    self.last_recv = time.monotonic()
                    text = raw if isinstance(raw, str) else raw.decode()
                    emu._record(text)
                    if text != "[]":
                        self.on_request(text)
                    self.flush()
                if not self.housekeeping():
                    return
                self.flush()
            except ConnectionClosed:
                return

    def housekeeping(self) -> bool:
        now = time.monotonic()
        if self.close_request:
            self.send_text("c" + json.dumps(list(self.close_request)))
            self.ws.close(*self.close_request)
            return False
        if self.shutdown_reason:
            self.send_text("a" + json.dumps([{"e": "shutdown", "d": {"reasonCode": self.shutdown_reason}}]))
            self.ws.close(1000, self.shutdown_reason)
            return False
        if self.stalled:
            return True
        while self.injected:
            self.send_text(self.injected.popleft())
        if now - self.last_recv > self.emu.client_timeout:
            self.send_text('c[3000,"client heartbeat timeout"]')
            self.ws.close(1000, "heartbeat timeout")
            return False
        if self.authorized and now - self.last_tick >= self.emu.tick:
            self.last_tick = now
            self.tick(time.time())
        if now - self.last_send >= 2.5:
            self.send_text("h")
        return True

    # -- requests
    def on_request(self, text: str) -> None:
        parts = text.split("\n", 3)
        if len(parts) < 2 or not parts[1].strip().lstrip("-").isdigit():
            self.queue({"s": 400, "i": 0, "d": "Bad request document"})
            return
        endpoint, rid = parts[0].strip().lower(), int(parts[1])
        body_text = parts[3] if len(parts) > 3 else ""
        if endpoint == "authorize":
            token = body_text.strip()
            if token.startswith('"'):
                token = json.loads(token)
            if not self.emu.refuse_auth and self.emu._token_valid(token):
                self.authorized = True
                self.queue({"s": 200, "i": rid})
            else:
                self.queue({"i": rid, "s": 401, "d": "Invalid access token"})
            return
        if not self.authorized:
            self.queue({"i": rid, "s": 401, "d": "Not authorized"})
            return
        try:
            body = json.loads(body_text) if body_text.strip() else {}
        except ValueError:
            self.queue({"s": 400, "i": rid, "d": "Invalid JSON body"})
            return
        handler = self.ROUTES.get(endpoint)
        if handler is None:
            self.queue({"s": 404, "i": rid, "d": json.dumps(f"Not found: {parts[0]}")})
            return
        handler(self, rid, body)

    def _contract(self, rid: int, body: Dict[str, Any]) -> Optional[Tuple[int, str]]:
        sym = body.get("symbol")
        found = self.emu._lookup(sym)
        if found is None or found[1] in self.emu.inaccessible_symbols:
            self.queue({"s": 200, "i": rid, "d": {"errorText": "Symbol is inaccessible",
                                                 "errorCode": "UnknownSymbol", "mode": "None"}})
            return None
        return found

    def _sub(self, target: Set[int], rid: int, body: Dict[str, Any], dom: bool = False) -> None:
        found = self._contract(rid, body)
        if found is None:
            return
        cid, name = found
        if self.emu.data_before_response:
            self.queue(self.md_event([cid], dom))
        target.add(cid)
        self.queue({"s": 200, "i": rid})
        if not self.emu.data_before_response:
            self.queue(self.md_event([cid], dom, full=True))

    def _unsub(self, target: Set[int], rid: int, body: Dict[str, Any]) -> None:
        found = self.emu._lookup(body.get("symbol"))
        if found is not None:
            target.discard(found[0])
        self.queue({"s": 200, "i": rid})

    def r_subscribe_quote(self, rid: int, body: Dict[str, Any]) -> None:
        self._sub(self.quotes, rid, body)

    def r_unsubscribe_quote(self, rid: int, body: Dict[str, Any]) -> None:
        self._unsub(self.quotes, rid, body)

    def r_subscribe_dom(self, rid: int, body: Dict[str, Any]) -> None:
        self._sub(self.doms, rid, body, dom=True)

    def r_unsubscribe_dom(self, rid: int, body: Dict[str, Any]) -> None:
        self._unsub(self.doms, rid, body)

    def r_get_chart(self, rid: int, body: Dict[str, Any]) -> None:
        found = self._contract(rid, body)
        if found is None:
            return
        cid, name = found
        desc = body.get("chartDescription") or {}
        kind = desc.get("underlyingType", "MinuteBar")
        size = int(desc.get("elementSize") or 1)
        if kind not in ("MinuteBar", "DailyBar", "Tick"):
            self.queue({"s": 400, "i": rid, "d": f"Unsupported underlyingType {kind}"})
            return
        hid, rtid = self.emu._new_ids()
        chart = _Chart(cid, name, kind, size, hid, rtid)
        history = self.history(chart, body.get("timeRange") or {})
        if self.emu.data_before_response and history:
            self.queue({"e": "chart", "d": {"charts": history[:1]}})
            history = history[1:]
        self.queue({"s": 200, "i": rid, "d": {"historicalId": hid, "realtimeId": rtid}})
        for i in range(0, len(history), 4):
            self.queue({"e": "chart", "d": {"charts": history[i:i + 4]}})
        tag = rtid if self.emu.history_tag == "realtime" else hid
        self.queue({"e": "chart", "d": {"charts": [{"id": tag, "eoh": True}]}})
        self.charts[rtid] = chart
        self.charts[hid] = chart

    def r_cancel_chart(self, rid: int, body: Dict[str, Any]) -> None:
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
        t = time.time()
        if dom:
            return {"e": "md", "d": {"doms": [self.emu._dom(c, t) for c in cids]}}
        return {"e": "md", "d": {"quotes": [self.emu._quote(c, t, full) for c in cids]}}

    def period(self, chart: _Chart) -> int:
        return 86400 if chart.kind == "DailyBar" else 60 * chart.size

    def history(self, chart: _Chart, time_range: Dict[str, Any]) -> List[Dict[str, Any]]:
        now = time.time()
        if chart.kind == "Tick":
            return [self.emu._ticks(chart, now, 3, tag=chart.rid)]
        period = self.period(chart)
        newest = _parse_iso(time_range.get("closestTimestamp")) or now
        newest = min(newest, now)
        oldest = _parse_iso(time_range.get("asFarAsTimestamp"))
        count = time_range.get("asMuchAsElements")
        last = int(newest // period) * period
        if _parse_iso(time_range.get("closestTimestamp")) is not None and last >= newest:
            last -= period  # closestTimestamp bounds the newest bar start (exclusive when paging)
        starts: List[int] = []
        s = last
        limit = self.emu.max_bars
        while len(starts) < limit:
            if oldest is not None and s < oldest:
                break
            if oldest is None and isinstance(count, int) and len(starts) >= count:
                break
            if oldest is None and not isinstance(count, int) and len(starts) >= 100:
                break
            starts.append(s)
            s -= period
        chart.last_start = max(starts) if starts else int(now // period) * period
        tag = chart.rid if self.emu.history_tag == "realtime" else chart.hid
        packets = []
        for i in range(0, len(starts), 50):
            bars = [self.emu._bar(chart.name, st, period, now) for st in starts[i:i + 50]]
            packets.append({"id": tag, "td": int(time.strftime("%Y%m%d", time.gmtime(now))), "bars": bars})
        return packets

    def tick(self, t: float) -> None:
        if self.quotes:
            ids = sorted(self.quotes)
            self.queue(self.md_event(ids))
        if self.doms:
            self.queue(self.md_event(sorted(self.doms), dom=True))
        seen: Set[int] = set()
        for chart in list(self.charts.values()):
            if id(chart) in seen:
                continue
            seen.add(id(chart))
            if chart.kind == "Tick":
                self.queue({"e": "chart", "d": {"charts": [self.emu._ticks(chart, t, 2, tag=chart.rid)]}})
                continue
            period = self.period(chart)
            start = int(t // period) * period
            bars = []
            if start > chart.last_start:
                bars.append(self.emu._bar(chart.name, chart.last_start, period, t))
                chart.last_start = start
            bars.append(self.emu._bar(chart.name, start, period, t))
            self.queue({"e": "chart", "d": {"charts": [{"id": chart.rid, "td": int(time.strftime(
                "%Y%m%d", time.gmtime(t))), "bars": bars}]}})


class TradovateEmulator(EmulatorBase):
    """Tradovate MD WebSocket + REST on 127.0.0.1, as a context manager.

    ``.url`` is the MD WebSocket, ``.api_url`` the REST base, ``.credentials``
    the keyword arguments a client needs:
    ``mdsdk.connect("tradovate", url=emu.url, api_url=emu.api_url, **emu.credentials)``.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, username: str = "demo",
                 password: str = "demo-password", token_lifetime: float = 80 * 60.0, tick: float = 0.1,
                 seed: int = 7, client_timeout: float = 10.0, max_bars: int = 5000) -> None:
        self.market = SyntheticMarket(seed)
        self.username, self.password = username, password
        self.token_lifetime = token_lifetime
        self.tick = tick
        self.client_timeout = client_timeout
        self.max_bars = max_bars
        self.refuse_auth = False
        self.refuse_renewal = False
        self.penalty = 0          # the next N logins answer with a p-ticket
        self.penalty_time = 1
        self.captcha = False
        self.unknown_symbols: Set[str] = set()
        self.inaccessible_symbols: Set[str] = set()
        self.data_before_response = False
        self.items_per_frame = 1
        self.history_tag = "realtime"
        self.received: Deque[str] = collections.deque(maxlen=20000)
        self.rest_calls: Deque[Tuple[str, str]] = collections.deque(maxlen=1000)
        self._tokens: Dict[str, float] = {}
        self._tickets: Dict[str, float] = {}
        self._ids = 100
        self._names: Dict[int, str] = {}
        super().__init__(_Session, host=host, port=port, logger=_wire_log)
        self._rest = JsonServer({
            ("POST", "/v1/auth/accesstokenrequest"): self._post_token,
            ("GET", "/v1/auth/renewaccesstoken"): self._get_renew,
            ("GET", "/v1/contract/find"): self._get_find,
            ("GET", "/v1/contract/item"): self._get_item,
        })

    # -- surface
    @property
    def api_url(self) -> str:
        """The REST base URL (ends in ``/v1`` like Tradovate's)."""
        return self._rest.url + "/v1"

    @property
    def credentials(self) -> Dict[str, str]:
        """Keyword arguments that log in to this emulator."""
        return {"username": self.username, "password": self.password}

    GARBAGE = "a[not json"
    PATH = "/v1/websocket"

    def _closed(self) -> None:
        self._rest.close()

    def close_with(self, code: int, reason: str = "Go away!") -> None:
        """Send ``c[code,reason]`` and close every connection."""
        super().close_with(code, reason)

    # -- faults (drop, stall, inject come from EmulatorBase)
    def shutdown(self, reason: str = "Maintenance") -> None:
        """Send the ``shutdown`` event, then close every connection."""
        for s in list(self._sessions):
            s.shutdown_reason = reason

    def expire_token(self) -> None:
        """Expire every token issued so far (open sockets stay open, as on
        Tradovate; the next authorize or renewal with them fails)."""
        with self._lock:
            self._tokens.clear()

    def requests(self, endpoint: Optional[str] = None) -> List[str]:
        """Client frames received so far (optionally for one endpoint)."""
        frames = list(self.received)
        if endpoint is None:
            return frames
        return [f for f in frames if f.split("\n", 1)[0].lower() == endpoint.lower()]

    # -- internals
    def _record(self, text: str) -> None:
        self.received.append(text)

    def _new_ids(self) -> Tuple[int, int]:
        with self._lock:
            self._ids += 2
            return self._ids, self._ids + 1

    def _token_valid(self, token: str) -> bool:
        with self._lock:
            exp = self._tokens.get(token)
        return exp is not None and exp > time.time()

    def _issue(self) -> Dict[str, Any]:
        token = "tv-" + _secrets.token_hex(8)
        exp = time.time() + self.token_lifetime
        with self._lock:
            self._tokens[token] = exp
        return {"accessToken": token, "mdAccessToken": token, "expirationTime": _iso(exp),
                "passwordExpirationTime": _iso(time.time() + 86400 * 90), "userStatus": "Active",
                "userId": 4242, "name": self.username, "hasLive": False}

    def contract_id(self, name: str) -> int:
        """The id the emulator gives contract ``name``."""
        return 100000 + zlib.crc32(name.encode()) % 800000

    def _lookup(self, sym: Any) -> Optional[Tuple[int, str]]:
        if isinstance(sym, int):
            name = self._names.get(sym)
            return (sym, name) if name else None
        if not isinstance(sym, str) or not sym or sym in self.unknown_symbols:
            return None
        cid = self.contract_id(sym)
        self._names[cid] = sym
        return cid, sym

    def _price(self, name: str, t: float) -> float:
        return round(self.market.price(name, t) / TICK_SIZE) * TICK_SIZE

    def _quote(self, cid: int, t: float, full: bool) -> Dict[str, Any]:
        name = self._names.get(cid, str(cid))
        px = self._price(name, t)
        bid_size, ask_size = self.market.quote(name, t)[2:]
        entries: Dict[str, Any] = {"Bid": {"price": px, "size": bid_size / 100},
                                   "Offer": {"price": px + TICK_SIZE, "size": ask_size / 100}}
        k = int(t * 10)
        if full or k % 3 == 0:
            trade_px, size, vol = self.market.trade(name, t)
            entries["Trade"] = {"price": px if trade_px <= self.market.price(name, t) else px + TICK_SIZE,
                                "size": size / 100}
            entries["TotalTradeVolume"] = {"size": vol}
        if full or k % 10 == 0:
            day = int(t // 86400) * 86400
            c = self.market.candle(name, day, 86400, t)
            entries.update({"OpeningPrice": {"price": self._price(name, day)},
                            "HighPrice": {"price": round(c.high / TICK_SIZE) * TICK_SIZE},
                            "LowPrice": {"price": round(c.low / TICK_SIZE) * TICK_SIZE},
                            "SettlementPrice": {"price": self._price(name, day - 1)},
                            "OpenInterest": {"size": float(200000 + cid % 50000)}})
        return {"timestamp": _iso(t), "contractId": cid, "entries": entries}

    def _dom(self, cid: int, t: float) -> Dict[str, Any]:
        name = self._names.get(cid, str(cid))
        px = self._price(name, t)
        depth = 5 + int(t) % 5
        return {"contractId": cid, "timestamp": _iso(t),
                "bids": [{"price": px - i * TICK_SIZE, "size": float(10 + (i * 7 + int(t)) % 40)}
                         for i in range(depth)],
                "offers": [{"price": px + (i + 1) * TICK_SIZE, "size": float(12 + (i * 5 + int(t)) % 40)}
                           for i in range(depth)]}

    def _bar(self, name: str, start: int, period: int, now: float) -> Dict[str, Any]:
        c = self.market.candle(name, start, period, now)
        up = round(c.volume * 0.52, 3)
        return {"timestamp": _iso(start), "open": round(c.open / TICK_SIZE) * TICK_SIZE,
                "high": round(c.high / TICK_SIZE) * TICK_SIZE, "low": round(c.low / TICK_SIZE) * TICK_SIZE,
                "close": round(c.close / TICK_SIZE) * TICK_SIZE, "upVolume": up,
                "downVolume": round(c.volume - up, 3), "upTicks": float(c.count // 2),
                "downTicks": float(c.count - c.count // 2), "bidVolume": round(c.volume * 0.49, 3),
                "offerVolume": round(c.volume * 0.51, 3)}

    def _ticks(self, chart: _Chart, t: float, n: int, tag: int) -> Dict[str, Any]:
        base_t = int(chart.last_tick * 1000)
        bp = int(self._price(chart.name, t) / TICK_SIZE)
        ticks = []
        for j in range(n):
            chart.tick_id += 1
            ticks.append({"t": j * 7, "p": (j % 3) - 1, "s": 1 + (chart.tick_id % 4), "b": -1, "a": 0,
                          "bs": 10 + j, "as": 12 + j, "id": chart.tick_id})
        ticks.reverse()  # out of order on purpose, as the reference warns
        chart.last_tick = t
        return {"id": tag, "s": "db", "td": int(time.strftime("%Y%m%d", time.gmtime(t))), "bp": bp,
                "bt": base_t, "ts": TICK_SIZE, "tks": ticks}

    # -- REST
    def _post_token(self, req: JsonRequest) -> Tuple[int, Any]:
        self.rest_calls.append(("POST", "/auth/accesstokenrequest"))
        body = req.body if isinstance(req.body, dict) else {}
        if self.captcha:
            return 200, {"p-ticket": "tk-" + _secrets.token_hex(4), "p-time": 3600, "p-captcha": True}
        ticket = body.get("p-ticket")
        if ticket:
            with self._lock:
                ready_at = self._tickets.pop(ticket, None)
            if ready_at is None or time.time() < ready_at:
                return 200, {"p-ticket": ticket, "p-time": self.penalty_time, "p-captcha": False}
        elif self.penalty > 0:
            self.penalty -= 1
            ticket = "tk-" + _secrets.token_hex(4)
            with self._lock:
                self._tickets[ticket] = time.time() + self.penalty_time
            return 200, {"p-ticket": ticket, "p-time": self.penalty_time, "p-captcha": False}
        if body.get("name") != self.username or body.get("password") != self.password or self.refuse_auth:
            return 200, {"errorText": "Incorrect username or password. Please try again, noting that "
                                      "passwords are case-sensitive."}
        return 200, self._issue()

    def _get_renew(self, req: JsonRequest) -> Tuple[int, Any]:
        self.rest_calls.append(("GET", "/auth/renewaccesstoken"))
        auth = req.headers.get("authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        if self.refuse_renewal or not self._token_valid(token):
            return 401, {"errorText": "Access is denied"}
        return 200, self._issue()

    def _authorized(self, req: JsonRequest) -> bool:
        auth = req.headers.get("authorization", "")
        return auth.startswith("Bearer ") and self._token_valid(auth[7:])

    def _get_find(self, req: JsonRequest) -> Tuple[int, Any]:
        self.rest_calls.append(("GET", "/contract/find"))
        if not self._authorized(req):
            return 401, {"errorText": "Access is denied"}
        found = self._lookup(req.query.get("name"))
        if found is None:
            return 404, {"errorText": f"Contract not found: {req.query.get('name')}"}
        return 200, {"id": found[0], "name": found[1], "contractMaturityId": found[0] // 10}

    def _get_item(self, req: JsonRequest) -> Tuple[int, Any]:
        if not self._authorized(req):
            return 401, {"errorText": "Access is denied"}
        try:
            cid = int(req.query.get("id", ""))
        except ValueError:
            return 400, {"errorText": "bad id"}
        name = self._names.get(cid)
        if name is None:
            return 404, {"errorText": "Contract not found"}
        return 200, {"id": cid, "name": name, "contractMaturityId": cid // 10}
