"""A faithful CrossTrade server for tests: the WebSocket API
(``ws://127.0.0.1:<port>/ws/stream``) and the REST API
(``http://127.0.0.1:<rest_port>/v1/api/...``) of the bridge to NinjaTrader 8,
written from ../shared/protocols/crosstrade.md (section 7, emulator notes;
sections 1-6 for the wire) and its fixtures, independent of any mdsdk client.
It serves the same synthetic market as the other emulators, keyed by the
canonical contract name.

Serves
  WebSocket, Bearer token checked at the HTTP upgrade, no login message:
  ``subscribe`` / ``unsubscribe`` (``instruments``: dated ``"ES 09-26"``, root
  ``"ES"`` = front month, TradingView ``"ES1!"`` (``ES2!`` the next one), CME
  code ``"ESU26"``/``"ESU6"``, any case; quotes echo the canonical dated
  form), ``marketData`` every ``tick`` seconds with all subscribed
  instruments in one frame (``quotes_per_frame`` splits them), ``streamPnl``
  (``pnlUpdate`` now and every ``interval`` ms, at least 100, default 1000),
  ``rpc`` (``GetQuote``, ``GetAccounts``, ``GetAccount``, ``GetPositions``,
  ``GetOrders``, ``PlaceOrder``) and ``ping``.
  REST: ``GET /v1/api/market/quote`` and ``GET /v1/api/accounts/{account}/quote``
  (``instrument``, a CSV list answers an array), ``POST /v1/api/market/bars``
  (JSON body; a GET with body or query works too), and the RPC functions'
  routes ``GET /v1/api/accounts``, ``GET /v1/api/accounts/{account}``,
  ``.../positions``, ``.../orders``, ``POST .../orders/place``.
  Instruments: the futures roots of :mod:`mdsdk.testing.universe` (detailed
  instrument master for ES, MES, NQ, MNQ, YM, MYM, RTY, M2K, CL, MCL, NG, GC,
  MGC, SI, ZB, ZN, 6E; generic for the rest), contracts in each root's listing
  cycle only (ES: H M U Z). Anything else is unknown.

Fault surface
  The common one: :meth:`drop` (1006), :meth:`stall`, :meth:`inject`,
  :meth:`close_with`, :meth:`restart` (the REST side keeps running),
  :meth:`takeover`, ``exclusive``, ``refuse_auth``, :meth:`expire_token`.
  CrossTrade's own: ``addon_connected`` (False: every rpc answers
  ``addon_disconnected``, REST answers 408, pushes pause, the socket stays),
  ``drop_rpc_answers`` (api names whose answers are never sent),
  ``rpc_delay`` (seconds every add-on answer is held), ``partial`` (False:
  every quote is full), ``quotes_per_frame``, and the budget knobs
  ``rpc_rate`` / ``rpc_burst`` / ``sub_per_minute`` / ``violations_to_close``.
  Counters: ``violations``, ``rpc_calls``, ``closed_for_abuse``, ``refused``
  (upgrades answered 401), ``connections``; ``received`` (client frames) and
  ``rest_calls`` ((method, path)).

Assumptions where the reference is thin (all [inf] unless said)
  * Auth: a missing or wrong Bearer token, one retired by :meth:`expire_token`,
    or ``refuse_auth`` get HTTP 401 with ``{"error": "Unauthorized"}`` at the
    upgrade (REST: the same 401 body). A path other than ``/ws/stream`` gets
    404. :meth:`expire_token` retires the current token and issues a new one
    in ``.token``; sockets already open stay open (the token is only checked
    at the upgrade).
  * One connection per user: with ``exclusive`` a new upgrade closes the older
    socket with 1000 ``"replaced by new connection"`` (the code and reason
    section 7 suggests); :meth:`takeover` does that to every socket.
  * Acks: ``subscribe`` / ``unsubscribe`` answer ``{"type": "status",
    "state": "subscribed"|"unsubscribed", "instruments": [canonical names of
    the known ones]}``; an unknown instrument is left out of the ack and never
    streams. ``streamPnl`` has no ack. ``ping`` answers ``{"type": "pong"}``.
  * Errors: a frame that is not JSON, not an object, has an unknown
    ``action``, or malformed fields (``instruments`` not a non-empty list of
    strings, ``enabled`` not a boolean, an ``rpc`` without a string or integer
    ``id``) answers ``{"type": "error", "error": "Invalid request"}``. An rpc
    answers ``{"id", "data": {"success": false, "error": <code>, "detail":
    ...}}`` with codes ``unknown_api`` ("Unknown API: <name>"),
    ``invalid_account`` ("Account <name> not found", [doc]),
    ``unknown_instrument`` ("Instrument <name> not found"),
    ``invalid_request`` (missing or bad args), ``addon_disconnected``
    ("NinjaTrader add-on is not connected"), ``rate_limited`` ("Rate limit
    exceeded").
  * Rate limits (section 4): one bucket per user for REST calls and rpc
    (``rpc_burst`` tokens refilled at ``rpc_rate`` a second); ``subscribe`` and
    ``unsubscribe`` each count once against ``sub_per_minute`` in a sliding
    60 s window; ``ping``, ``streamPnl`` and pushes cost nothing. A refused
    request answers ``{"type": "error", "error": "Rate limit exceeded"}`` (an
    rpc: ``rate_limited`` in its own shape; REST: 429 ``{"error": "Rate limit
    exceeded"}`` [doc]) and counts in ``violations``; the
    ``violations_to_close``-th (10) refusal in a row on one socket, with no
    accepted request in between, closes it with 1008 ``"rate limit
    violations"``.
  * Quotes: the first quote of an instrument after it is subscribed carries
    ``instrument, bid, ask, last, volume`` [obs] and ``open, high, low,
    close, bidSize, askSize, lastSize, epoch`` (ms) [inf: names from the REST
    quote plus NT8's]; later ones (with ``partial``) only ``instrument`` and
    the fields that changed, ``epoch`` always among them. Bid and ask are one
    tick apart; ``close`` is the prior UTC day's; ``volume`` the UTC day's.
  * P&L: ``accounts`` holds every account with ``realizedPnl``,
    ``unrealizedPnl``, ``totalPnl`` (placeholder names per section 7).
  * RPC/REST bodies: ``GetQuote`` is the legacy account quote (fixture);
    ``GetAccount``, ``GetPositions`` (open positions) and ``PlaceOrder``
    (``{"orderId", "success": true}``) follow the docs' examples; ``GetAccounts``
    and ``GetOrders`` are ``{"accounts"|"orders": [...], "count", "success":
    true}`` like the documented positions list. Market orders and marketable
    limits fill at once at the touch; other orders stay working forever.
    REST 400 bodies are ``{"error": "Invalid request"}`` [doc]; unknown
    instrument and account are 404 with the error envelope; in a CSV quote
    array an unknown instrument is an element with the envelope and its name.
    ``quoteTime`` is New York time (``timezone``).
  * Bars: stamped at their start, only bars starting in [from, to) (``to``
    capped at now; the forming bar is cut at now), the newest ``limit``;
    minute bars on the epoch grid, days at 00:00 UTC, weeks from Monday,
    months and years on the calendar. Futures trade around the clock every day
    except a 21:00-22:00 UTC halt with no minute bars, so 2 days of 60-minute
    bars are 46 whatever the date. ``periodType`` also takes ``year``.
  * Front month: quarterly financial contracts roll on the second Thursday of
    the expiry month (NT8's 8 days before the third Friday); other cycles on
    the 15th of the month before.
"""

