"""The compiled clean-row path (mdsdk/providers/_accel.c) against the pure-Python decoder: on clean frames, on
frames with every kind of odd value a server or a fuzzer can put in a row, and on real DXLink fixture frames, both
paths give the same events; and ``MDSDK_PURE_PYTHON=1`` turns the compiled path off."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from typing import Any, List, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mdsdk.events import Quote, Trade
from mdsdk.providers import fields
from mdsdk.providers.dxlink.codec import KNOWN_LAYOUTS, TABLES
from mdsdk.providers.fields import MAX_MS, Field, RowDecoder, Table

from .test_fields import _compact_frames

RN = 1_700_000_000_123_456_789
T0 = 1_795_310_096_582

compiled = pytest.mark.skipif(fields._plain_rows is None, reason=(
    "the compiled decoder mdsdk/providers/_accel.c was not built (no C compiler at install time, or "
    "MDSDK_NO_EXTENSIONS / MDSDK_PURE_PYTHON set); mdsdk then decodes in pure Python"))

QUOTE = ["eventType", "eventSymbol", "bidTime", "askTime", "timeNanoPart", "bidPrice", "bidSize", "askPrice",
         "askSize"]


def _pair(table_name: str, layout: Sequence[str]) -> "tuple[RowDecoder[Any], RowDecoder[Any]]":
    """The same table bound to ``layout`` twice: as mdsdk uses it, and with the compiled path taken away."""
    fast = TABLES[table_name].rows(layout, "dxlink")
    slow = TABLES[table_name].rows(layout, "dxlink")
    slow._compiled = None
    return fast, slow


def _same(a: List[Any], b: List[Any]) -> None:
    # repr, not ==: a nan (a "NaN" size) is not equal to itself
    assert [repr(e) for e in a] == [repr(e) for e in b]
    assert [type(e.time) for e in a] == [type(e.time) for e in b]


def _row(sym: Any, bt: Any, at: Any, nanos: Any, *numbers: Any) -> List[Any]:
    return ["Quote", sym, bt, at, nanos, *numbers]


@compiled
def test_plain_layouts_get_the_compiled_path_and_others_do_not() -> None:
    assert TABLES["Quote"].rows(QUOTE, "dxlink")._compiled is not None
    assert TABLES["Quote"].rows(KNOWN_LAYOUTS["Quote"][1], "dxlink")._compiled is not None  # no time fields at all
    # exchange codes and a sequence go to extra: not a plain row
    assert TABLES["Quote"].rows(KNOWN_LAYOUTS["Quote"][2], "dxlink")._compiled is None
    assert TABLES["Trade"].rows(KNOWN_LAYOUTS["Trade"][0], "dxlink")._compiled is None


@compiled
@pytest.mark.parametrize("rows", [1, 4, 5, 100])
def test_clean_rows_decode_the_same(rows: int) -> None:
    fast, slow = _pair("Quote", QUOTE)
    values: List[Any] = []
    for i in range(rows):
        values += _row(f"S{i}", T0 + i, T0 + 2 * i, i * 1000, 100.25 + i, 300, "NaN", "1.5")
    a = fast(values, RN)
    _same(a, slow(values, RN))
    assert a[-1].time == (T0 + 2 * (rows - 1)) * 10**6 + (rows - 1) * 1000
    assert a[0].bid_size == 300.0 and type(a[0].bid_size) is float and math.isnan(a[0].ask)
    assert a[0].ask_size == 1.5 and all(type(e) is Quote for e in a)


@compiled
def test_a_row_without_any_time_gets_the_receive_time() -> None:
    fast, slow = _pair("Quote", QUOTE)
    values = _row("A", 0, 0, 123, 1.0, 2.0, 3.0, 4.0) * 7
    a = fast(values, RN)
    _same(a, slow(values, RN))
    assert {e.time for e in a} == {RN}


# Every kind of value a row can hold: clean ones, and the ones the compiled path must hand back to Python.
ODD = st.one_of(
    st.none(), st.booleans(), st.just(""), st.just("NaN"), st.just("Infinity"), st.just("-Infinity"),
    st.just("1.5"), st.just(" 1_0 "), st.just("abc"), st.just("\x00"), st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
    st.integers(min_value=-2**70, max_value=2**70), st.integers(min_value=0, max_value=MAX_MS + 5),
    st.just(MAX_MS - 1), st.just(MAX_MS), st.just(-1), st.just(10**400), st.just(-0.0),
    st.floats(allow_nan=True, allow_infinity=True), st.just(1e308 * 10), st.text(max_size=3))
_MS = st.integers(0, MAX_MS - 1)
_NUMBER = st.one_of(st.floats(allow_infinity=False), st.integers(-10**6, 10**6))
CLEAN = {"eventType": st.just("Quote"), "eventSymbol": st.sampled_from(["SPY", "AAPL", "ES"]), "bidTime": _MS,
         "askTime": _MS, "eventTime": st.one_of(st.just(0), _MS), "timeNanoPart": st.integers(0, 999_999),
         "bidPrice": _NUMBER, "askPrice": _NUMBER, "bidSize": _NUMBER, "askSize": _NUMBER}
# The lean layout mdsdk asks for; the spec example's (symbol first, no times); times on their own.
LAYOUTS = [QUOTE, ["eventSymbol", "eventType", "bidPrice", "askPrice", "bidSize", "askSize"],
           ["eventSymbol", "eventTime", "timeNanoPart", "askSize", "bidSize", "askPrice", "bidPrice"]]


@st.composite
def _frames(draw: st.DrawFn, layout: Sequence[str]) -> List[Any]:
    values: List[Any] = []
    for _ in range(draw(st.integers(1, 12))):
        row = [draw(CLEAN[name]) for name in layout]
        for i in draw(st.lists(st.integers(0, len(layout) - 1), max_size=2)):  # most rows stay clean
            row[i] = draw(ODD)
        values += row
    return values


def _either_way(fast: Any, slow: Any, values: List[Any]) -> None:
    try:
        expected = slow(values)
    except (TypeError, ValueError, KeyError, IndexError) as exc:  # the Python decoder's own contract
        with pytest.raises(type(exc)):
            fast(values)
        return
    _same(fast(values), expected)


@compiled
@pytest.mark.parametrize("layout", LAYOUTS, ids=["lean", "spec", "times-only"])
@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(data=st.data())
def test_any_frame_decodes_the_same_either_way(layout: List[str], data: st.DataObject) -> None:
    fast, slow = _pair("Quote", layout)
    assert fast._compiled is not None
    values = data.draw(_frames(layout), label="values")
    _either_way(lambda v: fast(v, RN), lambda v: slow(v, RN), values)


@compiled
@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(data=st.data())
def test_dict_frames_decode_the_same_either_way(data: st.DataObject) -> None:
    """A dict table (TDA/Schwab style, numeric keys) goes through the same loop: rows gathered from dicts."""
    table = Table(Quote, (Field("bid", "1"), Field("ask", "2"), Field("bid_size", "4"), Field("ask_size", "5")),
                  symbol="key", time=("35", "36"), rest=None)
    fast, slow = table.dicts("schwab"), table.dicts("schwab")
    slow._rows._compiled = None
    assert fast._rows._compiled is not None
    layout = ["eventSymbol", "bidTime", "askTime", "bidPrice", "askPrice", "bidSize", "askSize"]
    rows = data.draw(_frames(layout), label="values")
    keys = ["key", "35", "36", "1", "2", "4", "5"]
    objs = [dict(zip(keys, rows[i:i + len(keys)])) for i in range(0, len(rows), len(keys))]
    _either_way(lambda o: fast.decode_dicts(o, RN), lambda o: slow.decode_dicts(o, RN), objs)


@compiled
def test_real_dxlink_frames_decode_the_same_either_way() -> None:
    compared = 0
    for capture in ("feed_data_compact", "handshake_spec_example", "reference_client_frames_qd",
                    "handshake_tastytrade_doc"):
        layouts, data = _compact_frames(f"dxlink/{capture}.jsonl")
        for etype, values in data:
            layout = layouts.get(etype)
            if etype not in TABLES or layout is None or "eventSymbol" not in layout or len(values) % len(layout):
                continue
            fast, slow = _pair(etype, layout)
            a = fast(values, RN)
            _same(a, slow(values, RN))
            compared += len(a)
    assert compared > 0


@compiled
def test_the_compiled_function_refuses_a_layout_outside_the_row() -> None:
    from mdsdk.providers._accel import plain_rows

    row = _row("A", T0, T0, 0, 1.0, 2.0, 3.0, 4.0)
    assert plain_rows(9, 1, (2, 3), 4, (5, 7, 6, 8), Quote, "p", MAX_MS, row, RN)[0].ask == 3.0
    with pytest.raises(ValueError):
        plain_rows(9, 1, (2, 30), 4, (5, 7, 6, 8), Quote, "p", MAX_MS, row, RN)
    with pytest.raises(ValueError):
        plain_rows(9, 9, (2, 3), 4, (5, 7, 6, 8), Quote, "p", MAX_MS, row, RN)
    with pytest.raises(ValueError):
        plain_rows(4, 1, (2, 3), 3, (0,), Quote, "p", MAX_MS, row[:6], RN)  # not whole rows
    with pytest.raises(TypeError):
        plain_rows(9, 1, (2, 3), 4, (5, 7, 6, 8), Quote, "p", MAX_MS, tuple(row), RN)
    with pytest.raises(TypeError):
        plain_rows(9, 1, [2, 3], 4, (5, 7, 6, 8), Quote, "p", MAX_MS, row, RN)
    # a class that refuses the arguments: None back, and the Python decoder meets (and reports) the same failure
    assert plain_rows(9, 1, (2, 3), 4, (5, 7, 6, 8), Trade, "p", MAX_MS, row, RN) is None


def test_pure_python_switch() -> None:
    code = "from mdsdk.providers import fields; print(fields._plain_rows is None)"
    env = {**os.environ, "MDSDK_PURE_PYTHON": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"
