"""What the TDA/Schwab emulator knows and sends, built from the synthetic
market: the services of each variant (tda_schwab.md section 6), which
symbols the streamer knows in each spelling, the numbered field maps of the
level-one services (section 7), and the content items of every service kind
(level one, charts in the variant-correct layout, books, time and sales,
account activity, screeners)."""

from __future__ import annotations

import datetime as _dt
import re
import zlib
from typing import Any, Dict, List, Mapping, Optional
from zoneinfo import ZoneInfo

from .market import SyntheticMarket
from .universe import EQUITIES, ETFS, FUTURE_ROOTS, INDICES, MONTH_CODES

__all__ = ["SERVICES", "LEVEL_ONE", "FOREX_PAIRS", "asset_class", "TDSchwabData", "ms"]

# service -> kind, per variant (section 6); a service absent here answers code 11.
_COMMON = {"LEVELONE_FUTURES": "l1", "LEVELONE_FUTURES_OPTIONS": "l1", "LEVELONE_FOREX": "l1",
           "NASDAQ_BOOK": "book", "OPTIONS_BOOK": "book", "CHART_EQUITY": "chart",
           "CHART_FUTURES": "chart", "ACCT_ACTIVITY": "acct"}
SERVICES: Mapping[str, Mapping[str, str]] = {
    "tda": {**_COMMON, "QUOTE": "l1", "OPTION": "l1", "LISTED_BOOK": "book", "TIMESALE_EQUITY": "timesale",
            "TIMESALE_FUTURES": "timesale", "TIMESALE_OPTIONS": "timesale", "NEWS_HEADLINE": "news"},
    "schwab": {**_COMMON, "LEVELONE_EQUITIES": "l1", "LEVELONE_OPTIONS": "l1", "NYSE_BOOK": "book",
               "SCREENER_EQUITY": "screener", "SCREENER_OPTION": "screener"},
}
# Which instruments a service streams: "equity", "option", "future", "future_option", "forex".
_ASSET = {"QUOTE": "equity", "LEVELONE_EQUITIES": "equity", "OPTION": "option", "LEVELONE_OPTIONS": "option",
          "LEVELONE_FUTURES": "future", "LEVELONE_FUTURES_OPTIONS": "future_option",
          "LEVELONE_FOREX": "forex", "NASDAQ_BOOK": "equity", "LISTED_BOOK": "equity", "NYSE_BOOK": "equity",
          "OPTIONS_BOOK": "option", "CHART_EQUITY": "equity", "CHART_FUTURES": "future",
          "TIMESALE_EQUITY": "equity", "TIMESALE_FUTURES": "future", "TIMESALE_OPTIONS": "option"}
FOREX_PAIRS = frozenset("EUR/USD GBP/USD USD/JPY USD/CHF AUD/USD USD/CAD NZD/USD EUR/GBP EUR/JPY GBP/JPY "
                        "EUR/CHF AUD/JPY USD/MXN".split())
_MAIN_TYPE = {"equity": "EQUITY", "option": "OPTION", "future": "FUTURE", "future_option": "FUTURE_OPTION",
              "forex": "FOREX"}

_FUTURE = re.compile(r"^/([A-Z0-9]{1,4}?)(?:([" + MONTH_CODES + r"])(\d{2}))?$")
_FUTURE_OPTION = re.compile(r"^\./([A-Z0-9]{1,4}?)([" + MONTH_CODES + r"])(\d{2})([CP])(\d+(?:\.\d+)?)$")
_OSI = re.compile(r"^([A-Z]{1,6}) *(\d{2})(\d{2})(\d{2})([CP])(\d{8})$")  # Schwab: root padded to 6
_TDA_OPTION = re.compile(r"^([A-Z]{1,6})_(\d{2})(\d{2})(\d{2})([CP])(\d+(?:\.\d+)?)$")  # GOOG_052920C620


def ms(t: float) -> int:
    """Epoch seconds as the streamer's epoch milliseconds."""
    return int(t * 1000)


