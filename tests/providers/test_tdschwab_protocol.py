"""TD Ameritrade / Schwab streamer protocol object: the conformance suite for both variants (a scripted streamer
written from protocols/tda_schwab.md), the LOGIN shapes against the recorded frames, one command in flight,
the codes (3, 12, 20, 30, refusals), resubscription after a reconnect. No sockets, no clocks."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any, Dict, List, Set

import pytest

from mdsdk.errors import AuthenticationError, ConnectionLost, SubscriptionError, TakeoverError, UnsupportedError
from mdsdk.events import Bar, Quote, Status
from mdsdk.providers.base import Fatal, Reconnect, Reply, Subscribe, Subscription
from mdsdk.providers.tdschwab.protocol import State, TDSchwabProtocol
from mdsdk.providers.tdschwab.requests import Identity, streamer_url, symbol_form
from mdsdk.providers.tdschwab.variants import SCHWAB, TDA, Variant

from ..conftest import fixture_lines
from .conformance import T0, ConformanceSuite, Harness, Pair

TDA_ID = Identity(account="1001", app_id="streamerInfo-appId", company="accounts-company-1001", segment="AMER-1001",
                  cddomain="accounts-accountCdDomainId-1001", usergroup="streamerInfo-userGroup",
                  accesslevel="streamerInfo-accessLevel", acl="streamerInfo-acl", timestamp_ms=1590113568000)
TDA_TOKEN = "streamerInfo-token"
SCHWAB_ID = Identity(customer_id="Someone", correl_id="5be0b7e7-5b8b-4fd3-9bed-7f49106cfe96", channel="N9",
                     function_id="APIAPP")
SCHWAB_TOKEN = "Access Token"
_CREDENTIAL_KEYS = ["userid", "token", "company", "segment", "cddomain", "usergroup", "accesslevel", "authorized",
                    "timestamp", "appid", "acl"]
_L1 = {"tda": "QUOTE", "schwab": "LEVELONE_EQUITIES"}


class StreamerPeer(Harness):
    """A scripted streamer written from the reference (sections 3-5, 10): LOGIN checked (code 0, or 3 for a bad
    token), code 20 for anything before it, QOS on TDA only, SUBS replaces / ADD unions / UNSUBS removes keys
    per service, code 11 for a service it refuses, a heartbeat after LOGIN. It starts afresh on every LOGIN."""

    def __init__(self, variant: Variant, token: str, ident: Identity) -> None:
        self.variant, self.token, self.ident = variant, token, ident
        self.accept = token  # the token the server takes
        self.refuse: Set[str] = set()
        self.logged_in = False
        self.subs: Dict[str, Set[str]] = {}
        self.fields: Dict[str, str] = {}  # service -> the field list it streams (SUBS/ADD with fields, VIEW)
        self.refuse_view = False
        self.commands: List[Dict[str, Any]] = []

    def new_protocol(self) -> TDSchwabProtocol:
        return TDSchwabProtocol(self.variant, self.token, url="ws://127.0.0.1:1/ws", identity=self.ident)

    def _answer(self, cmd: Dict[str, Any], code: int, msg: str) -> str:
        item: Dict[str, Any] = {"service": cmd.get("service"), "command": cmd.get("command"),
                                "requestid": str(cmd.get("requestid"))}
        if self.variant is SCHWAB:
            item["SchwabClientCorrelId"] = self.ident.correl_id
        item.update(timestamp=1718814961845, content={"code": code, "msg": msg})
        return json.dumps({"response": [item]})

    def _login_ok(self, params: Dict[str, Any]) -> bool:
        if self.variant is SCHWAB:
            return bool(params.get("Authorization") == self.accept)
        cred = urllib.parse.parse_qsl(params.get("credential", ""))
        return ([k for k, _ in cred] == _CREDENTIAL_KEYS and dict(cred)["authorized"] == "Y"
                and dict(cred)["token"] == params.get("token") == self.accept)

    def respond(self, frame: str) -> List[str]:
        cmd = json.loads(frame)["requests"][0]
        self.commands.append(cmd)
        name, service, params = cmd["command"], cmd["service"], cmd.get("parameters", {})
        if name == "LOGIN":
            self.logged_in, self.subs = self._login_ok(params), {}
            if not self.logged_in:
                return [self._answer(cmd, 3, "Login Denied.: token is invalid or has expired.")]
            return [self._answer(cmd, 0, "server=s0000dev-1;status=NP"), '{"notify":[{"heartbeat":"1718745624421"}]}']
        if not self.logged_in:
            return [self._answer(cmd, 20, "Stream connection not found.")]
        if name == "QOS":
            return [self._answer(cmd, 0 if self.variant is TDA else 21, "QOS")]
        if service in self.refuse or self.variant.service(service) is None:
            return [self._answer(cmd, 11, "Service not available or temporary down.")]
        if name == "VIEW":
            if self.refuse_view:
                return [self._answer(cmd, 25, "VIEW command failed")]
            self.fields[service] = params["fields"]
            return [self._answer(cmd, 0, "VIEW command succeeded")]
        if "fields" in params:
            self.fields[service] = params["fields"]
        keys = set(filter(None, params.get("keys", "").split(",")))
        have = self.subs.setdefault(service, set())
        self.subs[service] = keys if name == "SUBS" else have | keys if name == "ADD" else have - keys
        return [self._answer(cmd, 0, f"{name} command succeeded")]

    def quote_frames(self, symbol: str, bid: float, ask: float) -> List[str]:
        return [json.dumps({"data": [{"service": _L1[self.variant.name], "timestamp": 1714949592301,
                                      "command": "SUBS", "content": [{"key": symbol, "1": bid, "2": ask}]}]})]

    def error_frame(self) -> str:
        return ('{"notify":[{"service":"NEWS_HEADLINE","timestamp":1591500923797,'
                '"content":{"code":17,"msg":"Not authorized for all quotes."}}]}')

    def subscribed(self, frames: List[str]) -> Set[str]:
        live: Set[str] = set()
        for f in frames:
            cmd = json.loads(f)["requests"][0]
            if cmd["service"] != _L1[self.variant.name]:
                continue
            keys = set(cmd["parameters"]["keys"].split(","))
            live = keys if cmd["command"] == "SUBS" else live | keys if cmd["command"] == "ADD" else live - keys
        return live

    def is_keepalive(self, frame: str) -> bool:
        cmd = json.loads(frame)["requests"][0]
        return bool(cmd["service"] == "ACCT_ACTIVITY" and cmd["command"] == "SUBS")

    def is_first_frame(self, frame: str) -> bool:
        cmd = json.loads(frame)["requests"][0]
        return bool(cmd["command"] == "LOGIN" and cmd["requestid"] == "0")


def _tda() -> StreamerPeer:
    return StreamerPeer(TDA, TDA_TOKEN, TDA_ID)


def _schwab() -> StreamerPeer:
    return StreamerPeer(SCHWAB, SCHWAB_TOKEN, SCHWAB_ID)


class TestTDAConformance(ConformanceSuite):
    harness = _tda()


class TestSchwabConformance(ConformanceSuite):
    harness = _schwab()


PEERS = pytest.mark.parametrize("make", [_tda, _schwab], ids=["tda", "schwab"])


class OneAtATime(Pair):
    """A Pair whose peer answers each client frame before the next is taken, failing when the client sends two
    commands without waiting for the first one's response."""

    def pump(self) -> None:
        for _ in range(200):
            for call_id, req in self.proto.http_outgoing():
                self.proto.http_response(call_id, self.h.answer_http(req), self.now, int(self.now * 1e9))
            out = self.proto.outgoing()
            if not out:
                return
            assert len(out) == 1, f"commands in parallel: {out}"
            self.sent.extend(out)
            for answer in self.h.respond(out[0]):
                self.receive(answer)
        raise AssertionError("the exchange did not settle")


