"""The shared protocol core: what every provider's protocol object needs
once, so that each provider writes only its wire format.

* :class:`StateMachine` - states as an Enum, transitions as a table
  (model: h11 ``_state.py``); each provider writes its table at the top of
  its module.
* :class:`Liveness` - the keepalive timer, the peer-silence deadline and the
  handshake deadline, on the monotonic clock.
* :class:`SubscriptionSet` - the desired subscriptions: the only copy.
* :class:`RestFlows` and :class:`Credentials` (from :mod:`.credentials`) -
  REST flows, login, renewal, and every token held.
* :class:`ProtocolCore` - the :class:`~mdsdk.providers.base.ProviderProtocol`
  skeleton: request ids and replies, acknowledgements, malformed-frame
  accounting, "resubscribed" news, auth-failure policy.
"""

from __future__ import annotations

import enum
import json
import math
from abc import abstractmethod
from typing import (Any, Dict, Generic, Iterable, List, Mapping, Optional, Sequence, Set,
                    Tuple, TypeVar, Union)

import msgspec

from ..errors import AuthenticationError, ConnectionLost, MdsdkError, SubscriptionError, UnsupportedError, redact
from ..events import Batch, BookSnapshot, Event, Status, classes_of
from .base import (Capabilities, Endpoint, Fatal, History, HttpRequest, HttpResponse, ProviderProtocol,
                   Ready, Reconnect, Reply, Request, Rpc, Signal, Subscribe, Subscription, Ticks)
from .convert import MAX_KEYS, remember
from .credentials import Credentials, LoginFlow, RenewFlow, RestFlows
from .freshness import Freshness, asset_class_of
from .ledger import Continuity, book_problem

__all__ = ["StateMachine", "Liveness", "SubscriptionSet", "RestFlows", "Credentials", "ProtocolCore",
           "MIN_INTERVAL", "MAX_KEYS", "remember", "subscription_error", "loads", "dumps"]

S = TypeVar("S", bound=enum.Enum)
T = TypeVar("T")
MIN_INTERVAL = 0.05  # no timer fires more often than this, whatever a server announces
_SHOWN = 120         # characters of a malformed frame quoted in its Status
_DETAIL = 2000       # characters of a Status detail (servers' error texts can be megabytes; redacting a
                     # megabyte costs 0.2 s, so only twice this is redacted: a secret cut there is cut off anyway)
_I64 = 1 << 63
_MARKET = ("quote", "trade", "bar", "summary", "book")  # the kinds whose silence can mean a stale symbol


_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode


def loads(text: Union[str, bytes]) -> Any:
    """Parse one JSON frame: msgspec (five times stdlib ``json``), or stdlib
    ``json`` for what msgspec refuses but servers send (bare ``NaN`` and
    ``Infinity``, numbers past a double's range). Raises ValueError (or
    RecursionError for absurd nesting) when neither can read it."""
    try:
        return _decode(text)
    except msgspec.DecodeError:
        return json.loads(text)


def dumps(obj: Any) -> str:
    """One compact JSON frame (msgspec; non-finite floats become ``null``)."""
    return _encode(obj).decode()


class StateMachine(Generic[S]):
    """A state from an Enum, moved only along ``table``: ``(state, event) -> state``."""

    def __init__(self, table: Mapping[Tuple[S, str], S], initial: S) -> None:
        self.table = table
        self.initial = initial
        self.state = initial

    def fire(self, event: str) -> bool:
        """Take the transition for ``event``; False (state unchanged) when the
        table has none from the current state."""
        new = self.table.get((self.state, event))
        if new is None:
            return False
        self.state = new
        return True

    def reset(self) -> None:
        """Back to the initial state (a new socket)."""
        self.state = self.initial