def _real_date(yy: str, mm: str, dd: str) -> bool:
    try:
        _dt.date(2000 + int(yy), int(mm), int(dd))
    except ValueError:
        return False
    return True


def _option(variant: str, symbol: str) -> bool:
    if variant == "schwab":
        m = _OSI.match(symbol)
        # The OSI root is space-padded to six characters: "AAPL  240517C00190000" is 21 long.
        if m is None or len(symbol) != 21:
            return False
        root, yy, mm, dd = m.group(1), m.group(2), m.group(3), m.group(4)
    else:
        m = _TDA_OPTION.match(symbol)
        if m is None:
            return False
        root, mm, dd, yy = m.group(1), m.group(2), m.group(3), m.group(4)
    return (root in EQUITIES or root in ETFS or root in INDICES) and _real_date(yy, mm, dd)


def asset_class(variant: str, symbol: str) -> Optional[str]:
    """The instrument class ``symbol`` names in ``variant``'s spelling, or None
    when the streamer would not know it (it then acks and never sends data)."""
    if symbol in EQUITIES or symbol in ETFS or symbol in INDICES:
        return "equity"
    if symbol in FOREX_PAIRS:
        return "forex"
    m = _FUTURE.match(symbol)
    if m is not None:
        return "future" if m.group(1) in FUTURE_ROOTS else None
    m = _FUTURE_OPTION.match(symbol)
    if m is not None:
        return "future_option" if m.group(1) in FUTURE_ROOTS else None
    return "option" if _option(variant, symbol) else None


# Level-one field maps (section 7): wire number -> the value name TDSchwabData.level_one produces.
def _fmap(text: str) -> Dict[str, str]:
    return dict(entry.split(":") for entry in text.split())


_SCHWAB_EQ = _fmap("1:bid 2:ask 3:last 4:bid_size 5:ask_size 6:ask_id 7:bid_id 8:volume 9:last_size 10:high "
                   "11:low 12:close 13:exchange 14:marginable 15:description 16:last_id 17:open 18:net_change "
                   "25:exchange_name 32:status 33:mark 34:quote_ms 35:trade_ms 37:quote_ms 38:quote_ms "
                   "42:net_change_pct")
_TDA_EQ = _fmap("1:bid 2:ask 3:last 4:bid_size 5:ask_size 6:ask_id 7:bid_id 8:volume 9:last_size "
                "10:trade_sec 11:quote_sec 12:high 13:low 15:close 16:exchange 17:marginable 18:shortable "
                "25:description 26:last_id 28:open 29:net_change 39:exchange_name 48:status 49:mark "
                "50:quote_ms 51:trade_ms")
_SCHWAB_OPT = _fmap("1:description 2:bid 3:ask 4:last 5:high 6:low 7:close 8:volume 9:open_interest "
                    "15:open 16:bid_size 17:ask_size 18:last_size 19:net_change 33:status 37:mark "
                    "38:quote_ms 39:trade_ms")
_TDA_OPT = _fmap("1:description 2:bid 3:ask 4:last 5:high 6:low 7:close 8:volume 9:open_interest "
                 "11:quote_sec 12:trade_sec 19:open 20:bid_size 21:ask_size 22:last_size 23:net_change "
                 "37:status 41:mark")
_FUT = _fmap("1:bid 2:ask 3:last 4:bid_size 5:ask_size 8:volume 9:last_size 10:quote_ms 11:trade_ms 12:high "
             "13:low 14:close 16:description 18:open 19:net_change 20:change_pct 22:status 23:open_interest "
             "24:mark")
_FUT_OPT = _fmap("1:bid 2:ask 3:last 4:bid_size 5:ask_size 8:volume 9:last_size 10:quote_ms 11:trade_ms "
                 "12:high 13:low 14:close 16:description 17:open 18:open_interest 19:mark 29:status")
_FOREX = _fmap("1:bid 2:ask 3:last 4:bid_size 5:ask_size 6:volume 7:last_size 8:quote_ms 9:trade_ms 10:high "
               "11:low 12:close 14:description 15:open 16:net_change 20:status 29:mark")
