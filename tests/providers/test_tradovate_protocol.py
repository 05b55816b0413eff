"""Tradovate protocol object: the conformance suite, the real fixture frames
(values named as a person reads them), codec details, charts and paging.
No sockets."""

from __future__ import annotations

import json
import random
from typing import Any, Dict, List, Set, Tuple

import pytest

from mdsdk.errors import AuthenticationError, ConnectionLost, SubscriptionError, UnsupportedError
from mdsdk.events import Bar, BookSnapshot, Quote, Summary, Trade
from mdsdk.intervals import parse_interval
from mdsdk.series import BarSeries
from mdsdk.providers.base import Fatal, History, Reply, Subscribe, Subscription
from mdsdk.providers.tradovate.codec import (bar_from_packet, chart_description, encode_request, iso_to_ns, ns_to_iso,
                                             parse_frame, ticks_from_packet)
from mdsdk.providers.core import MAX_KEYS
from mdsdk.providers.tradovate.protocol import TradovateProtocol
from mdsdk.providers.tradovate.quotes import decode_md
from mdsdk.providers.tradovate.rest import contract_flow, login_flow
from mdsdk.providers.base import Endpoint, HttpResponse
from mdsdk.replay import replay_lines
from mdsdk.testing.invariants import check_events

from ..conftest import fixture_lines
from .conformance import T0, ConformanceSuite, Harness, Pair

CID = {"AAA": 11, "BBB": 12, "CCC": 13, "DDD": 14, "EEE": 15, "FFF": 16}


def _a(*items: Any) -> str:
    return "a" + json.dumps(list(items), separators=(",", ":"))


class TradovatePeer(Harness):
    """A scripted Tradovate MD server written from protocols/tradovate.md."""

    def new_protocol(self) -> TradovateProtocol:
        p = TradovateProtocol("tok")
        p.learn_symbols(CID)
        return p

    def respond(self, frame: str) -> List[str]:
        if frame == "[]":
            return []
        endpoint, rid, _query, body = frame.split("\n", 3)
        if endpoint == "authorize":
            return [_a({"s": 200, "i": int(rid)})] if body == "tok" else \
                [_a({"i": int(rid), "s": 401, "d": "Invalid access token"})]
        return [_a({"s": 200, "i": int(rid)})]

    def quote_frames(self, symbol: str, bid: float, ask: float) -> List[str]:
        return [_a({"e": "md", "d": {"quotes": [{"timestamp": "2026-01-05T14:30:00.250Z", "contractId": CID[symbol],
                                                 "entries": {"Bid": {"price": bid, "size": 3},
                                                             "Offer": {"price": ask, "size": 4}}}]}})]

    def error_frame(self) -> str:
        return _a({"e": "shutdown", "d": {"reasonCode": "Maintenance"}})

    def subscribed(self, frames: List[str]) -> Set[str]:
        live: Set[str] = set()
        for f in frames:
            if f == "[]" or "\n" not in f:
                continue
            endpoint, _, _, body = f.split("\n", 3)
            if endpoint == "md/subscribeQuote":
                live.add(json.loads(body)["symbol"])
            elif endpoint == "md/unsubscribeQuote":
                live.discard(json.loads(body)["symbol"])
        return live

    def is_keepalive(self, frame: str) -> bool:
        return frame == "[]"

    def is_first_frame(self, frame: str) -> bool:
        return frame.startswith("authorize\n0\n\n")

    def greeting(self) -> List[str]:
        return ["o"]


class TestTradovateConformance(ConformanceSuite):
    harness = TradovatePeer()


def _ready() -> Pair:
    pair = Pair(TradovatePeer())
    pair.connect()
    return pair


# ---------------------------------------------------------------- framing and codec
def test_frame_parsing_and_request_documents() -> None:
    assert parse_frame("o") == ("open", None) and parse_frame("h") == ("heartbeat", None)
    assert parse_frame('c[3000, "Go away!"]') == ("close", (3000, "Go away!"))
    assert parse_frame("c") == ("close", (None, ""))
    assert parse_frame('a[{"s":200,"i":0}]') == ("array", [{"s": 200, "i": 0}])
    with pytest.raises(ValueError):
        parse_frame("x")
    assert encode_request("authorize", 0, "TOKEN") == "authorize\n0\n\nTOKEN"
    assert encode_request("md/subscribeQuote", 1, {"symbol": "ESM2"}) == 'md/subscribeQuote\n1\n\n{"symbol":"ESM2"}'
    assert encode_request("executionReport/list", 4) == "executionReport/list\n4\n\n"
    assert iso_to_ns("2021-04-13T04:59:06.588Z") == 1618289946588000000
    assert ns_to_iso(1618289946588000000) == "2021-04-13T04:59:06.588Z"