def _ready(peer: StreamerPeer) -> OneAtATime:
    pair = OneAtATime(peer)
    pair.connect()
    assert pair.proto.ready
    return pair


def _cmds(frames: List[str]) -> List[Dict[str, Any]]:
    return [json.loads(f)["requests"][0] for f in frames]


def _fixture(path: str, direction: str) -> List[str]:
    return [line["raw"] for line in fixture_lines(path) if line["dir"] == direction]


# ---------------------------------------------------------------- LOGIN, QOS, request ids
def test_tda_login_and_qos_are_the_recorded_frames_byte_for_byte() -> None:
    p = TDSchwabProtocol(TDA, TDA_TOKEN, url="streamer-ws.tdameritrade.com", identity=TDA_ID, qos="0")
    assert p.endpoint(T0, 1) is not None and p.endpoint(T0, 1).url == "wss://streamer-ws.tdameritrade.com/ws"
    p.connection_made(T0, 1)
    assert p.outgoing() == _fixture("tda/login_success.jsonl", "out")
    for frame in _fixture("tda/login_success.jsonl", "in")[:1]:
        p.receive(frame, T0, 1)
    assert p.outgoing() == _fixture("tda/qos.jsonl", "out")  # QOS right after LOGIN, id "1", alone in flight


def test_schwab_login_has_the_reference_keys_and_values() -> None:
    p = TDSchwabProtocol(SCHWAB, SCHWAB_TOKEN, url="wss://streamer-api.schwab.com/ws", identity=SCHWAB_ID)
    assert p.endpoint(T0, 1).url == "wss://streamer-api.schwab.com/ws"  # type: ignore[union-attr]
    p.connection_made(T0, 1)
    ours = json.loads(p.outgoing()[0])["requests"][0]
    recorded = json.loads(_fixture("schwab/login_success.jsonl", "out")[0])["requests"][0]
    assert ours["requestid"] == "0"  # libraries count from "0"; the guide's example happens to say "1"
    ours["requestid"] = recorded["requestid"]
    assert list(ours.items()) == list(recorded.items())


