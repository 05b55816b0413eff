"""Regression tests for what the fuzzer (mdsdk.testing.fuzz) found, and for
the known hostile frames of issue 8, each named after its case. The rule:
a malformed frame gives exactly one Status(error) (counted in
``protocol.malformed``), never an exception, never one Status per value;
the good events of the frame still arrive, and every event holds the
invariants. Plain protocol objects, no sockets."""

from __future__ import annotations

import json
import math
from typing import Any, List

from mdsdk.events import Event, Quote, Status, Trade
from mdsdk.providers.base import Subscribe, Subscription
from mdsdk.providers.core import MAX_KEYS, MIN_INTERVAL
from mdsdk.providers.dxlink.protocol import DXLinkProtocol
from mdsdk.providers.tradovate.protocol import MAX_PENALTY, TradovateProtocol
from mdsdk.replay import replay_lines
from mdsdk.testing.invariants import check_events

T0 = 1000.0
WALL = 1_700_000_000_000_000_000
QUOTE = ["eventType", "eventSymbol", "eventTime", "bidPrice", "askPrice", "bidSize", "askSize"]
CANDLE = ["eventType", "eventSymbol", "eventFlags", "index", "time", "open", "high", "low", "close", "volume"]
PROFILE = ["eventType", "eventSymbol", "eventTime", "description", "tradingStatus", "haltStartTime", "haltEndTime"]


def dxlink() -> DXLinkProtocol:
    p = DXLinkProtocol("tok")
    p.connection_made(T0, WALL)
    for msg in ({"type": "SETUP", "channel": 0, "keepaliveTimeout": 60},
                {"type": "AUTH_STATE", "channel": 0, "state": "AUTHORIZED"},
                *({"type": "CHANNEL_OPENED", "channel": ch} for ch in (1, 3, 5)),
                {"type": "FEED_CONFIG", "channel": 1, "eventFields": {"Quote": QUOTE, "Profile": PROFILE}},
                {"type": "FEED_CONFIG", "channel": 3, "eventFields": {"Candle": CANDLE}}):
        p.receive(json.dumps(msg), T0, WALL)
    assert p.ready
    p.outgoing()
    return p


def tradovate(**options: Any) -> TradovateProtocol:
    p = TradovateProtocol("tok", **options)
    p.learn_symbols({"ESZ6": 11})
    p.connection_made(T0, WALL)
    p.receive("o", T0, WALL)
    p.receive('a[{"s":200,"i":0}]', T0, WALL)
    assert p.ready
    p.outgoing()
    return p


def feed(p: Any, text: str) -> List[Event]:
    events: List[Event] = p.receive(text, T0 + 1, WALL + 10**9)
    check_events(events)
    return events


def errors(events: List[Event]) -> List[Status]:
    return [e for e in events if isinstance(e, Status) and e.kind == "error"]


def one_malformed(p: Any, text: str) -> List[Event]:
    before = p.malformed
    events = feed(p, text)
    assert len(errors(events)) == 1 and p.malformed == before + 1, events
    return events


def data(etype: str, values: List[Any], channel: int = 1) -> str:
    return json.dumps({"type": "FEED_DATA", "channel": channel, "data": [etype, values]})


# ---------------------------------------------------------------- DXLink
def test_dxlink_type_is_a_list_or_an_object() -> None:
    p = dxlink()
    one_malformed(p, '{"type":[]}')
    one_malformed(p, '{"type":{}}')


def test_dxlink_deeply_nested_json() -> None:
    p = dxlink()
    one_malformed(p, "[" * 100_000)
    # Deep, but shallow enough for json.loads: the malformed path once re-serialized it and raised RecursionError.
    one_malformed(p, '{"type":"FEED_DATA","channel":1,"data":["Nope",' + "[" * 900 + "]" * 900 + "]}")


def test_dxlink_infinity_in_channel_numbers() -> None:
    p = dxlink()
    for ch in ("Infinity", "-Infinity", "NaN", "1e999"):
        feed(p, '{"type":"CHANNEL_OPENED","channel":%s}' % ch)
        feed(p, '{"type":"FEED_CONFIG","channel":%s,"eventFields":{"Quote":["eventType","eventSymbol"]}}' % ch)
        feed(p, '{"type":"FEED_DATA","channel":%s,"data":["Quote",["Quote","SPY"]]}' % ch)
    assert p.ready


