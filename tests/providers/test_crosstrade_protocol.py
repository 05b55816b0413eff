"""CrossTrade protocol object: the conformance suite (a scripted server written from protocols/crosstrade.md),
the recorded frames replayed to the values a person reads off them, merged partial quotes, instrument names,
P&L, RPC answers and errors, the client-side budgets, the takeover close. No sockets, no clocks."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Set

import pytest

from mdsdk.errors import ConfigurationError, ProviderError, RateLimitedError, TakeoverError
from mdsdk.events import PnL, Quote, Status, Summary, Trade
from mdsdk.policy import RateLimit
from mdsdk.providers.base import Endpoint, Reply, Rpc, Subscribe, Subscription
from mdsdk.providers.crosstrade import Aliases, Codec, CrossTradeProtocol, canonical
from mdsdk.testing.invariants import check_events

from ..conftest import fixture_lines
from .conformance import ConformanceSuite, Harness, Pair

TOKEN = "xt_test_key"


class CrossTradePeer(Harness):
    """A scripted CrossTrade server (sections 2-5): no login, ``status`` acks for subscription changes, an
    answer for every rpc (GetQuote, or unknown_api), pong for ping, a P&L push as soon as streamPnl asks."""

    def __init__(self) -> None:
        self.frames: List[Dict[str, Any]] = []
        self.silent: Set[str] = set()  # rpc apis never answered

    def new_protocol(self) -> CrossTradeProtocol:
        return CrossTradeProtocol("ws://127.0.0.1:1/ws/stream", TOKEN)

    def respond(self, frame: str) -> List[str]:
        msg = json.loads(frame)
        self.frames.append(msg)
        action = msg.get("action")
        if action in ("subscribe", "unsubscribe"):
            return [json.dumps({"type": "status", "state": action + "d", "instruments": msg["instruments"]})]
        if action == "ping":
            return ['{"type":"pong"}']
        if action == "streamPnl":  # the first push comes at once, then one per interval
            return ['{"type":"pnlUpdate","epoch":1773867114000,"accounts":[]}']
        if action == "rpc" and msg["api"] not in self.silent:
            data = ({"instrument": msg["args"].get("instrument"), "bid": 1.0, "success": True}
                    if msg["api"] == "GetQuote" else
                    {"success": False, "error": "unknown_api", "detail": f"Unknown API: {msg['api']}"})
            return [json.dumps({"id": msg["id"], "data": data})]
        return []

    def quote_frames(self, symbol: str, bid: float, ask: float) -> List[str]:
        return [json.dumps({"type": "marketData", "quotes": [{"instrument": symbol, "bid": bid, "ask": ask}]})]

    def error_frame(self) -> str:
        return '{"type":"error","error":"Invalid request"}'

    def subscribed(self, frames: List[str]) -> Set[str]:
        live: Set[str] = set()
        for f in frames:
            msg = json.loads(f)
            if msg.get("action") == "subscribe":
                live.update(msg["instruments"])
            elif msg.get("action") == "unsubscribe":
                live.difference_update(msg["instruments"])
        return live

    def is_keepalive(self, frame: str) -> bool:
        return json.loads(frame) == {"action": "ping"}

    def is_first_frame(self, frame: str) -> bool:
        return json.loads(frame).get("action") == "streamPnl"  # no login: P&L pushes are the link's heartbeat


class TestConformance(ConformanceSuite):
    harness = CrossTradePeer()


@pytest.fixture
def peer() -> CrossTradePeer:
    return CrossTradePeer()


@pytest.fixture
def pair(peer: CrossTradePeer) -> Pair:
    p = Pair(peer)
    p.connect()
    return p


def _reply(pair: Pair, request_id: int) -> Reply:
    return next(s for s in pair.signals + pair.proto.signals if isinstance(s, Reply) and s.request_id == request_id)


# ---------------------------------------------------------------- recorded frames
def _in(name: str) -> List[Any]:
    return [json.loads(line["raw"]) for line in fixture_lines(f"crosstrade/{name}.jsonl") if line["dir"] == "in"]


def test_recorded_frames_read_as_a_person_reads_them() -> None:
    codec = Codec("crosstrade", Aliases())
    [market] = _in("subscribe_marketdata")
    quote, trade = codec.decode(market, 1).events
    assert isinstance(quote, Quote) and (quote.symbol, quote.bid, quote.ask) == ("ES 09-26", 6618.0, 6618.25)
    assert isinstance(trade, Trade) and (trade.price, trade.day_volume) == (6617.75, 204962.0)
    [pnl] = codec.decode(_in("stream_pnl")[0], 1).events
    assert isinstance(pnl, PnL) and (pnl.account, pnl.realized, pnl.unrealized) == ("Sim101", 0.0, 125.0)
    assert pnl.time == 1773867114000 * 1_000_000
    answer = codec.decode(_in("rpc")[0], 1).answer
    assert answer is not None and answer.id == "my-request-id" and answer.data["bid"] == 5781.75
    check_events([quote, trade, pnl])


def test_the_sent_frames_match_the_recorded_requests(pair: Pair, peer: CrossTradePeer) -> None:
    recorded = {json.dumps(json.loads(line["raw"]), sort_keys=True) for name in ("subscribe_marketdata", "ping")
                for line in fixture_lines(f"crosstrade/{name}.jsonl") if line["dir"] == "out"}
    pair.proto.subscribe([Subscription("quote", "ES 09-26")], pair.now)
    pair.proto.handle_timer(pair.now + 20)  # the keepalive
    pair.pump()
    pair.proto.unsubscribe([Subscription("quote", "ES 09-26")], pair.now)
    pair.pump()
    sent = {json.dumps(f, sort_keys=True) for f in peer.frames}
    assert recorded <= sent


def test_partial_quotes_merge_and_reach_every_name_of_the_contract(pair: Pair) -> None:
    pair.proto.subscribe([Subscription("quote", "ES"), Subscription("quote", "ESZ26"),
                          Subscription("summary", "ES")], pair.now)
    pair.pump()
    full = {"instrument": "ES 12-26", "bid": 10.0, "ask": 10.25, "bidSize": 3, "askSize": 4, "last": 10.0,
            "open": 9.0, "high": 11.0, "low": 8.5, "close": 9.5, "volume": 100, "epoch": 1773867114000,
            "tickSize": 0.25}
    first = pair.receive(json.dumps({"type": "marketData", "quotes": [full]}))
    assert sorted({e.symbol for e in first}) == ["ES", "ESZ26"]
    later = pair.receive(json.dumps({"type": "marketData", "quotes": [{"instrument": "ES 12-26", "ask": 10.5}]}))
    quotes = [e for e in later if isinstance(e, Quote)]
    assert [(q.symbol, q.bid, q.ask, q.bid_size) for q in quotes] == [("ES", 10.0, 10.5, 3.0),
                                                                      ("ESZ26", 10.0, 10.5, 3.0)]
    assert quotes[0].extra == {"tick_size": 0.25} and quotes[0].time == 1773867114000 * 1_000_000
    assert not [e for e in later if isinstance(e, (Trade, Summary))]  # only what the delta carried
    check_events(first + later)


def test_instrument_names() -> None:
    assert [canonical(s) for s in ("ES 09-26", "ESU26", "ESU6", "ES", "ES1!", "6EZ26")] == \
        ["ES 09-26", "ES 09-26", "ES 09-26", None, None, "6E 12-26"]


def test_a_bad_instrument_is_refused_before_sending(pair: Pair, peer: CrossTradePeer) -> None:
    pair.proto.request(3, Subscribe((Subscription("quote", "es 9-26"), Subscription("book", "ES"))), pair.now)
    pair.pump()
    errors = {sub.symbol: type(err).__name__ for sub, err in _reply(pair, 3).value}
    assert errors == {"es 9-26": "ConfigurationError", "ES": "UnsupportedError"}
    assert not [f for f in peer.frames if f.get("action") == "subscribe"]
    with pytest.raises(ConfigurationError, match="ES 09-26"):
        from mdsdk.providers.crosstrade import check_instrument
        check_instrument("es 9-26")


# ---------------------------------------------------------------- P&L, RPC, budgets
def test_pnl_for_subscribed_accounts_and_streaming_after_reconnect(pair: Pair, peer: CrossTradePeer) -> None:
    push = json.dumps({"type": "pnlUpdate", "epoch": 1773867114000,
                       "accounts": [{"account": "Sim101", "realizedPnl": 1.5, "unrealizedPnl": -2.0, "totalPnl": -0.5},
                                    {"account": "Other", "realizedPnl": 0.0, "unrealizedPnl": 0.0}]})
    assert pair.receive(push) == []  # nobody asked for P&L: the pushes only prove the link alive
    pair.proto.subscribe([Subscription("pnl", "Sim101")], pair.now)
    pair.pump()
    assert peer.frames[-1] == {"action": "streamPnl", "enabled": True, "interval": 1000}
    [pnl] = pair.receive(push)
    assert (pnl.account, pnl.realized, pnl.unrealized, pnl.extra) == ("Sim101", 1.5, -2.0, {"total_pnl": -0.5})
    pair.proto.connection_lost()
    peer.frames.clear()
    pair.connect()  # the server remembers nothing: P&L streaming is asked for again
    assert {"action": "streamPnl", "enabled": True, "interval": 1000} in peer.frames


def test_rpc_answers_errors_and_late_answers(pair: Pair, peer: CrossTradePeer) -> None:
    pair.proto.request(5, Rpc("GetQuote", {"account": "Sim101", "instrument": "ES 09-26"}), pair.now)
    pair.pump()
    assert _reply(pair, 5).value == {"instrument": "ES 09-26", "bid": 1.0, "success": True}
    pair.proto.request(6, Rpc("Nope", {}), pair.now)
    pair.pump()
    err = _reply(pair, 6).error
    assert isinstance(err, ProviderError) and err.code == "unknown_api" and "Unknown API: Nope" in str(err)
    peer.silent.add("GetQuote")
    pair.proto.request(7, Rpc("GetQuote", {"instrument": "ES"}), pair.now)
    pair.pump()
    rid = peer.frames[-1]["id"]
    pair.proto.cancel(7, pair.now)  # the caller timed out
    assert pair.receive(json.dumps({"id": rid, "data": {"bid": 2.0}})) == []  # dropped quietly
    assert not [s for s in pair.signals if isinstance(s, Reply) and s.request_id == 7]


def test_rpcs_wait_for_the_budget_and_refuse_only_past_their_timeout(peer: CrossTradePeer) -> None:
    # RateLimit(2, 5): the client keeps two tokens and 5% of the rate in hand (bursts of 3 at 1.9/s).
    proto = CrossTradeProtocol("ws://x", TOKEN, rpc_limit=RateLimit(rate=2.0, burst=5))
    rate = 2.0 * 0.95
    p = Pair(peer)
    p.proto = proto
    p.connect()
    for i in range(6):
        proto.request(10 + i, Rpc("GetQuote", {"instrument": "ES"}, timeout=10.0), p.now)
    p.pump()
    assert len([f for f in peer.frames if f.get("action") == "rpc"]) == 3  # the burst; the rest wait
    deadline = proto.next_deadline()
    assert deadline is not None and deadline == pytest.approx(p.now + 1 / rate)
    p.now = deadline
    proto.handle_timer(p.now)
    p.pump()
    assert len([f for f in peer.frames if f.get("action") == "rpc"]) == 4
    proto.request(30, Rpc("GetQuote", {}, timeout=0.5), p.now)  # 2 waiting before it: 3 tokens away
    err = next(s for s in proto.signals if isinstance(s, Reply) and s.request_id == 30).error
    assert isinstance(err, RateLimitedError) and err.retry_after == pytest.approx(3 / rate)


def test_a_server_refusal_is_retried_after_a_full_step(pair: Pair, peer: CrossTradePeer) -> None:
    refusals = [0]

    def respond(frame: str) -> List[str]:
        msg = json.loads(frame)
        if msg.get("action") == "rpc" and refusals[0] < 2:
            refusals[0] += 1
            return [json.dumps({"id": msg["id"], "data": {"success": False, "error": "rate_limited",
                                                         "detail": "Rate limit exceeded"}})]
        return CrossTradePeer.respond(peer, frame)
    peer.respond = respond  # type: ignore[method-assign]
    pair.proto.request(40, Rpc("GetQuote", {"instrument": "ES"}), pair.now)
    for _ in range(5):
        pair.pump()
        pair.now += 1.0
        pair.proto.handle_timer(pair.now)
    assert _reply(pair, 40).value["bid"] == 1.0 and refusals[0] == 2


def test_subscription_changes_are_merged_within_their_budget(peer: CrossTradePeer) -> None:
    proto = CrossTradeProtocol("ws://x", TOKEN, subscription_limit=RateLimit(rate=1 / 3, burst=1))
    p = Pair(peer)
    p.proto = proto
    p.connect()
    for sym in ("ES 09-26", "NQ 09-26", "CL 10-26"):
        proto.subscribe([Subscription("quote", sym)], p.now)
        p.pump()
    subs = [f["instruments"] for f in peer.frames if f.get("action") == "subscribe"]
    assert subs == [["ES 09-26"]]  # the budget's one token went at once; the others wait, merged
    p.now = proto.sub_bucket.ready_at(p.now)  # the budget's next token
    proto.handle_timer(p.now)
    p.pump()
    assert [f["instruments"] for f in peer.frames if f.get("action") == "subscribe"][-1] == ["NQ 09-26", "CL 10-26"]


def test_takeover_close_and_the_bearer_header(pair: Pair) -> None:
    assert isinstance(pair.proto.closed_error(1000, "replaced by new connection"), TakeoverError)
    assert pair.proto.closed_error(1008, "rate limit violations") is None
    ep = CrossTradeProtocol("ws://x", TOKEN).endpoint(1.0, 1)
    assert isinstance(ep, Endpoint) and ep.headers == {"Authorization": f"Bearer {TOKEN}"}
    assert TOKEN not in repr(ep)


def test_bad_frames_are_reported_and_skipped(pair: Pair) -> None:
    for raw in ("[]", '{"type":"marketData","quotes":5}', '{"type":"marketData","quotes":[{"bid":1}]}',
                '{"type":"pnlUpdate","accounts":[{"realizedPnl":1}]}', '{"type":"weird"}', "nope"):
        before = pair.proto.malformed
        evs = pair.receive(raw)
        assert pair.proto.malformed == before + 1 and any(isinstance(e, Status) and e.kind == "error" for e in evs)
    assert pair.proto.ready


def test_absurd_times_fall_back_to_the_receive_time(pair: Pair) -> None:
    # An epoch beyond any float once raised OverflowError (found by the fuzzer).
    pair.proto.subscribe([Subscription("pnl", "Sim101")], pair.now)
    pair.pump()
    [pnl] = pair.receive('{"type":"pnlUpdate","epoch":' + "7" * 80 + ',"accounts":[{"account":"Sim101"}]}')
    assert pnl.time == int(pair.now * 1e9)