def test_schwab_correl_id_is_generated_once_and_kept_across_reconnects() -> None:
    peer = StreamerPeer(SCHWAB, SCHWAB_TOKEN, Identity(customer_id="c", channel="N9", function_id="APIAPP"))
    pair = _ready(peer)
    pair.proto.connection_lost()
    pair.connect()
    ids = {c["SchwabClientCorrelId"] for c in peer.commands}
    assert len(ids) == 1 and len(ids.pop()) == 36


@PEERS
def test_request_ids_are_strings_counting_from_zero_per_socket(make: Any) -> None:
    pair = _ready(make())
    pair.proto.subscribe([Subscription("quote", "AAPL"), Subscription("bar", "MSFT", "1m")], pair.now)
    pair.pump()
    ids = [c["requestid"] for c in _cmds(pair.sent)]
    assert ids == [str(i) for i in range(len(ids))]
    pair.proto.connection_lost()
    pair.sent.clear()
    pair.connect()
    assert _cmds(pair.sent)[0]["requestid"] == "0"


@PEERS
def test_nothing_but_login_before_its_ack_and_one_command_in_flight(make: Any) -> None:
    peer = make()
    p = peer.new_protocol()
    p.endpoint(T0, 1)
    p.connection_made(T0, 1)
    login = p.outgoing()
    p.subscribe([Subscription("quote", "AAPL"), Subscription("quote", "/ESZ24"), Subscription("book", "MSFT")], T0)
    assert p.outgoing() == [] and p.state is State.LOGGING_IN  # a SUBS now would get code 20
    pair = OneAtATime(peer)
    pair.proto = p
    for answer in peer.respond(login[0]):
        pair.receive(answer)
    pair.pump()  # fails on any two commands without a response between them
    services = [c["service"] for c in _cmds(pair.sent)]
    assert set(services) >= {_L1[peer.variant.name], "LEVELONE_FUTURES", "NASDAQ_BOOK", "ACCT_ACTIVITY"}
    assert not any('"code": 20' in e.detail for e in pair.events if isinstance(e, Status))  # nothing raced it
    assert p.subscriptions == (Subscription("quote", "AAPL"), Subscription("quote", "/ESZ24"),
                               Subscription("book", "MSFT"))


@PEERS
def test_fields_are_sorted_and_include_zero_adds_extend_unsubs_send_keys_only(make: Any) -> None:
    peer = make()
    pair = _ready(peer)
    pair.proto.subscribe([Subscription("quote", "AAPL")], pair.now)
    pair.proto.subscribe([Subscription("trade", "AAPL"), Subscription("quote", "MSFT")], pair.now)
    pair.pump()
    l1 = [c for c in _cmds(pair.sent) if c["service"] == _L1[peer.variant.name]]
    assert [(c["command"], c["parameters"]["keys"]) for c in l1] == [("SUBS", "AAPL"), ("ADD", "MSFT")]
    fields = [int(f) for f in l1[0]["parameters"]["fields"].split(",")]
    assert fields[0] == 0 and fields == sorted(fields) and len(fields) > 40
    pair.proto.unsubscribe([Subscription("quote", "AAPL")], pair.now)
    pair.pump()
    assert l1[-1]["command"] == "ADD"  # trade AAPL still needs the key: nothing sent
    pair.proto.unsubscribe([Subscription("trade", "AAPL")], pair.now)
    pair.pump()
    last = _cmds(pair.sent)[-1]
    assert (last["command"], last["parameters"]) == ("UNSUBS", {"keys": "AAPL"})
    assert peer.subs[_L1[peer.variant.name]] == {"MSFT"}


