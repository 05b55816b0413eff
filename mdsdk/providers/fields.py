"""Field tables: frames decoded from data, one mechanism for every provider.

A :class:`Table` says, as data, how one event class is read off the wire: which wire field (a name, or a numeric key
as TDA and Schwab send) fills which attribute through which converter, which make the time and the symbol, and how
the others reach ``extra`` (snake_case; a numeric key only under a name the table gives it). Bound to a layout (the
field order a server announced) it decodes flat arrays (:meth:`Table.rows`); bound to nothing, dicts
(:meth:`Table.dicts`). Both go through one column core: a column is one wire field across a frame's rows (a strided
slice, or one key gathered from every dict), converted once at C speed (``map(float, col)``) with a tolerant
per-value fallback only for a column holding a bad value; events are built from C with positional arguments
(``map(cls, *columns)``). Frames of a few rows are read row by row, where a column's fixed cost would dominate.
Nothing is generated or ``exec``'d.

Whatever a frame holds, decoding raises nothing but TypeError, ValueError, KeyError or IndexError; a row whose
symbol is not a non-empty str is skipped, and every time comes out as an int in the int64 nanosecond range."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import os
from itertools import chain, compress, islice, repeat
from operator import itemgetter, mul
from types import MemberDescriptorType
from typing import (Any, Callable, Dict, FrozenSet, Generic, Iterable, List, Mapping, Optional, Sequence,
                    Tuple, Type, TypeVar)

from ..events import EMPTY
from .convert import (_BAD, _KEY, _MAX_NS, MAX_MS, MAX_TEXT, NS_PER_MS, Converter, Wire, _consume, _wire, converter,
                      flag, int_or_zero, integer, ms_ns, num, plain, snake, strict_num, text)

__all__ = [
    "Field", "Table", "RowDecoder", "DictDecoder", "Converter", "converter", "num", "strict_num", "text",
    "integer", "int_or_zero", "ms_ns", "flag", "plain", "snake", "MAX_MS", "NS_PER_MS", "MAX_TEXT"]

T = TypeVar("T")


# ---------------------------------------------------------------- tables
@dataclasses.dataclass(frozen=True)
class Field:
    """One wire field read into ``ours``: an attribute of the table's class, or else an ``extra`` key (snake_case; how
    a numeric key gets a readable name). ``wire`` is a field name or a numeric key; ``convert`` a :class:`Converter`
    or a plain function of one value."""

    ours: str
    wire: Wire
    convert: Callable[[Any], Any] = num


@dataclasses.dataclass(frozen=True)
class Table(Generic[T]):
    """How one class is read off the wire, as data.

    ``cls`` is a slotted dataclass (an event class). ``fields`` map wire fields to attributes or named extras.
    ``symbol`` names the wire field holding the symbol (None: the caller passes it). The event time is the largest
    of the present ``time`` fields read by ``time_convert`` (epoch ms by default, to ns), plus the sub-millisecond
    ``nanos`` field, or the receive time when none is present. Other wire fields go to ``extra`` under their
    snake_case name, through ``extra_convert[name]`` or else ``rest`` (None: they are dropped), unless listed in
    ``skip``; numeric keys never do. ``if_absent`` holds ``(wire, key, value)``: extra ``key`` is ``value`` when
    ``wire`` is missing from the layout (arrays only)."""

    cls: Type[T]
    fields: Tuple[Field, ...] = ()
    symbol: Optional[Wire] = None
    time: Tuple[Wire, ...] = ()
    nanos: Optional[Wire] = None
    time_convert: Callable[[Any], int] = ms_ns
    skip: FrozenSet[str] = frozenset()
    extra_convert: Mapping[str, Callable[[Any], Any]] = dataclasses.field(default_factory=dict, compare=False)
    rest: Optional[Callable[[Any], Any]] = num
    if_absent: Tuple[Tuple[Wire, str, Any], ...] = ()

    def rows(self, layout: Sequence[str], provider: str) -> "RowDecoder[T]":
        """A decoder of flat arrays laid out as ``layout`` (the wire names in order)."""
        return RowDecoder(self, layout, provider)

    def dicts(self, provider: str) -> "DictDecoder[T]":
        """A decoder of dicts keyed by wire names."""
        return DictDecoder(self, provider)

    def wires(self) -> List[str]:
        """The wire names this table reads, symbol and time first, without repeats."""
        named = [self.symbol] if self.symbol is not None else []
        named += [*self.time, *([self.nanos] if self.nanos is not None else []), *(f.wire for f in self.fields)]
        return list(dict.fromkeys(map(_wire, named)))


_REQUIRED = object()


# An event class's signature never changes, and reading it (type hints included) costs a tenth of a
# millisecond: each protocol object builds its decoders, and fuzzing or reconnect-heavy tests build thousands.
_signature = functools.lru_cache(maxsize=256)(inspect.signature)


class _Builder:
    """Makes instances of an event class (its positional parameters are its
    fields) with ``map(cls, *columns)``, in C; keyword-only fields (``extra``)
    are then written by their slot setters, which a frozen class cannot refuse."""

    __slots__ = ("cls", "names", "order", "defaults", "_positional", "kwonly")

    def __init__(self, cls: type) -> None:
        self.cls = cls
        self.defaults: Dict[str, Any] = {}
        self.kwonly: List[Tuple[str, Callable[[Any, Any], None], Any]] = []
        for p in _signature(cls).parameters.values():
            default = _REQUIRED if p.default is p.empty else p.default
            if p.kind is p.KEYWORD_ONLY:
                desc = getattr(cls, p.name, None)
                if not isinstance(desc, MemberDescriptorType) or default is _REQUIRED:
                    raise TypeError(f"{cls.__name__}.{p.name}: keyword-only fields need a slot and a default")
                self.kwonly.append((p.name, desc.__set__, default))
            elif p.kind is not p.POSITIONAL_OR_KEYWORD:
                raise TypeError(f"{cls.__name__} takes *args or **kwargs: its parameters are not its fields")
            self.defaults[p.name] = default
        self.names = frozenset(self.defaults)
        self.order = [name for name in self.defaults if name not in {k for k, _, _ in self.kwonly}]
        # repeat() never runs out, so one per default serves every frame.
        self._positional = [(name, None if self.defaults[name] is _REQUIRED else repeat(self.defaults[name]))
                            for name in self.order]

    def build(self, n: int, cols: Mapping[str, Iterable[Any]]) -> List[Any]:
        """``n`` instances; ``cols`` gives each attribute's values (a list, or
        ``repeat(value)``), attributes without a column get their default."""
        args = []
        for name, default in self._positional:
            col = cols.get(name, default)
            if col is None:
                raise ValueError(f"no value for {self.cls.__name__}.{name}")
            args.append(col)
        # map stops at its shortest argument: a column of n values, unless every column is a repeat().
        out = list(map(self.cls, *args) if any(a.__class__ is list for a in args) else islice(map(self.cls, *args), n))
        for name, setter, _ in self.kwonly:
            col = cols.get(name)
            if col is not None:
                _consume(map(setter, out, col))
        return out


# ---------------------------------------------------------------- the column core
Column = Callable[[Any], Sequence[Any]]  # a column key -> that wire field across every row


class _Plan:
    """A table bound to one layout: where each wire field sits and what it becomes. :meth:`columns` turns a frame, seen
    through a column getter, into one list per attribute; :meth:`row` reads one row. The column getter is the
    array's own ``__getitem__``, given the slice :attr:`keys` holds for a layout index."""

    def __init__(self, table: Table[Any], layout: Sequence[str], attrs: FrozenSet[str], rest: bool) -> None:
        if not all(n.__class__ is str for n in layout):
            raise TypeError("field names must be str")
        self.keys = [slice(i, None, len(layout)) for i in range(len(layout))]
        pos = {n: i for i, n in enumerate(layout)}
        self.symbol = pos.get(_wire(table.symbol)) if table.symbol is not None else None
        self.times = [pos[w] for w in map(_wire, table.time) if w in pos]
        self.nanos = pos.get(_wire(table.nanos)) if table.nanos is not None else None
        self.time_convert = converter(table.time_convert)
        self.fields: List[Tuple[str, int, Converter]] = []
        self.extras: List[Tuple[str, int, Converter]] = []
        for f in table.fields:
            w = _wire(f.wire)
            if w in pos:
                (self.fields if f.ours in attrs else self.extras).append((f.ours, pos[w], converter(f.convert)))
        used = set(table.wires()) | table.skip
        for i, name in enumerate(layout):
            conv = table.extra_convert.get(name, table.rest)
            if rest and conv is not None and name not in used and _KEY.match(snake(name)):
                self.extras.append((snake(name), i, converter(conv)))
        self.constants = [(key, value) for w, key, value in table.if_absent if rest and _wire(w) not in pos]
        self.extra_keys = [key for key, _, _ in self.extras] + [key for key, _ in self.constants]
        self.extra_template = {**dict.fromkeys(self.extra_keys), **dict(self.constants)}
        # Row reading: the fields grouped by converter, so one row converts in a few C calls.
        groups: Dict[Converter, List[Tuple[str, int]]] = {}
        for ours, i, conv in self.fields:
            groups.setdefault(conv, []).append((ours, i))
        # itemgetter of two or more indices returns a tuple, in C; of one, a bare value.
        self.groups = [(conv.fast, conv.one, itemgetter(*(i for _, i in items)) if len(items) > 1 else None,
                        items[0][1]) for conv, items in groups.items()]
        self.group_names = [ours for items in groups.values() for ours, _ in items]
        self.time_get = itemgetter(*self.times) if len(self.times) > 1 else None
        self.time_keys = [self.keys[i] for i in self.times]
        self.by_column = [(ours, self.keys[i], conv.fast, conv.one) for ours, i, conv in self.fields]
        self.extras_by_column = [(key, self.keys[i], conv.fast, conv.one) for key, i, conv in self.extras]
        self.time_one = self.times[0] if len(self.times) == 1 else None

    def columns(self, get: Column, n: int, received_ns: int) -> Tuple[Dict[str, Any], Optional[List[bool]]]:
        """``({attribute: values}, keep)``: ``keep`` is None when every row has a
        good symbol, else a mask of the rows that do (the caller filters)."""
        cols: Dict[str, Any] = {}
        keep = None
        if self.symbol is not None:
            cols["symbol"] = syms = get(self.keys[self.symbol])
            keep = _symbol_mask(syms)
        cols["time"] = self._times(get, n, received_ns)
        # Converter.column inlined: this loop runs per field per frame.
        for ours, key, fast, one in self.by_column:
            raw = get(key)
            try:
                cols[ours] = fast(raw)
            except _BAD:
                cols[ours] = list(map(one, raw))
        if self.extra_keys:
            # Copies of one template, then one C pass per key: cheaper than dict(zip(...)) per row.
            cols["extra"] = extra = list(map(dict.copy, repeat(self.extra_template, n)))
            for name, key, fast, one in self.extras_by_column:
                raw = get(key)
                try:
                    col = fast(raw)
                except _BAD:
                    col = list(map(one, raw))
                _consume(map(dict.__setitem__, extra, repeat(name), col))
        return cols, keep

    def _times(self, get: Column, n: int, received_ns: int) -> List[int]:
        if not self.times:
            return [received_ns] * n
        cols = list(map(get, self.time_keys))
        nanos = get(self.keys[self.nanos]) if self.nanos is not None else None
        if self.time_convert is ms_ns:
            try:
                return _ms_times(cols, nanos, n, received_ns)
            except _BAD:
                pass  # a missing, odd or out-of-range time somewhere: value by value
        ns = _max_columns([list(map(self.time_ns, c)) for c in cols])
        if nanos is None:
            return [t or received_ns for t in ns]
        return [t + _nanos(x) if t else received_ns for t, x in zip(ns, nanos)]

    def time_ns(self, value: Any) -> int:
        """One wire time as epoch ns, 0 when missing, invalid or out of range."""
        if value.__class__ is int and self.time_convert is ms_ns:
            return value * NS_PER_MS if 0 < value < MAX_MS else 0
        ns = self.time_convert.one(value)
        return ns if ns.__class__ is int and 0 < ns < _MAX_NS else 0

    def row(self, row: List[Any], received_ns: int) -> Optional[List[Any]]:
        """``[symbol, time, extra, *values]`` of one row (values in the order
        of :attr:`group_names`), or None when its symbol is bad."""
        sym = row[self.symbol] if self.symbol is not None else ""  # "": the caller gives it
        if self.symbol is not None and (sym.__class__ is not str or not sym):
            return None
        if self.time_get is not None:
            try:
                ms = max(self.time_get(row))
            except TypeError:
                ms = None  # a str beside an int: the careful path
        else:
            ms = row[self.time_one] if self.time_one is not None else 0
        if ms.__class__ is int and 0 <= ms < MAX_MS and self.time_convert is ms_ns:
            t = ms * NS_PER_MS
            if t and self.nanos is not None:
                t += _nanos(row[self.nanos])
        else:
            t = self.row_time(row)
        extra: Mapping[str, Any] = EMPTY
        if self.extra_keys:
            extra = {key: conv.one(row[i]) for key, i, conv in self.extras}
            extra.update(self.constants)
        out = [sym, t or received_ns, extra]
        for fast, one, get, first in self.groups:
            raw = get(row) if get is not None else (row[first],)
            try:
                out += fast(raw)
            except _BAD:  # a bad value in this group: value by value
                out += map(one, raw)
        return out

    def row_time(self, row: List[Any]) -> int:
        """One row's event time value by value (0 when it has none)."""
        t = max(map(self.time_ns, [row[i] for i in self.times]), default=0)
        return t + _nanos(row[self.nanos]) if t and self.nanos is not None else t


