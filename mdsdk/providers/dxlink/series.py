"""Candle state of one DXLink candle symbol: the snapshot being buffered
(newest first, between SNAPSHOT_BEGIN and SNAPSHOT_END/SNIP, with
REMOVE_EVENT placeholders) and the live bar."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from ...series import BarSeries
from ..base import History
from .codec import REMOVE_EVENT, SNAPSHOT_BEGIN, SNAPSHOT_END, SNAPSHOT_SNIP, TX_PENDING, CandleRow

__all__ = ["Series", "Pending"]

Pending = Tuple[int, History]
_END = SNAPSHOT_END | SNAPSHOT_SNIP


@dataclass
class Series:
    """Candle state of one candle symbol: snapshot buffer and the live bar."""

    symbol: str
    interval: str
    from_ms: int
    rows: Dict[int, CandleRow] = field(default_factory=dict)
    in_snapshot: bool = False
    end_seen: bool = False
    live: Optional[CandleRow] = None
    request: Optional[Pending] = None
    truncated: bool = False

    def begin(self) -> None:
        self.rows.clear()
        self.in_snapshot, self.end_seen, self.truncated = True, False, False

    def take(self, row: CandleRow) -> bool:
        """Buffer one snapshot row; True when the snapshot is complete."""
        if row.flags & SNAPSHOT_BEGIN:
            self.begin()
        if row.time_ms < self.from_ms and not row.flags & REMOVE_EVENT:
            return True  # an event before fromTime is a legal end marker
        if row.flags & REMOVE_EVENT:
            self.rows.pop(row.index, None)
        else:
            self.rows[row.index] = row
        if row.flags & _END:
            self.end_seen = True
            self.truncated = bool(row.flags & SNAPSHOT_SNIP)
        return self.end_seen and not row.flags & TX_PENDING

    def sorted_rows(self) -> List[CandleRow]:
        return sorted(self.rows.values(), key=lambda r: r.time_ms)

    def answer(self, req: History, provider: str, now_ms: int) -> BarSeries:
        """The buffered candles that start in the request's range, as its answer's columns (a bar is complete
        once its span has passed ``now_ms``; with no clock, every bar is)."""
        rows = [r for r in self.sorted_rows() if r.time and req.start_ns <= r.time_ms * 1_000_000 < req.end_ns]
        span_ms = req.interval.seconds * 1000
        return BarSeries.of(rows, req.symbol, provider, str(req.interval),
                            [not now_ms or r.time_ms + span_ms <= now_ms for r in rows])

    def live_row(self, row: CandleRow, provider: str, out: List[Any]) -> None:
        """Take one live-channel candle row: a snapshot row is buffered until the
        snapshot completes (then its bars go out, the last one still forming);
        a later row completes the live bar before it."""
        if row.flags & SNAPSHOT_BEGIN or self.in_snapshot:
            if not self.take(row):
                return
            self.in_snapshot = False
            last = self.live.time_ms if self.live is not None else -1
            rows = [r for r in self.sorted_rows() if r.time_ms >= last]
            self.rows.clear()
            for i, r in enumerate(rows):
                out.append(r.bar(self.symbol, self.interval, provider,
                                 complete=i < len(rows) - 1))
            if rows:
                self.live = rows[-1]
            return
        if row.flags & REMOVE_EVENT:
            return
        live = self.live
        if live is not None and row.time_ms > live.time_ms:
            out.append(live.bar(self.symbol, self.interval, provider, complete=True))
        if live is None or row.time_ms >= live.time_ms:
            self.live = row
            out.append(row.bar(self.symbol, self.interval, provider, complete=False))
        else:
            out.append(row.bar(self.symbol, self.interval, provider, complete=True))
