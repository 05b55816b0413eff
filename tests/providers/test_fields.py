"""Field tables (mdsdk.providers.fields): real DXLink fixture frames through
the DXLink tables, hand-made tables for dict frames with numeric keys
(TDA/Schwab style), the row and column paths agreeing, and the hostile values
a fuzzer throws at a decoder."""

from __future__ import annotations

import json
import math
import time
from typing import Any, Dict, List, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mdsdk.events import EMPTY, Event, Quote, Trade
from mdsdk.providers.dxlink.codec import TABLES, compile_decoder
from mdsdk.providers.fields import (MAX_MS, Field, Table, integer, ms_ns, num, plain, snake, strict_num,
                                    text)

from ..conftest import fixture_lines

RN = 1_700_000_000_123_456_789  # the receive time of every frame here
OK_ERRORS = (TypeError, ValueError, KeyError, IndexError)


def _compact_frames(relpath: str) -> Tuple[Dict[str, List[str]], List[Tuple[str, List[Any]]]]:
    """The first layout announced per type and the (type, values) pairs sent in a fixture."""
    layouts: Dict[str, List[str]] = {}
    data: List[Tuple[str, List[Any]]] = []
    for line in fixture_lines(relpath):
        msg = json.loads(line["raw"])
        if msg.get("type") == "FEED_CONFIG":
            for etype, names in (msg.get("eventFields") or {}).items():
                layouts.setdefault(etype, names)  # the first announcement: the capture's own
        elif msg.get("type") == "FEED_DATA" and msg["data"] and isinstance(msg["data"][0], str):
            data += [(msg["data"][i], msg["data"][i + 1]) for i in range(0, len(msg["data"]), 2)]
    return layouts, data


# ---------------------------------------------------------------- real DXLink frames
def test_fixture_compact_quotes_through_the_quote_table() -> None:
    layouts, data = _compact_frames("dxlink/feed_data_compact.jsonl")
    names = layouts["Quote"]
    values = next(v for t, v in data if t == "Quote" and v[0] == "Quote")
    aapl, spx = TABLES["Quote"].rows(names, "dxlink").decode_rows(values, len(names), RN)
    assert (aapl.symbol, aapl.bid, aapl.ask, aapl.bid_size, aapl.ask_size) == ("AAPL", 168.4, 168.46, 51.0, 10.0)
    assert aapl.time == RN  # every time field is 0 in this capture
    assert aapl.extra == {"sequence": 0, "bid_exchange_code": "Q", "ask_exchange_code": "Q"}
    assert spx.symbol == "SPX" and math.isnan(spx.bid_size) and math.isnan(spx.ask_size)
    assert spx.extra["bid_exchange_code"] is None  # "" on the wire is missing text
    assert all(isinstance(k, str) and k == snake(k) for e in (aapl, spx) for k in e.extra)


def test_row_and_column_paths_agree_on_a_fixture_frame() -> None:
    layouts, data = _compact_frames("dxlink/feed_data_compact.jsonl")
    names = layouts["Quote"]
    values = next(v for t, v in data if t == "Quote" and v[0] == "Quote")
    decode = compile_decoder("Quote", names, "dxlink")
    assert decode is not None
    one = decode(values, RN)
    for copies in (1, 3, 40):  # a few rows go row by row, many go column by column
        many = decode(values * copies, RN)
        assert [repr(e) for e in many] == [repr(e) for e in one] * copies


def test_times_take_the_latest_field_plus_nanos_or_the_receive_time() -> None:
    names = ["eventType", "eventSymbol", "eventTime", "timeNanoPart", "bidTime", "askTime", "bidPrice"]
    rows = [["Quote", "A", 0, 250, 1_700_000_000_001, 1_700_000_000_005, 1.5],
            ["Quote", "B", 0, 7, 0, 0, 2.5],
            ["Quote", "C", 1_700_000_000_009, 0, 0, "", 3.5]]
    decode = TABLES["Quote"].rows(names, "p")
    for copies in (1, 10):
        values = [v for r in rows for v in r] * copies
        a, b, c = decode.decode_rows(values, len(names), RN)[:3]
        assert a.time == 1_700_000_000_005 * 10**6 + 250
        assert b.time == RN  # no time: the nanos of nothing are not a time
        assert c.time == 1_700_000_000_009 * 10**6 and c.bid == 3.5


