"""A faithful DXLink (dxFeed / tastytrade) server for tests, examples and ``sim``.

Written from ../shared/protocols/dxlink.md section 14 and independent of the
client code in ``mdsdk.providers.dxlink`` (so the two cannot share a bug). It
serves the synthetic market over a real WebSocket on 127.0.0.1 and, alongside,
the tastytrade REST endpoints a client needs (``/sessions``, ``/oauth/token``,
``/api-quote-tokens``).

Instruments: the realistic universe of :mod:`mdsdk.testing.universe` (plus
``known_symbols``, minus ``unknown_symbols``). A subscription to a name
dxFeed would not know is accepted silently and never gets data (section 14
note 10). ``Trade`` carries regular-session trades (13:30-20:00 UTC in this
model) and ``TradeETH`` extended-hours ones, each trade sent once; futures
trade as ``Trade`` only. ``clock`` (epoch seconds) stamps the data, so a test
can pick the hour.

Faults (the surface every emulator has): :meth:`drop`, :meth:`stall`,
:meth:`inject`, ``refuse_auth``, :meth:`expire_token`, :meth:`close_with`,
:meth:`restart`, :meth:`takeover` (and ``exclusive``). DXLink extras:
:meth:`switch_to_full`, ``customer_not_found``, ``unknown_symbols``, and
:meth:`blast` / :meth:`pace` for benchmarks.

Assumptions where the reference is silent (section 15 note 11 says token
expiry and unknown symbols are undocumented; nothing documents a second
login):

* Token expiry mid-session: ``AUTH_STATE UNAUTHORIZED`` on the open sessions.
* Takeover (a second login with the same credentials): every open session
  receives ``{"type":"ERROR","channel":0,"error":"UNKNOWN","message":"Session
  closed: another session was opened with the same credentials"}`` and the
  WebSocket is then closed with code 1008, reason ``"session taken over"``.
  With ``exclusive=True`` a session whose AUTH succeeds takes over every
  older authorized session (the emulator has one user, so every token is the
  same credentials); sessions of a no-auth server are never taken over
  automatically.
* Restart: the WebSocket server stops, every session is cut, and it listens
  again on the same port; the REST side (a separate service) keeps running.
"""

from __future__ import annotations

import collections
import json
import logging
import secrets as _secrets
import threading
from typing import Any, Callable, Deque, Dict, Iterable, List, Optional, Set, Tuple

from ._base import EmulatorBase, MarketClock
from ._dxlink_blast import Blaster, BlastJob, PaceJob
from ._dxlink_events import EventRows, parse_candle
from ._dxlink_session import DXLinkSession
from ._tastytrade_rest import TastytradeRest
from .market import SyntheticMarket
from .universe import dxfeed_base, is_dxfeed_symbol

__all__ = ["DXLinkEmulator", "parse_candle"]

log = logging.getLogger("mdsdk.testing.dxlink")
# websockets logs every frame at DEBUG, AUTH tokens included: keep its wire
# log at INFO even when the application turns DEBUG on globally.
_wire_log = logging.getLogger("mdsdk.testing.dxlink.wire")
_wire_log.setLevel(logging.INFO)


