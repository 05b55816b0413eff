"""What the CrossTrade emulator knows and computes: instrument names in every
form the service accepts (crosstrade.md section 2), the front month, quotes
in their WebSocket and REST shapes from the synthetic market, the simulated
NT8 account (orders, positions, P&L) and the shared rate budget (section 4)."""

from __future__ import annotations

import collections
import datetime as _dt
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple
from zoneinfo import ZoneInfo

from .market import SyntheticMarket
from .universe import FUTURE_ROOTS, MONTH_CODES

__all__ = ["Contract", "RootInfo", "root_info", "resolve", "front_month", "QuoteMaker", "AccountBook",
           "TokenBucket", "SlidingWindow", "ApiFailure", "nt8_time", "bar_time", "in_halt"]

QUARTERLY = "HMUZ"
MONTHLY = MONTH_CODES
_DATED = re.compile(r"^([A-Z0-9]{1,4}) (\d{2})-(\d{2})$")
_CONTINUOUS = re.compile(r"^([A-Z0-9]{1,4})([1-9])!$")
# CME Globex's daily maintenance halt, taken as 21:00-22:00 UTC all year (the
# real one follows Chicago time); history has no bars inside it.
HALT_START, HALT_END = 21 * 3600, 22 * 3600


@dataclass(frozen=True)
class RootInfo:
    """What NT8's instrument master says about a futures root."""

    description: str
    tick_size: float
    point_value: float
    exchange: str
    trading_hours: str
    cycle: str  # the month codes its contracts are listed in


_INDEX = "CME US Index Futures ETH"
_TABLE: Dict[str, RootInfo] = {
    "ES": RootInfo("E-mini S&P 500 Futures", 0.25, 50.0, "Globex", _INDEX, QUARTERLY),
    "MES": RootInfo("Micro E-mini S&P 500 Futures", 0.25, 5.0, "Globex", _INDEX, QUARTERLY),
    "NQ": RootInfo("E-mini Nasdaq-100 Futures", 0.25, 20.0, "Globex", _INDEX, QUARTERLY),
    "MNQ": RootInfo("Micro E-mini Nasdaq-100 Futures", 0.25, 2.0, "Globex", _INDEX, QUARTERLY),
    "YM": RootInfo("E-mini Dow ($5) Futures", 1.0, 5.0, "CBOT", "CBOT US Index Futures ETH", QUARTERLY),
    "MYM": RootInfo("Micro E-mini Dow Futures", 1.0, 0.5, "CBOT", "CBOT US Index Futures ETH", QUARTERLY),
    "RTY": RootInfo("E-mini Russell 2000 Futures", 0.1, 50.0, "Globex", _INDEX, QUARTERLY),
    "M2K": RootInfo("Micro E-mini Russell 2000 Futures", 0.1, 5.0, "Globex", _INDEX, QUARTERLY),
    "CL": RootInfo("Crude Oil Futures", 0.01, 1000.0, "Nymex", "Nymex Energy ETH", MONTHLY),
    "MCL": RootInfo("Micro WTI Crude Oil Futures", 0.01, 100.0, "Nymex", "Nymex Energy ETH", MONTHLY),
    "NG": RootInfo("Natural Gas Futures", 0.001, 10000.0, "Nymex", "Nymex Energy ETH", MONTHLY),
    "GC": RootInfo("Gold Futures", 0.1, 100.0, "Comex", "Comex Metals ETH", "GJMQVZ"),
    "MGC": RootInfo("Micro Gold Futures", 0.1, 10.0, "Comex", "Comex Metals ETH", "GJMQVZ"),
    "SI": RootInfo("Silver Futures", 0.005, 5000.0, "Comex", "Comex Metals ETH", "HKNUZ"),
    "ZB": RootInfo("30-Year U.S. Treasury Bond Futures", 0.03125, 1000.0, "CBOT", "CBOT Interest Rate ETH",
                   QUARTERLY),
    "ZN": RootInfo("10-Year U.S. Treasury Note Futures", 0.015625, 1000.0, "CBOT", "CBOT Interest Rate ETH",
                   QUARTERLY),
    "6E": RootInfo("Euro FX Futures", 0.00005, 125000.0, "Globex", "CME FX Futures ETH", QUARTERLY),
}


