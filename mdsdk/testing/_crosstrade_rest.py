"""The CrossTrade API functions, shared by the WebSocket ``rpc`` action and
the REST side (crosstrade.md sections 2 and 6): quotes, accounts, positions,
orders, order placement and historical bars, behind the Bearer check, the
shared rate budget and the add-on switch."""

from __future__ import annotations

import datetime as _dt
import re
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Tuple
from urllib.parse import unquote

from ._crosstrade_data import HALT_END, HALT_START, ApiFailure, Contract, bar_time, resolve
from ._http import JsonRequest, JsonServer, Route

if TYPE_CHECKING:
    from .crosstrade_emulator import CrossTradeEmulator

__all__ = ["CrossTradeApi", "CrossTradeRest", "ADDON_DOWN", "failure_body"]

Reply = Tuple[int, Any]
ADDON_DOWN = "NinjaTrader add-on is not connected"
PERIOD_TYPES = ("minute", "day", "week", "month", "year")
_ACCOUNT_PATH = re.compile(r"^/v1/api/accounts/([^/]+)(/quote|/positions|/orders|/orders/place)?$")
_MONDAY = 4 * 86400  # 1970-01-01 was a Thursday: weeks start on Mondays, 4 days later


def failure_body(code: str, detail: str) -> Dict[str, Any]:
    """The error envelope of the API: ``{"success": false, "error": <code>, "detail": <text>}``."""
    return {"success": False, "error": code, "detail": detail}


def _required(args: Mapping[str, Any], key: str) -> Any:
    value = args.get(key)
    if value is None or value == "":
        raise ApiFailure(400, "invalid_request", f"Missing argument: {key}")
    return value


class CrossTradeApi:
    """The API functions by their PascalCase RPC names; each takes the ``args`` object and returns the
    success body or raises :class:`ApiFailure`."""

    def __init__(self, emu: "CrossTradeEmulator") -> None:
        self.emu = emu
        self.functions: Dict[str, Callable[[Dict[str, Any]], Dict[str, Any]]] = {
            "GetQuote": self.get_quote, "GetAccounts": self.get_accounts, "GetAccount": self.get_account,
            "GetPositions": self.get_positions, "GetOrders": self.get_orders, "PlaceOrder": self.place_order}

    def call(self, api: Any, args: Any) -> Dict[str, Any]:
        """The ``data`` of an RPC answer: the function's body or the error envelope."""
        if not self.emu.addon_connected:
            return failure_body("addon_disconnected", ADDON_DOWN)
        fn = self.functions.get(api) if isinstance(api, str) else None
        if fn is None:
            return failure_body("unknown_api", f"Unknown API: {api}")
        if not isinstance(args, dict):
            return failure_body("invalid_request", "args must be an object")
        try:
            return fn(args)
        except ApiFailure as exc:
            return failure_body(exc.code, exc.detail)

    def contract(self, name: Any) -> Contract:
        """The contract ``name`` means now, or ``unknown_instrument``."""
        c = resolve(name, self.emu.clock())
        if c is None:
            raise ApiFailure(404, "unknown_instrument", f"Instrument {name} not found")
        return c

    def get_quote(self, args: Dict[str, Any]) -> Dict[str, Any]:
        """``GetQuote`` (``GET /v1/api/accounts/{account}/quote``): the legacy quote shape."""
        self.emu.book.account(_required(args, "account"))
        c = self.contract(_required(args, "instrument"))
        return self.emu.quotes.legacy_quote(c, self.emu.clock(), self.emu.timezone)

    def _account_body(self, name: str) -> Dict[str, Any]:
        realized, unrealized = self.emu.book.pnl(name)
        cash = 100000.0 + realized
        return {"id": self.emu.accounts.index(name) + 1, "name": name, "displayName": name, "primaryUser": None,
                "provider": "Simulator", "denomination": "UsDollar", "status": "Enabled", "dailyLossLimit": 0.0,
                "minCashValue": 0.0, "maxOrderSize": 0, "maxPositionSize": 0,
                "connection": "NinjaTrader.Cbi.Connection", "connectionStatus": "Connected",
                "lastTransactionSum": 0.0,
                "item": {"buyingPower": 0.0, "cashValue": cash, "commission": 0.0, "fee": 0.0,
                         "grossRealizedProfitLoss": realized, "netLiquidation": cash + unrealized,
                         "realizedProfitLoss": realized, "unrealizedProfitLoss": unrealized}}

    def get_accounts(self, args: Dict[str, Any]) -> Dict[str, Any]:
        """``GetAccounts`` (``GET /v1/api/accounts``)."""
        found = [self._account_body(a) for a in self.emu.accounts]
        return {"accounts": found, "count": len(found), "success": True}

    def get_account(self, args: Dict[str, Any]) -> Dict[str, Any]:
        """``GetAccount`` (``GET /v1/api/accounts/{account}``)."""
        return dict(self._account_body(self.emu.book.account(_required(args, "account"))), success=True)

    def get_positions(self, args: Dict[str, Any]) -> Dict[str, Any]:
        """``GetPositions`` (``GET /v1/api/accounts/{account}/positions``): open positions only."""
        found = self.emu.book.positions(self.emu.book.account(_required(args, "account")))
        return {"positions": found, "count": len(found), "success": True}

    def get_orders(self, args: Dict[str, Any]) -> Dict[str, Any]:
        """``GetOrders`` (``GET /v1/api/accounts/{account}/orders``): every order, oldest first."""
        found = self.emu.book.orders(self.emu.book.account(_required(args, "account")))
        return {"orders": found, "count": len(found), "success": True}

    def place_order(self, args: Dict[str, Any]) -> Dict[str, Any]:
        """``PlaceOrder`` (``POST /v1/api/accounts/{account}/orders/place``): ``{"orderId", "success"}``."""
        account = self.emu.book.account(_required(args, "account"))
        c = self.contract(_required(args, "instrument"))
        return {"orderId": self.emu.book.place(account, c, args), "success": True}


