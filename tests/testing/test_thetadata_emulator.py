"""The Theta Terminal emulator on its own, over real sockets with plain
clients (websockets' sync client and requests, never mdsdk's client code):
the STATUS heartbeat, stream requests in both accepted spellings, the data
frames' exact shapes, the fault switches, the one-client rule, and the REST
v2 history API with paging and its status codes."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any, Dict, Iterator, List, Optional, Tuple
from zoneinfo import ZoneInfo

import pytest
from websockets.frames import Close

from mdsdk.testing import ThetaDataEmulator
from tests.conftest import fixture_lines
from tests.testing.plain_http import http as _http
from tests.testing.wsclient import WsClient

ET = ZoneInfo("America/New_York")
TICK = 0.05
# A fixed instant for history: 2024-03-13 18:00 ET, after that day's 17:15 EOD report.
FIXED = dt.datetime(2024, 3, 13, 18, 0, tzinfo=ET).timestamp()
TRADE_KEYS = ["ms_of_day", "sequence", "size", "condition", "price", "exchange", "date"]
QUOTE_KEYS = ["ms_of_day", "bid_size", "bid_exchange", "bid", "bid_condition", "ask_size", "ask_exchange", "ask",
              "ask_condition", "date"]
OHLC_KEYS = ["ms_of_day", "open", "high", "low", "close", "volume", "count", "date"]
OHLC_FORMAT = OHLC_KEYS
FLOATS = {"price", "bid", "ask", "open", "high", "low", "close"}
CONNECTED = '{"header":{"type":"STATUS","status":"CONNECTED"}}'


class Client(WsClient):
    """A plain Terminal client."""

    def __init__(self, emu: ThetaDataEmulator) -> None:
        super().__init__(emu.url)
        self.next_id = 0

    def send(self, text: str) -> None:
        self.ws.send(text)

    def stream(self, sec_type: str, req_type: str, add: bool = True, rid: Optional[int] = None,
               bulk: bool = False, **contract: Any) -> int:
        """Send one STREAM (or STREAM_BULK) request in strict JSON; its id."""
        rid = self.next_id if rid is None else rid
        self.next_id = max(self.next_id, rid) + 1
        req: Dict[str, Any] = {"msg_type": "STREAM_BULK" if bulk else "STREAM", "sec_type": sec_type,
                               "req_type": req_type, "add": add, "id": rid}
        if not bulk:
            req["contract"] = contract
        self.ws.send(json.dumps(req))
        return rid

    def response(self, rid: int) -> Dict[str, Any]:
        doc = self.until_json(lambda d: d["header"]["type"] == "REQ_RESPONSE" and d["header"]["req_id"] == rid)
        return dict(doc["header"])

    def frames(self, seconds: float) -> List[Dict[str, Any]]:
        """Every JSON frame read during ``seconds``."""
        got: List[Dict[str, Any]] = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            text = self.recv(max(0.01, deadline - time.monotonic()))
            if text is not None and text.startswith("{"):
                got.append(json.loads(text))
        return got

    def closed(self, timeout: float = 5.0) -> Optional[Close]:
        """The server's close frame once the connection ends (None when cut)."""
        return self.ended(timeout)[1]


def data(frames: List[Dict[str, Any]], kind: Optional[str] = None, root: Optional[str] = None) -> List[Dict[str, Any]]:
    return [f for f in frames if f["header"]["type"] in ((kind,) if kind else ("QUOTE", "TRADE", "OHLC"))
            and (root is None or f["contract"]["root"] == root)]


@pytest.fixture
def emu() -> Iterator[ThetaDataEmulator]:
    with ThetaDataEmulator(tick=TICK, status_interval=0.2) as e:
        yield e


@pytest.fixture
def rest() -> Iterator[ThetaDataEmulator]:
    with ThetaDataEmulator(tick=TICK, clock=lambda: FIXED, page_size=100) as e:
        yield e


def _client(emu: ThetaDataEmulator, clients: List[Client]) -> Client:
    c = Client(emu)
    clients.append(c)
    return c