def _nanos(x: Any) -> int:
    return x if x.__class__ is int and 0 <= x < NS_PER_MS else 0


def _ms_times(cols: List[Sequence[Any]], nanos: Optional[Sequence[Any]], n: int, received_ns: int) -> List[int]:
    """Event times from epoch-ms columns, checked in C; raises when a value
    is not a number in range (the caller then goes value by value)."""
    cols = list(filter(any, cols))  # a column of zeros (eventTime on most feeds) holds no time
    if not cols:
        return [received_ns] * n
    first = cols[0]
    # A column equal to the first (bid and ask times often are) adds nothing: it is neither checked nor compared.
    others = [c for c in cols[1:] if c != first]
    for c in [first, *others]:  # TypeError for str, None or lists; a float sum for 1.5 or a bare NaN: careful path
        if type(sum(c)) is not int:
            raise ValueError("not int times")
    # The later time of each row, times NS_PER_MS, in one pass; the range check then reads the products: a row
    # maximum passes over a missing (<= 0) time beside a good one, and only the maximum must be in range.
    if not others:
        ns = list(map(mul, first, repeat(NS_PER_MS)))
    elif len(others) == 1:
        ns = [(a if a > b else b) * NS_PER_MS for a, b in zip(first, others[0])]
    else:
        ns = list(map(mul, _max_columns(cols), repeat(NS_PER_MS)))
    lo, hi = min(ns), max(ns)
    if lo < 0 or hi >= _MAX_NS:
        raise ValueError("time out of range")
    if nanos is not None and any(nanos):
        if not {int}.issuperset(map(type, nanos)) or min(nanos) < 0 or max(nanos) >= NS_PER_MS:
            raise ValueError("timeNanoPart not an int in range")
        return [t + x if t else received_ns for t, x in zip(ns, nanos)]
    if lo:  # every row has a time
        return ns
    return [t or received_ns for t in ns]


