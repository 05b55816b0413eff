"""One CrossTrade WebSocket connection (crosstrade.md sections 2-5 and 7):
the ``subscribe`` / ``unsubscribe`` / ``streamPnl`` / ``rpc`` / ``ping``
actions, marketData and pnlUpdate pushes, and the per-connection half of the
rate limiting (consecutive violations end the socket), on the shared session
loop. The socket was authorized at the HTTP upgrade, so there is no login
message: the session takes over the older one as soon as it starts."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple

from websockets.sync.server import ServerConnection

from ._base import Farewell, SessionBase
from ._crosstrade_data import Contract, resolve
from ._crosstrade_rest import failure_body

if TYPE_CHECKING:
    from .crosstrade_emulator import CrossTradeEmulator

__all__ = ["CrossTradeSession", "INVALID_REQUEST", "RATE_LIMITED", "REPLACED", "ABUSE_REASON"]

INVALID_REQUEST = {"type": "error", "error": "Invalid request"}
RATE_LIMITED = {"type": "error", "error": "Rate limit exceeded"}
REPLACED = "replaced by new connection"
ABUSE_REASON = "rate limit violations"


def dumps(value: Any) -> str:
    """JSON as the service writes it (Python's default separators, as in the documented frames)."""
    return json.dumps(value)


class CrossTradeSession(SessionBase["CrossTradeEmulator"]):
    """Runs on the websockets handler thread of one client connection."""

    def __init__(self, emu: "CrossTradeEmulator", ws: ServerConnection) -> None:
        super().__init__(emu, ws)
        self.subs: Dict[str, Contract] = {}  # canonical name -> contract, in subscription order
        self.sent: Dict[str, Dict[str, Any]] = {}  # what each instrument's quote last said (for deltas)
        self.last_tick = 0.0
        self.pnl_interval: Optional[float] = None  # seconds; None: not streaming P&L
        self.last_pnl = 0.0
        self.strikes = 0  # consecutive rate-limit violations on this socket
        self.held: List[Tuple[float, str]] = []  # rpc answers held by ``rpc_delay``: (due, frame)

    def send_json(self, value: Any) -> None:
        """Send one JSON frame."""
        self.send_text(dumps(value))

    # -- hooks of the shared loop
    def recv_timeout(self) -> float:
        return max(0.005, min(0.05, self.emu.tick / 4))

    def greet(self) -> None:
        """No login message: the upgrade carried the token, so this socket is the user's one connection now."""
        self.log_in(self.emu.bearer(self.ws.request.headers if self.ws.request else None) or "")

    def takeover_farewell(self) -> Farewell:
        return (), 1000, REPLACED

    def periodic(self, now: float) -> bool:
        while self.held and self.held[0][0] <= now:
            self.send_text(self.held.pop(0)[1])
        if not self.emu.addon_connected:
            return True  # NT8 is gone: nothing to push, the socket stays
        if self.subs and now - self.last_tick >= self.emu.tick:
            self.last_tick = now
            self.push_quotes(self.emu.clock())
        if self.pnl_interval is not None and now - self.last_pnl >= self.pnl_interval:
            self.last_pnl = now
            self.push_pnl(self.emu.clock())
        return True

    # -- client frames
    def on_message(self, text: str) -> None:
        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
        action = doc.get("action") if isinstance(doc, dict) else None
        handler = self.ACTIONS.get(action) if isinstance(action, str) else None
        if handler is None or not isinstance(doc, dict):
            self.send_json(INVALID_REQUEST)
            return
        handler(self, doc)

    def admitted(self, ok: bool, rpc_id: Any = None) -> bool:
        """Settle one budgeted request: an accepted one resets the consecutive count; a refused one is
        answered (in the rpc shape when ``rpc_id`` is given), counted, and the ``violations_to_close``-th in
        a row ends the socket with 1008."""
        if ok:
            self.strikes = 0
            return True
        self.emu.count_violation()
        self.strikes += 1
        if rpc_id is None:
            self.send_json(RATE_LIMITED)
        else:
            self.send_json({"id": rpc_id, "data": failure_body("rate_limited", "Rate limit exceeded")})
        if self.strikes >= self.emu.violations_to_close:
            self.emu.count_abuse_close()
            self.request_close(1008, ABUSE_REASON)
        return False

    def _instruments(self, doc: Dict[str, Any]) -> Optional[List[str]]:
        names = doc.get("instruments")
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            self.send_json(INVALID_REQUEST)
            return None
        return names

    def _contracts(self, doc: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        """The known contracts a (un)subscribe names, by canonical name, once the budget admitted it; None
        when the request was refused (already answered)."""
        names = self._instruments(doc)
        if names is None or not self.admitted(self.emu.spend_subscription()):
            return None
        t = self.emu.clock()
        found: Dict[str, Any] = {}
        for name in names:
            c = resolve(name, t)
            if c is not None:
                found[c.name] = c
        return found

    def a_subscribe(self, doc: Dict[str, Any]) -> None:
        """Start quotes for the known instruments (an unknown one is accepted and never streams); a
        re-subscribed instrument starts again with a full quote."""
        found = self._contracts(doc)
        if found is None:
            return
        for name, c in found.items():
            self.subs[name] = c
            self.sent.pop(name, None)
        self.last_tick = 0.0  # the first quotes go out at once
        self.send_json({"type": "status", "state": "subscribed", "instruments": list(found)})

    def a_unsubscribe(self, doc: Dict[str, Any]) -> None:
        """Stop quotes for the named instruments (in any accepted form)."""
        found = self._contracts(doc)
        if found is None:
            return
        for name in found:
            self.subs.pop(name, None)
            self.sent.pop(name, None)
        self.send_json({"type": "status", "state": "unsubscribed", "instruments": list(found)})

    def a_stream_pnl(self, doc: Dict[str, Any]) -> None:
        """``enabled: true`` pushes pnlUpdate now and every ``interval`` ms (default 1000, at least 100);
        ``enabled: false`` stops them. No acknowledgement either way."""
        enabled, interval = doc.get("enabled"), doc.get("interval", 1000)
        if not isinstance(enabled, bool) or isinstance(interval, bool) or not isinstance(interval, (int, float)):
            self.send_json(INVALID_REQUEST)
            return
        if not enabled:
            self.pnl_interval = None
            return
        self.pnl_interval = max(100.0, float(interval)) / 1000.0
        self.last_pnl = 0.0

    def a_ping(self, doc: Dict[str, Any]) -> None:
        """Keepalive: ``{"type": "pong"}``."""
        self.send_json({"type": "pong"})

    def a_rpc(self, doc: Dict[str, Any]) -> None:
        """Call an API function; the answer ``{"id", "data"}`` is held ``rpc_delay`` seconds, or never sent for
        an api in ``drop_rpc_answers`` (the call still takes effect)."""
        rid = doc.get("id")
        if isinstance(rid, bool) or not isinstance(rid, (str, int)):
            self.send_json(INVALID_REQUEST)
            return
        emu = self.emu
        if not self.admitted(emu.spend_rpc_token(), rid):
            return
        emu.count_rpc()
        api = doc.get("api")
        from_addon = emu.addon_connected
        frame = dumps({"id": rid, "data": emu.api.call(api, doc.get("args", {}))})
        if isinstance(api, str) and api in emu.drop_rpc_answers:
            return
        if from_addon and emu.rpc_delay > 0:
            self.held.append((time.monotonic() + emu.rpc_delay, frame))
        else:
            self.send_text(frame)

    ACTIONS: Dict[str, Callable[["CrossTradeSession", Dict[str, Any]], None]] = {
        "subscribe": a_subscribe, "unsubscribe": a_unsubscribe, "streamPnl": a_stream_pnl, "ping": a_ping,
        "rpc": a_rpc}

    # -- pushes
    def quote(self, c: Contract, t: float) -> Dict[str, Any]:
        """The quote element for ``c``: every field the first time, then (with ``partial``) only what changed."""
        full = self.emu.quotes.fields(c, t)
        before = self.sent.get(c.name)
        self.sent[c.name] = full
        if before is None or not self.emu.partial:
            return full
        return {k: v for k, v in full.items() if k == "instrument" or before.get(k) != v}

    def push_quotes(self, t: float) -> None:
        """marketData frames for every subscribed instrument, ``quotes_per_frame`` a frame (0: all in one)."""
        quotes = [self.quote(c, t) for c in list(self.subs.values())]
        n = self.emu.quotes_per_frame or len(quotes)
        for i in range(0, len(quotes), n):
            self.send_json({"type": "marketData", "quotes": quotes[i:i + n]})

    def push_pnl(self, t: float) -> None:
        """One pnlUpdate with every account's realized, unrealized and total P&L."""
        accounts = []
        for name in self.emu.accounts:
            realized, unrealized = self.emu.book.pnl(name)
            accounts.append({"account": name, "realizedPnl": realized, "unrealizedPnl": unrealized,
                             "totalPnl": realized + unrealized})
        self.send_json({"type": "pnlUpdate", "epoch": int(t * 1000), "accounts": accounts})