class Liveness:
    """Keepalive, peer-silence and handshake deadlines of one socket.

    ``keepalive`` is the interval of our keepalives: sent after that much silence of ours (``idle_only``), or at
    that rhythm whatever else flows. A peer silent for ``peer_timeout`` is dead; a handshake that has not
    finished within ``handshake`` is stuck. Every interval is clamped to at least :data:`MIN_INTERVAL`, so a
    hostile value cannot make a busy loop."""

    def __init__(self, name: str, keepalive: float, peer_timeout: float, handshake: float,
                 idle_only: bool = True) -> None:
        self.name = name
        self.keepalive = max(MIN_INTERVAL, keepalive)
        self.peer_timeout = max(MIN_INTERVAL, peer_timeout)
        self.handshake = max(MIN_INTERVAL, handshake)
        self.idle_only = idle_only
        self.active = False
        self.handshaking = False
        self.last_send = self.last_recv = self.last_beat = self.hs_deadline = 0.0

    def start(self, now: float) -> None:
        """A socket opened at ``now``."""
        self.active = self.handshaking = True
        self.last_send = self.last_recv = self.last_beat = now
        self.hs_deadline = now + self.handshake

    def stop(self) -> None:
        """The socket is gone: no deadlines."""
        self.active = self.handshaking = False

    def set_keepalive(self, seconds: float) -> None:
        """Use a new keepalive interval (e.g. from the server's announcement)."""
        self.keepalive = max(MIN_INTERVAL, seconds)

    def sent(self, now: float) -> None:
        """We sent a frame."""
        self.last_send = now

    def received(self, now: float) -> None:
        """The peer sent a frame."""
        self.last_recv = now

    def deadline(self) -> Optional[float]:
        """When :meth:`check` must run next, or None when no socket is open."""
        if not self.active:
            return None
        beat = (self.last_send if self.idle_only else self.last_beat) + self.keepalive
        deadline = min(beat, self.last_recv + self.peer_timeout)
        return min(deadline, self.hs_deadline) if self.handshaking else deadline

    def check(self, now: float) -> bool:
        """Raise ConnectionLost when the peer or the handshake is overdue;
        True when a keepalive is due (the caller sends it)."""
        if not self.active:
            return False
        if self.handshaking and now >= self.hs_deadline:
            raise ConnectionLost(f"the {self.name} handshake did not finish within {self.handshake:g} s; "
                                 "the server may be overloaded")
        if now >= self.last_recv + self.peer_timeout:
            raise ConnectionLost(f"no message from the {self.name} for {now - self.last_recv:.1f} s "
                                 f"(keepalive timeout {self.peer_timeout:g} s); reconnecting")
        if now >= (self.last_send if self.idle_only else self.last_beat) + self.keepalive:
            self.last_beat = self.last_send = now
            return True
        return False


class SubscriptionSet:
    """The desired subscriptions, in order. ``snapshot`` is replaced (never
    mutated) on every change, so other threads can read it without a lock."""

    def __init__(self) -> None:
        self._desired: Dict[Subscription, None] = {}
        self.snapshot: Tuple[Subscription, ...] = ()

    def add(self, subs: Iterable[Subscription]) -> List[Subscription]:
        """Add ``subs``; returns the ones that were not there yet."""
        new = [s for s in dict.fromkeys(subs) if s not in self._desired]
        for s in new:
            self._desired[s] = None
        if new:
            self.snapshot = tuple(self._desired)
        return new

    def remove(self, subs: Iterable[Subscription]) -> List[Subscription]:
        """Remove ``subs``; returns the ones that were there."""
        gone = [s for s in dict.fromkeys(subs) if s in self._desired]
        for s in gone:
            del self._desired[s]
        if gone:
            self.snapshot = tuple(self._desired)
        return gone

    def __contains__(self, sub: object) -> bool:
        return sub in self._desired

    def __iter__(self) -> Any:
        return iter(self.snapshot)

    def __len__(self) -> int:
        return len(self.snapshot)