def _max_columns(cols: List[Sequence[Any]]) -> Sequence[Any]:
    out = cols[0]
    for c in cols[1:]:
        if c != out:  # bid and ask times are often equal: then there is nothing to pick
            out = [a if a > b else b for a, b in zip(out, c)]
    return out


def _symbol_mask(syms: Sequence[Any]) -> Optional[List[bool]]:
    try:
        "".join(syms)  # raises TypeError unless every symbol is a str
        if "" not in syms:
            return None
    except TypeError:
        pass
    return [s.__class__ is str and s != "" for s in syms]


def _filter(cols: Dict[str, Any], keep: List[bool]) -> int:
    for name, col in cols.items():
        cols[name] = list(compress(col, keep))
    return sum(keep)


# ---------------------------------------------------------------- decoders
def compiled(name: str) -> Any:
    """The function ``name`` of the optional compiled module (``_accel.c``), or None when it was not built, is a
    stale build, or ``MDSDK_PURE_PYTHON`` is set: every caller keeps a pure-Python path that gives the same
    results."""
    if os.environ.get("MDSDK_PURE_PYTHON"):
        return None
    try:
        from . import _accel
    except ImportError:
        return None
    return getattr(_accel, name, None) if getattr(_accel, "API", None) == 2 else None  # a stale build: unused


