"""Bars held as columns: what a REST history decoder builds, and what the
history DataFrame is made from.

A price-history answer of half a million bars decoded into as many ``Bar``
objects costs a struct per bar, and reading eight fields back out of each
for the DataFrame costs twice what pandas needs to build the frame from
plain column lists. A decoder instead keeps each bar as a plain tuple and
hands the rows to :meth:`BarSeries.from_rows`, which turns them into one
list per column in C. The :class:`BarSeries` is a read-only sequence of
``Bar`` (code that iterates, indexes or compares a history answer sees bars
as before, each made when it is asked for) whose columns go to the
DataFrame as they are.
"""

from __future__ import annotations

from itertools import islice
from operator import itemgetter, lt
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Union, overload

from .events import EMPTY, Bar

__all__ = ["BarSeries", "merge", "extra_names", "PRICE_COLUMNS"]

PRICE_COLUMNS = ("open", "high", "low", "close", "volume")


class BarSeries(Sequence[Bar]):
    """Bars of one symbol and interval, ascending by start, one per start,
    held as columns: ``times`` (epoch ns), ``columns`` (``open high low
    close volume`` as floats, then the provider's extras, where ``None``
    means the bar has no such extra) and ``complete`` (one flag per bar).
    Indexing or iterating makes ``Bar`` events; equality is element-wise
    with any sequence of bars. Build one with :meth:`from_rows`."""

    __slots__ = ("symbol", "provider", "interval", "times", "columns", "complete", "sparse")

    def __init__(self, symbol: str, provider: str, interval: str, times: List[int],
                 columns: Mapping[str, List[Any]], complete: List[bool]) -> None:
        missing = [c for c in PRICE_COLUMNS if c not in columns]
        if missing or any(len(v) != len(times) for v in columns.values()) or len(complete) != len(times):
            raise ValueError(f"a BarSeries needs {PRICE_COLUMNS} and equally long columns (missing {missing})")
        self.symbol, self.provider, self.interval = symbol, provider, interval
        self.times = times
        self.columns: Dict[str, List[Any]] = {}
        sparse = []
        for name, values in columns.items():
            gaps = 0 if name in PRICE_COLUMNS else values.count(None)
            if gaps == len(values) and name not in PRICE_COLUMNS:
                continue  # an extra no bar has is no column
            self.columns[name] = values
            if gaps:
                sparse.append(name)
        self.sparse = frozenset(sparse)
        """The extra columns some bars lack (a ``None`` among their values)."""
        self.complete = complete

    @property
    def extras(self) -> List[str]:
        """The names of the extra columns, in order."""
        return [c for c in self.columns if c not in PRICE_COLUMNS]

    def __len__(self) -> int:
        return len(self.times)

    @overload
    def __getitem__(self, i: int) -> Bar: ...

    @overload
    def __getitem__(self, i: slice) -> "BarSeries": ...

    def __getitem__(self, i: Union[int, slice]) -> Union[Bar, "BarSeries"]:
        if isinstance(i, slice):
            return BarSeries(self.symbol, self.provider, self.interval, self.times[i],
                             {k: v[i] for k, v in self.columns.items()}, self.complete[i])
        c = self.columns
        extra = {k: c[k][i] for k in self.extras if c[k][i] is not None}
        return Bar(self.symbol, self.times[i], self.provider, self.interval, c["open"][i], c["high"][i], c["low"][i],
                   c["close"][i], c["volume"][i], self.complete[i], extra=extra or EMPTY)

    def __iter__(self) -> Iterator[Bar]:
        return map(self.__getitem__, range(len(self.times)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, (str, bytes)):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    __hash__ = None  # type: ignore[assignment]  # equal to lists, which do not hash

    def __repr__(self) -> str:
        return f"BarSeries({self.symbol!r}, {self.interval!r}, {len(self)} bars, provider={self.provider!r})"

    def ordered(self) -> "BarSeries":
        """This series ascending with one bar per start (the last one wins,
        as when a later page repeats a bar); itself when it already is."""
        times = self.times
        if all(map(lt, times, islice(times, 1, None))):  # in C: the usual answer is already in order
            return self
        at = dict(zip(times, range(len(times))))  # each start's last position
        return _take(self, [at[t] for t in sorted(at)])

    @classmethod
    def from_rows(cls, symbol: str, provider: str, interval: str, rows: Sequence[Sequence[Any]],
                  extras: Sequence[str] = (), complete: Union[bool, Sequence[bool]] = True) -> "BarSeries":
        """A series from row tuples ``(time, open, high, low, close, volume, *extras)`` (an extra ``None``
        where a bar lacks it; an extra no row has is no column), put in order as :meth:`ordered` does.
        ``complete`` is one flag for every bar or one per row."""
        names = PRICE_COLUMNS + tuple(extras)
        if len(set(names)) != len(names):
            raise ValueError(f"extra columns must be distinct and not {PRICE_COLUMNS}: {list(extras)}")
        if not set(map(len, rows)) <= {len(names) + 1}:
            raise ValueError(f"every row needs {len(names) + 1} values: time, {', '.join(names)}")
        cols = [list(map(itemgetter(k), rows)) for k in range(len(names) + 1)]
        flags = [complete] * len(rows) if isinstance(complete, bool) else list(complete)
        return cls(symbol, provider, interval, cols[0], dict(zip(names, cols[1:])), flags).ordered()

    @classmethod
    def of(cls, bars: Sequence[Any], symbol: Optional[str] = None, provider: Optional[str] = None,
           interval: Optional[str] = None, complete: Optional[Sequence[bool]] = None) -> "BarSeries":
        """``bars`` as a series, put in order as :meth:`ordered` does: Bar events of one symbol and interval, or
        any objects with a Bar's ``time``, prices, ``volume`` and ``extra`` (a decoder's own rows), for which
        ``symbol``, ``provider``, ``interval`` and the ``complete`` flags are given."""
        first = bars[0] if len(bars) else Bar("", 0, "")
        keys = extra_names(b.extra for b in bars)
        rows = [(b.time, b.open, b.high, b.low, b.close, b.volume, *map(b.extra.get, keys)) for b in bars]
        return cls.from_rows(first.symbol if symbol is None else symbol,
                             first.provider if provider is None else provider,
                             first.interval if interval is None else interval, rows, keys,
                             [b.complete for b in bars] if complete is None else complete)


def extra_names(extras: Iterable[Mapping[str, Any]]) -> List[str]:
    """The extra column names of bars with these ``extra`` mappings: every key once, in first-seen order, but
    none named as a price column (a server's field "Open" snake-cases to one; the bar's own price wins)."""
    return [k for k in dict.fromkeys(k for e in extras for k in e) if k not in PRICE_COLUMNS]


def merge(parts: Sequence[Sequence[Bar]]) -> Sequence[Bar]:
    """The bars of ``parts`` (consecutive answers for one symbol and interval) as one ascending sequence with one
    bar per start, a later part's bar winning: a :class:`BarSeries` when the parts are series (their columns
    joined as they are), else a tuple of the bars."""
    if not any(isinstance(p, BarSeries) for p in parts):
        by_start = {b.time: b for p in parts for b in p}
        return tuple(by_start[t] for t in sorted(by_start))
    series = [p if isinstance(p, BarSeries) else BarSeries.of(p) for p in parts if len(p)]
    if not series:
        return BarSeries.of(())
    names = list(dict.fromkeys(k for s in series for k in s.columns))
    times: List[int] = []
    flags: List[bool] = []
    cols: Dict[str, List[Any]] = {k: [] for k in names}
    for s in series:
        times += s.times
        flags += s.complete
        for k, col in cols.items():
            col += s.columns.get(k) or [None] * len(s)
    head = series[0]
    return BarSeries(head.symbol, head.provider, head.interval, times, cols, flags).ordered()


def _take(series: BarSeries, rows: List[int]) -> BarSeries:
    def pick(col: List[Any]) -> List[Any]:
        return list(map(col.__getitem__, rows))
    return BarSeries(series.symbol, series.provider, series.interval, pick(series.times),
                     {k: pick(v) for k, v in series.columns.items()}, pick(series.complete))