@PEERS
def test_what_is_asked_while_a_command_is_in_flight_goes_out_as_one_command_per_service(make: Any) -> None:
    peer = make()
    l1 = _L1[peer.variant.name]
    p = peer.new_protocol()
    p.endpoint(T0, 1)
    p.connection_made(T0, 1)
    pair = OneAtATime(peer)
    pair.proto = p
    for answer in peer.respond(p.outgoing()[0]):  # logged in: QOS or the park is now in flight
        pair.receive(answer)
    for symbol in ("AAPL", "MSFT", "SPY", "QQQ"):  # a loop of single subscribes
        p.subscribe([Subscription("quote", symbol)], pair.now)
    p.unsubscribe([Subscription("quote", "SPY")], pair.now)  # undone before it went out
    p.subscribe([Subscription("quote", "IWM")], pair.now)
    pair.pump()
    sent = [(c["command"], c["parameters"]["keys"]) for c in _cmds(pair.sent) if c["service"] == l1]
    assert sent == [("SUBS", "AAPL,MSFT,QQQ,IWM")]
    assert peer.subs[l1] == {"AAPL", "MSFT", "QQQ", "IWM"}
    assert [s.symbol for s in p.subscriptions] == ["AAPL", "MSFT", "QQQ", "IWM"]
    assert not [r for r in pair.signals if isinstance(r, Reply) and r.error is not None]


@PEERS
def test_an_unsubscribe_undone_before_it_went_out_sends_nothing_and_keeps_the_key(make: Any) -> None:
    peer = make()
    l1 = _L1[peer.variant.name]
    pair = _ready(peer)
    pair.proto.subscribe([Subscription("quote", "AAPL")], pair.now)
    pair.pump()
    pair.sent.clear()
    pair.proto.subscribe([Subscription("quote", "/ESZ24")], pair.now)  # in flight while the rest is asked
    pair.proto.unsubscribe([Subscription("quote", "AAPL")], pair.now)
    pair.proto.subscribe([Subscription("quote", "AAPL")], pair.now)
    pair.pump()
    assert [c["service"] for c in _cmds(pair.sent)] == ["LEVELONE_FUTURES"]
    assert peer.subs[l1] == {"AAPL"} and Subscription("quote", "AAPL") in pair.proto.subscriptions


@PEERS
def test_fields_kinds_asks_only_for_the_subscribed_kinds_and_view_follows_them(make: Any) -> None:
    peer = make()
    l1 = _L1[peer.variant.name]
    p = TDSchwabProtocol(peer.variant, peer.token, url="ws://127.0.0.1:1/ws", identity=peer.ident, fields="kinds")
    peer.new_protocol = lambda: p  # type: ignore[method-assign]
    pair = _ready(peer)
    fmap = peer.variant.service(l1).fields  # type: ignore[union-attr]

    def names() -> Set[str]:
        return {fmap[n][0] for n in peer.fields[l1].split(",") if n != "0"}

    p.subscribe([Subscription("quote", "AAPL")], pair.now)
    pair.pump()
    assert {"bid_price", "ask_price", "bid_size", "ask_size"} <= names()
    assert not names() & {"last_price", "total_volume", "open_price", "description"}
    p.subscribe([Subscription("trade", "AAPL")], pair.now)
    pair.pump()
    last = _cmds(pair.sent)[-1]
    assert (last["command"], set(last["parameters"])) == ("VIEW", {"fields"})
    assert {"bid_price", "last_price", "last_size", "total_volume"} <= names() and "open_price" not in names()
    p.unsubscribe([Subscription("quote", "AAPL")], pair.now)
    pair.pump()
    assert _cmds(pair.sent)[-1]["command"] == "VIEW" and "bid_price" not in names() and "last_price" in names()
    peer.refuse_view = True  # a server without VIEW (schwabdev: "might not be functional")
    p.subscribe([Subscription("summary", "AAPL")], pair.now)
    pair.pump()
    after = [(c["command"], c["parameters"].get("keys")) for c in _cmds(pair.sent)[-2:]]
    assert after == [("VIEW", None), ("SUBS", "AAPL")]  # refused, then the whole service again with the fields
    assert {"last_price", "open_price", "description"} <= names() and peer.subs[l1] == {"AAPL"}
    p.subscribe([Subscription("quote", "AAPL")], pair.now)
    pair.pump()
    assert _cmds(pair.sent)[-1]["command"] == "SUBS" and "bid_price" in names()  # VIEW is not tried again
    assert not [e for e in pair.events if isinstance(e, Status) and e.kind == "error"]


