"""Converters: how one wire value, or a whole column of them, becomes an event attribute.

Each :class:`Converter` has a tolerant per-value form (a missing or invalid value becomes nan, None or 0, never an
exception) and a fast whole-column form that runs in C and raises on the first value it cannot take. Shared by the
field tables (:mod:`.fields`) and any provider decoder."""

from __future__ import annotations

import math
import re
from collections import deque
from typing import Any, Callable, Dict, FrozenSet, Iterable, List, Optional, Sequence, TypeVar, Union

__all__ = ["Converter", "converter", "num", "strict_num", "text", "integer", "int_or_zero", "ms_ns", "flag",
           "plain", "snake", "MAX_MS", "NS_PER_MS", "MAX_TEXT", "Wire", "MAX_KEYS", "remember"]

Wire = Union[str, int]
NS_PER_MS = 1_000_000
MAX_MS = 9_000_000_000_000  # epoch ms whose ns still fit an int64 (pandas, numpy): up to the year 2255
_MAX_NS = MAX_MS * NS_PER_MS
MAX_TEXT = 10_000  # characters kept of one text value
_I64 = 1 << 63
_BAD = (TypeError, ValueError, OverflowError)
_consume: Callable[[Iterable[Any]], None] = deque(maxlen=0).extend  # runs an iterator to its end in C


# ---------------------------------------------------------------- converters
class Converter:
    """A wire-value converter with two forms: ``one(value)``, tolerant (a missing or invalid value becomes nan, None or
    0, never an exception), and an optional ``fast(column)`` that converts a whole column at C speed and raises on
    the first value it cannot take; :meth:`column` tries the fast form and falls back to ``one`` per value only for
    such a column."""

    __slots__ = ("one", "fast")

    def __init__(self, one: Callable[[Any], Any],
                 fast: Optional[Callable[[Sequence[Any]], Sequence[Any]]] = None) -> None:
        self.one = one
        self.fast: Callable[[Sequence[Any]], Sequence[Any]] = fast or (lambda col: list(map(one, col)))

    def __call__(self, value: Any) -> Any:
        return self.one(value)

    def column(self, values: Sequence[Any]) -> Sequence[Any]:
        """Every value of ``values`` converted (``values`` itself when the fast
        form finds nothing to change)."""
        try:
            return self.fast(values)
        except _BAD:  # a None, "" or odd value somewhere: convert this column value by value
            return list(map(self.one, values))


def converter(fn: Union[Converter, Callable[[Any], Any]]) -> Converter:
    """``fn`` as a :class:`Converter` (a plain function gets no fast form)."""
    return fn if isinstance(fn, Converter) else Converter(fn)


def _num(v: Any) -> float:
    if v.__class__ is not float:
        try:
            v = float(v)
        except _BAD:
            return math.nan
    return math.nan if math.isinf(v) else v  # no price or size is infinite: "Infinity" is as bad as garbage


def _floats(col: Sequence[Any]) -> List[float]:
    out = list(map(float, col))
    total = sum(out)  # finite unless a nan or an inf is somewhere (or the sum overflowed): then look closer
    if total - total != 0 and (math.inf in out or -math.inf in out):
        raise ValueError("an infinite value")
    return out


def _text(v: Any) -> Optional[str]:
    if v is None or v == "" or v == "\x00":
        return None
    return (v if v.__class__ is str else str(v))[:MAX_TEXT]


def _texts(col: Sequence[Any]) -> Sequence[Any]:
    "".join(col)  # raises TypeError unless every value is a str
    if "" in col or "\x00" in col or max(map(len, col), default=0) > MAX_TEXT:
        raise ValueError("missing or overlong text")
    return col


def _integer(v: Any) -> Optional[int]:
    if v.__class__ is float and math.isfinite(v):
        v = int(v)
    return v if v.__class__ is int and -_I64 <= v < _I64 else None


def _ints(col: Sequence[Any]) -> Sequence[Any]:
    if not {int}.issuperset(map(type, col)) or (col and (min(col) < -_I64 or max(col) >= _I64)):
        raise ValueError("not int64 ints")
    return col


def _only(types: FrozenSet[type]) -> Callable[[Sequence[Any]], Sequence[Any]]:
    """A fast form that takes a column as it is when every value is of ``types``."""
    def fast(col: Sequence[Any]) -> Sequence[Any]:
        if not types.issuperset(map(type, col)):
            raise TypeError("a value of another type")
        return col
    return fast


def _ms_ns(v: Any) -> int:
    try:
        ms = int(v)
    except _BAD:
        ms = -1
    return ms * NS_PER_MS if 0 <= ms < MAX_MS else 0


def _ms_ns_column(col: Sequence[Any]) -> Sequence[Any]:
    # Comparing with an int raises for anything but numbers before a str or a
    # list could be multiplied; sum() then tells a float from ints.
    if col and (min(col) < 0 or max(col) >= MAX_MS or type(sum(col)) is not int):
        raise ValueError("not ints in range")
    return [x * NS_PER_MS for x in col]


_NUMBER_TYPES = frozenset({int, float})
_SCALARS: FrozenSet[type] = frozenset({str, int, float, bool, type(None)})


def _plain_one(v: Any) -> Any:
    """A JSON scalar as an ``extra`` may hold it: an int only within int64, no
    infinity, text cut to MAX_TEXT; a list or an object is None."""
    cls = v.__class__
    if cls is str:
        return v[:MAX_TEXT]
    if cls is int:
        return v if -_I64 <= v < _I64 else None
    if cls is float:
        return None if math.isinf(v) else v
    return v if cls is bool or v is None else None



# num: a wire double as float() reads it ("NaN"), else nan; infinities too. strict_num: a JSON number, else
# nan. text: str (at most MAX_TEXT characters), with None, "" and "\0" as None. integer / int_or_zero: an
# int64 (a finite float truncated), else None / 0. ms_ns: epoch ms as ns, 0 if missing or out of range. flag:
# bool, None stays None. plain: a JSON scalar within the invariants (int64, finite, MAX_TEXT), else None.
num = Converter(_num, _floats)
strict_num = Converter(lambda v: _num(v) if v.__class__ in _NUMBER_TYPES else math.nan,
                       lambda col: _floats(_only(_NUMBER_TYPES)(col)))
text = Converter(_text, _texts)
integer = Converter(_integer, _ints)
int_or_zero = Converter(lambda v: _integer(v) or 0, _ints)
ms_ns = Converter(_ms_ns, _ms_ns_column)
flag = Converter(lambda v: None if v is None else bool(v), _only(frozenset({bool})))
plain = Converter(_plain_one, lambda col: list(map(_plain_one, col)))

_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")
_KEY = re.compile(r"[a-z][a-z0-9_]{0,63}\Z")  # what a wire name must become to be an ``extra`` key


def snake(name: str) -> str:
    """``bidExchangeCode`` -> ``bid_exchange_code``."""
    return _CAMEL.sub(r"_\1", name).lower()


def _wire(w: Wire) -> str:
    return w if w.__class__ is str else str(w)


MAX_KEYS = 4096  # entries of a cache keyed by names a server chooses
K = TypeVar("K")
V = TypeVar("V")


def remember(cache: Dict[K, V], key: K, value: V) -> V:
    """Store ``value`` under ``key`` and return it. A cache keyed by names a
    server chooses (layouts, decoders, contracts) is emptied when it reaches
    :data:`MAX_KEYS` entries: it refills from what is still in use, and a
    hostile stream of fresh names cannot grow it forever."""
    if len(cache) >= MAX_KEYS and key not in cache:
        cache.clear()
    cache[key] = value
    return value
