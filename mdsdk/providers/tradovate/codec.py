"""Tradovate wire format, pure: frames, request documents, times, DOM
levels, chart bars and tick packets (quotes are :mod:`.quotes`). See
../shared/protocols/tradovate.md sections 3-7.

Server frames start with a type character: ``o`` open, ``h`` heartbeat,
``a[...]`` a JSON array of responses (``i``/``s``/``d``) and events
(``e``/``d``), ``c[code,"reason"]`` close. Client frames are ``[]`` (heartbeat)
or ``endpoint\\nid\\nquery\\nbody``.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ...errors import UnsupportedError
from ...events import Bar, BookSnapshot, Trade
from ...intervals import Interval
from ...series import BarSeries, extra_names
from ..core import loads
from ..fields import MAX_MS, NS_PER_MS, Field, Table, integer, num, snake, strict_num

__all__ = ["parse_frame", "encode_request", "HEARTBEAT", "MAX_PENALTY", "penalty_wait", "iso_to_ns", "ns_to_iso",
           "chart_description", "bar_from_packet", "bar_start", "bar_series",
           "ticks_from_packet", "book_from_dom", "error_text", "contract_id"]

HEARTBEAT = "[]"
MAX_PENALTY = 3600.0  # seconds: a p-time beyond this (or not a number) is clamped
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)


def parse_frame(text: str) -> Tuple[str, Any]:
    """``(kind, payload)`` of a server frame: ``("open", None)``,
    ``("heartbeat", None)``, ``("array", [items])`` or ``("close", (code, reason))``.
    Raises ValueError for anything else."""
    if not text:
        raise ValueError("empty frame")
    head = text[0]
    if head == "a":
        items = loads(text[1:])
        if not isinstance(items, list):
            raise ValueError("'a' frame without a JSON array")
        return "array", items
    if head == "h":
        return "heartbeat", None
    if head == "o":
        return "open", None
    if head == "c":
        rest = text[1:].strip()
        code, reason = None, ""
        if rest:
            parsed = loads(rest)
            if isinstance(parsed, list) and parsed:
                code = parsed[0] if isinstance(parsed[0], int) else None
                reason = str(parsed[1]) if len(parsed) > 1 else ""
        return "close", (code, reason)
    raise ValueError(f"unknown frame type {head!r}")


def encode_request(endpoint: str, request_id: int, body: Any = None, query: str = "") -> str:
    """The request document ``endpoint\\nid\\nquery\\nbody``; a str body is
    sent raw (``authorize`` takes the bare token), anything else as JSON."""
    if body is None:
        text = ""
    elif isinstance(body, str):
        text = body
    else:
        text = json.dumps(body, separators=(",", ":"))
    return f"{endpoint}\n{request_id}\n{query}\n{text}"


def iso_to_ns(text: Any) -> int:
    """``"2021-04-13T04:59:06.588Z"`` -> epoch nanoseconds (0 if unparseable)."""
    if not isinstance(text, str) or not text:
        return 0
    try:
        dt = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return 0
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=_dt.timezone.utc)
    delta = dt - _EPOCH
    ns = (delta.days * 86400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
    return ns if 0 < ns < MAX_MS * NS_PER_MS else 0  # before 1970 or after 2255 is as unreadable as garbage


def contract_id(value: Any) -> int:
    """A ``contractId`` as a positive int64; ValueError for anything else
    (a string, a list, an infinity, a number beyond int64)."""
    cid: Optional[int] = integer(value) if value.__class__ is not bool else None
    if cid is None or cid <= 0:
        raise ValueError(f"contractId {str(value)[:40]!r} is not a positive int64")
    return cid


def ns_to_iso(ns: int) -> str:
    """Epoch nanoseconds -> ISO text with milliseconds and ``Z``."""
    dt = _EPOCH + _dt.timedelta(microseconds=ns // 1000)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def error_text(d: Any) -> str:
    """The human text of an error payload (strings may be JSON-quoted twice)."""
    if isinstance(d, str):
        try:
            inner = loads(d)
            if isinstance(inner, str):
                return inner
        except ValueError:
            pass
        return d
    if isinstance(d, dict):
        return str(d.get("errorText") or d.get("message") or d)
    return "" if d is None else str(d)


def chart_description(interval: Optional[Interval]) -> Dict[str, Any]:
    """The ``chartDescription`` for a bar interval (None = ticks).

    Tradovate charts have minute and daily bars: "5m" is MinuteBar 5, "1h"
    MinuteBar 60, "1d" DailyBar 1. Seconds, weeks and months are not offered.
    """
    if interval is None:
        return {"underlyingType": "Tick", "elementSize": 1, "elementSizeUnit": "UnderlyingUnits",
                "withHistogram": False}
    if interval.unit in ("m", "h"):
        size = interval.count * (60 if interval.unit == "h" else 1)
        return {"underlyingType": "MinuteBar", "elementSize": size, "elementSizeUnit": "UnderlyingUnits",
                "withHistogram": False}
    if interval.unit == "d" and interval.count == 1:
        return {"underlyingType": "DailyBar", "elementSize": 1, "elementSizeUnit": "UnderlyingUnits",
                "withHistogram": False}
    raise UnsupportedError(f"Tradovate charts offer minute bars (1m, 5m, 1h, ...) and 1d bars, not {interval}; "
                           "resample a finer interval with pandas")


# A ``bars[]`` item of a chart packet. Its symbol, interval and trade date come
# from the chart it belongs to, and its volume is the sum of two fields.
_BAR = Table(Bar, tuple(Field(snake(w), w, strict_num) for w in (
    "open", "high", "low", "close", "upVolume", "downVolume", "upTicks", "downTicks", "bidVolume",
    "offerVolume")), time=("timestamp",), time_convert=iso_to_ns, rest=None).dicts("tradovate")


def bar_from_packet(bar: Mapping[str, Any], symbol: str, interval: str, provider: str, td: Any,
                    complete: bool) -> Bar:
    """One ``bars[]`` item as a Bar (volume = upVolume + downVolume; time 0
    when its timestamp is missing or unreadable)."""
    volume = _volume(strict_num(bar.get("upVolume")), strict_num(bar.get("downVolume")))
    td = integer(td)
    return _BAR.decode_dicts([bar], 0, symbol=symbol, provider=provider, interval=interval, volume=volume,
                             complete=complete, extra={"trade_date": td} if td is not None else None)[0]


def bar_start(bar: Any) -> int:
    """The start (epoch ns) of one ``bars[]`` item, 0 when it has no readable timestamp."""
    return iso_to_ns(bar.get("timestamp")) if isinstance(bar, dict) else 0


def bar_series(items: Sequence[Tuple[Dict[str, Any], Any]], symbol: str, interval: str, provider: str,
               complete: Sequence[bool]) -> BarSeries:
    """History ``bars[]`` items, each with its packet's ``td`` (ascending, one per start), as a history answer's
    columns: the items decoded in one pass, the same bars :func:`bar_from_packet` makes one by one."""
    bars = _BAR.decode_dicts([raw for raw, _ in items], 0, symbol=symbol)
    keys = extra_names(b.extra for b in bars)
    nan = math.nan
    rows = [(b.time, b.open, b.high, b.low, b.close,
             _volume(b.extra.get("up_volume", nan), b.extra.get("down_volume", nan)),
             *map(b.extra.get, keys), integer(td)) for b, (_, td) in zip(bars, items)]
    return BarSeries.from_rows(symbol, provider, interval, rows, [*keys, "trade_date"], complete)


def _volume(up: Any, down: Any) -> float:
    if math.isnan(up) and math.isnan(down):
        return math.nan
    return (0.0 if math.isnan(up) else up) + (0.0 if math.isnan(down) else down)


def ticks_from_packet(packet: Mapping[str, Any], symbol: str, provider: str) -> List[Trade]:
    """Trades from a tick-chart packet (relative ``bp/bt/ts/tks`` encoding),
    sorted by time and tick id because ticks may arrive out of order."""
    bp, bt, ts = packet.get("bp"), packet.get("bt"), packet.get("ts")
    if not isinstance(bp, (int, float)) or not isinstance(bt, (int, float)) or not isinstance(ts, (int, float)):
        raise ValueError("tick packet without bp/bt/ts")
    out: List[Tuple[int, int, Trade]] = []
    for tick in packet.get("tks") or ():
        t_ms = int(bt + tick.get("t", 0))
        if not 0 < t_ms < MAX_MS:
            raise ValueError(f"tick time {t_ms} ms is out of range")
        tid = integer(tick.get("id")) if tick.get("id").__class__ is not bool else None
        extra: Dict[str, Any] = {"tick_id": tid}
        # num(): ints times an int tick size are ints, and prices are floats (finite or nan) whatever came in.
        if "bs" in tick and "b" in tick:
            extra["bid"] = num(round((bp + tick["b"]) * ts, 10))
            extra["bid_size"] = num(tick["bs"])
        if "as" in tick and "a" in tick:
            extra["ask"] = num(round((bp + tick["a"]) * ts, 10))
            extra["ask_size"] = num(tick["as"])
        trade = Trade(symbol, t_ms * 1_000_000, provider, price=num(round((bp + tick.get("p", 0)) * ts, 10)),
                      size=num(tick.get("s", math.nan)), extra=extra)
        out.append((t_ms, tid or 0, trade))
    out.sort(key=lambda x: (x[0], x[1]))
    return [t for _, _, t in out]


def book_from_dom(dom: Mapping[str, Any], symbol: str, provider: str, received_ns: int) -> BookSnapshot:
    """A ``doms[]`` item as a BookSnapshot (bids best first, asks best first)."""
    bids = tuple(sorted(_levels(dom.get("bids")), key=lambda b: -b[0]))
    asks = tuple(sorted(_levels(dom.get("offers")), key=lambda a: a[0]))
    return BookSnapshot(symbol, iso_to_ns(dom.get("timestamp")) or received_ns, provider, bids=bids, asks=asks,
                        extra={"contract_id": contract_id(dom.get("contractId"))})


def _levels(items: Any) -> List[Tuple[float, float]]:
    """``(price, size)`` of DOM levels; a level without a usable price is left out."""
    levels = [(num(x["price"]), num(x.get("size", math.nan))) for x in items or ()]
    return [lv for lv in levels if lv[0] == lv[0]]


def penalty_wait(value: Any) -> float:
    """A penalty ``p-time`` in seconds, kept within 0.05..MAX_PENALTY whatever
    the server wrote (a string, a list, NaN or null mean one second)."""
    try:
        wait = float(value if value is not None else 1)
    except (TypeError, ValueError):
        return 1.0
    return 1.0 if math.isnan(wait) else min(MAX_PENALTY, max(0.05, wait))