def test_authorize_waits_for_open_and_ids_increase() -> None:
    p = TradovateProtocol("tok")
    p.connection_made(T0)
    assert p.outgoing() == []  # nothing before the server's o
    p.receive("o", T0, 1)
    assert p.outgoing() == ["authorize\n0\n\ntok"]
    p.subscribe([Subscription("quote", "ESZ6"), Subscription("book", "ESZ6")], T0)
    assert p.outgoing() == []  # no request before authorize succeeded
    p.receive(_a({"s": 200, "i": 0}), T0, 1)
    assert p.outgoing() == ['md/subscribeQuote\n1\n\n{"symbol":"ESZ6"}', 'md/subscribeDOM\n2\n\n{"symbol":"ESZ6"}']


def test_heartbeat_every_2_5_s_even_while_data_flows() -> None:
    pair = _ready()
    p = pair.proto
    beats = 0
    t = T0
    for _ in range(40):  # 10 s of data every 0.25 s
        t += 0.25
        pair.now = t
        pair.receive(TradovatePeer().quote_frames("AAA", 1.0, 1.25)[0])
        if p.next_deadline() is not None and t >= p.next_deadline():
            p.handle_timer(t)
        beats += p.outgoing().count("[]")
    assert beats == 4


def test_bad_token_and_401_later_are_auth_signals() -> None:
    p = TradovateProtocol("wrong")
    p.connection_made(T0)
    p.receive("o", T0, 1)
    p.receive(_a({"i": 0, "s": 401, "d": "Invalid access token"}), T0, 1)
    [sig] = p.signals
    assert isinstance(sig, Fatal) and "Invalid access token" in str(sig.error)
    pair = _ready()
    pair.proto.subscribe([Subscription("quote", "AAA")], T0)
    [req] = pair.proto.outgoing()
    rid = int(req.split("\n")[1])
    pair.receive(_a({"i": rid, "s": 401, "d": "Access is denied"}))
    assert any(isinstance(s, Fatal) for s in pair.signals)


def test_symbol_error_with_status_200_rejects_that_symbol_only() -> None:
    pair = _ready()
    pair.proto.request(9, Subscribe((Subscription("quote", "AAA"), Subscription("quote", "BBB"))), T0)
    reqs = pair.proto.outgoing()
    ids = [int(r.split("\n")[1]) for r in reqs]
    evs = pair.receive(_a({"s": 200, "i": ids[0], "d": {"errorText": "Symbol is inaccessible",
                                                        "errorCode": "UnknownSymbol", "mode": "None"}}))
    assert not [s for s in pair.signals if isinstance(s, Reply)]  # one answer for the request, once all are in
    pair.receive(_a({"s": 200, "i": ids[1]}))
    [reply] = [s for s in pair.signals if isinstance(s, Reply)]
    [(sub, err)] = reply.value
    assert reply.request_id == 9 and sub.symbol == "AAA" and isinstance(err, SubscriptionError)
    assert (err.symbol, err.code, err.text) == ("AAA", "UnknownSymbol", "Symbol is inaccessible")
    assert [(e.kind, e.symbol) for e in evs] == [("error", "AAA")]
    assert pair.proto.subscriptions == (Subscription("quote", "BBB"),)


def test_partial_entries_merge_into_state() -> None:
    pair = _ready()
    first = pair.receive(_a({"e": "md", "d": {"quotes": [{"timestamp": "2026-01-05T14:30:00.000Z", "contractId": 11,
        "entries": {"Bid": {"price": 100.0, "size": 5}, "Offer": {"price": 100.25, "size": 6},
                    "TotalTradeVolume": {"size": 1000}}}]}}))
    assert isinstance(first[0], Quote) and isinstance(first[1], Summary) and first[1].volume == 1000.0
    later = pair.receive(_a({"e": "md", "d": {"quotes": [{"timestamp": "2026-01-05T14:30:01.000Z", "contractId": 11,
        "entries": {"Bid": {"size": 9}, "Trade": {"price": 100.25, "size": 2}}}]}}))
    q, t = later
    assert (q.symbol, q.bid, q.bid_size, q.ask, q.ask_size) == ("AAA", 100.0, 9.0, 100.25, 6.0)
    assert (t.price, t.size, t.day_volume) == (100.25, 2.0, 1000.0)


