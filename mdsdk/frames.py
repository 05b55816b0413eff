"""pandas DataFrames from events: the history contract and the quote table.

The only module that imports pandas. History frames have a tz-aware UTC
``DatetimeIndex`` named ``time`` (bar start), float64 columns
``open high low close volume`` first and provider extras after, sorted
ascending with no duplicate index values; an empty range gives an empty
frame with the same columns. Frames are built from column lists, the fastest
way pandas offers.
"""

from __future__ import annotations

import time
from operator import attrgetter, itemgetter
from typing import Any, Dict, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .events import Bar, Event, Quote

__all__ = ["bars_to_frame", "ticks_to_frame", "quotes_to_frame", "from_columns", "to_text", "table", "OHLCV"]

OHLCV = ("open", "high", "low", "close", "volume")


def bars_to_frame(bars: Sequence[Bar]) -> pd.DataFrame:
    """Bars -> the history DataFrame contract (later duplicates win)."""
    n = len(bars)
    # map(attrgetter) walks the objects in C: twice as fast as a generator per column.
    times = np.fromiter(map(attrgetter("time"), bars), dtype=np.int64, count=n)
    cols: Dict[str, np.ndarray] = {
        name: np.fromiter(map(attrgetter(name), bars), dtype=np.float64, count=n) for name in OHLCV}
    extras = list(map(attrgetter("extra"), bars))
    extra_keys = [k for k in extras[0] if k not in cols] if extras else []
    for key in extra_keys:
        if isinstance(extras[0][key], float):
            try:  # the common case, in one C-level pass
                cols[key] = np.fromiter(map(itemgetter(key), extras), dtype=np.float64, count=n)
                continue
            except (KeyError, TypeError, ValueError):
                pass
        values = [e.get(key) for e in extras]
        arr = np.array(values)
        # numbers stay numeric (ints as int64, e.g. trade dates); anything else is object
        cols[key] = arr if arr.dtype.kind in "iufb" else np.array(values, dtype=object)
    return from_columns(times, cols)


def from_columns(times: np.ndarray, columns: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Build the contract frame from epoch-ns ``times`` and column arrays."""
    times = np.asarray(times, dtype=np.int64)
    index = pd.DatetimeIndex(times.view("datetime64[ns]"), tz="UTC", name="time")
    n = len(times)
    ordered = {c: columns[c] if c in columns else np.full(n, np.nan) for c in OHLCV}
    ordered.update((c, v) for c, v in columns.items() if c not in OHLCV)
    # copy=False: the arrays were built for this frame; copying them would double the cost.
    df = pd.DataFrame(ordered, index=index, copy=False)
    if len(df) > 1:
        if not df.index.is_monotonic_increasing:
            df = df.sort_index(kind="stable")
        if df.index.has_duplicates:
            df = df[~df.index.duplicated(keep="last")]
    return df


TICK_COLUMNS = {"trade": ("price", "size"), "quote": ("bid", "ask", "bid_size", "ask_size")}


def ticks_to_frame(events: Sequence[Event], kind: str) -> pd.DataFrame:
    """Trade or quote ticks -> a DataFrame: UTC index ``time`` (ascending; ticks may share a time), float columns
    ``price size`` (trades) or ``bid ask bid_size ask_size`` (quotes), then the provider's extras."""
    n = len(events)
    index = pd.DatetimeIndex(np.fromiter(map(attrgetter("time"), events), dtype=np.int64, count=n)
                             .view("datetime64[ns]"), tz="UTC", name="time")
    cols: Dict[str, Any] = {name: np.fromiter(map(attrgetter(name), events), dtype=np.float64, count=n)
                            for name in TICK_COLUMNS[kind]}
    extras = [e.extra for e in events]
    for key in dict.fromkeys(k for e in extras for k in e):
        cols[key] = [e.get(key) for e in extras]
    df = pd.DataFrame(cols, index=index)
    return df if df.index.is_monotonic_increasing else df.sort_index(kind="stable")


def quotes_to_frame(quotes: Iterable[Quote], now_ns: int = 0) -> pd.DataFrame:
    """Latest quotes -> one row per symbol with ``bid ask bid_size ask_size
    mid spread time age`` (age in seconds since the quote's time)."""
    now_ns = now_ns or time.time_ns()
    rows = sorted(quotes, key=lambda q: q.symbol)
    df = pd.DataFrame({
        "bid": [q.bid for q in rows], "ask": [q.ask for q in rows],
        "bid_size": [q.bid_size for q in rows], "ask_size": [q.ask_size for q in rows],
        "mid": [q.mid for q in rows], "spread": [q.ask - q.bid for q in rows],
        "time": pd.to_datetime([q.time for q in rows], unit="ns", utc=True),
        "age": [(now_ns - q.time) / 1e9 for q in rows],
    }, index=pd.Index([q.symbol for q in rows], name="symbol"))
    return df


def to_text(df: pd.DataFrame, max_rows: int = 60) -> str:
    """A DataFrame as a terminal-width table (for the CLI)."""
    with pd.option_context("display.width", 140, "display.max_columns", 30):
        return str(df.to_string(max_rows=max_rows))


def table(rows: Sequence[Mapping[str, object]], index: str) -> pd.DataFrame:
    """Plain records as a DataFrame indexed by ``index`` (for listings such
    as :func:`mdsdk.providers`)."""
    return pd.DataFrame(list(rows)).set_index(index)
