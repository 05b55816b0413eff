"""One DXLink client connection: the protocol handling of the DXLink
emulator (dxlink.md section 14), on the shared session loop."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Set, Tuple

from websockets.sync.server import ServerConnection

from ._base import Farewell, SessionBase
from ._dxlink_blast import run_job
from ._dxlink_events import DEFAULT_FIELDS, parse_candle

if TYPE_CHECKING:
    from .dxlink_emulator import DXLinkEmulator

__all__ = ["DXLinkSession"]

TAKEOVER_MESSAGE = "Session closed: another session was opened with the same credentials"
TAKEOVER_CLOSE = (1008, "session taken over")


class Channel:
    """One FEED channel's format, fields and subscriptions."""

    def __init__(self, contract: str) -> None:
        self.contract = contract
        self.format = "COMPACT"
        self.fields: Dict[str, List[str]] = {}
        self.announced: Set[str] = set()
        self.subs: Dict[Tuple[str, str], Optional[int]] = {}
        self.candles: Dict[str, Dict[str, Any]] = {}

    def has_quotes(self) -> bool:
        """Whether any Quote subscription is open on the channel."""
        return any(key[0] == "Quote" for key in self.subs)


def _dumps(msg: Dict[str, Any]) -> str:
    return json.dumps(msg, separators=(",", ":"))


