"""The Theta Terminal stream client as a pure state machine (protocols/thetadata.md sections 1-4).

Rules:

* No credentials: the Terminal (a local Java process) holds the user's ThetaData login. The socket is streaming
  once the Terminal's first STATUS frame says how its upstream (FPSS) link is: ``UNVERIFIED`` means ThetaData
  refused the Terminal's credentials (AuthenticationError, no retry loop); any other status is Ready.
* Requests are strict JSON with integers. Every request gets a new id, increasing for the life of this object and
  never reused across reconnects: the Terminal resubscribes by itself after an upstream drop only for streams
  whose ids were distinct.
* Streams per (contract, QUOTE or TRADE): kind ``quote`` is the QUOTE stream; ``trade`` and ``bar`` share the
  TRADE stream (the Terminal pushes the session's OHLC with each trade), so bars are the session so far
  (``interval="1d"``). An index has price reports only (kind ``trade``). ``ALL:OPTION`` and ``ALL:STOCK`` are
  the STREAM_BULK full trade streams (kind ``trade``; quotes and OHLC come with each trade).
* REQ_RESPONSE ``SUBSCRIBED`` confirms the stream (it does not prove the contract exists: an unknown one just
  never sends data); ``ERROR``, ``MAX_STREAMS_REACHED`` and ``INVALID_PERMS`` reject the subscriptions of that
  stream only (SubscriptionError through the reply path). Unsubscribing sends the same request with
  ``add: false`` and a new id.
* STATUS frames (about one a second) are the liveness signal, with every data frame. A status change while
  streaming is a Status event: ``DISCONNECTED``/``ERROR`` (the Terminal lost ThetaData; data pauses and the
  Terminal resubscribes by itself, so nothing is resent) is ``stale``, back to ``CONNECTED`` is ``connected``.
* A dropped socket (the Terminal restarted) is a fresh session: reconnect, then every stream again with new ids.
* The Terminal serves one client: the emulator closes an older socket with 1008 "You cannot have multiple
  connections to this endpoint" when another connects; that close is a TakeoverError, not a reconnect war.
"""

from __future__ import annotations

import enum
from typing import Any, Dict, Generator, List, Optional, Set, Tuple

from ...errors import AuthenticationError, ConfigurationError, MdsdkError, TakeoverError, UnsupportedError
from ...events import Event
from ..base import Capabilities, Endpoint, History, HistoryResult, HttpRequest, HttpResponse, Subscription, Ticks
from ..core import Liveness, ProtocolCore, StateMachine, dumps, subscription_error
from .codec import Codec, Header
from .contracts import Contract, parse_symbol
from .history import history_flow, ticks_flow

__all__ = ["ThetaDataProtocol", "State", "TRANSITIONS", "stream_of"]

Stream = Tuple[Contract, str]  # (contract, "QUOTE" or "TRADE")


class State(enum.Enum):
    """States of the socket to the Terminal."""

    IDLE = "IDLE"
    WAITING = "WAITING"  # open, waiting for the first STATUS
    READY = "READY"
    FAILED = "FAILED"


TRANSITIONS: Dict[Tuple[State, str], State] = {
    (State.IDLE, "connect"): State.WAITING,
    (State.WAITING, "status"): State.READY,
    (State.WAITING, "refused"): State.FAILED,
}
_REJECTIONS = ("ERROR", "MAX_STREAMS_REACHED", "INVALID_PERMS")
_UPSTREAM_DOWN = ("DISCONNECTED", "ERROR")
TAKEOVER_CLOSE = 1008


def stream_of(sub: Subscription) -> Stream:
    """The Terminal stream serving ``sub``; ConfigurationError for a symbol of no accepted form, UnsupportedError
    for a kind the Terminal does not stream for it."""
    contract = parse_symbol(sub.symbol)
    if contract.bulk:
        if sub.kind != "trade":
            raise UnsupportedError(f"{sub.symbol} is a full trade stream (each trade comes with its quotes and the "
                                   "session's OHLC): subscribe kinds=('trade',)")
        return contract, "TRADE"
    if sub.kind == "quote" and contract.sec_type != "INDEX":
        return contract, "QUOTE"
    if sub.kind == "trade" or (sub.kind == "bar" and contract.sec_type != "INDEX"):
        if sub.kind == "bar" and sub.interval not in (None, "1d"):
            raise UnsupportedError(f"the Theta Terminal streams the session's running OHLC with each trade, so live "
                                   f"bars are interval '1d' only, not {sub.interval!r}; feed.history gives intraday "
                                   "bars")
        return contract, "TRADE"
    if contract.sec_type == "INDEX":
        raise UnsupportedError(f"{sub.symbol} is an index: the Terminal streams its price reports only; subscribe "
                               "kinds=('trade',)")
    raise UnsupportedError(f"the Theta Terminal does not stream {sub.kind!r}")


