"""What the ThetaData Terminal emulator knows and sends, built from the shared
synthetic market: the roots it streams (from :mod:`mdsdk.testing.universe`),
Eastern-time stamps (``date`` YYYYMMDD and ``ms_of_day``), contract objects,
a simple option model, the stream payloads of protocols/thetadata.md section
3.3 and the REST rows of section 5 (with the lazy day-by-day plans the REST
side pages through)."""

from __future__ import annotations

import bisect
import datetime as _dt
import json
import math
import zlib
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple
from zoneinfo import ZoneInfo

from .market import SyntheticMarket
from .universe import EQUITIES, ETFS, INDICES

__all__ = ["EASTERN", "RTH", "DAY_MS", "OHLC_FORMAT", "EOD_FORMAT", "QUOTE_FORMAT", "TRADE_FORMAT", "PRICE_FORMAT",
           "EOD_REPORT_MS", "INDEX_OPTION_ROOTS", "Contract", "TerminalData", "Segment", "Plan", "et_parts", "epoch",
           "real_date", "dates", "day_segments", "data_frame", "dumps", "int32"]

EASTERN = ZoneInfo("America/New_York")
DAY_MS = 86_400_000
RTH = (34_200_000, 57_600_000)  # 09:30-16:00 ET, the REST default (rth=true)
EOD_REPORT_MS = 62_100_000  # ThetaData builds its EOD report at 17:15 ET
OHLC_FORMAT = ["ms_of_day", "open", "high", "low", "close", "volume", "count", "date"]
QUOTE_FORMAT = ["ms_of_day", "bid_size", "bid_exchange", "bid", "bid_condition", "ask_size", "ask_exchange", "ask",
                "ask_condition", "date"]
EOD_FORMAT = ["ms_of_day", "ms_of_day2", "open", "high", "low", "close", "volume", "count", "bid_size",
              "bid_exchange", "bid", "bid_condition", "ask_size", "ask_exchange", "ask", "ask_condition", "date"]
TRADE_FORMAT = ["ms_of_day", "sequence", "ext_condition1", "ext_condition2", "ext_condition3", "ext_condition4",
                "condition", "size", "exchange", "price", "condition_flags", "price_flags", "volume_type",
                "records_back", "date"]
PRICE_FORMAT = ["ms_of_day", "price", "date"]

# ThetaData writes class shares with a dot (BRK.B); the synthetic market and the universe use a slash.
STOCK_ROOTS = frozenset(s.replace("/", ".") for s in EQUITIES | ETFS)
INDEX_ROOTS = frozenset(s for s in INDICES if not s.startswith("$"))
INDEX_OPTION_ROOTS = {"SPXW": "SPX", "NDXP": "NDX", "RUTW": "RUT", "VIXW": "VIX"}
MAX_STRIKE = 100_000_000  # $100,000 in 1/10 cent: anything above is not a sane strike
# Exchange and condition codes are opaque ThetaData ints; these are the values seen in the captures (section 3.3).
STOCK_QUOTE_EXCHANGE = 29
STOCK_TRADE_EXCHANGES = (57, 57, 57, 29, 3)
OPTION_EXCHANGES = (43, 7, 5, 65, 69, 1, 9, 11)
STOCK_CONDITIONS = (0, 0, 0, 0, 0, 0, 115, 0, 0, 95, 0, 18)  # mostly regular, now and then an odd one
OPTION_CONDITIONS = (130, 130, 130, 18, 130, 125, 130, 130)
BULK_STOCKS = ("AAPL", "MSFT", "NVDA", "AMZN", "META", "TSLA", "SPY", "QQQ", "AMD", "GOOGL")
BULK_OPTION_ROOTS = ("SPY", "QQQ", "AAPL", "SPXW", "NVDA", "TSLA")


def dumps(value: Any) -> str:
    """Compact JSON, as the Terminal writes its frames."""
    return json.dumps(value, separators=(",", ":"))


def int32(value: int) -> int:
    """``value`` wrapped to a signed 32-bit int, as the feed's sequence numbers are."""
    return (value + 2 ** 31) % 2 ** 32 - 2 ** 31


def et_parts(t: float) -> Tuple[int, int]:
    """``(date YYYYMMDD, ms since midnight America/New_York)`` of epoch second ``t``."""
    local = _dt.datetime.fromtimestamp(t, tz=EASTERN)
    ms = ((local.hour * 60 + local.minute) * 60 + local.second) * 1000 + local.microsecond // 1000
    return local.year * 10000 + local.month * 100 + local.day, ms


