"""The provider plug-in contract: pure values and the protocol interface.

A provider is a package under ``mdsdk/providers/`` that exposes a
:class:`ProviderSpec`. Its protocol object is *sans-I/O* (see h11, wsproto):
frames go in through :meth:`ProviderProtocol.receive`, frames to send come
out of :meth:`ProviderProtocol.outgoing`, HTTP exchanges it needs come out of
:meth:`ProviderProtocol.http_outgoing` as values and their answers go back
in through :meth:`ProviderProtocol.http_response`. Time is always an
argument: ``now`` is monotonic seconds (deadlines), ``wall_ns`` epoch
nanoseconds (event stamps, server-facing times). The object says when it
next needs attention (:meth:`next_deadline`). It never touches a socket, a
thread or a clock, so it is tested by feeding it frames and responses.

Rules every protocol object follows (the shared core in
:mod:`mdsdk.providers.core` implements most of them once):

* One object lives for the whole feed, across reconnects. It keeps the
  desired subscriptions (the only copy) and replays them after every
  handshake, reporting ``Status(resubscribed)``.
* A request that expects an answer (:class:`Subscribe`, :class:`History`,
  :class:`Rpc`) comes with an id; the answer is one :class:`Reply` signal
  carrying a value or a typed error.
* User-visible events are returned from ``receive``; runtime news is
  appended to :attr:`signals` (:class:`Ready`, :class:`Reply`,
  :class:`Reconnect`, :class:`Fatal`).
* A malformed frame never raises out of ``receive``: it becomes one
  ``Status(error)`` event and bumps :attr:`malformed`.
* ``handle_timer`` raises :class:`~mdsdk.errors.ConnectionLost` when the peer
  missed its deadline; otherwise it queues keepalives and starts renewals.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import (Any, Callable, Dict, Generator, Iterable, List, Mapping, Optional, Sequence,
                    Tuple, Union)

from ..errors import ConfigurationError, MdsdkError, UnsupportedError, redact
from ..events import EVENT_KINDS, Bar, Event
from ..intervals import Interval

__all__ = [
    "Subscription", "Subscribe", "History", "Rpc", "Request", "HistoryResult", "Option", "Config",
    "Capabilities", "ProviderSpec", "ProviderProtocol", "HttpRequest", "HttpResponse", "Endpoint",
    "AuthFlow", "Ticks", "TicksResult", "Signal", "Ready", "Reply", "Reconnect", "Fatal", "SUBSCRIBABLE_KINDS",
    "resolve_options", "as_bool",
]

SUBSCRIBABLE_KINDS = ("quote", "trade", "bar", "summary", "profile", "book", "pnl")


@dataclass(frozen=True)
class Subscription:
    """One thing to stream: an event ``kind`` for a ``symbol``; bars also
    carry an ``interval`` such as ``"1m"``."""

    kind: str
    symbol: str
    interval: Optional[str] = None


# ---------------------------------------------------------------- requests
@dataclass(frozen=True)
class Subscribe:
    """Add ``subs`` (idempotent); the reply's value is a tuple of
    ``(subscription, error)`` for every rejected one (empty when all are good)."""

    subs: Tuple[Subscription, ...]


@dataclass(frozen=True)
class History:
    """Bars of ``interval`` for ``symbol`` whose start lies in
    ``[start_ns, end_ns)``; the reply's value is a :class:`HistoryResult`."""

    symbol: str
    interval: Interval
    start_ns: int
    end_ns: int


@dataclass(frozen=True)
class Rpc:
    """A provider remote call ``api`` with keyword ``args``; the reply's value
    is whatever the server answered."""

    api: str
    args: Mapping[str, Any] = field(default_factory=dict)
    timeout: Optional[float] = None  # how long the caller waits: a protocol queueing calls can refuse at once


@dataclass(frozen=True)
class Ticks:
    """Every ``kind`` ("trade" or "quote") tick of ``symbol`` in ``[start_ns, end_ns)``; the reply's value is a
    :class:`TicksResult`."""

    symbol: str
    kind: str
    start_ns: int
    end_ns: int


@dataclass(frozen=True)
class TicksResult:
    """The answer to a :class:`Ticks` request: Trade or Quote events, ascending by time."""

    events: Tuple[Event, ...]
    truncated: bool = False


Request = Union[Subscribe, History, Rpc, Ticks]


@dataclass(frozen=True)
class HistoryResult:
    """The answer to a :class:`History` request: bars ascending by start, one per start. Every provider answers
    with a :class:`~mdsdk.series.BarSeries`, whose columns go to the DataFrame as they are; any other sequence of
    Bar events serves too."""

    bars: Sequence[Bar]
    truncated: bool = False