class _Routes(Dict[Tuple[str, str], Route]):
    """Fixed routes plus the account routes, whose account sits in the path."""

    def __init__(self, rest: "CrossTradeRest") -> None:
        super().__init__({("GET", "/v1/api/market/quote"): rest.market_quote,
                          ("POST", "/v1/api/market/bars"): rest.bars, ("GET", "/v1/api/market/bars"): rest.bars,
                          ("GET", "/v1/api/accounts"): rest.function("GetAccounts")})
        self._rest = rest

    def get(self, key: Tuple[str, str], default: Optional[Route] = None) -> Optional[Route]:  # type: ignore[override]
        found = super().get(key)
        m = _ACCOUNT_PATH.match(key[1])
        if found is not None or m is None:
            return found if found is not None else default
        account, tail = unquote(m.group(1)), m.group(2) or ""
        method = key[0]
        if tail == "/quote" and method == "GET":
            return self._rest.legacy_quote(account)
        api = {("GET", ""): "GetAccount", ("GET", "/positions"): "GetPositions", ("GET", "/orders"): "GetOrders",
               ("POST", "/orders/place"): "PlaceOrder"}.get((method, tail))
        return self._rest.function(api, account) if api else default


class CrossTradeRest:
    """The REST API on 127.0.0.1:``port``: every route records the call, then checks the Bearer token (401),
    the shared rate budget (429) and the add-on (408)."""

    def __init__(self, emu: "CrossTradeEmulator", api: CrossTradeApi, port: int = 0) -> None:
        self.emu = emu
        self.api = api
        self._server = JsonServer(_Routes(self), port=port)

    @property
    def url(self) -> str:
        """The REST base URL (``/v1/api/...`` paths go under it)."""
        return self._server.url

    def close(self) -> None:
        """Stop serving."""
        self._server.close()

    # -- the gate every route passes
    def _guarded(self, req: JsonRequest, handler: Callable[[], Reply]) -> Reply:
        emu = self.emu
        emu.rest_calls.append((req.method, req.path))
        auth = req.headers.get("authorization", "")
        if emu.refuse_auth or not auth.startswith("Bearer ") or not emu.accepts_token(auth[7:].strip()):
            return 401, {"error": "Unauthorized"}
        if not emu.spend_rpc_token():
            emu.count_violation()
            return 429, {"error": "Rate limit exceeded"}
        if not emu.addon_connected:
            return 408, failure_body("addon_disconnected", ADDON_DOWN)
        try:
            return handler()
        except ApiFailure as exc:
            if exc.status == 400:
                return 400, {"error": "Invalid request"}
            return exc.status, failure_body(exc.code, exc.detail)

    def function(self, api: str, account: Optional[str] = None) -> Route:
        """A route calling API function ``api`` with the query (GET) or JSON body (POST) as its args."""
        def route(req: JsonRequest) -> Reply:
            def run() -> Reply:
                args: Dict[str, Any] = dict(req.query)
                if req.method == "POST":
                    if req.body is not None and not isinstance(req.body, dict):
                        raise ApiFailure(400, "invalid_request", "body must be a JSON object")
                    args.update(req.body or {})
                if account is not None:
                    args["account"] = account
                return 200, self.api.functions[api](args)
            return self._guarded(req, run)
        return route

    # -- quotes
    def _instruments(self, req: JsonRequest) -> List[str]:
        names = [n.strip() for n in req.query.get("instrument", "").split(",") if n.strip()]
        if not names:
            raise ApiFailure(400, "invalid_request", "Missing argument: instrument")
        return names

    def _quotes(self, req: JsonRequest, make: Callable[[Contract], Dict[str, Any]]) -> Reply:
        """One object for one name; an array for a CSV list, where an unknown name gets an error element."""
        names = self._instruments(req)
        if len(names) == 1:
            return 200, make(self.api.contract(names[0]))
        out: List[Dict[str, Any]] = []
        for name in names:
            try:
                out.append(make(self.api.contract(name)))
            except ApiFailure as exc:
                out.append(dict(failure_body(exc.code, exc.detail), instrument=name))
        return 200, out

    def market_quote(self, req: JsonRequest) -> Reply:
        """``GET /v1/api/market/quote?instrument=...``."""
        emu = self.emu
        return self._guarded(req, lambda: self._quotes(
            req, lambda c: emu.quotes.market_quote(c, emu.clock(), emu.timezone)))

    def legacy_quote(self, account: str) -> Route:
        """``GET /v1/api/accounts/{account}/quote?instrument=...`` (deprecated; adds ``success: true``)."""
        emu = self.emu

        def route(req: JsonRequest) -> Reply:
            def run() -> Reply:
                emu.book.account(account)
                return self._quotes(req, lambda c: emu.quotes.legacy_quote(c, emu.clock(), emu.timezone))
            return self._guarded(req, run)
        return route

    # -- bars
    def bars(self, req: JsonRequest) -> Reply:
        """``POST /v1/api/market/bars`` with a JSON body (also a GET, body or query, as one doc version has it)."""
        return self._guarded(req, lambda: self._bars(req))

    def _bars(self, req: JsonRequest) -> Reply:
        if req.body is not None and not isinstance(req.body, dict):
            raise ApiFailure(400, "invalid_request", "body must be a JSON object")
        params: Dict[str, Any] = dict(req.query, **(req.body or {}))
        name = _required(params, "instrument")
        kind = params.get("periodType", "minute")
        if kind not in PERIOD_TYPES:
            raise ApiFailure(400, "invalid_request", f"Invalid periodType: {kind}")
        period = _number(params, "period", 1)
        limit = _number(params, "limit", 5000)
        now = self.emu.clock()
        end = min(_when(params, "to", now), now)
        start = _when(params, "from", end - _number(params, "daysBack", 1, minimum=0, whole=False) * 86400.0)
        c = self.api.contract(name)
        spans = bar_spans(kind, int(period), start, end, int(limit))
        bars = [self._bar(c, s, e, end) for s, e in spans]
        return 200, {"instrument": c.name, "periodType": kind, "period": int(period), "count": len(bars),
                     "bars": bars}

    def _bar(self, c: Contract, start: int, end: int, until: float) -> Dict[str, Any]:
        q = self.emu.quotes
        tick = c.info.tick_size
        k = q.market.candle(c.name, start, end - start, until)
        return {"time": bar_time(start), "epoch": start * 1000, "open": q.grid(k.open, tick),
                "high": q.grid(k.high, tick), "low": q.grid(k.low, tick), "close": q.grid(k.close, tick),
                "volume": int(k.volume)}