def root_info(root: str) -> Optional[RootInfo]:
    """The instrument master entry of ``root``: a detailed one for the common
    roots, a generic quarterly one for the other CME Group roots of the
    universe, None for a root NT8 would not know."""
    found = _TABLE.get(root)
    if found is None and root in FUTURE_ROOTS:
        found = RootInfo(f"{root} Futures", 0.01, 1.0, "Globex", "CME US Futures ETH", QUARTERLY)
    return found


@dataclass(frozen=True)
class Contract:
    """One dated futures contract."""

    root: str
    year: int
    month: int

    @property
    def name(self) -> str:
        """The canonical NT8 name, ``"ES 09-26"``."""
        return f"{self.root} {self.month:02d}-{self.year % 100:02d}"

    @property
    def info(self) -> RootInfo:
        """The root's instrument master entry."""
        found = root_info(self.root)
        assert found is not None  # a Contract is only made for a known root
        return found

    @property
    def expiration(self) -> _dt.date:
        """What CrossTrade reports as ``expiration``: the first day of the contract month (as in its docs)."""
        return _dt.date(self.year, self.month, 1)


def roll_date(root: str, year: int, month: int) -> _dt.date:
    """The day NT8 moves on to the next contract: for quarterly financial contracts the Thursday 8 days
    before the third-Friday expiry (the second Thursday of the month); for the others, simplified, the
    15th of the month before the contract month."""
    info = root_info(root)
    if info is not None and info.cycle == QUARTERLY:
        first = _dt.date(year, month, 1)
        first_thursday = first + _dt.timedelta(days=(3 - first.weekday()) % 7)
        return first_thursday + _dt.timedelta(days=7)
    prev_year, prev_month = (year, month - 1) if month > 1 else (year - 1, 12)
    return _dt.date(prev_year, prev_month, 15)


def nth_contract(root: str, today: _dt.date, n: int = 1) -> Optional[Contract]:
    """The ``n``-th contract of ``root`` not yet rolled past on ``today`` (1 = the front month)."""
    info = root_info(root)
    if info is None:
        return None
    months = [MONTH_CODES.index(c) + 1 for c in info.cycle]
    year, found = today.year, 0
    while year <= today.year + 5:
        for month in months:
            if today < roll_date(root, year, month):
                found += 1
                if found == n:
                    return Contract(root, year, month)
        year += 1
    return None


def front_month(root: str, t: float) -> Optional[Contract]:
    """The front-month contract of ``root`` at epoch second ``t``."""
    return nth_contract(root, _dt.datetime.fromtimestamp(t, tz=_dt.timezone.utc).date())


def _cme_code(text: str, today: _dt.date) -> Optional[Contract]:
    """``ESH26`` / ``ESH6``: root, month code, 1- or 2-digit year (a single digit is the nearest such
    year from last year on)."""
    for i in range(1, len(text) - 1):
        root, code, digits = text[:i], text[i], text[i + 1:]
        if root_info(root) is None or code not in MONTH_CODES or not digits.isdigit() or len(digits) > 2:
            continue
        if len(digits) == 2:
            year = 2000 + int(digits)
        else:
            year = today.year // 10 * 10 + int(digits)
            if year < today.year - 1:
                year += 10
        return _listed(root, year, MONTH_CODES.index(code) + 1)
    return None


def _listed(root: str, year: int, month: int) -> Optional[Contract]:
    info = root_info(root)
    if info is None or not 1 <= month <= 12 or MONTH_CODES[month - 1] not in info.cycle:
        return None
    return Contract(root, year, month)