# ---------------------------------------------------------------- signals
@dataclass(frozen=True)
class Signal:
    """Base of the runtime news a protocol object reports in ``signals``."""


@dataclass(frozen=True)
class Ready(Signal):
    """The handshake finished; the connection is streaming."""


@dataclass(frozen=True)
class Reply(Signal):
    """The answer to request ``request_id``: ``value``, or ``error`` when it failed."""

    request_id: int
    value: Any = None
    error: Optional[MdsdkError] = None


@dataclass(frozen=True)
class Reconnect(Signal):
    """Drop this socket and connect again: ``now=True`` skips the backoff
    (a fresh token is on its way)."""

    error: MdsdkError
    now: bool = False


@dataclass(frozen=True)
class Fatal(Signal):
    """Reconnecting cannot help (credentials refused, session taken over);
    the feed stops with ``error``."""

    error: MdsdkError


# ---------------------------------------------------------------- HTTP values
@dataclass(frozen=True)
class HttpRequest:
    """A REST call described as data; the runtime's REST worker performs it
    against the protocol's ``api_url``. With ``run`` set it is a local step
    instead (a token file write): the worker calls ``run()`` for the answer,
    so blocking disk I/O stays off the socket thread and out of the protocol."""

    method: str
    path: str
    json: Optional[Mapping[str, Any]] = None
    params: Optional[Mapping[str, Any]] = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before sending (penalty back-off)
    form: Optional[Mapping[str, str]] = None  # an application/x-www-form-urlencoded body (OAuth token endpoints)
    run: Optional[Callable[[], "HttpResponse"]] = None

    def __repr__(self) -> str:  # bodies and headers carry credentials
        return f"HttpRequest({self.method} {self.path})"


@dataclass(frozen=True)
class HttpResponse:
    """What came back from a REST call: status code, parsed JSON body (or
    ``None``) and the raw text."""

    status: int
    body: Any
    text: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"HttpResponse({self.status})"