class DXLinkEmulator(EmulatorBase):
    """A DXLink server plus tastytrade REST on 127.0.0.1, as a context manager.

    ``.url`` is the WebSocket URL, ``.api_url`` the REST base, and
    ``.credentials`` the keyword arguments a client needs, so
    ``mdsdk.connect("tastytrade", url=emu.url, api_url=emu.api_url, **emu.credentials)``
    and ``mdsdk.connect("dxlink", url=emu.url, **emu.credentials)`` both work.
    """

    PATH = "/realtime"
    example_symbol = "SPY"   # an instrument the real server knows
    unknown_symbol = "NOPE"  # a name it does not

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, require_auth: bool = True,
                 token: Optional[str] = None, username: str = "demo", password: str = "demo-password",
                 keepalive_timeout: float = 60.0, tick: float = 0.1, seed: int = 7,
                 max_message_size: Optional[int] = None, max_snapshot: int = 100_000,
                 snapshot_chunk: int = 250, normalize_candle_symbols: bool = True,
                 rest: bool = True, exclusive: bool = False, clock: Optional[Callable[[], float]] = None,
                 speed: float = 1.0,
                 known_symbols: Iterable[str] = ()) -> None:
        self.market = SyntheticMarket(seed)
        self.rows = EventRows(self.market)
        self.clock: Callable[[], float] = clock or MarketClock(speed)
        self.require_auth = require_auth
        self.token = token or "emu-" + _secrets.token_hex(8)
        self.username, self.password = username, password
        self.keepalive_timeout = keepalive_timeout
        self.tick = tick
        self.max_snapshot = max_snapshot
        self.snapshot_chunk = snapshot_chunk
        self.normalize_candle_symbols = normalize_candle_symbols
        self.customer_not_found = False
        self.known_symbols: Set[str] = set(known_symbols)
        self.unknown_symbols: Set[str] = set()
        self.received: Deque[Dict[str, Any]] = collections.deque(maxlen=20000)
        self.rest_calls: Deque[Tuple[str, str]] = collections.deque(maxlen=1000)
        self.blaster = Blaster()
        self._lock = threading.Lock()
        self._valid_tokens: Set[str] = {self.token}
        self._subscriptions: Set[Tuple[str, str]] = set()
        super().__init__(DXLinkSession, host=host, port=port, logger=_wire_log, max_size=max_message_size,
                         exclusive=exclusive)
        self.issue(self.token)
        self._rest = TastytradeRest(self) if rest else None

    # -- surface
    @property
    def api_url(self) -> Optional[str]:
        """The base URL of the tastytrade REST endpoints."""
        return self._rest.url if self._rest else None

    @property
    def credentials(self) -> Dict[str, str]:
        """Keyword arguments that authenticate against this emulator: a token
        valid both as a DXLink quote token and as a tastytrade session token."""
        return {"token": self.token}

    def _closed(self) -> None:
        if self._rest:
            self._rest.close()

    def knows(self, symbol: str) -> bool:
        """Whether the server has data for ``symbol`` (candle symbols by their
        base): the universe plus ``known_symbols``, minus ``unknown_symbols``."""
        base = dxfeed_base(symbol)
        if base in self.unknown_symbols or symbol in self.unknown_symbols:
            return False
        return base in self.known_symbols or is_dxfeed_symbol(base)

    def messages(self, kind: Optional[str] = None) -> List[Dict[str, Any]]:
        """Client frames received so far (parsed), optionally of one ``type``."""
        return [m for m in list(self.received) if kind is None or m.get("type") == kind]

    @property
    def subscribed(self) -> Set[Tuple[str, str]]:
        """Every (event type, symbol) any client has subscribed."""
        with self._lock:
            return set(self._subscriptions)

    # -- faults and controls (drop, stall, inject, close_with, restart, takeover: EmulatorBase)
    def expire_token(self) -> None:
        """Invalidate every quote token issued so far; authorised sessions get
        ``AUTH_STATE UNAUTHORIZED``. The REST side issues fresh ones."""
        with self._lock:
            self._valid_tokens.clear()
        for session in self.sessions():
            if isinstance(session, DXLinkSession):
                session.expire()

    def switch_to_full(self) -> None:
        """Switch every open connection to FULL data format (as tastytrade
        did after bursts of adds), announcing it with FEED_CONFIG."""
        for session in self.sessions():
            if isinstance(session, DXLinkSession):
                session.switch_to_full()

    def blast(self, n: int, k: int = 1, symbols: Iterable[str] = ("SPY",), timeout: float = 60.0) -> None:
        """Send ``n`` Quote events, ``k`` per FEED_DATA frame, as fast as
        possible to the first connection that has a Quote subscription; waits
        until they are all written. Any symbols may be blasted, known or not."""
        self.blaster.submit(BlastJob(int(n), int(k), list(symbols)), timeout)

    def pace(self, rate: float, seconds: float, k: int = 1, symbols: Iterable[str] = ("SPY",),
             burst: int = 1) -> None:
        """Send Quote events at a steady ``rate`` per second for ``seconds``,
        each stamped with its send time, to the first connection with a Quote
        subscription; returns when done. Frames leave one at a time, each at
        its own moment, or ``burst`` at a time at the same mean rate."""
        if not rate > 0 or k < 1 or burst < 1:
            raise ValueError(f"pace needs rate > 0, k >= 1 and burst >= 1 (got rate={rate}, k={k}, burst={burst})")
        self.blaster.submit(PaceJob(float(rate), int(k), float(seconds), list(symbols), int(burst)), seconds + 60)

    # -- used by the sessions and the REST side
    def record(self, text: str) -> None:
        """Keep a client frame (parsed) for :meth:`messages`."""
        try:
            self.received.append(json.loads(text))
        except (ValueError, RecursionError):  # a hostile client's frame is kept as text
            self.received.append({"type": "<invalid>", "raw": text})

    def note_subscription(self, etype: str, symbol: str) -> None:
        """Remember that a client subscribed (``etype``, ``symbol``)."""
        with self._lock:
            self._subscriptions.add((etype, symbol))

    def accepts_token(self, token: Any) -> bool:
        """Whether ``token`` is a quote token AUTH accepts now."""
        with self._lock:
            return isinstance(token, str) and token in self._valid_tokens

    def issue_quote_token(self) -> str:
        """A fresh quote token AUTH will accept."""
        token = self.issue("quote-" + _secrets.token_hex(8))
        with self._lock:
            self._valid_tokens.add(token)
        return token