def test_several_items_per_frame_and_garbage() -> None:
    pair = _ready()
    dom = {"contractId": 12, "timestamp": "2026-01-05T14:30:00.000Z",
           "bids": [{"price": 9, "size": 1}, {"price": 10, "size": 2}],
           "offers": [{"price": 12, "size": 3}, {"price": 11, "size": 4}]}
    evs = pair.receive(_a({"e": "md", "d": {"doms": [dom]}}, {"e": "nonsense", "d": {}}, {"s": 200, "i": 999}))
    book = evs[0]
    assert isinstance(book, BookSnapshot) and book.bids == ((10.0, 2.0), (9.0, 1.0))
    assert book.asks == ((11.0, 4.0), (12.0, 3.0)) and book.symbol == "BBB"
    assert evs[1].kind == "error" and "unknown event" in evs[1].detail
    before = pair.proto.malformed
    assert [e.kind for e in pair.receive("a[not json")] == ["error"]
    assert [e.kind for e in pair.receive("zzz")] == ["error"]
    assert pair.proto.malformed == before + 2 and pair.proto.ready


def test_close_frame_makes_the_connection_lost() -> None:
    pair = _ready()
    evs = pair.receive('c[3000, "Go away!"]')
    assert evs[0].kind == "disconnected"
    assert pair.proto.next_deadline() == 0.0
    with pytest.raises(ConnectionLost, match="Go away"):
        pair.proto.handle_timer(pair.now)


# ---------------------------------------------------------------- charts
def _chart_answer(pair: Pair, h: int, r: int) -> str:
    [req] = [f for f in pair.proto.outgoing() if f.startswith("md/getChart")]
    return _a({"s": 200, "i": int(req.split("\n")[1]), "d": {"historicalId": h, "realtimeId": r}}), json.loads(
        req.split("\n", 3)[3])


def _bar(ts: str, px: float) -> Dict[str, Any]:
    return {"timestamp": ts, "open": px, "high": px + 1, "low": px - 1, "close": px + 0.5, "upVolume": 10,
            "downVolume": 5, "upTicks": 3, "downTicks": 2, "bidVolume": 7, "offerVolume": 8}


def test_live_bars_accept_either_id_packets_before_answer_and_complete_on_roll() -> None:
    pair = _ready()
    pair.proto.subscribe([Subscription("bar", "CCC", "1m")], T0)
    answer, body = _chart_answer(pair, 32, 31)
    assert body["chartDescription"] == {"underlyingType": "MinuteBar", "elementSize": 1,
                                        "elementSizeUnit": "UnderlyingUnits", "withHistogram": False}
    early = pair.receive(_a({"e": "chart", "d": {"charts": [{"id": 32, "td": 20260105,
                                                             "bars": [_bar("2026-01-05T14:30:00.000Z", 1)]}]}}))
    assert early == []  # held until the answer names id 32
    opened = pair.receive(answer)
    assert [(b.open, b.complete) for b in opened] == [(1, False)]
    pair.receive(_a({"e": "chart", "d": {"charts": [{"id": 31, "eoh": True}]}}))
    evs = pair.receive(_a({"e": "chart", "d": {"charts": [{"id": 31, "bars": [
        _bar("2026-01-05T14:31:00.000Z", 2), _bar("2026-01-05T14:30:00.000Z", 1.5)]}]}}))
    assert [(b.open, b.complete) for b in evs] == [(1.5, False), (1.5, True), (2, False)]
    assert evs[-1].volume == 15.0 and evs[-1].extra["up_ticks"] == 3.0
    pair.proto.unsubscribe([Subscription("bar", "CCC", "1m")], T0)
    [cancel] = pair.proto.outgoing()
    assert cancel.startswith("md/cancelChart\n") and cancel.endswith('{"subscriptionId":31}')


