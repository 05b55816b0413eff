"""The TD Ameritrade / Schwab streamer client protocol as a pure state machine (both variants, one class).

Rules (protocols/tda_schwab.md sections 3-5 and 9):

* LOGIN first (request id ``"0"``; ids are strings from a per-socket counter). Nothing else goes out before its
  ack: a command that races ahead of it gets code 20. TDA then sends QOS (``qos``, default "2", the server's own).
* ONE command in flight: the next goes out when the previous one's response arrived (parallel commands give
  codes 22-25); a command unanswered for ``command_timeout`` means a stuck session (reconnect).
* Subscriptions are reconciled, not queued: each service has the keys (and fields) the subscriptions want and
  the keys (and fields) already sent; when nothing is in flight, the next command is computed from the
  difference of one changed service: UNSUBS (keys only) for keys nobody wants any more, then VIEW when the
  field list changed, then SUBS (nothing sent yet) or ADD for new keys. So everything asked for while a command
  was in flight goes out as one command per service, and a subscribe undone before it was sent sends nothing.
  Fields: every known field, sorted, with 0 (``fields="all"``, as tda-api and schwab-py do), or with
  ``fields="kinds"`` only those the subscribed kinds deliver; VIEW widens or narrows them as kinds come and go
  (a server refusing VIEW gets the whole service as one SUBS instead, from then on). quote, trade and summary
  of a symbol share its level-one key. A SUBS/ADD answered with a failure code (11, 19, 21, 22-25, ...)
  rejects the subscriptions of that command only (SubscriptionError through the reply path); the others keep
  streaming.
* After every reconnect: LOGIN again, then every desired subscription as one SUBS per service, one at a time.
* Codes: 3 on LOGIN -> AuthenticationError (Fatal unless a renewable token was good before: one fresh login);
  12 (another connection took the stream; its notify's service is "Invalid Service") -> TakeoverError, Fatal,
  no reconnect war; 20 -> reconnect with a fresh LOGIN; 30 -> Status, reconnect and replay.
* Liveness: any frame is life (heartbeats are ``notify`` items); a server silent for ``server_timeout`` is dead.

Code 30 (STOP_STREAMING): the server ends a session whose subscription set is empty for ~20-30 s (section 5.5).
That can happen at times the user does not control: right after connecting (the runtime connects before the
first subscribe), and whenever the last symbol is unsubscribed. Closing and reopening would show the user
"disconnected"/"reconnecting" news for a normal action and spend reconnect attempts; keeping the last market
service subscribed would stream data nobody asked for. So every session *parks* one subscription right after
LOGIN: ACCT_ACTIVITY for the account's own key (TDA: streamerSubscriptionKeys; Schwab: any text, the correl id
as schwab-py does). It streams only on account activity (delivered as ``account_activity`` events), both variants
have it, and the set on the wire is never empty, so the empty-subscription watchdog never fires whatever the user
subscribes or removes. The same SUBS (idempotent: SUBS replaces the set with itself) is the keepalive the
conformance rules want: the protocol has no client heartbeat, and an answered command proves the session alive.
Should the server refuse the park, a Status says so and a later code 30 reconnects and replays: no silent end.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import uuid
from typing import Any, Deque, Dict, Generator, List, Optional, Set, Tuple

from ...errors import (AuthenticationError, ConnectionLost, MdsdkError, ProviderError, TakeoverError,
                       UnsupportedError)
from ...events import Event
from ..base import (Capabilities, Endpoint, Fatal, History, HistoryResult, HttpRequest, HttpResponse, Reconnect,
                    Subscription)
from ..core import Liveness, ProtocolCore, StateMachine, subscription_error
from ..credentials import LoginFlow, RenewFlow
from .auth import StoredToken, TokenFile, TokenKeeper
from .codec import Codec, Decoded, Notify, Response
from .history import frequency_of, history_request, parse_history
from .requests import (ACCOUNT_ACTIVITY, BOOK_FIELDS, FIELD_MODES, QOS_LEVELS, Command, Identity, encode,
                       fields_for,
                       has_qos, login_request, parse_streamer_info, redacted_forms, service_of,
                       streamer_info_request, streamer_url)
from .variants import Variant

__all__ = ["TDSchwabProtocol", "capabilities_of", "State", "TRANSITIONS", "SUCCESS_CODES", "REJECT_CODES"]


class State(enum.Enum):
    """States of one streamer socket."""

    IDLE = "IDLE"
    LOGGING_IN = "LOGGING_IN"
    READY = "READY"
    FAILED = "FAILED"


TRANSITIONS: Dict[Tuple[State, str], State] = {
    (State.IDLE, "connect"): State.LOGGING_IN,
    (State.LOGGING_IN, "logged_in"): State.READY,
    (State.LOGGING_IN, "refused"): State.FAILED,
    (State.READY, "refused"): State.FAILED,
    (State.LOGGING_IN, "taken_over"): State.FAILED,
    (State.READY, "taken_over"): State.FAILED,
    (State.LOGGING_IN, "dropped"): State.FAILED,
    (State.READY, "dropped"): State.FAILED,
}
SUCCESS_CODES = frozenset({0, 26, 27, 28, 29})  # 26-29: SUCCEEDED_COMMAND_* (section 4)
REJECT_CODES = frozenset({11, 19, 21, 22, 23, 24, 25})  # a subscription refused; the session goes on
_LOGIN_DENIED = 3
_TAKEOVER = 12
_NOT_FOUND = 20        # STREAM_CONN_NOT_FOUND: the server no longer knows this session
_STOP_STREAMING = 30


@dataclasses.dataclass
class _InFlight:
    rid: str
    cmd: Command
    sent_at: float


def capabilities_of(variant: Variant) -> Capabilities:
    """What the ``variant`` streamer offers: the common kinds plus its own notices (TDA: account_activity and
    news; Schwab: account_activity and screener)."""
    base = TDSchwabProtocol.capabilities
    return dataclasses.replace(base, kinds=base.kinds + variant.notices)


class TDSchwabProtocol(ProtocolCore):
    """Sans-I/O client of one streamer ``variant`` (TDA or SCHWAB from :mod:`.variants`); see the module docstring.

    ``url`` (TDA: the bare streamerSocketUrl host, or any URL with a scheme) and ``token`` (TDA: the streamer
    token; Schwab: the OAuth access token) make a fixed endpoint; ``access_token`` without ``url`` fetches the
    streamer info over REST (TDA userprincipals, Schwab userPreference) and learns the identity from it;
    ``oauth`` (a :class:`~.auth.TokenKeeper`) does the same and also refreshes the access token ahead of its
    expiry, handing every refreshed token to ``token_file`` (written by the runtime's I/O worker: :meth:`_keep_token`);
    ``login``/``renew`` REST flows replace either. Price history goes over REST with the OAuth access token
    (:mod:`.history`). ``identity`` holds the per-user request fields; a Schwab
    correl id is generated once per object when none is given (it must not change within a session)."""

    capabilities = Capabilities(kinds=("quote", "trade", "summary", "bar", "book"), history=True, acks=True,
                                rest=True)  # the common part; each variant adds its notices (capabilities_of)

    def __init__(self, variant: Variant, token: Optional[str] = None, *, url: str = "",
                 identity: Optional[Identity] = None, provider: str = "", qos: str = "2",
                 login: Optional[LoginFlow] = None, renew: Optional[RenewFlow] = None,
                 access_token: Optional[str] = None, oauth: Optional[TokenKeeper] = None,
                 token_file: Optional[TokenFile] = None, server_timeout: float = 60.0,
                 keepalive_interval: float = 30.0, handshake_timeout: float = 10.0,
                 command_timeout: float = 30.0, secrets: Tuple[str, ...] = (), fields: str = "all") -> None:
        if qos not in QOS_LEVELS:
            raise ValueError(f"qos must be one of {', '.join(QOS_LEVELS)}, not {qos!r}")
        if fields not in FIELD_MODES:
            raise ValueError(f"fields must be one of {', '.join(FIELD_MODES)}, not {fields!r}")
        self.fields = fields
        self._view = True  # until a server refuses VIEW
        ident = identity or Identity()
        if not ident.correl_id:
            ident = dataclasses.replace(ident, correl_id=str(uuid.uuid4()))
        name = "TD Ameritrade" if variant.name == "tda" else "Schwab"
        if oauth is None and access_token:
            oauth = TokenKeeper(variant, StoredToken(access_token))
        self.oauth, self.token_file = oauth, token_file
        self._logins = 0
        if login is None and oauth is not None and not url:
            login = self._info_flow(variant, oauth, renewing=False)
            renew = renew or (self._info_flow(variant, oauth, renewing=True) if oauth.can_refresh else None)
        static = None if login is not None else Endpoint(streamer_url(url), token)
        super().__init__(provider or variant.name,
                         Liveness(f"{name} streamer", keepalive_interval, server_timeout, handshake_timeout),
                         static=static, login=login, renew=renew,
                         secrets=secrets + redacted_forms(token) + redacted_forms(access_token))
        self.variant = variant
        self.capabilities = capabilities_of(variant)
        self.identity = ident
        self.display = name
        self.qos = qos
        self.command_timeout = max(1.0, command_timeout)
        self.codec = Codec(variant, self.provider)
        self.machine: StateMachine[State] = StateMachine(TRANSITIONS, State.IDLE)
        self._histories: Set[int] = set()
        self._reset_socket()

    def _info_flow(self, variant: Variant, keeper: TokenKeeper, renewing: bool) -> Any:
        """A login (or, ``renewing``, a renewal: the same with a refresh first) that makes sure of a usable OAuth
        access token, GETs the streamer info (section 1) with it and learns the identity. A second login (after
        the server refused a token that was good) refreshes first when it can. The endpoint expires with the
        access token, so the spine's renewal deadline refreshes it ahead of time."""
        def flow(wall_s: float) -> Generator[HttpRequest, HttpResponse, Endpoint]:
            force = renewing or (self._logins > 0 and keeper.can_refresh)
            self._logins += 1
            access = yield from keeper.access_flow(wall_s, force=force)
            self._keep_token()
            answer = yield streamer_info_request(variant, access)
            url, token, self.identity = parse_streamer_info(variant, answer, access, self.identity)
            return Endpoint(streamer_url(url), token, expires_at=keeper.expires_at, rest_token=access)

        if renewing:
            return lambda ep, wall_s: flow(wall_s)
        return flow

    @property
    def state(self) -> State:
        """The current socket state."""
        return self.machine.state

    @property
    def ready(self) -> bool:
        return self.machine.state is State.READY

    @property
    def secrets(self) -> Tuple[str, ...]:
        # A TDA credential carries the token form-encoded: that form is a secret too.
        held = tuple(f for t in self.auth.held for f in redacted_forms(t)[1:])
        return super().secrets + held + (self.oauth.secrets if self.oauth is not None else ())

    # ------------------------------------------------------------ the token file, history
    def _keep_token(self) -> None:
        """Hand a refreshed token to the token file, as a flow of its own whose one step the runtime's I/O worker
        carries out. A failed write costs the file, not the stream: a Status says so, the token stays in memory."""
        fresh = self.oauth.unsaved if self.oauth is not None else None
        if fresh is None or self.oauth is None:
            return
        self.oauth.unsaved = None
        if self.token_file is None:
            return
        tfile = self.token_file

        def write() -> Generator[HttpRequest, HttpResponse, None]:
            yield tfile.save_request(fresh)

        self.rest.start(write(), lambda _: None,
                        lambda exc: self._report("error", f"{self.redact(str(exc))}; the stream goes on"))

    def _start_history(self, request_id: int, request: History, now: float, wall_ns: int) -> None:
        try:
            frequency_of(self.variant, request.interval)
        except UnsupportedError as exc:
            self._reply(request_id, error=exc)
            return
        self._histories.add(request_id)
        self.rest.start(self._history_flow(request, (wall_ns or self._wall_ns) / 1e9),
                        lambda result: self._history_done(request_id, result),
                        lambda exc: self._history_done(request_id, None, exc))

    def _history_flow(self, request: History, wall_s: float) -> Generator[HttpRequest, HttpResponse, HistoryResult]:
        access: Optional[str] = None
        if self.oauth is not None:
            access = yield from self.oauth.access_flow(wall_s)
            self._keep_token()
        else:
            ep = self.auth.current
            if ep is not None:
                access = ep.rest_token or (ep.token if self.variant.name == "schwab" else None)
        if not access:
            raise AuthenticationError(f"{self.display} price history needs the OAuth access token: pass "
                                      "access_token= or token_path=")
        answer = yield history_request(self.variant, request, access)
        return parse_history(self.variant, request, answer, self.provider)

    def _history_done(self, request_id: int, result: Optional[HistoryResult],
                      error: Optional[MdsdkError] = None) -> None:
        if request_id not in self._histories:
            return  # cancelled: its caller stopped waiting
        self._histories.discard(request_id)
        if error is not None:
            error.args = (self.redact(str(error)),)  # a server may echo the token it refused
            if isinstance(error, ProviderError):
                error.message = self.redact(str(error.message))
        self._reply(request_id, result, error)

    def _cancel_request(self, request_id: int, now: float, wall_ns: int) -> None:
        self._histories.discard(request_id)

    # ------------------------------------------------------------ socket lifecycle
    def _reset_socket(self) -> None:
        self.machine.reset()
        self._rid = 0
        self._queue: Deque[Command] = collections.deque()  # QOS, the park, keepalives
        self._inflight: Optional[_InFlight] = None
        self._wire: Dict[str, Dict[str, None]] = {}  # service -> keys the subscriptions want, in order
        self._sent: Dict[str, Dict[str, None]] = {}  # service -> keys the server has (or is being sent)
        self._sent_fields: Dict[str, str] = {}       # service -> the field list the server has
        self._dirty: Dict[str, None] = {}            # services whose wanted and sent state differ, in order
        self.parked = False

    def _connected(self, now: float, wall_ns: int) -> None:
        self._reset_socket()
        self.codec.reset()  # the server resends full snapshots on a new session
        self.machine.fire("connect")
        ep = self.auth.current
        token = (ep.token if ep is not None else None) or ""
        login = Command("ADMIN", "LOGIN", {}, "login")
        self._inflight = _InFlight(self._next_rid(), login, now)
        self._send_text(login_request(self.variant, self.identity, token, self._inflight.rid), now)

    def closed_error(self, code: Optional[int], reason: str) -> Optional[MdsdkError]:
        """The variant's takeover close (TDA: a plain 1000 on the old socket when the same account logs in
        elsewhere) as TakeoverError, which stops the feed instead of fighting back; other closes reconnect."""
        # Only a stream in good standing is taken over: after a refused login or a code 20/30 notice the
        # server's close is the one it announced.
        if code is not None and code == self.variant.takeover_close and self.machine.state is State.READY:
            return TakeoverError(f"the {self.display} streamer closed this stream (code {code}): the same account "
                                 "opened another stream elsewhere (one stream per account); close the other "
                                 "client, then connect again")
        return None

    def _disconnected(self) -> None:
        self._reset_socket()

    def _next_rid(self) -> str:
        rid, self._rid = str(self._rid), self._rid + 1
        return rid

    # ------------------------------------------------------------ the command queue
    def _enqueue(self, cmd: Command) -> None:
        self._queue.append(cmd)
        self._pump(self._now)

    def _pump(self, now: float) -> None:
        """Send the next command when none is in flight (one at a time: section 5.7): a queued one, else the
        next step of a changed service."""
        if self._inflight is not None or not self.ready:
            return
        cmd = self._queue.popleft() if self._queue else self._reconciled()
        if cmd is None:
            return
        self._inflight = _InFlight(self._next_rid(), cmd, now)
        self._send_text(encode(self.variant, self.identity, cmd, self._inflight.rid), now)

    def _reconciled(self) -> Optional[Command]:
        """The next command bringing a changed service's server state to what its subscriptions want."""
        while self._dirty:
            service = next(iter(self._dirty))
            cmd = self._step(service)
            if cmd is not None:
                return cmd
            del self._dirty[service]
        return None

    def _step(self, service: str) -> Optional[Command]:
        """One command for ``service``: UNSUBS first (it frees room under the symbol limit), then VIEW, then
        SUBS/ADD; None when the server already has what is wanted."""
        want, sent = self._wire.get(service, {}), self._sent.setdefault(service, {})
        gone = [k for k in sent if k not in want]
        if gone:
            for key in gone:
                del sent[key]
            return Command(service, "UNSUBS", {"keys": ",".join(gone)}, "unsubs")
        fields = self._fields_of(service)
        if sent and fields != self._sent_fields.get(service):
            self._sent_fields[service] = fields
            if self._view:
                return Command(service, "VIEW", {"fields": fields}, "view")
            sent.clear()  # a server without VIEW: SUBS the whole set again with the new fields
        new = [k for k in want if k not in sent]
        if not new:
            return None
        command = "ADD" if sent else "SUBS"
        sent.update(dict.fromkeys(new))
        self._sent_fields[service] = fields
        return Command(service, command, {"keys": ",".join(new), "fields": fields}, "subs")

    def _fields_of(self, service: str) -> str:
        kinds = None
        if self.fields == "kinds":
            kinds = {s.kind for s in self.desired if service_of(self.variant, s) == service}
        return fields_for(self.variant, service, kinds)

    def _deadline(self) -> Optional[float]:
        flight = self._inflight
        return flight.sent_at + self.command_timeout if flight is not None and self.live.active else None

    def _timer(self, now: float, wall_ns: int) -> None:
        flight = self._inflight
        if flight is not None and self.live.active and now >= flight.sent_at + self.command_timeout:
            raise ConnectionLost(f"the {self.display} streamer did not answer {flight.cmd.command} "
                                 f"{flight.cmd.service} within {self.command_timeout:g} s; reconnecting")

    def _park_command(self, purpose: str) -> Command:
        return Command(ACCOUNT_ACTIVITY, "SUBS", {"keys": self.identity.park_key, "fields": BOOK_FIELDS}, purpose)

    def _keepalive(self, now: float) -> None:
        if self.ready and self.parked and self._inflight is None and not self._queue and not self._dirty:
            self._enqueue(self._park_command("keepalive"))

    # ------------------------------------------------------------ subscriptions
    def _vet(self, sub: Subscription) -> None:
        service_of(self.variant, sub)

    def _send_subscriptions(self, subs: List[Subscription], now: float, wall_ns: int) -> None:
        for sub in subs:
            service = service_of(self.variant, sub)
            self._wire.setdefault(service, {})[sub.symbol] = None
            self._dirty[service] = None
            if sub.symbol in self._sent.get(service, ()):
                self._acked(sub)  # its key is already streaming (or on its way) for another kind
        self._pump(now)

    def _send_unsubscriptions(self, subs: List[Subscription], now: float, wall_ns: int) -> None:
        # The park keeps the set on the wire non-empty, so an UNSUBS of a service's last key is safe.
        still = self._desired_keys()
        for sub in subs:
            service = service_of(self.variant, sub)
            if (service, sub.symbol) not in still:
                self._wire.get(service, {}).pop(sub.symbol, None)
            self._dirty[service] = None  # its keys, or with fields="kinds" its fields, may have changed
        self._pump(now)

    def _desired_keys(self) -> Set[Tuple[str, str]]:
        return {(service_of(self.variant, s), s.symbol) for s in self.desired}

    def _covered(self, cmd: Command) -> List[Subscription]:
        """The desired subscriptions a SUBS/ADD command carries."""
        keys = set(cmd.keys)
        return [s for s in self.desired if s.symbol in keys and service_of(self.variant, s) == cmd.service]

    # ------------------------------------------------------------ receiving
    def _receive(self, text: str, now: float, wall_ns: int) -> List[Event]:
        try:
            decoded = self.codec.decode(text, wall_ns)
        except ValueError as exc:
            return self._malformed(text, wall_ns, str(exc))
        out: List[Event] = list(decoded.events)
        for response in decoded.responses:
            out += self._on_response(response, now, wall_ns)
        for notify in decoded.notifies:
            out += self._on_notify(notify, wall_ns)
        if decoded.malformed:
            out += self._bad_parts(text, decoded, wall_ns)
        for service, key, first, last in decoded.gaps:
            if service.startswith("CHART"):  # candles went missing: have the bar ledger fetch them
                self.bars.doubt((key, "1m"))
            out.append(self._status("gap", f"{service} {key}: messages {first} to {last} never arrived", wall_ns,
                                    symbol=key, service=service, first=first, last=last))
        self._pump(now)
        return out

    def _bad_parts(self, text: str, decoded: Decoded, wall_ns: int) -> List[Event]:
        """One report for a frame with unusable parts, however many (its good parts were delivered)."""
        n = len(decoded.malformed)
        return self._malformed(text, wall_ns, f"{n} unusable part{'s' if n > 1 else ''} ({decoded.malformed[0]})")

    def _on_response(self, r: Response, now: float, wall_ns: int) -> List[Event]:
        if r.code == _TAKEOVER:
            return self._taken_over(r.code, r.msg, wall_ns)
        flight = self._inflight
        if flight is None or r.requestid != flight.rid:
            return self._stray(r, wall_ns)
        self._inflight = None
        if flight.cmd.purpose == "login":
            return self._login_answer(r, now, wall_ns)
        if r.code == _NOT_FOUND:
            return self._session_lost(r.code, r.msg, wall_ns)
        ok = r.code in SUCCESS_CODES
        if flight.cmd.purpose == "subs":
            return self._subs_answer(flight.cmd, ok, r, wall_ns)
        if flight.cmd.purpose == "park":
            self.parked = ok
        if flight.cmd.purpose == "view" and not ok:
            self._view = False  # the fields go out with a SUBS of the whole service instead
            self._sent_fields.pop(flight.cmd.service, None)
            self._dirty[flight.cmd.service] = None
            return []
        if ok:
            return []
        return [self._status("error", f"the {self.display} streamer refused {flight.cmd.command} "
                                      f"{flight.cmd.service}: {r.msg} ({r.code})", wall_ns, code=r.code)]

    def _stray(self, r: Response, wall_ns: int) -> List[Event]:
        """An answer to nothing in flight (a stale id, a recording): errors are still news."""
        if r.code == _NOT_FOUND and self.ready:
            return self._session_lost(r.code, r.msg, wall_ns)
        if r.code in SUCCESS_CODES:
            return []
        return [self._status("error", f"the {self.display} streamer answered {r.command} {r.service} "
                                      f"(request {r.requestid!r}): {r.msg} ({r.code})", wall_ns, code=r.code)]

    def _login_answer(self, r: Response, now: float, wall_ns: int) -> List[Event]:
        if r.code == 0:
            self.machine.fire("logged_in")
            if has_qos(self.variant):
                self._queue.append(Command("ADMIN", "QOS", {"qoslevel": self.qos}, "qos"))
            self._queue.append(self._park_command("park"))
            news = self._handshake_done(now, wall_ns)
            self._pump(now)
            return news
        if r.code == _LOGIN_DENIED:
            self.machine.fire("refused")
            return self._auth_refused(AuthenticationError(
                f"the {self.display} streamer denied the login: {self.redact(r.msg)} (code 3); "
                "the token is invalid or has expired"), wall_ns)
        self.machine.fire("dropped")
        err = ProviderError(f"the {self.display} streamer refused the login: {self.redact(r.msg)} ({r.code}); "
                            "reconnecting", provider=self.provider, code=r.code, server_message=r.msg)
        self.signals.append(Reconnect(err))
        return [self._status("error", str(err), wall_ns, code=r.code)]

    def _subs_answer(self, cmd: Command, ok: bool, r: Response, wall_ns: int) -> List[Event]:
        subs = self._covered(cmd)
        if ok:
            for sub in subs:
                self._acked(sub)
            return []
        for key in cmd.keys:
            self._wire.get(cmd.service, {}).pop(key, None)
            self._sent.get(cmd.service, {}).pop(key, None)
        out: List[Event] = []
        for sub in subs:
            out += self._rejected(sub, subscription_error(self.display, sub, r.code, r.msg), wall_ns)
        if not subs:
            out.append(self._status("error", f"the {self.display} streamer refused {cmd.command} {cmd.service}: "
                                             f"{r.msg} ({r.code})", wall_ns, code=r.code))
        return out

    def _on_notify(self, n: Notify, wall_ns: int) -> List[Event]:
        if n.heartbeat_ms is not None:
            return []  # its arrival already counted as life
        if n.code == _TAKEOVER:
            return self._taken_over(n.code, n.msg, wall_ns)
        if n.code == _NOT_FOUND:
            return self._session_lost(n.code, n.msg, wall_ns)
        if n.code == _STOP_STREAMING:
            return self._session_lost(n.code, n.msg, wall_ns)
        if n.code == _LOGIN_DENIED:
            self.machine.fire("refused")
            return self._auth_refused(AuthenticationError(
                f"the {self.display} streamer ended the login: {self.redact(n.msg)} (code 3)"), wall_ns)
        return [self._status("error", f"{self.display} streamer notice from {n.service}: {n.msg} ({n.code})",
                             wall_ns, code=n.code, service=n.service)]

    def _taken_over(self, code: Optional[int], msg: str, wall_ns: int) -> List[Event]:
        err = TakeoverError(f"the {self.display} streamer closed this stream ({msg}, code {code}): another "
                            "connection logged in with the same account, and the streamer allows one per user; "
                            "mdsdk stops instead of fighting for it", provider=self.provider, code=code,
                            server_message=msg)
        self.machine.fire("taken_over")
        self.signals.append(Fatal(err))
        return [self._status("error", str(err), wall_ns, code=code)]

    def _session_lost(self, code: Optional[int], msg: str, wall_ns: int) -> List[Event]:
        """Codes 20 and 30: the server dropped (or is dropping) this session; a new socket logs in and replays."""
        if self.machine.state is State.FAILED:
            return []
        self.machine.fire("dropped")
        err = ConnectionLost(f"the {self.display} streamer ended the session: {msg} (code {code}); "
                             "reconnecting, logging in again and restoring every subscription")
        self.signals.append(Reconnect(err))
        return [self._status("error", str(err), wall_ns, code=code)]
