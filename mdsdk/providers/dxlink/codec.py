"""DXLink event decoding: FEED_DATA (COMPACT and FULL) to mdsdk events.

Pure functions and tables. A decoder is compiled once per (event type, field
list) from the field order the server announced in FEED_CONFIG, so the hot
loop only indexes a list and converts numbers. Special doubles arrive as the
strings ``"NaN"``/``"Infinity"``, which ``float()`` already understands.
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ...events import EMPTY, Bar, Event, Profile, Quote, Summary, Trade

__all__ = [
    "REQUEST_FIELDS", "KNOWN_LAYOUTS", "TX_PENDING", "REMOVE_EVENT", "SNAPSHOT_BEGIN",
    "SNAPSHOT_END", "SNAPSHOT_SNIP", "Decoder", "compile_decoder", "CandleRow", "num",
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


def snake(name: str) -> str:
    """``bidExchangeCode`` -> ``bid_exchange_code``."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def num(v: Any) -> float:
    """A wire double as float: ``"NaN"``, ``None`` and ``""`` become nan."""
    if v.__class__ is float:
        return v
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def _text(v: Any) -> Optional[str]:
    if v is None or v == "" or v == "\u0000":
        return None
    return str(v)


def _ms_to_ns(v: Any) -> int:
    try:
        return int(v) * 1_000_000
    except (TypeError, ValueError):
        return 0


_EXTRA_CONVERT: Dict[str, Callable[[Any], Any]] = {}
for _n in ("bidExchangeCode", "askExchangeCode", "exchangeCode", "tickDirection", "description",
           "shortSaleRestriction", "tradingStatus", "statusReason", "dayClosePriceType",
           "prevDayClosePriceType"):
    _EXTRA_CONVERT[_n] = _text


def _int(v: Any) -> Optional[int]:
    if v.__class__ is int:
        return v
    return int(v) if isinstance(v, float) and math.isfinite(v) else None


for _n in ("dayId", "prevDayId", "sequence", "count", "index", "eventFlags", "timeNanoPart"):
    _EXTRA_CONVERT[_n] = _int
for _n in ("haltStartTime", "haltEndTime", "bidTime", "askTime", "eventTime"):
    _EXTRA_CONVERT[_n] = _ms_to_ns
_EXTRA_CONVERT["extendedTradingHours"] = lambda v: bool(v) if v is not None else None

# Common-field mapping per DXLink type: (event class, {our field: wire field}).
_TIME_FIELDS = {"Quote": ("bidTime", "askTime", "eventTime"), "Trade": ("time", "eventTime"),
                "Summary": ("eventTime",), "Profile": ("eventTime",), "Candle": ("time",)}
_COMMON: Dict[str, Tuple[type, Dict[str, str]]] = {
    "Quote": (Quote, {"bid": "bidPrice", "ask": "askPrice", "bid_size": "bidSize", "ask_size": "askSize"}),
    "Trade": (Trade, {"price": "price", "size": "size", "day_volume": "dayVolume"}),
    "Summary": (Summary, {"open": "dayOpenPrice", "high": "dayHighPrice", "low": "dayLowPrice",
                          "close": "dayClosePrice", "prev_close": "prevDayClosePrice",
                          "volume": "dayVolume", "open_interest": "openInterest"}),
    "Profile": (Profile, {"description": "description", "trading_status": "tradingStatus"}),
}
_COMMON["TradeETH"] = _COMMON["Trade"]
_TIME_FIELDS["TradeETH"] = _TIME_FIELDS["Trade"]
_TEXT_COMMON = {"description", "trading_status"}
_SKIP_EXTRA = {"eventType", "eventSymbol"}

Decoder = Callable[[Sequence[Any], int], List[Event]]