def _et_epoch(date: int, ms: int) -> float:
    midnight = dt.datetime(date // 10000, date // 100 % 100, date % 100, tzinfo=ET)
    return (midnight + dt.timedelta(milliseconds=ms)).timestamp()


# -- the socket: STATUS and requests
def test_surface(emu: ThetaDataEmulator) -> None:
    assert emu.url.startswith("ws://127.0.0.1:") and emu.url.endswith("/v1/events")
    assert emu.api_url.startswith("http://127.0.0.1:") and emu.credentials == {}
    assert emu.client_options == {"url": emu.url, "api_url": emu.api_url}
    assert emu.example_symbol == "AAPL" and emu.unknown_symbol == "NOPE"
    emu.expire_token()  # no token exists between a client and the Terminal: nothing happens


def test_status_at_connect_and_periodically(emu: ThetaDataEmulator, clients: List[Client]) -> None:
    c = _client(emu, clients)
    assert c.recv(2.0) == CONNECTED
    started = time.monotonic()
    for _ in range(2):
        assert c.until(lambda f: f == CONNECTED, timeout=2.0)
    assert time.monotonic() - started >= 0.3  # a heartbeat every status_interval, not a flood


def test_strict_json_and_python_repr_are_both_subscribed(emu: ThetaDataEmulator, clients: List[Client]) -> None:
    c = _client(emu, clients)
    sent = [line["raw"] for line in fixture_lines("thetadata/stock_quote_stream.jsonl") if line["dir"] == "out"]
    assert sent[1].startswith("{'msg_type'")  # the docs' sample code sends the Python repr
    c.send(sent[0])
    first = c.until(lambda f: "REQ_RESPONSE" in f)
    assert first == '{"header":{"type":"REQ_RESPONSE","status":"CONNECTED","response":"SUBSCRIBED","req_id":0}}'
    c.send(sent[1].replace("'id': 0", "'id': 1"))
    assert c.response(1)["response"] == "SUBSCRIBED"
    expected = json.loads(fixture_lines("thetadata/stock_stream.jsonl")[1]["raw"])
    assert list(json.loads(first)["header"]) == list(expected["header"])
    assert c.until_json(lambda d: d["header"]["type"] == "QUOTE")["contract"] == {"security_type": "STOCK",
                                                                            "root": "AAPL"}
    assert emu.requests()[1]["add"] is True


def test_stock_frames_have_the_reference_shape(emu: ThetaDataEmulator, clients: List[Client]) -> None:
    c = _client(emu, clients)
    c.stream("STOCK", "QUOTE", root="AAPL")
    c.stream("STOCK", "TRADE", root="AAPL")
    got = data(c.frames(0.5))
    kinds = {f["header"]["type"] for f in got}
    assert kinds == {"QUOTE", "TRADE", "OHLC"}
    keys = {"QUOTE": QUOTE_KEYS, "TRADE": TRADE_KEYS, "OHLC": OHLC_KEYS}
    for f in got:
        kind = f["header"]["type"]
        assert list(f) == ["header", "contract", kind.lower()]
        assert f["header"] == {"type": kind, "status": "CONNECTED"}
        assert f["contract"] == {"security_type": "STOCK", "root": "AAPL"}
        payload = f[kind.lower()]
        assert list(payload) == keys[kind]
        for name, value in payload.items():
            assert type(value) is (float if name in FLOATS else int), (name, value)
        # ms_of_day counts from midnight America/New_York of ``date``.
        assert abs(_et_epoch(payload["date"], payload["ms_of_day"]) - time.time()) < 10
    quote = data(got, "QUOTE")[-1]["quote"]
    assert quote["bid"] < quote["ask"] and quote["bid_condition"] == 0


def test_ohlc_comes_with_each_trade_session_to_date(emu: ThetaDataEmulator, clients: List[Client]) -> None:
    c = _client(emu, clients)
    c.stream("STOCK", "TRADE", root="MSFT")
    got = [f for f in data(c.frames(0.6)) if f["header"]["type"] in ("OHLC", "TRADE")]
    assert len(got) >= 6 and got[0]["header"]["type"] == "OHLC"
    pairs = list(zip(got[::2], got[1::2]))
    for ohlc, trade in pairs:
        assert ohlc["header"]["type"] == "OHLC" and trade["header"]["type"] == "TRADE"
        o, t = ohlc["ohlc"], trade["trade"]
        assert o["close"] == t["price"] and o["ms_of_day"] == t["ms_of_day"]
        assert o["low"] <= o["open"] <= o["high"] and o["low"] <= o["close"] <= o["high"]
    volumes = [p[0]["ohlc"]["volume"] for p in pairs]
    counts = [p[0]["ohlc"]["count"] for p in pairs]
    assert volumes == sorted(volumes) and counts == sorted(counts) and counts[-1] > counts[0]


def test_sequence_wraps_to_negative_int32(emu: ThetaDataEmulator, clients: List[Client]) -> None:
    emu.sequence_start = 2 ** 31 - 3
    c = _client(emu, clients)
    c.stream("STOCK", "TRADE", root="AAPL")
    seqs: List[int] = []
    while len(seqs) < 6:
        seqs.append(c.until_json(lambda d: d["header"]["type"] == "TRADE")["trade"]["sequence"])
    assert seqs[:4] == [2 ** 31 - 3, 2 ** 31 - 2, 2 ** 31 - 1, -2 ** 31]
    assert seqs[4] == -2 ** 31 + 1 and all(-2 ** 31 <= s < 2 ** 31 for s in seqs)


def test_trades_carry_odd_conditions(emu: ThetaDataEmulator, clients: List[Client]) -> None:
    c = _client(emu, clients)
    for root in ("AAPL", "MSFT", "NVDA", "SPY"):
        c.stream("STOCK", "TRADE", root=root)
    trades = data(c.frames(0.6), "TRADE")
    conditions = {t["trade"]["condition"] for t in trades}
    assert 0 in conditions and conditions - {0}, conditions
    assert all(isinstance(t["trade"]["exchange"], int) for t in trades)


def test_index_trade_is_a_price_report_on_change_only(clients: List[Client]) -> None:
    start = time.monotonic()
    with ThetaDataEmulator(tick=TICK, clock=lambda: FIXED + (time.monotonic() - start) * 120) as emu:
        c = _client(emu, clients)
        c.stream("INDEX", "TRADE", root="SPX")
        got = data(c.frames(0.8))
        assert got and {f["header"]["type"] for f in got} == {"TRADE"}
        assert got[0]["contract"] == {"security_type": "INDEX", "root": "SPX"}
        prices = [f["trade"]["price"] for f in got]
        assert all(a != b for a, b in zip(prices, prices[1:]))  # reported only when the price changed
        trade = got[0]["trade"]
        assert list(trade) == TRADE_KEYS and (trade["size"], trade["sequence"], trade["condition"]) == (0, 0, 0)
        emu.index_price_only = True
        lean = c.until_json(lambda d: d["header"]["type"] == "TRADE" and len(d["trade"]) == 3)["trade"]
        assert list(lean) == ["ms_of_day", "price", "date"]
        c.stream("INDEX", "TRADE", root="$SPX")  # the dollar spelling is not a Terminal root
        assert c.response(1)["response"] == "SUBSCRIBED"
        assert not data(c.frames(0.3), root="$SPX")


def test_option_stream_strike_in_tenths_of_a_cent(emu: ThetaDataEmulator, clients: List[Client]) -> None:
    c = _client(emu, clients)
    strike = emu.atm_strike("AAPL")
    contract = {"root": "AAPL", "expiration": 20301220, "strike": strike, "right": "C"}
    c.stream("OPTION", "QUOTE", **contract)
    c.send("{'msg_type': 'STREAM', 'sec_type': 'OPTION', 'req_type': 'TRADE', 'add': True, 'id': 1, "
           f"'contract': {{'root': 'AAPL', 'expiration': '20301220', 'strike': '{strike}', 'right': 'P'}}}}")
    assert c.response(1)["response"] == "SUBSCRIBED"
    got = data(c.frames(0.5))
    wire = {"security_type": "OPTION", "root": "AAPL", "expiration": 20301220, "strike": strike}
    quotes = data(got, "QUOTE")
    assert quotes and all(f["contract"] == {**wire, "right": "C"} for f in quotes)
    trades = data(got, "TRADE")
    assert trades and all(f["contract"] == {**wire, "right": "P"} for f in trades)
    assert isinstance(trades[0]["contract"]["strike"], int) and strike % 1000 == 0
    q = quotes[-1]["quote"]
    assert 0 < q["bid"] < q["ask"] and q["bid_condition"] == 50
    assert len(data(got, "OHLC")) == len(trades)


def test_full_option_stream_order(emu: ThetaDataEmulator, clients: List[Client]) -> None:
    c = _client(emu, clients)
    c.stream("OPTION", "TRADE", bulk=True)
    got = data(c.frames(0.4))
    assert len(got) >= 10
    first = got[0]["contract"]
    group = [f["header"]["type"] for f in got[:5]]
    assert group == ["QUOTE", "OHLC", "TRADE", "QUOTE", "QUOTE"]
    assert all(f["contract"] == first for f in got[:5]) and first["security_type"] == "OPTION"
    c.stream("STOCK", "TRADE", bulk=True)
    c.stream("OPTION", "TRADE", add=False, bulk=True)
    c.response(2)
    stocks = data(c.frames(0.3))
    assert [f["header"]["type"] for f in stocks[:3]] == ["QUOTE", "OHLC", "TRADE"]
    assert {f["contract"]["security_type"] for f in stocks} == {"STOCK"}


def test_unknown_root_is_subscribed_and_never_streams(emu: ThetaDataEmulator, clients: List[Client]) -> None:
    c = _client(emu, clients)
    assert c.response(c.stream("STOCK", "QUOTE", root=emu.unknown_symbol))["response"] == "SUBSCRIBED"
    c.stream("OPTION", "QUOTE", root="NOPE", expiration=20301220, strike=100000, right="C")
    c.stream("OPTION", "QUOTE", root="AAPL", expiration=20301301, strike=100000, right="C")  # not a date
    c.stream("STOCK", "QUOTE", root="SPX")  # an index asked for as a stock
    assert c.response(3)["response"] == "SUBSCRIBED"
    assert not data(c.frames(8 * TICK))


def test_add_false_and_stop_end_data(emu: ThetaDataEmulator, clients: List[Client]) -> None:
    c = _client(emu, clients)
    c.stream("STOCK", "QUOTE", root="AAPL")
    c.stream("STOCK", "QUOTE", root="MSFT")
    c.until_json(lambda d: d["header"]["type"] == "QUOTE" and d["contract"]["root"] == "MSFT")
    assert c.response(c.stream("STOCK", "QUOTE", add=False, root="AAPL"))["response"] == "SUBSCRIBED"
    c.frames(2 * TICK)  # what was in flight
    later = data(c.frames(6 * TICK))
    assert later and {f["contract"]["root"] for f in later} == {"MSFT"}
    c.send('{"msg_type": "STOP"}')
    c.frames(6 * TICK)
    # STOP has no ack; a later request's answer marks where everything before it was done.
    assert c.response(c.stream("STOCK", "QUOTE", add=False, root="NOPE"))["response"] == "SUBSCRIBED"
    assert not data(c.frames(6 * TICK))


# -- stream fault switches
def test_invalid_perms_max_streams_and_error(emu: ThetaDataEmulator, clients: List[Client]) -> None:
    c = _client(emu, clients)
    emu.invalid_perms = {"OPTION"}
    assert c.response(c.stream("OPTION", "QUOTE", root="AAPL", expiration=20301220, strike=190000,
                               right="C"))["response"] == "INVALID_PERMS"
    assert c.response(c.stream("STOCK", "QUOTE", root="AAPL"))["response"] == "SUBSCRIBED"
    emu.max_streams = 2
    assert c.response(c.stream("STOCK", "TRADE", root="AAPL"))["response"] == "SUBSCRIBED"
    assert c.response(c.stream("STOCK", "QUOTE", root="MSFT"))["response"] == "MAX_STREAMS_REACHED"
    assert c.response(c.stream("STOCK", "QUOTE", root="AAPL"))["response"] == "SUBSCRIBED"  # already counted
    emu.error_next = 1
    assert c.response(c.stream("STOCK", "TRADE", add=False, root="AAPL"))["response"] == "ERROR"
    assert c.response(c.stream("STOCK", "TRADE", add=False, root="AAPL"))["response"] == "SUBSCRIBED"
    assert c.response(c.stream("STOCK", "QUOTE", root="MSFT"))["response"] == "SUBSCRIBED"  # room again
    assert {f["contract"]["security_type"] for f in data(c.frames(0.3))} == {"STOCK"}  # no refused stream


def test_malformed_requests(emu: ThetaDataEmulator, clients: List[Client]) -> None:
    c = _client(emu, clients)
    c.send(json.dumps({"msg_type": "STREAM", "sec_type": "BOND", "req_type": "QUOTE", "add": True, "id": 7,
                       "contract": {"root": "AAPL"}}))
    header = c.response(7)
    assert header["response"] == "ERROR" and header["status"] == "CONNECTED"
    c.send(json.dumps({"msg_type": "STREAM", "sec_type": "OPTION", "req_type": "QUOTE", "add": True, "id": 8,
                       "contract": {"root": "AAPL", "expiration": 20301220, "strike": 190000, "right": "X"}}))
    assert c.response(8)["response"] == "ERROR"
    c.send(json.dumps({"msg_type": "STREAM", "sec_type": "STOCK", "req_type": "QUOTE", "add": True,
                       "contract": {"root": "AAPL"}}))  # no id: nothing to answer
    c.send("{this is not json")
    c.send("[" * 100000)  # not for literal_eval to chew on
    c.send("__import__('os').system('echo nope')")
    assert emu.wait_for(lambda: len(emu.rejected) == 6)
    assert not [f for f in c.frames(0.2) if f["header"]["type"] == "REQ_RESPONSE"]
    assert c.response(c.stream("STOCK", "QUOTE", rid=9, root="AAPL"))["response"] == "SUBSCRIBED"


def test_refuse_auth_is_unverified(emu: ThetaDataEmulator, clients: List[Client]) -> None:
    emu.refuse_auth = True
    c = _client(emu, clients)
    assert json.loads(c.recv(2.0) or "{}") == {"header": {"type": "STATUS", "status": "UNVERIFIED"}}
    header = c.response(c.stream("STOCK", "QUOTE", root="AAPL"))
    assert (header["status"], header["response"]) == ("UNVERIFIED", "INVALID_PERMS")
    assert not data(c.frames(0.2))
    assert _http("GET", emu.api_url + "/v2/system/fpss/status").text == "UNVERIFIED"
    r = _http("GET", emu.api_url + "/v2/hist/stock/eod?root=AAPL&start_date=20240102&end_date=20240102")
    assert r.status_code == 471


def test_upstream_flap_resumes_without_resubscription(emu: ThetaDataEmulator, clients: List[Client]) -> None:
    c = _client(emu, clients)
    c.stream("STOCK", "QUOTE", rid=1, root="AAPL")
    c.stream("STOCK", "QUOTE", rid=2, root="MSFT")
    c.stream("STOCK", "QUOTE", rid=2, root="NVDA")  # reuses id 2: not resubscribed after an outage
    c.until_json(lambda d: d["header"]["type"] == "QUOTE" and d["contract"]["root"] == "NVDA")
    emu.upstream_down()
    c.until(lambda f: f == '{"header":{"type":"STATUS","status":"DISCONNECTED"}}')
    assert _http("GET", emu.api_url + "/v2/system/fpss/status").text == "DISCONNECTED"
    during = c.frames(0.5)
    assert not data(during) and during and all(f["header"]["status"] == "DISCONNECTED" for f in during)
    emu.upstream_up()
    c.until(lambda f: f == CONNECTED)
    after = data(c.frames(0.4))
    assert {f["contract"]["root"] for f in after} == {"AAPL", "MSFT"}
    emu.flap(0.3)
    c.until(lambda f: '"DISCONNECTED"' in f)
    c.until(lambda f: f == CONNECTED)
    assert c.until_json(lambda d: d["header"]["type"] == "QUOTE")["contract"]["root"] in ("AAPL", "MSFT")
    assert not [r for r in emu.requests()[3:]]  # the client resent nothing


# -- one client, and the common faults
def test_second_connection_closes_the_older_with_1008(emu: ThetaDataEmulator, clients: List[Client]) -> None:
    old = _client(emu, clients)
    old.stream("STOCK", "QUOTE", root="AAPL")
    old.until_json(lambda d: d["header"]["type"] == "QUOTE")
    new = _client(emu, clients)
    close = old.closed()
    assert close is not None and close.code == 1008
    assert close.reason == "You cannot have multiple connections to this endpoint"
    assert new.recv(2.0) == CONNECTED
    assert emu.wait_for(lambda: emu.open_connections == 1)
    emu.takeover()
    close = new.closed()
    assert close is not None and close.code == 1008


def test_several_clients_when_not_exclusive(clients: List[Client]) -> None:
    with ThetaDataEmulator(tick=TICK, exclusive=False) as emu:
        a, b = _client(emu, clients), _client(emu, clients)
        for c in (a, b):
            c.stream("STOCK", "QUOTE", root="AAPL")
            assert c.until_json(lambda d: d["header"]["type"] == "QUOTE")
        assert emu.open_connections == 2


def test_common_faults(emu: ThetaDataEmulator, clients: List[Client]) -> None:
    c = _client(emu, clients)
    assert c.recv(2.0) == CONNECTED  # the server's session is up: inject() only reaches open sessions
    emu.inject()
    assert c.until(lambda f: f == emu.GARBAGE)
    emu.close_with(1011, "bye")
    close = c.closed()
    assert close is not None and (close.code, close.reason) == (1011, "bye")
    c = _client(emu, clients)
    assert c.recv(2.0) == CONNECTED
    emu.drop()
    assert c.closed() is None
    url = emu.url
    emu.restart()
    assert emu.url == url
    c = _client(emu, clients)
    c.stream("STOCK", "QUOTE", root="AAPL")
    c.until_json(lambda d: d["header"]["type"] == "QUOTE")
    emu.stall()
    deadline = time.monotonic() + 5
    while c.frames(0.3) and time.monotonic() < deadline:
        pass  # what was sent before the session saw the switch (a loaded machine may lag)
    assert c.frames(0.5) == []  # silent, STATUS included; the socket stays open


# -- REST
def _get(emu: ThetaDataEmulator, path: str, **query: Any) -> Any:
    return _http("GET", emu.api_url + path, params=query)


def _all_pages(emu: ThetaDataEmulator, path: str, **query: Any) -> Tuple[List[List[Any]], List[str]]:
    r = _get(emu, path, **query)
    assert r.status_code == 200, r.text
    body = r.json()
    rows, urls = list(body["response"]), []
    while body["header"]["next_page"] != "null":
        urls.append(body["header"]["next_page"])
        r = _http("GET", urls[-1])
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["header"]["format"] == OHLC_FORMAT
        rows += body["response"]
    return rows, urls


def test_rest_stock_ohlc_json(rest: ThetaDataEmulator) -> None:
    r = _get(rest, "/v2/hist/stock/ohlc", root="AAPL", start_date=20240312, end_date=20240312, ivl=3600000)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    body = r.json()
    assert list(body) == ["header", "response"] and list(body["header"]) == ["latency_ms", "next_page", "format"]
    assert body["header"]["next_page"] == "null" and body["header"]["format"] == OHLC_FORMAT
    rows = body["response"]
    assert [row[0] for row in rows] == [34200000 + i * 3600000 for i in range(7)]  # 09:30 ET on, at bar open
    t0 = _et_epoch(20240312, 34200000)
    candle = rest.market.candle("AAPL", int(t0), 3600)
    assert rows[0] == [34200000, candle.open, candle.high, candle.low, candle.close, int(candle.volume),
                       candle.count, 20240312]
    whole = _get(rest, "/v2/hist/stock/ohlc", root="AAPL", start_date=20240312, end_date=20240312, ivl=3600000,
                 rth="false").json()["response"]
    assert len(whole) == 24 and whole[0][0] == 0


def test_rest_nothing_after_now(rest: ThetaDataEmulator) -> None:
    rows = _get(rest, "/v2/hist/index/ohlc", root="SPX", start_date=20240313, end_date=20240320,
                ivl=3600000, rth="false").json()["response"]
    assert len(rows) == 18 and rows[-1][0] == 17 * 3600000 and {r[-1] for r in rows} == {20240313}
    assert rows[0][5] == 0  # an index has no volume
    r = _get(rest, "/v2/hist/stock/eod", root="AAPL", start_date=20240314, end_date=20240315)
    assert (r.status_code, r.text) == (472, ":No data for the specified timeframe & contract.")


def test_rest_paging_to_the_end(rest: ThetaDataEmulator) -> None:
    query = dict(root="AAPL", start_date=20240311, end_date=20240312, ivl=60000)
    rows, urls = _all_pages(rest, "/v2/hist/stock/ohlc", **query)
    assert len(rows) == 2 * 390 and len(urls) == 7  # 100 slots a page
    assert len(set(urls)) == len(urls) and all(u.startswith(rest.api_url + "/v2/page/") for u in urls)
    stamps = [(r[7], r[0]) for r in rows]
    assert stamps == sorted(set(stamps))
    rest.page_size = 1000
    single = _get(rest, "/v2/hist/stock/ohlc", **query).json()
    assert single["header"]["next_page"] == "null" and single["response"] == rows


def test_rest_page_expiry_is_477(rest: ThetaDataEmulator) -> None:
    rest.page_expire = 1.0
    body = _get(rest, "/v2/hist/stock/ohlc", root="AAPL", start_date=20240312, end_date=20240312,
                ivl=60000).json()
    url = body["header"]["next_page"]
    assert _http("GET", url).status_code == 200  # fetched at once: there
    assert rest.wait_for(lambda: _http("GET", url).status_code == 477, timeout=8)
    assert _http("GET", url).text.startswith(":NO_PAGE_FOUND")
    assert _http("GET", rest.api_url + "/v2/page/999999").status_code == 477


def test_rest_errors(rest: ThetaDataEmulator) -> None:
    r = _get(rest, "/v2/hist/stock/ohlc", root="NOPE", start_date=20240312, end_date=20240312, ivl=60000)
    assert (r.status_code, r.text) == (472, ":No data for the specified timeframe & contract.")
    bad = [dict(start_date=20240312, end_date=20240312),  # no root
           dict(root="AAPL", start_date=20240312, end_date=20240311),  # end before start
           dict(root="AAPL", start_date=20240230, end_date=20240312),  # not a date
           dict(root="AAPL", start_date=20240312, end_date=20240312, rth="maybe")]
    for query in bad:
        assert _get(rest, "/v2/hist/stock/ohlc", ivl=60000, **query).status_code == 473, query
    option = dict(root="AAPL", start_date=20240312, end_date=20240312, exp=20240315, strike=190000)
    assert _get(rest, "/v2/hist/option/eod", right="X", **option).status_code == 473
    assert _get(rest, "/v2/hist/option/eod", right="C", **option).status_code == 200
    assert _get(rest, "/v2/hist/nothing/here").status_code == 404
    r = _get(rest, "/v2/hist/stock/quote", root="AAPL", start_date=20240101, end_date=20240301)
    assert r.status_code == 570 and r.text.startswith(":LARGE_REQUEST")
    rest.max_range_days = 100
    r = _get(rest, "/v2/hist/stock/quote", root="AAPL", start_date=20240101, end_date=20240301, ivl=60000,
             start_time=34200000, end_time=34259999)
    assert r.status_code == 200 and len(r.json()["response"]) == 61 and rest.rest_calls[-1][0].endswith("quote")


def test_rest_fail_next_and_mdds(rest: ThetaDataEmulator) -> None:
    query = dict(root="AAPL", start_date=20240312, end_date=20240312)
    rest.fail_next = [474, 571, 429]
    assert [_get(rest, "/v2/hist/stock/eod", **query).status_code for _ in range(4)] == [474, 571, 429, 200]
    rest.mdds_down = True
    assert _get(rest, "/v2/system/mdds/status").text == "DISCONNECTED"
    assert _get(rest, "/v2/hist/stock/eod", **query).status_code == 474
    assert _get(rest, "/v2/system/fpss/status").text == "CONNECTED"
    rest.mdds_down = False
    assert _get(rest, "/v2/system/mdds/status").text == "CONNECTED"


def test_rest_csv_with_next_page_header(rest: ThetaDataEmulator) -> None:
    r = _get(rest, "/v2/hist/stock/ohlc", root="AAPL", start_date=20240312, end_date=20240312, ivl=60000,
             use_csv="true")
    lines = r.text.splitlines()
    assert r.status_code == 200 and lines[0] == ",".join(OHLC_FORMAT) and len(lines) == 101
    assert lines[1].startswith("34200000,") and lines[1].endswith(",20240312")
    nxt = r.headers["Next-Page"]
    assert nxt.startswith(rest.api_url + "/v2/page/")
    r = _http("GET", nxt)
    assert r.text.splitlines()[1].startswith(str(34200000 + 100 * 60000) + ",")
    last = _get(rest, "/v2/hist/stock/ohlc", root="AAPL", start_date=20240312, end_date=20240312, ivl=3600000,
                use_csv="true")
    assert last.headers["Next-Page"] == "null"


def test_rest_eod_and_ticks(rest: ThetaDataEmulator) -> None:
    body = _get(rest, "/v2/hist/option/eod", root="SPXW", exp=20240315, strike=5100000, right="C",
                start_date=20240312, end_date=20240316).json()
    expected = json.loads(fixture_lines("thetadata/rest_eod_option.jsonl")[0]["raw"])
    assert body["header"]["format"] == expected["header"]["format"]
    assert [r[-1] for r in body["response"]] == [20240312, 20240313]  # nothing after now (18:00 ET on the 13th)
    stock = _get(rest, "/v2/hist/stock/eod", root="AAPL", start_date=20240310, end_date=20240313).json()
    assert len(stock["response"]) == 4 and all(62_100_000 <= r[0] < 62_160_000 for r in stock["response"])
    window = dict(start_date=20240312, end_date=20240312, start_time=34200000, end_time=34209999)
    trades = _get(rest, "/v2/hist/stock/trade", root="AAPL", **window).json()
    assert trades["header"]["format"][:2] == ["ms_of_day", "sequence"] and len(trades["response"]) == 10
    prices = _get(rest, "/v2/hist/index/price", root="SPX", **dict(window, end_time=34799999)).json()["response"]
    assert 0 < len(prices) <= 600 and all(a[1] != b[1] for a, b in zip(prices, prices[1:]))
    rest.page_size = 1000
    quotes = _get(rest, "/v2/hist/option/quote", root="AAPL", exp=20240315, strike=rest.atm_strike("AAPL"),
                  right="P", ivl=60000, start_date=20240312, end_date=20240312).json()["response"]
    assert len(quotes) == 390 and all(r[3] <= r[7] for r in quotes)
    pretty = _get(rest, "/v2/hist/stock/trade", root="AAPL", pretty_time="true", **window).json()["response"]
    assert pretty[0][0] == "09:30:00.000" and pretty[0][-1] == "2024-03-12"


def test_rest_status_and_host(rest: ThetaDataEmulator) -> None:
    assert _get(rest, "/v2/system/fpss/status").text == "CONNECTED"
    port = rest.api_url.rsplit(":", 1)[1]
    r = _http("GET", rest.api_url + "/v2/system/mdds/status", headers={"Host": f"localhost:{port}"})
    assert r.status_code == 476
