"""Bars held as columns (mdsdk.series): a BarSeries behaves as the sequence of Bar events it stands for, puts
its rows in order with one bar per start, and gives the same history DataFrame as those Bar events do."""

from __future__ import annotations

import math
import random
from typing import Any, List

import numpy as np
import pytest

from mdsdk.events import Bar
from mdsdk.frames import bars_to_frame
from mdsdk.series import BarSeries, extra_names, merge

T0 = 1_700_000_000 * 10**9
MIN = 60 * 10**9


def bars(n: int, extra: bool = True) -> List[Bar]:
    return [Bar("ES", T0 + i * MIN, "p", "1m", 10.0 + i, 11.0 + i, 9.0 + i, 10.5 + i, float(100 + i), i < n - 1,
                extra={"count": i, "vwap": 10.2 + i} if extra else {}) for i in range(n)]


def test_a_series_is_the_sequence_of_its_bars() -> None:
    want = bars(5)
    s = BarSeries.of(want)
    assert len(s) == 5 and list(s) == want and s == want and s == tuple(want)
    assert s[0] == want[0] and s[-1] == want[-1] and not s[-1].complete
    assert s[1:3] == want[1:3] and isinstance(s[1:3], BarSeries)
    assert s.extras == ["count", "vwap"] and s[2].extra == {"count": 2, "vwap": 12.2}
    assert s != want[:4] and s != [*want[:4], want[0]]
    assert "ES" in repr(s) and "5 bars" in repr(s)
    with pytest.raises(IndexError):
        s[5]
    assert BarSeries.of(()) == () and len(BarSeries.of(())) == 0


def test_rows_are_put_in_order_with_the_last_copy_of_a_start_winning() -> None:
    rows: List[Any] = [(T0 + i * MIN, 1.0 * i, 2.0, 0.5, 1.5, 7.0) for i in range(50)]
    random.Random(3).shuffle(rows)
    rows.append((T0 + 7 * MIN, 99.0, 99.0, 99.0, 99.0, 1.0))  # a later page repeats the bar of minute 7
    s = BarSeries.from_rows("ES", "p", "1m", rows)
    assert s.times == sorted({T0 + i * MIN for i in range(50)})
    assert s[7].open == 99.0 and s[6].open == 6.0 and s.columns["open"][8] == 8.0
    ordered = BarSeries.from_rows("ES", "p", "1m", sorted(rows[:-1]))
    assert ordered.ordered() is ordered  # already in order: nothing copied


def test_an_extra_no_row_has_is_no_column_and_a_missing_one_is_no_key() -> None:
    s = BarSeries.from_rows("ES", "p", "1m", [(T0, 1.0, 1.0, 1.0, 1.0, 1.0, None)], ("count",))
    assert "count" not in s.columns and s[0].extra == {}
    s = BarSeries.from_rows("ES", "p", "1m", [(T0, 1.0, 1.0, 1.0, 1.0, 1.0, None),
                                               (T0 + MIN, 1.0, 1.0, 1.0, 1.0, 1.0, 4)], ("count",))
    assert s[0].extra == {} and s[1].extra == {"count": 4}


def test_bad_rows_and_names_are_refused_with_what_was_wrong() -> None:
    with pytest.raises(ValueError, match="every row needs 7 values"):
        BarSeries.from_rows("ES", "p", "1m", [(T0, 1.0, 1.0, 1.0, 1.0, 1.0)], ("count",))
    with pytest.raises(ValueError, match="distinct"):
        BarSeries.from_rows("ES", "p", "1m", [], ("open",))
    with pytest.raises(ValueError, match="equally long"):
        BarSeries("ES", "p", "1m", [T0], {"open": [], "high": [], "low": [], "close": [], "volume": []}, [True])


