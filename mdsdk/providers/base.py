"""The provider plug-in contract: pure values and the protocol interface.

A provider is a package under ``mdsdk/providers/`` that exposes a
:class:`ProviderSpec`. Its protocol object is *sans-I/O* (see h11, wsproto):
frames go in through :meth:`ProviderProtocol.receive`, frames to send come
out of :meth:`ProviderProtocol.outgoing`, time is always an argument, and the
object says when it next needs attention (:meth:`next_deadline`). It never
touches a socket, a thread or a clock, so it is tested by feeding it frames.

Rules every protocol object follows:

* One object lives for the whole feed, across reconnects. The runtime calls
  :meth:`connection_made` on every new socket; the object forgets per-socket
  state (channels, handshake) but keeps the desired subscriptions and replays
  them itself once the handshake is done, emitting ``Status(resubscribed)``.
* User-visible events are returned from ``receive``; runtime news (handshake
  done, auth refused, history finished) is appended to :attr:`signals`.
* A malformed frame never raises out of ``receive``: it becomes a
  ``Status(error)`` event and bumps :attr:`malformed`.
* ``handle_timer`` raises :class:`~mdsdk.errors.ConnectionLost` when the peer
  missed its deadline; otherwise it queues keepalives.
* ``now`` is wall-clock epoch seconds (``time.time()``): the same number
  stamps candle ``fromTime`` requests and drives the deadlines.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import (Any, Callable, Dict, Generator, Iterable, List, Mapping, Optional,
                    Sequence, Tuple)

from ..errors import ConfigurationError, MdsdkError, redact
from ..events import Bar, Event, Status
from ..intervals import Interval

__all__ = [
    "Subscription", "HistoryRequest", "Option", "Config", "ProviderSpec", "ProviderProtocol",
    "HttpRequest", "HttpResponse", "Endpoint", "AuthFlow",
    "Signal", "Ready", "AuthRejected", "AuthExpired", "HistoryDone", "HistoryFailed",
    "SubscriptionRejected", "SubscriptionAcked", "Fatal", "SUBSCRIBABLE_KINDS",
]

SUBSCRIBABLE_KINDS = ("quote", "trade", "bar", "summary", "profile", "book")


@dataclass(frozen=True)
class Subscription:
    """One thing to stream: an event ``kind`` for a ``symbol``; bars also
    carry an ``interval`` such as ``"1m"``."""

    kind: str
    symbol: str
    interval: Optional[str] = None


@dataclass(frozen=True)
class HistoryRequest:
    """Bars of ``interval`` for ``symbol`` whose start lies in
    ``[start_ns, end_ns)``; ``id`` matches the answer to the request."""

    id: int
    symbol: str
    interval: Interval
    start_ns: int
    end_ns: int


# ---------------------------------------------------------------- signals
@dataclass(frozen=True)
class Signal:
    """Base of the runtime news a protocol object reports in ``signals``."""


@dataclass(frozen=True)
class Ready(Signal):
    """The handshake finished; the connection is streaming."""


@dataclass(frozen=True)
class AuthRejected(Signal):
    """The server refused the credentials during the handshake."""

    error: MdsdkError


@dataclass(frozen=True)
class AuthExpired(Signal):
    """An authorised session lost its authorisation (token expired)."""

    error: MdsdkError


@dataclass(frozen=True)
class HistoryDone(Signal):
    """A history request finished; ``bars`` are ascending by start time."""

    request_id: int
    bars: Tuple[Bar, ...]
    truncated: bool = False


@dataclass(frozen=True)
class HistoryFailed(Signal):
    """A history request failed with ``error``."""

    request_id: int
    error: MdsdkError


@dataclass(frozen=True)
class SubscriptionAcked(Signal):
    """The server confirmed a subscription (providers that acknowledge)."""

    subscription: Subscription


@dataclass(frozen=True)
class SubscriptionRejected(Signal):
    """The server rejected one subscription; ``error`` is a SubscriptionError."""

    subscription: Subscription
    error: MdsdkError


@dataclass(frozen=True)
class Fatal(Signal):
    """Reconnecting cannot help (for example, a frame the server will never
    accept); the feed stops with ``error``."""

    error: MdsdkError


# ---------------------------------------------------------------- HTTP values
@dataclass(frozen=True)
class HttpRequest:
    """A REST call described as data; the ``http`` module performs it."""

    method: str
    path: str
    json: Optional[Mapping[str, Any]] = None
    params: Optional[Mapping[str, Any]] = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before sending (penalty back-off)


@dataclass(frozen=True)
class HttpResponse:
    """What came back from a REST call: status code, parsed JSON body (or
    ``None``) and the raw text."""

    status: int
    body: Any
    text: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Endpoint:
    """Where and how to open the socket: URL, token and token expiry
    (epoch seconds, or ``None`` when unknown)."""

    url: str
    token: Optional[str] = None
    expires_at: Optional[float] = None
    rest_token: Optional[str] = None  # for REST calls, where it differs from the socket token

    def __repr__(self) -> str:
        return f"Endpoint(url={self.url!r}, token={'***' if self.token else None}, expires_at={self.expires_at})"

    @property
    def secrets(self) -> Tuple[str, ...]:
        """The tokens, for redaction."""
        return tuple(t for t in (self.token, self.rest_token) if t)


# A login flow is a generator: it yields HttpRequests, is sent HttpResponses,
# and returns the Endpoint. Pure, so it is tested without a server.
AuthFlow = Generator[HttpRequest, HttpResponse, Endpoint]


# ---------------------------------------------------------------- options
@dataclass(frozen=True)
class Option:
    """A keyword argument a provider accepts; ``secret`` options are redacted
    everywhere, ``env`` overrides the default variable name."""

    name: str
    default: Any = None
    secret: bool = False
    help: str = ""
    kind: Callable[[Any], Any] = str


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

    def __repr__(self) -> str:
        shown = {k: ("***" if k in self._secret_names and v else v) for k, v in self._values.items()}
        return f"Config({self.provider!r}, {shown})"


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
            raw = kwargs[opt.name]
        elif (prefix + opt.name.upper()) in env:
            raw = env[prefix + opt.name.upper()]
        else:
            values[opt.name] = opt.default
            continue
        try:
            values[opt.name] = opt.kind(raw)
        except (TypeError, ValueError):
            shown = "***" if opt.secret else repr(raw)
            raise ConfigurationError(
                f"option {opt.name}={shown} for {provider!r} is not valid: {opt.help or opt.kind.__name__}") from None
    return Config(provider, values, [o.name for o in options if o.secret])


# ---------------------------------------------------------------- protocol
class ProviderProtocol(ABC):
    """The sans-I/O interface every provider's protocol object implements.
    See the module docstring for the rules."""

    provider: str = ""

    def __init__(self) -> None:
        self.signals: List[Signal] = []
        self.malformed = 0
        self._out: List[str] = []

    # -- lifecycle
    @abstractmethod
    def connection_made(self, now: float) -> None:
        """A new socket is open: reset per-socket state and queue the first frames."""

    def connection_lost(self) -> None:
        """The socket is gone; forget per-socket state (default: nothing)."""

    @property
    @abstractmethod
    def ready(self) -> bool:
        """True once the handshake finished on the current socket."""

    def set_token(self, token: Optional[str]) -> None:
        """Use ``token`` for the next handshake."""
        self.token = token

    # -- data
    @abstractmethod
    def receive(self, text: str, now: float, received_ns: int) -> List[Event]:
        """Handle one frame; return the events it carried (possibly none)."""

    def outgoing(self) -> List[str]:
        """Take the frames queued for sending (in order)."""
        out, self._out = self._out, []
        return out

    @abstractmethod
    def next_deadline(self) -> Optional[float]:
        """The ``now`` at which :meth:`handle_timer` must run next."""

    @abstractmethod
    def handle_timer(self, now: float) -> None:
        """Queue keepalives that are due; raise ConnectionLost when the peer is overdue."""

    # -- requests
    @abstractmethod
    def subscribe(self, subs: Iterable[Subscription], now: float) -> None:
        """Add subscriptions (idempotent); sent now if ready, else after the handshake."""

    @abstractmethod
    def unsubscribe(self, subs: Iterable[Subscription], now: float) -> None:
        """Remove subscriptions (unknown ones are ignored)."""

    def request_history(self, request: HistoryRequest, now: float) -> None:
        """Start a history request; the answer arrives as a HistoryDone/HistoryFailed signal."""
        from ..errors import UnsupportedError
        self.signals.append(HistoryFailed(request.id, UnsupportedError(
            f"{self.provider} has no history; use a provider that serves bars")))

    def cancel_history(self, request_id: int, now: float) -> None:
        """Abandon a history request (after a timeout)."""

    def learn_symbols(self, contracts: Mapping[str, Any]) -> None:
        """Take symbol -> provider id mappings resolved over REST (default: unused)."""

    def replay_sent(self, text: str, now: float) -> None:
        """Learn from a frame a recorded session sent (request ids, candle
        symbols), as if this object had sent it. Default: nothing to learn."""

    def closed_error(self, code: Optional[int], reason: str) -> Optional[MdsdkError]:
        """Translate a WebSocket close code into an error worth reporting, or None."""
        return None

    # -- helpers for subclasses
    def _status(self, kind: str, detail: str, received_ns: int, symbol: str = "",
                **extra: object) -> Status:
        return Status(symbol, received_ns, self.provider, kind=kind, detail=detail,
                      extra=extra or {})


@dataclass(frozen=True)
class ProviderSpec:
    """What the registry knows about a provider: its options, how to build
    its protocol object, and (optionally) how to log in over REST."""

    name: str
    options: Tuple[Option, ...]
    make_protocol: Callable[[Config], ProviderProtocol]
    auth_flow: Optional[Callable[[Config], AuthFlow]] = None
    kinds: Tuple[str, ...] = ("quote", "trade", "bar", "summary")
    has_history: bool = True
    description: str = ""
    # "module:Class" of a server to run in-process (``sim``); loaded by the
    # registry by name so that provider packages never import mdsdk.testing.
    local_server: Optional[str] = None
    # Renew a token before it expires: (config, current endpoint) -> flow.
    renew_flow: Optional[Callable[[Config, Endpoint], AuthFlow]] = None
    # Resolve a user symbol to the provider's id: (config, endpoint, symbol) -> flow.
    resolve_flow: Optional[Callable[[Config, Endpoint, str], Generator[HttpRequest, HttpResponse, Any]]] = None
    # True when the server acknowledges each subscription: subscribe() then
    # waits for the answer and raises SubscriptionError for rejected symbols.
    acks: bool = False
    # The REST base when the user gave no api_url (e.g. demo vs live hosts).
    default_api_url: Optional[Callable[[Config], str]] = None

    def api_url(self, config: Config) -> str:
        """The REST base URL: ``api_url=`` if given, else the provider's default."""
        if config.get("api_url"):
            return str(config["api_url"])
        if self.default_api_url is not None:
            return self.default_api_url(config)
        raise ConfigurationError(f"provider {self.name!r} needs api_url=...")

    def endpoint(self, config: Config) -> Endpoint:
        """The socket endpoint when no REST login is needed (``url``, ``token``)."""
        url = config.get("url")
        if not url:
            raise ConfigurationError(
                f"provider {self.name!r} needs url=... (or MDSDK_{self.name.upper()}_URL)")
        return Endpoint(str(url), config.get("token"))