def test_dxlink_infinity_in_candle_flags_and_times() -> None:
    p = dxlink()
    for bad in ("Infinity", "1e999", "-1e999", '"Infinity"'):
        row = f'["Candle","SPY{{=1m}}",{bad},{bad},{bad},1,2,0.5,1.5,10]'
        feed(p, '{"type":"FEED_DATA","channel":3,"data":["Candle",%s]}' % row)


def test_dxlink_infinity_in_profile_halt_times() -> None:
    p = dxlink()
    events = feed(p, '{"type":"FEED_DATA","channel":1,"data":["Profile",["Profile","SPY",1,"S&P","ACTIVE",'
                     'Infinity,1e999]]}')
    [profile] = events
    assert profile.extra["halt_start_time"] == 0 and profile.extra["halt_end_time"] == 0


def test_dxlink_infinite_prices_become_nan() -> None:
    [q] = feed(dxlink(), data("Quote", ["Quote", "SPY", 1, "Infinity", 1e999, -1e999, "-Infinity"]))
    assert all(math.isnan(v) for v in (q.bid, q.ask, q.bid_size, q.ask_size))


def test_dxlink_feed_config_with_an_empty_field_list_then_feed_data() -> None:
    p = dxlink()
    feed(p, '{"type":"FEED_CONFIG","channel":7,"eventFields":{"Quote":[]}}')
    one_malformed(p, data("Quote", ["Quote", "SPY", 1, 2], channel=7))


def test_dxlink_a_1000_digit_and_a_million_char_time() -> None:
    p = dxlink()
    [q] = feed(p, data("Quote", ["Quote", "SPY", int("9" * 1000), 1, 2, 3, 4]))
    assert q.time == WALL + 10**9  # no usable time: the receive time
    [q] = feed(p, data("Quote", ["Quote", "SPY", "9" * 1_000_000, 1, 2, 3, 4]))
    assert q.time == WALL + 10**9
    one_malformed(p, '{"type":"FEED_DATA","channel":1,"data":["Quote",["Quote","SPY",' + "9" * 1_000_000 + "]]}")


def test_dxlink_symbols_that_are_not_strings_never_reach_users() -> None:
    p = dxlink()
    rows: List[Any] = []
    for sym in (1, None, [], {}, ["SPY"], {"a": 1}, True, ""):
        rows += ["Quote", sym, 1, 2.0, 3.0, 4.0, 5.0]
    rows += ["Quote", "SPY", 1, 2.0, 3.0, 4.0, 5.0]
    events = feed(p, data("Quote", rows))
    assert [e.symbol for e in events] == ["SPY"]
    for sym in (1, None, [], {}):  # the row path (a single row) too
        assert feed(p, data("Quote", ["Quote", sym, 1, 2.0, 3.0, 4.0, 5.0])) == []


def test_dxlink_feed_data_whose_data_is_a_100kb_string_gives_one_status() -> None:
    one_malformed(dxlink(), json.dumps({"type": "FEED_DATA", "channel": 1, "data": "x" * 100_000}))


def test_dxlink_bad_pairs_give_one_status_and_the_good_pairs_still_arrive() -> None:
    frame = json.dumps({"type": "FEED_DATA", "channel": 1, "data": [
        "Nope", [1, 2, 3], "Quote", ["Quote", "SPY", 1, 2.0, 3.0, 4.0, 5.0], "Quote", [1, 2, 3], 7, 8]})
    events = one_malformed(dxlink(), frame)
    assert [e.symbol for e in events if isinstance(e, Quote)] == ["SPY"]


def test_dxlink_extra_keys_that_cannot_be_snake_case_are_dropped() -> None:
    frame = json.dumps({"type": "FEED_DATA", "channel": 1, "data": [
        {"eventType": "Quote", "eventSymbol": "SPY", "bidPrice": 1.0, ",ek_size": 2.0, "9lives": 1, "ok": 3}]})
    [q] = feed(dxlink(), frame)
    assert dict(q.extra) == {"ok": 3.0}


def test_dxlink_setup_keepalive_timeout_1e_9_makes_no_busy_loop() -> None:
    p = dxlink()
    feed(p, '{"type":"SETUP","channel":0,"keepaliveTimeout":1e-9}')
    now = T0 + 1
    for _ in range(5):
        deadline = p.next_deadline()
        assert deadline is not None and math.isfinite(deadline)
        now = max(now, deadline)
        p.handle_timer(now, WALL)
        after = p.next_deadline()
        assert after is not None and after >= now + MIN_INTERVAL / 2
    assert len(p.outgoing()) <= 5


