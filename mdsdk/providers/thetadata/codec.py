"""Theta Terminal stream frames -> mdsdk events (pure; no I/O, no clock). protocols/thetadata.md section 3.

Every frame is an object with a ``header`` (``type``, ``status``); data frames add the ``contract`` and one payload
named after the type (``trade``, ``quote``, ``ohlc``). They are read with typed msgspec structs (one C pass per
frame, field order free); a frame the structs refuse is re-read as plain JSON only to say why it was skipped.

* TRADE -> :class:`~mdsdk.events.Trade` (an index's price report too: ``price`` is the index level, ``size`` nan,
  as only the price is meaningful there); QUOTE -> :class:`~mdsdk.events.Quote`; OHLC (the session so far, sent
  with each trade) -> :class:`~mdsdk.events.Bar` with ``interval="1d"``, ``complete=False``, ``time`` the session's
  date at midnight New York time.
* Times: ``date`` (YYYYMMDD) plus ``ms_of_day`` are New York wall-clock time, made UTC with ``zoneinfo`` per hour
  (DST changes happen on the hour, so the offset cached for each date and hour is exact on both transition days; the
  repeated autumn hour is read as its first pass, the Terminal sending no offset to tell them apart).
* ``sequence`` is a signed 32-bit counter that runs past 2**31 into negative numbers; ``extra["sequence"]`` is it
  read as unsigned (``-600833752`` -> ``3694133544``), so it keeps increasing across that wrap.
* Exchange and condition codes, the trade count and the raw status go to ``extra``.
"""

from __future__ import annotations

import datetime as _dt
import math
from typing import Any, Callable, Dict, List, Optional, Set, Tuple, Union

import msgspec

from ...events import Bar, Event, Quote, Trade
from ..convert import NS_PER_MS
from ..core import loads, remember
from ..ledger import Sequences
from .contracts import symbol_of

__all__ = ["Codec", "Header", "Decoded", "eastern_ns", "new_york"]

NAN = math.nan
_U32 = 1 << 32
_I64 = 1 << 63
_DAY_MS = 86_400_000
_HOUR_MS = 3_600_000


class Header(msgspec.Struct, frozen=True):
    """A frame's ``header``: every frame has one."""

    type: str
    status: Optional[str] = None
    response: Optional[str] = None
    req_id: Optional[int] = None


class _Contract(msgspec.Struct):
    security_type: str
    root: str
    expiration: Optional[int] = None
    strike: Optional[int] = None
    right: Optional[str] = None


class _Trade(msgspec.Struct):
    ms_of_day: int
    date: int
    price: float
    size: float = NAN
    sequence: Optional[int] = None
    condition: Optional[int] = None
    exchange: Optional[int] = None


class _Quote(msgspec.Struct):
    ms_of_day: int
    date: int
    bid: float = NAN
    ask: float = NAN
    bid_size: float = NAN
    ask_size: float = NAN
    bid_exchange: Optional[int] = None
    ask_exchange: Optional[int] = None
    bid_condition: Optional[int] = None
    ask_condition: Optional[int] = None


class _Ohlc(msgspec.Struct):
    ms_of_day: int
    date: int
    open: float = NAN
    high: float = NAN
    low: float = NAN
    close: float = NAN
    volume: float = NAN
    count: Optional[int] = None


class _Frame(msgspec.Struct):
    header: Header
    contract: Optional[_Contract] = None
    trade: Optional[_Trade] = None
    quote: Optional[_Quote] = None
    ohlc: Optional[_Ohlc] = None


_decode = msgspec.json.Decoder(_Frame).decode
_NY: Optional[_dt.tzinfo] = None


def new_york() -> _dt.tzinfo:
    """The America/New_York zone (EST all year where the system has no tz database)."""
    global _NY
    if _NY is None:
        try:
            import zoneinfo
            _NY = zoneinfo.ZoneInfo("America/New_York")
        except Exception:  # noqa: BLE001 - no tz database: EST all year beats no times at all
            _NY = _dt.timezone(_dt.timedelta(hours=-5))
    return _NY


_bases: Dict[Tuple[int, int], int] = {}  # (date, hour) -> UTC epoch ms of that date's local midnight
_EPOCH_DAY = _dt.date(1970, 1, 1).toordinal()