@dataclass(frozen=True)
class Endpoint:
    """Where and how to open the socket: URL, token and token expiry
    (epoch seconds, or ``None`` when unknown), and HTTP ``headers`` for the
    upgrade request (a provider that authenticates there, with a Bearer
    header, instead of with a message on the socket)."""

    url: str
    token: Optional[str] = None
    expires_at: Optional[float] = None
    rest_token: Optional[str] = None  # for REST calls, where it differs from the socket token
    headers: Mapping[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"Endpoint(url={self.url!r}, token={'***' if self.token else None}, expires_at={self.expires_at})"

    @property
    def secrets(self) -> Tuple[str, ...]:
        """The tokens, for redaction."""
        return tuple(t for t in (self.token, self.rest_token) if t)


# A REST flow is a generator: it yields HttpRequests, is sent HttpResponses,
# and returns its result (an Endpoint for logins). Pure, so it is tested
# without a server.
AuthFlow = Generator[HttpRequest, HttpResponse, Endpoint]


# ---------------------------------------------------------------- options
def as_bool(v: Any) -> bool:
    """A boolean option from a bool or the usual strings ("true", "0", ...)."""
    if isinstance(v, str):
        low = v.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off", ""):
            return False
        raise ValueError(v)
    return bool(v)


def one_of(*choices: str) -> Callable[[Any], str]:
    """An option converter accepting only ``choices`` (as text); anything else is a ConfigurationError that
    names the option and quotes its help."""
    def convert(v: Any) -> str:
        text = str(v).strip()
        if text not in choices:
            raise ValueError(v)
        return text
    convert.__name__ = "one of " + ", ".join(choices)
    return convert


@dataclass(frozen=True)
class Option:
    """A keyword argument a provider accepts; ``secret`` options are redacted
    everywhere; ``emulator`` options are also handed to the provider's
    emulator when the feed runs one in-process."""

    name: str
    default: Any = None
    secret: bool = False
    help: str = ""
    kind: Callable[[Any], Any] = str
    emulator: bool = False


class Config(Mapping[str, Any]):
    """Resolved provider options (arguments first, then ``MDSDK_<PROVIDER>_<OPTION>``
    variables, then defaults). Its repr hides secret values."""

    def __init__(self, provider: str, values: Dict[str, Any], secret_names: Iterable[str]) -> None:
        self.provider = provider
        self._values = values
        self._secret_names = frozenset(secret_names)

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Any:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    @property
    def secrets(self) -> Tuple[str, ...]:
        """The secret values, for :func:`~mdsdk.errors.redact`."""
        return tuple(str(self._values[n]) for n in self._secret_names if self._values.get(n))

    def redact(self, text: str) -> str:
        """``text`` with every secret of this config masked."""
        return redact(text, self.secrets)

    def with_values(self, **changes: Any) -> "Config":
        """A copy with ``changes`` applied (the in-process emulator's URLs)."""
        return Config(self.provider, dict(self._values, **changes), self._secret_names)

    def __repr__(self) -> str:
        shown = {k: ("***" if k in self._secret_names and v else v) for k, v in self._values.items()}
        return f"Config({self.provider!r}, {shown})"


def _convert(provider: str, opt: Option, raw: Any) -> Any:
    try:
        return opt.kind(raw)
    except (TypeError, ValueError, OverflowError):
        shown = "***" if opt.secret else repr(raw)
        raise ConfigurationError(
            f"option {opt.name}={shown} for {provider!r} is not valid: {opt.help or opt.kind.__name__}") from None


def resolve_options(provider: str, options: Sequence[Option], kwargs: Mapping[str, Any],
                    environ: Optional[Mapping[str, str]] = None) -> Config:
    """Merge keyword arguments, environment variables and defaults into a
    :class:`Config`; unknown keywords raise ConfigurationError listing the
    accepted ones."""
    env = os.environ if environ is None else environ
    known = {o.name: o for o in options}
    unknown = sorted(set(kwargs) - set(known))
    if unknown:
        raise ConfigurationError(
            f"provider {provider!r} does not take {', '.join(unknown)}; "
            f"it accepts: {', '.join(sorted(known))}")
    values: Dict[str, Any] = {}
    prefix = "MDSDK_" + provider.upper().replace("-", "_") + "_"
    for opt in options:
        if kwargs.get(opt.name) is not None:
            values[opt.name] = _convert(provider, opt, kwargs[opt.name])
        elif (prefix + opt.name.upper()) in env:
            values[opt.name] = _convert(provider, opt, env[prefix + opt.name.upper()])
        else:
            values[opt.name] = opt.default
    return Config(provider, values, [o.name for o in options if o.secret])


# ---------------------------------------------------------------- capabilities
@dataclass(frozen=True)
class Capabilities:
    """What a provider can do, as one value: the event ``kinds`` it streams
    (common ones and its own :attr:`notices`),
    whether it serves ``history`` (and at which ``history_units``), whether
    the server acknowledges subscriptions (``acks``) and refuses a symbol it
    does not know (``rejects_unknown``: else ``get_quote`` on one times out,
    naming it), offers ``rpc``, logs in over REST and so can fetch a fresh token
    after a refusal (``rest``: a fixed API key is not that, even where
    history goes over REST), and restores missed
    bars on resubscribe by itself (``resumes_bars``)."""

    kinds: Tuple[str, ...] = ("quote", "trade")
    history: bool = False
    acks: bool = False
    rpc: bool = False
    rest: bool = False
    rejects_unknown: bool = False
    ticks: bool = False  # trade and quote ticks over the history path (feed.ticks)
    # The provider's own resubscription brings back the bars a reconnect missed (DXLink's candle fromTime,
    # Tradovate's chart history): the spine then only drops the repeats instead of backfilling from history.
    resumes_bars: bool = False

    @property
    def notices(self) -> Tuple[str, ...]:
        """The provider's own event kinds (:class:`~mdsdk.events.Notice`
        subclasses such as "news"): the ``kinds`` that are not common ones."""
        return tuple(k for k in self.kinds if k not in EVENT_KINDS)

    def require(self, provider: str, what: str) -> None:
        """Raise UnsupportedError naming ``provider`` and the capability
        ``what`` ("history", "rpc", or an event kind) when it is missing."""
        if what in ("history", "ticks", "rpc", "acks", "rest"):
            if not getattr(self, what):
                raise UnsupportedError(f"provider {provider!r} does not offer {what}; "
                                       f"see mdsdk.providers() for what each provider can do")
            return
        if what not in self.kinds:
            raise UnsupportedError(f"provider {provider!r} does not stream {what!r}; it offers "
                                   f"{', '.join(self.kinds)} (see mdsdk.providers())")

    def row(self) -> Dict[str, Any]:
        """This value as one row of the providers table."""
        return {"kinds": ",".join(self.kinds), "history": self.history, "acks": self.acks,
                "rpc": self.rpc, "rest": self.rest}


@dataclass(frozen=True)
class ProviderSpec:
    """What the registry knows about a provider: its options, how to build
    its protocol object, what it can do, a description, and its emulator
    (``"module:Class"``, loaded lazily so provider code never imports
    :mod:`mdsdk.testing`). ``defaults`` pre-sets options (``sim`` is the
    DXLink provider with ``emulate=True``). ``fixtures`` names the
    directories under ``../shared/fixtures`` holding recorded frames of its
    wire protocol: the protocol tests and the fuzzer (:mod:`mdsdk.testing.fuzz`)
    find them there."""

    name: str
    options: Tuple[Option, ...]
    make_protocol: Callable[[Config], "ProviderProtocol"]
    capabilities: Capabilities
    description: str = ""
    emulator: Optional[str] = None
    fixtures: Tuple[str, ...] = ()


# ---------------------------------------------------------------- protocol
class ProviderProtocol(ABC):
    """The sans-I/O interface every provider's protocol object implements.
    See the module docstring for the rules; :class:`mdsdk.providers.core.ProtocolCore`
    implements everything but the wire format."""

    provider: str = ""
    api_url: Optional[str] = None  # REST base for http_outgoing() requests
    malformed: int = 0
    signals: List[Signal]
    news: List[Event]  # events produced outside receive() (renewal failures, lookups); the runtime drains it
    faults: List[BaseException]  # bugs receive_many caught per frame (that frame is lost); the runtime reports them

    @abstractmethod
    def endpoint(self, now: float, wall_ns: int) -> Optional[Endpoint]:
        """Where to connect now; None while a REST login is still running."""

    @abstractmethod
    def connection_made(self, now: float, wall_ns: int = 0) -> None:
        """A new socket is open: reset per-socket state and queue the first frames."""

    @abstractmethod
    def connection_lost(self) -> None:
        """The socket is gone; forget per-socket state."""

    @property
    @abstractmethod
    def ready(self) -> bool:
        """True once the handshake finished on the current socket."""

    @abstractmethod
    def receive(self, text: str, now: float, wall_ns: int) -> List[Event]:
        """Handle one frame; return the events it carried (possibly none)."""

    def receive_many(self, texts: Sequence[str], now: float, wall_ns: int) -> List[Event]:
        """Handle frames that arrived together, in order; return their events.
        Must give what :meth:`receive` per frame gives (the same events in the
        same order, one malformed report per bad frame); the default does
        exactly that, and a provider may override it to decode a run of data
        frames in one pass. An unexpected exception from one frame costs that
        frame only: it goes to :attr:`faults` and the others are handled."""
        out: List[Event] = []
        for text in texts:
            try:
                out += self.receive(text, now, wall_ns)
            except Exception as exc:  # noqa: BLE001 - a bug costs one frame; the runtime reports it
                self.faults.append(exc)
        return out

    @abstractmethod
    def outgoing(self) -> List[str]:
        """Take the frames queued for sending (in order)."""

    @abstractmethod
    def http_outgoing(self) -> List[Tuple[int, HttpRequest]]:
        """Take the REST calls queued for the REST worker, with their ids."""

    @abstractmethod
    def http_response(self, call_id: int, response: Union[HttpResponse, MdsdkError], now: float,
                      wall_ns: int) -> None:
        """The answer (or transport error) of REST call ``call_id``."""

    @abstractmethod
    def next_deadline(self) -> Optional[float]:
        """The monotonic ``now`` at which :meth:`handle_timer` must run next."""

    @abstractmethod
    def handle_timer(self, now: float, wall_ns: int = 0) -> None:
        """Queue keepalives and renewals that are due; raise ConnectionLost when the peer is overdue."""

    @abstractmethod
    def request(self, request_id: int, request: Request, now: float, wall_ns: int = 0) -> None:
        """Start ``request``; its answer comes as a :class:`Reply` signal."""

    @abstractmethod
    def cancel(self, request_id: int, now: float, wall_ns: int = 0) -> None:
        """Abandon request ``request_id`` (its caller stopped waiting)."""

    @abstractmethod
    def unsubscribe(self, subs: Iterable[Subscription], now: float, wall_ns: int = 0) -> None:
        """Remove subscriptions (unknown ones are ignored)."""

    @property
    @abstractmethod
    def subscriptions(self) -> Tuple[Subscription, ...]:
        """The desired subscriptions (safe to read from any thread)."""

    def replay_sent(self, text: str, now: float, wall_ns: int) -> None:
        """Learn from a frame a recorded session sent (request ids, candle
        symbols), as if this object had sent it. Default: nothing to learn."""

    def upgrade_refused(self, status: int, now: float, wall_ns: int) -> None:
        """The server answered the WebSocket upgrade with HTTP ``status``;
        signal what follows (an auth refusal: Fatal, or a fresh token and
        Reconnect). Default: nothing (the runtime backs off and retries)."""

    def closed_error(self, code: Optional[int], reason: str) -> Optional[MdsdkError]:
        """Translate a WebSocket close code into an error worth reporting, or None."""
        return None

    @property
    def secrets(self) -> Tuple[str, ...]:
        """Every secret this object knows (options and tokens), for redaction."""
        return ()

    @property
    def token_renewals(self) -> int:
        """How many times the token was renewed ahead of its expiry."""
        return 0
