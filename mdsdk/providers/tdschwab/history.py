"""Price history over REST (reference section 8), pure: the request for a :class:`~mdsdk.providers.base.History`
and its answer as a :class:`~mdsdk.providers.base.HistoryResult`.

TDA: ``GET /v1/marketdata/{symbol}/pricehistory``; Schwab: ``GET /marketdata/v1/pricehistory?symbol=...`` (the
symbol is a query parameter). Both take ``periodType``/``frequencyType``/``frequency`` and ``startDate``/``endDate``
in epoch milliseconds, and answer ``{"candles": [{"open", "high", "low", "close", "volume", "datetime"}], "symbol",
"empty"}`` with ``datetime`` the candle start in ms. The APIs have bars of 1, 5, 10, 15 and 30 minutes, a day, a
week and a month. An interval of whole minutes that one of those minute bars divides (1h, 2h, 4h, 2m, 45m...) is
built from the broker's bars of the largest such size, summed into buckets aligned to the epoch (a 1h bar holds
the two 30m bars of its UTC hour); any other interval is an UnsupportedError naming what there is. Daily candles
are stamped at midnight US/Central (TDA), and the stamps are passed through as UTC times: they are the broker's
bar starts."""

from __future__ import annotations

import math
import urllib.parse
from typing import Any, Dict, List, Mapping, Tuple

from ...errors import AuthenticationError, ProviderError, RateLimitedError, UnsupportedError
from ...series import BarSeries
from ...intervals import Interval
from ..base import History, HistoryResult, HttpRequest, HttpResponse
from .variants import Variant

__all__ = ["history_request", "parse_history", "frequency_of", "INTERVALS"]

# mdsdk interval -> (periodType, frequencyType, frequency). periodType only has to admit the frequency: with
# startDate and endDate given, the servers ignore ``period``.
INTERVALS: Mapping[Tuple[int, str], Tuple[str, str, int]] = {
    **{(n, "m"): ("day", "minute", n) for n in (1, 5, 10, 15, 30)},
    (1, "d"): ("year", "daily", 1),
    (1, "w"): ("year", "weekly", 1),
    (1, "mo"): ("year", "monthly", 1),
}
_NS_PER_MS = 1_000_000


def frequency_of(variant: Variant, interval: Interval) -> Tuple[str, str, int]:
    """(periodType, frequencyType, frequency) of the broker bars ``interval`` is read from (the bars themselves,
    or the largest minute bars that divide it); UnsupportedError naming what the API has."""
    found = INTERVALS.get((interval.count, interval.unit))
    if found is not None:
        return found
    minutes = interval.seconds // 60 if interval.seconds % 60 == 0 and interval.unit in ("m", "h") else 0
    for size in (30, 15, 10, 5, 1):
        if minutes and minutes % size == 0:
            return INTERVALS[(size, "m")]
    raise UnsupportedError(f"the {variant.name} price history has no {interval} bars; it serves 1m, 5m, 10m, "
                           "15m, 30m, 1d, 1w and 1mo, and whole multiples of those minute bars")


