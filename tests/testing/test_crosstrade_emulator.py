"""The CrossTrade emulator on its own, over real sockets with plain clients
(websockets' sync client and requests, never mdsdk's client code): the
Bearer upgrade, subscriptions and merged partial quotes, P&L streaming,
rpc, the shared rate budget, the one-connection rule, the fault surface and
the REST quote and bars routes. Dates come from fixed emulator clocks."""

from __future__ import annotations

import datetime as _dt
import json
import time
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from mdsdk.testing import CrossTradeEmulator
from mdsdk.testing._crosstrade_data import TokenBucket, front_month, resolve
from tests.conftest import fixture_lines
from tests.testing.plain_http import http
from tests.testing.wsclient import WsClient

TICK = 0.02
FULL = {"instrument", "bid", "ask", "last", "volume", "open", "high", "low", "close", "bidSize", "askSize",
        "lastSize", "epoch"}


def at(iso: str) -> Callable[[], float]:
    """A clock that starts at ``iso`` (UTC) and runs at the real rate."""
    base = _dt.datetime.fromisoformat(iso).replace(tzinfo=_dt.timezone.utc).timestamp()
    start = time.monotonic()
    return lambda: base + time.monotonic() - start


class Client(WsClient):
    """A plain CrossTrade WebSocket client."""

    def __init__(self, emu: CrossTradeEmulator, token: Optional[str] = None) -> None:
        super().__init__(emu.url, {"Authorization": f"Bearer {token or emu.token}"})

    def send(self, **doc: Any) -> None:
        self.ws.send(json.dumps(doc))

    def rpc(self, rid: str, api: str, **args: Any) -> Dict[str, Any]:
        self.send(action="rpc", id=rid, api=api, args=args)
        data: Dict[str, Any] = self.until_json(lambda d: d.get("id") == rid)["data"]
        return data

    def typed(self, kind: str, n: int = 1) -> List[Dict[str, Any]]:
        """The next ``n`` frames of ``type`` ``kind``."""
        return [self.until_json(lambda d: d.get("type") == kind) for _ in range(n)]

    def close_code(self, timeout: float = 5.0) -> ConnectionClosed:
        """Read until the server closes; the close exception."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.ws.recv(timeout=0.1)
            except TimeoutError:
                continue
            except ConnectionClosed as exc:
                return exc
        raise AssertionError("the server did not close")

    def close(self) -> None:
        self.ws.close()


@pytest.fixture
def emu() -> Iterator[CrossTradeEmulator]:
    with CrossTradeEmulator(tick=TICK) as e:
        yield e


def client(emu: CrossTradeEmulator, clients: List[Client], token: Optional[str] = None) -> Client:
    c = Client(emu, token)
    clients.append(c)
    return c


def auth(emu: CrossTradeEmulator) -> Dict[str, str]:
    return {"Authorization": f"Bearer {emu.token}"}


def refused(emu: CrossTradeEmulator, headers: Dict[str, str]) -> InvalidStatus:
    with pytest.raises(InvalidStatus) as info:
        connect(emu.url, additional_headers=headers, legacy=True, proxy=None, open_timeout=5)
    return info.value


# -- the upgrade
def test_upgrade_needs_the_bearer_token(emu: CrossTradeEmulator, clients: List[Client]) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": emu.token}):
        err = refused(emu, headers)
        assert err.response.status_code == 401 and json.loads(err.response.body) == {"error": "Unauthorized"}
    emu.refuse_auth = True
    assert refused(emu, auth(emu)).response.status_code == 401
    emu.refuse_auth = False
    client(emu, clients).send(action="ping")
    assert clients[0].typed("pong")
    assert emu.refused == 4 and emu.token in emu.issued_tokens
    assert emu.credentials == {"token": emu.token}
    assert emu.client_options == {"url": emu.url, "api_url": emu.api_url, "token": emu.token}
    assert emu.url.endswith("/ws/stream") and emu.api_url.startswith("http://127.0.0.1:")


def test_expire_token_issues_a_new_one(emu: CrossTradeEmulator, clients: List[Client]) -> None:
    old = emu.token
    first = client(emu, clients)
    emu.expire_token()
    assert emu.token != old and emu.issued_tokens == [old, emu.token]
    assert refused(emu, {"Authorization": f"Bearer {old}"}).response.status_code == 401
    r = http("GET", emu.api_url + "/v1/api/accounts", headers={"Authorization": f"Bearer {old}"})
    assert r.status_code == 401 and r.json() == {"error": "Unauthorized"}
    first.send(action="ping")
    assert first.typed("pong")  # an open socket stays open
    emu.exclusive = False
    second = client(emu, clients)
    second.send(action="ping")
    assert second.typed("pong")


# -- subscriptions and quotes
def test_subscribe_acks_and_partial_quotes_merge_into_full_ones(emu: CrossTradeEmulator,
                                                                 clients: List[Client]) -> None:
    c = client(emu, clients)
    sym = emu.example_symbol
    c.send(action="subscribe", instruments=[sym, "NQ"])
    ack = c.typed("status")[0]
    assert ack["state"] == "subscribed" and ack["instruments"][0] == sym and ack["instruments"][1].startswith("NQ ")
    frames = c.typed("marketData", 12)
    merged: Dict[str, Dict[str, Any]] = {}
    partial = 0
    for frame in frames:
        for q in frame["quotes"]:
            if q["instrument"] not in merged:
                assert set(q) == FULL  # the first quote of an instrument is full
            partial += set(q) != FULL
            merged.setdefault(q["instrument"], {}).update(q)
    assert set(merged) == set(ack["instruments"]) and partial > 0
    assert any(len(f["quotes"]) == 2 for f in frames)  # several instruments in one frame
    for q in merged.values():
        assert set(q) == FULL and q["ask"] > q["bid"] and q["low"] <= q["last"] <= q["high"]
    assert merged[sym]["ask"] - merged[sym]["bid"] == pytest.approx(0.25)


def test_full_quotes_when_partial_is_off(emu: CrossTradeEmulator, clients: List[Client]) -> None:
    emu.partial = False
    c = client(emu, clients)
    c.send(action="subscribe", instruments=[emu.example_symbol])
    assert all(set(f["quotes"][0]) == FULL for f in c.typed("marketData", 4))


def test_symbol_forms_echo_the_dated_contract(clients: List[Client]) -> None:
    with CrossTradeEmulator(tick=TICK, clock=at("2026-03-18T20:51:54")) as emu:
        assert emu.example_symbol == "ES 06-26"  # ES 03-26 rolled on the second Thursday, 12 March
        c = client(emu, clients)
        c.send(action="subscribe", instruments=["ES", "ES1!", "ESM26", "ESM6", "es 06-26", "ES2!"])
        assert c.typed("status")[0]["instruments"] == ["ES 06-26", "ES 09-26"]
        quotes = [q["instrument"] for f in c.typed("marketData", 2) for q in f["quotes"]]
        assert set(quotes) == {"ES 06-26", "ES 09-26"}


def test_front_month_rolls_by_the_calendar() -> None:
    def ts(day: str) -> float:
        return _dt.datetime.fromisoformat(day).replace(tzinfo=_dt.timezone.utc).timestamp()
    assert [front_month("ES", ts(d)).name for d in ("2026-03-11", "2026-03-12", "2026-12-31")] == [  # type: ignore
        "ES 03-26", "ES 06-26", "ES 03-27"]
    assert front_month("CL", ts("2026-07-14")).name == "CL 08-26"  # type: ignore[union-attr]
    assert front_month("CL", ts("2026-07-15")).name == "CL 09-26"  # type: ignore[union-attr]
    t = ts("2026-03-18")
    assert resolve("ES 08-26", t) is None  # not in ES's quarterly cycle
    assert resolve("NOPE 12-30", t) is None and resolve("MNQZ6", t).name == "MNQ 12-26"  # type: ignore


def test_unknown_instrument_is_accepted_and_never_streams(emu: CrossTradeEmulator, clients: List[Client]) -> None:
    c = client(emu, clients)
    c.send(action="subscribe", instruments=[emu.unknown_symbol])
    assert c.typed("status")[0] == {"type": "status", "state": "subscribed", "instruments": []}
    c.send(action="subscribe", instruments=[emu.example_symbol])
    c.typed("marketData", 5)
    names = {q["instrument"] for f in c.seen if f.get("type") == "marketData" for q in f["quotes"]}
    assert names == {emu.example_symbol}


def test_unsubscribe_stops_the_quotes(emu: CrossTradeEmulator, clients: List[Client]) -> None:
    c = client(emu, clients)
    c.send(action="subscribe", instruments=[emu.example_symbol])
    c.typed("marketData", 2)
    c.send(action="unsubscribe", instruments=["ES"])
    ack = c.until_json(lambda d: d.get("state") == "unsubscribed")
    assert ack == {"type": "status", "state": "unsubscribed", "instruments": [emu.example_symbol]}
    mark = len(c.seen)
    c.send(action="subscribe", instruments=["NQ"])
    c.typed("marketData", 4)
    later = {q["instrument"] for f in c.seen[mark:] if f.get("type") == "marketData" for q in f["quotes"]}
    assert later and not any(n.startswith("ES ") for n in later)


# -- P&L, ping, malformed frames
def test_stream_pnl_on_off_with_its_interval(emu: CrossTradeEmulator, clients: List[Client]) -> None:
    c = client(emu, clients)
    c.send(action="streamPnl", enabled=True, interval=20)  # raised to the 100 ms minimum
    updates = c.typed("pnlUpdate", 3)
    assert updates[0]["accounts"] == [{"account": "Sim101", "realizedPnl": 0.0, "unrealizedPnl": 0.0,
                                       "totalPnl": 0.0}]
    gaps = [b["epoch"] - a["epoch"] for a, b in zip(updates, updates[1:])]
    assert all(90 <= g <= 1000 for g in gaps), gaps
    c.send(action="streamPnl", enabled=False)
    c.send(action="ping")
    c.typed("pong")
    mark = len(c.seen)
    c.send(action="subscribe", instruments=[emu.example_symbol])
    c.typed("marketData", 12)  # > 200 ms of ticks: a running 100 ms P&L stream would show
    assert not [f for f in c.seen[mark:] if f.get("type") == "pnlUpdate"]


def test_ping_pong_and_invalid_requests(emu: CrossTradeEmulator, clients: List[Client]) -> None:
    c = client(emu, clients)
    c.send(action="ping")
    assert c.typed("pong")[0] == {"type": "pong"}
    bad = ["{not json", "[1, 2]", json.dumps({"action": "dance"}), json.dumps({"instruments": ["ES"]}),
           json.dumps({"action": "subscribe", "instruments": "ES"}), json.dumps({"action": "rpc", "api": "GetQuote"}),
           json.dumps({"action": "streamPnl", "enabled": "yes"})]
    for text in bad:
        c.ws.send(text)
        assert c.typed("error")[0] == {"type": "error", "error": "Invalid request"}
    assert emu.received[-1] == bad[-1] and emu.violations == 0


# -- rpc
def test_rpc_get_quote_has_the_documented_shape(emu: CrossTradeEmulator, clients: List[Client]) -> None:
    doc = [json.loads(line["raw"]) for line in fixture_lines("crosstrade/rpc.jsonl") if line["dir"] == "in"][0]
    data = client(emu, clients).rpc("my-request-id", "GetQuote", account="sim101", instrument="ES")
    assert set(data) == set(doc["data"]) and data["instrument"] == emu.example_symbol and data["success"] is True
    assert data["ask"] > data["bid"] and data["tickSize"] == 0.25 and data["pointValue"] == 50.0
    assert emu.rpc_calls == 1


def test_place_order_then_orders_positions_and_pnl(emu: CrossTradeEmulator, clients: List[Client]) -> None:
    c = client(emu, clients)
    placed = c.rpc("1", "PlaceOrder", account="Sim101", instrument="ES", action="BUY", quantity=2,
                   orderType="MARKET", timeInForce="DAY")
    assert placed["success"] is True and len(placed["orderId"]) == 32
    orders = c.rpc("2", "GetOrders", account="Sim101")
    assert orders["count"] == 1 and orders["success"] is True
    order = orders["orders"][0]
    assert order["orderId"] == placed["orderId"] and order["orderState"] == "Filled" and order["filled"] == 2
    assert order["instrument"] == emu.example_symbol and order["orderAction"] == "Buy"
    working = c.rpc("3", "PlaceOrder", account="Sim101", instrument=emu.example_symbol, action="Sell", quantity=1,
                    orderType="Limit", limitPrice=1e6)
    assert c.rpc("4", "GetOrders", account="Sim101")["orders"][1]["orderState"] == "Working"
    assert working["success"] is True
    pos = c.rpc("5", "GetPositions", account="Sim101")["positions"]
    assert [(p["instrument"], p["marketPosition"], p["quantity"]) for p in pos] == [(emu.example_symbol, "Long", 2)]
    account = c.rpc("6", "GetAccount", account="Sim101")
    assert account["name"] == "Sim101" and account["success"] is True and "cashValue" in account["item"]
    assert [a["name"] for a in c.rpc("7", "GetAccounts")["accounts"]] == ["Sim101"]
    c.send(action="streamPnl", enabled=True)
    pnl = c.typed("pnlUpdate")[0]["accounts"][0]
    assert pnl["totalPnl"] == pytest.approx(pnl["realizedPnl"] + pnl["unrealizedPnl"])
    bad = c.rpc("8", "PlaceOrder", account="Sim101", instrument="ES", action="HOLD", quantity=1, orderType="MARKET")
    assert bad["success"] is False and bad["error"] == "invalid_request"


def test_rpc_error_answers(emu: CrossTradeEmulator, clients: List[Client]) -> None:
    c = client(emu, clients)
    assert c.rpc("a", "Teleport") == {"success": False, "error": "unknown_api", "detail": "Unknown API: Teleport"}
    documented = json.loads(fixture_lines("crosstrade/rest.jsonl")[1]["raw"])
    assert c.rpc("b", "GetQuote", account="Sim999", instrument="ES") == documented
    missing = c.rpc("c", "GetQuote", account="Sim101")
    assert missing["success"] is False and missing["error"] == "invalid_request"
    unknown = c.rpc("d", "GetQuote", account="Sim101", instrument=emu.unknown_symbol)
    assert unknown["error"] == "unknown_instrument"
    c.send(action="rpc", id=7, api="GetAccounts")
    assert c.until_json(lambda d: d.get("id") == 7)["data"]["success"] is True  # integer ids are echoed as sent


def test_addon_disconnected(emu: CrossTradeEmulator, clients: List[Client]) -> None:
    emu.addon_connected = False
    assert client(emu, clients).rpc("x", "GetAccounts") == {
        "success": False, "error": "addon_disconnected", "detail": "NinjaTrader add-on is not connected"}
    r = http("GET", emu.api_url + "/v1/api/market/quote", params={"instrument": "ES"}, headers=auth(emu))
    assert r.status_code == 408 and r.json()["error"] == "addon_disconnected"
    emu.addon_connected = True
    assert clients[0].rpc("y", "GetAccounts")["success"] is True


def test_dropped_and_delayed_rpc_answers(emu: CrossTradeEmulator, clients: List[Client]) -> None:
    c = client(emu, clients)
    emu.drop_rpc_answers = {"PlaceOrder"}
    c.send(action="rpc", id="lost", api="PlaceOrder",
           args={"account": "Sim101", "instrument": "ES", "action": "Buy", "quantity": 1, "orderType": "Market"})
    assert c.rpc("next", "GetOrders", account="Sim101")["count"] == 1  # the call took effect
    assert not [f for f in c.seen if f.get("id") == "lost"]
    emu.drop_rpc_answers = set()
    emu.rpc_delay = 0.5
    c.send(action="rpc", id="slow", api="GetAccounts")
    c.send(action="ping")
    c.until_json(lambda d: d.get("type") == "pong" or d.get("id") == "slow")
    assert c.seen[-1] == {"type": "pong"}  # the answer is still held
    assert c.until_json(lambda d: d.get("id") == "slow")["data"]["success"] is True


# -- rate limits
def test_rate_limit_violations_then_close(clients: List[Client]) -> None:
    with CrossTradeEmulator(tick=TICK, rpc_burst=2, rpc_rate=0.001) as emu:
        c = client(emu, clients)
        for i in range(2):
            assert c.rpc(str(i), "GetAccounts")["success"] is True
        for round_ in range(2):
            for i in range(9):
                assert c.rpc(f"v{round_}{i}", "GetAccounts") == {
                    "success": False, "error": "rate_limited", "detail": "Rate limit exceeded"}
            if round_ == 0:
                c.send(action="subscribe", instruments=["ES"])  # an accepted request: the count starts again
                c.typed("status")
        c.send(action="rpc", id="last", api="GetAccounts")
        assert c.until_json(lambda d: d.get("id") == "last")["data"]["error"] == "rate_limited"
        closed = c.close_code()
        assert closed.rcvd is not None and (closed.rcvd.code, closed.rcvd.reason) == (1008, "rate limit violations")
        assert emu.violations == 19 and emu.closed_for_abuse == 1 and emu.rpc_calls == 2
        r = http("GET", emu.api_url + "/v1/api/accounts", headers=auth(emu))
        assert r.status_code == 429 and r.json() == {"error": "Rate limit exceeded"}


def test_a_paced_client_is_never_closed(clients: List[Client]) -> None:
    now = [0.0]
    with CrossTradeEmulator(tick=TICK) as emu:
        emu.rpc_bucket = TokenBucket(3.0, 20, clock=lambda: now[0])  # the documented budget, on a test clock
        c = client(emu, clients)
        for i in range(20):  # the burst
            assert c.rpc(f"b{i}", "GetAccounts")["success"] is True
        for i in range(40):  # then 3 a second
            now[0] += 1 / 3
            assert c.rpc(f"p{i}", "GetAccounts")["success"] is True
        for round_ in range(3):  # 9 refusals in a row, then an accepted call: never 10 in a row
            for i in range(9):
                assert c.rpc(f"x{round_}{i}", "GetAccounts")["error"] == "rate_limited"
            now[0] += 1 / 3
            assert c.rpc(f"ok{round_}", "GetAccounts")["success"] is True
        assert emu.violations == 27 and emu.closed_for_abuse == 0 and emu.open_connections == 1


def test_subscription_budget(clients: List[Client]) -> None:
    with CrossTradeEmulator(tick=TICK, sub_per_minute=3) as emu:
        c = client(emu, clients)
        c.send(action="subscribe", instruments=["ES"])
        c.send(action="unsubscribe", instruments=["ES"])
        c.send(action="subscribe", instruments=["ES", "NQ"])
        assert [f["state"] for f in c.typed("status", 3)] == ["subscribed", "unsubscribed", "subscribed"]
        c.send(action="subscribe", instruments=["YM"])
        assert c.typed("error")[0] == {"type": "error", "error": "Rate limit exceeded"}
        assert c.rpc("r", "GetAccounts")["success"] is True  # rpc has its own bucket
        assert emu.violations == 1


# -- the one-connection rule and the fault surface
def test_a_second_connection_replaces_the_first(emu: CrossTradeEmulator, clients: List[Client]) -> None:
    first = client(emu, clients)
    second = client(emu, clients)
    closed = first.close_code()
    assert closed.rcvd is not None and (closed.rcvd.code, closed.rcvd.reason) == (1000, "replaced by new connection")
    second.send(action="ping")
    assert second.typed("pong")
    emu.takeover()
    closed = second.close_code()
    assert closed.rcvd is not None and closed.rcvd.reason == "replaced by new connection"
    assert emu.wait_for(lambda: emu.open_connections == 0) and emu.connections == 2


def test_faults_and_forgotten_subscriptions(emu: CrossTradeEmulator, clients: List[Client]) -> None:
    c = client(emu, clients)
    c.send(action="subscribe", instruments=["ES"])
    c.typed("marketData")
    emu.inject()
    assert c.until(lambda f: f == emu.GARBAGE)
    emu.drop()
    closed = c.close_code()
    assert closed.rcvd is None  # cut: no close frame
    emu.restart()
    again = client(emu, clients)
    again.send(action="streamPnl", enabled=True, interval=100)
    again.typed("pnlUpdate", 3)
    assert not [f for f in again.seen if f.get("type") == "marketData"]  # subscriptions were forgotten
    emu.close_with(4001, "bye")
    closed = again.close_code()
    assert closed.rcvd is not None and (closed.rcvd.code, closed.rcvd.reason) == (4001, "bye")


# -- REST
def test_rest_quotes(emu: CrossTradeEmulator) -> None:
    url = emu.api_url + "/v1/api/market/quote"
    documented = json.loads(fixture_lines("crosstrade/rest.jsonl")[3]["raw"])
    one = http("GET", url, params={"instrument": "ES"}, headers=auth(emu))
    assert one.status_code == 200 and set(one.json()) == set(documented)
    assert one.json()["instrument"] == emu.example_symbol and one.json()["epoch"] < 1e11  # seconds here
    many = http("GET", url, params={"instrument": f"ES,NQ1!,{emu.unknown_symbol}"}, headers=auth(emu)).json()
    assert [q["instrument"] for q in many][:2] == [emu.example_symbol, front_month("NQ", emu.clock()).name]  # type: ignore
    assert many[2]["error"] == "unknown_instrument" and many[2]["success"] is False
    legacy = http("GET", emu.api_url + "/v1/api/accounts/Sim101/quote", params={"instrument": "ES"},
                  headers=auth(emu))
    assert legacy.json()["success"] is True and legacy.json()["instrument"] == emu.example_symbol
    wrong = http("GET", emu.api_url + "/v1/api/accounts/Sim999/quote", params={"instrument": "ES"},
                 headers=auth(emu))
    assert wrong.status_code == 404 and wrong.json() == json.loads(fixture_lines("crosstrade/rest.jsonl")[1]["raw"])
    assert http("GET", url, headers=auth(emu)).json() == {"error": "Invalid request"}
    assert http("GET", url, params={"instrument": emu.unknown_symbol}, headers=auth(emu)).status_code == 404
    assert http("GET", url, params={"instrument": "ES"}).status_code == 401
    assert ("GET", "/v1/api/market/quote") in emu.rest_calls


def test_rest_bars(clients: List[Client]) -> None:
    with CrossTradeEmulator(tick=TICK, clock=at("2026-03-20T15:30:00")) as emu:
        url = emu.api_url + "/v1/api/market/bars"

        def bars(**body: Any) -> Any:
            return http("POST", url, json=body, headers=auth(emu))
        hourly = bars(instrument="ES", periodType="minute", period=60, daysBack=2).json()
        documented = json.loads(fixture_lines("crosstrade/rest.jsonl")[4]["raw"])
        assert set(hourly) == set(documented) and set(hourly["bars"][0]) == set(documented["bars"][0])
        assert hourly["instrument"] == "ES 06-26" and hourly["periodType"] == "minute" and hourly["period"] == 60
        assert hourly["count"] == len(hourly["bars"]) == 46  # 48 hours less two 21:00 UTC halts
        epochs = [b["epoch"] for b in hourly["bars"]]
        assert epochs == sorted(epochs) and all(e % 3600000 == 0 for e in epochs)
        first = hourly["bars"][0]
        assert _dt.datetime.fromisoformat(first["time"][:19] + "+00:00").timestamp() * 1000 == first["epoch"]
        assert first["time"].endswith(".0000000Z") and first["low"] <= first["open"] <= first["high"]
        day = bars(instrument="ESM26", **{"from": "2026-03-17T00:00:00Z", "to": "2026-03-18T00:00:00Z"},
                   periodType="minute", period=60).json()
        assert day["count"] == 23 and day["bars"][0]["time"] == "2026-03-17T00:00:00.0000000Z"
        assert bars(instrument="ES", daysBack=1, limit=5).json()["count"] == 5
        assert bars(instrument="ES", periodType="day", daysBack=5).json()["count"] == 5
        months = bars(instrument="ES", periodType="month", **{"from": "2026-01-01T00:00:00Z"}).json()
        assert [b["time"][:10] for b in months["bars"]] == ["2026-01-01", "2026-02-01", "2026-03-01"]
        assert bars(periodType="minute").status_code == 400
        assert bars(instrument="ES", periodType="fortnight").json() == {"error": "Invalid request"}
        missing = bars(instrument=emu.unknown_symbol)
        assert missing.status_code == 404 and missing.json()["error"] == "unknown_instrument"


def test_rest_budget_and_addon(clients: List[Client]) -> None:
    with CrossTradeEmulator(tick=TICK, rpc_burst=1, rpc_rate=0.001) as emu:
        assert http("GET", emu.api_url + "/v1/api/accounts", headers=auth(emu)).status_code == 200
        c = client(emu, clients)
        assert c.rpc("shared", "GetAccounts")["error"] == "rate_limited"  # one bucket for REST and rpc
        r = http("POST", emu.api_url + "/v1/api/market/bars", json={"instrument": "ES"}, headers=auth(emu))
        assert r.status_code == 429 and r.json() == {"error": "Rate limit exceeded"}
        assert emu.violations == 2