# ---------------------------------------------------------------- codes
@PEERS
def test_code_3_login_denied_is_fatal_authentication_error_without_retry(make: Any) -> None:
    peer = make()
    peer.accept = "another token"  # the server takes only this one
    pair = Pair(peer)
    pair.connect()
    assert not pair.proto.ready and pair.proto.state is State.FAILED
    fatal = [s for s in pair.signals if isinstance(s, Fatal)]
    assert len(fatal) == 1 and isinstance(fatal[0].error, AuthenticationError)
    assert not any(isinstance(s, Reconnect) for s in pair.signals)
    assert "token is invalid or has expired" in str(fatal[0].error)
    token = TDA_TOKEN if peer.variant is TDA else SCHWAB_TOKEN
    for text in [str(fatal[0].error)] + [e.detail for e in pair.events if isinstance(e, Status)]:
        assert token not in text


@pytest.mark.parametrize("path,variant", [("schwab/login_denied.jsonl", SCHWAB), ("tda/login_failure.jsonl", TDA)])
def test_recorded_login_refusals(path: str, variant: Variant) -> None:
    p = TDSchwabProtocol(variant, "tok", url="ws://h/ws", identity=SCHWAB_ID if variant is SCHWAB else TDA_ID)
    p.endpoint(T0, 1)
    p.connection_made(T0, 1)
    refusal = json.loads(_fixture(path, "in")[0])
    refusal["response"][0]["requestid"] = "0"
    events = p.receive(json.dumps(refusal), T0, 1)
    assert [e.kind for e in events if isinstance(e, Status)] == ["error"] and not p.ready
    if variant is SCHWAB:  # code 3: the credentials are wrong, stop
        assert [type(s) for s in p.signals] == [Fatal] and isinstance(p.signals[0], Fatal)
        assert isinstance(p.signals[0].error, AuthenticationError)
    else:  # tda-api's "failed for some reason" (code 21): not the credentials, reconnect
        assert [type(s) for s in p.signals] == [Reconnect]


@PEERS
def test_code_12_takeover_stops_with_a_typed_error_and_a_status(make: Any) -> None:
    pair = _ready(make())
    evs = pair.receive('{"notify":[{"service":"Invalid Service","timestamp":1718801330575,'
                       '"content":{"code":12,"msg":"CLOSE_CONNECTION"}}]}')
    fatal = [s for s in pair.signals if isinstance(s, Fatal)]
    assert len(fatal) == 1 and isinstance(fatal[0].error, TakeoverError)
    assert not any(isinstance(s, Reconnect) for s in pair.signals)
    assert [e.kind for e in evs] == ["error"] and evs[0].extra["code"] == 12
    assert not pair.proto.ready


@PEERS
def test_code_20_reconnects_and_logs_in_afresh_with_every_subscription(make: Any) -> None:
    peer = make()
    pair = _ready(peer)
    pair.proto.subscribe([Subscription("quote", "AAPL"), Subscription("bar", "/ESZ24", "1m")], pair.now)
    pair.pump()
    peer.logged_in = False  # the server forgot the session
    pair.proto.subscribe([Subscription("quote", "MSFT")], pair.now)
    pair.pump()
    assert [type(s) for s in pair.signals if isinstance(s, (Reconnect, Fatal))] == [Reconnect]
    assert not pair.proto.ready
    pair.proto.connection_lost()
    pair.sent.clear()
    pair.events.clear()
    pair.connect()
    cmds = _cmds(pair.sent)
    assert cmds[0]["command"] == "LOGIN"
    assert {(c["service"], c["parameters"].get("keys")) for c in cmds if c["command"] == "SUBS"} >= {
        (_L1[peer.variant.name], "AAPL,MSFT"), ("CHART_FUTURES", "/ESZ24")}
    assert all(c["command"] in ("LOGIN", "QOS", "SUBS") for c in cmds)  # replayed as SUBS, one per service
    assert any(isinstance(e, Status) and e.kind == "resubscribed" for e in pair.events)


@PEERS
def test_code_30_cannot_come_from_an_empty_set_the_park_keeps_it_non_empty(make: Any) -> None:
    peer = make()
    pair = _ready(peer)  # connected with nothing desired: the park is already on the wire
    assert pair.proto.parked and peer.subs == {"ACCT_ACTIVITY": {pair.proto.identity.park_key}}
    pair.proto.subscribe([Subscription("quote", "AAPL")], pair.now)
    pair.pump()
    pair.proto.unsubscribe([Subscription("quote", "AAPL")], pair.now)
    pair.pump()
    assert pair.proto.subscriptions == ()
    assert peer.subs[_L1[peer.variant.name]] == set() and peer.subs["ACCT_ACTIVITY"]  # never empty on the wire
    assert pair.proto.ready and not pair.signals[1:]  # only the Ready of the handshake: nothing closed


@pytest.mark.parametrize("path,make", [("tda/stop_streaming_empty_subscription.jsonl", _tda),
                                       ("schwab/stop_streaming.jsonl", _schwab)])
