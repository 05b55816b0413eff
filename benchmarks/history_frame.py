"""History DataFrame: 500,000 bars -> the ``feed.history`` DataFrame
(``mdsdk.frames.bars_to_frame``) from what a history answer holds: the
column lists of a :class:`~mdsdk.series.BarSeries` (every provider's
answer) or Bar events (bars a user gathered, a recording). Beside them: the
floor, building the same frame with pandas from Python column lists, each
read into a numpy array first (``np.fromiter``, the fastest way we know once
the values are in lists); pandas given the lists themselves (its own
conversion, about three times the floor); and pandas from a list of tuples.
The paths take turns round by round, in a shuffled order; a ratio is the
median of the per-round ratios to the floor.

    python -m benchmarks.history_frame [--quick] [--bars N]
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time
from typing import Any, Dict, List

import numpy as np
import pandas as pd

from mdsdk.events import Bar
from mdsdk.frames import bars_to_frame
from mdsdk.series import BarSeries

try:
    from ._common import table, write_results
except ImportError:  # run as a script
    import pathlib
    import sys
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
    from benchmarks._common import table, write_results


def make_bars(n: int) -> List[Bar]:
    """Bars shaped like decoded DXLink candles (two extras: count, vwap)."""
    t0 = 1_600_000_000 * 10**9
    return [Bar("SPY", t0 + i * 60 * 10**9, "bench", interval="1m", open=100.0 + i % 7, high=101.0 + i % 7,
                low=99.0 + i % 7, close=100.5 + i % 7, volume=float(1000 + i % 100), complete=True,
                extra={"count": float(i % 50), "vwap": 100.2 + i % 7}) for i in range(n)]


def floor_columns(times: List[int], cols: Dict[str, List[float]]) -> pd.DataFrame:
    # np.fromiter with a count reads a list of floats about a third faster than np.array (which first
    # works out the list's shape and type), so the floor uses it.
    n = len(times)
    index = pd.DatetimeIndex(np.fromiter(times, dtype=np.int64, count=n).view("datetime64[ns]"), tz="UTC",
                             name="time")
    return pd.DataFrame({k: np.fromiter(v, dtype=np.float64, count=n) for k, v in cols.items()}, index=index,
                        copy=False)


def pandas_lists(times: List[int], cols: Dict[str, List[float]]) -> pd.DataFrame:
    index = pd.DatetimeIndex(np.array(times, dtype=np.int64).view("datetime64[ns]"), tz="UTC", name="time")
    return pd.DataFrame(cols, index=index)


def floor_tuples(rows: List[tuple]) -> pd.DataFrame:
    df = pd.DataFrame.from_records(rows, columns=["time", "open", "high", "low", "close", "volume", "count", "vwap"])
    df.index = pd.DatetimeIndex(pd.to_datetime(df.pop("time"), unit="ns", utc=True), name="time")
    return df


def once(fn: Any) -> float:
    # The garbage a path leaves (pandas from 500k tuples leaves much) is collected here, untimed: otherwise the
    # collection the next path happens to trigger is charged to it (timeit disables the collector for the same reason).
    gc.collect()
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def rounds(paths: Dict[str, Any], runs: int) -> Dict[str, List[float]]:
    """Each path timed once per round, the paths in turn within a round: on a
    shared, noisy machine a floor timed a few seconds before its rival is not
    a fair comparison, a round's neighbours are. The order within a round is
    shuffled."""
    out: Dict[str, List[float]] = {name: [] for name in paths}
    names = list(paths)
    for r in range(runs):
        # A new order each round (seeded, so runs repeat): a path that follows a memory-hungry one (pandas from
        # 500k tuples) pays for the pages that one gave back, 10-25 %; with a fixed order, or a rotation of it,
        # the same path would always follow it.
        random.Random(r).shuffle(names)
        for name in names:
            out[name].append(once(paths[name]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--bars", type=int, default=500_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    if args.quick:
        args.bars, args.runs = 20_000, 1
    bars = make_bars(args.bars)
    times = [b.time for b in bars]
    cols = {k: [getattr(b, k) for b in bars] for k in ("open", "high", "low", "close", "volume")}
    cols.update({k: [b.extra[k] for b in bars] for k in ("count", "vwap")})
    rows = [(b.time, b.open, b.high, b.low, b.close, b.volume, b.extra["count"], b.extra["vwap"]) for b in bars]
    series = BarSeries.from_rows("SPY", "bench", "1m", rows, ("count", "vwap"))  # as a decoder hands them over
    ours = bars_to_frame(bars)
    assert ours.equals(floor_columns(times, cols)[list(ours.columns)]), "frames differ"
    assert bars_to_frame(series).equals(ours), "frames differ"
    floor = "floor: pandas from column lists"
    secs = rounds({floor: lambda: floor_columns(times, cols),
                   "mdsdk from an answer's columns (BarSeries)": lambda: bars_to_frame(series),
                   "mdsdk from Bar events": lambda: bars_to_frame(bars),
                   "pandas given the column lists": lambda: pandas_lists(times, cols),
                   "pandas from a list of tuples": lambda: floor_tuples(rows)}, args.runs)
    results = []
    for path, ts in secs.items():
        per_round = [t / f for t, f in zip(ts, secs[floor])]
        results.append({"bench": "history_frame", "path": path, "bars": args.bars, "seconds": statistics.median(ts),
                        "ratio": statistics.median(per_round), "rounds": " ".join(f"{r:.2f}" for r in per_round)})
    print(table(results, ["path", "bars", "seconds", "ratio", "rounds"]))
    print(f"\nresults appended to {write_results('history_frame', results)}")


if __name__ == "__main__":
    main()
