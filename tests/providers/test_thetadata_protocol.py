"""Theta Terminal protocol object: the conformance suite (a scripted Terminal written from
protocols/thetadata.md), the recorded frames replayed to the values a person reads off them, request ids,
rejections, upstream status news, the takeover close, symbols, and the history flow against scripted REST
answers. No sockets, no clocks."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Dict, List, Optional, Set

import pytest

from mdsdk.errors import (AuthenticationError, ConfigurationError, ProviderError, SubscriptionError, TakeoverError,
                          UnsupportedError)
from mdsdk.events import Bar, Quote, Trade
from mdsdk.intervals import parse_interval
from mdsdk.series import BarSeries
from mdsdk.providers.base import (Fatal, History, HistoryResult, HttpRequest, HttpResponse, Reply, Subscription,
                                  TicksResult)
from mdsdk.providers.thetadata import Codec, ThetaDataProtocol, eastern_ns, parse_symbol
from mdsdk.testing.invariants import check_events

from ..conftest import fixture_lines
from .conformance import T0, ConformanceSuite, Harness, Pair

MS = 1_000_000
STATUS_OK = '{"header":{"type":"STATUS","status":"CONNECTED"}}'


def _utc(ns: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ns / 1e9, dt.timezone.utc)


class TerminalPeer(Harness):
    """A scripted Theta Terminal (sections 2-4): STATUS at connect, SUBSCRIBED for every STREAM (or the
    configured refusal), no answer to STOP."""

    client_speaks_first = False
    client_keepalive = False

    def __init__(self) -> None:
        self.refuse: Dict[str, str] = {}  # root -> REQ_RESPONSE answer
        self.requests: List[Dict[str, Any]] = []

    def new_protocol(self) -> ThetaDataProtocol:
        return ThetaDataProtocol("ws://127.0.0.1:1/v1/events")

    def greeting(self) -> List[str]:
        return [STATUS_OK]

    def respond(self, frame: str) -> List[str]:
        req = json.loads(frame)  # strict JSON: a repr would fail here
        self.requests.append(req)
        if req.get("msg_type") not in ("STREAM", "STREAM_BULK"):
            return []
        answer = self.refuse.get(req.get("contract", {}).get("root", "*"), "SUBSCRIBED")
        return [json.dumps({"header": {"type": "REQ_RESPONSE", "status": "CONNECTED", "response": answer,
                                       "req_id": req["id"]}})]

    def quote_frames(self, symbol: str, bid: float, ask: float) -> List[str]:
        return [json.dumps({"header": {"type": "QUOTE", "status": "CONNECTED"},
                            "contract": {"security_type": "STOCK", "root": symbol},
                            "quote": {"ms_of_day": 36000000, "bid_size": 1, "bid_exchange": 1, "bid": bid,
                                      "bid_condition": 0, "ask_size": 2, "ask_exchange": 1, "ask": ask,
                                      "ask_condition": 0, "date": 20240521}})]

    def error_frame(self) -> str:
        return '{"header":{"type":"STATUS","status":"UNVERIFIED"}}'

    def subscribed(self, frames: List[str]) -> Set[str]:
        live: Set[str] = set()
        for f in frames:
            req = json.loads(f)
            if req.get("msg_type") == "STREAM" and req.get("req_type") == "QUOTE":
                (live.add if req["add"] else live.discard)(req["contract"]["root"])
        return live

    def is_keepalive(self, frame: str) -> bool:
        return False

    def is_first_frame(self, frame: str) -> bool:
        return False


class TestConformance(ConformanceSuite):
    harness = TerminalPeer()


@pytest.fixture
def peer() -> TerminalPeer:
    return TerminalPeer()


@pytest.fixture
def pair(peer: TerminalPeer) -> Pair:
    p = Pair(peer)
    p.connect()
    return p


# ---------------------------------------------------------------- recorded frames
def _replay(name: str) -> List[Any]:
    codec, out = Codec("thetadata"), []
    for line in fixture_lines(f"thetadata/{name}.jsonl"):
        if line["dir"] == "in" and line["raw"].startswith("{"):
            decoded = codec.decode(line["raw"])
            assert decoded.malformed is None, (name, decoded.malformed)
            out += decoded.events
    check_events(out)
    return out


def test_stock_frames_read_as_a_person_reads_them() -> None:
    trade, quote, bar = _replay("stock_stream")
    assert isinstance(trade, Trade) and (trade.symbol, trade.price, trade.size) == ("NVDA", 947.51, 1.0)
    assert _utc(trade.time) == dt.datetime(2024, 5, 21, 15, 0, 57, 65000, dt.timezone.utc)  # 11:00:57.065 EDT
    assert trade.extra == {"sequence": 11529167, "condition": 115, "exchange": 57}
    assert isinstance(quote, Quote) and (quote.bid, quote.ask, quote.bid_size, quote.ask_size) == (947.3, 947.44, 50, 6)
    assert quote.extra["bid_exchange"] == 29 and quote.time == 1716303655484 * MS
    assert isinstance(bar, Bar) and (bar.open, bar.high, bar.low, bar.close) == (953.85, 956.6, 931.55, 947.51)
    assert bar.interval == "1d" and not bar.complete and bar.volume == 10046138 and bar.extra["count"] == 244304
    assert _utc(bar.time) == dt.datetime(2024, 5, 21, 4, 0, tzinfo=dt.timezone.utc)  # the session's date, New York


def test_option_frames_and_the_wrapped_sequence() -> None:
    bar, trade, quote, wrapped = _replay("option_stream")
    assert {e.symbol for e in (bar, trade, quote, wrapped)} == {"NVDA240524C00950000"}
    assert parse_symbol(trade.symbol).strike == 950000  # $950.00 in tenths of a cent, both ways
    assert (trade.price, trade.extra["sequence"]) == (39.99, 780839941)
    assert (quote.bid, quote.ask, quote.extra["bid_condition"]) == (39.9, 40.1, 50)
    assert wrapped.extra["sequence"] == 3694133544 == -600833752 + 2 ** 32  # signed int32 read as unsigned
    assert _utc(wrapped.time) == dt.datetime(2024, 5, 16, 17, 35, 50, 202000, dt.timezone.utc)  # 13:35:50.202 EDT


def test_status_frames_decode_in_either_key_order() -> None:
    codec = Codec("thetadata")
    statuses = [codec.decode(line["raw"]).header for line in fixture_lines("thetadata/status.jsonl")]
    assert [(h.type, h.status) for h in statuses if h] == [("STATUS", "CONNECTED"), ("STATUS", "DISCONNECTED")]


@pytest.mark.parametrize("date, ms, expected", [
    (20240310, 1 * 3_600_000 + 1_800_000, (2024, 3, 10, 6, 30)),   # 01:30 EST, before the spring change
    (20240310, 3 * 3_600_000 + 1_800_000, (2024, 3, 10, 7, 30)),   # 03:30 EDT, after it
    (20241103, 1 * 3_600_000 + 1_800_000, (2024, 11, 3, 5, 30)),   # 01:30, the first (EDT) pass
    (20241103, 2 * 3_600_000 + 1_800_000, (2024, 11, 3, 7, 30)),   # 02:30 EST
    (20240102, 34_200_000, (2024, 1, 2, 14, 30)),                  # 09:30 EST
])
def test_new_york_times_on_both_dst_transition_days(date: int, ms: int, expected: Any) -> None:
    assert _utc(eastern_ns(date, ms)) == dt.datetime(*expected, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize("raw", [
    '{"header":{"type":"TRADE","status":"CONNECTED"},"contract":{"security_type":"STOCK","root":"X"},'
    '"trade":{"ms_of_day":1,"price":1.0,"date":20240231}}',
    '{"header":{"type":"TRADE"},"contract":{"security_type":"BOND","root":"X"},"trade":{"ms_of_day":1,"price":1,'
    '"date":20240521}}',
    '{"header":{"type":"QUOTE"},"contract":{"security_type":"STOCK","root":"X"}}',
    '{"header":{"type":"QUOTE"},"contract":{"security_type":"STOCK","root":"X"},"quote":{"ms_of_day":"9:30",'
    '"date":20240521}}',
    '{"header":{"type":"TRADE"},"contract":{"security_type":"OPTION","root":"X","expiration":20240524,"strike":-5,'
    '"right":"C"},"trade":{"ms_of_day":1,"price":1,"date":20240521}}',
    '[1, 2]', '{"header": 5}', 'not json',
])
def test_bad_frames_are_reported_and_skipped(pair: Pair, raw: str) -> None:
    before = pair.proto.malformed
    evs = pair.receive(raw)
    assert [e.kind for e in evs] == ["error"] and pair.proto.malformed == before + 1
    assert pair.proto.ready


# ---------------------------------------------------------------- requests and answers
def test_requests_are_strict_json_with_ids_that_never_repeat(pair: Pair, peer: TerminalPeer) -> None:
    pair.proto.subscribe([Subscription("quote", "AAPL"), Subscription("trade", "AAPL"),
                          Subscription("bar", "AAPL", "1d"), Subscription("trade", "$SPX"),
                          Subscription("quote", "SPXW240315C04800000")], pair.now)
    pair.pump()
    sent = [(r["sec_type"], r["req_type"], r["contract"]) for r in peer.requests]
    assert sent == [("STOCK", "QUOTE", {"root": "AAPL"}), ("STOCK", "TRADE", {"root": "AAPL"}),
                    ("INDEX", "TRADE", {"root": "SPX"}),
                    ("OPTION", "QUOTE", {"root": "SPXW", "expiration": 20240315, "strike": 4800000, "right": "C"})]
    pair.proto.unsubscribe([Subscription("trade", "AAPL")], pair.now)
    pair.pump()
    assert len(peer.requests) == 4  # the bar still rides the TRADE stream
    pair.proto.unsubscribe([Subscription("bar", "AAPL", "1d")], pair.now)
    pair.pump()
    assert peer.requests[-1]["add"] is False and peer.requests[-1]["req_type"] == "TRADE"
    pair.proto.connection_lost()
    pair.connect()  # a fresh session: every stream again, with new ids
    ids = [r["id"] for r in peer.requests]
    assert len(ids) == len(set(ids)) and ids == sorted(ids) and len(peer.requests) == 8


@pytest.mark.parametrize("answer", ["ERROR", "MAX_STREAMS_REACHED", "INVALID_PERMS"])
def test_a_refused_stream_rejects_its_subscriptions_only(pair: Pair, peer: TerminalPeer, answer: str) -> None:
    peer.refuse["NVDA"] = answer
    pair.proto.request(1, _subscribe(("quote", "NVDA"), ("quote", "AAPL")), pair.now)
    pair.pump()
    reply = next(s for s in pair.signals if isinstance(s, Reply) and s.request_id == 1)
    [(sub, err)] = reply.value
    assert sub.symbol == "NVDA" and isinstance(err, SubscriptionError) and err.code == answer
    assert [s.symbol for s in pair.proto.subscriptions] == ["AAPL"]
    assert pair.proto.ready


def _subscribe(*subs: Any) -> Any:
    from mdsdk.providers.base import Subscribe
    return Subscribe(tuple(Subscription(k, s) for k, s in subs))


def test_symbols_the_terminal_cannot_serve_are_refused_before_sending(pair: Pair, peer: TerminalPeer) -> None:
    pair.proto.request(2, _subscribe(("quote", "NVDA  240524C00950000"), ("quote", "$SPX"), ("quote", "MSFT")),
                       pair.now)
    pair.pump()
    reply = next(s for s in pair.signals if isinstance(s, Reply) and s.request_id == 2)
    errors = {sub.symbol: err for sub, err in reply.value}
    assert isinstance(errors["NVDA  240524C00950000"], ConfigurationError)
    assert "NVDA240524C00950000" in str(errors["NVDA  240524C00950000"])  # it shows the accepted form
    assert isinstance(errors["$SPX"], UnsupportedError) and "trade" in str(errors["$SPX"])
    assert [r["contract"]["root"] for r in peer.requests] == ["MSFT"]
    with pytest.raises(UnsupportedError, match="'1d' only"):
        from mdsdk.providers.thetadata import stream_of
        stream_of(Subscription("bar", "AAPL", "1m"))


def test_upstream_flaps_are_news_not_resubscriptions(pair: Pair, peer: TerminalPeer) -> None:
    pair.proto.subscribe([Subscription("quote", "AAPL")], pair.now)
    pair.pump()
    n = len(peer.requests)
    down = pair.receive('{"header":{"type":"STATUS","status":"DISCONNECTED"}}')
    again = pair.receive('{"header":{"type":"STATUS","status":"DISCONNECTED"}}')
    up = pair.receive(STATUS_OK)
    assert [e.kind for e in down] == ["stale"] and again == [] and [e.kind for e in up] == ["connected"]
    assert len(peer.requests) == n and pair.proto.ready


def test_unverified_terminal_is_an_authentication_error() -> None:
    p = Pair(TerminalPeer())
    p.proto.connection_made(p.now)
    evs = p.receive('{"header":{"type":"STATUS","status":"UNVERIFIED"}}')
    assert any(isinstance(s, Fatal) and isinstance(s.error, AuthenticationError) for s in p.signals)
    assert [e.kind for e in evs] == ["error"] and not p.proto.ready


def test_the_one_client_close_is_a_takeover(pair: Pair) -> None:
    assert isinstance(pair.proto.closed_error(1008, "You cannot have multiple connections"), TakeoverError)
    assert pair.proto.closed_error(1000, "") is None and pair.proto.closed_error(None, "") is None


# ---------------------------------------------------------------- history
class Rest:
    """Scripted REST answers, one per request, recording what was asked."""

    def __init__(self, *answers: HttpResponse) -> None:
        self.answers = list(answers)
        self.asked: List[HttpRequest] = []

    def run(self, request: Any) -> Any:
        proto = ThetaDataProtocol("ws://x")
        proto.request(7, request, T0)
        for _ in range(50):
            calls = proto.http_outgoing()
            if not calls:
                break
            for call_id, req in calls:
                self.asked.append(req)
                proto.http_response(call_id, self.answers.pop(0), T0, 0)
        reply = next(s for s in proto.signals if isinstance(s, Reply))
        if reply.error is not None:
            raise reply.error
        assert isinstance(reply.value, (HistoryResult, TicksResult))
        return reply.value


OHLC = ["ms_of_day", "open", "high", "low", "close", "volume", "count", "date"]


def _page(rows: List[List[Any]], following: Optional[str] = None, fmt: List[str] = OHLC) -> HttpResponse:
    return HttpResponse(200, {"header": {"latency_ms": 3, "next_page": following or "null", "format": fmt},
                              "response": rows})


def _history(symbol: str = "AAPL", interval: str = "1h", start: str = "2024-05-21T13:00:00Z",
             end: str = "2024-05-22T00:00:00Z") -> History:
    ns = lambda s: int(dt.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() * 1e9)  # noqa: E731
    return History(symbol, parse_interval(interval), ns(start), ns(end))


def test_history_reads_columns_by_name_and_follows_pages() -> None:
    shuffled = ["date", "ms_of_day", "close", "open", "high", "low", "volume", "count"]
    rest = Rest(_page([[34_200_000, 190.0, 191.0, 189.0, 190.5, 1000, 10, 20240521]],
                      "http://127.0.0.1:25510/v2/page/17"),
                _page([[20240521, 37_800_000, 192.0, 190.5, 192.5, 190.0, 800, 8],
                       [20240521, 41_400_000, 0, 0, 0, 0, 0, 0]], fmt=shuffled))
    bars = rest.run(_history()).bars
    assert [(_utc(b.time).hour, b.open, b.close, b.volume) for b in bars] == [(13, 190.0, 190.5, 1000.0),
                                                                              (14, 190.5, 192.0, 800.0)]
    assert isinstance(bars, BarSeries) and bars.columns["count"] == [10, 8]  # columns, as the frame reads them
    first, page = rest.asked
    assert first.path == "/v2/hist/stock/ohlc" and page.path == "/v2/page/17"
    assert dict(first.params or {}) == {"root": "AAPL", "ivl": 3600000, "rth": "false", "start_date": 20240521,
                                        "end_date": 20240521, "start_time": 32_400_000, "end_time": 71_999_999}
    check_events(bars)
    assert all(b.interval == "1h" and b.complete for b in bars)


def test_history_codes() -> None:
    assert Rest(HttpResponse(472, None, ":No data for the specified timeframe & contract.")).run(_history()).bars == ()
    rest = Rest(HttpResponse(474, None, "DISCONNECTED"), HttpResponse(571, None, "starting"),
                _page([[34_200_000, 1, 2, 0.5, 1.5, 10, 1, 20240521]]))
    assert len(rest.run(_history()).bars) == 1 and [r.delay > 0 for r in rest.asked] == [False, True, True]
    # New York days 05-20 to 05-23: the first and last asked apart, the two between together, then split in
    # halves when the Terminal finds them too much (570)
    split = Rest(_page([[34_200_000, 1, 2, 0.5, 1.5, 10, 1, 20240520]]), HttpResponse(570, None, "too large"),
                 _page([[34_200_000, 3, 4, 2.5, 3.5, 10, 1, 20240521]]),
                 _page([[34_200_000, 5, 6, 4.5, 5.5, 10, 1, 20240522]]), _page([]))
    bars = split.run(_history(start="2024-05-20T04:00:00Z", end="2024-05-24T04:00:00Z")).bars
    assert [((r.params or {}).get("start_date"), (r.params or {}).get("end_date")) for r in split.asked] == [
        (20240520, 20240520), (20240521, 20240522), (20240521, 20240521), (20240522, 20240522),
        (20240523, 20240523)]
    assert [(r.params or {}).get("start_time") for r in split.asked][:2] == [0, None]
    assert [b.open for b in bars] == [1.0, 3.0, 5.0]
    expired = Rest(_page([], "http://127.0.0.1:25510/v2/page/3"), HttpResponse(477, None, "NO_PAGE_FOUND"),
                   _page([[34_200_000, 1, 2, 0.5, 1.5, 10, 1, 20240521]]))
    assert len(expired.run(_history()).bars) == 1 and expired.asked[2].path == "/v2/hist/stock/ohlc"
    with pytest.raises(ProviderError, match="471 PERMISSION.*permission") as info:
        Rest(HttpResponse(471, None, "Permission denied")).run(_history())
    assert info.value.code == 471


def test_history_paths_per_security_type_and_interval() -> None:
    eod = Rest(_page([[62126312, 55682078, 77.8, 82.3, 66.0, 66.0, 1576, 30, 1, 5, 69.9, 50, 1, 5, 79.9, 50, 20240313]],
                     fmt=["ms_of_day", "ms_of_day2", "open", "high", "low", "close", "volume", "count", "bid_size",
                          "bid_exchange", "bid", "bid_condition", "ask_size", "ask_exchange", "ask", "ask_condition",
                          "date"]))
    [bar] = eod.run(_history("NVDA240524C00950000", "1d", "2024-03-13T00:00:00Z", "2024-03-14T00:00:00Z")).bars
    assert eod.asked[0].path == "/v2/hist/option/eod"
    assert dict(eod.asked[0].params or {}) == {"root": "NVDA", "exp": 20240524, "strike": 950000, "right": "C",
                                               "start_date": 20240312, "end_date": 20240313}
    assert (bar.open, bar.close, _utc(bar.time)) == (77.8, 66.0, dt.datetime(2024, 3, 13, 4, tzinfo=dt.timezone.utc))
    index = Rest(HttpResponse(472, None, "no data"))
    index.run(_history("$SPX", "5m"))
    assert index.asked[0].path == "/v2/hist/index/ohlc" and (index.asked[0].params or {})["ivl"] == 300000
    with pytest.raises(UnsupportedError, match="intraday"):
        Rest().run(_history(interval="1w"))


def test_codes_past_int64_are_left_out_of_extra(pair: Pair) -> None:
    # msgspec reads integers up to 2**64 - 1; an extra may hold only int64 (found by the fuzzer).
    [q] = pair.receive('{"header":{"type":"QUOTE","status":"CONNECTED"},"contract":{"security_type":"STOCK",'
                       '"root":"AAPL"},"quote":{"ms_of_day":36000000,"bid":1.0,"ask":1.5,"bid_condition":'
                       f'{2 ** 63},"ask_condition":0,"date":20240521}}}}')
    assert q.extra == {"ask_condition": 0}
    check_events([q])


def test_full_streams_are_stream_bulk_requests(pair: Pair, peer: TerminalPeer) -> None:
    pair.proto.subscribe([Subscription("trade", "ALL:OPTION")], pair.now)
    pair.pump()
    assert peer.requests[-1] == {"msg_type": "STREAM_BULK", "sec_type": "OPTION", "req_type": "TRADE", "add": True,
                                 "id": peer.requests[-1]["id"]}
    pair.proto.unsubscribe([Subscription("trade", "ALL:OPTION")], pair.now)
    pair.pump()
    assert peer.requests[-1]["msg_type"] == "STREAM_BULK" and peer.requests[-1]["add"] is False
    from mdsdk.providers.thetadata import stream_of
    with pytest.raises(UnsupportedError, match="full trade stream"):
        stream_of(Subscription("quote", "ALL:STOCK"))
    assert parse_symbol("ALL:STOCK").symbol == "ALL:STOCK"


def test_tick_reports_read_by_name_with_the_day_window() -> None:
    from mdsdk.providers.base import Ticks
    fmt = ["ms_of_day", "sequence", "size", "condition", "price", "exchange", "date"]
    rest = Rest(_page([[34_200_000, -600833752, 100, 0, 190.5, 57, 20240521],
                       [34_200_000, -600833751, 5, 115, 190.25, 57, 20240521]], fmt=fmt))
    start = int(dt.datetime(2024, 5, 21, 13, 30, tzinfo=dt.timezone.utc).timestamp() * 1e9)
    result = rest.run(Ticks("AAPL", "trade", start, start + 60 * 10**9))
    assert [(t.price, t.size, t.extra["sequence"]) for t in result.events] == [(190.5, 100.0, 3694133544),
                                                                                (190.25, 5.0, 3694133545)]
    params = dict(rest.asked[0].params or {})
    assert rest.asked[0].path == "/v2/hist/stock/trade"
    assert (params["start_date"], params["start_time"], params["end_time"]) == (20240521, 34_200_000, 34_259_999)


def test_ticks_across_new_york_midnight_ask_each_day_for_its_part_only() -> None:
    # Found when the suite ran at 00:01 New York time: "the last five minutes" then spanned two days, and the
    # request asked for every tick of both whole days.
    from mdsdk.providers.base import Ticks
    fmt = ["ms_of_day", "sequence", "size", "condition", "price", "exchange", "date"]
    start = int(dt.datetime(2024, 5, 22, 3, 58, tzinfo=dt.timezone.utc).timestamp() * 1e9)  # 23:58 in New York
    rest = Rest(_page([[86_290_000, 1, 100, 0, 190.5, 57, 20240521]], fmt=fmt),
                _page([[60_000, 2, 5, 0, 190.75, 57, 20240522]], fmt=fmt))
    result = rest.run(Ticks("AAPL", "trade", start, start + 5 * 60 * 10**9))
    assert [(t.price, t.extra["sequence"]) for t in result.events] == [(190.5, 1), (190.75, 2)]
    asked = [dict(r.params or {}) for r in rest.asked]
    assert [(p["start_date"], p["end_date"], p.get("start_time"), p.get("end_time")) for p in asked] == [
        (20240521, 20240521, 86_280_000, None), (20240522, 20240522, None, 179_999)]
    three = Rest(_page([], fmt=fmt), _page([], fmt=fmt), _page([], fmt=fmt))
    three.run(Ticks("AAPL", "quote", start, start + 2 * 86_400 * 10**9))
    assert [(dict(r.params or {})["start_date"], dict(r.params or {})["end_date"]) for r in three.asked] == [
        (20240521, 20240521), (20240522, 20240522), (20240523, 20240523)]


def test_history_windows_keep_whole_bars_and_survive_the_repeated_hour() -> None:
    # 5-minute bars from 13:32 to 13:48 New York time: the cut widens to the bars that hold them
    rest = Rest(_page([]))
    rest.run(_history("AAPL", "5m", "2024-05-21T17:32:00Z", "2024-05-21T17:48:00Z"))
    params = dict(rest.asked[0].params or {})
    assert (params["start_time"], params["end_time"]) == (48_600_000, 49_799_999)  # 13:30 to 13:49:59.999
    # the night clocks fall back: 01:30 EDT to 01:15 EST reads backwards on the wall clock, so the whole day is
    # asked for and cut here
    dst = Rest(_page([]))
    dst.run(_history("AAPL", "1m", "2024-11-03T05:30:00Z", "2024-11-03T06:15:00Z"))
    params = dict(dst.asked[0].params or {})
    assert params["start_date"] == params["end_date"] == 20241103 and "start_time" not in params