def test_trade_eth_without_the_flag_is_extended_hours() -> None:
    names = ["eventType", "eventSymbol", "price", "dayVolume", "size"]
    [t] = TABLES["TradeETH"].rows(names, "p").decode_rows(["TradeETH", "SPY", 1.0, 2, 3], 5, RN)
    assert isinstance(t, Trade) and t.extra == {"extended_hours": True}
    with_flag = names + ["extendedTradingHours"]
    [t] = TABLES["TradeETH"].rows(with_flag, "p").decode_rows(["TradeETH", "SPY", 1.0, 2, 3, False], 6, RN)
    assert t.extra == {"extended_trading_hours": False}


# ---------------------------------------------------------------- dict frames with numeric keys
TDA_QUOTE: Table[Quote] = Table(
    Quote, (Field("bid", 1), Field("ask", 2), Field("bid_size", 4), Field("ask_size", 5),
            Field("last", 3), Field("total_volume", 8), Field("description", 25, text)),
    symbol="key", time=(50, 51), skip=frozenset({"delayed"}), rest=plain)


def test_tda_numeric_keys_become_attributes_named_extras_or_nothing() -> None:
    obj = {"key": "AAPL", "1": 189.5, "2": 189.6, "4": 100, "5": 200, "3": 189.55, "33": 6.52,
           "assetMainType": "EQUITY", "delayed": False}
    q = TDA_QUOTE.dicts("tda").decode_dict(obj, RN)
    assert q is not None and (q.symbol, q.bid, q.ask, q.bid_size, q.ask_size) == ("AAPL", 189.5, 189.6, 100.0, 200.0)
    assert q.time == RN and q.provider == "tda"
    # "3" is named by the table, "33" is not (dropped), "delayed" is skipped, the rest is snake_case
    assert set(q.extra) == {"last", "total_volume", "description", "asset_main_type"}
    assert q.extra["last"] == 189.55 and q.extra["asset_main_type"] == "EQUITY"
    nan = q.extra["total_volume"]
    assert nan != nan and q.extra["description"] is None  # absent keys: nan, None
    decoder = TDA_QUOTE.dicts("tda")
    assert [e.symbol for e in decoder.decode_dicts([obj, {"key": 5}, {"1": 1.0}, {**obj, "key": "MSFT"}], RN)] == [
        "AAPL", "MSFT"]  # objects without a str symbol are skipped
    with pytest.raises(TypeError):
        decoder.decode_dicts([obj, ["not", "a", "dict"]], RN)


def test_schwab_fixture_content_with_partial_updates_merged_per_symbol() -> None:
    content = []
    for line in fixture_lines("schwab/levelone_equities.jsonl"):
        msg = json.loads(line["raw"])
        for item in msg.get("data") or ():
            content += item["content"]
    decoder = TDA_QUOTE.dicts("schwab")
    quotes = decoder.decode_dicts(content, RN)
    first = {q.symbol: q for q in quotes}
    assert (first["SCHW"].bid, first["SCHW"].ask, first["SCHW"].bid_size) == (76.08, 76.49, 3.0)
    assert first["SPY"].extra["asset_main_type"] == "EQUITY" and first["SPY"].extra["asset_sub_type"] == "ETF"
    state: Dict[str, Dict[str, Any]] = {}
    for obj in content + [{"key": "SPY", "2": 600.25}]:  # a later update names only what changed
        state.setdefault(obj["key"], {}).update(obj)
    spy = decoder.decode_dict(state["SPY"], RN)
    assert spy is not None and spy.bid == first["SPY"].bid and spy.ask == 600.25