def test_bar_gap_is_backfilled_after_reconnect_without_duplicates() -> None:
    pair = _ready()
    pair.proto.subscribe([Subscription("bar", "DDD", "5m")], T0)
    answer, _ = _chart_answer(pair, 2, 3)
    pair.receive(answer)
    pair.receive(_a({"e": "chart", "d": {"charts": [{"id": 3, "bars": [_bar("2026-01-05T14:00:00.000Z", 1),
                                                                        _bar("2026-01-05T14:05:00.000Z", 2)]},
                                                     {"id": 3, "eoh": True}]}}))
    pair.proto.connection_lost()
    pair.proto.connection_made(T0)
    pair.receive("o")
    pair.proto.outgoing()
    pair.receive(_a({"s": 200, "i": 0}))
    answer, body = _chart_answer(pair, 8, 9)
    assert body["timeRange"] == {"asFarAsTimestamp": "2026-01-05T14:05:00.000Z"}
    pair.receive(answer)
    evs = pair.receive(_a({"e": "chart", "d": {"charts": [{"id": 9, "bars": [
        _bar("2026-01-05T14:05:00.000Z", 2.5), _bar("2026-01-05T14:10:00.000Z", 3),
        _bar("2026-01-05T14:00:00.000Z", 1)]}]}}))
    assert [(b.open, b.complete) for b in evs] == [(2.5, False), (2.5, True), (3, False)]


def test_history_pages_with_closest_timestamp_until_start() -> None:
    pair = _ready()
    pair.now = 1_800_000_000.0  # 2027: every 2026 bar is complete
    iv = parse_interval("1h")
    start, end = iso_to_ns("2026-01-05T00:00:00Z"), iso_to_ns("2026-01-05T06:00:00Z")
    pair.proto.request(7, History("EEE", iv, start, end), T0)
    answer, body = _chart_answer(pair, 40, 41)
    assert body["timeRange"] == {"closestTimestamp": "2026-01-05T06:00:00.000Z",
                                 "asFarAsTimestamp": "2026-01-05T00:00:00.000Z"}
    pair.receive(answer)
    # the server caps the answer at 3 bars: 03:00..05:00
    page1 = [_bar(f"2026-01-05T0{h}:00:00.000Z", h) for h in (5, 4, 3)]
    pair.receive(_a({"e": "chart", "d": {"charts": [{"id": 41, "bars": page1}, {"id": 41, "eoh": True}]}}))
    out = pair.proto.outgoing()
    assert out[0].startswith("md/cancelChart") and '"subscriptionId":41' in out[0]
    page = json.loads(out[1].split("\n", 3)[3])
    assert page["timeRange"]["closestTimestamp"] == "2026-01-05T03:00:00.000Z"
    pair.receive(_a({"s": 200, "i": int(out[1].split("\n")[1]), "d": {"historicalId": 50, "realtimeId": 51}}))
    page2 = [_bar(f"2026-01-05T0{h}:00:00.000Z", h) for h in (2, 1, 0)]
    pair.receive(_a({"e": "chart", "d": {"charts": [{"id": 50, "bars": page2}, {"id": 51, "eoh": True}]}}))
    [done] = [s for s in pair.signals if isinstance(s, Reply)]
    assert [b.open for b in done.value.bars] == [0, 1, 2, 3, 4, 5] and not done.value.truncated
    assert all(b.interval == "1h" and b.symbol == "EEE" and b.complete for b in done.value.bars)
    # decoded in one pass into columns, the answer holds the very bars the live path makes one by one
    assert isinstance(done.value.bars, BarSeries)
    assert list(done.value.bars) == [bar_from_packet(raw, "EEE", "1h", "tradovate", None, True) for raw in
                                     sorted(page1 + page2, key=lambda r: r["timestamp"])]
    assert done.value.bars[0].volume == 15.0 and done.value.bars[0].extra["up_ticks"] == 3.0