LEVEL_ONE: Mapping[str, Mapping[str, Mapping[str, str]]] = {
    "tda": {"QUOTE": _TDA_EQ, "OPTION": _TDA_OPT, "LEVELONE_FUTURES": _FUT, "LEVELONE_FUTURES_OPTIONS": _FUT,
            "LEVELONE_FOREX": _FOREX},
    "schwab": {"LEVELONE_EQUITIES": _SCHWAB_EQ, "LEVELONE_OPTIONS": _SCHWAB_OPT, "LEVELONE_FUTURES": _FUT,
               "LEVELONE_FUTURES_OPTIONS": _FUT_OPT, "LEVELONE_FOREX": _FOREX},
}
_EASTERN = ZoneInfo("America/New_York")
_CENTRAL = ZoneInfo("America/Chicago")


def _since_midnight_ms(t: float, zone: ZoneInfo) -> int:
    local = _dt.datetime.fromtimestamp(t, tz=zone)
    return ((local.hour * 60 + local.minute) * 60 + local.second) * 1000 + local.microsecond // 1000


class TDSchwabData:
    """Builds content items for one ``variant`` from ``market``."""

    def __init__(self, market: SyntheticMarket, variant: str) -> None:
        self.market = market
        self.variant = variant

    def service_asset(self, service: str) -> Optional[str]:
        """The instrument class ``service`` streams (None: not a per-instrument service)."""
        return _ASSET.get(service)

    def level_one(self, symbol: str, t: float, asset: str = "equity") -> Dict[str, Any]:
        """Every level-one value the emulator models for ``symbol`` (of class ``asset``) at ``t``, by value
        name."""
        m = self.market
        bid, ask, bid_size, ask_size = m.quote(symbol, t)
        last, last_size, volume = m.trade(symbol, t)
        day = int(t // 86400) * 86400
        c = m.candle(symbol, day, 86400, t)
        close = m.price(symbol, day - 1)
        lots = self.variant == "tda"
        # TDA sent equity sizes in lots of 100 (section 9 item 13); TDA's futures change is a ratio (item 12).
        div = 100.0 if lots and asset == "equity" else 1.0
        change = round(last - close, 4)
        return {"bid": bid, "ask": ask, "last": last, "bid_size": bid_size / div, "ask_size": ask_size / div,
                "last_size": last_size / div, "volume": volume, "high": c.high, "low": c.low, "close": close,
                "open": c.open, "net_change": change, "mark": round((bid + ask) / 2, 4),
                "net_change_pct": round(100 * change / close, 4) if close else 0.0,
                "change_pct": round((change / close) * (1 if lots else 100), 6) if close else 0.0,
                "ask_id": "Q", "bid_id": "P", "last_id": "D", "exchange": "q", "exchange_name": "NASDAQ",
                "marginable": True, "shortable": True, "description": f"{symbol} synthetic", "status": "Normal",
                "quote_ms": ms(t), "trade_ms": ms(t), "quote_sec": int(t) % 86400, "trade_sec": int(t) % 86400,
                "open_interest": float(1000 + zlib.crc32(symbol.encode()) % 50000)}

    def meta(self, service: str, symbol: str) -> Dict[str, Any]:
        """The metadata keys of a first (full) level-one message (section 3.2)."""
        asset = _ASSET.get(service, "equity")
        out: Dict[str, Any] = {"delayed": False, "assetMainType": _MAIN_TYPE[asset]}
        if asset == "equity":
            if self.variant == "schwab":
                out["assetSubType"] = "ETF" if symbol in ETFS else "COE"
            out["cusip"] = f"{zlib.crc32(symbol.encode()) % 10 ** 9:09d}"
        elif asset == "option":
            out["cusip"] = ""
        return out

    def chart(self, service: str, symbol: str, start: int, seq: int) -> Dict[str, Any]:
        """One finished one-minute candle starting at ``start`` (section 7.9, variant-correct layout)."""
        c = self.market.candle(symbol, start, 60)
        if service == "CHART_FUTURES":
            return {"seq": seq, "key": symbol, "1": ms(start), "2": c.open, "3": c.high, "4": c.low, "5": c.close,
                    "6": c.volume}
        # The sequence looks like minutes since 07:00 ET on Schwab; opaque either way.
        local = _dt.datetime.fromtimestamp(start, tz=_EASTERN)
        sequence = (local.hour - 7) * 60 + local.minute
        day = start // 86400
        if self.variant == "schwab":
            return {"seq": seq, "key": symbol, "1": sequence, "2": c.open, "3": c.high, "4": c.low, "5": c.close,
                    "6": c.volume, "7": ms(start), "8": day}
        return {"seq": seq, "key": symbol, "1": c.open, "2": c.high, "3": c.low, "4": c.close, "5": c.volume,
                "6": sequence, "7": ms(start), "8": day}

    def book(self, symbol: str, t: float) -> Dict[str, Any]:
        """A whole book (section 7.10); entry times in ms since midnight Central (TDA) or Eastern (Schwab)."""
        bid, ask, _, _ = self.market.quote(symbol, t)
        entry_t = _since_midnight_ms(t, _CENTRAL if self.variant == "tda" else _EASTERN)
        depth = 3 + int(t) % 3
        venues = ("NSDQ", "arcx", "edgx", "batx")

        def side(best: float, step: float) -> List[Dict[str, Any]]:
            levels = []
            for i in range(depth):
                sizes = [100 * (1 + (i + j) % 3) for j in range(1 + i % 2)]
                entries = [{"0": venues[(i + j) % 4], "1": size, "2": entry_t - 50 * j}
                           for j, size in enumerate(sizes)]
                levels.append({"0": round(best + step * i, 2), "1": sum(sizes),
                               "2": len(entries), "3": entries})
            return levels
        return {"key": symbol, "1": ms(t), "2": side(bid, -0.01), "3": side(ask, 0.01)}

    def timesale(self, symbol: str, t: float, seq: int) -> Dict[str, Any]:
        """One print (section 7.11)."""
        price, size, _ = self.market.trade(symbol, t)
        return {"seq": seq, "key": symbol, "1": ms(t), "2": price, "3": size, "4": seq + 100000}

    def account(self, key: str, account: str, seq: int) -> Dict[str, Any]:
        """An ACCT_ACTIVITY item (section 7.14): the SUBSCRIBED notice a fresh subscription gets."""
        return {"seq": seq, "key": key, "1": account, "2": "SUBSCRIBED", "3": ""}

    def news(self, key: str, t: float, seq: int) -> Dict[str, Any]:
        """A NEWS_HEADLINE item (section 7.12, TDA): a synthetic headline about ``key``."""
        return {"seq": seq, "key": key, "delayed": False, "1": 0, "2": ms(t), "3": f"0S{seq:011d}", "4": "Active",
                "5": f"{key} synthetic headline {seq}", "6": f"0S{seq + 1:010d}", "7": "1", "8": key, "9": False,
                "10": "Emulator Wire"}

    def screener(self, key: str, t: float) -> Dict[str, Any]:
        """A SCREENER_* item (section 7.13): named keys inside field 4."""
        parts = key.rsplit("_", 1)
        frequency = int(parts[1]) if len(parts) == 2 and parts[1].isdigit() else 0
        names = sorted(ETFS)[:5]
        items = []
        for i, name in enumerate(names):
            last, _, volume = self.market.trade(name, t)
            items.append({"symbol": name, "description": f"{name} synthetic", "lastPrice": last,
                          "netChange": round(last - self.market.price(name, t - 86400), 2),
                          "netPercentChange": 0.01 * (i + 1), "marketShare": 5.0 - i, "totalVolume": int(volume),
                          "volume": int(volume) // 10, "trades": 100 + i})
        sort_field = key.split("_")[-2] if key.count("_") >= 2 else "VOLUME"
        return {"key": key, "1": ms(t), "2": sort_field, "3": frequency, "4": items}
