"""The CrossTrade WebSocket client as a pure state machine (protocols/crosstrade.md sections 1-5).

Rules:

* Auth is the ``Authorization: Bearer <key>`` header of the upgrade (the endpoint carries it); there is no login
  message, so the socket streams at once. A 401 there is AuthenticationError (the spine's upgrade refusal).
* One socket per account: a second connection anywhere closes this one with "replaced by new connection", which
  is a TakeoverError (no reconnect war). Any other close reconnects, and since the server remembers nothing the
  instruments are subscribed again in one ``subscribe`` and P&L streaming is switched on again.
* Kinds: ``quote``, ``trade``, ``summary`` of an instrument share one market-data subscription; ``pnl`` for an
  account switches ``streamPnl`` on (its pushes carry every account; PnL events come for subscribed accounts).
* Budgets (client side, so the server's limiter never has to refuse us, let alone close us after ten refusals):
  RPCs spend from a token bucket (:class:`~mdsdk.policy.RateLimit`, default 20 at 3/s, shared with history's
  REST calls as the server shares them); subscription changes from a second one (default about 20 a minute,
  bursts of 5), and changes waiting for it are merged into one ``subscribe`` and one ``unsubscribe``. Calls wait
  their turn; one that could not be sent before its caller's timeout is refused at once with RateLimitedError.
  A refusal from the server empties our bucket and the call goes again later.
* ``{"action": "ping"}`` keeps the link busy; P&L streaming stays on (at ``heartbeat`` ms when nobody asked for
  P&L) because its pushes are the only frames the server sends on an idle link: they are the liveness signal.
* RPC: ``{"action": "rpc", "id", "api", "args"}``; the answer's ``data`` is the reply; ``success: false`` is a
  ProviderError with the server's words; an answer nobody waits for any more (timed out) is dropped quietly.
"""

from __future__ import annotations

import collections
from typing import Any, Deque, Dict, List, Optional, Set

from ...errors import MdsdkError, ProviderError, RateLimitedError, TakeoverError, UnsupportedError
from ...events import Event, PnL
from ...policy import RateLimit
from ..base import Capabilities, Endpoint, History, Rpc, Subscription
from ..core import Liveness, ProtocolCore, dumps, loads
from .codec import Answer, Codec
from .history import bars_flow
from .instruments import Aliases, check_instrument

__all__ = ["CrossTradeProtocol", "SUBSCRIPTION_BUDGET"]

SUBSCRIPTION_BUDGET = RateLimit(rate=20 / 60, burst=5)
_MARKET = ("quote", "trade", "summary")
_RETRIES = 5  # refusals by the server's limiter one call may meet before its caller hears of it


class _Call:
    """One RPC: the caller's request id, its id on the wire, its frame, and how often the server refused it."""

    __slots__ = ("request_id", "rid", "frame", "api", "refused")

    def __init__(self, request_id: int, rid: str, frame: str, api: str) -> None:
        self.request_id, self.rid, self.frame, self.api, self.refused = request_id, rid, frame, api, 0