def resolve(text: Any, t: float) -> Optional[Contract]:
    """The contract an instrument name means at epoch second ``t`` in any accepted form: dated
    ``"ES 09-26"``, root ``"ES"`` (front month), continuous ``"ES1!"`` (``ES2!`` the next one) or CME code
    ``"ESU26"``; None for a name NT8 would not find. Input is taken case-insensitively."""
    if not isinstance(text, str):
        return None
    name = text.strip().upper()
    today = _dt.datetime.fromtimestamp(t, tz=_dt.timezone.utc).date()
    m = _DATED.match(name)
    if m:
        return _listed(m.group(1), 2000 + int(m.group(3)), int(m.group(2)))
    m = _CONTINUOUS.match(name)
    if m:
        return nth_contract(m.group(1), today, int(m.group(2)))
    if root_info(name) is not None:
        return nth_contract(name, today)
    return _cme_code(name, today)


def in_halt(t: float) -> bool:
    """Whether epoch second ``t`` is inside the daily maintenance halt."""
    return HALT_START <= t % 86400 < HALT_END


def nt8_time(t: float, tz: ZoneInfo, padded: bool = True) -> str:
    """NT8's local time string: ``"03/18/2026 01:51:54 PM"`` (market route) or, unpadded,
    ``"9/25/2025 9:51:03 AM"`` (the legacy route and its RPC)."""
    d = _dt.datetime.fromtimestamp(t, tz=tz)
    if padded:
        return d.strftime("%m/%d/%Y %I:%M:%S %p")
    hour = d.hour % 12 or 12
    return f"{d.month}/{d.day}/{d.year} {hour}:{d.minute:02d}:{d.second:02d} {'AM' if d.hour < 12 else 'PM'}"