def test_ticks_relative_encoding_out_of_order() -> None:
    packet = {"id": 16335, "s": "db", "td": 20190718, "bp": 11917, "bt": 1563421179735, "ts": 0.25,
              "tks": [{"t": 5, "p": 2, "s": 1, "id": 11768402},
                      {"t": 0, "p": 0, "s": 3, "b": -1, "a": 0, "bs": 122, "as": 28, "id": 11768401}]}
    first, second = ticks_from_packet(packet, "ESU9", "tradovate")
    assert first.price == 2979.25 and first.size == 3.0 and first.time == 1563421179735 * 10**6
    assert first.extra["bid"] == 2979.0 and first.extra["ask"] == 2979.25 and first.extra["bid_size"] == 122.0
    assert second.price == 2979.75 and second.time == (1563421179735 + 5) * 10**6


def test_chart_descriptions() -> None:
    assert chart_description(parse_interval("1h"))["elementSize"] == 60
    assert chart_description(parse_interval("1d"))["underlyingType"] == "DailyBar"
    assert chart_description(None)["underlyingType"] == "Tick"
    with pytest.raises(UnsupportedError, match="minute bars"):
        chart_description(parse_interval("1w"))


# ---------------------------------------------------------------- REST flows
def _drive(flow: Any, answers: List[HttpResponse]) -> Any:
    req = next(flow)
    sent = [req]
    try:
        for ans in answers:
            req = flow.send(ans)
            sent.append(req)
    except StopIteration as stop:
        return stop.value, sent
    raise AssertionError("flow wanted more answers")


def test_login_flow_errors_penalties_and_tokens() -> None:
    cfg = {"username": "u", "password": "p", "url": "ws://x", "cid": 0, "sec": "s"}
    ok = HttpResponse(200, {"accessToken": "A", "mdAccessToken": "M", "expirationTime": "2030-01-01T00:00:00Z"})
    ep, sent = _drive(login_flow(cfg), [HttpResponse(200, {"p-ticket": "T", "p-time": 3, "p-captcha": False}), ok])
    assert (ep.token, ep.rest_token, ep.url) == ("M", "A", "ws://x")
    assert sent[1].json["p-ticket"] == "T" and sent[1].delay == 3.0 and sent[0].json["name"] == "u"
    with pytest.raises(AuthenticationError, match="Incorrect username"):
        _drive(login_flow(cfg), [HttpResponse(200, {"errorText": "Incorrect username or password."})])
    with pytest.raises(AuthenticationError, match="log in once on the Tradovate web site"):
        _drive(login_flow(cfg), [HttpResponse(200, {"p-ticket": "T", "p-time": 3600, "p-captcha": True})])
    with pytest.raises(SubscriptionError, match="does not know the symbol 'XX'"):
        _drive(contract_flow(cfg, Endpoint("ws://x", "M", rest_token="A"), "XX"), [HttpResponse(404, None)])


# ---------------------------------------------------------------- real fixtures
def _replay(name: str) -> List[Any]:
    lines = fixture_lines(f"tradovate/{name}")
    return list(replay_lines((json.dumps(line) for line in lines), "tradovate"))


def test_fixture_quotes_dom_as_read() -> None:
    evs = _replay("market_data_events.jsonl")
    q, t, s = evs[0], evs[1], evs[2]
    assert isinstance(q, Quote) and q.symbol == "123456"
    assert (q.bid, q.bid_size, q.ask, q.ask_size) == (18405.123, 7.123, 18410.012, 12.35)
    assert q.time == iso_to_ns("2021-04-13T04:59:06.588Z")
    assert isinstance(t, Trade) and (t.price, t.size, t.day_volume) == (18405.023, 2.1, 4118.123)
    assert isinstance(s, Summary) and (s.open, s.high, s.low, s.open_interest) == (
        18515.123, 18520.125, 18355.23, 40702.024)
    assert s.extra["settlement"] == 18520.257
    [book] = [e for e in evs if isinstance(e, BookSnapshot)]
    assert book.bids == ((2335.25, 33.54), (2333.0, 758.21)) and book.asks == ((2335.5, 255.12), (2337.75, 466.64))


def test_fixture_chart_bar_and_errors_as_read() -> None:
    [bar] = _replay("chart_bars.jsonl")
    assert isinstance(bar, Bar) and bar.symbol == "ESZ4" and bar.interval == "1m"
    assert (bar.open, bar.high, bar.low, bar.close) == (2334.25, 2334.5, 2333.0, 2333.75)
    assert bar.volume == pytest.approx(4913.358) and bar.extra["trade_date"] == 20170413
    assert bar.time == iso_to_ns("2017-04-13T11:00:00.000Z")
    details = [e.detail for e in _replay("errors_and_penalties.jsonl")]
    assert "Not found: quote/subscribe" in details[0] and "Invalid access token" in details[1]
    assert "429" in details[2] and "Symbol is inaccessible" in details[3] and "wait 15 s" in details[4]