class CrossTradeProtocol(ProtocolCore):
    """One CrossTrade socket at a time; see the module docstring for the rules."""

    capabilities = Capabilities(kinds=("quote", "trade", "summary", "pnl"), history=True, rpc=True)

    def __init__(self, url: str, token: str, *, provider: str = "crosstrade", pnl_interval: int = 1000,
                 heartbeat: int = 5000, keepalive_interval: float = 20.0, server_timeout: float = 30.0,
                 rpc_limit: RateLimit = RateLimit(3.0, 20), subscription_limit: RateLimit = SUBSCRIPTION_BUDGET
                 ) -> None:
        super().__init__(provider, Liveness("CrossTrade", keepalive_interval, server_timeout, server_timeout),
                         static=Endpoint(url, token, headers={"Authorization": f"Bearer {token}"}),
                         secrets=(token,))
        self.aliases = Aliases()
        self.codec = Codec(provider, self.aliases)
        self.pnl_interval, self.heartbeat = pnl_interval, heartbeat
        # The server counts arrivals, we count departures: network jitter can bunch our calls up on its side, so
        # we keep two tokens and 5% of the rate in hand and never meet its refusals.
        self.rpc_bucket = RateLimit(rpc_limit.rate * 0.95, max(1, rpc_limit.burst - 2)).bucket(0.0)
        self.sub_bucket = subscription_limit.bucket(0.0)
        self._calls: Deque[_Call] = collections.deque()
        self._waiting: Dict[str, _Call] = {}  # rpc id on the wire -> its call
        self._next_rpc = 0
        self._histories: Set[int] = set()
        self._ready = False
        self._reset_socket()

    @property
    def ready(self) -> bool:
        return self._ready

    def _reset_socket(self) -> None:
        self._ready = False
        self._wire: Set[str] = set()
        self._adds: Dict[str, None] = {}
        self._removes: Dict[str, None] = {}
        self._pnl_on: Optional[int] = None  # the interval streamPnl runs at on this socket
        for call in self._waiting.values():  # sent but unanswered: the new socket sends them again
            self._calls.appendleft(call)
        self._waiting = {}

    # ------------------------------------------------------------ lifecycle
    def _connected(self, now: float, wall_ns: int) -> None:
        self._reset_socket()
        self.codec.reset()
        self._ready = True
        self.news += self._handshake_done(now, wall_ns)
        self._pump(now)

    def _disconnected(self) -> None:
        self._reset_socket()

    def closed_error(self, code: Optional[int], reason: str) -> Optional[MdsdkError]:
        """"replaced by new connection": another client took this account's one socket."""
        if "replaced" in reason.lower():
            return TakeoverError(f"CrossTrade closed this connection ({code}: {reason}): another connection with "
                                 "the same key replaced it (one socket per account); close the other client, then "
                                 "connect again")
        return None

    def _keepalive(self, now: float) -> None:
        self._send_text('{"action":"ping"}', now)

    # ------------------------------------------------------------ receiving
    def _receive(self, text: str, now: float, wall_ns: int) -> List[Event]:
        try:
            doc = loads(text)
        except (ValueError, RecursionError) as exc:
            return self._malformed(text, wall_ns, f"not JSON ({str(exc)[:80]})")
        out = self.codec.decode(doc, wall_ns)
        events = [e for e in out.events if e.__class__ is not PnL or self._wants_pnl(e.symbol)]
        if out.answer is not None:
            self._answered(out.answer, now)
        if out.news is not None:
            events += self._on_news(*out.news, now=now, wall_ns=wall_ns)
        if out.malformed is not None:
            events += self._malformed(text, wall_ns, out.malformed)
        self._pump(now)
        return events

    def _wants_pnl(self, account: str) -> bool:
        return any(s.kind == "pnl" and s.symbol in (account, "*") for s in self.desired)

    def _on_news(self, kind: str, words: str, now: float, wall_ns: int) -> List[Event]:
        if kind == "status" and words.lower() in ("subscribed", "unsubscribed", ""):
            return []  # the acknowledgement of our own change
        if "rate limit" in words.lower():
            self.sub_bucket.drain(now)  # our change went over the server's budget: wait a full step
            self._adds.update(dict.fromkeys(s for s in self._wire))  # and send the set again once allowed
            return [self._status("error", f"CrossTrade refused a request over its rate limit: {words}", wall_ns)]
        if kind == "status":
            return [self._status("stale", f"CrossTrade reports state {words!r}", wall_ns, state=words)]
        return [self._status("error", f"CrossTrade: {words}", wall_ns)]

    # ------------------------------------------------------------ subscriptions
    def _vet(self, sub: Subscription) -> None:
        if sub.kind in _MARKET:
            check_instrument(sub.symbol)
        elif sub.kind != "pnl":
            raise UnsupportedError(f"CrossTrade does not stream {sub.kind!r}")

    def _send_subscriptions(self, subs: List[Subscription], now: float, wall_ns: int) -> None:
        for sub in subs:
            if sub.kind in _MARKET and sub.symbol not in self._wire:
                self.aliases.add(sub.symbol)
                self._wire.add(sub.symbol)
                self._adds[sub.symbol] = None
                self._removes.pop(sub.symbol, None)
        self._pump(now)

    def _send_unsubscriptions(self, subs: List[Subscription], now: float, wall_ns: int) -> None:
        still = {s.symbol for s in self.desired if s.kind in _MARKET}
        for sub in subs:
            if sub.kind in _MARKET and sub.symbol in self._wire and sub.symbol not in still:
                self._wire.discard(sub.symbol)
                self.aliases.remove(sub.symbol)
                self._removes[sub.symbol] = None
                self._adds.pop(sub.symbol, None)
        self._pump(now)

    # ------------------------------------------------------------ what goes out, within the budgets
    def _pump(self, now: float) -> None:
        if not self._ready:
            return
        wanted = self.pnl_interval if any(s.kind == "pnl" for s in self.desired) else self.heartbeat
        if self._pnl_on != wanted:  # streamPnl costs nothing: the server counts only rpc and subscriptions
            self._pnl_on = wanted
            self._send_text(dumps({"action": "streamPnl", "enabled": True, "interval": wanted}), now)
        for action, pending in (("subscribe", self._adds), ("unsubscribe", self._removes)):
            if pending and self.sub_bucket.take(now):
                self._send_text(dumps({"action": action, "instruments": list(pending)}), now)
                pending.clear()
        while self._calls and self.rpc_bucket.take(now):
            call = self._calls.popleft()
            self._waiting[call.rid] = call
            self._send_text(call.frame, now)

    def _deadline(self) -> Optional[float]:
        times = []
        if self._ready and self._calls:
            times.append(self.rpc_bucket.ready_at(self._now))
        if self._ready and (self._adds or self._removes):
            times.append(self.sub_bucket.ready_at(self._now))
        return min(times) if times else None

    def _timer(self, now: float, wall_ns: int) -> None:
        self._pump(now)

    # ------------------------------------------------------------ RPC
    def _start_rpc(self, request_id: int, request: Rpc, now: float, wall_ns: int) -> None:
        self._next_rpc += 1
        rid = f"mdsdk-{self._next_rpc}"
        frame = dumps({"action": "rpc", "id": rid, "api": request.api, "args": dict(request.args)})
        start = self.rpc_bucket.ready_at(now, len(self._calls) + 1)
        if request.timeout is not None and start - now > request.timeout:
            self._reply(request_id, error=RateLimitedError(
                f"{request.api} would wait {start - now:.1f} s for CrossTrade's rate budget "
                f"({self.rpc_bucket.limit.rate * 60:g}/min, bursts of {self.rpc_bucket.limit.burst}), longer than "
                f"its {request.timeout:g} s timeout; call less often or allow longer", provider=self.provider,
                retry_after=start - now))
            return
        self._calls.append(_Call(request_id, rid, frame, request.api))
        self._pump(now)

    def _answered(self, answer: Answer, now: float) -> None:
        call = self._waiting.pop(answer.id, None)
        if call is None:
            return  # its caller stopped waiting (timed out); nobody needs it
        data = answer.data
        if isinstance(data, dict) and data.get("success") is False:
            code, detail = str(data.get("error", ""))[:100], str(data.get("detail", ""))[:500]
            if code == "rate_limited" and call.refused < _RETRIES:
                call.refused += 1
                self.rpc_bucket.drain(now)
                self._calls.appendleft(call)
                return
            self._reply(call.request_id, error=ProviderError(
                f"CrossTrade {call.api} failed: {code}" + (f": {detail}" if detail else ""),
                provider=self.provider, code=code, server_message=detail))
            return
        self._reply(call.request_id, data)

    def _cancel_request(self, request_id: int, now: float, wall_ns: int) -> None:
        self._calls = collections.deque(c for c in self._calls if c.request_id != request_id)
        self._waiting = {k: c for k, c in self._waiting.items() if c.request_id != request_id}
        self._histories.discard(request_id)

    # ------------------------------------------------------------ history
    def _start_history(self, request_id: int, request: History, now: float, wall_ns: int) -> None:
        delay = self.rpc_bucket.reserve(now)  # REST spends from the same budget as RPC
        ep = self.auth.current
        token = ep.token if ep is not None else None
        self._histories.add(request_id)
        self.rest.start(bars_flow(request, token or "", self.provider, delay),
                        lambda result: self._history_done(request_id, result),
                        lambda exc: self._history_done(request_id, None, exc))

    def _history_done(self, request_id: int, result: Any, error: Optional[MdsdkError] = None) -> None:
        if request_id in self._histories:
            self._histories.discard(request_id)
            if error is not None:
                error.args = (self.redact(str(error)),)
            self._reply(request_id, result, error)
