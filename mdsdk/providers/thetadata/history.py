"""Theta Terminal price history over its REST API (protocols/thetadata.md section 5), as a REST flow.

* Intraday intervals (1s up to a day) read ``/v2/hist/{stock,index,option}/ohlc`` with ``ivl`` in ms and
  ``rth=false`` (the whole day the Terminal has, as the other providers' bars), cut to the range with
  ``start_time``/``end_time`` (ms of the New York day, which the Terminal applies to every day of a request: a
  range's first day, the whole days between and its last day are asked apart); ``1d`` reads the ``eod`` report.
* Columns are read by name from ``header.format`` (never by position); bars are stamped at their open, New York
  time; an interval without trades (all prices 0) is no bar. Bars outside ``[start, end)`` are dropped.
* Pages: ``next_page`` is followed at once to the end (its value is the string ``"null"`` when there is none).
* Status codes: 472 (no data) is an empty result; 429, 474 and 571 (throttled, Terminal lost ThetaData, server
  starting) are retried with growing delays; 570 (too much data) splits the date range in two and asks for each
  half; 477 (the page expired) starts the request again once; anything else is a ProviderError quoting the
  Terminal.
"""

from __future__ import annotations

import datetime as _dt
import math
from typing import Any, Dict, Generator, List, Mapping, Optional, Sequence, Tuple
from urllib.parse import urlsplit

from ...errors import ProviderError, RateLimitedError, UnsupportedError
from ...events import Event, Quote, Trade
from ...intervals import Interval
from ...series import BarSeries
from ..base import History, HistoryResult, HttpRequest, HttpResponse, Ticks, TicksResult
from ..convert import num
from .codec import eastern_ns, new_york
from .contracts import Contract, parse_symbol

__all__ = ["history_flow", "ticks_flow", "endpoint_of", "RETRY_CODES", "RETRIES"]

RETRY_CODES = frozenset({429, 474, 571})
RETRIES = 5
_DAY = 86_400
Flow = Generator[HttpRequest, HttpResponse, List[Tuple[Sequence[Any], List[Any]]]]
_NAMES = {472: "NO_DATA", 473: "INVALID_PARAMS", 474: "DISCONNECTED", 475: "TERMINAL_PARSE", 476: "WRONG_IP",
          477: "NO_PAGE_FOUND", 470: "GENERAL", 471: "PERMISSION", 404: "NO_IMPL", 570: "LARGE_REQUEST",
          571: "SERVER_STARTING", 572: "UNCAUGHT_ERROR", 429: "OS_LIMIT"}


def endpoint_of(contract: Contract, interval: Interval) -> Tuple[str, Dict[str, Any]]:
    """The REST path and query (without dates) for bars of ``interval``; UnsupportedError for a length the
    Terminal has no report of."""
    kind = contract.sec_type.lower()
    params: Dict[str, Any] = {"root": contract.root}
    if contract.sec_type == "OPTION":
        params.update(exp=contract.expiration, strike=contract.strike, right=contract.right)
    if interval.unit == "d" and interval.count == 1:
        return f"/v2/hist/{kind}/eod", params
    if interval.unit in ("s", "m", "h") and interval.seconds < _DAY:
        return f"/v2/hist/{kind}/ohlc", dict(params, ivl=interval.seconds * 1000, rth="false")
    raise UnsupportedError(f"the Theta Terminal serves intraday bars (1s up to a day) and daily ones ('1d'), not "
                           f"{interval}")