def test_fixture_handshake_and_server_events() -> None:
    assert _replay("handshake.jsonl") == [] and _replay("requests_format.jsonl") == []
    evs = _replay("server_events.jsonl")
    assert [e.kind for e in evs] == ["error", "disconnected"]
    assert "Maintenance" in evs[0].detail and "Go away!" in evs[1].detail


def test_fixture_rest_bodies_parse() -> None:
    lines = fixture_lines("tradovate/rest_auth_bodies.jsonl")
    cfg = {"username": "u", "password": "p", "url": "ws://x"}
    ok = json.loads(lines[1]["raw"])
    ep, _ = _drive(login_flow(cfg), [HttpResponse(200, ok)])
    assert ep.token == "string" and ep.expires_at == pytest.approx(1705311000)
    with pytest.raises(AuthenticationError, match="passwords are case-sensitive"):
        _drive(login_flow(cfg), [HttpResponse(200, json.loads(lines[2]["raw"]))])
    with pytest.raises(AuthenticationError, match="captcha"):
        _drive(login_flow(cfg), [HttpResponse(200, json.loads(lines[3]["raw"]))])


def test_socket_penalty_is_retried_with_the_ticket_and_429_is_rate_limited() -> None:
    from mdsdk.errors import RateLimitedError
    pair = _ready()
    pair.proto.subscribe([Subscription("quote", "AAA")], T0)
    [req] = pair.proto.outgoing()
    rid = int(req.split("\n")[1])
    evs = pair.receive(_a({"s": 200, "i": rid, "d": {"p-ticket": "TK", "p-time": 2, "p-captcha": False}}))
    assert "retrying in 2 s" in evs[0].detail
    assert pair.proto.next_deadline() == pytest.approx(T0 + 2)
    pair.proto.handle_timer(T0 + 2)
    retry = [f for f in pair.proto.outgoing() if f != "[]"]
    assert len(retry) == 1 and json.loads(retry[0].split("\n", 3)[3]) == {"symbol": "AAA", "p-ticket": "TK"}
    pair.proto.request(3, Subscribe((Subscription("quote", "BBB"),)), T0)
    [req2] = pair.proto.outgoing()
    pair.receive(_a({"s": 429, "i": int(req2.split("\n")[1])}))
    [rej] = [s for s in pair.signals if isinstance(s, Reply)]
    [(sub, err)] = rej.value
    assert isinstance(err, RateLimitedError) and sub.symbol == "BBB"


# ---------------------------------------------------------------- typed decoding
# The typed reader (msgspec Structs, quotes.py) must give exactly what the tolerant reader gives: the same
# events (repr, so nan compares), the same malformed count and the same per-contract state, frame by frame.
WALL = 1_700_000_000_000_000_000


def _readers() -> Tuple[TradovateProtocol, TradovateProtocol]:
    typed, tolerant = TradovateProtocol("tok"), TradovateProtocol("tok")
    tolerant.typed_decoding = False
    for p in (typed, tolerant):
        p.learn_symbols(CID)
        p.connection_made(T0, WALL)
        p.receive("o", T0, WALL)
        p.receive(_a({"s": 200, "i": 0}), T0, WALL)
        p.subscribe([Subscription("trade", "BBB")], T0)  # BBB's trades come from a tick chart: no Trade from quotes
        p.outgoing()
    return typed, tolerant


def _agree(frames: List[str], readers: Any = None) -> int:
    """Feed ``frames`` to both readers; returns how many the typed decoder accepted."""
    typed, tolerant = readers or _readers()
    for i, frame in enumerate(frames):
        a, b = typed.receive(frame, T0, WALL + i), tolerant.receive(frame, T0, WALL + i)
        check_events(a)
        assert repr(a) == repr(b), frame[:300]
        assert typed.malformed == tolerant.malformed, frame[:300]
    assert _state(typed) == _state(tolerant)
    return sum(decode_md(f) is not None for f in frames if f.startswith("a"))