# The clean-row path: every row of a plain layout in one C loop, None back for a frame with anything unclean in it.
_plain_rows: Optional[Callable[..., Optional[List[Any]]]] = compiled("plain_rows")
_ACCEL_MAX_FIELDS = 64  # the compiled loop's bound on time and number fields (MAX_FIELDS)

# Below this many rows a frame is read row by row: the column path's fixed
# cost per field outweighs its lower cost per value.
_SMALL = 5


class RowDecoder(Generic[T]):
    """A table bound to a server's announced field order: decodes flat arrays of ``stride`` values per row (DXLink
    COMPACT; a FULL object's values are one row); calling it is :meth:`decode_rows` with its own stride. A table
    without a symbol field gives "" for the caller to set (see :class:`DictDecoder`); ``rest=False`` drops unnamed
    fields and ``if_absent``."""

    __slots__ = ("table", "layout", "provider", "stride", "_plan", "_builder", "_args", "_kwonly", "_tail", "_plain",
                 "_compiled")

    def __init__(self, table: Table[T], layout: Sequence[str], provider: str, rest: bool = True) -> None:
        if not layout:
            raise ValueError("an empty field layout")
        self.table, self.layout, self.provider = table, tuple(layout), provider
        self.stride = len(self.layout)
        self._builder = _Builder(table.cls)
        self._plan = _Plan(table, self.layout, self._builder.names, rest)
        if self._plan.symbol is None and table.symbol is not None:
            raise ValueError(f"the layout has no symbol field {table.symbol!r}")
        # Row path: head + values + tail hold every field; _args picks the positional ones.
        builder = self._builder
        names = ["symbol", "time", "extra", *self._plan.group_names]
        consts = [(name, provider if name == "provider" else builder.defaults[name])
                  for name in builder.defaults if name not in names]
        self._tail = [value for _, value in consts]
        if _REQUIRED in self._tail:
            raise ValueError(f"the table gives no value for a field of {table.cls.__name__}")
        index = {name: i for i, name in enumerate(names + [name for name, _ in consts])}
        self._args = itemgetter(*(index[name] for name in builder.order))
        self._kwonly = [(setter, index[name], default) for name, setter, default in builder.kwonly]
        self._plain = self._compiled = None
        numbers = self._plain_numbers()
        if numbers:
            get = itemgetter(*numbers)
            self._plain = get if len(numbers) > 1 else lambda row: (get(row),)
            plan = self._plan
            if _plain_rows is not None and max(len(numbers), len(plan.times)) <= _ACCEL_MAX_FIELDS:
                self._compiled = functools.partial(_plain_rows, self.stride, plan.symbol, tuple(plan.times),
                                                   -1 if plan.nanos is None else plan.nanos, numbers, table.cls,
                                                   provider, MAX_MS)

    def _plain_numbers(self) -> Tuple[int, ...]:
        """For a layout whose row is a symbol, ms times and plain numbers filling every positional attribute after
        ``provider`` (a typical Quote or Trade): where those numbers sit in a row, in the class's order, so that a
        clean row becomes an event in a few C calls (:meth:`_plain_row`, or the compiled loop for every row at
        once). Empty for any other layout."""
        plan, order = self._plan, self._builder.order
        numbers = {ours: i for ours, i, conv in plan.fields if conv is num}
        tail = order[3:]
        if (plan.extra_keys or plan.symbol is None or plan.time_convert is not ms_ns or order[:3] != ["symbol", "time",
                "provider"] or not tail or sorted(tail) != sorted(numbers) or len(plan.fields) != len(tail)):
            return ()
        return tuple(numbers[name] for name in tail)

    def _plain_row(self, row: Sequence[Any], received_ns: int) -> Optional[T]:
        """One clean row as an event, or None when anything in it needs the careful path (which then decides)."""
        plan = self._plan
        sym = row[plan.symbol]  # type: ignore[index]
        if sym.__class__ is not str or not sym:
            return None
        ms = max(plan.time_get(row)) if plan.time_get is not None else (
            row[plan.time_one] if plan.time_one is not None else 0)
        if ms.__class__ is not int or not 0 <= ms < MAX_MS:
            return None
        t = ms * NS_PER_MS
        if t and plan.nanos is not None:
            t += _nanos(row[plan.nanos])
        vals = list(map(float, self._plain(row)))  # type: ignore[misc]
        total = sum(vals)
        if total - total != 0 and (math.inf in vals or -math.inf in vals):
            return None
        return self.table.cls(sym, t or received_ns, self.provider, *vals)  # type: ignore[call-arg]

    def decode_rows(self, values: Sequence[Any], stride: int, received_ns: int) -> List[T]:
        """One object per row of ``values`` (a list or tuple whose length is a
        multiple of ``stride``, which must be this layout's); rows without a
        non-empty str symbol are skipped."""
        if stride != self.stride:
            raise ValueError(f"stride {stride} does not match the {self.stride}-field layout")
        return self(values, received_ns)

    def __call__(self, values: Sequence[Any], received_ns: int) -> List[T]:
        """:meth:`decode_rows` with this layout's stride (the body lives here:
        a decoder is called once per frame, and a second call cost there)."""
        if values.__class__ is not list and values.__class__ is not tuple:
            raise TypeError(f"values must be a list, not {type(values).__name__}")
        rows = values if values.__class__ is list else list(values)
        stride = self.stride
        n, odd = divmod(len(rows), stride)
        if odd:
            raise ValueError(f"{len(rows)} values is not a multiple of the {stride} fields")
        if self._compiled is not None:
            out = self._compiled(rows, received_ns)
            if out is not None:
                return out
        if n < _SMALL:
            return self._rows(rows, n, received_ns)
        cols, keep = self._plan.columns(rows.__getitem__, n, received_ns)
        if keep is not None:
            n = _filter(cols, keep)
        cols["provider"] = repeat(self.provider)
        cols.setdefault("symbol", repeat(""))
        return self._builder.build(n, cols)

    def _rows(self, values: List[Any], n: int, received_ns: int) -> List[T]:
        plan, stride, cls, args, tail = self._plan, self.stride, self.table.cls, self._args, self._tail
        out: List[T] = []
        plain = self._plain
        for o in range(0, n * stride, stride):
            row = values[o:o + stride] if n > 1 else values
            if plain is not None:
                try:
                    obj = self._plain_row(row, received_ns)
                except _BAD:
                    obj = None
                if obj is not None:
                    out.append(obj)
                    continue
            head = plan.row(row, received_ns)
            if head is None:
                continue
            head += tail
            obj = cls(*args(head))
            for setter, i, default in self._kwonly:
                if head[i] is not default:
                    setter(obj, head[i])
            out.append(obj)
        return out


