"""A deterministic synthetic market shared by every emulator.

Prices are a pure function of (symbol, time): a sum of smooth value-noise
octaves on log price, seeded by the symbol's CRC. So quotes, trades, live
candles and history agree with each other, a run can be repeated, and no
state needs storing. Not a model of real markets; a source of plausible,
reproducible numbers.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Tuple

__all__ = ["SyntheticMarket", "Candle", "in_regular_hours", "last_regular_time", "last_extended_time"]

_M = (1 << 64) - 1
# (period in seconds, amplitude of log price)
_OCTAVES = ((20, 0.0008), (300, 0.002), (3600, 0.006), (6 * 3600, 0.012), (5 * 86400, 0.03),
            (60 * 86400, 0.08))


def _hash01(n: int, seed: int) -> float:
    """splitmix64 of (n, seed) mapped to [-1, 1)."""
    z = (n * 0x9E3779B97F4A7C15 + seed) & _M
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M
    z ^= z >> 31
    return (z / 2.0 ** 63) - 1.0


@dataclass(frozen=True)
class Candle:
    """One synthetic bar: start (epoch seconds) and OHLCV plus trade count."""

    start: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    count: int


class SyntheticMarket:
    """Deterministic prices for any symbol; ``seed`` varies the whole market."""

    def __init__(self, seed: int = 7) -> None:
        self.seed = seed

    def _sym_seed(self, symbol: str) -> int:
        return zlib.crc32(symbol.encode()) ^ (self.seed * 0x5851F42D)

    def base_price(self, symbol: str) -> float:
        """A symbol's long-run price level (between 20 and 520)."""
        return 20.0 + (zlib.crc32(symbol.encode()) % 50000) / 100.0

    def price(self, symbol: str, t: float) -> float:
        """The mid price of ``symbol`` at epoch second ``t`` (rounded to cents)."""
        s = self._sym_seed(symbol)
        x = 0.0
        for period, amp in _OCTAVES:
            u = t / period
            n = math.floor(u)
            f = u - n
            f = f * f * (3 - 2 * f)
            a = _hash01(n, s + period)
            b = _hash01(n + 1, s + period)
            x += amp * (a + (b - a) * f)
        return round(self.base_price(symbol) * math.exp(x), 2)

    def spread(self, symbol: str) -> float:
        """The bid/ask spread of ``symbol``."""
        return 0.02 * (1 + zlib.crc32(symbol.encode()) % 3)

    def quote(self, symbol: str, t: float) -> Tuple[float, float, float, float]:
        """``(bid, ask, bid_size, ask_size)`` at ``t``."""
        mid = self.price(symbol, t)
        half = self.spread(symbol) / 2
        k = int(t * 10)
        s = self._sym_seed(symbol)
        return (round(mid - half, 2), round(mid + half, 2), float(100 * (1 + int(5 * abs(_hash01(k, s))))),
                float(100 * (1 + int(5 * abs(_hash01(k, s + 1))))))

    def trade(self, symbol: str, t: float) -> Tuple[float, float, float]:
        """``(price, size, day_volume)`` of the last trade at ``t``."""
        bid, ask, _, _ = self.quote(symbol, t)
        k = int(t * 10)
        s = self._sym_seed(symbol)
        price = bid if _hash01(k, s + 7) < 0 else ask
        day_start = int(t // 86400) * 86400
        day_volume = float(int((t - day_start) * 37 + (s % 1000) * 10))
        return price, float((1 + int(9 * abs(_hash01(k, s + 9)))) * 100), day_volume

    def candle(self, symbol: str, start: int, period: int, until: float = math.inf) -> Candle:
        """The bar of ``period`` seconds starting at ``start``; a bar still
        forming at ``until`` is cut there."""
        end = min(start + period, until)
        samples = 6
        prices = [self.price(symbol, start + (end - start) * i / samples) for i in range(samples + 1)]
        s = self._sym_seed(symbol)
        vol = float(int(period * (50 + 40 * abs(_hash01(start, s + 3)))))
        if end < start + period:
            vol = float(int(vol * (end - start) / period))
        return Candle(start, prices[0], max(prices), min(prices), prices[-1], vol,
                      max(1, int(vol // 100)))


# The emulators' simple session model for US equities: one regular session,
# 13:30-20:00 UTC every day; everything else is extended hours.
REGULAR_OPEN = 13 * 3600 + 30 * 60
REGULAR_CLOSE = 20 * 3600
_LAST_INSTANT = 0.1  # trades are 0.1 s apart in the synthetic tape


def in_regular_hours(t: float) -> bool:
    """Whether epoch second ``t`` falls in the regular session (13:30-20:00 UTC)."""
    return REGULAR_OPEN <= t % 86400 < REGULAR_CLOSE


def last_regular_time(t: float) -> float:
    """The latest instant at or before ``t`` inside the regular session."""
    if in_regular_hours(t):
        return t
    day = (t // 86400) * 86400
    if t % 86400 >= REGULAR_CLOSE:
        return day + REGULAR_CLOSE - _LAST_INSTANT
    return day - 86400 + REGULAR_CLOSE - _LAST_INSTANT


def last_extended_time(t: float) -> float:
    """The latest instant at or before ``t`` outside the regular session."""
    if not in_regular_hours(t):
        return t
    return (t // 86400) * 86400 + REGULAR_OPEN - _LAST_INSTANT
