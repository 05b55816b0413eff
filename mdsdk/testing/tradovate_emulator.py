"""A faithful Tradovate server for tests: the market-data WebSocket and the
REST calls a client needs (access token, renewal, contract lookup).

Written from ../shared/protocols/tradovate.md section 13, independent of the
client in ``mdsdk.providers.tradovate``. It serves the same synthetic market
as the DXLink emulator.

Instruments: CME Group contract names of :mod:`mdsdk.testing.universe`
(``ESZ6``, ``ESZ26``, ``MNQH7``, ``6EZ6``: a known root, a month code, a 1- or
2-digit year), plus ``known_symbols``, minus ``unknown_symbols``. Any other
name fails ``/contract/find`` (404 with ``errorText``) and a socket
subscription by that name answers ``s:200`` with ``d.errorText "Symbol is
inaccessible"`` (section 10). ``clock`` (epoch seconds) stamps the data.

Faults (the surface every emulator has): :meth:`drop`, :meth:`stall`,
:meth:`inject`, ``refuse_auth``, :meth:`expire_token`, :meth:`close_with`,
:meth:`restart`, :meth:`takeover` (and ``exclusive``). Tradovate extras:
:meth:`shutdown`, ``refuse_renewal``, ``inaccessible_symbols`` (the socket
answers ``errorText``), ``penalty`` / ``captcha`` (REST login penalties),
``client_timeout`` (closes silent clients), ``data_before_response``,
``items_per_frame``, ``max_bars`` (caps history answers, to exercise paging).

Assumptions where the reference is thin:

* Takeover. Section 2.2 says a new access-token request opens a new session
  and can "kick" the app sharing the token; section 4 lists the ``shutdown``
  reason codes, ``ConnectionQuotaReached`` among them, and says a graceful
  close is announced by ``shutdown`` then ``c[code,"reason"]`` and/or a
  WebSocket close. So every open session receives
  ``a[{"e":"shutdown","d":{"reasonCode":"ConnectionQuotaReached","reason":"Another
  session was opened with the same credentials"}}]``, then
  ``c[3000,"Another session was opened with the same credentials"]``, then
  the WebSocket is closed with code 1000 (and that reason). With
  ``exclusive=True`` a socket whose ``authorize`` succeeds takes over every
  older authorized socket (the emulator has one user); a REST login alone
  kicks nobody, so a client renewing or logging in again is not punished.
* The server-side inactivity timeout is undocumented: ``client_timeout``.
* Restart: the WebSocket server stops, every session is cut, and it listens
  again on the same port; the REST side (a separate service) keeps running.
"""

from __future__ import annotations

import collections
import logging
import secrets as _secrets
import threading
import time
from typing import Any, Callable, Deque, Dict, Iterable, List, Optional, Set, Tuple

from ._base import EmulatorBase, MarketClock
from ._tradovate_data import ContractBook, TradovateData, iso
from ._tradovate_rest import TradovateRest
from ._tradovate_session import TradovateSession, shutdown_frame
from .market import SyntheticMarket
from .universe import is_tradovate_contract

__all__ = ["TradovateEmulator"]

log = logging.getLogger("mdsdk.testing.tradovate")
_wire_log = logging.getLogger("mdsdk.testing.tradovate.wire")
_wire_log.setLevel(logging.INFO)  # websockets logs frames (tokens included) at DEBUG


