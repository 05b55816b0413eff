"""A faithful TD Ameritrade / Charles Schwab streamer for tests: the
WebSocket streamer and the REST calls a client makes around it (streamer
info, OAuth token refresh, price history), one class with a ``variant``
switch.

Written from ../shared/protocols/tda_schwab.md (section 10, emulator notes,
and sections 1-5, 7-9), independent of the client in
``mdsdk.providers.tdschwab``; it serves the same synthetic market as the other
emulators. A client someone else wrote for the real service works against
it: schwab-py's ``StreamClient`` logs in, subscribes and receives quotes when
its HTTP client is pointed at :attr:`api_url`.

Instruments (each variant's spelling, from :mod:`mdsdk.testing.universe`):
equities and ETFs ``AAPL``, indices ``$SPX``, futures ``/ESZ24`` (or the
front month ``/ES``), futures options ``./OZCZ23C565``, forex ``EUR/USD``,
options ``AAPL  240517C00190000`` (Schwab, 21-character OSI) or
``AAPL_051724C190`` (TDA); plus ``known_symbols``, minus
``unknown_symbols``. An unknown symbol is acked and never gets data, as on the
real streamer (section 5.4).

Faults: the common surface (:meth:`drop`, :meth:`stall`, :meth:`inject`,
``refuse_auth``, :meth:`expire_token`, :meth:`close_with`, :meth:`restart`,
:meth:`takeover`, ``exclusive``) plus :meth:`invalid_json`, :meth:`account_activity`,
``refuse_refresh``, ``empty_timeout`` (the code-30 watchdog),
``slow_reader_bytes`` (the backlog kill), ``takeover_kills`` ("older" or
"newer", since sources disagree), ``data_before_response``,
``blocks_per_frame``, ``burst``, ``max_symbols`` (code 19).

Assumptions where the reference is thin: the code-12 takeover notice is sent
as a ``notify`` from service ``"Invalid Service"`` then a clean close (1000);
a Schwab stream whose access token expires is closed cleanly (1000) by the
server; REST 401 bodies use the shapes noted in ``_tdschwab_rest``; the TDA
``streamerSocketUrl`` is the bare ``host:port`` (the client adds ``wss://``
and ``/ws``) only when the emulator serves TLS, else the full ``ws://`` URL so
a plain-socket client can reach it (section 10 asks for this to be
configurable: set ``tda_bare_host``).
"""

from __future__ import annotations

import collections
import logging
import secrets as _secrets
import threading
import time
from typing import Any, Callable, Deque, Dict, Iterable, List, Optional, Set, Tuple

from ._base import EmulatorBase, MarketClock
from ._tdschwab_data import TDSchwabData, asset_class, ms
from ._tdschwab_rest import TDSchwabRest
from ._tdschwab_session import TDSchwabSession, dumps
from .market import SyntheticMarket

__all__ = ["TDSchwabEmulator", "SchwabEmulator", "TDAEmulator"]

_wire_log = logging.getLogger("mdsdk.testing.tdschwab.wire")
_wire_log.setLevel(logging.INFO)  # websockets logs frames (tokens included) at DEBUG