def bar_time(t: float) -> str:
    """A bar's ``time``: UTC with seven fractional digits, ``"2026-03-18T20:00:00.0000000Z"``."""
    return _dt.datetime.fromtimestamp(t, tz=_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


class QuoteMaker:
    """Quotes of dated contracts from the synthetic market, keyed by the canonical name, on the tick grid."""

    def __init__(self, market: SyntheticMarket) -> None:
        self.market = market

    @staticmethod
    def grid(price: float, tick: float) -> float:
        """``price`` rounded to the ``tick`` grid."""
        return round(round(price / tick) * tick, 6)

    def price(self, c: Contract, t: float) -> float:
        """The mid of ``c`` at ``t`` on its tick grid."""
        return self.grid(self.market.price(c.name, t), c.info.tick_size)

    def fields(self, c: Contract, t: float) -> Dict[str, Any]:
        """Every quote field the WebSocket sends (``epoch`` in ms)."""
        tick = c.info.tick_size
        bid = self.price(c, t)
        ask = self.grid(bid + tick, tick)
        _, _, bid_size, ask_size = self.market.quote(c.name, t)
        trade_px, trade_size, volume = self.market.trade(c.name, t)
        last = bid if trade_px <= self.market.price(c.name, t) else ask
        day = int(t // 86400) * 86400
        session = self.market.candle(c.name, day, 86400, t)
        return {"instrument": c.name, "bid": bid, "ask": ask, "last": last,
                "open": self.grid(session.open, tick), "high": self.grid(max(session.high, ask), tick),
                "low": self.grid(min(session.low, bid), tick), "close": self.price(c, day - 1),
                "volume": int(volume), "bidSize": int(bid_size // 100), "askSize": int(ask_size // 100),
                "lastSize": int(trade_size // 100), "epoch": int(t * 1000)}

    def market_quote(self, c: Contract, t: float, tz: ZoneInfo) -> Dict[str, Any]:
        """The ``GET /v1/api/market/quote`` object (``epoch`` in seconds there)."""
        q = self.fields(c, t)
        info = c.info
        return {"description": info.description, "type": "Future", "tickSize": info.tick_size,
                "pointValue": info.point_value, "tickValue": round(info.tick_size * info.point_value, 6),
                "exchange": info.exchange, "expiration": c.expiration.isoformat(), "tradingHours": info.trading_hours,
                "instrument": c.name, "bid": q["bid"], "ask": q["ask"], "last": q["last"], "open": q["open"],
                "high": q["high"], "low": q["low"], "close": q["close"], "volume": q["volume"],
                "quoteTime": nt8_time(t, tz), "quoteTimeUtc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)),
                "epoch": int(t), "dataSource": {"status": "Live", "connectedFeeds": ["Live"]},
                "isMarketOpen": not in_halt(t)}

    def legacy_quote(self, c: Contract, t: float, tz: ZoneInfo) -> Dict[str, Any]:
        """The ``GET /v1/api/accounts/{account}/quote`` body, also the ``GetQuote`` RPC answer."""
        q = self.fields(c, t)
        info = c.info
        exp = c.expiration
        return {"instrument": c.name, "description": info.description, "type": "Future", "bid": q["bid"],
                "ask": q["ask"], "last": q["last"], "open": q["open"], "high": q["high"], "low": q["low"],
                "close": q["close"], "volume": q["volume"], "tickSize": info.tick_size,
                "pointValue": info.point_value, "exchange": info.exchange,
                "expiration": f"{exp.month}/{exp.day}/{exp.year} 12:00:00 AM", "tradingHours": info.trading_hours,
                "quoteTime": nt8_time(t, tz, padded=False), "success": True}


class ApiFailure(Exception):
    """A failed API call: HTTP ``status``, machine ``code`` and human ``detail``."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


_ORDER_TYPES = {"MARKET": "Market", "LIMIT": "Limit", "STOPMARKET": "StopMarket", "STOPLIMIT": "StopLimit"}
_ACTIONS = {"BUY": "Buy", "SELL": "Sell"}
_TIFS = {"DAY": "Day", "GTC": "Gtc"}
START_CASH = 100000.0


class AccountBook:
    """The simulated NT8 accounts: orders, positions and realized P&L. Market orders (and marketable
    limits) fill at once at the touch; other orders stay working and never fill."""

    def __init__(self, accounts: List[str], quotes: QuoteMaker, clock: Callable[[], float]) -> None:
        self.accounts = accounts
        self.quotes = quotes
        self.clock = clock
        self._lock = threading.Lock()
        self._orders: Dict[str, List[Dict[str, Any]]] = {a: [] for a in accounts}
        self._positions: Dict[Tuple[str, str], List[Any]] = {}  # (account, name) -> [contract, qty, avg]
        self._realized: Dict[str, float] = {a: 0.0 for a in accounts}

    def account(self, name: Any) -> str:
        """The canonical account name (input is case-insensitive), or ``invalid_account``."""
        for a in self.accounts:
            if isinstance(name, str) and a.lower() == name.lower():
                return a
        raise ApiFailure(404, "invalid_account", f"Account {name} not found")

    def place(self, account: str, c: Contract, args: Dict[str, Any]) -> str:
        """Place an order from validated ``args``; returns its id."""
        kind = _enum(args, "orderType", _ORDER_TYPES)
        action = _enum(args, "action", _ACTIONS)
        tif = _enum(args, "timeInForce", _TIFS, "DAY")
        qty = args.get("quantity")
        if isinstance(qty, bool) or not isinstance(qty, int) or qty <= 0:
            raise ApiFailure(400, "invalid_request", "quantity must be a positive integer")
        limit = _price(args, "limitPrice", kind in ("Limit", "StopLimit"))
        stop = _price(args, "stopPrice", kind in ("StopMarket", "StopLimit"))
        t = self.clock()
        q = self.quotes.fields(c, t)
        touch = q["ask"] if action == "Buy" else q["bid"]
        fills = kind == "Market" or (kind == "Limit" and (limit >= touch if action == "Buy" else limit <= touch))
        with self._lock:
            oid = str(args.get("orderId") or secrets.token_hex(16))
            self._orders[account].append({
                "account": account, "orderId": oid, "instrument": c.name, "instrumentType": "Future",
                "orderType": kind, "orderAction": action, "orderState": "Filled" if fills else (
                    "Working" if kind == "Limit" else "Accepted"),
                "quantity": qty, "filled": qty if fills else 0, "averageFillPrice": touch if fills else 0.0,
                "limitPrice": limit, "stopPrice": stop, "timeInForce": tif, "time": bar_time(t)})
            if fills:
                self._fill(account, c, qty if action == "Buy" else -qty, touch)
        return oid

    def _fill(self, account: str, c: Contract, signed: int, price: float) -> None:
        pos = self._positions.setdefault((account, c.name), [c, 0, 0.0])
        qty, avg = pos[1], pos[2]
        if qty == 0 or (qty > 0) == (signed > 0):
            pos[2] = (avg * abs(qty) + price * abs(signed)) / (abs(qty) + abs(signed))
        else:
            closing = min(abs(qty), abs(signed))
            self._realized[account] += (price - avg) * closing * (1 if qty > 0 else -1) * c.info.point_value
            if abs(signed) > abs(qty):
                pos[2] = price
        pos[1] = qty + signed

    def orders(self, account: str) -> List[Dict[str, Any]]:
        """Every order of ``account``, oldest first (copies)."""
        with self._lock:
            return [dict(o) for o in self._orders[account]]

    def positions(self, account: str) -> List[Dict[str, Any]]:
        """The open positions of ``account`` marked to the last price."""
        t = self.clock()
        with self._lock:
            held = [(c, qty, avg) for (a, _), (c, qty, avg) in self._positions.items() if a == account and qty]
        out = []
        for c, qty, avg in held:
            last = self.quotes.fields(c, t)["last"]
            out.append({"type": "NinjaTrader.Cbi.Position", "account": account, "instrument": c.name,
                        "instrumentType": "Future", "marketPosition": "Long" if qty > 0 else "Short",
                        "quantity": abs(qty), "averagePrice": avg, "marketPrice": last,
                        "unrealizedProfitLoss": (last - avg) * qty * c.info.point_value})
        return out

    def pnl(self, account: str) -> Tuple[float, float]:
        """(realized, unrealized) P&L of ``account``."""
        unrealized = sum(p["unrealizedProfitLoss"] for p in self.positions(account))
        with self._lock:
            return self._realized[account], unrealized


def _enum(args: Dict[str, Any], key: str, values: Dict[str, str], default: Optional[str] = None) -> str:
    raw = args.get(key, default)
    if not isinstance(raw, str) or raw.upper() not in values:
        raise ApiFailure(400, "invalid_request", f"Invalid {key}: {raw}")
    return values[raw.upper()]


def _price(args: Dict[str, Any], key: str, required: bool) -> float:
    raw = args.get(key, 0.0)
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or (required and raw <= 0):
        raise ApiFailure(400, "invalid_request", f"Invalid {key}: {raw}")
    return float(raw)


class TokenBucket:
    """``burst`` tokens refilled at ``rate`` a second; each request takes one (thread-safe)."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self._clock = rate, burst, clock
        self._tokens = float(burst)
        self._at = clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        """Spend a token if one is there."""
        with self._lock:
            now = self._clock()
            self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens < 1.0 - 1e-9:  # a whole token, give or take float rounding of the refill
                return False
            self._tokens = max(0.0, self._tokens - 1.0)
            return True


class SlidingWindow:
    """At most ``limit`` events in any ``window`` seconds (thread-safe)."""

    def __init__(self, limit: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self._clock = limit, window, clock
        self._times: Deque[float] = collections.deque()
        self._lock = threading.Lock()

    def take(self) -> bool:
        """Record an event if the window has room."""
        with self._lock:
            now = self._clock()
            while self._times and self._times[0] <= now - self.window:
                self._times.popleft()
            if len(self._times) >= self.limit:
                return False
            self._times.append(now)
            return True