def _state(p: TradovateProtocol) -> str:
    return repr({cid: sorted(slots.items()) for cid, slots in p._quotes._state.items()})  # merge order may differ


def _md(*quotes: Any, **more: Any) -> str:
    return _a({"e": "md", "d": {"quotes": list(quotes), **more}})


def test_typed_reader_agrees_on_fixture_frames() -> None:
    frames = [line["raw"] for name in ("market_data_events", "handshake", "server_events", "errors_and_penalties")
              for line in fixture_lines(f"tradovate/{name}.jsonl") if line["dir"] == "in"]
    quotes = [f for f in frames if '"quotes"' in f]
    assert len(quotes) == 2 and all(decode_md(f) is not None for f in quotes)  # both doc variants, EmptyBook too
    assert _agree(frames * 3) >= 3 * 3


HOSTILE = [
    _md({"contractId": 11, "entries": {"Bid": {"price": 1, "size": 2}}}),
    _md({"contractId": 11, "entries": {"Offer": {"size": 3}, "Bid": {}}}),
    _md({"contractId": 11, "entries": {"Bid": None, "Offer": {"price": 2.5}}}),
    _md({"contractId": 11, "entries": {"Bid": {"price": "7", "size": True}}}),
    _md({"contractId": 11, "entries": {"Bid": {"price": None}, "Made": {"price": 1}}}),
    _md({"contractId": 12, "timestamp": "2021-04-13T04:59:06+02:00", "entries": {
        "Trade": {"price": 5, "size": 1}, "TotalTradeVolume": {"size": 10}, "HighPrice": {"price": 6}}}),
    _md({"contractId": 13, "timestamp": 5, "entries": {"Trade": {"price": 5}, "EmptyBook": {}}}),
    _md({"contractId": 13, "timestamp": "0001-01-01T00:00:00+23:59", "entries": {"SettlementPrice": {"price": 1}}}),
    _md({"contractId": 99, "entries": {"Bid": {"price": 1e308, "size": 2 ** 63}}}),
    _md({"contractId": 11, "entries": []}, {"contractId": 11, "entries": None}, {"contractId": 11}),
    _md({"contractId": 11, "entries": [1]}, {"contractId": 11, "entries": {"Bid": {"price": 4}}}),
    _md({"contractId": 11.0, "entries": {"Bid": {"price": 4}}}),
    _md({"contractId": 2 ** 63, "entries": {"Bid": {"price": 4}}}),
    _md({"contractId": True, "entries": {"Bid": {"price": 4}}}, {"contractId": 12, "entries": {"Bid": {"price": 4}}}),
    _md({"contractId": 11, "entries": {"Bid": {"price": 4}}}, doms=[{"contractId": 12, "bids": [{"price": 1}]}]),
    _md({"contractId": 11, "entries": {"Bid": {"price": 5}}}, doms=[{"contractId": 12}, 5]),
    _md({"contractId": 11, "entries": {"Bid": {"price": 6}}}, doms=7),
    _md({"contractId": 11, "entries": {"Bid": {"price": 6}}}, histograms=[{"contractId": 11}]),
    _a({"e": "md", "d": {"quotes": [{"contractId": 11, "entries": {"Offer": {"price": 9}}}]}}, {"s": 200, "i": 77}),
    _a({"e": "md", "d": None}, {"e": "md", "d": {"quotes": [{"contractId": 12, "entries": {"Bid": {"price": 1}}}]}}),
    _a({"e": "md", "d": {"quotes": 5}}),
    'a[{"e":"md","d":{"quotes":[{"contractId":11,"entries":{"Bid":{"price":NaN,"size":Infinity}}}]}}]',
    'a[{"e":"md","d":{"quotes":[{"contractId":11,"entries":{"Bid":{"price":1e999,"size":-0}}}]}}]',
    'a[{"e":"md","d":{"quotes":[{"contractId":11,"entries":{"Bid":{"price":1,"price":null},"Bid":{"size":8}}}]}}]',
    'a[{"e":"md","d":{"quotes":[{"contractId":11,"entries":{"Bid":{"price":2}}}]},"e":"chart"}]',
    'a[{"e":"md","d":{"quotes":[{"contractId":11,"entries":{"Bid":{"price":3}}}]}}] trailing',
    'a[{"e": "md", "d": {"quotes": [{"contractId": 12, "entries": {"Offer": {"price": 1' + "1" * 400 + '}}}]}}]',
    'a[{"e":"md","d":{"quotes":' + "[" * 900 + "]" * 900 + "}}]",
]


