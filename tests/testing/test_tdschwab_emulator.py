"""The TDA/Schwab emulator on its own, over real sockets with plain clients
(websockets' sync client and requests, never mdsdk's client code), plus the
peer-client acceptance: schwab-py's StreamClient logs in, subscribes and
receives level-one quotes from it unmodified."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import time
from typing import Any, Dict, Iterator, List, Optional
from urllib.parse import urlencode

import pytest
from websockets.exceptions import ConnectionClosed

from mdsdk.testing import SchwabEmulator, TDAEmulator, TDSchwabEmulator
from tests.testing.plain_http import http as _http
from tests.testing.wsclient import WsClient

CORREL = "5be0b7e7-5b8b-4fd3-9bed-7f49106cfe96"



class Client(WsClient):
    """A plain streamer client."""

    def __init__(self, emu: TDSchwabEmulator) -> None:
        super().__init__(emu.url)
        self.emu = emu
        self.rid = 0

    def send(self, service: str, command: str, parameters: Dict[str, Any], rid: Any = None) -> str:
        """Send one command in the ``requests`` envelope; returns its request id."""
        rid = str(self.rid) if rid is None else rid
        self.rid += 1
        req: Dict[str, Any] = {"service": service, "requestid": rid, "command": command}
        if self.emu.variant == "schwab":
            req.update({"SchwabClientCustomerId": self.emu.customer_id, "SchwabClientCorrelId": CORREL})
        else:
            req.update({"account": self.emu.account_id, "source": "MDSDK"})
        req["parameters"] = parameters
        self.ws.send(json.dumps({"requests": [req]}))
        return str(rid)

    def response(self, rid: str, timeout: float = 5.0) -> Dict[str, Any]:
        doc = self.until_json(lambda d: "response" in d and d["response"][0]["requestid"] == rid, timeout)
        item: Dict[str, Any] = doc["response"][0]
        return item

    def login_parameters(self, token: Optional[str] = None) -> Dict[str, Any]:
        """The LOGIN ``parameters`` of this variant."""
        token = token or self.emu.access_token
        if self.emu.variant == "schwab":
            return {"Authorization": token, "SchwabClientChannel": "N9", "SchwabClientFunctionId": "APIAPP"}
        cred = urlencode([("userid", self.emu.account_id), ("token", token), ("company", "AMER"),
                          ("segment", "AMER"), ("cddomain", "A0"), ("usergroup", "ACCT"),
                          ("accesslevel", "ACCT"), ("authorized", "Y"), ("timestamp", "1590113568000"),
                          ("appid", "MDSDK"), ("acl", "DRMFQSTK")])
        return {"credential": cred, "token": token, "version": "1.0"}

    def login(self, token: Optional[str] = None) -> Dict[str, Any]:
        return self.response(self.send("ADMIN", "LOGIN", self.login_parameters(token)))

    def closed(self, timeout: float = 5.0) -> bool:
        """True once the server has closed the socket."""
        self.ended(timeout)
        return True


@pytest.fixture(params=["schwab", "tda"])
def emu(request: pytest.FixtureRequest) -> Iterator[TDSchwabEmulator]:
    with TDSchwabEmulator(request.param, tick=0.05, heartbeat_interval=0.3, empty_timeout=60.0) as e:
        yield e


@pytest.fixture
def schwab() -> Iterator[TDSchwabEmulator]:
    with SchwabEmulator(tick=0.05, heartbeat_interval=0.3, empty_timeout=60.0) as e:
        yield e


def _client(emu: TDSchwabEmulator, clients: List[Client]) -> Client:
    c = Client(emu)
    clients.append(c)
    return c


def _l1(emu: TDSchwabEmulator) -> str:
    return "LEVELONE_EQUITIES" if emu.variant == "schwab" else "QUOTE"


# -- REST
def test_streamer_info_rest(emu: TDSchwabEmulator) -> None:
    auth = {"Authorization": f"Bearer {emu.access_token}"}
    if emu.variant == "schwab":
        body = _http("GET", emu.api_url + "/trader/v1/userPreference", headers=auth).json()
        info = body["streamerInfo"][0]
        assert info["streamerSocketUrl"] == emu.url and info["schwabClientChannel"] == "N9"
        assert body["accounts"][0]["accountNumber"] == emu.account_id
        bad = _http("GET", emu.api_url + "/trader/v1/userPreference", headers={"Authorization": "Bearer nope"})
    else:
        url = emu.api_url + "/v1/userprincipals?fields=streamerSubscriptionKeys,streamerConnectionInfo"
        body = _http("GET", url, headers=auth).json()
        assert body["streamerInfo"]["streamerSocketUrl"] == emu.url  # plain ws: the full URL
        assert emu.accepts_token(body["streamerInfo"]["token"])
        assert body["streamerSubscriptionKeys"]["keys"][0]["key"] == emu.subscription_key
        assert body["accounts"][0]["accountId"] == emu.account_id
        bad = _http("GET", url, headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401


def test_token_refresh_good_and_refused(emu: TDSchwabEmulator) -> None:
    form = {"grant_type": "refresh_token", "refresh_token": emu.refresh_token}
    headers: Dict[str, str] = {}
    if emu.variant == "schwab":
        headers["Authorization"] = "Basic " + base64.b64encode(f"{emu.app_key}:{emu.app_secret}".encode()).decode()
    else:
        form["client_id"] = emu.app_key + "@AMER.OAUTHAP"
    r = _http("POST", emu.token_url, data=form, headers=headers)
    assert r.status_code == 200
    body = r.json()
    assert body["expires_in"] == 1800 and body["token_type"] == "Bearer"
    assert emu.accepts_token(body["access_token"])
    emu.expire_refresh_token()
    refused = _http("POST", emu.token_url, data=form, headers=headers)
    assert refused.status_code == 400 and "error" in refused.json()
    if emu.variant == "schwab":
        wrong = _http("POST", emu.token_url, data=form, headers={"Authorization": "Basic " + base64.b64encode(
            b"other:secret").decode()})
        assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"


def test_expire_token_makes_rest_401(emu: TDSchwabEmulator) -> None:
    emu.expire_token()
    path = "/trader/v1/userPreference" if emu.variant == "schwab" else "/v1/userprincipals"
    r = _http("GET", emu.api_url + path, headers={"Authorization": f"Bearer {emu.access_token}"})
    assert r.status_code == 401


def test_price_history_shape(emu: TDSchwabEmulator) -> None:
    now_ms = int(time.time() * 1000)
    q = {"periodType": "day", "frequencyType": "minute", "frequency": "5", "startDate": str(now_ms - 86400000),
         "endDate": str(now_ms)}
    auth = {"Authorization": f"Bearer {emu.access_token}"}
    if emu.variant == "schwab":
        url = emu.api_url + "/marketdata/v1/pricehistory"
        body = _http("GET", url, params={**q, "symbol": "AAPL"}, headers=auth).json()
        unknown = _http("GET", url, params={**q, "symbol": emu.unknown_symbol}, headers=auth).json()
    else:
        body = _http("GET", emu.api_url + "/v1/marketdata/AAPL/pricehistory", params=q, headers=auth).json()
        unknown = _http("GET", emu.api_url + f"/v1/marketdata/{emu.unknown_symbol}/pricehistory", params=q,
                        headers=auth).json()
    assert body["symbol"] == "AAPL" and body["empty"] is False and len(body["candles"]) > 100
    candle = body["candles"][0]
    assert set(candle) == {"open", "high", "low", "close", "volume", "datetime"}
    assert candle["low"] <= candle["open"] <= candle["high"] and candle["datetime"] % 300000 == 0
    assert unknown == {"symbol": emu.unknown_symbol, "empty": True, "candles": []}


# -- WebSocket
def test_login_good_then_heartbeats(emu: TDSchwabEmulator, clients: List[Client]) -> None:
    c = _client(emu, clients)
    ack = c.login()
    assert ack["content"]["code"] == 0 and ack["service"] == "ADMIN" and ack["command"] == "LOGIN"
    if emu.variant == "schwab":
        assert ack["SchwabClientCorrelId"] == CORREL and ack["content"]["msg"].startswith("server=")
    beats = [c.until_json(lambda d: "heartbeat" in d.get("notify", [{}])[0]) for _ in range(2)]
    assert all(isinstance(b["notify"][0]["heartbeat"], str) for b in beats)


def test_login_denied_code_3_then_close(emu: TDSchwabEmulator, clients: List[Client]) -> None:
    c = _client(emu, clients)
    ack = c.login("not-a-token")
    assert ack["content"] == {"code": 3, "msg": "Login Denied.: token is invalid or has expired."}
    assert c.closed()


def test_command_before_login_is_code_20(emu: TDSchwabEmulator, clients: List[Client]) -> None:
    c = _client(emu, clients)
    rid = c.send(_l1(emu), "SUBS", {"keys": "AAPL", "fields": "0,1,2"})
    assert c.response(rid)["content"]["code"] == 20
    assert c.login()["content"]["code"] == 0  # the socket stayed open


def test_subs_then_data_with_deltas(emu: TDSchwabEmulator, clients: List[Client]) -> None:
    c = _client(emu, clients)
    c.login()
    service = _l1(emu)
    rid = c.send(service, "SUBS", {"keys": "AAPL,MSFT," + emu.unknown_symbol, "fields": "0,1,2,3,8"}, rid=7)
    ack = c.response(rid)
    assert ack["requestid"] == "7" and ack["content"] == {"code": 0, "msg": "SUBS command succeeded"}
    seen: Dict[str, List[Dict[str, Any]]] = {}

    def enough(doc: Dict[str, Any]) -> bool:
        for block in doc.get("data", []):
            assert block["service"] == service
            for item in block["content"]:
                seen.setdefault(item["key"], []).append(item)
        return all(len(seen.get(k, [])) >= 3 for k in ("AAPL", "MSFT"))
    c.until_json(enough, timeout=10)
    assert emu.unknown_symbol not in seen
    first, later = seen["AAPL"][0], seen["AAPL"][1:]
    assert {"1", "2", "3", "8", "assetMainType", "delayed"} <= set(first)
    assert all(set(i) - {"key"} <= {"1", "2", "3", "8"} and len(i) > 1 for i in later)
    assert any(len(i) < len(first) for i in later)


def test_several_keys_per_block_and_blocks_per_frame(schwab: TDSchwabEmulator, clients: List[Client]) -> None:
    c = _client(schwab, clients)
    c.login()
    # Quote times change every tick, so every tick carries both blocks.
    c.response(c.send("LEVELONE_EQUITIES", "SUBS", {"keys": "AAPL,MSFT", "fields": "0,1,2,34"}))
    c.response(c.send("LEVELONE_FUTURES", "SUBS", {"keys": "/ESZ24", "fields": "0,1,2,10"}))
    frame = c.until_json(lambda d: len(d.get("data", [])) == 2)
    services = {b["service"] for b in frame["data"]}
    assert services == {"LEVELONE_EQUITIES", "LEVELONE_FUTURES"}
    raw = c.until_json(lambda d: any(len(b["content"]) == 2 for b in d.get("data", [])))
    assert raw  # two keys in one block
    text = None
    while text is None or '"data"' not in text:
        text = c.recv(5)
    assert '"service":"LEVELONE_' in text and '", "timestamp":' in text  # the observed spacing


def test_unknown_service_code_11_and_unsubs(schwab: TDSchwabEmulator, clients: List[Client]) -> None:
    c = _client(schwab, clients)
    c.login()
    assert c.response(c.send("TIMESALE_EQUITY", "SUBS", {"keys": "AAPL", "fields": "0,1"}))["content"]["code"] == 11
    c.response(c.send("LEVELONE_EQUITIES", "SUBS", {"keys": "AAPL,MSFT", "fields": "0,1,34"}))
    ack = c.response(c.send("LEVELONE_EQUITIES", "UNSUBS", {"keys": "AAPL"}))
    assert ack["content"] == {"code": 0, "msg": "UNSUBS command succeeded"}
    keys: set = set()
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        text = c.recv(0.2)
        for block in json.loads(text).get("data", []) if text else []:
            keys |= {i["key"] for i in block["content"]}
    assert keys == {"MSFT"}


def test_symbol_limit_code_19(clients: List[Client]) -> None:
    with SchwabEmulator(max_symbols=2, empty_timeout=60.0) as emu:
        c = _client(emu, clients)
        c.login()
        ack = c.response(c.send("LEVELONE_EQUITIES", "SUBS", {"keys": "AAPL,MSFT,IBM", "fields": "0,1"}))
        assert ack["content"]["code"] == 19
        c.close()


def test_correl_id_change_is_code_20(schwab: TDSchwabEmulator, clients: List[Client]) -> None:
    c = _client(schwab, clients)
    c.login()
    req = {"service": "LEVELONE_EQUITIES", "requestid": "5", "command": "SUBS", "SchwabClientCustomerId":
           schwab.customer_id, "SchwabClientCorrelId": "other", "parameters": {"keys": "AAPL", "fields": "0,1"}}
    c.ws.send(json.dumps({"requests": [req]}))
    assert c.response("5")["content"]["code"] == 20


def test_tda_qos(clients: List[Client]) -> None:
    with TDAEmulator(tick=0.05, empty_timeout=60.0) as emu:
        c = _client(emu, clients)
        c.login()
        ack = c.response(c.send("ADMIN", "QOS", {"qoslevel": "0"}))
        assert ack["content"]["code"] == 0 and ack["command"] == "QOS"
        c.close()


def test_empty_subscription_watchdog_code_30(clients: List[Client]) -> None:
    with SchwabEmulator(empty_timeout=0.5, heartbeat_interval=10.0) as emu:
        c = _client(emu, clients)
        c.login()
        doc = c.until_json(lambda d: d.get("notify", [{}])[0].get("service") == "ADMIN", timeout=10)
        assert doc["notify"][0]["content"] == {"code": 30, "msg": "Stop streaming due to empty subscription"}
        assert c.closed()
        c.close()


@pytest.mark.parametrize("variant", ["schwab", "tda"])
def test_takeover_on_second_login(variant: str, clients: List[Client]) -> None:
    with TDSchwabEmulator(variant, empty_timeout=60.0) as emu:
        old, new = _client(emu, clients), _client(emu, clients)
        old.login()
        new.login()
        if variant == "schwab":
            doc = old.until_json(lambda d: "notify" in d and "content" in d["notify"][0])
            assert doc["notify"][0]["content"]["code"] == 12
            assert doc["notify"][0]["service"] == "Invalid Service"
        assert old.closed()
        assert old.ws.close_code == 1000
        assert emu.wait_for(lambda: emu.open_connections == 1)
        for c in (old, new):
            c.close()


def test_simultaneous_logins_leave_exactly_one_stream(clients: List[Client]) -> None:
    # Both LOGINs are in flight at once, so the two handler threads race; a takeover that picked its
    # victims apart from marking itself logged in could end both streams.
    with TDAEmulator(empty_timeout=60.0) as emu:
        for _ in range(10):
            pair = [_client(emu, clients), _client(emu, clients)]
            rids = [c.send("ADMIN", "LOGIN", c.login_parameters()) for c in pair]
            for c, rid in zip(pair, rids):
                try:
                    c.response(rid)
                except ConnectionClosed:
                    pass  # taken over before its reply was read
            assert emu.wait_for(lambda: emu.open_connections == 1)
            for c in pair:
                c.close()
            assert emu.wait_for(lambda: emu.open_connections == 0)


def test_invalid_json_on_demand(schwab: TDSchwabEmulator, clients: List[Client]) -> None:
    c = _client(schwab, clients)
    c.login()
    schwab.invalid_json()
    deadline = time.monotonic() + 5
    bad = None
    while bad is None and time.monotonic() < deadline:
        text = c.recv(0.5)
        if text is not None and '"data"' in text:
            bad = text
    assert bad is not None
    with pytest.raises(json.JSONDecodeError):
        json.loads(bad)
    repaired = json.loads(bad.replace("\\\\", "\\"))
    assert repaired["data"][0]["content"][0]["15"] == 'The "quoted" name'


def test_logout(schwab: TDSchwabEmulator, clients: List[Client]) -> None:
    c = _client(schwab, clients)
    c.login()
    assert c.response(c.send("ADMIN", "LOGOUT", {}))["content"] == {"code": 0, "msg": "SUCCESS"}
    assert c.closed()


def test_expired_token_login_denied_and_stream_closed(schwab: TDSchwabEmulator, clients: List[Client]) -> None:
    c = _client(schwab, clients)
    c.login()
    c.response(c.send("LEVELONE_EQUITIES", "SUBS", {"keys": "AAPL", "fields": "0,1"}))
    schwab.expire_token()
    assert c.closed()
    again = _client(schwab, clients)
    assert again.login()["content"]["code"] == 3


def test_slow_reader_is_cut() -> None:
    with SchwabEmulator(tick=0.005, empty_timeout=60.0) as emu:
        emu.slow_reader_bytes = 64 * 1024
        emu.burst = 50
        sock = socket.create_connection(("127.0.0.1", int(emu.url.rsplit(":", 1)[1].split("/")[0])))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        try:
            key = base64.b64encode(b"0123456789abcdef").decode()
            sock.sendall(f"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
            login = {"requests": [{"service": "ADMIN", "requestid": "0", "command": "LOGIN",
                                   "SchwabClientCustomerId": emu.customer_id, "SchwabClientCorrelId": CORREL,
                                   "parameters": {"Authorization": emu.access_token}}]}
            subs = {"requests": [{"service": "LEVELONE_EQUITIES", "requestid": "1", "command": "SUBS",
                                  "SchwabClientCustomerId": emu.customer_id, "SchwabClientCorrelId": CORREL,
                                  "parameters": {"keys": "AAPL,MSFT,IBM,SPY,QQQ", "fields": "0,1,2,3"}}]}
            for doc in (login, subs):
                sock.sendall(_masked(json.dumps(doc).encode()))
            # Never read: the server's backlog grows until it gives up on us.
            assert emu.wait_for(lambda: emu.connections == 1 and emu.open_connections == 0, timeout=20)
        finally:
            sock.close()


def _masked(payload: bytes) -> bytes:
    """One masked client text frame."""
    mask = b"\x01\x02\x03\x04"
    n = len(payload)
    head = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + n.to_bytes(2, "big"))
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


# -- the common fault surface
def test_drop_inject_close_with_restart(schwab: TDSchwabEmulator, clients: List[Client]) -> None:
    c = _client(schwab, clients)
    c.login()
    schwab.inject('{"notify":[{"heartbeat":"1"}]}')
    c.until_json(lambda d: d.get("notify", [{}])[0].get("heartbeat") == "1")
    schwab.drop()
    assert c.closed()
    c2 = _client(schwab, clients)
    c2.login()
    schwab.close_with(1001, "bye")
    assert c2.closed() and c2.ws.close_code == 1001
    schwab.restart()
    c3 = _client(schwab, clients)
    assert c3.login()["content"]["code"] == 0
    schwab.refuse_auth = True
    c4 = _client(schwab, clients)
    assert c4.login()["content"]["code"] == 3


def test_stall(schwab: TDSchwabEmulator, clients: List[Client]) -> None:
    c = _client(schwab, clients)
    c.login()
    schwab.stall()
    time.sleep(0.3)  # frames already in flight may still arrive: drain them
    while c.recv(0.05) is not None:
        pass
    assert c.recv(0.8) is None  # no heartbeat, no data


# -- the peer client nobody here wrote
def test_schwab_py_stream_client_accepts_the_emulator(schwab: TDSchwabEmulator) -> None:
    """schwab-py's own StreamClient, with its real Client whose base URL is the emulator's api_url (requests for
    https://api.schwabapi.com are sent there), refreshes its token, logs in, subscribes and gets quotes."""
    pytest.importorskip("schwab", reason="schwab-py (module schwab) is not installed: the peer-client check needs it")
    import httpx
    from authlib.integrations.httpx_client import OAuth2Client
    from schwab.auth import TOKEN_ENDPOINT, TokenMetadata
    from schwab.client import Client as SchwabClient
    from schwab.streaming import StreamClient

    class Rebase(httpx.HTTPTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            base = httpx.URL(schwab.api_url)
            request.url = request.url.copy_with(scheme=base.scheme, host=base.host, port=base.port)
            return super().handle_request(request)

    tf = schwab.token_file()
    tf["token"]["expires_at"] = int(time.time()) - 10  # stale: schwab-py must refresh through the emulator
    meta = TokenMetadata(tf["token"], tf["creation_timestamp"], lambda *a, **k: None)
    session = OAuth2Client(schwab.app_key, client_secret=schwab.app_secret, token=tf["token"],
                           token_endpoint=TOKEN_ENDPOINT, update_token=meta.wrapped_token_write_func(),
                           leeway=300, transport=Rebase(), trust_env=False)
    got: List[Dict[str, Any]] = []

    async def run() -> None:
        stream = StreamClient(SchwabClient(schwab.app_key, session, token_metadata=meta))
        await stream.login()
        stream.add_level_one_equity_handler(got.append)
        await stream.level_one_equity_subs(["AAPL", "MSFT"])
        while sum(len(m["content"]) for m in got) < 4:
            await asyncio.wait_for(stream.handle_message(), 10)
        await stream.logout()
    try:
        asyncio.run(run())
    finally:
        session.close()
    assert ("POST", "/v1/oauth/token") in schwab.rest_calls
    first = next(i for m in got for i in m["content"] if i["key"] == "AAPL")
    assert first["BID_PRICE"] < first["ASK_PRICE"] and first["assetMainType"] == "EQUITY"
