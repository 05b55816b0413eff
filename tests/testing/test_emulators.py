"""The emulators on their own, driven over real sockets by plain clients
(websockets' sync client and requests, never mdsdk's own client code): the
fault surface both share, takeover on the wire, the instrument universe, and
how trades split between Trade and TradeETH."""

from __future__ import annotations

import ast
import datetime as dt
import json
import pathlib
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest

from mdsdk.testing import DXLinkEmulator, TradovateEmulator
from mdsdk.testing import universe
from mdsdk.testing.market import in_regular_hours, last_extended_time, last_regular_time
from tests.testing.plain_http import http as _http
from tests.testing.wsclient import WsClient as Client

TICK = 0.02
DX_TAKEOVER = ('{"type":"ERROR","channel":0,"error":"UNKNOWN",'
               '"message":"Session closed: another session was opened with the same credentials"}')
TV_TAKEOVER = ('a[{"e":"shutdown","d":{"reasonCode":"ConnectionQuotaReached",'
               '"reason":"Another session was opened with the same credentials"}}]',
               'c[3000,"Another session was opened with the same credentials"]')



class DxClient(Client):
    """DXLink, spoken plainly: JSON messages, FULL data format."""

    def send(self, **msg: Any) -> None:
        self.ws.send(json.dumps(msg))

    def until_msg(self, predicate: Callable[[Dict[str, Any]], bool], timeout: float = 5.0) -> Dict[str, Any]:
        return self.until_json(predicate, timeout)

    def login(self, token: str) -> Dict[str, Any]:
        """SETUP, wait for UNAUTHORIZED, AUTH; the final AUTH_STATE."""
        self.send(type="SETUP", channel=0, version="0.1-test", keepaliveTimeout=60, acceptKeepaliveTimeout=60)
        self.until_msg(lambda m: m.get("state") == "UNAUTHORIZED")
        self.send(type="AUTH", channel=0, token=token)
        return self.until_msg(lambda m: m["type"] == "AUTH_STATE")

    def feed(self, subs: List[Tuple[str, str]], ch: int = 1, fmt: str = "FULL") -> None:
        self.send(type="CHANNEL_REQUEST", channel=ch, service="FEED", parameters={"contract": "AUTO"})
        self.until_msg(lambda m: m["type"] == "CHANNEL_OPENED")
        self.send(type="FEED_SETUP", channel=ch, acceptAggregationPeriod=0.1, acceptDataFormat=fmt)
        self.until_msg(lambda m: m["type"] == "FEED_CONFIG")
        self.send(type="FEED_SUBSCRIPTION", channel=ch, add=[{"type": t, "symbol": s} for t, s in subs])

    def events(self, seconds_of_ticks: int, of: str = "SPY") -> List[Dict[str, Any]]:
        """FULL events received until ``of`` has been seen in that many frames."""
        got: List[Dict[str, Any]] = []
        frames_with = 0
        while frames_with < seconds_of_ticks:
            msg = self.until_msg(lambda m: m["type"] == "FEED_DATA")
            got.extend(msg["data"])
            frames_with += any(e["eventSymbol"] == of for e in msg["data"])
        return got


def _tv_items(frame: str) -> List[Dict[str, Any]]:
    return list(json.loads(frame[1:])) if frame.startswith("a") else []


