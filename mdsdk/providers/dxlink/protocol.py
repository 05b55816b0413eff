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
  keepalive timeout (at most every ``keepalive_interval``); a server silent
  for our announced ``keepalive_timeout`` is dead.
* Candle snapshots come newest first between SNAPSHOT_BEGIN and
  SNAPSHOT_END/SNIP; REMOVE_EVENT rows are placeholders; an event older than
  ``fromTime`` also ends a snapshot.
* Nothing survives a reconnect: on every new socket the handshake is redone
  and every desired subscription replayed (live bars resume from the last bar
  received, so the gap is backfilled without duplicates).
* An ERROR saying another session was opened with the same credentials is a
  takeover: the feed stops with TakeoverError instead of fighting back.
"""

from __future__ import annotations

import enum
import json
import re
from collections import deque
from typing import Any, Deque, Dict, List, Optional, Sequence, Set, Tuple

from ...errors import AuthenticationError, ConnectionLost, LocalProtocolError, MdsdkError, TakeoverError
from ...events import Event
from ...intervals import parse_interval
from ..base import Capabilities, Endpoint, Fatal, History, HistoryResult, Subscription
from ..core import MAX_KEYS, Liveness, ProtocolCore, StateMachine, loads, remember
from ..credentials import LoginFlow
from .codec import (REQUEST_FIELDS, CandleRow, candle_key, candle_symbol,
                    compile_decoder, guess_layout, split_candle_symbol)
from .series import Pending, Series

__all__ = ["DXLinkProtocol", "State", "TRANSITIONS", "LIVE", "BARS", "HIST", "CLIENT_VERSION"]


class State(enum.Enum):
    """States of one DXLink socket."""

    IDLE = "IDLE"
    SETUP_SENT = "SETUP_SENT"
    AUTH_SENT = "AUTH_SENT"
    OPENING = "OPENING"
    READY = "READY"
    FAILED = "FAILED"


# (state, event) -> next state; anything else leaves the state alone.
TRANSITIONS: Dict[Tuple[State, str], State] = {
    (State.IDLE, "connect"): State.SETUP_SENT,
    (State.SETUP_SENT, "auth_sent"): State.AUTH_SENT,
    (State.SETUP_SENT, "authorized"): State.OPENING,
    (State.AUTH_SENT, "authorized"): State.OPENING,
    (State.OPENING, "all_opened"): State.READY,
    (State.READY, "channel_closed"): State.OPENING,
    (State.SETUP_SENT, "refused"): State.FAILED,
    (State.AUTH_SENT, "refused"): State.FAILED,
    (State.OPENING, "refused"): State.FAILED,
    (State.READY, "refused"): State.FAILED,
}

LIVE, BARS, HIST = 1, 3, 5
CHANNEL_TYPES = {LIVE: ("Quote", "Trade", "TradeETH", "Summary", "Profile"), BARS: ("Candle",),
                 HIST: ("Candle",)}
KIND_TYPES = {"quote": ("Quote",), "trade": ("Trade", "TradeETH"), "summary": ("Summary",),
              "profile": ("Profile",)}
CLIENT_VERSION = "0.1-DXF-JS/0.3.0"
_MIN_CHUNK = 256  # bytes: the smallest FEED_SUBSCRIPTION frame budget
_UNDECODABLE = (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError, RecursionError)
_TAKEOVER = re.compile(r"another (session|connection|client)|taken over|logged in elsewhere", re.I)


class DXLinkProtocol(ProtocolCore):
    """Sans-I/O DXLink client: see the module docstring for its rules.

    ``token`` and ``url`` make a fixed endpoint; ``login`` (a REST flow such
    as tastytrade's) fetches them instead."""

    capabilities = Capabilities(kinds=("quote", "trade", "bar", "summary", "profile"), history=True,
                                resumes_bars=True)  # candles resubscribe with fromTime = the last bar

    def __init__(self, token: Optional[str] = None, *, provider: str = "dxlink", url: str = "",
                 login: Optional[LoginFlow] = None, keepalive_timeout: float = 60.0,
                 keepalive_interval: float = 30.0, handshake_timeout: float = 10.0,
                 aggregation: float = 0.0, chunk_size: int = 8192, secrets: Tuple[str, ...] = ()) -> None:
        static = None if login is not None else Endpoint(url, token)
        super().__init__(provider, Liveness("DXLink server", keepalive_interval, keepalive_timeout,
                                            handshake_timeout), static=static, login=login, secrets=secrets)
        self.keepalive_timeout = float(keepalive_timeout)
        self.keepalive_interval = float(keepalive_interval)
        self.aggregation = aggregation
        self.chunk_size = max(_MIN_CHUNK, int(chunk_size))
        self._too_big = 0  # 1009 closes seen: the first halves chunk_size, the second is final
        self.machine: StateMachine[State] = StateMachine(TRANSITIONS, State.IDLE)
        self._series: Dict[str, Series] = {}            # live bars by candle key
        self._history: Dict[str, Series] = {}           # active history by candle key
        self._history_queue: Dict[str, Deque[Pending]] = {}
        self._reset_socket()

    @property
    def state(self) -> State:
        """The current socket state."""
        return self.machine.state

    @property
    def token(self) -> Optional[str]:
        """The token of the endpoint in use."""
        ep = self.auth.current
        return ep.token if ep is not None else None

    # ------------------------------------------------------------ lifecycle
    def _reset_socket(self) -> None:
        self.machine.reset()
        self._opened: Set[int] = set()
        self._layouts: Dict[Tuple[int, str], List[str]] = {}
        self._decoders: Dict[Tuple[int, str], Any] = {}
        self._full_decoders: Dict[Tuple[str, Tuple[str, ...]], Any] = {}
        self._candle_decoders: Dict[Tuple[int, Tuple[str, ...]], Any] = {}
        self.live.set_keepalive(self.keepalive_interval)

    def _connected(self, now: float, wall_ns: int) -> None:
        self._reset_socket()
        self.machine.fire("connect")
        self._send({"type": "SETUP", "channel": 0, "version": CLIENT_VERSION,
                    "keepaliveTimeout": _num_out(self.keepalive_timeout),
                    "acceptKeepaliveTimeout": _num_out(self.keepalive_timeout)}, now)

    def _disconnected(self) -> None:
        self._reset_socket()

    @property
    def ready(self) -> bool:
        return self.machine.state is State.READY

    def closed_error(self, code: Optional[int], reason: str) -> Optional[MdsdkError]:
        """Close code 1009 (message too big): a subscription frame exceeded the
        server's limit. The first time, retry with frames half the size; the
        second time the feed stops with LocalProtocolError (a reconnect loop
        would never reach the caller)."""
        if code != 1009:
            return None
        self._too_big += 1
        if self._too_big == 1 and self.chunk_size > _MIN_CHUNK:
            self.chunk_size = max(_MIN_CHUNK, self.chunk_size // 2)
            return ConnectionLost(f"the DXLink server closed the connection with code 1009 (message too big); "
                                  f"retrying once with subscription frames of at most {self.chunk_size} bytes")
        return LocalProtocolError(
            "the DXLink server closed the connection with code 1009 (message too big) again: a "
            f"subscription frame exceeded its limit even at chunk_size={self.chunk_size} bytes; pass a "
            "smaller chunk_size or subscribe to fewer symbols at once")

    # ------------------------------------------------------------ sending
    def _send(self, msg: Dict[str, Any], now: float) -> None:
        self._send_text(json.dumps(msg, separators=(",", ":")), now)

    def _keepalive(self, now: float) -> None:
        self._send({"type": "KEEPALIVE", "channel": 0}, now)

    def replay_sent(self, text: str, now: float, wall_ns: int) -> None:
        """Treat ``text`` as a frame we sent (replay of recorded ``out`` lines)."""
        try:
            msg = loads(text)
        except (ValueError, RecursionError):
            return
        if isinstance(msg, dict) and msg.get("type") == "FEED_SUBSCRIPTION" and isinstance(msg.get("add"), list):
            for item in msg["add"]:
                if isinstance(item, dict) and item.get("type") == "Candle" and isinstance(item.get("fromTime"), int):
                    try:
                        self._track_series_symbol(str(item.get("symbol", "")), item["fromTime"])
                    except ValueError:
                        continue  # a candle symbol we could not have sent: nothing to learn

    def _open_channels(self, now: float) -> None:
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

    def _bar_series(self, sub: Subscription) -> Series:
        iv = parse_interval(sub.interval or "1m")
        key = candle_key(candle_symbol(sub.symbol, iv.count, iv.unit))
        series = self._series.get(key)
        if series is None:
            series = Series(sub.symbol, str(iv), 0)
            self._series[key] = series
        return series

    def _track_series_symbol(self, text: str, from_ms: int) -> Series:
        """The series of a candle symbol we did not subscribe (a recording, or
        a stray); kept only while there are few, so a stream of made-up names
        cannot grow memory (beyond that each row stands alone)."""
        base, attrs = split_candle_symbol(text)
        try:
            iv = parse_interval(attrs.get("", "1m") or "1m")
        except MdsdkError:
            raise ValueError(f"a candle symbol with a bad period: {text[:80]!r}") from None
        series = Series(base, str(iv), from_ms)
        return self._series.setdefault(candle_key(text), series) if len(self._series) < MAX_KEYS else series

    def _group(self, subs: List[Subscription], channels: Set[int], wall_ns: int) -> Dict[int, List[Dict[str, Any]]]:
        """FEED_SUBSCRIPTION items of ``subs`` by channel (only ``channels``);
        live bars resume from the last bar received, so the gap is refetched."""
        by_channel: Dict[int, List[Dict[str, Any]]] = {}
        for sub in subs:
            if sub.kind == "bar":
                series = self._bar_series(sub)
                if series.live is not None:
                    series.from_ms = series.live.time_ms
                elif not series.from_ms:
                    series.from_ms = wall_ns // 1_000_000 - 2 * parse_interval(series.interval).seconds * 1000
            ch, items = self._items(sub)
            if ch in channels:
                by_channel.setdefault(ch, []).extend(items)
        return by_channel

    def _send_subscriptions(self, subs: List[Subscription], now: float, wall_ns: int) -> None:
        for ch, items in self._group(subs, self._opened, wall_ns or self._wall_ns).items():
            self._subscription(ch, "add", items, now)

    def _send_unsubscriptions(self, subs: List[Subscription], now: float, wall_ns: int) -> None:
        by_channel: Dict[int, List[Dict[str, Any]]] = {}
        for sub in subs:
            ch, items = self._items(sub)
            if ch in self._opened:
                by_channel.setdefault(ch, []).extend(items)
        for ch, items in by_channel.items():
            self._subscription(ch, "remove", items, now)

    def _forget(self, subs: List[Subscription]) -> None:
        for sub in subs:
            if sub.kind == "bar":
                self._series.pop(candle_key(self._items(sub)[1][0]["symbol"]), None)

    # ------------------------------------------------------------ history
    def _start_history(self, request_id: int, request: History, now: float, wall_ns: int) -> None:
        key = candle_key(candle_symbol(request.symbol, request.interval.count, request.interval.unit))
        self._history_queue.setdefault(key, deque()).append((request_id, request))
        if key not in self._history:
            self._next_history(key, now)

    def _next_history(self, key: str, now: float) -> None:
        queue = self._history_queue.get(key)
        if not queue:
            self._history_queue.pop(key, None)
            return
        req = queue[0][1]
        series = Series(req.symbol, str(req.interval), req.start_ns // 1_000_000, request=queue[0])
        self._history[key] = series
        if HIST in self._opened:
            self._send_history(series, "add", now)

    def _send_history(self, series: Series, key: str, now: float) -> None:
        assert series.request is not None
        iv = series.request[1].interval
        self._subscription(HIST, key, [{"type": "Candle", "symbol": candle_symbol(
            series.symbol, iv.count, iv.unit), "fromTime": series.from_ms}], now)

    def _cancel_request(self, request_id: int, now: float, wall_ns: int) -> None:
        for key, queue in list(self._history_queue.items()):
            for item in list(queue):
                if item[0] == request_id:
                    queue.remove(item)
            active = self._history.get(key)
            if active and active.request and active.request[0] == request_id:
                self._finish_history(key, now, deliver=False)

    def _finish_history(self, key: str, now: float, wall_ns: int = 0, deliver: bool = True) -> None:
        series = self._history.pop(key)
        assert series.request is not None
        rid, req = series.request
        queue = self._history_queue.get(key)
        if queue and queue[0] is series.request:
            queue.popleft()
        if HIST in self._opened:
            self._send_history(series, "remove", now)
        if deliver:
            self._reply(rid, HistoryResult(series.answer(req, self.provider, wall_ns // 1_000_000), series.truncated))
        self._next_history(key, now)

    # ------------------------------------------------------------ receiving
    def _receive(self, text: str, now: float, wall_ns: int) -> List[Event]:
        try:
            msg = loads(text)
        except (ValueError, RecursionError):
            return self._malformed(text, wall_ns, "not JSON")
        return self._message(text, msg, now, wall_ns)

    def _receive_many(self, texts: Sequence[str], now: float, wall_ns: int) -> List[Event]:
        """Frames that arrived together: consecutive COMPACT FEED_DATA frames of
        one event type (one pair each, the common shape) are decoded as one
        array, one column pass for the lot; anything else goes frame by frame."""
        out: List[Event] = []
        run: List[str] = []  # the frames of the current run
        values: List[Any] = []
        run_key: Optional[Tuple[Any, str]] = None
        for text in texts:
            try:
                msg = loads(text)
            except (ValueError, RecursionError):
                msg = None
            key, more = self._plain_compact(msg)
            if key is None or key != run_key:
                if run:
                    out += self._decode_run(run_key, run, values, now, wall_ns)  # type: ignore[arg-type]
                run, values, run_key = [], [], key
            if key is not None:
                run.append(text)
                values += more
            else:
                out += self._one(text, now, wall_ns)  # parsed again: control frames are few
        if run:
            out += self._decode_run(run_key, run, values, now, wall_ns)  # type: ignore[arg-type]
        return out

    def _plain_compact(self, msg: Any) -> Tuple[Optional[Tuple[Any, str]], List[Any]]:
        """``((channel, type), values)`` of a FEED_DATA frame holding one whole
        COMPACT array of a type with a row decoder; ``(None, [])`` otherwise."""
        if msg.__class__ is not dict or msg.get("type") != "FEED_DATA":
            return None, []
        data, ch = msg.get("data"), msg.get("channel", 0)
        if (data.__class__ is not list or len(data) != 2 or data[0].__class__ is not str
                or data[1].__class__ is not list or ch.__class__ is not int):
            return None, []  # anything odder goes frame by frame, where it is judged (lists are unhashable)
        decode = self._decoders.get((ch, data[0]))
        if decode is None or decode is _skip or len(data[1]) % decode.stride:
            return None, []
        return (ch, data[0]), data[1]

    def _decode_run(self, key: Tuple[Any, str], run: List[str], values: List[Any], now: float,
                    wall_ns: int) -> List[Event]:
        try:
            # What _compact() would do, less its checks: _plain_compact() found this decoder and the stride fits
            return self._decoders[key](values, wall_ns)  # type: ignore[no-any-return]
        except Exception:  # noqa: BLE001 - frame by frame: a report (or a bug) then costs the bad frame only
            return [ev for text in run for ev in self._one(text, now, wall_ns)]

    def _message(self, text: str, msg: Any, now: float, wall_ns: int) -> List[Event]:
        kind = msg.get("type") if isinstance(msg, dict) else None
        if not isinstance(kind, str):
            return self._malformed(text, wall_ns, "not a JSON object with a string 'type'")
        if kind == "FEED_DATA":
            try:
                return self._feed_data(text, msg, wall_ns, now)
            except _UNDECODABLE as exc:
                return self._malformed(text, wall_ns, f"undecodable FEED_DATA ({exc})")
        handler = self._HANDLERS.get(kind)
        if handler is None:
            return []  # unknown types are ignored, as both official clients do
        try:
            return handler(self, msg, now, wall_ns) or []
        except _UNDECODABLE as exc:
            return self._malformed(text, wall_ns, f"bad {kind} message ({exc})")

    def _on_setup(self, msg: Dict[str, Any], now: float, wall_ns: int) -> None:
        timeout = msg.get("keepaliveTimeout")
        if isinstance(timeout, (int, float)) and timeout > 0:
            self.live.set_keepalive(min(self.keepalive_interval, float(timeout) / 2.0))

    def _on_auth_state(self, msg: Dict[str, Any], now: float, wall_ns: int) -> List[Event]:
        state = msg.get("state")
        if state == "AUTHORIZED":
            if self.machine.fire("authorized"):
                self._open_channels(now)
            return []
        if state != "UNAUTHORIZED":
            raise ValueError(f"unknown AUTH_STATE {state!r}")
        current = self.machine.state
        if current is State.SETUP_SENT and self.token:
            self._send({"type": "AUTH", "channel": 0, "token": self.token}, now)
            self.machine.fire("auth_sent")
            return []
        if current is State.SETUP_SENT:
            return self._refused(AuthenticationError(
                "the DXLink server requires a token and none was given; pass token=... "
                "(or use provider 'tastytrade' with your login)"), wall_ns)
        if current is State.AUTH_SENT:
            return self._refused(AuthenticationError(
                "the DXLink server rejected the token (AUTH_STATE UNAUTHORIZED); "
                "fetch a fresh quote token and connect again"), wall_ns)
        if current in (State.OPENING, State.READY):
            return self._refused(AuthenticationError(
                "the DXLink session lost its authorization (token expired?)"), wall_ns)
        return []

    def _refused(self, error: MdsdkError, wall_ns: int) -> List[Event]:
        self.machine.fire("refused")
        return self._auth_refused(error, wall_ns)

    def _on_error(self, msg: Dict[str, Any], now: float, wall_ns: int) -> List[Event]:
        code = str(msg.get("error", "UNKNOWN"))
        text = str(msg.get("message", ""))
        if _TAKEOVER.search(text):
            err = TakeoverError(f"DXLink closed this session: {text}; another client logged in with the "
                                "same credentials (mdsdk does not reconnect, to avoid a reconnect war)",
                                provider=self.provider, code=code, server_message=text)
            self.machine.fire("refused")
            self.signals.append(Fatal(err))
            return [self._status("error", str(err), wall_ns, code=code)]
        if code == "UNAUTHORIZED" or "AuthException" in text:
            return self._refused(AuthenticationError(f"DXLink refused authorization: {code}: {text}"), wall_ns)
        return [self._status("error", f"DXLink server error {code} on channel "
                             f"{msg.get('channel', 0)}: {text}", wall_ns, code=code)]

    def _on_channel_opened(self, msg: Dict[str, Any], now: float, wall_ns: int) -> List[Event]:
        ch = msg["channel"]
        if ch not in CHANNEL_TYPES or ch in self._opened:
            return []
        self._opened.add(ch)
        self._feed_setup(ch, now)
        if ch == HIST:
            for series in self._history.values():
                series.begin()
                series.in_snapshot = False
                self._send_history(series, "add", now)
        elif self.machine.state is State.READY:
            # a channel the server closed and reopened: its subscriptions again
            for c, items in self._group(list(self.desired), {ch}, wall_ns).items():
                self._subscription(c, "add", items, now)
        if self._opened == set(CHANNEL_TYPES) and self.machine.fire("all_opened"):
            return self._handshake_done(now, wall_ns)
        return []

    def _on_channel_closed(self, msg: Dict[str, Any], now: float, wall_ns: int) -> List[Event]:
        ch = msg["channel"]
        if ch in self._opened and self.machine.state in (State.OPENING, State.READY):
            # The server closed a channel we still use: ask for it again.
            self._opened.discard(ch)
            self._send({"type": "CHANNEL_REQUEST", "channel": ch, "service": "FEED",
                        "parameters": {"contract": "AUTO"}}, now)
        return []

    def _on_feed_config(self, msg: Dict[str, Any], now: float, wall_ns: int) -> None:
        ch = msg.get("channel", 0)
        for etype, names in (msg.get("eventFields") or {}).items():
            # Layouts are what the server announced: when full, keep them and ignore new ones.
            if isinstance(names, list) and names and all(isinstance(n, str) for n in names) and (
                    len(self._layouts) < MAX_KEYS or (ch, etype) in self._layouts):
                self._layouts[(ch, etype)] = list(names)
                self._decoders.pop((ch, etype), None)

    def _on_keepalive(self, msg: Dict[str, Any], now: float, wall_ns: int) -> None:
        return None

    _HANDLERS = {
        "SETUP": _on_setup, "AUTH_STATE": _on_auth_state, "ERROR": _on_error,
        "CHANNEL_OPENED": _on_channel_opened, "CHANNEL_CLOSED": _on_channel_closed,
        "FEED_CONFIG": _on_feed_config, "KEEPALIVE": _on_keepalive,
    }

    # ------------------------------------------------------------ FEED_DATA
    def _feed_data(self, text: str, msg: Dict[str, Any], received_ns: int, now: float) -> List[Event]:
        ch, data = msg.get("channel", 0), msg["data"]
        if data.__class__ is not list:
            raise TypeError(f"data is a {type(data).__name__}, not a list")
        if not data or data[0].__class__ is not str:
            return self._full(ch, data, received_ns, now)
        out: List[Event] = []
        bad, first = 0, ""
        for i in range(0, len(data) - 1, 2):
            try:
                out.extend(self._compact(ch, data[i], data[i + 1], received_ns, now))
            except _UNDECODABLE as exc:
                bad, first = bad + 1, first or str(exc)[:200]
        if bad:  # the good pairs are delivered; the frame is reported once, however many pairs were bad
            out += self._malformed(text, received_ns, f"{bad} undecodable FEED_DATA item(s) ({first})")
        return out

    def _compact(self, ch: int, etype: str, values: List[Any], received_ns: int, now: float) -> List[Event]:
        names = self._layouts.get((ch, etype))
        if names is None:
            names = guess_layout(etype, values)
            if names is None:
                raise ValueError(f"no FEED_CONFIG field list for {str(etype)[:40]} on channel {str(ch)[:20]}")
        stride = len(names)
        n = len(values)
        if n % stride:
            raise ValueError(f"{n} values is not a multiple of the {stride} {etype} fields")
        if etype == "Candle":
            key = (ch, tuple(names))
            dec = self._candle_decoders.get(key)
            if dec is None:
                dec = remember(self._candle_decoders, key, CandleRow.compile(names))
            return self._candles(ch, [dec(values, o) for o in range(0, n, stride)], received_ns, now)
        dkey = (ch, etype)
        decode = self._decoders.get(dkey)
        if decode is None:
            decode = remember(self._decoders, dkey, compile_decoder(etype, names, self.provider) or _skip)
        events: List[Event] = [] if decode is _skip else decode(values, received_ns)
        return events

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
                    dec = remember(self._candle_decoders, ckey, CandleRow.compile(names))
                rows.append(dec(values, 0))
                continue
            fkey = (str(etype), names)
            decode = self._full_decoders.get(fkey)
            if decode is None:
                decode = remember(self._full_decoders, fkey, compile_decoder(str(etype), names, self.provider) or _skip)
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
                if self.machine.state is not State.IDLE:
                    continue  # late rows of a finished history request
            series = self._series.get(key) or self._track_series_symbol(row.symbol, 0)
            row.time = row.time or received_ns  # no time on the wire: the receive time (DESIGN.md section 4)
            series.live_row(row, self.provider, out)
        return out


def _skip(values: Any, received_ns: int) -> List[Event]:  # pragma: no cover - sentinel
    return []


def _iv(interval: str) -> Tuple[int, str]:
    iv = parse_interval(interval)
    return iv.count, iv.unit


def _num_out(v: float) -> Any:
    return int(v) if float(v).is_integer() else v

