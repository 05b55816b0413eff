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

import msgspec

from ...errors import AuthenticationError, ProviderError, RateLimitedError, UnsupportedError
from ...events import Bar
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


def _bar(candle: Any, request: History, provider: str) -> Bar:
    """One candle as a finished Bar; ValueError/TypeError/KeyError when it is not a candle."""
    stamp = candle["datetime"]
    if isinstance(stamp, bool) or not isinstance(stamp, int):
        raise ValueError("datetime is not epoch milliseconds")
    volume = candle.get("volume")
    return Bar(request.symbol, stamp * _NS_PER_MS, provider, interval=str(request.interval),
               open=_number(candle["open"]), high=_number(candle["high"]), low=_number(candle["low"]),
               close=_number(candle["close"]), volume=math.nan if volume is None else _number(volume))


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
    bars: Dict[int, Bar] = {}
    for candle in candles:
        try:
            bar = _bar(candle, request, provider)
        except (KeyError, TypeError, ValueError):
            continue
        if request.start_ns <= bar.time < request.end_ns:
            bars[bar.time] = bar
    ordered = [bars[t] for t in sorted(bars)]
    if (request.interval.count, request.interval.unit) not in INTERVALS:
        ordered = _buckets(ordered, request.interval.seconds * 1_000_000_000)
    return HistoryResult(tuple(ordered))


def _buckets(bars: List[Bar], step_ns: int) -> List[Bar]:
    """Ascending broker bars summed into bars of ``step_ns`` aligned to the epoch: first open, highest high,
    lowest low, last close, summed volume."""
    out: List[Bar] = []
    for bar in bars:
        start = bar.time - bar.time % step_ns
        last = out[-1] if out else None
        if last is None or last.time != start:
            out.append(msgspec.structs.replace(bar, time=start))
            continue
        out[-1] = msgspec.structs.replace(last, high=max(last.high, bar.high), low=min(last.low, bar.low),
                                          close=bar.close, volume=last.volume + bar.volume)
    return out