class TvClient(Client):
    """Tradovate MD, spoken plainly: ``endpoint\\nid\\nquery\\nbody`` requests, ``a[...]`` replies."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        assert self.recv(5) == "o"

    def request(self, endpoint: str, rid: int, body: str = "") -> Dict[str, Any]:
        """Send one request and return its response item."""
        self.ws.send(f"{endpoint}\n{rid}\n\n{body}")
        frame = self.until(lambda f: any(i.get("i") == rid for i in _tv_items(f)))
        return next(i for i in _tv_items(frame) if i.get("i") == rid)

    def item(self, predicate: Callable[[Dict[str, Any]], bool], timeout: float = 5.0) -> Dict[str, Any]:
        frame = self.until(lambda f: any(predicate(i) for i in _tv_items(f)), timeout)
        return next(i for i in _tv_items(frame) if predicate(i))


def tv_token(emu: TradovateEmulator) -> str:
    body = _http("POST", emu.api_url + "/auth/accesstokenrequest",
                 json={"name": emu.username, "password": emu.password, "appId": "test"}).json()
    return str(body["accessToken"])


class DxSide:
    """How the common fault tests speak DXLink."""

    takeover_frames = [DX_TAKEOVER]
    takeover_close = (1008, "session taken over")

    def emulator(self, **kw: Any) -> DXLinkEmulator:
        return DXLinkEmulator(tick=TICK, keepalive_timeout=10.0, **kw)

    def connect(self, emu: Any, token: Optional[str] = None) -> DxClient:
        client = DxClient(emu.url)
        assert client.login(token or emu.token)["state"] == "AUTHORIZED"
        return client

    def stream(self, emu: Any, token: Optional[str] = None) -> DxClient:
        client = self.connect(emu, token)
        client.feed([("Quote", "SPY")])
        client.until(lambda f: '"FEED_DATA"' in f)
        return client

    def token(self, emu: Any) -> str:
        reply = _http("GET", emu.api_url + "/api-quote-tokens",
                      headers={"Authorization": emu.token, "User-Agent": "test/1"})
        assert reply.status_code == 200
        return str(reply.json()["data"]["token"])

    def close_frames(self, code: int, reason: str) -> List[str]:
        return []


class TvSide:
    """How the common fault tests speak Tradovate."""

    takeover_frames = list(TV_TAKEOVER)
    takeover_close = (1000, "Another session was opened with the same credentials")

    def emulator(self, **kw: Any) -> TradovateEmulator:
        return TradovateEmulator(tick=TICK, **kw)

    def connect(self, emu: Any, token: Optional[str] = None) -> TvClient:
        client = TvClient(emu.url)
        assert client.request("authorize", 0, token or tv_token(emu)) == {"s": 200, "i": 0}
        return client

    def stream(self, emu: Any, token: Optional[str] = None) -> TvClient:
        client = self.connect(emu, token)
        assert client.request("md/subscribeQuote", 1, '{"symbol":"ESZ6"}') == {"s": 200, "i": 1}
        client.item(lambda i: i.get("e") == "md")
        return client

    def token(self, emu: Any) -> str:
        return tv_token(emu)

    def close_frames(self, code: int, reason: str) -> List[str]:
        return ["c" + json.dumps([code, reason])]


SIDES = [DxSide(), TvSide()]
IDS = ["dxlink", "tradovate"]


@pytest.fixture(params=SIDES, ids=IDS)
def side(request: pytest.FixtureRequest) -> Any:
    return request.param


@pytest.fixture
def emu(side: Any) -> Iterator[Any]:
    with side.emulator() as e:
        yield e


def _data(frame: str) -> bool:
    return '"FEED_DATA"' in frame or '"e":"md"' in frame


# -- the common fault surface -------------------------------------------------------------

def test_drop_cuts_without_a_close_frame(side: Any, emu: Any) -> None:
    client = side.stream(emu)
    try:
        emu.drop()
        _, close = client.ended()
        assert close is None
        assert emu.wait_for(lambda: emu.open_connections == 0)
    finally:
        client.close()


def test_stall_goes_silent_but_stays_open(side: Any, emu: Any) -> None:
    client = side.stream(emu)
    try:
        emu.stall()
        assert client.silent_for(20 * TICK)
        assert emu.open_connections == 1 and all(s.stalled for s in emu.sessions())
        fresh = side.stream(emu)  # a new connection is served normally
        fresh.close()
    finally:
        client.close()


def test_inject_sends_the_raw_frame(side: Any, emu: Any) -> None:
    client = side.stream(emu)
    try:
        emu.inject("not a frame at all")
        client.until(lambda f: f == "not a frame at all")
        emu.inject()
        client.until(lambda f: f == emu.GARBAGE)
        client.until(_data)  # and the stream goes on
    finally:
        client.close()


def test_close_with_sends_the_protocol_close_then_the_code(side: Any, emu: Any) -> None:
    client = side.stream(emu)
    try:
        emu.close_with(4000, "bye")
        frames, close = client.ended()
        assert close is not None and (close.code, close.reason) == (4000, "bye")
        assert [f for f in frames if not _data(f) and f != "h"] == side.close_frames(4000, "bye")
    finally:
        client.close()


def test_restart_keeps_the_port_and_the_tokens(side: Any, emu: Any) -> None:
    url, token = emu.url, side.token(emu)
    client = side.stream(emu, token)
    try:
        emu.restart()
        assert emu.url == url
        _, close = client.ended()
        assert close is None  # cut, as when a server process dies
        again = side.stream(emu, token)  # same URL, a token issued before the restart
        again.close()
        assert emu.connections == 2
    finally:
        client.close()


def test_takeover_sends_exactly_the_takeover_frames(side: Any, emu: Any) -> None:
    client = side.connect(emu)  # nothing subscribed, so nothing else is in flight
    try:
        emu.takeover()
        frames, close = client.ended()
        assert frames == side.takeover_frames
        assert close is not None and (close.code, close.reason) == side.takeover_close
    finally:
        client.close()


def test_exclusive_login_takes_over_the_older_session(side: Any) -> None:
    with side.emulator(exclusive=True) as emu:
        first = side.stream(emu)
        second = side.stream(emu)  # logs in, subscribes and gets data: untouched
        try:
            frames, close = first.ended()
            assert frames[-len(side.takeover_frames):] == side.takeover_frames
            assert close is not None and (close.code, close.reason) == side.takeover_close
            assert emu.wait_for(lambda: emu.open_connections == 1)
            second.until(_data)
        finally:
            first.close()
            second.close()


def test_not_exclusive_by_default(side: Any, emu: Any) -> None:
    first = side.stream(emu)
    second = side.connect(emu)
    try:
        first.until(_data)
        assert emu.open_connections == 2
    finally:
        first.close()
        second.close()


# -- refuse_auth and expire_token speak each protocol ---------------------------------------

def test_dxlink_refuse_auth() -> None:
    with DxSide().emulator() as emu:
        emu.refuse_auth = True
        client = DxClient(emu.url)
        try:
            assert client.login(emu.token)["state"] == "UNAUTHORIZED"
        finally:
            client.close()
        reply = _http("POST", emu.api_url + "/sessions", json={"login": emu.username, "password": emu.password},
                      headers={"User-Agent": "test/1"})
        assert reply.status_code == 401 and reply.json()["error"]["code"] == "invalid_credentials"


def test_tradovate_refuse_auth() -> None:
    with TvSide().emulator() as emu:
        token = tv_token(emu)
        emu.refuse_auth = True
        body = _http("POST", emu.api_url + "/auth/accesstokenrequest",
                     json={"name": emu.username, "password": emu.password}).json()
        assert set(body) == {"errorText"}
        client = TvClient(emu.url)
        try:
            assert client.request("authorize", 0, token) == {"i": 0, "s": 401, "d": "Invalid access token"}
        finally:
            client.close()


def test_dxlink_expire_token() -> None:
    with DxSide().emulator() as emu:
        old = DxSide().token(emu)
        client = DxSide().stream(emu, old)
        try:
            emu.expire_token()
            client.until_msg(lambda m: m == {"type": "AUTH_STATE", "channel": 0, "state": "UNAUTHORIZED"})
            client.send(type="AUTH", channel=0, token=old)
            client.until_msg(lambda m: m.get("state") == "UNAUTHORIZED")
            client.send(type="AUTH", channel=0, token=DxSide().token(emu))  # REST issues a fresh one
            client.until_msg(lambda m: m.get("state") == "AUTHORIZED")
        finally:
            client.close()


def test_tradovate_expire_token_keeps_open_sockets() -> None:
    with TvSide().emulator() as emu:
        token = tv_token(emu)
        client = TvSide().stream(emu, token)
        try:
            emu.expire_token()
            client.item(lambda i: i.get("e") == "md")  # an authorized socket stays open
            renew = _http("GET", emu.api_url + "/auth/renewaccesstoken", headers={"Authorization": f"Bearer {token}"})
            assert renew.status_code == 401
            again = TvClient(emu.url)
            assert again.request("authorize", 0, token)["s"] == 401
            again.close()
        finally:
            client.close()


# -- the universe -----------------------------------------------------------------------------

KNOWN_DX = ["SPY", "A", "BRK/B", "$SPX", "/ESZ26:XCME", "/6EH27", ".SPY261218C500", ".AAPL270115P187.5",
            "BTC/USD:CXTALP"]
UNKNOWN_DX = ["SYM1", "NOPE", "ESZ6", "/ESZ26:XNYM", "/XXZ26", ".SPY261318C500", ".NOPE261218C5"]


@pytest.mark.parametrize("symbol", KNOWN_DX + ["SPY{=5m}", "/ESZ26:XCME{=1h,tho=true}"])
def test_known_dxfeed_symbols(symbol: str) -> None:
    assert universe.is_dxfeed_symbol(symbol)


@pytest.mark.parametrize("symbol", UNKNOWN_DX + ["NOPE{=5m}", ""])
def test_unknown_dxfeed_symbols(symbol: str) -> None:
    assert not universe.is_dxfeed_symbol(symbol)


@pytest.mark.parametrize("name,known", [("ESZ6", True), ("ESZ26", True), ("NQH7", True), ("MESZ6", True),
                                        ("CLZ6", True), ("6EZ6", True), ("GCZ6", True), ("M2KU5", True),
                                        ("NOPE9", False), ("ESA6", False), ("ES", False), ("ESZ", False),
                                        ("ESZ266", False), ("VXZ6", False), ("/ESZ26", False)])
def test_tradovate_contract_names(name: str, known: bool) -> None:
    assert universe.is_tradovate_contract(name) is known


def test_sample_gives_distinct_known_names() -> None:
    names = universe.sample(400, start="SPY")
    assert names[0] == "SPY" and len(set(names)) == 400
    assert all(universe.is_dxfeed_symbol(s) for s in names)


def test_dxlink_unknown_symbols_are_accepted_and_never_get_data() -> None:
    with DXLinkEmulator(tick=TICK, known_symbols={"SYM1"}) as emu:
        emu.unknown_symbols.add("A")
        client = DxClient(emu.url)
        try:
            client.login(emu.token)
            symbols = KNOWN_DX + UNKNOWN_DX
            client.feed([("Quote", s) for s in symbols] + [("Candle", "SPY{=5m}"), ("Candle", "NOPE{=5m}")])
            seen = {e["eventSymbol"] for e in client.events(6)}
            assert seen == (set(KNOWN_DX) - {"A"}) | {"SYM1", "SPY{=5m}"}
        finally:
            client.close()


def test_tradovate_unknown_contract_fails_lookup_and_subscription() -> None:
    with TvSide().emulator() as emu:
        token = tv_token(emu)
        auth = {"Authorization": f"Bearer {token}"}
        bad = _http("GET", emu.api_url + "/contract/find", params={"name": "NOPE9"}, headers=auth)
        assert bad.status_code == 404 and bad.json() == {"errorText": "Contract not found: NOPE9"}
        good = _http("GET", emu.api_url + "/contract/find", params={"name": "ESZ6"}, headers=auth).json()
        assert good["name"] == "ESZ6" and good["id"] == emu.contract_id("ESZ6")
        client = TvSide().connect(emu, token)
        try:
            assert client.request("md/subscribeQuote", 1, '{"symbol":"NOPE9"}') == {
                "s": 200, "i": 1, "d": {"errorText": "Symbol is inaccessible", "errorCode": "UnknownSymbol",
                                        "mode": "None"}}
            assert client.request("md/subscribeQuote", 2, '{"symbol":"ESZ6"}') == {"s": 200, "i": 2}
            quote = client.item(lambda i: i.get("e") == "md")["d"]["quotes"][0]
            assert quote["contractId"] == good["id"]
        finally:
            client.close()


# -- Trade vs TradeETH --------------------------------------------------------------------------

def _clock_at(hour: int, minute: int = 0) -> Callable[[], float]:
    """A clock that starts at ``hour:minute`` UTC on a fixed day and runs."""
    start = dt.datetime(2026, 1, 6, hour, minute, tzinfo=dt.timezone.utc).timestamp()
    t0 = time.monotonic()
    return lambda: start + (time.monotonic() - t0)


def test_session_model() -> None:
    day = dt.datetime(2026, 1, 6, tzinfo=dt.timezone.utc).timestamp()
    assert not in_regular_hours(day + 13.5 * 3600 - 1) and in_regular_hours(day + 13.5 * 3600)
    assert in_regular_hours(day + 20 * 3600 - 1) and not in_regular_hours(day + 20 * 3600)
    assert last_regular_time(day + 22 * 3600) == pytest.approx(day + 20 * 3600 - 0.1)
    assert last_regular_time(day + 3600) == pytest.approx(day - 4 * 3600 - 0.1)
    assert last_extended_time(day + 15 * 3600) == pytest.approx(day + 13.5 * 3600 - 0.1)
    assert last_extended_time(day + 22 * 3600) == day + 22 * 3600


@pytest.mark.parametrize("hour", [15, 22], ids=["regular", "extended"])
def test_each_trade_is_sent_once_as_trade_or_trade_eth(hour: int) -> None:
    regular = hour == 15
    with DXLinkEmulator(tick=TICK, clock=_clock_at(hour)) as emu:
        client = DxClient(emu.url)
        try:
            client.login(emu.token)
            client.feed([(t, s) for t in ("Trade", "TradeETH") for s in ("SPY", "/ESZ26:XCME")])
            events = client.events(8)
        finally:
            client.close()
    spy = [e for e in events if e["eventSymbol"] == "SPY"]
    live, other = ("Trade", "TradeETH") if regular else ("TradeETH", "Trade")
    # the subscription starts with the latest of each type; after that only `live` trades
    assert [e["eventType"] for e in spy].count(other) == 1
    snap = next(e for e in spy if e["eventType"] == other)
    assert in_regular_hours(snap["time"] / 1000) is (other == "Trade")
    lives = [e for e in spy if e["eventType"] == live]
    assert len(lives) >= 5 and all(in_regular_hours(e["time"] / 1000) is regular for e in lives)
    times = {kind: {e["time"] for e in spy if e["eventType"] == kind} for kind in ("Trade", "TradeETH")}
    assert not times["Trade"] & times["TradeETH"]  # no trade is sent as both types
    assert all(e["extendedTradingHours"] is (e["eventType"] == "TradeETH") for e in spy)
    future = [e for e in events if e["eventSymbol"] == "/ESZ26:XCME"]
    assert future and all(e["eventType"] == "Trade" for e in future)


# -- benchmarks' streams ------------------------------------------------------------------------

def _compact_symbols(frame: str, fields: List[str]) -> List[str]:
    """The eventSymbol of every event in a COMPACT Quote FEED_DATA frame."""
    values = json.loads(frame)["data"][1]
    at = fields.index("eventSymbol")
    return [values[i + at] for i in range(0, len(values), len(fields))]


def test_blast_and_pace_send_any_names() -> None:
    with DXLinkEmulator(tick=3600.0) as emu:  # one tick at the start, then only the streams
        client = DxClient(emu.url)
        try:
            client.login(emu.token)
            client.feed([("Quote", "SPY")], fmt="COMPACT")
            fields = client.until_msg(lambda m: "eventFields" in m)["eventFields"]["Quote"]
            names = ["SYM0", "SYM1", "SYM2"]
            emu.blast(300, k=10, symbols=names)
            frames = [f for f in iter(lambda: client.recv(0.5), None) if '"FEED_DATA"' in f]
            blasted = [s for f in frames for s in _compact_symbols(f, fields) if s != "SPY"]
            assert len(blasted) == 300 and set(blasted) == set(names)
            emu.pace(500, 0.1, symbols=["L0"])
            frames = [f for f in iter(lambda: client.recv(0.5), None) if '"FEED_DATA"' in f]
            assert [s for f in frames for s in _compact_symbols(f, fields)] == ["L0"] * 50
            emu.pace(500, 0.1, symbols=["L1"], burst=5)  # the same mean rate, five frames at a time
            frames = [f for f in iter(lambda: client.recv(0.5), None) if '"FEED_DATA"' in f]
            assert [s for f in frames for s in _compact_symbols(f, fields)] == ["L1"] * 50
            for bad in ({"burst": 0}, {"k": 0}, {"rate": 0.0}):
                with pytest.raises(ValueError, match="pace needs"):
                    emu.pace(**{"rate": 500.0, "seconds": 0.1, **bad})  # type: ignore[arg-type]
        finally:
            client.close()


# -- structure ----------------------------------------------------------------------------------

TESTING = pathlib.Path(__file__).resolve().parents[2] / "mdsdk" / "testing"


def test_no_module_reaches_into_another_objects_private_attributes() -> None:
    offences = []
    for path in sorted(TESTING.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                owner = node.value
                if not (isinstance(owner, ast.Name) and owner.id in ("self", "cls")):
                    offences.append(f"{path.name}:{node.lineno} .{node.attr}")
    assert not offences


def test_modules_and_functions_stay_small() -> None:
    for path in sorted(TESTING.glob("*.py")):
        tree = ast.parse(path.read_text())
        assert len(path.read_text().splitlines()) < 600, path.name
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                assert node.end_lineno is not None and node.end_lineno - node.lineno < 40, (path.name, node.name)


TV_HOSTILE = [
    ("md/getchart", '{"symbol":"ESZ6","chartDescription":{"underlyingType":"MinuteBar","elementSize":"abc"}}'),
    ("md/getchart", '{"symbol":"ESZ6","chartDescription":{"underlyingType":"MinuteBar","elementSize":0}}'),
    ("md/getchart", '{"symbol":"ESZ6","chartDescription":{"underlyingType":"MinuteBar","elementSize":-5}}'),
    ("md/getchart", '{"symbol":"ESZ6","chartDescription":5}'),
    ("md/getchart", '{"symbol":"ESZ6","chartDescription":{"underlyingType":"MinuteBar"},"timeRange":7}'),
    ("md/getchart", '{"symbol":"ESZ6","timeRange":{"closestTimestamp":"0001-01-01T00:00:00Z",'
                    '"asMuchAsElements":100000000000000000000}}'),
    ("md/subscribequote", "[" * 100_000),
    ("md/subscribequote", '{"symbol":["ESZ6"]}'),
    ("md/subscribequote", '{"symbol":1e999}'),
    ("md/cancelchart", '{"subscriptionId":[1]}'),
]


def test_the_tradovate_emulator_answers_hostile_requests_and_keeps_the_session() -> None:
    with TvSide().emulator() as emu:
        token = tv_token(emu)
        client = TvClient(emu.url)
        try:
            assert client.request("authorize", 0, token)["s"] == 200
            for rid, (endpoint, body) in enumerate(TV_HOSTILE, 1):
                answer = client.request(endpoint, rid, body)
                assert answer["s"] in (200, 400), (endpoint, body, answer)
            ok = client.request("md/subscribeQuote", 99, '{"symbol":"ESZ6"}')
            assert ok == {"s": 200, "i": 99}
        finally:
            client.close()
