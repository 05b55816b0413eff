"""A faithful ThetaData Theta Terminal for tests: the local WebSocket stream
(``ws://127.0.0.1:<port>/v1/events``) and the REST v2 history API
(``http://127.0.0.1:<rest_port>/v2/...``) a client talks to, written from
../shared/protocols/thetadata.md (section 6, emulator notes; sections 2-3 and
5 for the wire) and its fixtures, independent of the client in
``mdsdk.providers.thetadata``; it serves the same synthetic market as the
other emulators.

Serves
  WebSocket: a ``STATUS`` frame at connect and every ``status_interval``
  seconds; ``STREAM`` (per contract: STOCK / INDEX root, OPTION root +
  expiration + strike in 1/10 cent + right) and ``STREAM_BULK`` requests with
  ``add`` true/false and ``id``, in strict JSON or the Python-repr form the
  docs' sample code sends (parsed with ``ast.literal_eval``, bounded size),
  each answered with ``REQ_RESPONSE``; ``{"msg_type":"STOP"}`` (no ack).
  Data every ``tick`` seconds: QUOTE frames; per trade an OHLC frame (the
  session so far) then the TRADE frame; index price reports only when the
  price changed; full streams per trade QUOTE, OHLC, TRADE (+ 2 QUOTEs for
  options). Instruments: equities and ETFs of :mod:`mdsdk.testing.universe`
  (class shares with a dot, ``BRK.B``), indices (``SPX``, no ``$``), options
  on any of them plus SPXW/NDXP/RUTW/VIXW with a real calendar expiration and
  a strike of $0-$100,000. Anything else is acknowledged SUBSCRIBED and never
  gets data, as on the Terminal.
  REST: ``/v2/hist/stock/{ohlc,eod,trade,quote}``,
  ``/v2/hist/index/{ohlc,price}``, ``/v2/hist/option/{eod,quote}``,
  ``/v2/page/<id>``, ``/v2/system/{fpss,mdds}/status``.

Fault surface
  The common one (:meth:`drop`, :meth:`stall`, :meth:`inject`,
  :meth:`close_with`, :meth:`restart`, :meth:`takeover`, ``exclusive``,
  ``refuse_auth``; :meth:`expire_token` is a no-op) plus ``invalid_perms``,
  ``max_streams``, ``error_next``, :meth:`upstream_down` /
  :meth:`upstream_up` / :meth:`flap`, ``sequence_start``,
  ``index_price_only``, and on REST ``fail_next``, ``mdds_down``,
  ``max_range_days``, ``max_bar_days``, ``page_size``, ``page_expire``,
  ``check_host``.

Assumptions where the reference is thin
  * One client (``exclusive=True``): a new connection closes the older socket
    with close code 1008 and the reason "You cannot have multiple connections
    to this endpoint" (the docs only say multiple connections are not
    supported). :meth:`takeover` does the same to every open socket.
  * ``refuse_auth``: the Terminal's own login to ThetaData was refused. STATUS
    (and the REST status endpoints) say ``UNVERIFIED``, every stream request
    gets ``INVALID_PERMS``, history requests get 471 PERMISSION.
  * There is no token between client and Terminal (the Terminal holds the
    user's credentials), so :meth:`expire_token` has nothing to expire.
  * REQ_RESPONSE ``header.status`` is the Terminal's FPSS status at the time;
    an ``add: false`` request is answered ``SUBSCRIBED`` too (the only success
    value), also for a stream that was not there. ``max_streams`` counts
    per-contract streams (one per contract and req_type), not full streams.
  * Upstream outage (:meth:`upstream_down`, :meth:`flap`): STATUS says
    ``DISCONNECTED`` at once and then every ``status_interval``; data pauses
    and the socket stays. When it is back, the streams resume without the
    client resending anything, except a stream whose request reused an id
    already used earlier on that socket: it is dropped (the documented
    consequence of not incrementing ids). Only FPSS is affected; ``mdds_down``
    is the history side's outage (REST 474, mdds status DISCONNECTED).
  * Streams run around the clock (the synthetic market trades every hour of
    every day); the OHLC session starts at 00:00 ET. An index TRADE frame is
    the trade object with only ``price`` meaningful (sequence, size,
    condition and exchange 0); ``index_price_only`` sends just ``ms_of_day``,
    ``price`` and ``date`` instead. Options are priced by Black-Scholes on
    the synthetic underlying; a stream on an already expired contract keeps
    its intrinsic value (so tests need not track today's date), while REST
    has no option rows after the expiration date.
  * History: every calendar day is a trading day; nothing after the emulator
    clock's now (the forming bar is cut at now); bars stamped at their open,
    on a grid from 09:30 ET (``rth=true``, the default) or 00:00 ET
    (``rth=false``); ``ivl`` 0 or absent means ticks, one a second, whole day.
    EOD rows exist once 17:15 ET of that date has passed. 570 when a request
    spans more than ``max_range_days`` (31, as "multi-day requests are limited
    to 1 month") days with ``ivl`` under a minute or ticks, or more than
    ``max_bar_days`` days of bars. Pages hold ``page_size`` time slots (index
    ticks left out for an unchanged price make a page shorter), page ids are
    global and not consecutive, a page can be fetched until ``page_expire``
    seconds after it was made, then 477. Error bodies are plain text
    (``:No data for the specified timeframe & contract.`` for 472, else
    ``:<NAME> ...``). ``fail_next`` applies to history and page requests, not
    to the status endpoints. 476 when requests switch between ``127.0.0.1``
    and ``localhost`` in the Host header (``check_host``).
  * :meth:`restart` restarts the WebSocket only; REST keeps serving.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from typing import Any, Callable, Deque, Dict, List, Optional, Set, Tuple

from ._base import EmulatorBase, MarketClock
from ._thetadata_data import INDEX_OPTION_ROOTS, TerminalData
from ._thetadata_rest import ThetaDataRest
from ._thetadata_session import TAKEOVER_REASON, ThetaDataSession, parse_request
from .market import SyntheticMarket

__all__ = ["ThetaDataEmulator"]

_wire_log = logging.getLogger("mdsdk.testing.thetadata.wire")
_log = logging.getLogger("mdsdk.testing.thetadata")


class ThetaDataEmulator(EmulatorBase):
    """The Theta Terminal's WebSocket stream and REST v2 API on 127.0.0.1, as a context manager.

    ``.url`` is the stream (path ``/v1/events``), ``.api_url`` the REST root; ``.credentials`` is empty (the
    Terminal holds the user's login). Timing knobs in seconds: ``tick`` (data interval), ``status_interval``
    (STATUS heartbeat), ``page_expire``; ``page_size`` is rows per REST page; ``clock`` (epoch seconds, default
    ``time.time``) stamps data and bounds history."""

    PATH = "/v1/events"
    example_symbol = "AAPL"
    unknown_symbol = "NOPE"
    takeover_reason = TAKEOVER_REASON

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, rest_port: int = 0, tick: float = 0.25,
                 status_interval: float = 1.0, page_size: int = 5000, page_expire: float = 30.0,
                 exclusive: bool = True, clock: Optional[Callable[[], float]] = None, seed: int = 7,
                 speed: float = 1.0) -> None:
        self.market = SyntheticMarket(seed)
        self.data = TerminalData(self.market)
        self.clock: Callable[[], float] = clock or MarketClock(speed)
        self.tick = tick
        self.status_interval = status_interval
        self.page_size = page_size
        self.page_expire = page_expire
        self._switches()
        self.received: Deque[str] = collections.deque(maxlen=20000)
        self.rejected: Deque[Tuple[str, str]] = collections.deque(maxlen=1000)
        self.rest_calls: Deque[Tuple[str, Dict[str, str]]] = collections.deque(maxlen=1000)
        self._lock = threading.Lock()
        self._down_until = 0.0
        self.outages = 0
        self._rest = ThetaDataRest(self, host, rest_port)
        try:
            super().__init__(ThetaDataSession, host=host, port=port, logger=_wire_log, exclusive=exclusive)
        except BaseException:
            self._rest.close()
            raise

    def _switches(self) -> None:
        """The fault switches a test may change after construction."""
        self.invalid_perms: Set[str] = set()  # sec_types (and "BULK") answered INVALID_PERMS
        self.max_streams: Optional[int] = None
        self.error_next = 0
        self.sequence_start = 2 ** 31 - 300  # near the top of int32, so a long stream wraps to negative
        self.index_price_only = False
        self.mdds_down = False
        self.fail_next: List[int] = []
        self.max_range_days = 31
        self.max_bar_days = 3660
        self.check_host = True

    # -- surface
    @property
    def api_url(self) -> str:
        """The REST root, ``http://127.0.0.1:<rest_port>`` (paths ``/v2/...`` under it)."""
        return self._rest.url

    @property
    def credentials(self) -> Dict[str, str]:
        """Nothing: the Terminal holds the user's ThetaData credentials; a client sends none."""
        return {}

    @property
    def client_options(self) -> Dict[str, str]:
        """What points an mdsdk client here: the stream URL and the REST root."""
        return {"url": self.url, "api_url": self.api_url}

    @property
    def fpss_status(self) -> str:
        """The Terminal's streaming link: ``UNVERIFIED`` (login refused), ``DISCONNECTED`` (upstream outage) or
        ``CONNECTED``; what STATUS frames and ``/v2/system/fpss/status`` say."""
        if self.refuse_auth:
            return "UNVERIFIED"
        return "DISCONNECTED" if time.monotonic() < self._down_until else "CONNECTED"

    @property
    def mdds_status(self) -> str:
        """The Terminal's history link, as ``/v2/system/mdds/status`` says it."""
        if self.refuse_auth:
            return "UNVERIFIED"
        return "DISCONNECTED" if self.mdds_down else "CONNECTED"

    @property
    def pages_waiting(self) -> int:
        """REST pages stored and not yet expired."""
        return self._rest.pages_waiting

    def _closed(self) -> None:
        self._rest.close()

    def record(self, text: str) -> None:
        """Keep a client frame (see ``received``)."""
        self.received.append(text)

    def requests(self) -> List[Dict[str, Any]]:
        """The client frames received so far that parsed as request objects."""
        return [r for r in (parse_request(t) for t in list(self.received)) if r is not None]

    def atm_strike(self, root: str, t: Optional[float] = None) -> int:
        """A strike (1/10 cent) near the synthetic underlying of option ``root`` at ``t`` (default now): real
        strikes can be far from the synthetic prices, whose levels are 20-520."""
        under = INDEX_OPTION_ROOTS.get(root, root).replace(".", "/")
        spot = self.market.price(under, self.clock() if t is None else t)
        step = 5.0 if spot >= 100 else 1.0
        return int(round(spot / step) * step * 1000)

    def reject(self, text: str, why: str) -> None:
        """Note a request the Terminal could not use (kept in ``rejected``, logged)."""
        self.rejected.append((text, why))
        _log.info("ignored or refused request %.200r: %s", text, why)

    # -- faults
    def expire_token(self) -> None:
        """Nothing to do: no token passes between a client and the Terminal (it logs in to ThetaData itself)."""

    def upstream_down(self) -> None:
        """The Terminal loses ThetaData's streaming servers until :meth:`upstream_up`: STATUS says DISCONNECTED,
        data pauses, sockets stay open."""
        with self._lock:
            self._down_until = float("inf")
            self.outages += 1

    def upstream_up(self) -> None:
        """The Terminal is back on FPSS: it resubscribes each socket's streams by itself (see the module notes
        for a reused id)."""
        with self._lock:
            self._down_until = 0.0

    def flap(self, seconds: float) -> None:
        """An upstream outage of ``seconds`` (:meth:`upstream_down` then, by itself, :meth:`upstream_up`)."""
        with self._lock:
            self._down_until = time.monotonic() + seconds
            self.outages += 1

    def take_error(self) -> bool:
        """Whether the stream request being answered is one of the next ``error_next`` (consumes one)."""
        with self._lock:
            if self.error_next > 0:
                self.error_next -= 1
                return True
            return False

    def take_failure(self) -> Optional[int]:
        """The next status code of ``fail_next`` for a history or page request, or None."""
        with self._lock:
            return self.fail_next.pop(0) if self.fail_next else None