def test_dxlink_error_code_that_is_a_list_is_shown_as_a_scalar() -> None:
    [status] = feed(dxlink(), '{"type":"ERROR","channel":0,"error":[1,[2]],"message":"' + "m" * 100_000 + '"}')
    assert isinstance(status.extra["code"], str) and len(status.detail) <= 2000


SECRET = "tok-" + "S3cr3tS3cr3t" * 5


def test_no_piece_of_a_token_reaches_a_status_when_a_server_value_is_cut() -> None:
    p = DXLinkProtocol(SECRET)
    p.connection_made(T0, WALL)
    frames = ['{"type":"FEED_DATA","channel":1,"data":["%s",[1,2,3]]}' % SECRET,
              '{"type":"ERROR","channel":0,"error":["%s"],"message":"x"}' % SECRET,
              '{"type":"FEED_DATA","channel":3,"data":["Candle",["Candle","SPY{=%s}",0,0,1,1,1,1,1,1]]}' % SECRET]
    for frame in frames:
        for ev in p.receive(frame, T0, WALL):
            for piece in (SECRET[4:12], SECRET[-8:]):
                assert piece not in repr(ev), (frame, ev)


def test_replay_skips_an_out_frame_it_cannot_read() -> None:
    bad_out = json.dumps({"type": "FEED_SUBSCRIPTION", "channel": 3,
                          "add": [{"type": "Candle", "symbol": "SPY{=xyz}", "fromTime": 0}]})
    lines = ['{"provider": "dxlink"}', json.dumps({"dir": "out", "raw": bad_out}),
             json.dumps({"dir": "out", "raw": '{"type":"FEED_SUBSCRIPTION","add":5}'}),
             json.dumps({"dir": "in", "raw": json.dumps({"type": "FEED_DATA", "channel": 1, "data": [
                 "Quote", ["Quote", "SPY", 1.0, 2.0, 3.0, 4.0]]})})]
    events = list(replay_lines(lines))
    assert [e.symbol for e in events if isinstance(e, Quote)] == ["SPY"]


# ---------------------------------------------------------------- Tradovate
def test_tradovate_deeply_nested_json() -> None:
    p = tradovate()
    one_malformed(p, "a" + "[" * 100_000)
    one_malformed(p, 'a[{"e":"md","d":{"quotes":' + "[" * 900 + "]" * 900 + "}}]")


def test_tradovate_infinity_in_contract_id() -> None:
    p = tradovate()
    for cid in ("Infinity", "1e999", "-1", "[]", "null", '"11"', "true", str(10**30)):
        one_malformed(p, 'a[{"e":"md","d":{"quotes":[{"contractId":%s,"entries":{"Bid":{"price":1}}}]}}]' % cid)
        one_malformed(p, 'a[{"e":"md","d":{"doms":[{"contractId":%s,"bids":[],"offers":[]}]}}]' % cid)


def _ticks_ready() -> TradovateProtocol:
    p = tradovate()
    p.request(1, Subscribe((Subscription("trade", "ESZ6"),)), T0, WALL)
    [frame] = p.outgoing()
    rid = int(frame.split("\n")[1])
    feed(p, 'a[{"s":200,"i":%d,"d":{"historicalId":7,"realtimeId":8}}]' % rid)
    feed(p, 'a[{"e":"chart","d":{"charts":[{"id":8,"eoh":true}]}}]')
    return p


def test_tradovate_infinity_in_tick_bt_t_and_id() -> None:
    p = _ticks_ready()
    tick = '{"id":8,"s":"db","bp":100,"bt":%s,"ts":0.25,"tks":[{"t":%s,"p":1,"s":2,"id":%s}]}'
    for bt, t, tid in (("Infinity", "0", "1"), ("1700000000000", "1e999", "2"), ("1700000000000", "0", "Infinity"),
                       ("1e999", "0", "3"), ("1700000000000", "-Infinity", "[]")):
        feed(p, 'a[{"e":"chart","d":{"charts":[%s]}}]' % (tick % (bt, t, tid)))