class TradovateEmulator(EmulatorBase):
    """Tradovate MD WebSocket + REST on 127.0.0.1, as a context manager.

    ``.url`` is the MD WebSocket, ``.api_url`` the REST base, ``.credentials``
    the keyword arguments a client needs:
    ``mdsdk.connect("tradovate", url=emu.url, api_url=emu.api_url, **emu.credentials)``.
    """

    GARBAGE = "a[not json"
    PATH = "/v1/websocket"
    example_symbol = "ESZ6"   # an instrument the real server knows
    unknown_symbol = "NOPE9"  # a name it does not
    USER_ID = 4242

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, username: str = "demo",
                 password: str = "demo-password", token_lifetime: float = 80 * 60.0, tick: float = 0.1,
                 seed: int = 7, client_timeout: float = 10.0, max_bars: int = 5000, exclusive: bool = False,
                 clock: Optional[Callable[[], float]] = None, speed: float = 1.0,
                 known_symbols: Iterable[str] = ()) -> None:
        self.market = SyntheticMarket(seed)
        self.contracts = ContractBook()
        self.data = TradovateData(self.market, self.contracts)
        self.clock: Callable[[], float] = clock or MarketClock(speed)
        self.username, self.password = username, password
        self.token_lifetime = token_lifetime
        self.tick = tick
        self.client_timeout = client_timeout
        self.max_bars = max_bars
        self.refuse_renewal = False
        self.penalty = 0          # the next N logins answer with a p-ticket
        self.penalty_time = 1
        self.captcha = False
        self.known_symbols: Set[str] = set(known_symbols)
        self.unknown_symbols: Set[str] = set()
        self.inaccessible_symbols: Set[str] = set()
        self.data_before_response = False
        self.items_per_frame = 1
        self.history_tag = "realtime"
        self.received: Deque[str] = collections.deque(maxlen=20000)
        self.rest_calls: Deque[Tuple[str, str]] = collections.deque(maxlen=1000)
        self._lock = threading.Lock()
        self._tokens: Dict[str, float] = {}
        super().__init__(TradovateSession, host=host, port=port, logger=_wire_log, exclusive=exclusive)
        self._rest = TradovateRest(self)

    # -- surface
    @property
    def api_url(self) -> str:
        """The REST base URL (ends in ``/v1`` like Tradovate's)."""
        return self._rest.url + "/v1"

    @property
    def credentials(self) -> Dict[str, str]:
        """Keyword arguments that log in to this emulator."""
        return {"username": self.username, "password": self.password}

    def _closed(self) -> None:
        self._rest.close()

    def contract_id(self, name: str) -> int:
        """The id the emulator gives contract ``name``."""
        return self.contracts.contract_id(name)

    def knows(self, name: str) -> bool:
        """Whether ``name`` is a contract Tradovate lists: the universe plus
        ``known_symbols``, minus ``unknown_symbols``."""
        if name in self.unknown_symbols:
            return False
        return name in self.known_symbols or is_tradovate_contract(name)

    def requests(self, endpoint: Optional[str] = None) -> List[str]:
        """Client frames received so far (optionally for one endpoint)."""
        frames = list(self.received)
        if endpoint is None:
            return frames
        return [f for f in frames if f.split("\n", 1)[0].lower() == endpoint.lower()]

    # -- faults (drop, stall, inject, restart, takeover come from EmulatorBase)
    def close_with(self, code: int, reason: str = "Go away!") -> None:
        """Send ``c[code,reason]`` and close every connection with ``code``."""
        super().close_with(code, reason)

    def shutdown(self, reason: str = "Maintenance") -> None:
        """Send the ``shutdown`` event with ``reasonCode`` ``reason``, then
        close every connection (code 1000)."""
        for session in self.sessions():
            session.request_close(1000, reason, (shutdown_frame(reason),))

    def expire_token(self) -> None:
        """Expire every token issued so far (open sockets stay open, as on
        Tradovate; the next authorize or renewal with them fails)."""
        with self._lock:
            self._tokens.clear()

    # -- used by the sessions and the REST side
    def record(self, text: str) -> None:
        """Keep a client frame for :meth:`requests`."""
        self.received.append(text)

    def accepts_token(self, token: str) -> bool:
        """Whether ``token`` is an access token that has not expired."""
        with self._lock:
            exp = self._tokens.get(token)
        return exp is not None and exp > time.time()

    def issue_token(self) -> Dict[str, Any]:
        """A fresh access token, as the AccessTokenResponse body."""
        token = self.issue("tv-" + _secrets.token_hex(8))
        exp = time.time() + self.token_lifetime
        with self._lock:
            self._tokens[token] = exp
        return {"accessToken": token, "mdAccessToken": token, "expirationTime": iso(exp),
                "passwordExpirationTime": iso(time.time() + 86400 * 90), "userStatus": "Active",
                "userId": self.USER_ID, "name": self.username, "hasLive": False}

    def lookup(self, sym: Any) -> Optional[Tuple[int, str]]:
        """``(contract id, name)`` for a name or an id already looked up, or
        None when Tradovate would not know it."""
        if isinstance(sym, int) and not isinstance(sym, bool):
            name = self.contracts.name_of(sym)
            return (sym, name) if name else None
        if not isinstance(sym, str) or not self.knows(sym):
            return None
        return self.contracts.add(sym)