def test_dict_decoder_takes_the_symbol_and_attributes_from_the_caller() -> None:
    bars = Table(Trade, (Field("price", "p", strict_num), Field("tick_id", "id", integer)), time=("t",),
                 rest=None)
    t = bars.dicts("x").decode_dict({"p": 5, "id": 7, "t": 1_700_000_000_000, "zz": 1}, RN, symbol="ES",
                                    size=2.0, extra={"venue": "CME"})
    assert t is not None and (t.symbol, t.price, t.size, t.time) == ("ES", 5.0, 2.0, 1_700_000_000_000 * 10**6)
    assert dict(t.extra) == {"tick_id": 7, "venue": "CME"}
    assert bars.dicts("x").decode_dict({"p": "5"}, RN, symbol="ES").price != 5.0  # type: ignore[union-attr]
    with pytest.raises(ValueError):
        bars.dicts("x").decode_dict({"p": 5}, RN)  # no symbol anywhere
    with pytest.raises(TypeError):
        bars.dicts("x").decode_dict({"p": 5}, RN, symbol="ES", nonsense=1)


# ---------------------------------------------------------------- converters
@pytest.mark.parametrize("conv, column", [
    (num, [1, 2.5, "NaN", "Infinity", True]),
    (num, [1, None, "", "x", [1], 10**400]),
    (text, ["a", "b"]),
    (text, ["a", "", None, "\x00", 5]),
    (integer, [1, 2, 3]),
    (integer, [1, 2.9, True, "4", math.inf]),
    (ms_ns, [0, 1_700_000_000_000]),
    (ms_ns, [1.5, "12", -1, 10**30, "9" * 1000, None]),
])
def test_fast_and_tolerant_forms_agree(conv: Any, column: List[Any]) -> None:
    fast = conv.column(column)
    slow = [conv.one(v) for v in column]
    assert len(fast) == len(slow)
    for a, b in zip(fast, slow):
        assert a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b))
        assert type(a) is type(b)


# ---------------------------------------------------------------- hostile frames
QUOTE_NAMES = ["eventType", "eventSymbol", "eventTime", "sequence", "timeNanoPart", "bidTime", "bidExchangeCode",
               "bidPrice", "bidSize", "askTime", "askExchangeCode", "askPrice", "askSize"]


def _check(events: List[Event]) -> None:
    for e in events:
        assert isinstance(e.symbol, str) and e.symbol
        assert type(e.time) is int and 0 <= e.time < MAX_MS * 10**6
        assert all(isinstance(k, str) and not k.isdigit() for k in e.extra)


def test_hostile_shapes_raise_only_the_allowed_errors() -> None:
    decode = compile_decoder("Quote", QUOTE_NAMES, "p")
    assert decode is not None
    for values in ({"a": 1}, "Quote", 5, None):
        with pytest.raises(TypeError):
            decode(values, RN)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a multiple"):
        decode(["Quote", "A", 1], RN)
    with pytest.raises(TypeError):
        TABLES["Quote"].rows(["eventSymbol", 5], "p")  # type: ignore[list-item]


@pytest.mark.parametrize("copies", [1, 20])
def test_bad_symbols_are_skipped_and_bad_times_fall_back(copies: int) -> None:
    decode = compile_decoder("Quote", QUOTE_NAMES, "p")
    assert decode is not None
    good = ["Quote", "OK", 0, 0, 0, 1_700_000_000_000, "Q", 1.0, 2.0, 1_700_000_000_000, "Q", 3.0, 4.0]
    rows = [good]
    for sym in (5, None, ["X"], ""):
        rows.append(good[:1] + [sym] + good[2:])
    for t in (1e999, "Infinity", "9" * 1000, 10**1000, -5, [1], {"a": 1}, True, 1.5, math.nan):
        rows.append(good[:5] + [t] + good[6:9] + [t] + good[10:])
    values = [v for r in rows for v in r] * copies
    t0 = time.perf_counter()
    events = decode(values, RN)
    assert time.perf_counter() - t0 < 1.0  # nothing was multiplied into a huge string
    _check(events)
    assert len(events) == (len(rows) - 4) * copies
    assert [e.time for e in events[:len(rows) - 4]].count(RN) >= 7


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5),
                          st.sampled_from(["NaN", "Infinity", "", "Quote", "AAPL"]),
                          st.lists(st.integers(), max_size=2)), max_size=80))