def test_tradovate_trade_price_is_a_float_with_an_integer_tick_size() -> None:
    p = _ticks_ready()
    events = feed(p, 'a[{"e":"chart","d":{"charts":[{"id":8,"s":"db","bp":4000,"bt":1700000000000,"ts":1,'
                     '"tks":[{"t":0,"p":2,"s":3,"id":1,"b":1,"bs":4,"a":3,"as":5}]}]}}]')
    [trade] = [e for e in events if isinstance(e, Trade)]
    assert trade.price == 4002.0 and trade.price.__class__ is float
    assert trade.extra["bid"].__class__ is float and trade.extra["ask"].__class__ is float


def test_tradovate_many_bad_items_give_one_status() -> None:
    events = one_malformed(tradovate(), "a" + json.dumps([1] * 50_000 + [{"e": "nope"}] * 10))
    assert len(events) == 1


def test_tradovate_penalty_p_time_nan_does_not_park_a_request_forever() -> None:
    for p_time in ("NaN", '"NaN"', "Infinity", "-1", "null", "[]"):
        p = tradovate(server_timeout=10 * MAX_PENALTY)  # the server stays alive while the penalty runs
        p.request(1, Subscribe((Subscription("quote", "ESZ6"),)), T0, WALL)
        [frame] = p.outgoing()
        rid = int(frame.split("\n")[1])
        feed(p, 'a[{"s":200,"i":%d,"d":{"p-ticket":"tk","p-time":%s}}]' % (rid, p_time))
        deadline = p.next_deadline()
        assert deadline is not None and T0 < deadline <= T0 + 1 + MAX_PENALTY
        retry = min(deadline, T0 + 1 + MAX_PENALTY)
        while not any("md/subscribeQuote" in f for f in p.outgoing()):
            retry = p.next_deadline() or retry
            p.handle_timer(retry, WALL)
        assert retry <= T0 + 1 + MAX_PENALTY


def test_tradovate_response_codes_that_are_lists_or_objects_stay_scalars() -> None:
    p = tradovate()
    for frame in ('a[{"s":[],"i":"x"}]', 'a[{"s":{},"i":99}]', 'a[{"s":500,"i":99,"d":{"errorCode":[1,2]}}]'):
        feed(p, frame)


def test_tradovate_infinite_quote_prices_keep_the_last_good_value() -> None:
    p = tradovate()
    feed(p, 'a[{"e":"md","d":{"quotes":[{"contractId":11,"entries":{"Bid":{"price":10,"size":1}}}]}}]')
    [q] = feed(p, 'a[{"e":"md","d":{"quotes":[{"contractId":11,"entries":{"Bid":{"price":Infinity,"size":true}}}]}}]')
    assert (q.bid, q.bid_size) == (10.0, 1.0)


def test_dxlink_made_up_names_cannot_grow_memory_forever() -> None:
    p = dxlink()
    for i in range(3):
        types = {f"Made{i}Up{j}": QUOTE for j in range(MAX_KEYS)}
        feed(p, json.dumps({"type": "FEED_CONFIG", "channel": 1, "eventFields": types}))
        pairs = [x for j in range(50) for x in (f"Made{i}Up{j}", [f"Made{i}Up{j}", "SPY", 0, 1, 2, 3, 4])]
        feed(p, json.dumps({"type": "FEED_DATA", "channel": 1, "data": pairs}))
    row = (0, 0, 1_700_000_000_000, 1, 2, 0.5, 1.5, 10)
    candles = [x for j in range(2 * MAX_KEYS) for x in ("Candle", f"FAKE{j}{{=1m}}", *row)]
    bars = feed(p, json.dumps({"type": "FEED_DATA", "channel": 3, "data": ["Candle", candles]}))
    assert len(bars) == 2 * MAX_KEYS  # every row still decodes...
    assert len(p._layouts) <= MAX_KEYS and len(p._decoders) <= MAX_KEYS  # ...but the caches stay bounded
    assert len(p._series) <= MAX_KEYS


def test_tradovate_made_up_contracts_cannot_grow_memory_forever() -> None:
    p = tradovate()
    quotes = [{"contractId": 10_000 + j, "timestamp": "2024-01-02T15:00:00Z",
               "entries": {"Bid": {"price": 1.0, "size": 1}, f"Made{j}": {"price": 2.0}}} for j in range(2 * MAX_KEYS)]
    feed(p, "a" + json.dumps([{"e": "md", "d": {"quotes": quotes}}]))
    assert len(p._quotes._state) <= MAX_KEYS