@pytest.mark.parametrize("extra", [True, False])
def test_the_frame_of_a_series_is_the_frame_of_its_bars(extra: bool) -> None:
    want = bars(300, extra)
    random.Random(5).shuffle(want)
    mine = bars_to_frame(BarSeries.of(want))
    theirs = bars_to_frame(want)
    assert mine.equals(theirs) and list(mine.columns) == list(theirs.columns)
    assert (mine.dtypes == theirs.dtypes).all()
    if extra:
        assert mine["count"].dtype.kind == "i" and mine["vwap"].iloc[0] == 10.2


def test_a_frame_keeps_text_extras_and_nan_prices() -> None:
    rows = [(T0, math.nan, 2.0, 1.0, 1.5, math.nan, "A"), (T0 + MIN, 1.0, 2.0, 1.0, 1.5, 3.0, None)]
    s = BarSeries.from_rows("ES", "p", "1m", rows, ("venue",))
    df = bars_to_frame(s)
    assert df.equals(bars_to_frame(list(s)))
    assert math.isnan(df["open"].iloc[0]) and df["venue"].iloc[0] == "A" and df["venue"].isna().iloc[1]
    assert df.index.tz is not None and df.index.name == "time"


def test_merge_joins_answers_a_later_one_winning() -> None:
    want = bars(40)
    first = BarSeries.of(want[:25])
    second = BarSeries.of([*want[20:], Bar("ES", want[22].time, "p", "1m", 1.0, 1.0, 1.0, 1.0, 1.0)])
    merged = merge([first, second])
    assert isinstance(merged, BarSeries) and len(merged) == 40
    assert merged[22].open == 1.0 and merged[22].extra == {}  # the later answer's copy, without extras
    assert merged[:22] == want[:22] and merged[23:] == want[23:]
    plain = merge([tuple(want[:25]), tuple(want[20:])])
    assert isinstance(plain, tuple) and plain == tuple(want)
    assert merge([first, tuple(want[25:])]) == want  # bars beside a series are read into it
    assert merge([]) == () and merge([BarSeries.of(())]) == ()


def test_extra_names_are_each_key_once_and_never_a_price_column() -> None:
    assert extra_names([{"vwap": 1.0, "open": 2.0}, {"count": 3, "vwap": 1.5}, {}]) == ["vwap", "count"]
    clash = Bar("ES", T0, "p", "1m", 1.0, 2.0, 0.5, 1.5, 9.0, extra={"open": 7.0, "count": 1})
    s = BarSeries.of([clash])
    assert s[0].open == 1.0 and s.extras == ["count"]


def test_an_extra_some_bars_lack_is_an_object_column_whatever_the_order() -> None:
    def row(t: int, *extra: Any) -> Any:
        return (T0 + t * MIN, 1.0, 2.0, 0.5, 1.5, 10.0, *extra)
    first_has = bars_to_frame(BarSeries.from_rows("ES", "p", "1m", [row(0, 1.5), row(1, None)], ("vwap",)))
    last_has = bars_to_frame(BarSeries.from_rows("ES", "p", "1m", [row(0, None), row(1, 1.5)], ("vwap",)))
    assert first_has["vwap"].dtype == last_has["vwap"].dtype == object
    assert first_has["vwap"].iloc[0] == 1.5 and last_has["vwap"].isna().iloc[0] and last_has["vwap"].iloc[1] == 1.5
    # a text value in one extra leaves its float neighbour float
    mixed = BarSeries.from_rows("ES", "p", "1m", [row(0, 1.5, 2.0), row(1, 2.5, "n/a")], ("vwap", "oi"))
    df = bars_to_frame(mixed)
    assert df["vwap"].dtype == np.float64 and df["oi"].dtype == object and mixed.sparse == frozenset()
    # ints stay int64; a slice without a bar that has an extra has no such column
    ints = BarSeries.from_rows("ES", "p", "1m", [row(0, 3), row(1, None), row(2, 4)], ("count",))
    assert ints.sparse == {"count"} and bars_to_frame(ints[::2])["count"].dtype == np.int64
    assert ints[1:2].extras == [] and ints[:0].extras == [] and "count" not in bars_to_frame(ints[:0])