def test_code_30_when_it_comes_anyway_is_news_and_a_reconnect_that_replays(path: str, make: Any) -> None:
    pair = _ready(make())
    pair.proto.subscribe([Subscription("quote", "AAPL")], pair.now)
    pair.pump()
    evs = pair.receive(_fixture(path, "in")[0])
    assert [e.extra.get("code") for e in evs if isinstance(e, Status)] == [30]
    assert [type(s) for s in pair.signals if isinstance(s, (Reconnect, Fatal))] == [Reconnect]
    pair.proto.connection_lost()
    pair.sent.clear()
    pair.connect()
    assert "AAPL" in pair.h.subscribed(pair.sent)


# ---------------------------------------------------------------- refusals and unsupported kinds
@PEERS
def test_a_refused_service_fails_its_symbols_only(make: Any) -> None:
    peer = make()
    peer.refuse = {"LEVELONE_FUTURES"}
    pair = _ready(peer)
    subs = (Subscription("quote", "AAPL"), Subscription("quote", "/ESZ24"), Subscription("trade", "/ESZ24"))
    pair.proto.request(7, Subscribe(subs), pair.now)
    pair.pump()
    (reply,) = [s for s in pair.signals if isinstance(s, Reply)]
    assert reply.request_id == 7 and reply.error is None
    assert {sub for sub, _ in reply.value} == {subs[1], subs[2]}
    err = reply.value[0][1]
    assert isinstance(err, SubscriptionError) and err.symbol == "/ESZ24" and err.code == 11
    assert "Service not available" in str(err)
    assert pair.proto.subscriptions == (subs[0],)
    assert pair.proto.ready


def test_recorded_code_11_for_a_service_schwab_lacks() -> None:
    pair = _ready(_schwab())
    pair.proto.request(3, Subscribe((Subscription("quote", "AAPL"),)), pair.now)
    flight = pair.proto._inflight
    assert flight is not None  # the SUBS is in flight: answer it with the recorded refusal
    refusal = json.loads(_fixture("schwab/service_not_available.jsonl", "in")[0])
    refusal["response"][0].update(service="LEVELONE_EQUITIES", requestid=flight.rid)
    pair.proto.outgoing()
    evs = pair.receive(json.dumps(refusal))
    (reply,) = [s for s in pair.signals if isinstance(s, Reply)]
    assert [sub.symbol for sub, _ in reply.value] == ["AAPL"]
    assert [e.symbol for e in evs if isinstance(e, Status)] == ["AAPL"]


@PEERS
def test_a_kind_the_variant_lacks_is_unsupported_naming_the_variant(make: Any) -> None:
    peer = make()
    pair = _ready(peer)
    bad = (Subscription("profile", "AAPL"), Subscription("book", "/ESZ24"), Subscription("bar", "AAPL", "5m"))
    pair.proto.request(1, Subscribe(bad + (Subscription("quote", "AAPL"),)), pair.now)
    pair.pump()
    (reply,) = [s for s in pair.signals if isinstance(s, Reply)]
    assert [sub for sub, _ in reply.value] == list(bad)
    for _, err in reply.value:
        assert isinstance(err, UnsupportedError) and peer.variant.name in str(err)
    assert pair.proto.subscriptions == (Subscription("quote", "AAPL"),)
    pair.signals.clear()
    pair.proto.request(2, Subscribe((Subscription("pnl", "AAPL"),)), pair.now)
    (reply,) = [s for s in pair.proto.signals if isinstance(s, Reply)]
    assert isinstance(reply.value[0][1], UnsupportedError)


def test_symbol_forms_and_urls() -> None:
    assert [symbol_form(s) for s in ("AAPL", "$SPX", "/ESZ24", "./OZCZ23C565", "EUR/USD", "AAPL  251219C00200000",
                                     "GOOG_052920C620")] == [
        "equity", "equity", "future", "future_option", "forex", "option", "option"]
    assert streamer_url("streamer-ws.tdameritrade.com") == "wss://streamer-ws.tdameritrade.com/ws"
    assert streamer_url("ws://127.0.0.1:9/ws") == "ws://127.0.0.1:9/ws"


# ---------------------------------------------------------------- data, malformed frames, liveness
@pytest.mark.parametrize("path,make,symbols", [("tda/quote_subs_and_data.jsonl", _tda, {"GOOG", "MSFT", "NUTX"}),
                                               ("schwab/levelone_equities.jsonl", _schwab, {"SCHW", "AAPL", "SPY"})])