def _number(params: Mapping[str, Any], key: str, default: float, minimum: float = 1, whole: bool = True) -> float:
    """A numeric parameter (a JSON number or, from a query, its text) of at least ``minimum``; ``whole``: an
    integer."""
    raw = params.get(key, default)
    try:
        value = float(raw) if isinstance(raw, (int, float, str)) and not isinstance(raw, bool) else None
    except ValueError:
        value = None
    if value is None or not value >= minimum or value == float("inf") or (whole and value != int(value)):
        raise ApiFailure(400, "invalid_request", f"Invalid {key}: {raw}")
    return value


def _when(params: Mapping[str, Any], key: str, default: float) -> float:
    """A UTC ISO time such as ``2026-03-17T00:00:00Z`` as epoch seconds (naive means UTC)."""
    raw = params.get(key)
    if raw is None:
        return default
    try:
        parsed = _dt.datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        raise ApiFailure(400, "invalid_request", f"Invalid {key}: {raw}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_dt.timezone.utc)
    return parsed.timestamp()


def _calendar_start(t: float, kind: str, period: int) -> int:
    """The start of the month (or year) bar holding ``t``, on a grid of ``period`` months (years)."""
    d = _dt.datetime.fromtimestamp(t, tz=_dt.timezone.utc)
    if kind == "year":
        y = d.year - (d.year % period)
        return int(_dt.datetime(y, 1, 1, tzinfo=_dt.timezone.utc).timestamp())
    index = d.year * 12 + d.month - 1
    index -= index % period
    return int(_dt.datetime(index // 12, index % 12 + 1, 1, tzinfo=_dt.timezone.utc).timestamp())


def _previous(start: int, kind: str, period: int) -> int:
    """The start of the bar before the one starting at ``start``."""
    if kind in ("month", "year"):
        return _calendar_start(start - 1, kind, period)
    step = {"minute": 60, "day": 86400, "week": 7 * 86400}[kind] * period
    return start - step


def _bar_start(t: float, kind: str, period: int) -> int:
    if kind in ("month", "year"):
        return _calendar_start(t, kind, period)
    step = {"minute": 60, "day": 86400, "week": 7 * 86400}[kind] * period
    offset = _MONDAY if kind == "week" else 0
    return int((t - offset) // step) * step + offset


def bar_spans(kind: str, period: int, start: float, end: float, limit: int) -> List[Tuple[int, int]]:
    """(start, end) of each bar that starts in [``start``, ``end``), ascending, at most the newest ``limit``;
    intraday bars lying wholly inside the daily maintenance halt do not exist."""
    spans: List[Tuple[int, int]] = []
    if end <= start:
        return spans
    s = _bar_start(end, kind, period)
    if s >= end:
        s = _previous(s, kind, period)
    following = _next_start(s, kind, period)
    while s >= start and len(spans) < limit:
        halted = kind == "minute" and s % 86400 >= HALT_START and s % 86400 + (following - s) <= HALT_END
        if not halted:
            spans.append((s, following))
        following, s = s, _previous(s, kind, period)
    spans.reverse()
    return spans


def _next_start(start: int, kind: str, period: int) -> int:
    if kind in ("month", "year"):
        d = _dt.datetime.fromtimestamp(start, tz=_dt.timezone.utc)
        months = period * (12 if kind == "year" else 1)
        index = d.year * 12 + d.month - 1 + months
        return int(_dt.datetime(index // 12, index % 12 + 1, 1, tzinfo=_dt.timezone.utc).timestamp())
    return start + {"minute": 60, "day": 86400, "week": 7 * 86400}[kind] * period