def history_request(variant: Variant, request: History, access_token: str) -> HttpRequest:
    """The GET for ``request`` on ``variant``, covering ``[start_ns, end_ns)`` in whole milliseconds."""
    period_type, frequency_type, frequency = frequency_of(variant, request.interval)
    params: Dict[str, Any] = {"periodType": period_type, "frequencyType": frequency_type, "frequency": frequency,
                              "startDate": request.start_ns // _NS_PER_MS,
                              "endDate": -(-request.end_ns // _NS_PER_MS)}
    if variant.name == "tda":
        path = f"/v1/marketdata/{urllib.parse.quote(request.symbol, safe='')}/pricehistory"
    else:
        path, params = "/marketdata/v1/pricehistory", {"symbol": request.symbol, **params}
    return HttpRequest("GET", path, params=params,
                       headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"})


def _number(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ValueError(f"not a number: {type(v).__name__}")
    return float(v)


def _row(candle: Any) -> Tuple[int, float, float, float, float, float]:
    """One candle as a bar row ``(time, open, high, low, close, volume)``; ValueError/TypeError/KeyError (or
    OverflowError) when it is not a candle."""
    stamp = candle["datetime"]
    if stamp.__class__ is not int:  # bool is no epoch, nor is a float
        raise ValueError("datetime is not epoch milliseconds")
    volume = candle.get("volume")
    return (stamp * _NS_PER_MS, _number(candle["open"]), _number(candle["high"]), _number(candle["low"]),
            _number(candle["close"]), math.nan if volume is None else _number(volume))


def server_words(response: HttpResponse) -> str:
    """The error text of a failed answer (Schwab ``errors[].detail``/``message``, TDA ``error``), else the raw text."""
    body = response.body
    words: List[str] = []
    if isinstance(body, dict):
        for item in body.get("errors") or ():
            if isinstance(item, dict):
                words.append(str(item.get("detail") or item.get("title") or ""))
        words += [str(body.get(k)) for k in ("message", "error", "error_description") if body.get(k)]
    return "; ".join(w for w in words if w)[:300] or response.text[:300] or f"HTTP {response.status}"


def _failure(variant: Variant, request: History, response: HttpResponse) -> Exception:
    text = server_words(response)
    what = f"the {variant.name} price history of {request.symbol!r}"
    if response.status in (401, 403):
        return AuthenticationError(f"{what} was refused ({response.status}: {text}); the access token is invalid "
                                   "or expired")
    if response.status == 429:
        return RateLimitedError(f"{what} was rate-limited: {text}; wait a minute and try again",
                                provider=variant.name, code=429, server_message=text)
    return ProviderError(f"{what} failed with HTTP {response.status}: {text}", provider=variant.name,
                         code=response.status, server_message=text)


def parse_history(variant: Variant, request: History, response: HttpResponse, provider: str) -> HistoryResult:
    """The bars of the answer whose start lies in ``[start_ns, end_ns)``, ascending, one per start; an empty
    result for ``empty: true`` / no candles; typed errors for failures (messages unredacted: the caller
    redacts). Candles that are not candles are skipped."""
    if response.status != 200:
        raise _failure(variant, request, response)
    body = response.body
    candles = body.get("candles") if isinstance(body, dict) else None
    if candles is None and isinstance(body, dict) and body.get("empty"):
        candles = []
    if not isinstance(candles, list):
        raise ProviderError(f"the {variant.name} price history of {request.symbol!r} had no candles list",
                            provider=variant.name, code=response.status, server_message=response.text[:200])
    rows: List[Tuple[int, float, float, float, float, float]] = []
    lo, hi = request.start_ns, request.end_ns
    for candle in candles:
        try:
            row = _row(candle)
        except (KeyError, TypeError, ValueError, OverflowError):  # OverflowError: an int no float holds
            continue
        if lo <= row[0] < hi:
            rows.append(row)
    series = BarSeries.from_rows(request.symbol, provider, str(request.interval), rows)
    if (request.interval.count, request.interval.unit) not in INTERVALS:
        series = BarSeries.from_rows(request.symbol, provider, str(request.interval),
                                     _buckets(series, request.interval.seconds * 1_000_000_000))
    return HistoryResult(series)


def _buckets(series: BarSeries, step_ns: int) -> List[List[Any]]:
    """Ascending broker bars summed into bar rows of ``step_ns`` aligned to the epoch: first open, highest high,
    lowest low, last close, summed volume."""
    out: List[List[Any]] = []
    c = series.columns
    for t, o, h, lo, close, v in zip(series.times, c["open"], c["high"], c["low"], c["close"], c["volume"]):
        start = t - t % step_ns
        if out and out[-1][0] == start:
            last = out[-1]
            last[2], last[3], last[4], last[5] = max(last[2], h), min(last[3], lo), close, last[5] + v
        else:
            out.append([start, o, h, lo, close, v])
    return out