class DXLinkSession(SessionBase["DXLinkEmulator"]):
    """Runs on the websockets handler thread of one client connection."""

    def __init__(self, emu: "DXLinkEmulator", ws: ServerConnection) -> None:
        super().__init__(emu, ws)
        self.setup_done = False
        self.unauth_sent = False
        self.client_keepalive = 60.0
        self.last_tick = 0.0
        self.channels: Dict[int, Channel] = {}
        self._expired = False
        self._full = False

    # -- requests from other threads
    def expire(self) -> None:
        """The session's token has expired: tell the client it is unauthorized."""
        self._expired = True

    def switch_to_full(self) -> None:
        """Switch every channel to FULL format (announced with FEED_CONFIG)."""
        self._full = True

    # -- sending
    def send(self, msg: Dict[str, Any]) -> None:
        """Send one JSON message."""
        self.send_text(_dumps(msg))

    def error(self, ch: int, error: str, message: str) -> None:
        """Send an ERROR message."""
        self.send({"type": "ERROR", "channel": ch, "error": error, "message": message})

    # -- hooks of the shared loop
    def recv_timeout(self) -> float:
        return min(self.emu.tick / 2, 0.05)

    def takeover_farewell(self) -> Farewell:
        frame = _dumps({"type": "ERROR", "channel": 0, "error": "UNKNOWN", "message": TAKEOVER_MESSAGE})
        return (frame,), TAKEOVER_CLOSE[0], TAKEOVER_CLOSE[1]

    def periodic(self, now: float) -> bool:
        self._apply_requests()
        if now - self.last_recv > self.emu.keepalive_timeout:
            self.error(0, "TIMEOUT", f"The timeout has been reached. The message was last received "
                                     f"{int(now - self.last_recv)} seconds ago.")
            self.ws.close()
            return False
        if self.authorized:
            self._maybe_run_blast()
            if now - self.last_tick >= self.emu.tick:
                self.last_tick = now
                self.tick(self.emu.clock())
        if now - self.last_send >= self.client_keepalive / 2:
            self.send({"type": "KEEPALIVE", "channel": 0})
        return True

    def _apply_requests(self) -> None:
        if self._expired and self.authorized:
            self._expired = False
            self.authorized = False
            self.send({"type": "AUTH_STATE", "channel": 0, "state": "UNAUTHORIZED"})
        if self._full:
            self._full = False
            for chan in self.channels.values():
                chan.format = "FULL"
                chan.announced.clear()

    def _maybe_run_blast(self) -> None:
        if not self.emu.blaster.pending:
            return
        ch = next((c for c, chan in self.channels.items() if chan.has_quotes()), None)
        if ch is None:
            return
        job = self.emu.blaster.claim()
        if job is not None:
            run_job(self, ch, job)

    # -- client messages
    def on_message(self, text: str) -> None:
        try:
            msg = json.loads(text)
            kind = msg["type"]
            ch = int(msg.get("channel", 0))
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError, RecursionError):
            self.error(0, "INVALID_MESSAGE", "The message is not valid JSON.")
            return
        if not self.setup_done and kind != "SETUP":
            self.error(0, "BAD_ACTION", "SETUP must be the first message")
            return
        handler = self.HANDLERS.get(str(kind))
        if handler is None:
            return
        if ch and not self.authorized:
            self.error(ch, "UNAUTHORIZED", "not authorized")
            return
        try:
            handler(self, msg, ch)
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError, RecursionError) as exc:
            # Whatever a client sends, the server answers and stays up (a crash here
            # would drop the client, which reconnects and sends it again).
            self.error(ch, "BAD_ACTION", f"malformed {kind} message: {type(exc).__name__}")

    def on_setup(self, msg: Dict[str, Any], ch: int) -> None:
        """SETUP: answer with ours, then the auth state (dxlink.md 14.1)."""
        timeout = msg.get("keepaliveTimeout")
        if isinstance(timeout, (int, float)) and timeout > 0:
            self.client_keepalive = float(timeout)
        emu = self.emu
        self.send({"type": "SETUP", "channel": 0, "keepaliveTimeout": emu.keepalive_timeout,
                   "acceptKeepaliveTimeout": emu.keepalive_timeout, "version": "1.0-emulator"})
        self.setup_done = True
        if emu.require_auth:
            self.unauth_sent = True
            self.send({"type": "AUTH_STATE", "channel": 0, "state": "UNAUTHORIZED"})
        else:
            self.authorized = True
            self.send({"type": "AUTH_STATE", "channel": 0, "state": "AUTHORIZED"})

    def on_auth(self, msg: Dict[str, Any], ch: int) -> None:
        """AUTH: a valid token authorizes, anything else stays unauthorized."""
        if not self.unauth_sent:
            self.error(0, "UNKNOWN", "com.dxfeed.mdd.dxlink.auth.AuthException: Session not found: api")
            return
        token = msg.get("token")
        if self.emu.refuse_auth or not self.emu.accepts_token(token):
            self.send({"type": "AUTH_STATE", "channel": 0, "state": "UNAUTHORIZED"})
            return
        self._expired = False
        self.log_in(str(token))
        self.send({"type": "AUTH_STATE", "channel": 0, "state": "AUTHORIZED", "userId": "emulator-user"})

    def on_keepalive(self, msg: Dict[str, Any], ch: int) -> None:
        """KEEPALIVE: receiving it is all that matters."""

    def on_channel_request(self, msg: Dict[str, Any], ch: int) -> None:
        """CHANNEL_REQUEST: open the channel, echoing its parameters."""
        if ch in self.channels:
            self.error(ch, "BAD_ACTION", f"channel {ch} is already open")
            return
        params = dict(msg.get("parameters") or {})
        self.channels[ch] = Channel(str(params.get("contract", "AUTO")))
        params["subFormat"] = "LIST"
        self.send({"type": "CHANNEL_OPENED", "channel": ch, "service": msg.get("service", "FEED"),
                   "parameters": params})

    def on_channel_cancel(self, msg: Dict[str, Any], ch: int) -> None:
        """CHANNEL_CANCEL: close the channel and drop its subscriptions."""
        self.channels.pop(ch, None)
        self.send({"type": "CHANNEL_CLOSED", "channel": ch})

    def _chan(self, ch: int) -> Optional[Channel]:
        chan = self.channels.get(ch)
        if chan is None:
            self.error(ch, "BAD_ACTION", f"channel {ch} is not open")
        return chan

    def on_feed_setup(self, msg: Dict[str, Any], ch: int) -> None:
        """FEED_SETUP: keep the format and fields, answer FEED_CONFIG without fields."""
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
        """FEED_SUBSCRIPTION: reset, remove, add; known symbols get their
        latest values at once (TICKER), unknown ones nothing, ever."""
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
        now = self.emu.clock()
        for item in msg.get("add") or ():
            etype, symbol = item.get("type"), str(item.get("symbol"))
            if etype not in DEFAULT_FIELDS:
                continue
            chan.subs[(etype, symbol)] = item.get("fromTime")
            self.emu.note_subscription(etype, symbol)
            if etype == "Candle":
                self.start_candles(ch, chan, symbol, item.get("fromTime"))
            elif self.emu.knows(symbol):
                row = self.emu.rows.snapshot_row(etype, symbol, now)
                if row is not None:
                    snapshot.setdefault(etype, []).append(row)
        for etype, rows in snapshot.items():
            self.send_events(ch, chan, etype, rows)

    HANDLERS = {"SETUP": on_setup, "AUTH": on_auth, "KEEPALIVE": on_keepalive,
                "CHANNEL_REQUEST": on_channel_request, "CHANNEL_CANCEL": on_channel_cancel,
                "FEED_SETUP": on_feed_setup, "FEED_SUBSCRIPTION": on_feed_subscription}

    # -- data
    def fields_for(self, ch: int, etype: str) -> List[str]:
        """The fields of ``etype`` on channel ``ch``, announcing them with
        FEED_CONFIG before their first FEED_DATA."""
        chan = self.channels[ch]
        names = chan.fields.get(etype) or DEFAULT_FIELDS[etype]
        if etype not in chan.announced:
            chan.announced.add(etype)
            self.send({"type": "FEED_CONFIG", "channel": ch, "dataFormat": chan.format,
                       "aggregationPeriod": 0.1, "eventFields": {etype: names}})
        return names

    def send_events(self, ch: int, chan: Channel, etype: str, rows: List[Dict[str, Any]]) -> None:
        """Send ``rows`` of ``etype`` in the channel's format."""
        names = self.fields_for(ch, etype)
        if chan.format == "FULL":
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
        """Send one update of everything subscribed, at epoch second ``t``."""
        emu = self.emu
        for ch, chan in list(self.channels.items()):
            by_type: Dict[str, List[Dict[str, Any]]] = {}
            for (etype, symbol) in list(chan.subs):
                if etype == "Candle" or not emu.knows(symbol):
                    continue
                if etype in ("Trade", "TradeETH") and not emu.rows.trades_live(etype, symbol, t):
                    continue
                row = emu.rows.row(etype, symbol, t)
                if row is not None:
                    by_type.setdefault(etype, []).append(row)
            for etype, rows in by_type.items():
                self.send_events(ch, chan, etype, rows)
            for symbol, state in list(chan.candles.items()):
                self.candle_update(ch, chan, symbol, state, t)

    def start_candles(self, ch: int, chan: Channel, symbol: str, from_time: Any) -> None:
        """Send a candle subscription's snapshot and start its live updates."""
        parsed = parse_candle(symbol)
        chan.candles.pop(symbol, None)
        if parsed is None or not self.emu.knows(symbol):
            return
        base, period, normal = parsed
        echo = normal if self.emu.normalize_candle_symbols else symbol
        now = self.emu.clock()
        from_ms = _from_ms(from_time, now)
        rows = self.emu.rows.candle_snapshot(echo, base, period, from_ms, now, self.emu.max_snapshot)
        step = self.emu.snapshot_chunk
        for i in range(0, len(rows), step):
            self.send_events(ch, chan, "Candle", rows[i:i + step])
        chan.candles[symbol] = {"base": base, "period": period, "echo": echo,
                                "start": int(now // period) * period}

    def candle_update(self, ch: int, chan: Channel, symbol: str, state: Dict[str, Any], t: float) -> None:
        """Send the forming candle (and the one just completed, on a roll)."""
        if not self.emu.knows(symbol):
            return
        period = state["period"]
        start = int(t // period) * period
        rows = []
        if start > state["start"]:
            rows.append(self.emu.rows.candle(state["echo"], state["base"], state["start"], period, t))
            state["start"] = start
        rows.append(self.emu.rows.candle(state["echo"], state["base"], start, period, t))
        self.send_events(ch, chan, "Candle", rows)


def _from_ms(value: Any, now: float) -> int:
    """A subscription's ``fromTime`` as epoch milliseconds within int64's
    positive range; anything else (text, NaN, a bool) means now."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return int(now * 1000)
    return min(max(int(value), 0), 2**63 - 1)