def test_fuzzed_values_keep_the_event_invariants(values: List[Any]) -> None:
    decode = compile_decoder("Quote", QUOTE_NAMES, "p")
    assert decode is not None
    try:
        events = decode(values, RN)
    except OK_ERRORS:
        return
    _check(events)
    assert all(e.extra is not EMPTY for e in events)


@pytest.mark.parametrize("times", [
    (1_700_000_000_001, 1_700_000_000_002, math.nan, 0),     # a bare NaN beside good times
    (1_700_000_000_001, 1_700_000_000_002, 1_700_000_000_000, True),  # a bool timeNanoPart
    (1_700_000_000_001, 1.5, 1_700_000_000_000, 7),           # a float time
    (0, 1_700_000_000_002, "x", 7),                           # text in a time column
])
def test_column_and_row_paths_agree_on_odd_times(times: Any) -> None:
    layout = ["eventType", "eventSymbol", "eventTime", "bidTime", "askTime", "timeNanoPart", "bidPrice", "askPrice",
              "bidSize", "askSize"]
    dec = compile_decoder("Quote", layout, "dxlink")
    assert dec is not None
    row = ["Quote", "SPY", *times, 1.0, 2.0, 3, 4]
    one = dec(row, 5)
    many = dec(row * 6, 5)  # six rows: the column path
    assert [repr(e) for e in many] == [repr(e) for e in one] * 6


@pytest.mark.parametrize("pairs", [
    [(1_700_000_000_005, 1_700_000_000_001), (1_700_000_000_001, 1_700_000_000_009)],  # either side later
    [(1_700_000_000_005, 1_700_000_000_005), (1_700_000_000_007, 1_700_000_000_007)],  # equal columns
    [(0, 1_700_000_000_003), (1_700_000_000_004, 0), (0, 0)],                          # missing on a side, both
    [(-5, 1_700_000_000_003), (1_700_000_000_004, 1_700_000_000_001)],                 # a negative beside a time
    [(9_000_000_000_000, 1), (1_700_000_000_004, 1_700_000_000_001)],                  # past the int64 range
])
def test_bid_and_ask_times_agree_on_both_paths(pairs: List[Tuple[int, int]]) -> None:
    """The column path takes the later of two time columns in one pass; the row path reads row by row. Both must
    give each row the same time: the later usable one, else the receive time."""
    layout = ["eventType", "eventSymbol", "bidTime", "askTime", "timeNanoPart", "bidPrice"]
    dec = compile_decoder("Quote", layout, "dxlink")
    assert dec is not None
    rows = [["Quote", f"S{i}", bid, ask, 0, 1.0] for i, (bid, ask) in enumerate(pairs)] * 4
    flat = [v for r in rows for v in r]
    by_row = [ev.time for r in rows for ev in dec(r, RN)]
    assert [ev.time for ev in dec(flat, RN)] == by_row  # twelve or more rows: the column path
    for (bid, ask), t in zip(pairs, by_row):
        usable = [ms for ms in (bid, ask) if 0 < ms < 9_000_000_000_000]  # a bad side leaves the other
        assert t == (max(usable) * 10**6 if usable else RN)


def test_plain_keeps_only_scalars_an_extra_may_hold() -> None:
    from mdsdk.providers.fields import MAX_TEXT
    col = ["a", "", 7, 1 << 63, -(1 << 63), 1.5, math.inf, -math.inf, True, None, [1], {"a": 1}, "x" * (MAX_TEXT + 5)]
    want = ["a", "", 7, None, -(1 << 63), 1.5, None, None, True, None, None, None, "x" * MAX_TEXT]
    assert [plain(v) for v in col] == want
    assert list(plain.column(col)) == want