def real_date(value: int) -> Optional[_dt.date]:
    """The calendar date YYYYMMDD ``value`` names, or None when it names none."""
    try:
        return _dt.date(value // 10000, value // 100 % 100, value % 100)
    except ValueError:
        return None


def epoch(date: int, ms_of_day: int) -> float:
    """The epoch second whose Eastern wall clock reads ``ms_of_day`` on ``date`` (wall-clock arithmetic, so a
    daylight-saving day still has its 09:30 at 09:30)."""
    d = real_date(date)
    if d is None:
        raise ValueError(f"not a date: {date}")
    midnight = _dt.datetime(d.year, d.month, d.day, tzinfo=EASTERN)
    return (midnight + _dt.timedelta(milliseconds=ms_of_day)).timestamp()


def _mix(*parts: object) -> int:
    return zlib.crc32(":".join(map(str, parts)).encode())


def _norm_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


@dataclass(frozen=True)
class Contract:
    """One Terminal contract: ``sec_type`` STOCK, INDEX or OPTION; options add ``expiration`` (YYYYMMDD),
    ``strike`` (1/10 cent) and ``right`` (C or P)."""

    sec_type: str
    root: str
    expiration: int = 0
    strike: int = 0
    right: str = ""

    def wire(self) -> Dict[str, Any]:
        """The ``contract`` object of a data frame (section 3.3)."""
        out: Dict[str, Any] = {"security_type": self.sec_type, "root": self.root}
        if self.sec_type == "OPTION":
            out.update(expiration=self.expiration, strike=self.strike, right=self.right)
        return out


def data_frame(kind: str, contract: Contract, payload: Dict[str, Any]) -> str:
    """One data frame: header, contract, then the payload named after ``kind`` in lower case."""
    return dumps({"header": {"type": kind, "status": "CONNECTED"}, "contract": contract.wire(),
                  kind.lower(): payload})


class TerminalData:
    """Prices, payloads and rows for Terminal contracts, from ``market``."""

    def __init__(self, market: SyntheticMarket) -> None:
        self.market = market

    # -- which contracts exist
    def symbol(self, c: Contract) -> Optional[str]:
        """The synthetic-market symbol behind ``c`` (the underlying for an option), or None when the real service
        would not know the contract: it is then acknowledged and never gets data."""
        if c.sec_type == "STOCK":
            return c.root.replace(".", "/") if c.root in STOCK_ROOTS else None
        if c.sec_type == "INDEX":
            return c.root if c.root in INDEX_ROOTS else None
        if c.sec_type != "OPTION" or c.right not in ("C", "P") or not 0 < c.strike <= MAX_STRIKE:
            return None
        under = INDEX_OPTION_ROOTS.get(c.root, c.root)
        if real_date(c.expiration) is None:
            return None
        if under in INDEX_ROOTS:
            return under
        return under.replace(".", "/") if under in STOCK_ROOTS else None

    # -- the option model: Black-Scholes on the synthetic underlying, no rates
    def option_mid(self, c: Contract, t: float) -> float:
        """The model value of option ``c`` at ``t``; an expired one is worth its intrinsic value."""
        spot = self.market.price(self.symbol(c) or c.root, t)
        strike = c.strike / 1000.0
        sign = 1.0 if c.right == "C" else -1.0
        intrinsic = max(0.0, sign * (spot - strike))
        years = (epoch(c.expiration, RTH[1]) - t) / (365.0 * 86400)
        if years <= 0:
            return round(intrinsic, 2)
        vol = 0.15 + (_mix(c.root) % 30) / 100.0
        root_t = vol * math.sqrt(years)
        d1 = (math.log(spot / strike) + 0.5 * root_t * root_t) / root_t
        d2 = d1 - root_t
        value = sign * (spot * _norm_cdf(sign * d1) - strike * _norm_cdf(sign * d2))
        return round(max(value, intrinsic), 2)

    def option_quote(self, c: Contract, t: float) -> Tuple[float, float, int, int]:
        """``(bid, ask, bid_size, ask_size)`` around the model value: a cents spread, never a negative bid."""
        mid = self.option_mid(c, t)
        half = max(0.01, round(mid * 0.015, 2))
        bid = max(0.0, round(mid - half, 2))
        ask = max(round(mid + half, 2), round(bid + 0.05, 2))
        k = int(t * 10)
        return bid, ask, 1 + _mix(c, k, "b") % 60, 1 + _mix(c, k, "a") % 60

    # -- stream payloads (section 3.3)
    def quote(self, c: Contract, t: float) -> Dict[str, Any]:
        """The ``quote`` object of ``c`` at ``t``."""
        date, ms = et_parts(t)
        if c.sec_type == "OPTION":
            bid, ask, bid_size, ask_size = self.option_quote(c, t)
            k = int(t * 10)
            bx, ax = (OPTION_EXCHANGES[_mix(c, k, s) % len(OPTION_EXCHANGES)] for s in "ba")
            cond = 50
        else:
            bid, ask, bsz, asz = self.market.quote(self.symbol(c) or c.root, t)
            bid_size, ask_size, bx, ax, cond = int(bsz), int(asz), STOCK_QUOTE_EXCHANGE, STOCK_QUOTE_EXCHANGE, 0
        return {"ms_of_day": ms, "bid_size": bid_size, "bid_exchange": bx, "bid": bid, "bid_condition": cond,
                "ask_size": ask_size, "ask_exchange": ax, "ask": ask, "ask_condition": cond, "date": date}

    def trade_values(self, c: Contract, t: float) -> Tuple[float, int, int, int]:
        """``(price, size, condition, exchange)`` of the print at ``t``."""
        k = int(t * 10)
        if c.sec_type == "OPTION":
            bid, ask, _, _ = self.option_quote(c, t)
            price = ask if (bid <= 0 or _mix(c, k, "side") % 2) else bid
            return (price, 1 + _mix(c, k, "size") % 20, OPTION_CONDITIONS[_mix(c, k) % len(OPTION_CONDITIONS)],
                    OPTION_EXCHANGES[_mix(c, k, "x") % len(OPTION_EXCHANGES)])
        price, size, _ = self.market.trade(self.symbol(c) or c.root, t)
        return (price, int(size), STOCK_CONDITIONS[_mix(c, k) % len(STOCK_CONDITIONS)],
                STOCK_TRADE_EXCHANGES[_mix(c, k, "x") % len(STOCK_TRADE_EXCHANGES)])

    def index_price(self, c: Contract, t: float) -> float:
        """The index level at ``t`` (reports are whole seconds apart on CGIF)."""
        return self.market.price(self.symbol(c) or c.root, math.floor(t))

    def day_bar(self, c: Contract, t: float) -> Tuple[float, float, float, int, int]:
        """``(open, high, low, volume, count)`` of ``c``'s day so far at ``t``: the synthetic market trades around
        the clock, so a day starts at 00:00 ET."""
        date, ms = et_parts(t)
        start = epoch(date, 0)
        if c.sec_type != "OPTION":
            bar = self.market.candle(self.symbol(c) or c.root, int(start), 86400, t)
            return bar.open, bar.high, bar.low, int(bar.volume), bar.count
        prices = [self.option_mid(c, start + (t - start) * i / 6) for i in range(7)]
        volume = int(ms / 1000 * (0.02 + (_mix(c, date) % 50) / 1000))
        return prices[0], max(prices), min(prices), volume, max(1, volume // 4)

    def bulk_contracts(self, sec_type: str, t: float, start: int, n: int) -> List[Contract]:
        """``n`` contracts of the full-stream universe, from position ``start`` on (a rotating pick)."""
        if sec_type == "STOCK":
            return [Contract("STOCK", BULK_STOCKS[(start + i) % len(BULK_STOCKS)]) for i in range(n)]
        date, _ = et_parts(t)
        day = real_date(date) or _dt.date(2000, 1, 1)
        friday = day + _dt.timedelta(days=(4 - day.weekday()) % 7)
        expiration = friday.year * 10000 + friday.month * 100 + friday.day
        out = []
        for i in range(start, start + n):
            root = BULK_OPTION_ROOTS[i % len(BULK_OPTION_ROOTS)]
            spot = self.market.price(INDEX_OPTION_ROOTS.get(root, root), t)
            step = 5.0 if spot >= 100 else 1.0
            strike = int(round((round(spot / step) + (i // len(BULK_OPTION_ROOTS)) % 3 - 1) * step * 1000))
            out.append(Contract("OPTION", root, expiration, max(strike, 1000), "CP"[i % 2]))
        return out

    # -- REST rows (section 5)
    def bar_row(self, c: Contract, t0: float, ivl_ms: int, now: float) -> List[Any]:
        """An OHLC row for the bar starting at ``t0`` (stamped at its open), cut at ``now`` if still forming."""
        date, ms = et_parts(t0)
        sym = self.symbol(c) or c.root
        if c.sec_type == "OPTION":  # priced off the underlying: sample the model across the bar
            end = min(now, t0 + ivl_ms / 1000)
            prices = [self.option_mid(c, t0 + (end - t0) * i / 4) for i in range(5)]
            volume = 1 + _mix(c, date, str(ms)) % 50
            return [ms, prices[0], max(prices), min(prices), prices[-1], volume, max(1, volume // 3), date]
        if ivl_ms % 1000 == 0 and t0 == int(t0):
            bar = self.market.candle(sym, int(t0), ivl_ms // 1000, now)
            o, h, lo, cl, volume, count = bar.open, bar.high, bar.low, bar.close, int(bar.volume), bar.count
        else:  # a sub-second bar: its two ends
            o, cl = self.market.price(sym, t0), self.market.price(sym, min(now, t0 + ivl_ms / 1000))
            h, lo, volume, count = max(o, cl), min(o, cl), int(self.market.trade(sym, t0)[1]), 1
        if c.sec_type == "INDEX":  # an index has no volume; count its one-a-second reports
            volume, count = 0, max(1, int(min(ivl_ms / 1000, now - t0 + 1)))
        return [ms, o, h, lo, cl, volume, count, date]

    def quote_row(self, c: Contract, t: float) -> List[Any]:
        """A quote row in QUOTE_FORMAT order."""
        return list(self.quote(c, t).values())

    def trade_row(self, c: Contract, t: float) -> List[Any]:
        """A trade tick in TRADE_FORMAT order."""
        date, ms = et_parts(t)
        price, size, condition, exchange = self.trade_values(c, t)
        return [ms, int32(date % 100 * DAY_MS + ms), 0, 0, 0, 0, condition, size, exchange, price, 0, 0, 0, 0, date]

    def eod_row(self, c: Contract, date: int) -> List[Any]:
        """An EOD report row: the regular session's OHLC and the closing quote (section 5.2 format)."""
        open_t, close_t = epoch(date, RTH[0]), epoch(date, RTH[1])
        if c.sec_type == "OPTION":
            prices = [self.option_mid(c, open_t + (close_t - open_t) * i / 6) for i in range(7)]
            o, h, lo, cl = prices[0], max(prices), min(prices), prices[-1]
            volume = 100 + _mix(c, date) % 5000
            count = max(1, volume // 7)
        else:
            bar = self.market.candle(self.symbol(c) or c.root, int(open_t), int(close_t - open_t))
            o, h, lo, cl, volume, count = bar.open, bar.high, bar.low, bar.close, int(bar.volume), bar.count
            if c.sec_type == "INDEX":  # an index has no volume, as in its intraday bars
                volume, count = 0, int(close_t - open_t)
        q = self.quote(c, close_t - 0.001)
        return [EOD_REPORT_MS + _mix(c, date, "eod") % 60_000, RTH[1] - 1 - _mix(c, date, "last") % 120_000,
                o, h, lo, cl, volume, count, q["bid_size"], q["bid_exchange"], q["bid"], q["bid_condition"],
                q["ask_size"], q["ask_exchange"], q["ask"], q["ask_condition"], date]


# -- lazy REST plans: the rows of a request are a pure function of (date, ms_of_day), so a plan holds only the
# slots (time points) day by day and builds the rows of one page when it is served.
@dataclass(frozen=True)
class Segment:
    """``count`` slots on ``date``: ``first_ms``, ``first_ms + step_ms``, ... (ms of day, Eastern)."""

    date: int
    first_ms: int
    count: int
    step_ms: int


RowFn = Callable[[int, int], Optional[List[Any]]]  # (date, ms_of_day) -> a row, or None to leave the slot out


class Plan:
    """The slots of one REST request and how to build a row for each."""

    def __init__(self, segments: Sequence[Segment], row: RowFn) -> None:
        self.segments = [s for s in segments if s.count > 0]
        self.row = row
        self.starts: List[int] = []
        total = 0
        for s in self.segments:
            self.starts.append(total)
            total += s.count
        self.total = total

    def rows(self, offset: int, limit: int) -> List[List[Any]]:
        """The rows of slots ``offset`` to ``offset + limit`` (fewer rows when slots are left out)."""
        out: List[List[Any]] = []
        end = min(self.total, offset + limit)
        i = bisect.bisect_right(self.starts, offset) - 1
        pos = offset
        while pos < end and 0 <= i < len(self.segments):
            seg = self.segments[i]
            k = pos - self.starts[i]
            while k < seg.count and pos < end:
                row = self.row(seg.date, seg.first_ms + k * seg.step_ms)
                if row is not None:
                    out.append(row)
                k += 1
                pos += 1
            i += 1
        return out


def dates(start: int, end: int) -> List[int]:
    """Every date YYYYMMDD from ``start`` to ``end`` inclusive (the synthetic market trades every day)."""
    first, last = real_date(start), real_date(end)
    out: List[int] = []
    if first is None or last is None:
        return out
    day = first
    while day <= last:
        out.append(day.year * 10000 + day.month * 100 + day.day)
        day += _dt.timedelta(days=1)
    return out


def day_segments(start: int, end: int, window: Tuple[int, int], step_ms: int, now: float) -> List[Segment]:
    """The slots ``window[0] + k * step_ms`` inside ``window`` (ms of day, end exclusive) on each date from
    ``start`` to ``end`` inclusive, only those before ``now`` (a bar that opens at now has nothing in it yet)."""
    today, now_ms = et_parts(now)
    out = []
    for date in dates(start, end):
        stop = window[1] if date < today else min(window[1], now_ms) if date == today else window[0]
        out.append(Segment(date, window[0], max(0, -(-(stop - window[0]) // step_ms)), step_ms))
    return out
