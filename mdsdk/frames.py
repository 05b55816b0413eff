"""pandas DataFrames from events: the history contract, the quote table,
and the tables :func:`mdsdk.export` writes (CSV, Parquet, Excel).

The only module that imports pandas. History frames have a tz-aware UTC
``DatetimeIndex`` named ``time`` (bar start), float64 columns
``open high low close volume`` first and provider extras after, sorted
ascending with no duplicate index values; an empty range gives an empty
frame with the same columns. Frames are built from column lists, the fastest
way pandas offers.
"""

from __future__ import annotations

import json
import re
import time
from operator import attrgetter, itemgetter
from typing import Any, Dict, Iterable, List, Mapping, Sequence, Tuple, Type

import numpy as np
import pandas as pd

from .events import Bar, Event, Quote
from .series import BarSeries

__all__ = ["bars_to_frame", "series_to_frame", "ticks_to_frame", "quotes_to_frame", "from_columns", "to_text",
           "table", "OHLCV",
           "events_to_frames", "events_to_table", "is_frame", "excel_frame", "write_csv", "write_parquet",
           "write_excel"]

OHLCV = ("open", "high", "low", "close", "volume")


def bars_to_frame(bars: Sequence[Bar]) -> pd.DataFrame:
    """Bars -> the history DataFrame contract (later duplicates win)."""
    if isinstance(bars, BarSeries):
        return series_to_frame(bars)
    n = len(bars)
    # map(attrgetter) walks the objects in C: twice as fast as a generator per column.
    times = np.fromiter(map(attrgetter("time"), bars), dtype=np.int64, count=n)
    cols: Dict[str, np.ndarray] = {
        name: np.fromiter(map(attrgetter(name), bars), dtype=np.float64, count=n) for name in OHLCV}
    extras = [b.extra for b in bars]  # a dict per bar: the comprehension's slot read beats attrgetter here
    extra_keys = [k for k in extras[0] if k not in cols] if extras else []
    for key in extra_keys:
        if isinstance(extras[0][key], float):
            try:  # the common case, in one C-level pass
                cols[key] = np.fromiter(map(itemgetter(key), extras), dtype=np.float64, count=n)
                continue
            except (KeyError, TypeError, ValueError):
                pass
        cols[key] = _extra_column([e.get(key) for e in extras])
    return from_columns(times, cols)


def series_to_frame(series: BarSeries) -> pd.DataFrame:
    """A :class:`~mdsdk.series.BarSeries` -> the history DataFrame, straight from its column lists. An extra some
    bars lack is an object column whichever bar lacks it (as :func:`bars_to_frame` makes it)."""
    n = len(series)
    times = np.fromiter(series.times, dtype=np.int64, count=n)
    cols: Dict[str, np.ndarray] = {}
    for name, values in series.columns.items():
        # np.fromiter would read a None as nan without a word: only complete float columns go that way
        if name in OHLCV or (n and name not in series.sparse and values[0].__class__ is float):
            try:  # prices, volumes and float extras (the usual answer): one C pass over the list
                cols[name] = np.fromiter(values, dtype=np.float64, count=n)
                continue
            except (TypeError, ValueError):  # a str in a float extra
                pass
        cols[name] = _extra_column(values)
    return from_columns(times, cols)


def _extra_column(values: List[Any]) -> np.ndarray:
    arr = np.array(values)
    # numbers stay numeric (ints as int64, e.g. trade dates); anything else is object
    return arr if arr.dtype.kind in "iufb" else np.array(values, dtype=object)