class ThetaDataProtocol(ProtocolCore):
    """One socket to the Theta Terminal at a time; see the module docstring for the rules."""

    capabilities = Capabilities(kinds=("quote", "trade", "bar"), history=True, acks=True, rest=True, ticks=True)

    def __init__(self, url: str, *, provider: str = "thetadata", server_timeout: float = 10.0,
                 handshake_timeout: float = 10.0) -> None:
        # No client heartbeat exists; the keepalive timer only runs the liveness check.
        super().__init__(provider, Liveness("Theta Terminal", server_timeout / 2, server_timeout, handshake_timeout),
                         static=Endpoint(url))
        self.codec = Codec(provider)
        self.machine: StateMachine[State] = StateMachine(TRANSITIONS, State.IDLE)
        self.upstream: Optional[str] = None
        self._next_id = 0
        self._histories: Set[int] = set()
        self._reset_socket()

    @property
    def ready(self) -> bool:
        return self.machine.state is State.READY

    def _reset_socket(self) -> None:
        self.machine.reset()
        self._wire: Dict[Stream, Set[Subscription]] = {}  # streams requested on this socket -> their subscriptions
        self._pending: Dict[int, Stream] = {}  # request id -> the stream it asked for
        self.codec.sequences.reset()  # a new session: the outage itself is the reconnect's gap
        self._count()

    def _count(self) -> None:
        """Count the sequence of each security type whose full trade stream is on (see the codec)."""
        self.codec.counted = {c.sec_type for c, req_type in self._wire if c.bulk and req_type == "TRADE"}

    # ------------------------------------------------------------ lifecycle
    def _connected(self, now: float, wall_ns: int) -> None:
        self._reset_socket()
        self.machine.fire("connect")

    def _disconnected(self) -> None:
        self._reset_socket()

    def closed_error(self, code: Optional[int], reason: str) -> Optional[MdsdkError]:
        """The Terminal's "one client only" close as TakeoverError: another program took the Terminal's stream."""
        if code == TAKEOVER_CLOSE:
            return TakeoverError(f"the Theta Terminal closed this connection ({code}: {reason or 'no reason'}): it "
                                 "serves one client, and another program connected to it; close that one, then "
                                 "connect again")
        return None

    def _keepalive(self, now: float) -> None:
        """Nothing to send: the Terminal defines no client heartbeat, and its STATUS frames prove it alive."""

    # ------------------------------------------------------------ receiving
    def _receive(self, text: str, now: float, wall_ns: int) -> List[Event]:
        out = self.codec.decode(text)
        if out.malformed is not None:
            return self._malformed(text, wall_ns, out.malformed)
        if out.gap is not None:
            kind, first, last = out.gap
            count = (last - first) % (1 << 32) + 1
            return [self._status("gap", f"the full {kind} trade stream skipped sequence numbers {first} to {last}: "
                                 f"{count} trades never arrived", wall_ns, security_type=kind, first=first,
                                 last=last)] + out.events
        header = out.header
        if header is None or out.events:
            return out.events
        if header.type == "STATUS":
            return self._on_status(header, now, wall_ns)
        if header.type == "REQ_RESPONSE":
            return self._on_response(header, wall_ns)
        return self._malformed(text, wall_ns, f"unknown frame type {header.type[:40]!r}")

    def _on_status(self, header: Header, now: float, wall_ns: int) -> List[Event]:
        status = header.status or ""
        before, self.upstream = self.upstream, status
        if self.machine.state is State.WAITING:
            if status == "UNVERIFIED":
                self.machine.fire("refused")
                return self._auth_refused(AuthenticationError(
                    "the Theta Terminal is running, but ThetaData did not accept its login (status UNVERIFIED): "
                    "check the credentials the Terminal was started with, then restart it"), wall_ns)
            self.machine.fire("status")
            news = self._handshake_done(now, wall_ns)
            return news + self._upstream_news(None, status, wall_ns)
        return self._upstream_news(before, status, wall_ns)

    def _upstream_news(self, before: Optional[str], status: str, wall_ns: int) -> List[Event]:
        if status == before or (before is None and status == "CONNECTED"):
            return []
        if status in _UPSTREAM_DOWN:
            return [self._status("stale", f"the Theta Terminal lost its link to ThetaData (status {status}); data "
                                 "pauses, and the Terminal resubscribes by itself when the link returns",
                                 wall_ns, upstream=status)]
        if status == "CONNECTED":
            return [self._status("connected", "the Theta Terminal's link to ThetaData is back", wall_ns,
                                 upstream=status)]
        return [self._status("error", f"the Theta Terminal reports status {status[:40]!r}", wall_ns,
                             upstream=status[:40])]

    def _on_response(self, header: Header, wall_ns: int) -> List[Event]:
        stream = self._pending.pop(header.req_id, None) if header.req_id is not None else None
        subs = self._wire.get(stream, set()) if stream is not None else set()
        if header.response == "SUBSCRIBED" or not subs:
            for sub in subs:
                self._acked(sub)
            return []
        assert stream is not None
        del self._wire[stream]
        out: List[Event] = []
        for sub in sorted(subs, key=lambda s: (s.kind, s.symbol)):
            error = subscription_error(self.provider, sub, header.response, _MEANING.get(
                header.response or "", f"the Terminal answered {str(header.response)[:40]!r}"))
            out += self._rejected(sub, error, wall_ns)
        return out

    # ------------------------------------------------------------ subscriptions
    def _vet(self, sub: Subscription) -> None:
        stream_of(sub)

    def _send_subscriptions(self, subs: List[Subscription], now: float, wall_ns: int) -> None:
        for sub in subs:
            stream = stream_of(sub)
            riders = self._wire.get(stream)
            if riders is not None:
                riders.add(sub)
                if stream not in self._pending.values():
                    self._acked(sub)  # the stream is already confirmed on this socket
                continue
            self._wire[stream] = {sub}
            self._pending[self._request(stream, True, now)] = stream
        self._count()

    def _send_unsubscriptions(self, subs: List[Subscription], now: float, wall_ns: int) -> None:
        for sub in subs:
            stream = stream_of(sub)
            riders = self._wire.get(stream)
            if riders is None:
                continue
            riders.discard(sub)
            if not riders:
                del self._wire[stream]
                self._request(stream, False, now)
        self._count()

    def _request(self, stream: Stream, add: bool, now: float) -> int:
        contract, req_type = stream
        rid, self._next_id = self._next_id, self._next_id + 1
        msg: Dict[str, Any] = {"msg_type": "STREAM_BULK" if contract.bulk else "STREAM",
                               "sec_type": contract.sec_type, "req_type": req_type, "add": add, "id": rid}
        if not contract.bulk:
            msg["contract"] = contract.wire()
        self._send_text(dumps(msg), now)
        return rid

    # ------------------------------------------------------------ history
    def _start_history(self, request_id: int, request: History, now: float, wall_ns: int) -> None:
        try:
            flow: Generator[HttpRequest, HttpResponse, HistoryResult] = history_flow(request, self.provider)
        except (ConfigurationError, UnsupportedError) as exc:
            self._reply(request_id, error=exc)
            return
        self._histories.add(request_id)
        self.rest.start(flow, lambda result: self._history_done(request_id, result),
                        lambda exc: self._history_done(request_id, None, exc))

    def _start_ticks(self, request_id: int, request: Ticks, now: float, wall_ns: int) -> None:
        self._histories.add(request_id)
        self.rest.start(ticks_flow(request, self.provider), lambda result: self._history_done(request_id, result),
                        lambda exc: self._history_done(request_id, None, exc))

    def _history_done(self, request_id: int, result: Optional[Any],
                      error: Optional[MdsdkError] = None) -> None:
        if request_id in self._histories:
            self._histories.discard(request_id)
            self._reply(request_id, result, error)

    def _cancel_request(self, request_id: int, now: float, wall_ns: int) -> None:
        self._histories.discard(request_id)


_MEANING = {"ERROR": "the Terminal refused the stream (unknown error)",
            "MAX_STREAMS_REACHED": "too many streams for the ThetaData subscription tier",
            "INVALID_PERMS": "the ThetaData account lacks the permission for this stream"}