def _date(ns: int) -> int:
    """The New York date (YYYYMMDD) of epoch ``ns``."""
    # whole seconds: ns / 1e9 rounds 23:59:59.999999999 up into the next day
    day = _dt.datetime.fromtimestamp(ns // 1_000_000_000, tz=new_york()).date()
    return day.year * 10000 + day.month * 100 + day.day


def _ms_of_day(ns: int) -> int:
    """New York milliseconds since midnight of epoch ``ns``."""
    seconds, ms = divmod(ns // 1_000_000, 1000)  # integers: a float of epoch ns rounds into the next ms
    local = _dt.datetime.fromtimestamp(seconds, tz=new_york())
    return ((local.hour * 60 + local.minute) * 60 + local.second) * 1000 + ms


def history_flow(request: History, provider: str) -> Generator[HttpRequest, HttpResponse, HistoryResult]:
    """Ask the Terminal for the bars of ``request`` (see the module docstring); the value is the result."""
    contract = parse_symbol(request.symbol)
    path, params = endpoint_of(contract, request.interval)
    daily = path.endswith("/eod")
    last_ns = max(request.start_ns, request.end_ns - 1)
    # The eod report has one row per day: asked as one range; bars are cut day by day as ticks are.
    windows = ([(_date(request.start_ns), _date(last_ns), {})] if daily
               else _day_windows(request.start_ns, last_ns, request.interval.seconds * 1000))
    pages: List[Tuple[Sequence[Any], List[Any]]] = []
    for first, last, cut in windows:
        pages += yield from _pull(path, dict(params, **cut), first, last, request.symbol)
    kept: List[Tuple[Any, ...]] = []
    for fmt, rows in pages:
        kept += [r for r in _bars(fmt, rows, request, provider, daily) if request.start_ns <= r[0] < request.end_ns]
    return HistoryResult(BarSeries.from_rows(request.symbol, provider, str(request.interval), kept, ("count",)))


def _pull(path: str, params: Mapping[str, Any], first: int, last: int, symbol: str) -> Flow:
    """Every page of one request for dates ``first..last``, retried, split or restarted as the codes say."""
    start = HttpRequest("GET", path, params=dict(params, start_date=first, end_date=last))
    req, pages, tries, restarts = start, [], 0, 0
    while True:
        resp = yield req
        if resp.status == 200:
            fmt, rows, following = _page(resp, symbol)
            pages.append((fmt, rows))
            if not following:
                return pages
            req, tries = HttpRequest("GET", following), 0
        elif resp.status == 472:
            return pages
        elif resp.status in RETRY_CODES and tries < RETRIES:
            tries += 1
            req = HttpRequest(req.method, req.path, params=req.params, delay=min(8.0, 0.25 * 2 ** tries))
        elif resp.status == 570 and not pages and first < last:
            mid = _shift(first, (_ordinal(last) - _ordinal(first)) // 2)
            head = yield from _pull(path, params, first, mid, symbol)
            tail = yield from _pull(path, params, _shift(mid, 1), last, symbol)
            return head + tail
        elif resp.status == 477 and restarts < 2:
            req, pages, tries, restarts = start, [], 0, restarts + 1
        else:
            raise _failure(resp, symbol)


def _ordinal(date: int) -> int:
    return _dt.date(date // 10000, date // 100 % 100, date % 100).toordinal()


def _shift(date: int, days: int) -> int:
    d = _dt.date.fromordinal(_ordinal(date) + days)
    return d.year * 10000 + d.month * 100 + d.day


def _page(resp: HttpResponse, symbol: str) -> Tuple[Sequence[Any], List[Any], Optional[str]]:
    """``(format, rows, next page path or None)`` of one JSON page."""
    body = resp.body
    header = body.get("header") if isinstance(body, dict) else None
    rows = body.get("response") if isinstance(body, dict) else None
    fmt = header.get("format") if isinstance(header, dict) else None
    if not isinstance(fmt, list) or not isinstance(rows, list):
        raise ProviderError(f"the Theta Terminal's history of {symbol!r} was no header.format/response table: "
                            f"{resp.text[:200]!r}", provider="thetadata", code=resp.status,
                            server_message=resp.text[:200])
    following = header.get("next_page") if isinstance(header, dict) else None
    if not isinstance(following, str) or following.strip() in ("", "null"):
        return fmt, rows, None
    url = urlsplit(following)
    return fmt, rows, url.path + (f"?{url.query}" if url.query else "")


def _bars(fmt: Sequence[Any], rows: List[Any], request: History, provider: str, daily: bool
          ) -> List[Tuple[Any, ...]]:
    """The bar rows ``(time, open, high, low, close, volume, count)`` of one page (count None when the page has
    none); a row that is not a bar (wrong length, text for numbers) is skipped."""
    col = {name: i for i, name in enumerate(fmt) if isinstance(name, str)}
    need = ("open", "high", "low", "close", "date") + (() if daily else ("ms_of_day",))
    if any(n not in col for n in need):
        raise ProviderError(f"the Theta Terminal's history of {request.symbol!r} lacks columns "
                            f"{[n for n in need if n not in col]} (format {list(fmt)[:20]})", provider=provider)
    out = []
    for row in rows:
        try:
            o, h, lo, c = (float(row[col[n]]) for n in ("open", "high", "low", "close"))
            if o == h == lo == c == 0.0 or not all(map(math.isfinite, (o, h, lo, c))):
                continue  # an interval without trades
            t = eastern_ns(int(row[col["date"]]), 0 if daily else int(row[col["ms_of_day"]]))
            volume = float(row[col["volume"]]) if "volume" in col else math.nan
            count = int(row[col["count"]]) if "count" in col else None
        except (TypeError, ValueError, IndexError, KeyError, OverflowError):  # KeyError: a row that is an object
            continue
        out.append((t, o, h, lo, c, volume, count))
    return out


def _failure(resp: HttpResponse, symbol: str) -> Exception:
    words = (resp.text or "").strip().lstrip(":")[:300] or f"HTTP {resp.status}"
    name = _NAMES.get(resp.status, "")
    what = f"the Theta Terminal's history of {symbol!r} failed with {resp.status}{' ' + name if name else ''}"
    if resp.status == 429:
        return RateLimitedError(f"{what}: {words}; wait and try again", provider="thetadata", code=429,
                                server_message=words)
    hint = {471: "the ThetaData account lacks the permission for this data",
            473: "the Terminal refused the parameters (updating the Terminal sometimes fixes this)",
            474: "the Terminal lost its link to ThetaData; try again shortly",
            476: "keep using the same host for the Terminal (127.0.0.1 and localhost count as different)",
            404: "the Terminal does not serve this request; update the Terminal"}.get(resp.status, "")
    return ProviderError(f"{what}: {words}" + (f"; {hint}" if hint else ""), provider="thetadata",
                         code=resp.status, server_message=words)


_TICK_PATHS = {("STOCK", "trade"): "/v2/hist/stock/trade", ("STOCK", "quote"): "/v2/hist/stock/quote",
               ("OPTION", "trade"): "/v2/hist/option/trade", ("OPTION", "quote"): "/v2/hist/option/quote",
               ("INDEX", "trade"): "/v2/hist/index/price"}
_TICK_EXTRA = ("sequence", "condition", "exchange", "bid_exchange", "ask_exchange", "bid_condition",
               "ask_condition")


def ticks_flow(request: Ticks, provider: str) -> Generator[HttpRequest, HttpResponse, TicksResult]:
    """Every trade (or quote) tick of ``request`` from the Terminal's tick reports (``ivl`` 0), pages followed;
    an index's trades are its price reports."""
    contract = parse_symbol(request.symbol)
    path = _TICK_PATHS.get((contract.sec_type, request.kind))
    if path is None or contract.bulk:
        raise UnsupportedError(f"the Theta Terminal has no {request.kind} ticks for {request.symbol!r}")
    params: Dict[str, Any] = {"root": contract.root, "rth": "false"}
    if contract.sec_type == "OPTION":
        params.update(exp=contract.expiration, strike=contract.strike, right=contract.right)
    pages: List[Tuple[Sequence[Any], List[Any]]] = []
    for first, last, cut in _day_windows(request.start_ns, max(request.start_ns, request.end_ns - 1)):
        pages += yield from _pull(path, dict(params, **cut), first, last, request.symbol)
    events: List[Event] = []
    for fmt, rows in pages:
        events += [e for e in _ticks(fmt, rows, request, provider) if request.start_ns <= e.time < request.end_ns]
    events.sort(key=lambda e: e.time)
    return TicksResult(tuple(events))


def _day_windows(start_ns: int, last_ns: int, step_ms: int = 1) -> List[Tuple[int, int, Dict[str, int]]]:
    """``(first date, last date, start_time/end_time)`` requests covering ``[start_ns, last_ns]``: the Terminal
    applies start_time and end_time (ms of the New York day) to every day of a request, so a window that crosses
    midnight is its first day from the start, the whole days between, and its last day up to the end, rather
    than every tick of two whole days (a five-minute window at midnight asked for two days of ticks). For bars
    of ``step_ms`` the cuts widen to whole bars of the day's grid, so no bar comes back cut short."""
    first, last = _date(start_ns), _date(last_ns)
    begin = _ms_of_day(start_ns) // step_ms * step_ms
    finish = min(_DAY * 1000 - 1, (_ms_of_day(last_ns) // step_ms + 1) * step_ms - 1)
    if first == last:
        # On the night clocks fall back, New York's wall clock repeats an hour and the end can read earlier than
        # the start: then the whole day, cut here afterwards.
        return [(first, first, {"start_time": begin, "end_time": finish} if begin <= finish else {})]
    windows = [(first, first, {"start_time": begin})]
    if _shift(first, 1) < last:
        windows.append((_shift(first, 1), _shift(last, -1), {}))
    return windows + [(last, last, {"end_time": finish})]


def _ticks(fmt: Sequence[Any], rows: List[Any], request: Ticks, provider: str) -> List[Event]:
    col = {name: i for i, name in enumerate(fmt) if isinstance(name, str)}
    out: List[Event] = []
    for row in rows:
        try:
            t = eastern_ns(int(row[col["date"]]), int(row[col["ms_of_day"]]))
            extra = {k: int(row[col[k]]) for k in _TICK_EXTRA if k in col and row[col[k]] is not None}
            if "sequence" in extra:
                extra["sequence"] %= 1 << 32
            v = {k: num.one(row[col[k]]) for k in ("price", "size", "bid", "ask", "bid_size", "ask_size") if k in col}
            nan = math.nan
            if request.kind == "trade":
                size = nan if request.symbol.startswith("$") else v.get("size", nan)
                out.append(Trade(request.symbol, t, provider, v.get("price", nan), size, nan, extra=extra))
            else:
                out.append(Quote(request.symbol, t, provider, v.get("bid", nan), v.get("ask", nan),
                                 v.get("bid_size", nan), v.get("ask_size", nan), extra=extra))
        except (KeyError, TypeError, ValueError, IndexError, OverflowError):
            continue
    return out
