"""DXLink event decoding: FEED_DATA (COMPACT and FULL) to mdsdk events.

Pure functions and tables. Each DXLink event type has a field table (data,
:mod:`mdsdk.providers.fields`); bound once per (event type, field list) to the
field order the server announced in FEED_CONFIG, it decodes whole COMPACT
arrays column by column. Special doubles arrive as the strings
``"NaN"``/``"Infinity"``, which ``float()`` already understands.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from ...events import EMPTY, Bar, Event, Profile, Quote, Summary, Trade
from ..fields import (MAX_MS, NS_PER_MS, Converter, Field, Table, flag, int_or_zero, integer, ms_ns, num,
                      snake, text)

__all__ = [
    "REQUEST_FIELDS", "KNOWN_LAYOUTS", "TX_PENDING", "REMOVE_EVENT", "SNAPSHOT_BEGIN",
    "SNAPSHOT_END", "SNAPSHOT_SNIP", "Decoder", "compile_decoder", "CandleRow", "num", "TABLES",
    "candle_symbol", "candle_key", "split_candle_symbol", "guess_layout", "snake",
]

TX_PENDING = 0x01
REMOVE_EVENT = 0x02
SNAPSHOT_BEGIN = 0x04
SNAPSHOT_END = 0x08
SNAPSHOT_SNIP = 0x10

# What mdsdk asks for in FEED_SETUP. Order matters only to us: decoding
# always follows the server's FEED_CONFIG.
REQUEST_FIELDS: Dict[str, List[str]] = {
    # Lean on purpose: Quote is the busiest stream, and every field costs
    # parse time on both ends. timeNanoPart gives the time to the nanosecond.
    "Quote": ["eventType", "eventSymbol", "bidTime", "askTime", "timeNanoPart", "bidPrice", "bidSize",
              "askPrice", "askSize"],
    "Trade": ["eventType", "eventSymbol", "eventTime", "time", "exchangeCode", "price", "change",
              "size", "dayVolume", "dayTurnover", "tickDirection", "extendedTradingHours"],
    "Summary": ["eventType", "eventSymbol", "eventTime", "dayId", "dayOpenPrice", "dayHighPrice",
                "dayLowPrice", "dayClosePrice", "dayClosePriceType", "prevDayId",
                "prevDayClosePrice", "prevDayClosePriceType", "prevDayVolume", "openInterest"],
    "Profile": ["eventType", "eventSymbol", "eventTime", "description", "shortSaleRestriction",
                "tradingStatus", "statusReason", "haltStartTime", "haltEndTime", "highLimitPrice",
                "lowLimitPrice", "high52WeekPrice", "low52WeekPrice"],
    "Candle": ["eventType", "eventSymbol", "eventTime", "eventFlags", "index", "time", "sequence",
               "count", "open", "high", "low", "close", "volume", "vwap", "bidVolume", "askVolume",
               "impVolatility", "openInterest"],
}
REQUEST_FIELDS["TradeETH"] = list(REQUEST_FIELDS["Trade"])

# Layouts seen in the wild, used to decode COMPACT data that arrives before
# (or without) a FEED_CONFIG, as in captures that start mid-stream.
_TT_DOC = {
    "Trade": ["eventType", "eventSymbol", "price", "dayVolume", "size"],
    "Quote": ["eventType", "eventSymbol", "bidPrice", "askPrice", "bidSize", "askSize"],
    "Greeks": ["eventType", "eventSymbol", "volatility", "delta", "gamma", "theta", "rho", "vega"],
    "Profile": ["eventType", "eventSymbol", "description", "shortSaleRestriction", "tradingStatus",
                "statusReason", "haltStartTime", "haltEndTime", "highLimitPrice", "lowLimitPrice",
                "high52WeekPrice", "low52WeekPrice"],
    "Summary": ["eventType", "eventSymbol", "openInterest", "dayOpenPrice", "dayHighPrice",
                "dayLowPrice", "prevDayClosePrice"],
}
_TT_DOC["TradeETH"] = _TT_DOC["Trade"]
_SERVER_DEFAULT_QUOTE = ["eventType", "eventSymbol", "eventTime", "sequence", "timeNanoPart",
                         "bidTime", "bidExchangeCode", "bidPrice", "bidSize", "askTime",
                         "askExchangeCode", "askPrice", "askSize"]
# The dxLink AsyncAPI example frame puts the symbol before the type.
_SPEC_EXAMPLE = {"Quote": ["eventSymbol", "eventType", "bidPrice", "askPrice"],
                 "Trade": ["eventSymbol", "eventType", "price", "size"]}
KNOWN_LAYOUTS: Dict[str, List[List[str]]] = {}
for _src in (REQUEST_FIELDS, _TT_DOC, {"Quote": _SERVER_DEFAULT_QUOTE}, _SPEC_EXAMPLE):
    for _t, _f in _src.items():
        KNOWN_LAYOUTS.setdefault(_t, []).append(list(_f))


_TEXT_EXTRAS = ("bidExchangeCode", "askExchangeCode", "exchangeCode", "tickDirection", "description",
                "shortSaleRestriction", "tradingStatus", "statusReason", "dayClosePriceType",
                "prevDayClosePriceType")
_INT_EXTRAS = ("dayId", "prevDayId", "sequence", "count", "index", "eventFlags", "timeNanoPart")
_TIME_EXTRAS = ("haltStartTime", "haltEndTime", "bidTime", "askTime", "eventTime")
# How a wire field that no table names is converted on its way to ``extra``
# (any other goes through ``num``).
_EXTRA_CONVERT: Dict[str, Converter] = {
    **{n: text for n in _TEXT_EXTRAS}, **{n: integer for n in _INT_EXTRAS}, **{n: ms_ns for n in _TIME_EXTRAS},
    "extendedTradingHours": flag,
}
_SKIP = frozenset({"eventType", "eventSymbol", "timeNanoPart"})


def _table(cls: type, time: Tuple[str, ...], nanos: Optional[str] = "timeNanoPart",
           **ours: str) -> Table[Any]:
    """A DXLink event table: ``ours`` maps our attribute to the wire field."""
    texts = {"description", "trading_status"}
    fields = tuple(Field(a, w, text if a in texts else num) for a, w in ours.items())
    return Table(cls, fields, symbol="eventSymbol", time=time, nanos=nanos, skip=_SKIP,
                 extra_convert=_EXTRA_CONVERT, rest=num)


TABLES: Dict[str, Table[Any]] = {
    "Quote": _table(Quote, ("bidTime", "askTime", "eventTime"), bid="bidPrice", ask="askPrice",
                    bid_size="bidSize", ask_size="askSize"),
    "Trade": _table(Trade, ("time", "eventTime"), price="price", size="size", day_volume="dayVolume"),
    "Summary": _table(Summary, ("eventTime",), open="dayOpenPrice", high="dayHighPrice", low="dayLowPrice",
                      close="dayClosePrice", prev_close="prevDayClosePrice", volume="dayVolume",
                      open_interest="openInterest"),
    # Profile's eventTime is not a market time: the sub-millisecond part does not apply.
    "Profile": _table(Profile, ("eventTime",), None, description="description", trading_status="tradingStatus"),
}
# TradeETH is a Trade of the extended session; servers that leave out the flag still mean it.
TABLES["TradeETH"] = dataclasses.replace(TABLES["Trade"],
                                         if_absent=(("extendedTradingHours", "extended_hours", True),))

Decoder = Callable[[Sequence[Any], int], List[Event]]


def compile_decoder(event_type: str, names: Sequence[str], provider: str) -> Optional[Decoder]:
    """Build ``decode(values, received_ns) -> [Event, ...]`` for a COMPACT
    values array of one DXLink event type laid out as ``names`` (a FULL
    object's values are the one-event case). None for types mdsdk does not
    map or layouts without ``eventSymbol``; Candle rows go through
    :class:`CandleRow` instead. The decoder is the type's field table bound
    to this layout (see :mod:`mdsdk.providers.fields`)."""
    table = TABLES.get(event_type)
    if table is None or "eventSymbol" not in names:
        return None
    return table.rows(names, provider)


@dataclasses.dataclass(slots=True)
class CandleRow:
    """One Candle event decoded to plain values, before it becomes a Bar
    (history needs the flags and index that a Bar does not carry). ``time``
    is epoch nanoseconds, ``time_ms`` the same in milliseconds."""

    symbol: str
    time: int
    flags: int = 0
    index: int = 0
    open: float = math.nan
    high: float = math.nan
    low: float = math.nan
    close: float = math.nan
    volume: float = math.nan
    extra: Mapping[str, Any] = EMPTY

    @property
    def time_ms(self) -> int:
        """The candle's start in epoch milliseconds."""
        return self.time // NS_PER_MS

    @classmethod
    def compile(cls, names: Sequence[str]) -> Callable[[Sequence[Any], int], "CandleRow"]:
        """A decoder of the Candle row at offset ``o`` of a values array laid out
        as ``names``. A row without a symbol raises ValueError."""
        if "VWAP" in names and "vwap" not in names:
            names = ["vwap" if n == "VWAP" else n for n in names]
        rows = _CANDLE.rows(names, "")
        stride = len(names)

        def decode(values: Sequence[Any], o: int) -> CandleRow:
            found = rows.decode_rows(values[o:o + stride], stride, 0)
            if not found:
                raise ValueError("a Candle row without a symbol")
            row = found[0]
            if not row.time:
                # No time field: the index carries the candle's start in seconds.
                ms = (row.index >> 32) * 1000
                row.time = ms * NS_PER_MS if 0 <= ms < MAX_MS else 0
            return row

        return decode

    def bar(self, symbol: str, interval: str, provider: str, complete: bool) -> Bar:
        """This row as a Bar of ``symbol``/``interval``."""
        return Bar(symbol, self.time, provider, interval=interval, open=self.open, high=self.high, low=self.low,
                   close=self.close, volume=self.volume, complete=complete, extra=self.extra)


# Every other Candle field lands in ``extra`` as a number (count and
# volumes included), unlike the ticker types.
_CANDLE: Table[CandleRow] = Table(
    CandleRow, tuple(Field(a, w, int_or_zero if a in ("flags", "index") else num) for a, w in (
        ("flags", "eventFlags"), ("index", "index"), ("open", "open"), ("high", "high"), ("low", "low"),
        ("close", "close"), ("volume", "volume"))),
    symbol="eventSymbol", time=("time",), skip=frozenset({"eventType", "eventSymbol", "eventTime", "sequence",
                                                          "VWAP"}), rest=num)


# ---------------------------------------------------------------- candle symbols
_DX_UNITS = {"s": "s", "m": "m", "h": "h", "d": "d", "w": "w", "mo": "mo"}


def candle_symbol(symbol: str, count: int, unit: str) -> str:
    """``("AAPL", 5, "m")`` -> ``"AAPL{=5m}"`` (dxFeed candle symbol syntax)."""
    return f"{symbol}{{={count}{_DX_UNITS[unit]}}}"


_CANDLE_RE = re.compile(r"^(?P<base>[^{]*)\{(?P<attrs>[^}]*)\}$")
_PERIOD_RE = re.compile(r"^(?P<n>\d*\.?\d*)(?P<u>[a-zA-Z]+)$")
_UNIT_CANON = {"t": "t", "tick": "t", "s": "s", "sec": "s", "second": "s", "m": "m", "min": "m",
               "minute": "m", "h": "h", "hour": "h", "d": "d", "day": "d", "w": "w", "week": "w",
               "mo": "mo", "month": "mo", "y": "y", "year": "y"}


def split_candle_symbol(text: str) -> Tuple[str, Dict[str, str]]:
    """``"AAPL{=5m,tho=true}"`` -> ``("AAPL", {"": "5m", "tho": "true"})``."""
    m = _CANDLE_RE.match(text)
    if not m:
        return text, {}
    attrs: Dict[str, str] = {}
    for part in m.group("attrs").split(","):
        if "=" in part:
            k, v = part.split("=", 1)
            attrs[k.strip()] = v.strip()
    return m.group("base"), attrs


def candle_key(text: str) -> str:
    """A normal form of a candle symbol so that ``{=1d}``, ``{=d}`` and
    ``{=1D}`` compare equal (dxFeed echoes its own normal form)."""
    base, attrs = split_candle_symbol(text)
    period = attrs.pop("", "")
    pm = _PERIOD_RE.match(period)
    if pm:
        n = pm.group("n") or "1"
        n = n.rstrip("0").rstrip(".") if "." in n else n
        unit = _UNIT_CANON.get(pm.group("u").lower(), pm.group("u").lower())
        period = f"{'' if n == '1' else n}{unit}"
    rest = ",".join(f"{k}={v.lower()}" for k, v in sorted(attrs.items()))
    return f"{base}{{={period}{',' + rest if rest else ''}}}"


def guess_layout(event_type: str, values: Sequence[Any]) -> Optional[List[str]]:
    """Guess the field list of a COMPACT values array that arrived without a
    FEED_CONFIG: find where the type name sits (first or second field) and
    the stride at which it repeats, then pick the known layout of that shape.
    None when nothing fits."""
    n = len(values)
    for first in (0, 1):
        if n <= first or values[first] != event_type:
            continue
        stride = n
        for i in range(first + 1, n):
            if n % i == 0 and all(values[j] == event_type for j in range(first, n, i)):
                stride = i
                break
        for layout in KNOWN_LAYOUTS.get(event_type, []):
            if len(layout) == stride and layout.index("eventType") == first:
                return layout
    return None
