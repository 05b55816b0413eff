"""A faithful DXLink (dxFeed / tastytrade) server for tests, examples and ``sim``.

Written from ../shared/protocols/dxlink.md section 14 and independent of the
client code in ``mdsdk.providers.dxlink`` (so the two cannot share a bug). It
serves the synthetic market over a real WebSocket on 127.0.0.1 and, alongside,
the tastytrade REST endpoints a client needs (``/sessions``, ``/oauth/token``,
``/api-quote-tokens``).

Fault switches: :meth:`drop`, :meth:`stall`, :meth:`inject` (garbage frames),
``refuse_auth``, :meth:`expire_token`, ``unknown_symbols``, :meth:`close_with`,
:meth:`switch_to_full`; and :meth:`blast` for benchmarks.
"""

from __future__ import annotations

import collections
import json
import logging
import re
import secrets as _secrets
import threading
import time
from typing import Any, Callable, Deque, Dict, Iterable, List, Optional, Set, Tuple

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection

from ._base import EmulatorBase
from ._http import JsonRequest, JsonServer
from .market import SyntheticMarket

__all__ = ["DXLinkEmulator"]

log = logging.getLogger("mdsdk.testing.dxlink")
# websockets logs every frame at DEBUG, AUTH tokens included: keep its wire
# log at INFO even when the application turns DEBUG on globally.
_wire_log = logging.getLogger("mdsdk.testing.dxlink.wire")
_wire_log.setLevel(logging.INFO)

TX_PENDING, REMOVE_EVENT, SNAPSHOT_BEGIN, SNAPSHOT_END, SNAPSHOT_SNIP = 1, 2, 4, 8, 16
DEFAULT_FIELDS = {
    "Quote": ["eventType", "eventSymbol", "eventTime", "sequence", "timeNanoPart", "bidTime",
              "bidExchangeCode", "bidPrice", "bidSize", "askTime", "askExchangeCode", "askPrice", "askSize"],
    "Trade": ["eventType", "eventSymbol", "eventTime", "time", "timeNanoPart", "sequence", "exchangeCode",
              "price", "change", "size", "dayId", "dayVolume", "dayTurnover", "tickDirection",
              "extendedTradingHours"],
    "Summary": ["eventType", "eventSymbol", "eventTime", "dayId", "dayOpenPrice", "dayHighPrice",
                "dayLowPrice", "dayClosePrice", "dayClosePriceType", "prevDayId", "prevDayClosePrice",
                "prevDayClosePriceType", "prevDayVolume", "openInterest"],
    "Profile": ["eventType", "eventSymbol", "eventTime", "description", "shortSaleRestriction",
                "tradingStatus", "statusReason", "haltStartTime", "haltEndTime", "highLimitPrice",
                "lowLimitPrice", "high52WeekPrice", "low52WeekPrice"],
    "Candle": ["eventType", "eventSymbol", "eventTime", "eventFlags", "index", "time", "sequence", "count",
               "open", "high", "low", "close", "volume", "vwap", "bidVolume", "askVolume",
               "impVolatility", "openInterest"],
}
DEFAULT_FIELDS["TradeETH"] = DEFAULT_FIELDS["Trade"]
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "mo": 2592000}
_PERIOD = re.compile(r"^(\d*)(s|m|h|d|w|mo)$")


