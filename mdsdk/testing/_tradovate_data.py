"""What the Tradovate emulator sends, built from the synthetic market: quote
entries, DOM books, chart bars and tick packets (tradovate.md sections 6
and 7), plus the contract book that maps names to ids."""

from __future__ import annotations

import datetime as _dt
import threading
import time
import zlib
from typing import Any, Dict, Optional, Tuple

from .market import SyntheticMarket

__all__ = ["TICK_SIZE", "Chart", "ContractBook", "TradovateData", "iso", "parse_iso", "trade_date"]

TICK_SIZE = 0.25


def iso(t: float) -> str:
    """Epoch seconds as Tradovate writes times: ISO 8601 with ms and ``Z``."""
    dt = _dt.datetime.fromtimestamp(t, tz=_dt.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def parse_iso(text: Any) -> Optional[float]:
    """An ISO 8601 time as epoch seconds, or None when it is not one."""
    if not isinstance(text, str):
        return None
    try:
        return _dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def trade_date(t: float) -> int:
    """The ``td`` of a chart packet: YYYYMMDD of the trade date."""
    return int(time.strftime("%Y%m%d", time.gmtime(t)))


class Chart:
    """One ``md/getChart`` subscription of a session."""

    def __init__(self, contract: int, name: str, kind: str, size: int, hid: int, rid: int, now: float) -> None:
        self.contract, self.name, self.kind, self.size = contract, name, kind, size
        self.hid, self.rid = hid, rid
        self.last_start = 0
        self.tick_id = 0
        self.last_tick = now

    @property
    def period(self) -> int:
        """The bar length in seconds."""
        return 86400 if self.kind == "DailyBar" else 60 * self.size


class ContractBook:
    """Contract names and the ids the emulator gives them (stable per name)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._names: Dict[int, str] = {}
        self._ids = 100

    @staticmethod
    def contract_id(name: str) -> int:
        """The id of contract ``name``."""
        return 100000 + zlib.crc32(name.encode()) % 800000

    def add(self, name: str) -> Tuple[int, str]:
        """Register ``name`` (once looked up, its id is known too)."""
        cid = self.contract_id(name)
        with self._lock:
            self._names[cid] = name
        return cid, name

    def name_of(self, cid: int) -> Optional[str]:
        """The name of a contract id already looked up, or None."""
        with self._lock:
            return self._names.get(cid)

    def new_chart_ids(self) -> Tuple[int, int]:
        """A fresh (historicalId, realtimeId) pair."""
        with self._lock:
            self._ids += 2
            return self._ids, self._ids + 1


def _ticks(price: float) -> float:
    return round(price / TICK_SIZE) * TICK_SIZE


class TradovateData:
    """Builds the payloads of ``md`` and ``chart`` events."""

    def __init__(self, market: SyntheticMarket, contracts: ContractBook) -> None:
        self.market = market
        self.contracts = contracts

    def _name(self, cid: int) -> str:
        return self.contracts.name_of(cid) or str(cid)

    def price(self, name: str, t: float) -> float:
        """The price of ``name`` at ``t`` on the tick grid."""
        return _ticks(self.market.price(name, t))

    def quote(self, cid: int, t: float, full: bool) -> Dict[str, Any]:
        """One entry of ``d.quotes``: partial entries unless ``full``."""
        name = self._name(cid)
        px = self.price(name, t)
        bid_size, ask_size = self.market.quote(name, t)[2:]
        entries: Dict[str, Any] = {"Bid": {"price": px, "size": bid_size / 100},
                                   "Offer": {"price": px + TICK_SIZE, "size": ask_size / 100}}
        k = int(t * 10)
        if full or k % 3 == 0:
            trade_px, size, vol = self.market.trade(name, t)
            entries["Trade"] = {"price": px if trade_px <= self.market.price(name, t) else px + TICK_SIZE,
                                "size": size / 100}
            entries["TotalTradeVolume"] = {"size": vol}
        if full or k % 10 == 0:
            entries.update(self._day_entries(cid, name, t))
        return {"timestamp": iso(t), "contractId": cid, "entries": entries}

    def _day_entries(self, cid: int, name: str, t: float) -> Dict[str, Any]:
        day = int(t // 86400) * 86400
        c = self.market.candle(name, day, 86400, t)
        return {"OpeningPrice": {"price": self.price(name, day)}, "HighPrice": {"price": _ticks(c.high)},
                "LowPrice": {"price": _ticks(c.low)}, "SettlementPrice": {"price": self.price(name, day - 1)},
                "OpenInterest": {"size": float(200000 + cid % 50000)}}

    def dom(self, cid: int, t: float) -> Dict[str, Any]:
        """One entry of ``d.doms``: a full book of variable depth."""
        px = self.price(self._name(cid), t)
        depth = 5 + int(t) % 5
        return {"contractId": cid, "timestamp": iso(t),
                "bids": [{"price": px - i * TICK_SIZE, "size": float(10 + (i * 7 + int(t)) % 40)}
                         for i in range(depth)],
                "offers": [{"price": px + (i + 1) * TICK_SIZE, "size": float(12 + (i * 5 + int(t)) % 40)}
                           for i in range(depth)]}

    def bar(self, name: str, start: int, period: int, now: float) -> Dict[str, Any]:
        """One chart bar starting at ``start``, cut at ``now``."""
        c = self.market.candle(name, start, period, now)
        up = round(c.volume * 0.52, 3)
        return {"timestamp": iso(start), "open": _ticks(c.open), "high": _ticks(c.high), "low": _ticks(c.low),
                "close": _ticks(c.close), "upVolume": up, "downVolume": round(c.volume - up, 3),
                "upTicks": float(c.count // 2), "downTicks": float(c.count - c.count // 2),
                "bidVolume": round(c.volume * 0.49, 3), "offerVolume": round(c.volume * 0.51, 3)}

    def ticks(self, chart: Chart, t: float, n: int, tag: int) -> Dict[str, Any]:
        """A tick packet of ``n`` ticks, relative to a base price and time,
        deliberately out of order as the reference warns."""
        base_t = int(chart.last_tick * 1000)
        bp = int(self.price(chart.name, t) / TICK_SIZE)
        ticks = []
        for j in range(n):
            chart.tick_id += 1
            ticks.append({"t": j * 7, "p": (j % 3) - 1, "s": 1 + (chart.tick_id % 4), "b": -1, "a": 0,
                          "bs": 10 + j, "as": 12 + j, "id": chart.tick_id})
        ticks.reverse()
        chart.last_tick = t
        return {"id": tag, "s": "db", "td": trade_date(t), "bp": bp, "bt": base_t, "ts": TICK_SIZE, "tks": ticks}