class ProtocolCore(ProviderProtocol):
    """Everything of a protocol object but its wire format.

    A provider subclasses it and implements the hooks: :meth:`_connected` (queue the first frames),
    :meth:`_receive` (one frame), :meth:`_keepalive`, :meth:`_send_subscriptions`, :meth:`_send_unsubscriptions`,
    and for the capabilities it has :meth:`_start_history` / :meth:`_start_rpc` / :meth:`_cancel_request`. It
    calls :meth:`_handshake_done`, :meth:`_acked`, :meth:`_rejected`, :meth:`_reply`, :meth:`_auth_refused` and
    :meth:`_malformed` as the wire tells it."""

    capabilities = Capabilities()

    def __init__(self, provider: str, liveness: Liveness, *, static: Optional[Endpoint] = None,
                 login: Optional[LoginFlow] = None, renew: Optional[RenewFlow] = None,
                 secrets: Tuple[str, ...] = ()) -> None:
        self.provider = provider
        self.live = liveness
        self.signals: List[Signal] = []
        self.news: List[Event] = []
        self.faults: List[BaseException] = []
        self.malformed = 0
        self.desired = SubscriptionSet()
        self.rest = RestFlows()
        self.auth = Credentials(self.rest, self._report, lambda: (self._now, self._wall_ns / 1e9),
                                static=static, login=login, renew=renew)
        self._secrets = secrets
        self._out: List[str] = []
        self._awaiting: Dict[int, Set[Subscription]] = {}
        self._sub_errors: Dict[int, List[Tuple[Subscription, MdsdkError]]] = {}
        self._connections = 0
        self._ever_ready = False
        self._refreshed = False
        self._wall_ns = 0
        self._now = 0.0
        self.bars = Continuity(start=lambda rid, req: self._start_history(rid, req, self._now, self._wall_ns))
        self._books = False  # book subscriptions exist: books are checked
        self.fresh = Freshness()  # per-symbol staleness
        self.bad_books = 0

    @property
    def token_renewals(self) -> int:
        """How many times the token was renewed ahead of its expiry."""
        return self.auth.renewals

    # ------------------------------------------------------------ secrets and news
    @property
    def secrets(self) -> Tuple[str, ...]:
        # Every token held so far: a server may echo a replaced token (the socket is still
        # authorized with it after a renewal, or it is the one being refused).
        return self._secrets + self.auth.held

    def redact(self, text: str) -> str:
        """``text`` with every known secret masked."""
        return redact(text, self.secrets)

    def _shown(self, text: str, limit: int) -> str:
        """The first ``limit`` characters of ``text``, redacted: a secret cut by the limit is masked whole (the
        prefix is redacted before it is cut), and a megabyte of server text is never scanned whole."""
        secrets = self.secrets
        reach = limit + max(map(len, secrets), default=0) + 64
        shown = redact(text[:reach], secrets)
        return shown if len(shown) <= limit else shown[:limit - 3] + "..."

    def _status(self, kind: str, detail: str, wall_ns: int, symbol: str = "", **extra: object) -> Status:
        return Status(symbol, wall_ns or self._wall_ns, self.provider, kind=kind,
                      detail=self._shown(detail, _DETAIL),
                      extra={k: _scalar(self._shown(v, _DETAIL) if isinstance(v, str) else v)
                             for k, v in extra.items()})

    def _report(self, kind: str, detail: str) -> None:
        self.news.append(self._status(kind, detail, self._wall_ns))

    def _malformed(self, text: str, wall_ns: int, why: str) -> List[Event]:
        """One Status(error) for a frame that could not be used; counted."""
        self.malformed += 1
        shown = self._shown(text, _SHOWN)
        why = redact(why[:_SHOWN * 2], self.secrets, fragments=8)  # it may quote a cut server value
        return [self._status("error", f"skipped a malformed frame from the server: {why}: {shown!r}",
                             wall_ns, malformed=self.malformed)]

    def _at(self, now: float, wall_ns: int) -> None:
        self._now = now
        if wall_ns:
            self._wall_ns = wall_ns

    # ------------------------------------------------------------ lifecycle
    def endpoint(self, now: float, wall_ns: int) -> Optional[Endpoint]:
        self._at(now, wall_ns)
        ep = self.auth.endpoint(now, wall_ns / 1e9)
        err = self.auth.take_error()
        if err is not None:
            self.signals.append(Fatal(err))
            return None
        return ep

    def connection_made(self, now: float, wall_ns: int = 0) -> None:
        self._at(now, wall_ns)
        self._connections += 1
        self.live.start(now)
        self._connected(now, wall_ns)

    def connection_lost(self) -> None:
        self.live.stop()
        self.bars.dropped()
        self._disconnected()

    def outgoing(self) -> List[str]:
        out, self._out = self._out, []
        return out

    def http_outgoing(self) -> List[Tuple[int, HttpRequest]]:
        return self.rest.outgoing()

    def http_response(self, call_id: int, response: Union[HttpResponse, MdsdkError], now: float,
                      wall_ns: int) -> None:
        self._at(now, wall_ns)
        self.rest.response(call_id, response)

    def _send_text(self, text: str, now: float) -> None:
        self._out.append(text)
        self.live.sent(now)

    # ------------------------------------------------------------ timers
    def next_deadline(self) -> Optional[float]:
        times = [t for t in (self.live.deadline(), self.auth.deadline, self._deadline(), self.bars.deadline,
                             self.fresh.deadline) if t is not None]
        return min(times) if times else None

    def handle_timer(self, now: float, wall_ns: int = 0) -> None:
        self._at(now, wall_ns)
        self.auth.timer(now, wall_ns / 1e9)
        if self.live.check(now):
            self._keepalive(now)
        self._timer(now, wall_ns)
        self.news += self.bars.timer(now, self._status, wall_ns)
        if self.fresh.deadline is not None and now >= self.fresh.deadline:  # raises when the whole feed went quiet
            self.news += self.fresh.check(now, wall_ns, self._status) if self.ready else self.fresh.watch_later(now)

    def _deadline(self) -> Optional[float]:
        """A provider's own next deadline (default: none)."""
        return None

    def _timer(self, now: float, wall_ns: int) -> None:
        """A provider's own timed work (default: none)."""

    # ------------------------------------------------------------ receiving
    def receive(self, text: str, now: float, wall_ns: int) -> List[Event]:
        self._at(now, wall_ns)
        self.live.received(now)
        events = self._checked(self._receive(text, now, wall_ns), now, wall_ns)
        if self.news:
            events, self.news = self.news + events, []
        return events

    def receive_many(self, texts: Sequence[str], now: float, wall_ns: int) -> List[Event]:
        # _at() and live.received(), spelled out: every frame comes this way, and a call costs here
        self._now = self.live.last_recv = now
        if wall_ns:
            self._wall_ns = wall_ns
        events = self._checked(self._receive_many(texts, now, wall_ns), now, wall_ns)
        if self.news:
            events, self.news = self.news + events, []
        return events

    def _checked(self, events: List[Event], now: float, wall_ns: int) -> List[Event]:
        """The spine's checks on a frame's events: freshness stamps, bar continuity, book integrity (a bad book
        is dropped, reported and handed to :meth:`_book_broken`), each only while its subscriptions exist."""
        self.bars.last_rx_ns = wall_ns
        events = Batch(events)  # made once here: the stamps below, the cache and the consumers share its sums
        if self.fresh.deadline is not None:
            self.fresh.stamp(events, now)
        if self.bars.ledger.watched:
            events = self.bars.apply(events, now, self._status, wall_ns)
        if self._books and BookSnapshot in classes_of(events):
            kept: List[Event] = []
            for ev in events:
                why = book_problem(ev) if ev.__class__ is BookSnapshot else None
                if why is None:
                    kept.append(ev)
                    continue
                self.bad_books += 1
                kept.append(self._status("error", f"dropped a bad {ev.symbol} book: {why}", wall_ns,
                                         symbol=ev.symbol, bad_books=self.bad_books))
                self._book_broken(ev.symbol, now, wall_ns)
            events = kept
        return events

    def _book_broken(self, symbol: str, now: float, wall_ns: int) -> None:
        """Ask the server for ``symbol``'s book again where the protocol can (default: the next book replaces it)."""

    def _receive_many(self, texts: Sequence[str], now: float, wall_ns: int) -> List[Event]:
        """Frames that arrived together (default: one by one; a provider may
        decode runs of data frames jointly)."""
        out: List[Event] = []
        for text in texts:
            out += self._one(text, now, wall_ns)
        return out

    def _one(self, text: str, now: float, wall_ns: int) -> List[Event]:
        """One frame of a burst through :meth:`_receive`; a bug there costs
        this frame only (kept in ``faults`` for the runtime to report)."""
        try:
            return self._receive(text, now, wall_ns)
        except Exception as exc:  # noqa: BLE001 - see ProviderProtocol.receive_many
            self.faults.append(exc)
            return []

    def _handshake_done(self, now: float, wall_ns: int) -> List[Event]:
        """Call when the socket is streaming: Ready, then replay the desired
        subscriptions; returns the "resubscribed" news after a reconnect."""
        self.live.handshaking = False
        self._ever_ready = True
        self._refreshed = False
        self.signals.append(Ready())
        subs = list(self.desired)
        if subs:
            self._send_subscriptions(subs, now, wall_ns)
        if self._connections > 1 and subs:
            return [self._status("resubscribed", f"restored {len(subs)} subscriptions after reconnect",
                                 wall_ns, count=len(subs))] + \
                self.bars.reconnected(now, wall_ns, self.capabilities, lambda rid, req: self._start_history(
                    rid, req, now, wall_ns), self._status)
        return []

    def _auth_refused(self, error: MdsdkError, wall_ns: int) -> List[Event]:
        """The server refused our credentials: stop if they were never good
        (or cannot be renewed); otherwise fetch a fresh token once and reconnect."""
        if self._ever_ready and not self._refreshed and self.auth.refresh(self._now, self._wall_ns / 1e9):
            self._refreshed = True
            self.signals.append(Reconnect(error, now=True))
        else:
            self.signals.append(Fatal(error))
        return [self._status("error", str(error), wall_ns)]

    def upgrade_refused(self, status: int, now: float, wall_ns: int = 0) -> None:
        """401/403 at the upgrade is the server refusing our credentials there: the same policy as a refusal
        on the socket (stop, or renew once and reconnect)."""
        self._at(now, wall_ns)
        if status in (401, 403):
            self.news += self._auth_refused(AuthenticationError(
                f"the {self.provider} server refused the credentials at the WebSocket upgrade (HTTP {status}); "
                "check the token or key"), wall_ns)

    # ------------------------------------------------------------ requests
    def request(self, request_id: int, request: Request, now: float, wall_ns: int = 0) -> None:
        self._at(now, wall_ns)
        if isinstance(request, Subscribe):
            self._subscribe(request.subs, now, wall_ns, request_id)
        elif isinstance(request, (History, Ticks, Rpc)):
            what = "history" if isinstance(request, History) else "ticks" if isinstance(request, Ticks) else "rpc"
            if not self._refuse(request_id, what):
                getattr(self, f"_start_{what}")(request_id, request, now, wall_ns)

    def _refuse(self, request_id: int, what: str) -> bool:
        try:
            self.capabilities.require(self.provider, what)
        except UnsupportedError as exc:
            self._reply(request_id, error=exc)
            return True
        return False

    def cancel(self, request_id: int, now: float, wall_ns: int = 0) -> None:
        self._at(now, wall_ns)
        self._awaiting.pop(request_id, None)
        self._sub_errors.pop(request_id, None)
        self._cancel_request(request_id, now, wall_ns)

    def _reply(self, request_id: Optional[int], value: Any = None, error: Optional[MdsdkError] = None) -> None:
        if self.bars.owns(request_id):
            self.news += self.bars.answer(request_id, value, error, self._status, self._wall_ns)  # type: ignore[arg-type]
        elif request_id is not None:
            self.signals.append(Reply(request_id, value, error))

    def subscribe(self, subs: Iterable[Subscription], now: float, wall_ns: int = 0,
                  request_id: Optional[int] = None) -> None:
        """Add subscriptions (idempotent): sent now when ready, else after the handshake."""
        self._subscribe(tuple(subs), now, wall_ns, request_id)

    def _subscribe(self, subs: Iterable[Subscription], now: float, wall_ns: int, request_id: Optional[int]) -> None:
        """Subscriptions :meth:`_vet` refuses are never sent; their errors share the reply of the acked ones."""
        self._at(now, wall_ns)
        good: List[Subscription] = []
        rejected: List[Tuple[Subscription, MdsdkError]] = []
        for sub in dict.fromkeys(subs):
            try:
                self._vet(sub)
                good.append(sub)
            except MdsdkError as exc:
                rejected.append((sub, exc))
        new = self.desired.add(good)
        self._watch_bars()
        if request_id is not None and new and self.capabilities.acks:
            self._awaiting[request_id] = set(new)
            self._sub_errors[request_id] = list(rejected)
        elif request_id is not None:
            self._reply(request_id, tuple(rejected))
        if new and self.ready:
            self._send_subscriptions(new, now, wall_ns)

    def _vet(self, sub: Subscription) -> None:
        """Raise the error refusing ``sub`` before anything is sent: a kind or symbol form it cannot serve."""

    def unsubscribe(self, subs: Iterable[Subscription], now: float, wall_ns: int = 0) -> None:
        self._at(now, wall_ns)
        gone = self.desired.remove(subs)
        self._watch_bars()
        if gone:
            self._settle(gone, None)
            if self.ready:
                self._send_unsubscriptions(gone, now, wall_ns)
            self._forget(gone)

    @property
    def subscriptions(self) -> Tuple[Subscription, ...]:
        return self.desired.snapshot

    def _watch_bars(self) -> None:
        self.bars.ledger.watch([(s.symbol, s.interval or "1m") for s in self.desired if s.kind == "bar"])
        self._books = any(s.kind == "book" for s in self.desired)
        self.fresh.watch([(s.symbol, self.asset_class(s.symbol)) for s in self.desired if s.kind in _MARKET],
                         self._now)

    def asset_class(self, symbol: str) -> str:
        """The session-calendar class of ``symbol`` (:mod:`mdsdk.sessions`) by its form; providers may know better."""
        return asset_class_of(symbol)

    def _acked(self, sub: Subscription) -> None:
        """The server confirmed ``sub``."""
        self._settle([sub], None)

    def _rejected(self, sub: Subscription, error: MdsdkError, wall_ns: int) -> List[Event]:
        """The server (or a lookup) refused ``sub``: it leaves the desired set,
        its waiting caller gets ``error``, and a Status reports it."""
        self.desired.remove([sub])
        self._watch_bars()
        self._forget([sub])
        self._settle([sub], error)
        code = getattr(error, "code", None)
        return [self._status("error", str(error), wall_ns, symbol=sub.symbol, code=code)]

    def _settle(self, subs: List[Subscription], error: Optional[MdsdkError]) -> None:
        for rid, waiting in list(self._awaiting.items()):
            hit = waiting.intersection(subs)
            if not hit:
                continue
            waiting.difference_update(hit)
            if error is not None:
                self._sub_errors[rid].extend((sub, error) for sub in hit)
            if not waiting:
                del self._awaiting[rid]
                self._reply(rid, tuple(self._sub_errors.pop(rid, ())))

    # ------------------------------------------------------------ provider hooks
    @abstractmethod
    def _connected(self, now: float, wall_ns: int) -> None:
        """Reset per-socket state and queue the first frames of the handshake."""

    def _disconnected(self) -> None:
        """Forget per-socket state (default: nothing)."""

    @abstractmethod
    def _receive(self, text: str, now: float, wall_ns: int) -> List[Event]:
        """Decode one frame; never raises for bad input (use :meth:`_malformed`)."""

    @abstractmethod
    def _keepalive(self, now: float) -> None:
        """Queue one keepalive frame."""

    @abstractmethod
    def _send_subscriptions(self, subs: List[Subscription], now: float, wall_ns: int) -> None:
        """Send ``subs`` on the ready socket (also the replay after a reconnect)."""

    @abstractmethod
    def _send_unsubscriptions(self, subs: List[Subscription], now: float, wall_ns: int) -> None:
        """Tell the ready socket to stop ``subs``."""

    def _forget(self, subs: List[Subscription]) -> None:
        """Drop provider state kept for ``subs`` (default: nothing)."""

    def _start_history(self, request_id: int, request: History, now: float, wall_ns: int) -> None:
        self._reply(request_id, error=UnsupportedError(f"{self.provider} has no history"))

    def _start_rpc(self, request_id: int, request: Rpc, now: float, wall_ns: int) -> None:
        self._reply(request_id, error=UnsupportedError(f"{self.provider} has no rpc"))

    def _start_ticks(self, request_id: int, request: Ticks, now: float, wall_ns: int) -> None:
        self._reply(request_id, error=UnsupportedError(f"{self.provider} has no ticks"))

    def _cancel_request(self, request_id: int, now: float, wall_ns: int) -> None:
        """Abandon a history or RPC request (default: nothing to undo)."""


def _scalar(v: Any) -> Any:
    """A value of a Status ``extra`` (often a server's error code): a JSON scalar within bounds, else its short repr."""
    if v is None or v.__class__ is bool or v.__class__ is int:
        return v if v.__class__ is not int or -_I64 <= v < _I64 else None
    if v.__class__ is float:
        return math.nan if math.isinf(v) else v
    # Not a repr: reprlib cuts the strings inside, and a cut token escapes redaction.
    return v[:_SHOWN] if v.__class__ is str else f"<{type(v).__name__}>"


def subscription_error(provider: str, sub: Subscription, code: Any, text: str) -> SubscriptionError:
    """The error for a rejected subscription, with the server's words."""
    return SubscriptionError(f"{provider} rejected {sub.kind} for {sub.symbol!r}: {text} ({code})",
                             symbol=sub.symbol, code=code, text=text)
