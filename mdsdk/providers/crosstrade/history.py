"""CrossTrade bars over REST (protocols/crosstrade.md section 6): ``POST /v1/api/market/bars`` with the Bearer
key, as a REST flow.

Intervals: minutes (``1m``, ``15m``; hours as minutes), days, weeks and months map to ``periodType`` and
``period``; seconds are refused (the documented types start at a minute). The range goes as UTC ``from``/``to``
and ``limit`` is sized to hold it (the server keeps the most recent ``limit`` bars). Bars are stamped with their
``epoch`` (ms) or, without one, their ``time`` text; ones outside ``[start, end)`` are dropped. 429 is waited
out and asked again (a few times); 401 is AuthenticationError; 408 means the NinjaTrader add-on is not
connected; anything else is a ProviderError with the server's words.
"""

from __future__ import annotations

import datetime as _dt
import math
from typing import Any, Generator, Optional, Tuple

from ...errors import AuthenticationError, ProviderError, RateLimitedError, UnsupportedError
from ...intervals import Interval
from ...series import BarSeries
from ..base import History, HistoryResult, HttpRequest, HttpResponse
from ..convert import num

__all__ = ["bars_flow", "period_of"]

_PERIODS = {"m": ("minute", 1), "h": ("minute", 60), "d": ("day", 1), "w": ("week", 1), "mo": ("month", 1)}
_RETRIES = 4


def period_of(interval: Interval) -> Tuple[str, int]:
    """``(periodType, period)`` for ``interval``; UnsupportedError for seconds."""
    unit = _PERIODS.get(interval.unit)
    if unit is None:
        raise UnsupportedError(f"CrossTrade bars start at one minute; {interval} is finer than that")
    return unit[0], interval.count * unit[1]


def _iso(ns: int) -> str:
    return _dt.datetime.fromtimestamp(ns / 1e9, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def bars_flow(request: History, token: str, provider: str, delay: float = 0.0
              ) -> Generator[HttpRequest, HttpResponse, HistoryResult]:
    """Ask for the bars of ``request`` (after ``delay`` seconds: the rate budget) and read them."""
    period_type, period = period_of(request.interval)
    expected = (request.end_ns - request.start_ns) // (request.interval.seconds * 1_000_000_000) + 2
    body = {"instrument": request.symbol, "periodType": period_type, "period": period,
            "from": _iso(request.start_ns), "to": _iso(request.end_ns), "limit": int(min(max(expected, 1), 100_000))}
    req = HttpRequest("POST", "/v1/api/market/bars", json=body, headers={"Authorization": f"Bearer {token}"},
                      delay=delay)
    for attempt in range(_RETRIES + 1):
        resp = yield req
        if resp.status == 429 and attempt < _RETRIES:
            req = HttpRequest(req.method, req.path, json=body, headers=req.headers, delay=2.0 * (attempt + 1))
            continue
        break
    if resp.status != 200:
        raise _failure(resp, request.symbol, provider)
    rows = resp.body.get("bars") if isinstance(resp.body, dict) else None
    if not isinstance(rows, list):
        raise ProviderError(f"CrossTrade bars of {request.symbol!r} came without a bars list: {resp.text[:200]!r}",
                            provider=provider, code=resp.status)
    kept = []
    for item in rows:
        row = _row(item)
        if row is not None and request.start_ns <= row[0] < request.end_ns:
            kept.append(row)
    return HistoryResult(BarSeries.from_rows(request.symbol, provider, str(request.interval), kept))


def _row(row: Any) -> Optional[Tuple[int, float, float, float, float, float]]:
    """One bar as ``(time, open, high, low, close, volume)``; None when it is not one."""
    if not isinstance(row, dict):
        return None
    epoch = row.get("epoch")
    if epoch.__class__ is int and 0 < epoch < 9_000_000_000_000:
        t = epoch * 1_000_000
    else:
        try:
            text = str(row.get("time", ""))[:19]
            t = int(_dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=_dt.timezone.utc).timestamp()
                    ) * 1_000_000_000
        except ValueError:
            return None
    o, h, lo, c, v = (num.one(row.get(k)) for k in ("open", "high", "low", "close", "volume"))
    if any(math.isnan(x) for x in (o, h, lo, c)):
        return None
    return t, o, h, lo, c, v


def _failure(resp: HttpResponse, symbol: str, provider: str) -> Exception:
    body = resp.body if isinstance(resp.body, dict) else {}
    words = str(body.get("detail") or body.get("error") or resp.text or f"HTTP {resp.status}")[:300]
    what = f"CrossTrade bars of {symbol!r} failed with HTTP {resp.status}: {words}"
    if resp.status == 401:
        return AuthenticationError(f"{what}; check the key (CrossTrade's My Account page)")
    if resp.status == 429:
        return RateLimitedError(f"{what}; wait and try again", provider=provider, code=429, server_message=words)
    hint = {408: "; the NinjaTrader add-on is not connected (start NinjaTrader 8 with CrossTrade XT)",
            404: "; check the instrument name ('ES 09-26', 'ES', 'ES1!' or 'ESU26')"}.get(resp.status, "")
    return ProviderError(what + hint, provider=provider, code=resp.status, server_message=words)