from __future__ import annotations

import collections
import logging
import secrets as _secrets
import threading
from http import HTTPStatus
from typing import Any, Callable, Deque, Dict, Iterable, Optional, Set, Tuple
from zoneinfo import ZoneInfo

from websockets.datastructures import Headers
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

from ._base import EmulatorBase, MarketClock
from ._crosstrade_data import AccountBook, QuoteMaker, SlidingWindow, TokenBucket, front_month
from ._crosstrade_rest import CrossTradeApi, CrossTradeRest
from ._crosstrade_session import CrossTradeSession, dumps
from .market import SyntheticMarket

__all__ = ["CrossTradeEmulator"]

_wire_log = logging.getLogger("mdsdk.testing.crosstrade.wire")
_wire_log.setLevel(logging.INFO)  # websockets logs frames (tokens included) at DEBUG


class CrossTradeEmulator(EmulatorBase):
    """CrossTrade's WebSocket and REST APIs on 127.0.0.1, as a context manager.

    ``.url`` is the WebSocket (path ``/ws/stream``), ``.api_url`` the REST base, ``.token`` the secret key
    both accept, ``.account`` the NT8 account (``"Sim101"``); ``.client_options`` points a client here:
    ``mdsdk.connect("crosstrade", **emu.client_options)``. ``tick`` is the quote interval in seconds and
    ``clock`` (epoch seconds, default ``time.time``) stamps the data and picks the front month."""

    PATH = "/ws/stream"
    unknown_symbol = "NOPE 12-30"  # a root NT8 does not know: never streams, and the server says nothing
    account = "Sim101"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, rest_port: int = 0, tick: float = 0.25,
                 exclusive: bool = True, clock: Optional[Callable[[], float]] = None, speed: float = 1.0,
                 rpc_rate: float = 3.0,
                 rpc_burst: int = 20, sub_per_minute: int = 20, violations_to_close: int = 10, seed: int = 7,
                 accounts: Iterable[str] = ("Sim101",)) -> None:
        self.clock: Callable[[], float] = clock or MarketClock(speed)
        self.tick = tick
        self.market = SyntheticMarket(seed)
        self.quotes = QuoteMaker(self.market)
        self.accounts = list(accounts)
        self.book = AccountBook(self.accounts, self.quotes, self.clock)
        self.timezone = ZoneInfo("America/New_York")
        self._switches()
        self.rpc_bucket = TokenBucket(rpc_rate, rpc_burst)
        self.sub_window = SlidingWindow(sub_per_minute)
        self.violations_to_close = violations_to_close
        self.received: Deque[str] = collections.deque(maxlen=20000)
        self.rest_calls: Deque[Tuple[str, str]] = collections.deque(maxlen=1000)
        self._lock = threading.Lock()
        self._valid: Set[str] = set()
        self.token = ""
        super().__init__(CrossTradeSession, host=host, port=port, logger=_wire_log, exclusive=exclusive)
        self.token = self._new_token()
        self.api = CrossTradeApi(self)
        try:
            self._rest = CrossTradeRest(self, self.api, rest_port)
        except OSError:
            self.close()  # the socket side is up already: do not leave its thread behind
            raise

    def _switches(self) -> None:
        """The fault switches and counters a test may read or change after construction."""
        self.addon_connected = True
        self.drop_rpc_answers: Set[str] = set()
        self.rpc_delay = 0.0
        self.partial = True
        self.quotes_per_frame = 0  # 0: every subscribed instrument in one marketData frame
        self.violations = 0
        self.rpc_calls = 0
        self.closed_for_abuse = 0
        self.refused = 0

    # -- surface
    @property
    def api_url(self) -> str:
        """The REST base URL; the API's paths (``/v1/api/...``) go under it."""
        return self._rest.url

    @property
    def example_symbol(self) -> str:
        """The front-month ES contract at the emulator clock's now, e.g. ``"ES 09-26"``."""
        c = front_month("ES", self.clock())
        assert c is not None
        return c.name

    @property
    def credentials(self) -> Dict[str, str]:
        """What a client needs to authenticate: the secret key."""
        return {"token": self.token}

    @property
    def client_options(self) -> Dict[str, str]:
        """Everything that points a client here: both URLs and the token."""
        return {"url": self.url, "api_url": self.api_url, "token": self.token}

    def _closed(self) -> None:
        rest = getattr(self, "_rest", None)
        if rest is not None:
            rest.close()

    def record(self, text: str) -> None:
        """Keep a client frame (see ``received``)."""
        self.received.append(text)

    # -- tokens
    def _new_token(self) -> str:
        token = self.issue("xt_" + _secrets.token_urlsafe(24))
        with self._lock:
            self._valid.add(token)
        return token

    def accepts_token(self, token: Optional[str]) -> bool:
        """Whether ``token`` is the live secret key."""
        with self._lock:
            return token in self._valid

    def expire_token(self) -> None:
        """Retire the current token (upgrades and REST calls with it get 401) and issue a new one in
        ``.token``; open sockets stay open."""
        with self._lock:
            self._valid.clear()
        self.token = self._new_token()

    @staticmethod
    def bearer(headers: Optional[Headers]) -> Optional[str]:
        """The token of a single ``Authorization: Bearer <token>`` header, or None."""
        values = headers.get_all("Authorization") if headers is not None else []
        if len(values) != 1 or not values[0].startswith("Bearer "):
            return None
        return values[0][7:].strip()

    # -- the HTTP upgrade
    def _serve(self, port: int) -> Server:
        return serve(self._handle, self._host, port, compression=None, ping_interval=None,
                     max_size=self._max_size, close_timeout=self.CLOSE_TIMEOUT, logger=self._logger,
                     ssl=self.ssl_context, process_request=self._upgrade)

    def _upgrade(self, connection: ServerConnection, request: Request) -> Optional[Response]:
        """Answer the handshake at the HTTP layer when the path or the token is wrong."""
        if request.path.split("?", 1)[0] != self.PATH:
            return self._reject(connection, HTTPStatus.NOT_FOUND, {"error": "Not Found"})
        if self.refuse_auth or not self.accepts_token(self.bearer(request.headers)):
            with self._lock:
                self.refused += 1
            return self._reject(connection, HTTPStatus.UNAUTHORIZED, {"error": "Unauthorized"})
        return None

    @staticmethod
    def _reject(connection: ServerConnection, status: HTTPStatus, body: Dict[str, Any]) -> Response:
        response = connection.respond(status, dumps(body))
        del response.headers["Content-Type"]
        response.headers["Content-Type"] = "application/json"
        return response

    # -- the shared budget (used by the sessions and the REST side)
    def spend_rpc_token(self) -> bool:
        """Take one token of the REST/rpc bucket; False when it is empty."""
        return self.rpc_bucket.take()

    def spend_subscription(self) -> bool:
        """Count one subscription change; False when the minute's budget is spent."""
        return self.sub_window.take()

    def count_violation(self) -> None:
        """Note one refused request."""
        with self._lock:
            self.violations += 1

    def count_rpc(self) -> None:
        """Note one rpc the budget let through."""
        with self._lock:
            self.rpc_calls += 1

    def count_abuse_close(self) -> None:
        """Note one socket closed for rate-limit violations."""
        with self._lock:
            self.closed_for_abuse += 1
