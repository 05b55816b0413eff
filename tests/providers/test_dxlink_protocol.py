"""DXLink protocol object: the conformance suite, the real fixture frames
(values named as a person reads them), candle snapshots and history, and the
handshake order tastytrade requires. No sockets."""

from __future__ import annotations

import json
import math
from typing import Any, Dict, List, Set

import pytest

from mdsdk.errors import ConnectionLost, LocalProtocolError
from mdsdk.events import Bar, Profile, Quote, Status, Summary, Trade
from mdsdk.intervals import parse_interval
from mdsdk.series import BarSeries
from mdsdk.providers.base import Fatal, History, Reply, Subscription
from mdsdk.providers.dxlink.codec import candle_key, candle_symbol, guess_layout
from mdsdk.providers.dxlink.protocol import BARS, HIST, LIVE, DXLinkProtocol
from mdsdk.replay import replay_lines

from ..conftest import fixture_lines
from .conformance import T0, ConformanceSuite, Harness, Pair

QUOTE_FIELDS = ["eventType", "eventSymbol", "bidPrice", "askPrice", "bidSize", "askSize"]


def _j(obj: Dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"))


class DXLinkPeer(Harness):
    """A scripted DXLink server written from protocols/dxlink.md sections 3-5."""

    def __init__(self, token: str = "tok") -> None:
        self.token = token

    def new_protocol(self) -> DXLinkProtocol:
        return DXLinkProtocol(self.token, keepalive_timeout=60, keepalive_interval=30)

    def respond(self, frame: str) -> List[str]:
        msg = json.loads(frame)
        kind, ch = msg["type"], msg.get("channel", 0)
        if kind == "SETUP":
            return [_j({"type": "SETUP", "channel": 0, "keepaliveTimeout": 60,
                        "acceptKeepaliveTimeout": 60, "version": "1.0-test"}),
                    _j({"type": "AUTH_STATE", "channel": 0, "state": "UNAUTHORIZED"})]
        if kind == "AUTH":
            state = "AUTHORIZED" if msg["token"] == self.token else "UNAUTHORIZED"
            return [_j({"type": "AUTH_STATE", "channel": 0, "state": state})]
        if kind == "CHANNEL_REQUEST":
            return [_j({"type": "CHANNEL_OPENED", "channel": ch, "service": "FEED",
                        "parameters": {"contract": "AUTO", "subFormat": "LIST"}})]
        if kind == "FEED_SETUP":
            return [_j({"type": "FEED_CONFIG", "channel": ch, "dataFormat": "COMPACT",
                        "aggregationPeriod": 0.1})]
        return []

    def quote_frames(self, symbol: str, bid: float, ask: float) -> List[str]:
        return [_j({"type": "FEED_CONFIG", "channel": LIVE, "dataFormat": "COMPACT", "aggregationPeriod": 0.1,
                    "eventFields": {"Quote": QUOTE_FIELDS}}),
                _j({"type": "FEED_DATA", "channel": LIVE, "data": ["Quote", ["Quote", symbol, bid, ask, 100, 200]]})]

    def error_frame(self) -> str:
        return _j({"type": "ERROR", "channel": 0, "error": "BAD_ACTION", "message": "test error"})

    def subscribed(self, frames: List[str]) -> Set[str]:
        live: Set[str] = set()
        for f in frames:
            m = json.loads(f)
            if m["type"] == "FEED_SUBSCRIPTION":
                for item in m.get("add") or ():
                    if item["type"] == "Quote":
                        live.add(item["symbol"])
                for item in m.get("remove") or ():
                    live.discard(item["symbol"])
        return live

    def is_keepalive(self, frame: str) -> bool:
        return json.loads(frame) == {"type": "KEEPALIVE", "channel": 0}

    def is_first_frame(self, frame: str) -> bool:
        m = json.loads(frame)
        return m["type"] == "SETUP" and m["channel"] == 0 and "version" in m


class TestDXLinkConformance(ConformanceSuite):
    harness = DXLinkPeer()


# ---------------------------------------------------------------- handshake order
def test_auth_waits_for_unauthorized_and_channels_wait_for_authorized() -> None:
    p = DXLinkProtocol("tok")
    p.connection_made(T0)
    assert [json.loads(f)["type"] for f in p.outgoing()] == ["SETUP"]
    p.receive(_j({"type": "SETUP", "channel": 0, "keepaliveTimeout": 60, "version": "x"}), T0, 1)
    assert p.outgoing() == []  # no AUTH before AUTH_STATE UNAUTHORIZED
    p.receive(_j({"type": "AUTH_STATE", "channel": 0, "state": "UNAUTHORIZED"}), T0, 1)
    assert [json.loads(f) for f in p.outgoing()] == [{"type": "AUTH", "channel": 0, "token": "tok"}]
    p.receive(_j({"type": "AUTH_STATE", "channel": 0, "state": "AUTHORIZED", "userId": "u"}), T0, 1)
    sent = [json.loads(f) for f in p.outgoing()]
    assert [(m["type"], m["channel"]) for m in sent] == [
        ("CHANNEL_REQUEST", LIVE), ("CHANNEL_REQUEST", BARS), ("CHANNEL_REQUEST", HIST)]
    assert all(m["parameters"] == {"contract": "AUTO"} and m["service"] == "FEED" for m in sent)


def test_no_auth_server_goes_straight_to_channels() -> None:
    p = DXLinkProtocol(None)
    p.connection_made(T0)
    p.outgoing()
    p.receive(_j({"type": "AUTH_STATE", "channel": 0, "state": "AUTHORIZED"}), T0, 1)
    assert [json.loads(f)["type"] for f in p.outgoing()] == ["CHANNEL_REQUEST"] * 3


def test_rejected_token_and_expiry_are_signals() -> None:
    pair = Pair(DXLinkPeer(token="right"))
    pair.proto = DXLinkProtocol("wrong")
    pair.connect()
    assert any(isinstance(s, Fatal) for s in pair.signals) and not pair.proto.ready
    ok = Pair(DXLinkPeer())
    ok.connect()
    ok.receive(_j({"type": "AUTH_STATE", "channel": 0, "state": "UNAUTHORIZED"}))
    assert any(isinstance(s, Fatal) for s in ok.signals)


def test_server_keepalive_timeout_sets_our_keepalive_pace() -> None:
    p = DXLinkProtocol("t", keepalive_interval=30)
    p.connection_made(T0)
    p.receive(_j({"type": "SETUP", "channel": 0, "keepaliveTimeout": 10, "version": "x"}), T0, 1)
    p.outgoing()
    assert p.next_deadline() == pytest.approx(T0 + 5)  # half the server's timeout, not 30 s


def test_subscriptions_are_chunked_below_the_frame_limit() -> None:
    pair = Pair(DXLinkPeer())
    pair.proto.chunk_size = 2048  # type: ignore[attr-defined]
    pair.connect()
    symbols = [f"SYM{i:04d}" for i in range(500)]
    pair.proto.subscribe([Subscription("quote", s) for s in symbols], T0)
    frames = pair.proto.outgoing()
    assert len(frames) > 5 and all(len(f) <= 2048 for f in frames)
    assert DXLinkPeer().subscribed(frames) == set(symbols)
    first = pair.proto.closed_error(1009, "")
    assert isinstance(first, ConnectionLost) and "1024" in str(first)
    assert pair.proto.chunk_size == 1024  # type: ignore[attr-defined]
    second = pair.proto.closed_error(1009, "")
    assert isinstance(second, LocalProtocolError) and "1009" in str(second) and "1024" in str(second)


# ---------------------------------------------------------------- real fixtures
def _replay(relpath: str) -> List[Any]:
    lines = fixture_lines(relpath)
    return list(replay_lines((json.dumps(line) for line in lines), "dxlink"))


def test_fixture_compact_quotes_with_server_default_fields() -> None:
    events = _replay("dxlink/feed_data_compact.jsonl")
    quotes = [e for e in events if isinstance(e, Quote)]
    aapl, spx = quotes[0], quotes[1]
    assert (aapl.symbol, aapl.bid, aapl.ask, aapl.bid_size, aapl.ask_size) == ("AAPL", 168.4, 168.46, 51.0, 10.0)
    assert aapl.extra["bid_exchange_code"] == "Q"
    assert spx.symbol == "SPX" and (spx.bid, spx.ask) == (4979.73, 5064.47)
    assert math.isnan(spx.bid_size) and math.isnan(spx.ask_size)
    assert spx.extra["bid_exchange_code"] is None  # "" on the wire is missing text
    trades = [e for e in events if isinstance(e, Trade)]
    assert (trades[0].symbol, trades[0].price, trades[0].day_volume, trades[0].size) == (
        "SPY", 559.36, 13743299.0, 100.0)
    assert trades[1].symbol == "BTC/USD:CXTALP" and trades[1].price == 58356.71
    assert math.isnan(trades[1].size) and math.isnan(trades[1].day_volume)
    # the spec's two-type frame: Quote then Trade pairs in one FEED_DATA
    assert [(q.symbol, q.bid, q.ask) for q in quotes[2:]] == [("AAPL", 123.0, 123.0), ("AMZN", 321.0, 321.0)]
    assert [(t.symbol, t.price, t.size) for t in trades[2:]] == [("AAPL", 321.0, 22.0), ("AMZN", 123.0, 11.0)]
    assert not [e for e in events if isinstance(e, Status)]


def test_fixture_tastytrade_doc_handshake_and_trades() -> None:
    events = _replay("dxlink/handshake_tastytrade_doc.jsonl")
    assert [(e.symbol, e.price) for e in events if isinstance(e, Trade)] == [
        ("SPY", 559.36), ("BTC/USD:CXTALP", 58356.71)]


def test_fixture_full_format_and_spec_handshake() -> None:
    full = _replay("dxlink/feed_data_full_spec.jsonl")
    assert [(q.symbol, q.bid, q.ask) for q in full] == [("AAPL", 123.0, 123.0), ("AAPL", 321.0, 321.0)]
    spec = _replay("dxlink/handshake_spec_example.jsonl")
    q = [e for e in spec if isinstance(e, Quote)][0]
    assert (q.bid, q.ask, q.bid_size, q.ask_size) == (123.45, 123.46, 100.0, 200.0)
    bar = [e for e in spec if isinstance(e, Bar)][0]
    assert (bar.symbol, bar.interval, bar.open, bar.close) == ("AAPL", "1d", 123.45, 123.46)


def test_fixture_candle_snapshot_gives_ascending_bars_and_drops_placeholder() -> None:
    bars = [e for e in _replay("dxlink/candle_history_constructed.jsonl") if isinstance(e, Bar)]
    snapshot, live = bars[:3], bars[3:]
    assert [b.time // 10**9 for b in snapshot] == [1700010000, 1700013600, 1700017200]
    assert [(b.open, b.high, b.low, b.close, b.volume) for b in snapshot] == [
        (188.7, 189.1, 188.6, 189.0, 75020.0), (189.0, 189.6, 188.9, 189.5, 98210.0),
        (189.5, 189.9, 189.3, 189.8, 120345.0)]
    assert [b.complete for b in snapshot] == [True, True, False]
    assert all(b.interval == "1h" and b.symbol == "AAPL" for b in bars)
    assert snapshot[0].extra["vwap"] == 188.88
    assert len(live) == 1 and live[0].close == 190.05 and live[0].time == snapshot[2].time


def test_fixture_errors_become_status_and_auth_signal() -> None:
    p = DXLinkProtocol("t")
    statuses = []
    for line in fixture_lines("dxlink/errors.jsonl"):
        statuses.extend(p.receive(line["raw"], T0, 1))
    assert [s.kind for s in statuses] == ["error"] * len(statuses) and len(statuses) >= 3
    assert "TIMEOUT" in statuses[0].detail and "60 seconds" in statuses[0].detail
    assert any(isinstance(s, Fatal) for s in p.signals)


def test_fixture_keepalive_lifecycle_frames_are_quiet() -> None:
    assert _replay("dxlink/keepalive_and_lifecycle.jsonl") == []
    assert _replay("dxlink/reference_client_frames_qd.jsonl") == []


def test_mid_stream_capture_without_config_decodes_by_layout_guess() -> None:
    frame = '{"type":"FEED_DATA","channel":9,"data":["Quote",["Quote","MSFT",410.1,410.2,5.0,7.0]]}'
    [q] = list(replay_lines([json.dumps({"dir": "in", "raw": frame})], "dxlink"))
    assert (q.symbol, q.bid, q.ask, q.bid_size, q.ask_size) == ("MSFT", 410.1, 410.2, 5.0, 7.0)
    assert guess_layout("Quote", ["Quote", "X", 1, 2, 3]) is None


# ---------------------------------------------------------------- edge values
def test_nan_infinity_exponent_and_int64_index() -> None:
    pair = Pair(DXLinkPeer())
    pair.connect()
    fields = ["eventType", "eventSymbol", "eventFlags", "index", "time", "open", "high", "low", "close", "volume"]
    pair.receive(_j({"type": "FEED_CONFIG", "channel": BARS, "dataFormat": "COMPACT", "aggregationPeriod": 0,
                     "eventFields": {"Candle": fields}}))
    big = 7235129486797176832
    evs = pair.receive(_j({"type": "FEED_DATA", "channel": BARS, "data": ["Candle", [
        "Candle", "X{=1m}", 0, big, 1684559855338, "Infinity", "-Infinity", "NaN", 1.5E2, 1.3743299E7]]}))
    [bar] = evs
    # DESIGN.md section 4: prices are finite or nan, so the wire's infinities arrive as nan
    assert math.isnan(bar.high) and math.isnan(bar.open) and math.isnan(bar.low)
    assert bar.close == 150.0 and bar.volume == 13743299.0 and bar.time == 1684559855338 * 10**6


def test_field_order_follows_feed_config_and_full_switch() -> None:
    pair = Pair(DXLinkPeer())
    pair.connect()
    pair.receive(_j({"type": "FEED_CONFIG", "channel": LIVE, "dataFormat": "COMPACT", "aggregationPeriod": 0,
                     "eventFields": {"Quote": ["askPrice", "eventSymbol", "bidPrice"]}}))
    [q] = pair.receive(_j({"type": "FEED_DATA", "channel": LIVE, "data": ["Quote", [2.0, "Z", 1.0]]}))
    assert (q.symbol, q.bid, q.ask) == ("Z", 1.0, 2.0)
    pair.receive(_j({"type": "FEED_CONFIG", "channel": LIVE, "dataFormat": "FULL", "aggregationPeriod": 0}))
    [q2] = pair.receive(_j({"type": "FEED_DATA", "channel": LIVE, "data": [
        {"eventType": "Quote", "eventSymbol": "Z", "bidPrice": 3, "askPrice": "NaN"}]}))
    assert q2.bid == 3.0 and math.isnan(q2.ask)


def test_summary_and_profile_map_to_common_events() -> None:
    pair = Pair(DXLinkPeer())
    pair.connect()
    pair.receive(_j({"type": "FEED_CONFIG", "channel": LIVE, "dataFormat": "COMPACT", "aggregationPeriod": 0,
                     "eventFields": {"Summary": ["eventType", "eventSymbol", "openInterest", "dayOpenPrice",
                                                 "dayHighPrice", "dayLowPrice", "prevDayClosePrice"],
                                     "Profile": ["eventType", "eventSymbol", "description", "tradingStatus",
                                                 "high52WeekPrice"]}}))
    evs = pair.receive(_j({"type": "FEED_DATA", "channel": LIVE, "data": [
        "Summary", ["Summary", "SPY", 0, 550.1, 561.2, 549.0, 548.5],
        "Profile", ["Profile", "SPY", "SPDR S&P 500", "ACTIVE", 600.5]]}))
    s, p = evs
    assert isinstance(s, Summary) and (s.open, s.high, s.low, s.prev_close, s.open_interest) == (
        550.1, 561.2, 549.0, 548.5, 0.0)
    assert isinstance(p, Profile) and (p.description, p.trading_status) == ("SPDR S&P 500", "ACTIVE")
    assert p.extra == {"high52_week_price": 600.5}


def test_bad_values_array_is_reported_and_connection_goes_on() -> None:
    pair = Pair(DXLinkPeer())
    pair.connect()
    for f in DXLinkPeer().quote_frames("A", 1, 2)[:1]:
        pair.receive(f)
    evs = pair.receive(_j({"type": "FEED_DATA", "channel": LIVE, "data": ["Quote", ["Quote", "A", 1, 2, 3]]}))
    assert [e.kind for e in evs] == ["error"] and "not a multiple" in evs[0].detail
    assert pair.proto.ready


# ---------------------------------------------------------------- candles
def _candle_config(ch: int) -> str:
    return _j({"type": "FEED_CONFIG", "channel": ch, "dataFormat": "COMPACT", "aggregationPeriod": 0,
               "eventFields": {"Candle": ["eventType", "eventSymbol", "eventFlags", "index", "time", "open",
                                          "high", "low", "close", "volume"]}})


def _row(sym: str, flags: int, t_ms: int, px: float) -> List[Any]:
    idx = ((t_ms // 1000) << 32) | ((t_ms % 1000) << 22)
    return ["Candle", sym, flags, idx, t_ms, px, px + 1, px - 1, px + 0.5, 100.0]


def test_history_snapshot_with_tx_pending_snip_and_range_filter() -> None:
    pair = Pair(DXLinkPeer())
    pair.connect()
    iv = parse_interval("5m")
    start = 1_700_000_000_000
    req = (1, History("AAPL", iv, start * 10**6, (start + 3 * 300_000) * 10**6))
    pair.proto.request(*req, T0)
    [add] = [json.loads(f) for f in pair.proto.outgoing()]
    assert add == {"type": "FEED_SUBSCRIPTION", "channel": HIST,
                   "add": [{"type": "Candle", "symbol": "AAPL{=5m}", "fromTime": start}]}
    pair.receive(_candle_config(HIST))
    t = [start + i * 300_000 for i in range(5)]
    pair.receive(_j({"type": "FEED_DATA", "channel": HIST, "data": ["Candle",
                     _row("AAPL{=5m}", 4 | 1, t[4], 14) + _row("AAPL{=5m}", 1, t[3], 13)]}))
    assert not [s for s in pair.signals if isinstance(s, Reply)]
    pair.receive(_j({"type": "FEED_DATA", "channel": HIST, "data": ["Candle",
                     _row("AAPL{=5m}", 0, t[2], 12) + _row("AAPL{=5m}", 0, t[1], 11)
                     + _row("AAPL{=5m}", 8, t[0], 10)]}))
    [done] = [s for s in pair.signals if isinstance(s, Reply)]
    assert done.request_id == 1 and not done.value.truncated
    assert [b.open for b in done.value.bars] == [10, 11, 12]  # end is exclusive
    assert isinstance(done.value.bars, BarSeries) and done.value.bars.times == [t * 1_000_000 for t in t[:3]]
    removed = [json.loads(f) for f in pair.proto.outgoing()]
    assert removed[0]["remove"] == [{"type": "Candle", "symbol": "AAPL{=5m}", "fromTime": start}]


def test_history_keeps_extras_as_columns_and_a_price_named_extra_cannot_shadow_a_price() -> None:
    # A server whose Candle layout also names "Open" (snake-cased: "open") and a VWAP: the answer still comes,
    # with the bar's own open and the vwap as an extra column.
    pair = Pair(DXLinkPeer())
    pair.connect()
    start = 1_700_000_000_000
    pair.proto.request(3, History("MSFT", parse_interval("5m"), start * 10**6, (start + 600_000) * 10**6), T0)
    pair.proto.outgoing()
    pair.receive(_j({"type": "FEED_CONFIG", "channel": HIST, "dataFormat": "COMPACT", "aggregationPeriod": 0,
                     "eventFields": {"Candle": ["eventType", "eventSymbol", "eventFlags", "index", "time", "open",
                                                "high", "low", "close", "volume", "vwap", "Open"]}}))
    rows = [_row("MSFT{=5m}", 4 | 1, start + 300_000, 11) + [11.2, 999.0],
            _row("MSFT{=5m}", 8, start, 10) + [10.2, 999.0]]
    pair.receive(_j({"type": "FEED_DATA", "channel": HIST, "data": ["Candle", rows[0] + rows[1]]}))
    [done] = [s for s in pair.signals if isinstance(s, Reply)]
    assert done.error is None and isinstance(done.value.bars, BarSeries)
    assert [(b.open, b.extra["vwap"]) for b in done.value.bars] == [(10, 10.2), (11, 11.2)]
    assert "open" not in done.value.bars.extras


def test_history_empty_snapshot_and_placeholder() -> None:
    pair = Pair(DXLinkPeer())
    pair.connect()
    req = (2, History("Q", parse_interval("1d"), 10**18, 2 * 10**18))
    pair.proto.request(*req, T0)
    pair.proto.outgoing()
    pair.receive(_candle_config(HIST))
    pair.receive(_j({"type": "FEED_DATA", "channel": HIST, "data": ["Candle",
                     ["Candle", "Q{=d}", 0x0E, 0, 10**9, "NaN", "NaN", "NaN", "NaN", "NaN"]]}))
    [done] = [s for s in pair.signals if isinstance(s, Reply)]
    assert done.value.bars == ()


def test_live_bars_complete_on_roll_and_resume_after_reconnect() -> None:
    pair = Pair(DXLinkPeer())
    pair.connect()
    pair.proto.subscribe([Subscription("bar", "SPY", "1m")], T0)
    pair.pump()
    pair.receive(_candle_config(BARS))
    t0 = 1_700_000_040_000
    evs = pair.receive(_j({"type": "FEED_DATA", "channel": BARS, "data": ["Candle",
                           _row("SPY{=m}", 4, t0 + 60_000, 2) + _row("SPY{=m}", 8, t0, 1)]}))
    assert [(b.open, b.complete) for b in evs] == [(1, True), (2, False)]
    evs = pair.receive(_j({"type": "FEED_DATA", "channel": BARS, "data": ["Candle",
                           _row("SPY{=m}", 0, t0 + 120_000, 3)]}))
    assert [(b.open, b.complete) for b in evs] == [(2, True), (3, False)]
    pair.proto.connection_lost()
    pair.sent.clear()
    pair.connect()
    adds = [json.loads(f) for f in pair.sent if '"FEED_SUBSCRIPTION"' in f and f'"channel":{BARS}' in f]
    assert adds[0]["add"] == [{"type": "Candle", "symbol": "SPY{=1m}", "fromTime": t0 + 120_000}]
    pair.receive(_candle_config(BARS))
    evs = pair.receive(_j({"type": "FEED_DATA", "channel": BARS, "data": ["Candle",
                           _row("SPY{=m}", 4, t0 + 180_000, 4) + _row("SPY{=m}", 8, t0 + 120_000, 3.5)]}))
    # the gap is backfilled: the updated bar 3 (now complete) and new bar 4; nothing older repeats
    assert [(b.open, b.complete) for b in evs] == [(3.5, True), (4, False)]


def test_candle_symbols() -> None:
    assert candle_symbol("AAPL", 5, "m") == "AAPL{=5m}"
    assert candle_key("AAPL{=1d}") == candle_key("AAPL{=d}") == candle_key("AAPL{=1D}")
    assert candle_key("A{=5m,tho=true}") == candle_key("A{tho=TRUE,=5m}")
    assert candle_key("A{=5m}") != candle_key("A{=1m}")


def test_history_requests_for_the_same_series_run_one_after_another() -> None:
    pair = Pair(DXLinkPeer())
    pair.connect()
    iv = parse_interval("5m")
    start = 1_700_000_000_000
    for rid in (1, 2):
        pair.proto.request(rid, History("AAPL", iv, start * 10**6, (start + 600_000) * 10**6), T0)
    [first] = [json.loads(f) for f in pair.proto.outgoing()]  # the second waits for the first
    assert first["add"][0]["fromTime"] == start
    pair.receive(_candle_config(HIST))
    for _ in (1, 2):
        pair.receive(_j({"type": "FEED_DATA", "channel": HIST, "data": ["Candle",
                         _row("AAPL{=5m}", 4, start + 300_000, 11) + _row("AAPL{=5m}", 8, start, 10)]}))
    assert [s.request_id for s in pair.signals if isinstance(s, Reply)] == [1, 2]
