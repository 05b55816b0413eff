"""dxFeed events as the DXLink emulator sends them: the default field lists,
candle symbols and indices, and one row (field name -> value) per event,
built from the synthetic market.

Trades follow dxFeed's split (dxlink.md section 6): ``Trade`` is the last
trade of the regular session and ``TradeETH`` the last trade of extended
hours, so each synthetic trade is sent once, as one or the other. Futures
(symbols starting with ``/``) trade nearly around the clock and are sent as
``Trade`` only.
"""

from __future__ import annotations

import itertools
import re
from typing import Any, Dict, List, Optional, Tuple

from .market import SyntheticMarket, in_regular_hours, last_extended_time, last_regular_time
from .universe import is_future

__all__ = ["DEFAULT_FIELDS", "TX_PENDING", "REMOVE_EVENT", "SNAPSHOT_BEGIN", "SNAPSHOT_END", "SNAPSHOT_SNIP",
           "parse_candle", "candle_index", "EventRows"]

TX_PENDING, REMOVE_EVENT, SNAPSHOT_BEGIN, SNAPSHOT_END, SNAPSHOT_SNIP = 1, 2, 4, 8, 16
DEFAULT_FIELDS: Dict[str, List[str]] = {
    "Quote": ["eventType", "eventSymbol", "eventTime", "sequence", "timeNanoPart", "bidTime",
              "bidExchangeCode", "bidPrice", "bidSize", "askTime", "askExchangeCode", "askPrice", "askSize"],
    "Trade": ["eventType", "eventSymbol", "eventTime", "time", "timeNanoPart", "sequence", "exchangeCode",
              "price", "change", "size", "dayId", "dayVolume", "dayTurnover", "tickDirection",
              "extendedTradingHours"],
    "Summary": ["eventType", "eventSymbol", "eventTime", "dayId", "dayOpenPrice", "dayHighPrice",
                "dayLowPrice", "dayClosePrice", "dayClosePriceType", "prevDayId", "prevDayClosePrice",
                "prevDayClosePriceType", "prevDayVolume", "openInterest"],
    "Profile": ["eventType", "eventSymbol", "eventTime", "description", "shortSaleRestriction",
                "tradingStatus", "statusReason", "haltStartTime", "haltEndTime", "highLimitPrice",
                "lowLimitPrice", "high52WeekPrice", "low52WeekPrice"],
    "Candle": ["eventType", "eventSymbol", "eventTime", "eventFlags", "index", "time", "sequence", "count",
               "open", "high", "low", "close", "volume", "vwap", "bidVolume", "askVolume",
               "impVolatility", "openInterest"],
}
DEFAULT_FIELDS["TradeETH"] = DEFAULT_FIELDS["Trade"]
TRADE_TYPES = ("Trade", "TradeETH")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "mo": 2592000}
_PERIOD = re.compile(r"^(\d*)(s|m|h|d|w|mo)$")
_CANDLE = re.compile(r"^([^{]+)\{(.*)\}$")


