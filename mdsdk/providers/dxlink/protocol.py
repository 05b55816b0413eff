"""The DXLink client protocol as a pure state machine.

Rules (from ../shared/protocols/dxlink.md, sections 3, 8, 10-12):

* SETUP is the first frame. AUTH is sent only after the server's
  ``AUTH_STATE UNAUTHORIZED`` (tastytrade rejects an early AUTH under load);
  no channel is requested before ``AUTHORIZED``.
* Three FEED channels, all ``contract: AUTO``: 1 for ticker events (Quote,
  Trade, TradeETH, Summary, Profile), 3 for live candles, 5 for history.
  FEED_SETUP and FEED_SUBSCRIPTION are sent only once a channel is OPENED.
* Decoding follows the latest FEED_CONFIG per (channel, type); FULL and
  COMPACT are told apart by shape; several types per FEED_DATA are decoded.
* KEEPALIVE goes out whenever we have been silent for half the server's
  keepalive timeout (at most every 30 s); a server silent for our announced
  ``keepalive_timeout`` is dead.
* Candle snapshots come newest first between SNAPSHOT_BEGIN and
  SNAPSHOT_END/SNIP; REMOVE_EVENT rows are placeholders; an event older than
  ``fromTime`` also ends a snapshot.
* Nothing survives a reconnect: on every new socket the handshake is redone
  and every desired subscription replayed (live bars resume from the last bar
  received, so the gap is backfilled without duplicates).

State transitions of one socket::

    IDLE --connection_made--> SETUP_SENT --AUTH_STATE UNAUTHORIZED--> AUTH_SENT
    SETUP_SENT/AUTH_SENT --AUTH_STATE AUTHORIZED--> OPENING --all channels opened--> READY
    AUTH_SENT --AUTH_STATE UNAUTHORIZED--> FAILED (AuthRejected)
    READY --AUTH_STATE UNAUTHORIZED--> FAILED (AuthExpired)
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Deque, Dict, Iterable, List, Optional, Set, Tuple

from ...errors import (AuthenticationError, ConnectionLost, LocalProtocolError, MdsdkError)
from ...events import Event
from ...intervals import parse_interval
from ..base import (AuthExpired, AuthRejected, HistoryDone, HistoryRequest, ProviderProtocol,
                    Ready, Subscription)
from .codec import (REMOVE_EVENT, REQUEST_FIELDS, SNAPSHOT_BEGIN, SNAPSHOT_END, SNAPSHOT_SNIP,
                    TX_PENDING, CandleRow, candle_key, candle_symbol, compile_decoder,
                    guess_layout, split_candle_symbol)

__all__ = ["DXLinkProtocol", "LIVE", "BARS", "HIST", "CLIENT_VERSION"]

LIVE, BARS, HIST = 1, 3, 5
CHANNEL_TYPES = {LIVE: ("Quote", "Trade", "TradeETH", "Summary", "Profile"), BARS: ("Candle",),
                 HIST: ("Candle",)}
KIND_TYPES = {"quote": ("Quote",), "trade": ("Trade", "TradeETH"), "summary": ("Summary",),
              "profile": ("Profile",)}
CLIENT_VERSION = "0.1-DXF-JS/0.3.0"
_END = SNAPSHOT_END | SNAPSHOT_SNIP


@dataclass
class _Series:
    """Candle state of one candle symbol: snapshot buffer and the live bar."""

    symbol: str
    interval: str
    from_ms: int
    rows: Dict[int, CandleRow] = field(default_factory=dict)
    in_snapshot: bool = False
    end_seen: bool = False
    live: Optional[CandleRow] = None
    request: Optional[HistoryRequest] = None
    truncated: bool = False

    def begin(self) -> None:
        self.rows.clear()
        self.in_snapshot, self.end_seen, self.truncated = True, False, False

    def take(self, row: CandleRow) -> bool:
        """Buffer one snapshot row; True when the snapshot is complete."""
        if row.flags & SNAPSHOT_BEGIN:
            self.begin()
        if row.time_ms < self.from_ms and not row.flags & REMOVE_EVENT:
            return True  # an event before fromTime is a legal end marker
        if row.flags & REMOVE_EVENT:
            self.rows.pop(row.index, None)
        else:
            self.rows[row.index] = row
        if row.flags & _END:
            self.end_seen = True
            self.truncated = bool(row.flags & SNAPSHOT_SNIP)
        return self.end_seen and not row.flags & TX_PENDING

    def sorted_rows(self) -> List[CandleRow]:
        return sorted(self.rows.values(), key=lambda r: r.time_ms)


class DXLinkProtocol(ProviderProtocol):
    """Sans-I/O DXLink client: see the module docstring for its rules."""

    def __init__(self, token: Optional[str] = None, *, provider: str = "dxlink",
                 keepalive_timeout: float = 60.0, keepalive_interval: float = 30.0,
                 handshake_timeout: float = 10.0, aggregation: float = 0.0,
                 chunk_size: int = 8192) -> None:
        super().__init__()
        self.provider = provider
        self.token = token
        self.keepalive_timeout = float(keepalive_timeout)
        self.keepalive_interval = float(keepalive_interval)
        self.handshake_timeout = float(handshake_timeout)
        self.aggregation = aggregation
        self.chunk_size = chunk_size
        # Kept across sockets.
        self._desired: Dict[Subscription, None] = {}
        self._series: Dict[str, _Series] = {}            # live bars by candle key
        self._history: Dict[str, _Series] = {}           # active history by candle key
        self._history_queue: Dict[str, Deque[HistoryRequest]] = {}
        self._connections = 0
        self._reset_socket()

    # ------------------------------------------------------------ lifecycle
    def _reset_socket(self) -> None:
        self.state = "IDLE"
        self.server_keepalive = 60.0
        self._opened: Set[int] = set()
        self._layouts: Dict[Tuple[int, str], List[str]] = {}
        self._decoders: Dict[Tuple[int, str], Any] = {}
        self._full_decoders: Dict[Tuple[str, Tuple[str, ...]], Any] = {}
        self._candle_decoders: Dict[Tuple[int, Tuple[str, ...]], Any] = {}
        self._last_recv = self._last_send = self._hs_deadline = 0.0

    def connection_made(self, now: float) -> None:
        self._reset_socket()
        self._connections += 1
        self._last_recv = self._last_send = now
        self._hs_deadline = now + self.handshake_timeout
        self.state = "SETUP_SENT"
        self._send({"type": "SETUP", "channel": 0, "version": CLIENT_VERSION,
                    "keepaliveTimeout": _num_out(self.keepalive_timeout),
                    "acceptKeepaliveTimeout": _num_out(self.keepalive_timeout)}, now)

    def connection_lost(self) -> None:
        self._reset_socket()

    @property
    def ready(self) -> bool:
        return self.state == "READY"

    def closed_error(self, code: Optional[int], reason: str) -> Optional[MdsdkError]:
        if code == 1009:
            return LocalProtocolError(
                "the DXLink server closed the connection with code 1009 (message too big): a "
                f"subscription frame exceeded its limit; lower chunk_size (now {self.chunk_size} "
                "bytes) or subscribe to fewer symbols at once")
        return None

    # ------------------------------------------------------------ timers
    def next_deadline(self) -> Optional[float]:
        if self.state == "IDLE":
            return None
        interval = min(self.keepalive_interval, self.server_keepalive / 2.0)
        deadline = min(self._last_send + interval, self._last_recv + self.keepalive_timeout)
        if self.state != "READY":
            deadline = min(deadline, self._hs_deadline)
        return deadline

    def handle_timer(self, now: float) -> None:
        if self.state == "IDLE":
            return
        if self.state != "READY" and now >= self._hs_deadline and self.state != "FAILED":
            raise ConnectionLost(
                f"DXLink handshake did not finish within {self.handshake_timeout:g} s "
                f"(stuck in {self.state}); the server may be overloaded")
        if now >= self._last_recv + self.keepalive_timeout:
            raise ConnectionLost(
                f"no message from the DXLink server for {now - self._last_recv:.1f} s "
                f"(keepalive timeout {self.keepalive_timeout:g} s); reconnecting")
        if now >= self._last_send + min(self.keepalive_interval, self.server_keepalive / 2.0):
            self._send({"type": "KEEPALIVE", "channel": 0}, now)

    # ------------------------------------------------------------ sending
    def _send(self, msg: Dict[str, Any], now: float) -> None:
        self._out.append(json.dumps(msg, separators=(",", ":")))
        self._last_send = now

    def replay_sent(self, text: str, now: float) -> None:
        """Treat ``text`` as a frame we sent (replay of recorded ``out`` lines)."""
        try:
            msg = json.loads(text)
        except ValueError:
            return
        if isinstance(msg, dict) and msg.get("type") == "FEED_SUBSCRIPTION":
            for item in msg.get("add") or ():
                if isinstance(item, dict) and item.get("type") == "Candle" and "fromTime" in item:
                    self._track_series_symbol(str(item.get("symbol", "")), int(item["fromTime"]))

    def _open_channels(self, now: float) -> None:
        self.state = "OPENING"
        for ch in (LIVE, BARS, HIST):
            self._send({"type": "CHANNEL_REQUEST", "channel": ch, "service": "FEED",
                        "parameters": {"contract": "AUTO"}}, now)

    def _feed_setup(self, ch: int, now: float) -> None:
        self._send({"type": "FEED_SETUP", "channel": ch,
                    "acceptAggregationPeriod": self.aggregation, "acceptDataFormat": "COMPACT",
                    "acceptEventFields": {t: REQUEST_FIELDS[t] for t in CHANNEL_TYPES[ch]}}, now)

    def _subscription(self, ch: int, key: str, items: List[Dict[str, Any]], now: float) -> None:
        """Send ``items`` under ``key`` ("add"/"remove"), split so that no
        frame exceeds ``chunk_size`` bytes (servers close with 1009 beyond)."""
        chunk: List[Dict[str, Any]] = []
        size = 64
        for item in items:
            item_size = len(json.dumps(item)) + 1
            if chunk and size + item_size > self.chunk_size:
                self._send({"type": "FEED_SUBSCRIPTION", "channel": ch, key: chunk}, now)
                chunk, size = [], 64
            chunk.append(item)
            size += item_size
        if chunk:
            self._send({"type": "FEED_SUBSCRIPTION", "channel": ch, key: chunk}, now)

    # ------------------------------------------------------------ subscriptions
    def _items(self, sub: Subscription) -> Tuple[int, List[Dict[str, Any]]]:
        if sub.kind == "bar":
            series = self._bar_series(sub)
            return BARS, [{"type": "Candle", "symbol": candle_symbol(
                sub.symbol, *_iv(series.interval)), "fromTime": series.from_ms}]
        return LIVE, [{"type": t, "symbol": sub.symbol} for t in KIND_TYPES.get(sub.kind, ())]

    def _bar_series(self, sub: Subscription) -> _Series:
        iv = parse_interval(sub.interval or "1m")
        key = candle_key(candle_symbol(sub.symbol, iv.count, iv.unit))
        series = self._series.get(key)
        if series is None:
            series = _Series(sub.symbol, str(iv), 0)
            self._series[key] = series
        return series

    def _track_series_symbol(self, text: str, from_ms: int) -> None:
        base, attrs = split_candle_symbol(text)
        try:
            iv = parse_interval(attrs.get("", "1m") or "1m")
        except MdsdkError:
            return
        self._series.setdefault(candle_key(text), _Series(base, str(iv), from_ms))

    def subscribe(self, subs: Iterable[Subscription], now: float, *, _replay: bool = False) -> None:
        by_channel: Dict[int, List[Dict[str, Any]]] = {}
        for sub in subs:
            if sub in self._desired and not _replay:
                continue
            self._desired[sub] = None
            if sub.kind == "bar":
                series = self._bar_series(sub)
                if series.live is not None:
                    series.from_ms = series.live.time_ms
                elif not series.from_ms:
                    series.from_ms = int(now * 1000 - 2 * parse_interval(series.interval).seconds * 1000)
            ch, items = self._items(sub)
            if ch in self._opened:
                by_channel.setdefault(ch, []).extend(items)
        for ch, items in by_channel.items():
            self._subscription(ch, "add", items, now)

    def unsubscribe(self, subs: Iterable[Subscription], now: float) -> None:
        by_channel: Dict[int, List[Dict[str, Any]]] = {}
        for sub in subs:
            if sub not in self._desired:
                continue
            del self._desired[sub]
            ch, items = self._items(sub)
            if sub.kind == "bar":
                self._series.pop(candle_key(items[0]["symbol"]), None)
            if ch in self._opened:
                by_channel.setdefault(ch, []).extend(items)
        for ch, items in by_channel.items():
            self._subscription(ch, "remove", items, now)

    @property
    def subscriptions(self) -> Tuple[Subscription, ...]:
        """The desired subscriptions, replayed on every reconnect."""
        return tuple(self._desired)

    # ------------------------------------------------------------ history
    def request_history(self, request: HistoryRequest, now: float) -> None:
        key = candle_key(candle_symbol(request.symbol, request.interval.count, request.interval.unit))
        self._history_queue.setdefault(key, deque()).append(request)
        if key not in self._history:
            self._start_history(key, now)

    def _start_history(self, key: str, now: float) -> None:
        queue = self._history_queue.get(key)
        if not queue:
            self._history_queue.pop(key, None)
            return
        req = queue[0]
        series = _Series(req.symbol, str(req.interval), req.start_ns // 1_000_000, request=req)
        self._history[key] = series
        if HIST in self._opened:
            self._send_history_add(series, now)

    def _send_history_add(self, series: _Series, now: float) -> None:
        assert series.request is not None
        iv = series.request.interval
        self._subscription(HIST, "add", [{"type": "Candle", "symbol": candle_symbol(
            series.symbol, iv.count, iv.unit), "fromTime": series.from_ms}], now)

    def cancel_history(self, request_id: int, now: float) -> None:
        for key, queue in list(self._history_queue.items()):
            for req in list(queue):
                if req.id == request_id:
                    queue.remove(req)
            active = self._history.get(key)
            if active and active.request and active.request.id == request_id:
                self._finish_history(key, now, deliver=False)

    def _finish_history(self, key: str, now: float, received_ns: int = 0, deliver: bool = True) -> None:
        series = self._history.pop(key)
        req = series.request
        assert req is not None
        queue = self._history_queue.get(key)
        if queue and queue[0] is req:
            queue.popleft()
        if HIST in self._opened:
            self._subscription(HIST, "remove", [{"type": "Candle", "symbol": candle_symbol(
                req.symbol, req.interval.count, req.interval.unit), "fromTime": series.from_ms}], now)
        if deliver:
            span_ms = req.interval.seconds * 1000
            now_ms = received_ns // 1_000_000
            bars = tuple(
                r.bar(req.symbol, str(req.interval), self.provider,
                      complete=not now_ms or r.time_ms + span_ms <= now_ms)
                for r in series.sorted_rows()
                if req.start_ns <= r.time_ms * 1_000_000 < req.end_ns)
            self.signals.append(HistoryDone(req.id, bars, series.truncated))
        self._start_history(key, now)

    # ------------------------------------------------------------ receiving
    def receive(self, text: str, now: float, received_ns: int) -> List[Event]:
        self._last_recv = now
        try:
            msg = json.loads(text)
            kind = msg["type"]
        except (ValueError, TypeError, KeyError):
            return self._malformed(text, received_ns, "not a JSON object with a 'type'")
        if kind == "FEED_DATA":
            try:
                return self._feed_data(msg, received_ns, now)
            except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
                return self._malformed(text, received_ns, f"undecodable FEED_DATA ({exc})")
        handler = self._HANDLERS.get(kind)
        if handler is None:
            return []  # unknown types are ignored, as both official clients do
        try:
            return handler(self, msg, now, received_ns) or []
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            return self._malformed(text, received_ns, f"bad {kind} message ({exc})")

    def _malformed(self, text: str, received_ns: int, why: str) -> List[Event]:
        self.malformed += 1
        shown = text if len(text) <= 120 else text[:117] + "..."
        return [self._status("error", f"skipped a malformed frame from the server: {why}: {shown!r}",
                             received_ns, malformed=self.malformed)]

    def _on_setup(self, msg: Dict[str, Any], now: float, received_ns: int) -> None:
        timeout = msg.get("keepaliveTimeout")
        if isinstance(timeout, (int, float)) and timeout > 0:
            self.server_keepalive = float(timeout)

    def _on_auth_state(self, msg: Dict[str, Any], now: float, received_ns: int) -> List[Event]:
        state = msg.get("state")
        if state == "AUTHORIZED":
            if self.state in ("SETUP_SENT", "AUTH_SENT"):
                self._open_channels(now)
            return []
        if state != "UNAUTHORIZED":
            raise ValueError(f"unknown AUTH_STATE {state!r}")
        if self.state == "SETUP_SENT":
            if self.token:
                self._send({"type": "AUTH", "channel": 0, "token": self.token}, now)
                self.state = "AUTH_SENT"
                return []
            return self._fail(AuthRejected(AuthenticationError(
                "the DXLink server requires a token and none was given; pass token=... "
                "(or use provider 'tastytrade' with your login)")), received_ns)
        if self.state == "AUTH_SENT":
            return self._fail(AuthRejected(AuthenticationError(
                "the DXLink server rejected the token (AUTH_STATE UNAUTHORIZED); "
                "fetch a fresh quote token and connect again")), received_ns)
        if self.state in ("OPENING", "READY"):
            return self._fail(AuthExpired(AuthenticationError(
                "the DXLink session lost its authorization (token expired?)")), received_ns)
        return []

    def _fail(self, signal: Any, received_ns: int) -> List[Event]:
        self.state = "FAILED"
        self.signals.append(signal)
        return [self._status("error", str(signal.error), received_ns)]

    def _on_error(self, msg: Dict[str, Any], now: float, received_ns: int) -> List[Event]:
        code = str(msg.get("error", "UNKNOWN"))
        text = str(msg.get("message", ""))
        if code == "UNAUTHORIZED" or "AuthException" in text:
            err = AuthenticationError(f"DXLink refused authorization: {code}: {text}")
            if self.state in ("OPENING", "READY"):
                return self._fail(AuthExpired(err), received_ns)
            return self._fail(AuthRejected(err), received_ns)
        return [self._status("error", f"DXLink server error {code} on channel "
                             f"{msg.get('channel', 0)}: {text}", received_ns, code=code)]

    def _on_channel_opened(self, msg: Dict[str, Any], now: float, received_ns: int) -> List[Event]:
        ch = int(msg["channel"])
        if ch not in CHANNEL_TYPES or ch in self._opened:
            return []
        self._opened.add(ch)
        self._feed_setup(ch, now)
        if ch == HIST:
            for series in self._history.values():
                series.begin()
                series.in_snapshot = False
                self._send_history_add(series, now)
        else:
            items: List[Dict[str, Any]] = []
            for sub in self._desired:
                sub_ch, sub_items = self._items(sub)
                if sub_ch == ch:
                    if sub.kind == "bar":
                        series = self._bar_series(sub)
                        if series.live is not None:
                            series.from_ms = series.live.time_ms
                            sub_ch, sub_items = self._items(sub)
                    items.extend(sub_items)
            if items:
                self._subscription(ch, "add", items, now)
        if self._opened == set(CHANNEL_TYPES) and self.state == "OPENING":
            self.state = "READY"
            self.signals.append(Ready())
            if self._connections > 1 and self._desired:
                return [self._status("resubscribed",
                                     f"restored {len(self._desired)} subscriptions after reconnect",
                                     received_ns, count=len(self._desired))]
        return []

    def _on_channel_closed(self, msg: Dict[str, Any], now: float, received_ns: int) -> List[Event]:
        ch = int(msg["channel"])
        if ch in self._opened and self.state in ("OPENING", "READY"):
            # The server closed a channel we still use: ask for it again.
            self._opened.discard(ch)
            self._send({"type": "CHANNEL_REQUEST", "channel": ch, "service": "FEED",
                        "parameters": {"contract": "AUTO"}}, now)
            if self.state == "READY":
                self.state = "OPENING"
        return []

    def _on_feed_config(self, msg: Dict[str, Any], now: float, received_ns: int) -> None:
        ch = int(msg.get("channel", 0))
        for etype, names in (msg.get("eventFields") or {}).items():
            self._layouts[(ch, etype)] = list(names)
            self._decoders.pop((ch, etype), None)

    def _on_keepalive(self, msg: Dict[str, Any], now: float, received_ns: int) -> None:
        return None

    _HANDLERS = {
        "SETUP": _on_setup, "AUTH_STATE": _on_auth_state, "ERROR": _on_error,
        "CHANNEL_OPENED": _on_channel_opened, "CHANNEL_CLOSED": _on_channel_closed,
        "FEED_CONFIG": _on_feed_config, "KEEPALIVE": _on_keepalive,
    }

    # ------------------------------------------------------------ FEED_DATA
    def _feed_data(self, msg: Dict[str, Any], received_ns: int, now: float) -> List[Event]:
        ch = msg.get("channel", 0)
        data = msg["data"]
        if not data:
            return []
        if data[0].__class__ is str:
            out: List[Event] = []
            for i in range(0, len(data) - 1, 2):
                etype, values = data[i], data[i + 1]
                out.extend(self._compact(ch, etype, values, received_ns, now))
            return out
        return self._full(ch, data, received_ns, now)

    def _compact(self, ch: int, etype: str, values: List[Any], received_ns: int, now: float) -> List[Event]:
        names = self._layouts.get((ch, etype))
        if names is None:
            names = guess_layout(etype, values)
            if names is None:
                return self._malformed(json.dumps([etype, values[:20]]), received_ns,
                                       f"no FEED_CONFIG field list for {etype} on channel {ch}")
        stride = len(names)
        n = len(values)
        if n % stride:
            return self._malformed(json.dumps([etype, values[:20]]), received_ns,
                                   f"{n} values is not a multiple of the {stride} {etype} fields")
        if etype == "Candle":
            key = (ch, tuple(names))
            dec = self._candle_decoders.get(key)
            if dec is None:
                dec = self._candle_decoders[key] = CandleRow.compile(names)
            return self._candles(ch, [dec(values, o) for o in range(0, n, stride)], received_ns, now)
        dkey = (ch, etype)
        decode = self._decoders.get(dkey)
        if decode is None:
            decode = self._decoders[dkey] = compile_decoder(etype, names, self.provider) or _skip
        if decode is _skip:
            return []
        return decode(values, received_ns)

    def _full(self, ch: int, data: List[Dict[str, Any]], received_ns: int, now: float) -> List[Event]:
        out: List[Event] = []
        rows: List[CandleRow] = []
        for obj in data:
            etype = obj.get("eventType")
            names = tuple(obj)
            values = list(obj.values())
            if etype == "Candle":
                ckey = (-1, names)
                dec = self._candle_decoders.get(ckey)
                if dec is None:
                    dec = self._candle_decoders[ckey] = CandleRow.compile(names)
                rows.append(dec(values, 0))
                continue
            fkey = (str(etype), names)
            decode = self._full_decoders.get(fkey)
            if decode is None:
                decode = self._full_decoders[fkey] = compile_decoder(str(etype), names, self.provider) or _skip
            if decode is not _skip:
                out.extend(decode(values, received_ns))
        if rows:
            out.extend(self._candles(ch, rows, received_ns, now))
        return out

    def _candles(self, ch: int, rows: List[CandleRow], received_ns: int, now: float) -> List[Event]:
        out: List[Event] = []
        for row in rows:
            key = candle_key(row.symbol)
            if ch == HIST:
                history = self._history.get(key)
                if history is not None:
                    if history.take(row):
                        self._finish_history(key, now, received_ns)
                    continue
                if self.state != "IDLE":
                    continue  # late rows of a finished history request
            series = self._series.get(key)
            if series is None:
                self._track_series_symbol(row.symbol, 0)
                series = self._series[key]
            self._live_candle(series, row, out)
        return out

    def _live_candle(self, series: _Series, row: CandleRow, out: List[Event]) -> None:
        if row.flags & SNAPSHOT_BEGIN or series.in_snapshot:
            if not series.take(row):
                return
            series.in_snapshot = False
            last = series.live.time_ms if series.live is not None else -1
            rows = [r for r in series.sorted_rows() if r.time_ms >= last]
            series.rows.clear()
            for i, r in enumerate(rows):
                out.append(r.bar(series.symbol, series.interval, self.provider,
                                 complete=i < len(rows) - 1))
            if rows:
                series.live = rows[-1]
            return
        if row.flags & REMOVE_EVENT:
            return
        live = series.live
        if live is not None and row.time_ms > live.time_ms:
            out.append(live.bar(series.symbol, series.interval, self.provider, complete=True))
        if live is None or row.time_ms >= live.time_ms:
            series.live = row
            out.append(row.bar(series.symbol, series.interval, self.provider, complete=False))
        else:
            out.append(row.bar(series.symbol, series.interval, self.provider, complete=True))


def _skip(values: Any, received_ns: int) -> List[Event]:  # pragma: no cover - sentinel
    return []


def _iv(interval: str) -> Tuple[int, str]:
    iv = parse_interval(interval)
    return iv.count, iv.unit


def _num_out(v: float) -> Any:
    return int(v) if float(v).is_integer() else v