class TDSchwabEmulator(EmulatorBase):
    """The TDA (``variant="tda"``) or Schwab (``variant="schwab"``) streamer
    and its REST side on 127.0.0.1, as a context manager.

    ``.url`` is the streamer WebSocket (path ``/ws``), ``.api_url`` the REST
    base (the ``https://api.schwabapi.com`` / ``https://api.tdameritrade.com``
    stand-in), ``.access_token`` a valid access token, ``.refresh_token`` a
    valid refresh token, ``.app_key`` / ``.app_secret`` the app credentials
    the token endpoint checks. Timing knobs (seconds): ``tick`` (data
    interval; TDA's QOS scales it by ``qos_scale``), ``heartbeat_interval``,
    ``empty_timeout`` (the code-30 watchdog; by default 20 on TDA and 30 on
    Schwab; set the attribute to None to turn it off), ``token_lifetime``
    (access tokens, 30 minutes by default)."""

    PATH = "/ws"
    example_symbol = "AAPL"
    unknown_symbol = "NOPEQ"

    def __init__(self, variant: str = "schwab", *, host: str = "127.0.0.1", port: int = 0,
                 app_key: str = "mdsdk-app-key", app_secret: str = "mdsdk-app-secret",
                 token_lifetime: float = 30 * 60.0, tick: float = 0.5, heartbeat_interval: float = 10.0,
                 empty_timeout: Optional[float] = None, max_symbols: int = 500, seed: int = 7,
                 exclusive: bool = True, clock: Optional[Callable[[], float]] = None, speed: float = 1.0,
                 known_symbols: Iterable[str] = ()) -> None:
        if variant not in ("tda", "schwab"):
            raise ValueError(f"variant must be 'tda' or 'schwab', not {variant!r}")
        self.variant = variant
        self.market = SyntheticMarket(seed)
        self.data = TDSchwabData(self.market, variant)
        self.clock: Callable[[], float] = clock or MarketClock(speed)
        self.app_key, self.app_secret = app_key, app_secret
        self.token_lifetime = token_lifetime
        self.tick = tick
        self.qos_scale = tick  # QOS "2" (1000 ms) maps to ``tick`` unless changed
        self.heartbeat_interval = heartbeat_interval
        self.empty_timeout = empty_timeout if empty_timeout is not None else (20.0 if variant == "tda" else 30.0)
        self.max_symbols = max_symbols
        self._switches()
        self.known_symbols: Set[str] = set(known_symbols)
        self.unknown_symbols: Set[str] = set()
        self.received: Deque[str] = collections.deque(maxlen=20000)
        self.rest_calls: Deque[Tuple[str, str]] = collections.deque(maxlen=1000)
        self._lock = threading.Lock()
        self._tokens: Dict[str, float] = {}
        self._refresh_tokens: Set[str] = set()
        super().__init__(TDSchwabSession, host=host, port=port, logger=_wire_log, exclusive=exclusive)
        token = self.issue_token(offline=True)
        self.access_token: str = token["access_token"]
        self.refresh_token: str = token["refresh_token"]
        self._rest = TDSchwabRest(self)

    def _switches(self) -> None:
        """The fault switches and identity values a test may change after construction."""
        self.max_candles = 20000
        self.refuse_refresh = False
        self.close_on_expiry = True
        self.data_before_response = False
        self.blocks_per_frame = 0  # 0: every service's block in one frame
        self.burst = 1  # copies of each data frame, to build a backlog quickly
        self.slow_reader_bytes: Optional[int] = 4 << 20
        self.takeover_kills = "older"
        self.takeover_message = "Connection limit reached for this user"
        self.server_id = "s0000dev-1" if self.variant == "schwab" else "08-4"
        self.tda_bare_host: Optional[bool] = None
        self.account_id = "123456789"
        self.customer_id = "mdsdk-customer-id"
        self.correl_id = "4d6f2a1e-mdsd-k000-0000-000000000001"
        self.subscription_key = "mdsdk-acct-activity-key"
        self.auth_code = "mdsdk-auth-code"
        self.news_interval = 30.0  # seconds of emulator clock between headlines of one key

    # -- surface
    @property
    def api_url(self) -> str:
        """The REST base URL, standing in for ``https://api.schwabapi.com`` (or TDA's host)."""
        return self._rest.url

    @property
    def token_url(self) -> str:
        """The OAuth token endpoint of this variant."""
        return self.api_url + ("/v1/oauth/token" if self.variant == "schwab" else "/v1/oauth2/token")

    @property
    def tda_socket_url(self) -> str:
        """TDA's ``streamerSocketUrl``: a bare ``host:port`` when serving TLS (or with ``tda_bare_host``), else
        the full URL."""
        bare = self.tda_bare_host if self.tda_bare_host is not None else self.ssl_context is not None
        return self.url.split("://", 1)[1].rsplit("/", 1)[0] if bare else self.url

    @property
    def credentials(self) -> Dict[str, str]:
        """Keyword arguments a client needs: an access token and the app credentials."""
        return {"access_token": self.access_token, "app_key": self.app_key, "app_secret": self.app_secret,
                "refresh_token": self.refresh_token}

    @property
    def client_options(self) -> Dict[str, str]:
        """What points an mdsdk client here: the REST base (streamer info,
        tokens, history) and the credentials; the socket is found over REST,
        as against the real service."""
        return {"api_url": self.api_url, **self.credentials}

    def token_file(self) -> Dict[str, Any]:
        """A token file as schwab-py writes it (``creation_timestamp`` and the ``token`` object)."""
        now = time.time()
        return {"creation_timestamp": int(now),
                "token": {"access_token": self.access_token, "refresh_token": self.refresh_token,
                          "token_type": "Bearer", "expires_in": int(self.token_lifetime), "scope": "api",
                          "expires_at": int(now + self.token_lifetime)}}

    def _closed(self) -> None:
        self._rest.close()

    def knows(self, symbol: str, asset: Optional[str] = None) -> bool:
        """Whether the streamer knows ``symbol`` (as an ``asset`` class instrument when given)."""
        if symbol in self.unknown_symbols:
            return False
        if symbol in self.known_symbols:
            return True
        found = asset_class(self.variant, symbol)
        return found is not None and (asset is None or found == asset)

    def record(self, text: str) -> None:
        """Keep a client frame (see ``received``)."""
        self.received.append(text)

    # -- tokens
    def issue_token(self, offline: bool = True) -> Dict[str, Any]:
        """A fresh access token (and refresh token), as the token endpoint's body."""
        access = self.issue(("S" if self.variant == "schwab" else "T") + "-" + _secrets.token_urlsafe(24))
        with self._lock:
            self._tokens[access] = time.time() + self.token_lifetime
        body: Dict[str, Any] = {"expires_in": int(self.token_lifetime), "token_type": "Bearer", "scope": "api",
                                "access_token": access}
        if offline:
            refresh = self.issue("R-" + _secrets.token_urlsafe(24))
            with self._lock:
                self._refresh_tokens.add(refresh)
            body["refresh_token"] = refresh
            body["refresh_token_expires_in"] = 7 * 86400
        if self.variant == "schwab":
            body["id_token"] = "eyJ-mdsdk-id-token"
        return body

    def issue_streamer_token(self) -> str:
        """A TDA ``streamerInfo.token``, valid as long as an access token."""
        token = self.issue("ST-" + _secrets.token_hex(16))
        with self._lock:
            self._tokens[token] = time.time() + self.token_lifetime
        return token

    def accepts_token(self, token: Optional[str]) -> bool:
        """Whether ``token`` is an access (or TDA streamer) token that has not expired."""
        with self._lock:
            exp = self._tokens.get(token or "")
        return exp is not None and exp > time.time()

    def accepts_refresh(self, token: str) -> bool:
        """Whether ``token`` is a live refresh token."""
        with self._lock:
            return token in self._refresh_tokens

    def expire_token(self) -> None:
        """Expire every access token issued so far: REST answers 401, LOGIN code 3, and open Schwab streams are
        closed (section 10 (g)); refresh tokens stay valid."""
        with self._lock:
            self._tokens.clear()

    def expire_refresh_token(self) -> None:
        """Expire every refresh token (Schwab's expire after 7 days): the token endpoint answers 400."""
        with self._lock:
            self._refresh_tokens.clear()

    # -- extras
    def invalid_json(self, service: Optional[str] = None, key: str = "AAPL") -> None:
        """Send every open stream a data frame with the doubled-backslash defect (section 9 item 1): ``\\\\"``
        where ``\\"`` was meant. Replacing each doubled backslash with one makes it parse."""
        service = service or ("LEVELONE_EQUITIES" if self.variant == "schwab" else "QUOTE")
        good = dumps({"data": [{"service": service, "timestamp": ms(self.clock()), "command": "SUBS",
                                "content": [{"key": key, "15" if self.variant == "schwab" else "25":
                                             'The "quoted" name'}]}]})
        self.inject(good.replace('\\"', '\\\\"'))

    def account_activity(self, message_type: str = "OrderEntryRequest", message_data: str = "") -> int:
        """Send an ACCT_ACTIVITY item (section 7.14) to every stream subscribed to it, as an order placed on the
        account would; returns how many streams got it."""
        sent = 0
        for session in self.sessions():
            sub = session.subs.get("ACCT_ACTIVITY") if isinstance(session, TDSchwabSession) else None
            if sub is not None and sub.keys:
                # Numbered on the session's own thread when sent, so its seq follows the SUBS answers before it.
                session.inject(lambda s=session: s.account_item(message_type, message_data))  # type: ignore[misc]
                sent += 1
        return sent

    def session_authorized(self, session: Any, others: List[Any]) -> None:
        """One stream per user: with ``exclusive`` a new LOGIN ends the older stream (or, with ``takeover_kills
        = "newer"``, the new one)."""
        if not self.exclusive or not others:
            return
        self._take_over([session] if self.takeover_kills == "newer" else others)


class SchwabEmulator(TDSchwabEmulator):
    """The Charles Schwab streamer: :class:`TDSchwabEmulator` with ``variant="schwab"``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("schwab", **kwargs)


class TDAEmulator(TDSchwabEmulator):
    """The TD Ameritrade streamer: :class:`TDSchwabEmulator` with ``variant="tda"``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("tda", **kwargs)