def _random_quote(r: random.Random) -> Any:
    def value() -> Any:
        return r.choice([1, 2.5, 5000.25, 0, -3, None, "x", True, 10 ** 20, 2 ** 64, [], {}])
    names = r.sample(["Bid", "Offer", "Trade", "TotalTradeVolume", "OpeningPrice", "HighPrice", "LowPrice",
                      "SettlementPrice", "OpenInterest", "EmptyBook", "Odd"], r.choice([1, 2, 2, 3, 5]))
    entries = {n: {k: value() if r.random() < 0.2 else r.uniform(1, 99) for k in ("price", "size")
                   if r.random() < 0.8} if r.random() < 0.9 else r.choice([None, 5, []]) for n in names}
    return {"contractId": r.choice([11, 12, 13, 99, 99, 0, "11"]) if r.random() < 0.2 else r.choice([11, 12, 13]),
            "timestamp": r.choice(["2026-01-05T14:30:00.250Z", "2026-01-05T14:30:01Z", "", "bad", None]),
            "entries": entries if r.random() < 0.95 else r.choice([None, {}, [], "x"])}


def test_typed_reader_agrees_on_hostile_and_random_frames() -> None:
    r = random.Random(9)
    frames = HOSTILE + [_md(*(_random_quote(r) for _ in range(r.choice([1, 1, 2, 5])))) for _ in range(600)]
    assert _agree(frames) > 100


def test_a_crowded_contract_goes_the_tolerant_way() -> None:
    # Thousands of made-up entry names for one contract: its state empties at MAX_KEYS names, in wire order,
    # which only the tolerant reader keeps; the typed reader must hand such a contract over.
    frames = [_md({"contractId": 11, "entries": {f"Made{j}": {"price": 1.0} for j in range(MAX_KEYS - 40)}})]
    for j in range(60):
        frames.append(_md({"contractId": 11, "entries": {f"More{j}": {}, "Bid": {"price": 1.0 + j}}}))
        frames.append(_md({"contractId": 11, "entries": {"Offer": {"price": j}, "Trade": {"size": 2},
                                                         "Settlement" if j % 7 else "SettlementPrice": {}}},
                          {"contractId": 12, "entries": {"Bid": {"price": j}}}))
    # One name short of MAX_KEYS, a quote adding Trade then Offer empties the state between the two (wire order).
    frames.append(_md({"contractId": 13, "entries": {f"Made{j}": {} for j in range(MAX_KEYS - 1)}}))
    frames.append(_md({"contractId": 13, "entries": {"Trade": {"price": 1, "size": 1}, "Offer": {"price": 2}}}))
    typed, tolerant = readers = _readers()
    _agree(frames, readers)
    assert typed._quotes._crowded == {11, 13} and len(typed._quotes._state[11]) < MAX_KEYS


def test_timestamps_are_cached_within_bounds() -> None:
    typed, _ = readers = _readers()
    frames = [_md({"contractId": 11, "timestamp": f"2026-01-05T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:"
                   f"{i % 60:02d}.{i % 1000:03d}Z", "entries": {"Bid": {"price": i}}}) for i in range(2 * MAX_KEYS)]
    frames.append(_md({"contractId": 11, "timestamp": "2026-01-05T14:30:00.250Z" + " " * 100,
                       "entries": {"Bid": {"price": 1}}}))
    _agree(frames, readers)
    assert 0 < len(typed._quotes._times) <= MAX_KEYS


def test_a_burst_gives_what_frame_by_frame_gives() -> None:
    r = random.Random(4)
    frames = HOSTILE + [_md(*(_random_quote(r) for _ in range(3))) for _ in range(100)]
    typed, tolerant = _readers()
    burst = typed.receive_many(frames, T0, WALL)
    one_by_one = [e for f in frames for e in tolerant.receive(f, T0, WALL)]
    assert repr(burst) == repr(one_by_one) and typed.malformed == tolerant.malformed and not typed.faults