class DictDecoder(Generic[T]):
    """A table read from dicts keyed by wire names (TDA/Schwab numeric keys, Tradovate, ThetaData, CrossTrade JSON):
    each dict becomes a row of the table's own wire names (gathered in C) for a :class:`RowDecoder`. A key the table
    does not read goes to ``extra`` under its snake_case name (through ``extra_convert`` or ``rest``) unless it is
    numeric, skipped, or ``rest`` is None. Partial updates (TDA/Schwab send what changed) are merged by the caller
    into a per-symbol dict first: ``state.setdefault(key, {}).update(obj)``."""

    __slots__ = ("table", "provider", "_keys", "_known", "_rows", "_setters", "_names")

    def __init__(self, table: Table[T], provider: str) -> None:
        self.table, self.provider = table, provider
        self._keys = table.wires()
        self._known = frozenset(self._keys) | table.skip
        self._rows = RowDecoder(table, self._keys, provider, rest=False)
        self._setters = {name: getattr(table.cls, name).__set__ for name in self._rows._builder.names}
        self._names: Dict[str, Optional[str]] = {}  # wire key -> extra key (None: dropped)

    def decode_dicts(self, objs: Sequence[Any], received_ns: int, **given: Any) -> List[T]:
        """One object per dict of ``objs``, skipping those whose symbol field
        holds no non-empty str. ``given`` attributes, the same for every object
        and trusted as they are, override the decoded ones (``symbol`` when the
        table names no symbol field, ``provider``...); a given ``extra`` is
        merged over the decoded one."""
        objs = list(objs)
        if not {dict}.issuperset(map(type, objs)):
            raise TypeError("every item must be a JSON object")
        if self.table.symbol is None and "symbol" not in given:
            raise ValueError(f"the {self.table.cls.__name__} table names no symbol field: give symbol=")
        if self.table.symbol is not None:  # drop them here, so objects and events stay aligned
            key = _wire(self.table.symbol)
            objs = [o for o in objs if o.get(key).__class__ is str and o[key]]
        keys = self._keys
        values = list(chain.from_iterable(map(map, repeat(dict.get), map(repeat, objs), repeat(keys))))
        out = self._rows.decode_rows(values, len(keys), received_ns)
        more = given.pop("extra", None)
        if self.table.rest is not None or self.table.extra_convert or more:
            _consume(map(self._setters["extra"], out, self._extras(objs, out, more or {})))
        for name, value in given.items():
            if name not in self._setters:
                raise TypeError(f"{self.table.cls.__name__} has no attribute {name!r}")
            _consume(map(self._setters[name], out, repeat(value)))
        return out

    def decode_dict(self, obj: Mapping[str, Any], received_ns: int, **given: Any) -> Optional[T]:
        """One dict as one object (None when its symbol is missing or bad); see
        :meth:`decode_dicts` for ``given``."""
        out = self.decode_dicts([obj], received_ns, **given)
        return out[0] if out else None

    def _extras(self, objs: List[Dict[str, Any]], out: List[Any], more: Mapping[str, Any]) -> List[Any]:
        """Per object, its decoded extras, the keys the table does not read, then ``more``."""
        rest, convert, names, known = self.table.rest, self.table.extra_convert, self._names, self._known
        extras: List[Any] = []
        for obj, ev in zip(objs, out):
            ext = {**ev.extra}
            others = obj.keys() - known if rest is not None or convert else ()
            for k in (k for k in obj if k in others) if others else ():  # wire order, not the set's
                name = names.get(k, "") if k.__class__ is str else None
                if name == "":
                    name = snake(k) if _KEY.match(snake(k)) else None
                    if len(names) < 4096:  # a hostile stream of fresh keys must not grow it forever
                        names[k] = name
                conv = convert.get(k, rest) if name is not None else None
                if conv is not None and name is not None:
                    ext[name] = conv(obj[k])
            ext.update(more)
            extras.append(ext or EMPTY)
        return extras