def from_columns(times: np.ndarray, columns: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Build the contract frame from epoch-ns ``times`` and column arrays."""
    times = np.asarray(times, dtype=np.int64)
    index = pd.DatetimeIndex(times.view("datetime64[ns]"), tz="UTC", name="time")
    n = len(times)
    ordered = {c: columns[c] if c in columns else np.full(n, np.nan) for c in OHLCV}
    ordered.update((c, v) for c, v in columns.items() if c not in OHLCV)
    # copy=False: the arrays were built for this frame; copying them would double the cost.
    df = pd.DataFrame(ordered, index=index, copy=False)
    # Strictly ascending (the usual answer) is one numpy comparison; pandas' own checks cost five times that.
    if n > 1 and not (times[1:] > times[:-1]).all():
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


# ---------------------------------------------------------------- events as tables (exports)
def is_frame(data: Any) -> bool:
    """True when ``data`` is a pandas DataFrame."""
    return isinstance(data, pd.DataFrame)


def events_to_frames(events: Sequence[Event], empty: Sequence[Type[Event]] = ()) -> Dict[str, pd.DataFrame]:
    """Events -> one DataFrame per kind, in the order the kinds first appear (then an empty table for each
    class of ``empty`` not seen): UTC index ``time``, columns ``symbol provider``, the kind's own fields, then
    its extras (a key that clashes with a field gets the suffix ``_extra``). Rows keep the events' order;
    nested values (book levels, mappings) become JSON text, so every format can hold them."""
    return {kind: _kind_frame(cls, evs) for kind, (cls, evs, _) in _grouped(events, empty).items()}


def events_to_table(events: Sequence[Event], empty: Sequence[Type[Event]] = ()) -> pd.DataFrame:
    """Events of any kinds -> one long table in the events' order: UTC index ``time``, a first column
    ``event`` naming each row's kind ("quote", "trade", ...), then the union of the kinds' columns (as in
    :func:`events_to_frames`), empty where a kind has no such field."""
    parts, order = [], []
    for kind, (cls, evs, positions) in _grouped(events, empty).items():
        part = _kind_frame(cls, evs)
        part.insert(0, "event", kind)
        parts.append(part)
        order.extend(positions)
    if not parts:
        index = pd.DatetimeIndex([], dtype="datetime64[ns, UTC]", name="time")
        return pd.DataFrame({"event": [], "symbol": [], "provider": []}, index=index, dtype=object)
    table = pd.concat(parts) if len(parts) > 1 else parts[0]
    return table.iloc[np.argsort(np.asarray(order, dtype=np.int64), kind="stable")]


def _grouped(events: Sequence[Event], empty: Sequence[Type[Event]]
             ) -> Dict[str, Tuple[Type[Event], List[Event], List[int]]]:
    groups: Dict[str, Tuple[Type[Event], List[Event], List[int]]] = {}
    for i, ev in enumerate(events):
        group = groups.get(ev.topic)
        if group is None:
            group = groups[ev.topic] = (type(ev), [], [])
        group[1].append(ev)
        group[2].append(i)
    for cls in empty:
        groups.setdefault(cls.topic, (cls, [], []))
    return groups


def _kind_frame(cls: Type[Event], events: List[Event]) -> pd.DataFrame:
    n = len(events)
    times = np.fromiter(map(attrgetter("time"), events), dtype=np.int64, count=n)
    index = pd.DatetimeIndex(times.view("datetime64[ns]"), tz="UTC", name="time")
    fields = [f for f in cls.__struct_fields__ if f not in ("time", "extra")]
    cols: Dict[str, Any] = {name: _column(list(map(attrgetter(name), events))) for name in fields}
    extras = [e.extra for e in events]
    for key in dict.fromkeys(k for x in extras for k in x):
        cols[f"{key}_extra" if key in cols or key == "time" else key] = _column([x.get(key) for x in extras])
    if not n:  # no rows to infer from: text columns stay text, not float
        return pd.DataFrame({k: pd.Series([], dtype=object) for k in cols}, index=index)
    return pd.DataFrame(cols, index=index)


def _column(values: List[Any]) -> Any:
    """One column's values in a shape every format stores: numbers as
    float64 (missing -> nan), ints as int64, text and bools as they are,
    nested values as JSON text, and a column of mixed types as text."""
    present = {type(v) for v in values if v is not None}
    if present and present <= {float, int}:
        try:
            if present == {int} and None not in values:
                return np.array(values, dtype=np.int64)
            return np.array(values, dtype=np.float64)
        except OverflowError:
            pass  # an int too large for int64: as text below
    elif present <= {str} or present == {bool}:
        return values
    return [v if v is None or isinstance(v, str) else _text(v) for v in values]


def _text(value: Any) -> str:
    if isinstance(value, Mapping):
        value = dict(value)
    elif not isinstance(value, (list, tuple)):
        return str(value)
    return json.dumps(value, default=str, ensure_ascii=False)


# Control characters an .xlsx cell may not hold (XML 1.0); openpyxl refuses the whole file for one.
_NOT_IN_XLSX = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def excel_frame(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` as Excel can hold it: tz-aware times (index or columns) become
    naive UTC with ``(UTC)`` added to the header, since a cell has no time
    zone; control characters are dropped from text."""
    out = df.copy(deep=False)
    index = out.index
    if isinstance(index, pd.DatetimeIndex) and index.tz is not None:
        out.index = index.tz_convert("UTC").tz_localize(None).rename(f"{index.name or 'time'} (UTC)")
    renames = {}
    for col in out.columns:
        dtype = out[col].dtype
        if isinstance(dtype, pd.DatetimeTZDtype):
            out[col] = out[col].dt.tz_convert("UTC").dt.tz_localize(None)
            renames[col] = f"{col} (UTC)"
        elif pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
            out[col] = out[col].map(lambda v: _NOT_IN_XLSX.sub("", v) if isinstance(v, str) else v)
    return out.rename(columns=renames)


def _keeps_index(df: pd.DataFrame) -> bool:
    # A plain 0..n-1 row number carries nothing; a named or time index is data.
    return not (isinstance(df.index, pd.RangeIndex) and df.index.name is None)


def write_csv(df: pd.DataFrame, path: str) -> None:
    """``df`` as CSV at ``path`` (times in ISO 8601 with their ``+00:00``)."""
    df.to_csv(path, index=_keeps_index(df))


def write_parquet(df: pd.DataFrame, path: str) -> None:
    """``df`` as Parquet at ``path`` through pyarrow (types and UTC times kept)."""
    df.to_parquet(path, engine="pyarrow")


def write_excel(sheets: Mapping[str, pd.DataFrame], path: str) -> None:
    """Each frame of ``sheets`` as a sheet of one .xlsx workbook at ``path``
    (through openpyxl), header row frozen and filterable."""
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for name, df in sheets.items():
            keep = _keeps_index(df)
            frozen = (1, int(keep)) if len(df) else None  # a pane over no rows would add an empty one
            excel_frame(df).to_excel(writer, sheet_name=name, index=keep, freeze_panes=frozen, autofilter=True)