def _index(time_ms: int, seq: int = 0) -> int:
    return ((time_ms // 1000) << 32) | ((time_ms % 1000) << 22) | seq


def parse_candle(symbol: str) -> Optional[Tuple[str, int, str]]:
    """``"AAPL{=5m}"`` -> ``("AAPL", 300, "AAPL{=5m}")`` (base, period s, normalised)."""
    m = re.match(r"^([^{]+)\{(.*)\}$", symbol)
    if not m:
        return None
    attrs = dict(part.split("=", 1) for part in m.group(2).split(",") if "=" in part)
    pm = _PERIOD.match(attrs.get("", "").lower())
    if not pm:
        return None
    n = int(pm.group(1) or 1)
    period = f"{n if n != 1 else ''}{pm.group(2)}"
    rest = ",".join(f"{k}={v}" for k, v in sorted(attrs.items()) if k)
    return m.group(1), n * _UNITS[pm.group(2)], f"{m.group(1)}{{={period}{',' + rest if rest else ''}}}"


class _Channel:
    def __init__(self, contract: str) -> None:
        self.contract = contract
        self.format = "COMPACT"
        self.fields: Dict[str, List[str]] = {}
        self.announced: Set[str] = set()
        self.subs: Dict[Tuple[str, str], Optional[int]] = {}
        self.candles: Dict[str, Dict[str, Any]] = {}


class _Session:
    """One client connection, run on the websockets handler thread."""

    def __init__(self, emu: "DXLinkEmulator", ws: ServerConnection) -> None:
        self.emu, self.ws = emu, ws
        self.state = "NEW"  # NEW -> SETUP -> AUTHORIZED (or REFUSED)
        self.token: Optional[str] = None
        self.client_keepalive = 60.0
        now = time.monotonic()
        self.last_recv = self.last_send = now
        self.last_tick = 0.0
        self.channels: Dict[int, _Channel] = {}
        self.stalled = False
        self.injected: Deque[str] = collections.deque()
        self.close_request: Optional[Tuple[int, str]] = None
        self.expired = False
        self.full = False
        self.unauth_sent = False

    # -- sending
    def send(self, msg: Dict[str, Any]) -> None:
        self.send_text(json.dumps(msg, separators=(",", ":")))

    def send_text(self, text: str) -> None:
        self.ws.send(text)
        self.last_send = time.monotonic()

    # -- main loop
    def run(self) -> None:
        emu = self.emu
        while not emu._closing:
            try:
                raw = self.ws.recv(timeout=min(emu.tick / 2, 0.05))
            except TimeoutError:
                raw = None
            except ConnectionClosed:
                return
            if raw is not None:
                self.last_recv = time.monotonic()
                emu._record(raw)
                try:
                    self.on_message(raw if isinstance(raw, str) else raw.decode())
                except ConnectionClosed:
                    return
            try:
                if not self.housekeeping():
                    return
            except ConnectionClosed:
                return

    def housekeeping(self) -> bool:
        now = time.monotonic()
        if self.close_request:
            self.ws.close(*self.close_request)
            return False
        if self.stalled:
            return True
        while self.injected:
            self.send_text(self.injected.popleft())
        if self.expired and self.state == "AUTHORIZED":
            self.state = "SETUP"
            self.send({"type": "AUTH_STATE", "channel": 0, "state": "UNAUTHORIZED"})
        if now - self.last_recv > self.emu.keepalive_timeout:
            self.send({"type": "ERROR", "channel": 0, "error": "TIMEOUT",
                       "message": f"The timeout has been reached. The message was last received "
                                  f"{int(now - self.last_recv)} seconds ago."})
            self.ws.close()
            return False
        if self.state == "AUTHORIZED":
            if self.emu._blast_job is not None:
                self.run_blast()
            if now - self.last_tick >= self.emu.tick:
                self.last_tick = now
                self.tick(time.time())
        if now - self.last_send >= self.client_keepalive / 2:
            self.send({"type": "KEEPALIVE", "channel": 0})
        return True

    def on_message(self, raw: str) -> None:
        try:
            msg = json.loads(raw)
            kind = msg["type"]
            ch = int(msg.get("channel", 0))
        except (ValueError, TypeError, KeyError):
            self.send({"type": "ERROR", "channel": 0, "error": "INVALID_MESSAGE",
                       "message": "The message is not valid JSON."})
            return
        if self.state == "NEW" and kind != "SETUP":
            self.send({"type": "ERROR", "channel": 0, "error": "BAD_ACTION",
                       "message": "SETUP must be the first message"})
            return
        handler = getattr(self, "on_" + kind.lower(), None)
        if handler is None:
            return
        if ch and self.state != "AUTHORIZED":
            self.send({"type": "ERROR", "channel": ch, "error": "UNAUTHORIZED",
                       "message": "not authorized"})
            return
        handler(msg, ch)

    def on_setup(self, msg: Dict[str, Any], ch: int) -> None:
        timeout = msg.get("keepaliveTimeout")
        if isinstance(timeout, (int, float)) and timeout > 0:
            self.client_keepalive = float(timeout)
        self.send({"type": "SETUP", "channel": 0, "keepaliveTimeout": self.emu.keepalive_timeout,
                   "acceptKeepaliveTimeout": self.emu.keepalive_timeout, "version": "1.0-emulator"})
        if self.emu.require_auth:
            self.state = "SETUP"
            self.unauth_sent = True
            self.send({"type": "AUTH_STATE", "channel": 0, "state": "UNAUTHORIZED"})
        else:
            self.state = "AUTHORIZED"
            self.send({"type": "AUTH_STATE", "channel": 0, "state": "AUTHORIZED"})

    def on_auth(self, msg: Dict[str, Any], ch: int) -> None:
        if not self.unauth_sent:
            self.send({"type": "ERROR", "channel": 0, "error": "UNKNOWN",
                       "message": "com.dxfeed.mdd.dxlink.auth.AuthException: Session not found: api"})
            return
        token = msg.get("token")
        if self.emu.refuse_auth or not self.emu._token_valid(token):
            self.send({"type": "AUTH_STATE", "channel": 0, "state": "UNAUTHORIZED"})
            return
        self.token = token
        self.expired = False
        self.state = "AUTHORIZED"
        self.send({"type": "AUTH_STATE", "channel": 0, "state": "AUTHORIZED", "userId": "emulator-user"})

    def on_keepalive(self, msg: Dict[str, Any], ch: int) -> None:
        pass

    def on_channel_request(self, msg: Dict[str, Any], ch: int) -> None:
        if ch in self.channels:
            self.send({"type": "ERROR", "channel": ch, "error": "BAD_ACTION",
                       "message": f"channel {ch} is already open"})
            return
        params = dict(msg.get("parameters") or {})
        self.channels[ch] = _Channel(str(params.get("contract", "AUTO")))
        params["subFormat"] = "LIST"
        self.send({"type": "CHANNEL_OPENED", "channel": ch, "service": msg.get("service", "FEED"),
                   "parameters": params})

    def on_channel_cancel(self, msg: Dict[str, Any], ch: int) -> None:
        self.channels.pop(ch, None)
        self.send({"type": "CHANNEL_CLOSED", "channel": ch})

    def _chan(self, ch: int) -> Optional[_Channel]:
        chan = self.channels.get(ch)
        if chan is None:
            self.send({"type": "ERROR", "channel": ch, "error": "BAD_ACTION",
                       "message": f"channel {ch} is not open"})
        return chan

    def on_feed_setup(self, msg: Dict[str, Any], ch: int) -> None:
        chan = self._chan(ch)
        if chan is None:
            return
        if msg.get("acceptDataFormat") in ("COMPACT", "FULL"):
            chan.format = msg["acceptDataFormat"]
        for etype, names in (msg.get("acceptEventFields") or {}).items():
            known = DEFAULT_FIELDS.get(etype)
            if known is None:
                continue
            wanted = [("vwap" if n == "VWAP" else n) for n in names if n in known or n == "VWAP"]
            chan.fields[etype] = wanted or list(known)
            chan.announced.discard(etype)
        agg = msg.get("acceptAggregationPeriod")
        self.send({"type": "FEED_CONFIG", "channel": ch, "dataFormat": chan.format,
                   "aggregationPeriod": 0.1 if agg in (None, "NaN") else float(agg)})

    def on_feed_subscription(self, msg: Dict[str, Any], ch: int) -> None:
        chan = self._chan(ch)
        if chan is None:
            return
        if msg.get("reset"):
            chan.subs.clear()
            chan.candles.clear()
        for item in msg.get("remove") or ():
            key = (item.get("type"), item.get("symbol"))
            chan.subs.pop(key, None)
            if key[0] == "Candle":
                chan.candles.pop(key[1], None)
        snapshot: Dict[str, List[Dict[str, Any]]] = {}
        now = time.time()
        for item in msg.get("add") or ():
            etype, symbol = item.get("type"), str(item.get("symbol"))
            if etype not in DEFAULT_FIELDS:
                continue
            chan.subs[(etype, symbol)] = item.get("fromTime")
            self.emu._subscribed(etype, symbol)
            if etype == "Candle":
                self.start_candles(ch, chan, symbol, item.get("fromTime"))
            elif symbol not in self.emu.unknown_symbols and etype != "TradeETH":
                row = self.emu._row(etype, symbol, now)
                if row is not None:  # TICKER semantics: the latest value right away
                    snapshot.setdefault(etype, []).append(row)
        for etype, rows in snapshot.items():
            self.send_events(ch, chan, etype, rows)

    # -- data
    def fields(self, chan: _Channel, etype: str, ch: int) -> List[str]:
        names = chan.fields.get(etype) or DEFAULT_FIELDS[etype]
        if etype not in chan.announced:
            chan.announced.add(etype)
            self.send({"type": "FEED_CONFIG", "channel": ch, "dataFormat": chan.format,
                       "aggregationPeriod": 0.1, "eventFields": {etype: names}})
        return names

    def send_events(self, ch: int, chan: _Channel, etype: str, rows: List[Dict[str, Any]]) -> None:
        names = self.fields(chan, etype, ch)
        if chan.format == "FULL" or self.full:
            # FULL: eventType first (dxFeed's Java client relies on it), empty fields omitted.
            data: List[Any] = [dict({"eventType": etype}, **{n: row.get(n, "NaN") for n in names
                                                            if n != "eventType" and row.get(n) not in (None, "")})
                               for row in rows]
            self.send({"type": "FEED_DATA", "channel": ch, "data": data})
            return
        values: List[Any] = []
        for row in rows:
            values.extend(row.get(n, "NaN") for n in names)
        self.send({"type": "FEED_DATA", "channel": ch, "data": [etype, values]})

    def tick(self, t: float) -> None:
        emu = self.emu
        for ch, chan in list(self.channels.items()):
            by_type: Dict[str, List[Dict[str, Any]]] = {}
            for (etype, symbol) in list(chan.subs):
                if symbol in emu.unknown_symbols or etype == "Candle":
                    continue
                if etype == "TradeETH" and 48600 <= t % 86400 < 72000:
                    continue  # extended-hours trades only outside 13:30-20:00 UTC
                row = emu._row(etype, symbol, t)
                if row is not None:
                    by_type.setdefault(etype, []).append(row)
            for etype, rows in by_type.items():
                self.send_events(ch, chan, etype, rows)
            for symbol, state in list(chan.candles.items()):
                self.candle_update(ch, chan, symbol, state, t)

    def start_candles(self, ch: int, chan: _Channel, symbol: str, from_time: Any) -> None:
        parsed = parse_candle(symbol)
        base = parsed[0] if parsed else symbol
        if parsed is None or base in self.emu.unknown_symbols:
            chan.candles.pop(symbol, None)
            return
        base, period, normal = parsed
        echo = normal if self.emu.normalize_candle_symbols else symbol
        now = time.time()
        from_ms = int(from_time) if isinstance(from_time, (int, float)) else int(now * 1000)
        first = -(-from_ms // (period * 1000)) * period  # first bar start at or after fromTime
        last = int(now // period) * period
        starts = list(range(last, first - 1, -period)) if first <= last else []
        snip = len(starts) > self.emu.max_snapshot
        starts = starts[: self.emu.max_snapshot]
        rows = [self.emu._candle_row(echo, base, s, period, now) for s in starts]
        if not snip and (not starts or starts[-1] * 1000 != from_ms):
            rows.append({"eventType": "Candle", "eventSymbol": echo, "eventTime": 0, "index": _index(from_ms),
                         "time": from_ms, "sequence": 0, "count": 0, "eventFlags": 0})
            rows[-1]["eventFlags"] = REMOVE_EVENT
        rows[0]["eventFlags"] = rows[0].get("eventFlags", 0) | SNAPSHOT_BEGIN
        rows[-1]["eventFlags"] = rows[-1].get("eventFlags", 0) | (SNAPSHOT_SNIP if snip else SNAPSHOT_END)
        for i in range(0, len(rows), self.emu.snapshot_chunk):
            self.send_events(ch, chan, "Candle", rows[i:i + self.emu.snapshot_chunk])
        chan.candles[symbol] = {"base": base, "period": period, "echo": echo, "start": last}

    def candle_update(self, ch: int, chan: _Channel, symbol: str, state: Dict[str, Any], t: float) -> None:
        if state["base"] in self.emu.unknown_symbols:
            return
        start = int(t // state["period"]) * state["period"]
        rows = []
        if start > state["start"]:
            rows.append(self.emu._candle_row(state["echo"], state["base"], state["start"], state["period"], t))
            state["start"] = start
        rows.append(self.emu._candle_row(state["echo"], state["base"], start, state["period"], t))
        self.send_events(ch, chan, "Candle", rows)

    def run_pace(self, job: Tuple[float, int, float, List[str]]) -> None:
        """Send Quote frames at a steady ``rate`` events/s, ``k`` per frame,
        for ``seconds``, each stamped with its send time (bidTime/askTime in
        ms plus timeNanoPart) so a client can measure latency."""
        rate, k, seconds, symbols = job
        quote_ch = next((ch for ch, chan in self.channels.items()
                         if any(key[0] == "Quote" for key in chan.subs)), None)
        if quote_ch is None:
            return
        names = self.fields(self.channels[quote_ch], "Quote", quote_ch)
        market = self.emu.market
        start = time.perf_counter()
        frames_due = 0
        sent = 0
        total = int(rate * seconds / k)
        base = [market.quote(s, time.time()) for s in symbols]
        while sent < total and not self.emu._closing:
            frames_due = min(total, int((time.perf_counter() - start) * rate / k) + 1)
            while sent < frames_due:
                values: List[Any] = []
                for j in range(k):
                    idx = (sent * k + j) % len(symbols)
                    bid, ask, bs, az = base[idx]
                    ns = time.time_ns()
                    ms, nano = divmod(ns, 1_000_000)
                    row = {"eventType": "Quote", "eventSymbol": symbols[idx], "eventTime": 0, "sequence": sent,
                           "timeNanoPart": nano, "bidTime": ms, "bidExchangeCode": "Q", "bidPrice": bid,
                           "bidSize": bs, "askTime": ms, "askExchangeCode": "Q", "askPrice": ask, "askSize": az}
                    values.extend(row.get(nm, "NaN") for nm in names)
                self.ws.send(json.dumps({"type": "FEED_DATA", "channel": quote_ch, "data": ["Quote", values]},
                                        separators=(",", ":")))
                sent += 1
            self.last_send = time.monotonic()
            if time.monotonic() - self.last_recv > self.emu.keepalive_timeout:
                break
            time.sleep(0.0005)
            try:  # keep reading the client's keepalives while pacing
                while True:
                    raw = self.ws.recv(timeout=0)
                    self.last_recv = time.monotonic()
                    self.emu._record(raw)
            except (TimeoutError, ConnectionClosed):
                pass
        self.emu._blast_done.set()

    def run_blast(self) -> None:
        job = self.emu._blast_job
        if job is None:
            return
        if job[0] == "pace":
            quote_ready = any(key[0] == "Quote" for chan in self.channels.values() for key in chan.subs)
            if not quote_ready:
                return
            with self.emu._lock:
                if self.emu._blast_job is not job:
                    return
                self.emu._blast_job = None
            self.run_pace(job[1])
            return
        quote_ch = next((ch for ch, chan in self.channels.items()
                         if any(k[0] == "Quote" for k in chan.subs)), None)
        if quote_ch is None:
            return
        with self.emu._lock:
            if self.emu._blast_job is not job:
                return
            self.emu._blast_job = None
        n, k, symbols = job
        chan = self.channels[quote_ch]
        names = self.fields(chan, "Quote", quote_ch)
        market = self.emu.market
        frames = []
        t = time.time()
        for f in range(64):
            values: List[Any] = []
            for j in range(k):
                sym = symbols[(f * k + j) % len(symbols)]
                bid, ask, bs, az = market.quote(sym, t + f * 0.1 + j)
                row = {"eventType": "Quote", "eventSymbol": sym, "eventTime": 0, "sequence": 0,
                       "timeNanoPart": 0, "bidTime": int(t * 1000), "bidExchangeCode": "Q", "bidPrice": bid,
                       "bidSize": bs, "askTime": int(t * 1000), "askExchangeCode": "Q", "askPrice": ask,
                       "askSize": az}
                values.extend(row.get(nm, "NaN") for nm in names)
            frames.append(json.dumps({"type": "FEED_DATA", "channel": quote_ch, "data": ["Quote", values]},
                                     separators=(",", ":")))
        sent = 0
        i = 0
        send = self.ws.send
        while sent < n:
            send(frames[i & 63])
            i += 1
            sent += k
        self.last_send = time.monotonic()
        self.emu._blast_done.set()


class DXLinkEmulator(EmulatorBase):
    """A DXLink server plus tastytrade REST on 127.0.0.1, as a context manager.

    ``.url`` is the WebSocket URL, ``.api_url`` the REST base, and
    ``.credentials`` the keyword arguments a client needs, so
    ``mdsdk.connect("tastytrade", url=emu.url, api_url=emu.api_url, **emu.credentials)``
    and ``mdsdk.connect("dxlink", url=emu.url, **emu.credentials)`` both work.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, require_auth: bool = True,
                 token: Optional[str] = None, username: str = "demo", password: str = "demo-password",
                 keepalive_timeout: float = 60.0, tick: float = 0.1, seed: int = 7,
                 max_message_size: Optional[int] = None, max_snapshot: int = 100_000,
                 snapshot_chunk: int = 250, normalize_candle_symbols: bool = True,
                 rest: bool = True) -> None:
        self.market = SyntheticMarket(seed)
        self.require_auth = require_auth
        self.token = token or "emu-" + _secrets.token_hex(8)
        self.username, self.password = username, password
        self.keepalive_timeout = keepalive_timeout
        self.tick = tick
        self.max_snapshot = max_snapshot
        self.snapshot_chunk = snapshot_chunk
        self.normalize_candle_symbols = normalize_candle_symbols
        self.refuse_auth = False
        self.customer_not_found = False
        self.unknown_symbols: Set[str] = set()
        self.received: Deque[Dict[str, Any]] = collections.deque(maxlen=20000)
        self.rest_calls: Deque[Tuple[str, str]] = collections.deque(maxlen=1000)
        self._valid_tokens: Set[str] = {self.token}
        self._session_tokens: Set[str] = set()
        self._access_tokens: Set[str] = set()
        self._subscriptions: Set[Tuple[str, str]] = set()
        self._blast_job: Optional[Tuple[Any, ...]] = None
        self._blast_done = threading.Event()
        super().__init__(_Session, host=host, port=port, logger=_wire_log, max_size=max_message_size)
        self._rest = JsonServer(self._routes()) if rest else None

    # -- surface
    @property
    def api_url(self) -> Optional[str]:
        """The base URL of the tastytrade REST endpoints."""
        return self._rest.url if self._rest else None

    @property
    def credentials(self) -> Dict[str, str]:
        """Keyword arguments that authenticate against this emulator: a token
        valid both as a DXLink quote token and as a tastytrade session token."""
        return {"token": self.token}

    PATH = "/realtime"

    def _closed(self) -> None:
        if self._rest:
            self._rest.close()

    # -- faults and controls (drop, stall, inject, close_with come from EmulatorBase)
    def expire_token(self) -> None:
        """Invalidate every quote token issued so far; authorised sessions get
        ``AUTH_STATE UNAUTHORIZED``. The REST side issues fresh ones."""
        with self._lock:
            self._valid_tokens.clear()
        for session in list(self._sessions):
            session.expired = True

    def switch_to_full(self) -> None:
        """Switch every open connection to FULL data format (as tastytrade
        did after bursts of adds), announcing it with FEED_CONFIG."""
        for session in list(self._sessions):
            for chan in session.channels.values():
                chan.format = "FULL"
                chan.announced.clear()

    def blast(self, n: int, k: int = 1, symbols: Iterable[str] = ("SPY",), timeout: float = 60.0) -> None:
        """Send ``n`` Quote events, ``k`` per FEED_DATA frame, as fast as
        possible to the first connection that has a Quote subscription; waits
        until they are all written."""
        self._blast_done.clear()
        with self._lock:
            self._blast_job = (n, k, list(symbols))
        if not self._blast_done.wait(timeout):
            raise TimeoutError("no connection with a Quote subscription took the blast")

    def pace(self, rate: float, seconds: float, k: int = 1, symbols: Iterable[str] = ("SPY",)) -> None:
        """Send Quote events at a steady ``rate`` per second for ``seconds``,
        each stamped with its send time, to the first connection with a Quote
        subscription; returns when done."""
        self._blast_done.clear()
        with self._lock:
            self._blast_job = ("pace", (float(rate), int(k), float(seconds), list(symbols)))
        if not self._blast_done.wait(seconds + 60):
            raise TimeoutError("no connection with a Quote subscription took the paced stream")

    def messages(self, kind: Optional[str] = None) -> List[Dict[str, Any]]:
        """Client frames received so far (parsed), optionally of one ``type``."""
        return [m for m in list(self.received) if kind is None or m.get("type") == kind]

    @property
    def subscribed(self) -> Set[Tuple[str, str]]:
        """Every (event type, symbol) any client has subscribed."""
        return set(self._subscriptions)

    # -- internals
    def _record(self, raw: Any) -> None:
        try:
            self.received.append(json.loads(raw))
        except ValueError:
            self.received.append({"type": "<invalid>", "raw": raw})

    def _subscribed(self, etype: str, symbol: str) -> None:
        self._subscriptions.add((etype, symbol))

    def _token_valid(self, token: Any) -> bool:
        with self._lock:
            return isinstance(token, str) and token in self._valid_tokens

    def _row(self, etype: str, symbol: str, t: float) -> Optional[Dict[str, Any]]:
        m = self.market
        ms = int(t * 1000)
        index_like = symbol.startswith(("SPX", "$", "."))
        if etype == "Quote":
            bid, ask, bs, az = m.quote(symbol, t)
            return {"eventType": "Quote", "eventSymbol": symbol, "eventTime": 0, "sequence": 0,
                    "timeNanoPart": 0, "bidTime": ms, "bidExchangeCode": "" if index_like else "Q",
                    "bidPrice": bid, "bidSize": "NaN" if index_like else bs, "askTime": ms,
                    "askExchangeCode": "" if index_like else "Q", "askPrice": ask,
                    "askSize": "NaN" if index_like else az}
        if etype in ("Trade", "TradeETH"):
            price, size, vol = m.trade(symbol, t)
            prev = m.price(symbol, (t // 86400) * 86400 - 1)
            return {"eventType": etype, "eventSymbol": symbol, "eventTime": 0, "time": ms, "timeNanoPart": 0,
                    "sequence": 0, "exchangeCode": "Q", "price": price, "change": round(price - prev, 2),
                    "size": size, "dayId": int(t // 86400), "dayVolume": vol,
                    "dayTurnover": round(vol * price, 2), "tickDirection": "UP",
                    "extendedTradingHours": etype == "TradeETH"}
        if etype == "Summary":
            day = int(t // 86400) * 86400
            today = m.candle(symbol, day, 86400, t)
            before = m.candle(symbol, day - 86400, 86400)
            return {"eventType": "Summary", "eventSymbol": symbol, "eventTime": 0, "dayId": day // 86400,
                    "dayOpenPrice": today.open, "dayHighPrice": today.high, "dayLowPrice": today.low,
                    "dayClosePrice": "NaN", "dayClosePriceType": "REGULAR", "prevDayId": day // 86400 - 1,
                    "prevDayClosePrice": before.close, "prevDayClosePriceType": "FINAL",
                    "prevDayVolume": before.volume, "openInterest": 0}
        if etype == "Profile":
            return {"eventType": "Profile", "eventSymbol": symbol, "eventTime": 0,
                    "description": f"{symbol} synthetic instrument", "shortSaleRestriction": "INACTIVE",
                    "tradingStatus": "ACTIVE", "statusReason": "", "haltStartTime": 0, "haltEndTime": 0,
                    "highLimitPrice": "NaN", "lowLimitPrice": "NaN",
                    "high52WeekPrice": round(m.base_price(symbol) * 1.3, 2),
                    "low52WeekPrice": round(m.base_price(symbol) * 0.7, 2)}
        return None

    def _candle_row(self, echo: str, base: str, start: int, period: int, now: float) -> Dict[str, Any]:
        c = self.market.candle(base, start, period, now)
        ms = start * 1000
        return {"eventType": "Candle", "eventSymbol": echo, "eventTime": 0, "eventFlags": 0,
                "index": _index(ms), "time": ms, "sequence": 0, "count": c.count, "open": c.open,
                "high": c.high, "low": c.low, "close": c.close, "volume": c.volume,
                "vwap": round((c.high + c.low + c.close) / 3, 4), "bidVolume": "NaN",
                "askVolume": "NaN", "impVolatility": "NaN", "openInterest": "NaN"}

    # -- REST (tastytrade)
    def _routes(self) -> Dict[Tuple[str, str], Callable[[JsonRequest], Tuple[int, Any]]]:
        return {("POST", "/sessions"): self._post_sessions, ("POST", "/oauth/token"): self._post_oauth,
                ("GET", "/api-quote-tokens"): self._get_quote_token,
                ("DELETE", "/sessions"): lambda req: (204, ""),
                ("POST", "/_emulator/blast"): self._post_blast,
                ("POST", "/_emulator/pace"): self._post_pace}

    def _post_pace(self, req: JsonRequest) -> Tuple[int, Any]:
        """Test-only control endpoint for :meth:`pace` from another process."""
        body = req.body if isinstance(req.body, dict) else {}
        try:
            self.pace(float(body["rate"]), float(body["seconds"]), int(body.get("k", 1)),
                      list(body.get("symbols") or ["SPY"]))
        except (KeyError, TypeError, ValueError, TimeoutError) as exc:
            return 400, {"error": {"code": "bad_pace", "message": str(exc)}}
        return 200, {"done": True}

    def _post_blast(self, req: JsonRequest) -> Tuple[int, Any]:
        """Test-only control endpoint, so a benchmark can drive an emulator
        running in another process."""
        body = req.body if isinstance(req.body, dict) else {}
        try:
            self.blast(int(body["n"]), int(body.get("k", 1)), list(body.get("symbols") or ["SPY"]))
        except (KeyError, TypeError, ValueError, TimeoutError) as exc:
            return 400, {"error": {"code": "bad_blast", "message": str(exc)}}
        return 200, {"sent": int(body["n"])}

    def _rest_error(self, status: int, code: str, message: str) -> Tuple[int, Any]:
        return status, {"error": {"code": code, "message": message}}

    def _post_sessions(self, req: JsonRequest) -> Tuple[int, Any]:
        self.rest_calls.append(("POST", "/sessions"))
        body = req.body if isinstance(req.body, dict) else {}
        if not req.headers.get("user-agent"):
            return self._rest_error(401, "unauthorized", "A User-Agent header is required")
        if body.get("login") != self.username or body.get("password") != self.password or self.refuse_auth:
            return self._rest_error(401, "invalid_credentials",
                                    "Invalid login, please check your username and password")
        token = "sess-" + _secrets.token_hex(8)
        with self._lock:
            self._session_tokens.add(token)
        return 201, {"data": {"user": {"username": self.username}, "session-token": token,
                              "session-expiration": "2099-01-01T00:00:00.000Z"}, "context": "/sessions"}

    def _post_oauth(self, req: JsonRequest) -> Tuple[int, Any]:
        self.rest_calls.append(("POST", "/oauth/token"))
        body = req.body if isinstance(req.body, dict) else {}
        if body.get("grant_type") != "refresh_token" or body.get("refresh_token") != self.password or \
                not body.get("client_secret") or self.refuse_auth:
            return self._rest_error(401, "invalid_grant", "Invalid refresh token or client secret")
        token = "access-" + _secrets.token_hex(8)
        with self._lock:
            self._access_tokens.add(token)
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": 900}

    def _get_quote_token(self, req: JsonRequest) -> Tuple[int, Any]:
        self.rest_calls.append(("GET", "/api-quote-tokens"))
        auth = req.headers.get("authorization", "")
        with self._lock:
            ok = (auth in self._session_tokens or auth == self.token or
                  (auth.startswith("Bearer ") and auth[7:] in self._access_tokens))
        if not req.headers.get("user-agent") or not ok or self.refuse_auth:
            return self._rest_error(401, "unauthorized", "Unauthorized: log in again")
        if self.customer_not_found:
            return self._rest_error(403, "quote_streamer.customer_not_found_error",
                                    "You must be a customer to access a quote stream.")
        token = "quote-" + _secrets.token_hex(8)
        with self._lock:
            self._valid_tokens.add(token)
        now = time.time()
        return 200, {"data": {"token": token, "dxlink-url": self.url, "level": "api",
                              "issued-at": _iso(now), "expires-at": _iso(now + 86400)},
                     "context": "/api-quote-tokens"}


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(t))