def test_recorded_level_one_frames_become_quotes(path: str, make: Any, symbols: Set[str]) -> None:
    pair = _ready(make())
    events = [e for frame in _fixture(path, "in") for e in pair.receive(frame)]
    quotes = [e for e in events if isinstance(e, Quote)]
    assert symbols <= {q.symbol for q in quotes}
    assert not [e for e in events if isinstance(e, Status)]
    assert pair.proto.ready  # the stray acks of the recording are not ours: ignored


@PEERS
def test_a_frame_with_a_bad_block_delivers_the_good_one_and_reports_once(make: Any) -> None:
    peer = make()
    pair = _ready(peer)
    good = json.loads(peer.quote_frames("AAPL", 1.0, 1.25)[0])["data"][0]
    frame = json.dumps({"data": [{"service": "ACTIVES_NASDAQ", "content": [{"key": "x"}]}, good, "junk"]})
    evs = pair.receive(frame)
    assert [(type(e).__name__, getattr(e, "kind", None)) for e in evs] == [("Quote", None), ("Status", "error")]
    assert pair.proto.malformed == 1


@PEERS
def test_heartbeats_are_life_and_silence_is_not(make: Any) -> None:
    pair = _ready(make())
    for step in range(1, 6):
        pair.now = T0 + 50.0 * step
        pair.receive('{"notify":[{"heartbeat":"1668715930582"}]}')
        pair.proto.handle_timer(pair.now)  # alive: the heartbeat just came
        pair.pump()
    with pytest.raises(ConnectionLost):
        for _ in range(100):
            pair.now = pair.proto.next_deadline() or pair.now + 1
            pair.proto.handle_timer(pair.now)
            pair.proto.outgoing()


@PEERS
def test_an_unanswered_command_is_a_stuck_session(make: Any) -> None:
    pair = _ready(make())
    pair.proto.subscribe([Subscription("quote", "AAPL")], pair.now)
    assert pair.proto.outgoing()  # the SUBS leaves, its answer never comes while heartbeats do
    with pytest.raises(ConnectionLost, match="did not answer SUBS"):
        for step in range(1, 20):
            pair.now = T0 + 5.0 * step
            pair.receive('{"notify":[{"heartbeat":"1668715930582"}]}')
            pair.proto.handle_timer(pair.now)


def test_tokens_stay_out_of_reprs_and_news() -> None:
    token = "sec+ret/tok=="
    p = TDSchwabProtocol(TDA, token, url="h", identity=TDA_ID)
    assert token in p.secrets and urllib.parse.quote_plus(token) in p.secrets
    assert token not in repr(p.endpoint(T0, 1)) and "1001" not in repr(TDA_ID)
    p.connection_made(T0, 1)
    login = p.outgoing()[0]
    assert urllib.parse.quote_plus(token) in login and p.redact(login).count("***") >= 2
    evs = p.receive("{broken " + login, T0, 1)
    assert token not in evs[0].detail and urllib.parse.quote_plus(token) not in evs[0].detail


# ---------------------------------------------------------------- streamer info over REST
_PRINCIPALS = {"streamerInfo": {"streamerSocketUrl": "streamer-ws.tdameritrade.com", "token": TDA_TOKEN,
                                "tokenTimestamp": "2020-05-22T02:12:48+0000", "userGroup": "streamerInfo-userGroup",
                                "accessLevel": "streamerInfo-accessLevel", "acl": "streamerInfo-acl",
                                "appId": "streamerInfo-appId"},
               "streamerSubscriptionKeys": {"keys": [{"key": "acct-key"}]},
               "accounts": [{"accountId": "1001", "company": "accounts-company-1001", "segment": "AMER-1001",
                             "accountCdDomainId": "accounts-accountCdDomainId-1001"}]}
_PREFERENCES = {"streamerInfo": [{"streamerSocketUrl": "wss://streamer-api.schwab.com/ws",
                                  "schwabClientCustomerId": "Someone", "schwabClientCorrelId": SCHWAB_ID.correl_id,
                                  "schwabClientChannel": "N9", "schwabClientFunctionId": "APIAPP"}]}


class InfoPeer(StreamerPeer):
    """The streamer peer plus the REST streamer-info endpoint of section 1."""

    def new_protocol(self) -> TDSchwabProtocol:
        return TDSchwabProtocol(self.variant, access_token="oauth-access", qos="0")

    def respond_http(self, request: Any) -> Any:
        from mdsdk.providers.base import HttpResponse
        self.http = request
        if request.headers.get("Authorization") != "Bearer oauth-access":
            return HttpResponse(401, None)
        return HttpResponse(200, _PRINCIPALS if self.variant is TDA else _PREFERENCES)