def candle_index(time_ms: int, seq: int = 0) -> int:
    """dxFeed's index of a time-series event (dxlink.md section 7.1)."""
    return ((time_ms // 1000) << 32) | ((time_ms % 1000) << 22) | seq


def parse_candle(symbol: str) -> Optional[Tuple[str, int, str]]:
    """``"AAPL{=5m}"`` -> ``("AAPL", 300, "AAPL{=5m}")`` (base, period s, normalised)."""
    m = _CANDLE.match(symbol)
    if not m:
        return None
    attrs = dict(part.split("=", 1) for part in m.group(2).split(",") if "=" in part)
    pm = _PERIOD.match(attrs.get("", "").lower())
    if not pm:
        return None
    n = int(pm.group(1) or 1)
    period = f"{n if n != 1 else ''}{pm.group(2)}"
    rest = ",".join(f"{k}={v}" for k, v in sorted(attrs.items()) if k)
    return m.group(1), n * _UNITS[pm.group(2)], f"{m.group(1)}{{={period}{',' + rest if rest else ''}}}"


def _index_like(symbol: str) -> bool:
    return symbol.startswith(("SPX", "$", "."))


class EventRows:
    """Builds event rows for one synthetic market."""

    def __init__(self, market: SyntheticMarket) -> None:
        self.market = market

    # -- trades: which type trades when
    @staticmethod
    def trades_live(etype: str, symbol: str, t: float) -> bool:
        """Whether a trade at ``t`` is sent as ``etype`` (Trade in regular
        hours or for futures, TradeETH outside regular hours otherwise)."""
        if is_future(symbol):
            return etype == "Trade"
        return in_regular_hours(t) == (etype == "Trade")

    @staticmethod
    def last_trade_time(etype: str, symbol: str, t: float) -> Optional[float]:
        """When the latest ``etype`` event at or before ``t`` happened (None:
        never, e.g. TradeETH for a future)."""
        if is_future(symbol):
            return t if etype == "Trade" else None
        return last_regular_time(t) if etype == "Trade" else last_extended_time(t)

    # -- rows
    def row(self, etype: str, symbol: str, t: float) -> Optional[Dict[str, Any]]:
        """The event of ``etype`` for ``symbol`` at epoch second ``t``."""
        if etype == "Quote":
            return self.quote(symbol, t)
        if etype in TRADE_TYPES:
            return self.trade(etype, symbol, t)
        if etype == "Summary":
            return self.summary(symbol, t)
        if etype == "Profile":
            return self.profile(symbol)
        return None

    def snapshot_row(self, etype: str, symbol: str, t: float) -> Optional[Dict[str, Any]]:
        """The latest event of ``etype`` a TICKER subscription starts with
        (for trades, the latest of that type, which may be hours old)."""
        if etype in TRADE_TYPES:
            when = self.last_trade_time(etype, symbol, t)
            return None if when is None else self.trade(etype, symbol, when)
        return self.row(etype, symbol, t)

    def quote(self, symbol: str, t: float) -> Dict[str, Any]:
        """A Quote row; indices have no sizes and no exchange codes."""
        bid, ask, bs, az = self.market.quote(symbol, t)
        ms = int(t * 1000)
        idx = _index_like(symbol)
        return {"eventType": "Quote", "eventSymbol": symbol, "eventTime": 0, "sequence": 0,
                "timeNanoPart": 0, "bidTime": ms, "bidExchangeCode": "" if idx else "Q",
                "bidPrice": bid, "bidSize": "NaN" if idx else bs, "askTime": ms,
                "askExchangeCode": "" if idx else "Q", "askPrice": ask,
                "askSize": "NaN" if idx else az}

    def trade(self, etype: str, symbol: str, t: float) -> Dict[str, Any]:
        """A Trade or TradeETH row for the synthetic trade at ``t``."""
        m = self.market
        price, size, vol = m.trade(symbol, t)
        prev = m.price(symbol, (t // 86400) * 86400 - 1)
        return {"eventType": etype, "eventSymbol": symbol, "eventTime": 0, "time": int(t * 1000),
                "timeNanoPart": 0, "sequence": 0, "exchangeCode": "Q", "price": price,
                "change": round(price - prev, 2), "size": size, "dayId": int(t // 86400), "dayVolume": vol,
                "dayTurnover": round(vol * price, 2), "tickDirection": "UP",
                "extendedTradingHours": etype == "TradeETH"}

    def summary(self, symbol: str, t: float) -> Dict[str, Any]:
        """A Summary row: today so far and yesterday's close."""
        m = self.market
        day = int(t // 86400) * 86400
        today = m.candle(symbol, day, 86400, t)
        before = m.candle(symbol, day - 86400, 86400)
        return {"eventType": "Summary", "eventSymbol": symbol, "eventTime": 0, "dayId": day // 86400,
                "dayOpenPrice": today.open, "dayHighPrice": today.high, "dayLowPrice": today.low,
                "dayClosePrice": "NaN", "dayClosePriceType": "REGULAR", "prevDayId": day // 86400 - 1,
                "prevDayClosePrice": before.close, "prevDayClosePriceType": "FINAL",
                "prevDayVolume": before.volume, "openInterest": 0}

    def profile(self, symbol: str) -> Dict[str, Any]:
        """A Profile row."""
        base = self.market.base_price(symbol)
        return {"eventType": "Profile", "eventSymbol": symbol, "eventTime": 0,
                "description": f"{symbol} synthetic instrument", "shortSaleRestriction": "INACTIVE",
                "tradingStatus": "ACTIVE", "statusReason": "", "haltStartTime": 0, "haltEndTime": 0,
                "highLimitPrice": "NaN", "lowLimitPrice": "NaN", "high52WeekPrice": round(base * 1.3, 2),
                "low52WeekPrice": round(base * 0.7, 2)}

    def candle(self, echo: str, base: str, start: int, period: int, now: float) -> Dict[str, Any]:
        """The Candle row of the bar starting at ``start``, cut at ``now``."""
        c = self.market.candle(base, start, period, now)
        ms = start * 1000
        return {"eventType": "Candle", "eventSymbol": echo, "eventTime": 0, "eventFlags": 0,
                "index": candle_index(ms), "time": ms, "sequence": 0, "count": c.count, "open": c.open,
                "high": c.high, "low": c.low, "close": c.close, "volume": c.volume,
                "vwap": round((c.high + c.low + c.close) / 3, 4), "bidVolume": "NaN",
                "askVolume": "NaN", "impVolatility": "NaN", "openInterest": "NaN"}

    def candle_snapshot(self, echo: str, base: str, period: int, from_ms: int, now: float,
                        limit: int) -> List[Dict[str, Any]]:
        """A candle subscription's snapshot, newest first, flagged as dxFeed
        does: SNAPSHOT_BEGIN on the first, SNAPSHOT_END (or SNAPSHOT_SNIP past
        ``limit``) on the last, and a REMOVE_EVENT placeholder at ``from_ms``
        when no bar starts exactly there."""
        first = -(-from_ms // (period * 1000)) * period  # first bar start at or after fromTime
        last = int(now // period) * period
        # islice: a fromTime of 0 on 1 s bars would otherwise list billions of starts
        starts = list(itertools.islice(range(last, first - 1, -period), limit + 1)) if first <= last else []
        snip = len(starts) > limit
        rows = [self.candle(echo, base, s, period, now) for s in starts[:limit]]
        if snip and not rows:
            return []
        if not snip and (not rows or rows[-1]["time"] != from_ms):
            rows.append({"eventType": "Candle", "eventSymbol": echo, "eventTime": 0,
                         "index": candle_index(from_ms), "time": from_ms, "sequence": 0, "count": 0,
                         "eventFlags": REMOVE_EVENT})
        rows[0]["eventFlags"] |= SNAPSHOT_BEGIN
        rows[-1]["eventFlags"] |= SNAPSHOT_SNIP if snip else SNAPSHOT_END
        return rows

    @staticmethod
    def stamped_quote(symbol: str, quote: Tuple[float, float, float, float], stamp_ns: int,
                      sequence: int = 0) -> Dict[str, Any]:
        """A Quote row for the benchmarks' blast and pace streams: ``quote``
        is ``(bid, ask, bid_size, ask_size)``, ``stamp_ns`` the bid/ask time
        (milliseconds plus ``timeNanoPart``)."""
        bid, ask, bs, az = quote
        ms, nano = divmod(stamp_ns, 1_000_000)
        return {"eventType": "Quote", "eventSymbol": symbol, "eventTime": 0, "sequence": sequence,
                "timeNanoPart": nano, "bidTime": ms, "bidExchangeCode": "Q", "bidPrice": bid, "bidSize": bs,
                "askTime": ms, "askExchangeCode": "Q", "askPrice": ask, "askSize": az}