def compile_decoder(event_type: str, names: Sequence[str], provider: str) -> Optional[Decoder]:
    """Build ``decode(values, received_ns) -> [Event, ...]`` for a COMPACT
    values array of one DXLink event type laid out as ``names`` (a FULL
    object's values are the one-event case). None for types mdsdk does not
    map; Candle rows go through :class:`CandleRow` instead.

    The decoder is generated source with every field index inlined and the
    event's slots written directly: this loop is the SDK's hot path, and a
    generic loop over field tables costs about three times as much.
    """
    if event_type not in _COMMON:
        return None
    cls, mapping = _COMMON[event_type]
    pos = {n: i for i, n in enumerate(names)}
    if "eventSymbol" not in pos:
        return None
    stride = len(names)
    env: Dict[str, Any] = {"_new": object.__new__, "_cls": cls, "_P": provider, "_text": _text,
                           "_num": num, "_nan": math.nan}
    used = set(mapping.values()) | set(_TIME_FIELDS[event_type]) | _SKIP_EXTRA | {"timeNanoPart"}
    extras = [(snake(n), i, _EXTRA_CONVERT.get(n, num)) for i, n in enumerate(names) if n not in used]
    extra_items = []
    for j, (key, i, conv) in enumerate(extras):
        env[f"_c{j}"] = conv
        extra_items.append(f"{key!r}: _c{j}(v[o + {i}])")
    if event_type == "TradeETH" and "extendedTradingHours" not in pos:
        extra_items.append("'extended_hours': True")
    env["_EMPTY"] = EMPTY
    extra_src = "{" + ", ".join(extra_items) + "}" if extra_items else "_EMPTY"
    nano = f" + v[o + {pos['timeNanoPart']}]" if "timeNanoPart" in pos and event_type != "Profile" else ""
    times = [pos[t] for t in _TIME_FIELDS[event_type] if t in pos]

    def setters(fast: bool) -> List[str]:
        lines = []
        for name in ("symbol", "time", "provider", "extra"):
            env[f"_s_{name}"] = getattr(cls, name).__set__
        lines.append("        e = _new(_cls)")
        lines.append("        _s_symbol(e, v[o + %d])" % pos["eventSymbol"] if fast
                     else "        _s_symbol(e, str(v[o + %d]))" % pos["eventSymbol"])
        lines.append(f"        _s_time(e, t * 1000000{nano if fast else ''} if t else rn)")
        lines.append("        _s_provider(e, _P)")
        lines.append(f"        _s_extra(e, {extra_src})")
        for ours, wire in mapping.items():
            env[f"_s_{ours}"] = getattr(cls, ours).__set__
            if wire in pos:
                i = pos[wire]
                if ours in _TEXT_COMMON:
                    value = f"_text(v[o + {i}])"
                else:
                    value = f"float(v[o + {i}])" if fast else f"_num(v[o + {i}])"
            else:
                value = "None" if ours in _TEXT_COMMON else "_nan"
            lines.append(f"        _s_{ours}(e, {value})")
        lines.append("        ap(e)")
        return lines

    def time_src(fast: bool) -> List[str]:
        if not times:
            return ["        t = 0"]
        if not fast:
            fields = ", ".join(f"v[o + {i}]" for i in times)
            return [f"        t = max([x for x in ({fields},) if x.__class__ is int] or [0])"]
        out = [f"        t = v[o + {times[0]}]"]
        for i in times[1:]:
            out.append(f"        if v[o + {i}] > t: t = v[o + {i}]")
        return out

    # Fast path: walk the fields as strided slices zipped together (all in C)
    # instead of indexing v[o + i] field by field.
    body = "\n".join("    " + line for line in time_src(True) + setters(True))
    used_idx = sorted({int(m) for m in re.findall(r"v\[o \+ (\d+)\]", body)})
    body = re.sub(r"v\[o \+ (\d+)\]", r"x\1", body)
    targets = "".join(f"x{i}, " for i in used_idx)
    slices = ", ".join(f"v[{i}::{stride}]" for i in used_idx)
    src = ["def decode(v, rn):", "    out = []", "    ap = out.append", "    try:",
           f"        for ({targets}) in zip({slices}):", body]
    src += ["    except (TypeError, ValueError):",
            "        # a None, \"\" or odd time where a number belongs: redo this array slowly",
            "        return _slow(v, rn)", "    return out", "",
            "def _slow(v, rn):", "    out = []", "    ap = out.append",
            f"    for o in range(0, len(v), {stride}):"]
    src += time_src(False) + setters(False)
    src += ["    return out"]
    exec("\n".join(src), env)  # noqa: S102 - generated from field names we validated
    return env["decode"]  # type: ignore[no-any-return]


class CandleRow:
    """One Candle event decoded to plain values, before it becomes a Bar
    (history needs the flags and index that a Bar does not carry)."""

    __slots__ = ("symbol", "flags", "index", "time_ms", "open", "high", "low", "close",
                 "volume", "extra")

    def __init__(self, symbol: str, flags: int, index: int, time_ms: int, o: float, h: float,
                 lo: float, c: float, v: float, extra: Dict[str, Any]) -> None:
        self.symbol, self.flags, self.index, self.time_ms = symbol, flags, index, time_ms
        self.open, self.high, self.low, self.close, self.volume = o, h, lo, c, v
        self.extra = extra

    @classmethod
    def compile(cls, names: Sequence[str]) -> Callable[[Sequence[Any], int], "CandleRow"]:
        """A decoder of Candle rows laid out as ``names``."""
        pos = {n: i for i, n in enumerate(names)}
        if "vwap" not in pos and "VWAP" in pos:
            pos["vwap"] = pos["VWAP"]
        get = {k: pos.get(k, -1) for k in ("eventSymbol", "eventFlags", "index", "time", "open",
                                           "high", "low", "close", "volume")}
        extra_names = [(snake(n if n != "VWAP" else "vwap"), i) for n, i in pos.items()
                       if n not in get and n not in _SKIP_EXTRA and n not in ("eventTime", "sequence", "VWAP")]

        def val(values: Sequence[Any], o: int, key: str, default: Any = None) -> Any:
            i = get[key]
            return values[o + i] if i >= 0 else default

        def decode(values: Sequence[Any], o: int) -> CandleRow:
            flags = val(values, o, "eventFlags", 0)
            index = val(values, o, "index", 0)
            t = val(values, o, "time", 0)
            return cls(str(val(values, o, "eventSymbol", "")), int(flags or 0), int(index or 0),
                       int(t or (int(index or 0) >> 32) * 1000), num(val(values, o, "open")),
                       num(val(values, o, "high")), num(val(values, o, "low")),
                       num(val(values, o, "close")), num(val(values, o, "volume")),
                       {k: num(values[o + i]) for k, i in extra_names})

        return decode

    def bar(self, symbol: str, interval: str, provider: str, complete: bool) -> Bar:
        """This row as a Bar of ``symbol``/``interval``."""
        return Bar(symbol, self.time_ms * 1_000_000, provider, interval=interval, open=self.open,
                   high=self.high, low=self.low, close=self.close, volume=self.volume,
                   complete=complete, extra=self.extra)


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