@pytest.mark.parametrize("variant,path", [(TDA, "/v1/userprincipals"), (SCHWAB, "/trader/v1/userPreference")])
def test_streamer_info_is_fetched_over_rest_and_gives_url_token_and_identity(variant: Variant, path: str) -> None:
    peer = InfoPeer(variant, TDA_TOKEN if variant is TDA else "oauth-access",
                    TDA_ID if variant is TDA else SCHWAB_ID)
    pair = _ready(peer)
    assert peer.http.path == path
    ep = pair.proto.auth.current
    assert ep is not None
    if variant is TDA:
        assert ep.url == "wss://streamer-ws.tdameritrade.com/ws" and ep.token == TDA_TOKEN
        assert pair.sent[:2] == _fixture("tda/login_success.jsonl", "out") + _fixture("tda/qos.jsonl", "out")
        assert pair.proto.identity.park_key == "acct-key"
    else:
        assert ep.url == "wss://streamer-api.schwab.com/ws" and ep.token == "oauth-access"
        assert _cmds(pair.sent)[0]["SchwabClientCustomerId"] == "Someone"
    assert "oauth-access" in pair.proto.secrets


def test_a_refused_access_token_stops_the_login() -> None:
    p = TDSchwabProtocol(SCHWAB, access_token="stale")
    assert p.endpoint(T0, 1) is None
    from mdsdk.providers.base import HttpResponse
    (call_id, _), = p.http_outgoing()
    p.http_response(call_id, HttpResponse(401, None), T0, 1)
    assert p.endpoint(T0, 1) is None
    (fatal,) = p.signals
    assert isinstance(fatal, Fatal) and isinstance(fatal.error, AuthenticationError) and "stale" not in str(fatal.error)


def test_a_skipped_account_activity_seq_is_reported_as_a_gap() -> None:
    pair = Pair(StreamerPeer(SCHWAB, SCHWAB_TOKEN, SCHWAB_ID))
    pair.connect()

    def activity(seq: int) -> str:
        return json.dumps({"data": [{"service": "ACCT_ACTIVITY", "timestamp": 1591754497594, "command": "SUBS",
                                     "content": [{"seq": seq, "key": "k", "1": "1001", "2": "OrderFill", "3": ""}]}]})
    assert [e.topic for e in pair.receive(activity(1))] == ["account_activity"]
    evs = pair.receive(activity(4))
    gap = next(e for e in evs if isinstance(e, Status))
    assert (gap.kind, gap.symbol, gap.extra["first"], gap.extra["last"]) == ("gap", "k", 2, 3)
    assert [e.topic for e in evs if not isinstance(e, Status)] == ["account_activity"]
    assert pair.receive(activity(4)) == []  # a repeat


def test_a_skipped_chart_seq_reports_the_gap_and_backfills_the_missing_candles() -> None:
    """CHART_* items are All Sequence: a counted ``seq`` that skips means candles never arrived. The gap is
    reported, and the next candle, showing the hole, is held while price history fetches the missing ones."""
    pair = _ready(InfoPeer(TDA, TDA_TOKEN, TDA_ID))  # with an OAuth token, so price history can be asked
    pair.proto.subscribe([Subscription("bar", "MSFT", "1m")], pair.now)
    pair.pump()
    minute = 60_000

    def candle(seq: int, start_ms: int) -> str:
        return json.dumps({"data": [{"service": "CHART_EQUITY", "timestamp": start_ms + minute, "command": "SUBS",
                                     "content": [{"seq": seq, "key": "MSFT", "1": 10.0, "2": 11.0, "3": 9.0,
                                                  "4": 10.5, "5": 100.0, "6": seq, "7": start_ms, "8": 19859}]}]})
    t0 = 1715903940000
    assert [e.time for e in pair.receive(candle(1, t0)) if isinstance(e, Bar)] == [t0 * 1_000_000]
    assert pair.proto.http_outgoing() == []
    evs = pair.receive(candle(4, t0 + 3 * minute))
    gaps = [e for e in evs if isinstance(e, Status) and e.kind == "gap"]
    assert [(g.extra.get("first"), g.extra.get("last")) for g in gaps if "first" in g.extra] == [(2, 3)]
    assert any("skipped 2 bar(s)" in g.detail and g.extra["start"] == (t0 + minute) * 1_000_000 for g in gaps)
    assert not [e for e in evs if isinstance(e, Bar)]  # held until the backfill answers
    (_, request), = pair.proto.http_outgoing()
    assert request.path == "/v1/marketdata/MSFT/pricehistory"
    assert (request.params["startDate"], request.params["endDate"]) == (t0 + minute, t0 + 3 * minute)
    assert pair.receive(candle(4, t0 + 3 * minute)) == []  # a repeat of the held one is dropped