def eastern_ns(date: int, ms_of_day: int) -> int:
    """UTC epoch ns of New York wall-clock ``ms_of_day`` on ``date`` (YYYYMMDD); ValueError when either is out of
    range (a date that does not exist, a time past the day)."""
    if not 0 <= ms_of_day < _DAY_MS + _HOUR_MS:  # a session's last print may be stamped 24:00:00.xxx
        raise ValueError(f"ms_of_day {ms_of_day} is outside the day")
    if not 19700102 <= date <= 22001231:  # epoch ns must stay positive and within int64
        raise ValueError(f"date {date} is outside 1970-2200")
    key = (date, ms_of_day // _HOUR_MS)
    base = _bases.get(key)
    if base is None:
        y, rest = divmod(date, 10000)
        day = _dt.date(y, rest // 100, rest % 100)  # ValueError for a date that does not exist
        # Aware datetime + timedelta is wall-clock arithmetic: this is the hour as New York clocks show it.
        local = _dt.datetime(day.year, day.month, day.day, tzinfo=new_york()) + _dt.timedelta(hours=key[1])
        offset_ms = int(local.utcoffset().total_seconds() * 1000)  # type: ignore[union-attr]
        base = remember(_bases, key, (day.toordinal() - _EPOCH_DAY) * _DAY_MS - offset_ms)
    return (base + ms_of_day) * NS_PER_MS


class Decoded(msgspec.Struct):
    """Everything one frame holds for the protocol object: events, the header, or why it was skipped."""

    header: Optional[Header] = None
    events: List[Event] = msgspec.field(default_factory=list)
    malformed: Optional[str] = None
    gap: Optional[Tuple[str, int, int]] = None  # (security type, first, last) sequence numbers that never came


class Codec:
    """Decodes the Terminal's frames for one provider name."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self._symbols: Dict[Tuple[Any, ...], Optional[str]] = {}
        # Security types whose full stream (STREAM_BULK) is on: their feed's every trade comes, so its sequence
        # must not skip. One contract's trades are a sample of the feed, skips normal: never counted.
        self.counted: Set[str] = set()
        self.sequences = Sequences(modulus=_U32)
        self._gap: Optional[Tuple[str, int, int]] = None
        self._payloads: Dict[str, Callable[[_Frame, str], Optional[Event]]] = {
            "TRADE": self._trade, "QUOTE": self._quote, "OHLC": self._ohlc}

    def decode(self, text: Union[str, bytes]) -> Decoded:
        """One frame (see the module docstring); never raises."""
        try:
            frame = _decode(text)
        except (msgspec.DecodeError, RecursionError) as exc:
            return Decoded(malformed=_why(text, exc))
        build = self._payloads.get(frame.header.type)
        if build is None:
            return Decoded(frame.header)
        symbol = self._symbol(frame.contract)
        if symbol is None:
            return Decoded(frame.header, malformed=f"a {frame.header.type} frame without a usable contract")
        try:
            event = build(frame, symbol)
        except (ValueError, OverflowError) as exc:
            return Decoded(frame.header, malformed=f"{frame.header.type} {symbol}: {exc}")
        if event is None:
            return Decoded(frame.header, malformed=f"a {frame.header.type} frame without its payload")
        if self._gap is not None:
            gap, self._gap = self._gap, None
            return Decoded(frame.header, [event], gap=gap)
        return Decoded(frame.header, [event])

    def _symbol(self, c: Optional[_Contract]) -> Optional[str]:
        if c is None:
            return None
        key = (c.security_type, c.root, c.expiration, c.strike, c.right)
        if key not in self._symbols:
            remember(self._symbols, key, symbol_of(msgspec.structs.asdict(c)))
        return self._symbols[key]

    def _trade(self, f: _Frame, symbol: str) -> Optional[Event]:
        t = f.trade
        if t is None:
            return None
        extra = _codes(("condition", t.condition), ("exchange", t.exchange))
        if t.sequence is not None and -_U32 < t.sequence < _U32:
            extra["sequence"] = seq = t.sequence % _U32
            kind = f.contract.security_type if f.contract is not None else None
            if kind in self.counted and seq:
                news = self.sequences.seen(kind, seq)
                if news.__class__ is tuple:
                    self._gap = (kind, *news)
        size = NAN if symbol.startswith("$") else _finite(t.size)
        return Trade(symbol, eastern_ns(t.date, t.ms_of_day), self.provider, _finite(t.price), size, NAN,
                     extra=extra)

    def _quote(self, f: _Frame, symbol: str) -> Optional[Event]:
        q = f.quote
        if q is None:
            return None
        extra = _codes(("bid_exchange", q.bid_exchange), ("ask_exchange", q.ask_exchange),
                       ("bid_condition", q.bid_condition), ("ask_condition", q.ask_condition))
        return Quote(symbol, eastern_ns(q.date, q.ms_of_day), self.provider, _finite(q.bid), _finite(q.ask),
                     _finite(q.bid_size), _finite(q.ask_size), extra=extra)

    def _ohlc(self, f: _Frame, symbol: str) -> Optional[Event]:
        o = f.ohlc
        if o is None:
            return None
        eastern_ns(o.date, o.ms_of_day)  # the same checks as every time, though the bar starts at midnight
        extra = _codes(("count", o.count))
        return Bar(symbol, eastern_ns(o.date, 0), self.provider, "1d", _finite(o.open), _finite(o.high),
                   _finite(o.low), _finite(o.close), _finite(o.volume), False, extra=extra)


def _codes(*pairs: Tuple[str, Optional[int]]) -> Dict[str, object]:
    """The integer codes a payload carried, for ``extra``: absent ones and ones past int64 (msgspec reads up to
    uint64) left out."""
    return {k: v for k, v in pairs if v is not None and -_I64 <= v < _I64}


def _finite(x: float) -> float:
    return x if math.isfinite(x) else NAN


def _why(text: Union[str, bytes], exc: Exception) -> str:
    """Why a frame failed the structs: not JSON at all, or JSON of the wrong shape (msgspec says where)."""
    try:
        loads(text)
    except (ValueError, RecursionError):
        return "not JSON"
    return f"unexpected shape ({str(exc)[:160]})"
