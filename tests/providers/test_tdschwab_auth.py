"""TDA/Schwab OAuth and price history: token sources, the schwab-py token file (read, refreshed, written back
atomically), refresh ahead of expiry on the protocol clock, a refused refresh, redaction, and history for both
variants from the recorded REST answers, through the protocol's REST path answered by a scripted peer."""

from __future__ import annotations

import base64
import json
import os
import stat
from typing import Any, Dict, List, Mapping, Optional, Tuple

import pytest

from mdsdk.errors import (AuthenticationError, ConfigurationError, ProviderError, RateLimitedError,
                          UnsupportedError)
from mdsdk.events import Bar, Status
from mdsdk.frames import bars_to_frame
from mdsdk.intervals import parse_interval
from mdsdk.series import BarSeries
from mdsdk.providers.base import (Fatal, History, HistoryResult, HttpRequest, HttpResponse, Reconnect, Reply,
                                  resolve_options)
from mdsdk.providers.tdschwab import SCHWAB_SPEC, TDA_SPEC, StoredToken, TDSchwabProtocol, TokenFile, TokenKeeper
from mdsdk.providers.tdschwab.auth import parse_token_document, refresh_request
from mdsdk.providers.tdschwab.history import INTERVALS, history_request, parse_history
from mdsdk.providers.tdschwab.variants import SCHWAB, TDA, Variant

from ..conftest import fixture_lines
from .conformance import T0
from .test_tdschwab_protocol import _PREFERENCES, _PRINCIPALS, SCHWAB_ID, TDA_ID, OneAtATime, StreamerPeer

ACCESS, REFRESH, ID_TOKEN = "acc-0ld-Tok3n", "refr3sh-T0ken-xyz", "id-t0ken-abc"
APP_KEY, APP_SECRET = "app-key-1234567890", "app-s3cret-0987654321"
CREATED = int(T0) - 3 * 86400


def _document(access: str = ACCESS, expires_at: float = T0 + 1800) -> Dict[str, Any]:
    """A token file exactly as schwab-py writes it (schwab/auth.py TokenMetadata.wrap_token_in_metadata around
    authlib's token: the endpoint's answer plus expires_at)."""
    return {"creation_timestamp": CREATED,
            "token": {"expires_in": 1800, "token_type": "Bearer", "scope": "api", "refresh_token": REFRESH,
                      "access_token": access, "id_token": ID_TOKEN, "expires_at": int(expires_at)}}


def _write(path: Any, doc: Any) -> str:
    path.write_text(json.dumps(doc))
    return str(path)


class OAuthPeer(StreamerPeer):
    """The streamer peer plus the REST side: the token endpoint (refresh grant with the app's credentials), the
    streamer info and price history, each answering only the current access token."""

    def __init__(self, variant: Variant, proto_factory: Any) -> None:
        super().__init__(variant, "", TDA_ID if variant is TDA else SCHWAB_ID)
        self.factory = proto_factory
        self.valid = {ACCESS}
        self.calls: List[HttpRequest] = []
        self.refused_refresh: Optional[Tuple[int, Dict[str, Any]]] = None
        self.history_body: Any = None
        self.issued = 0

    def new_protocol(self) -> TDSchwabProtocol:
        proto: TDSchwabProtocol = self.factory()
        return proto

    def _bearer_ok(self, req: HttpRequest) -> bool:
        return req.headers.get("Authorization", "")[7:] in self.valid

    def respond_http(self, req: HttpRequest) -> HttpResponse:
        self.calls.append(req)
        if req.method == "POST":
            return self._token(req)
        if not self._bearer_ok(req):
            return HttpResponse(401, {"message": "Invalid token " + req.headers.get("Authorization", "")})
        if "pricehistory" in req.path:
            return HttpResponse(200, self.history_body, json.dumps(self.history_body))
        info = _PRINCIPALS if self.variant is TDA else _PREFERENCES
        if self.variant is TDA:
            self.accept = info["streamerInfo"]["token"]  # type: ignore[index]
        else:
            self.accept = req.headers["Authorization"][7:]
        return HttpResponse(200, info)

    def _token(self, req: HttpRequest) -> HttpResponse:
        if self.refused_refresh is not None:
            return HttpResponse(self.refused_refresh[0], self.refused_refresh[1])
        form = dict(req.form or {})
        assert not req.params  # the grant travels in the body, where OAuth token endpoints read it
        assert form["grant_type"] == "refresh_token" and form["refresh_token"] == REFRESH
        if self.variant is SCHWAB:
            basic = base64.b64encode(f"{APP_KEY}:{APP_SECRET}".encode()).decode()
            assert req.path == "/v1/oauth/token" and req.headers["Authorization"] == "Basic " + basic
        else:
            assert req.path == "/v1/oauth2/token" and form["client_id"] == APP_KEY + "@AMER.OAUTHAP"
        self.issued += 1
        fresh = f"acc-new-{self.issued}"
        self.valid = {fresh}  # the old one dies: whatever uses it now fails
        return HttpResponse(200, {"expires_in": 1800, "token_type": "Bearer", "scope": "api",
                                  "refresh_token": REFRESH, "access_token": fresh, "id_token": ID_TOKEN})


def _keeper(variant: Variant, doc: Mapping[str, Any]) -> TokenKeeper:
    return TokenKeeper(variant, parse_token_document(doc, "test"), app_key=APP_KEY, app_secret=APP_SECRET)


def _proto(variant: Variant, path: Optional[str] = None, doc: Optional[Mapping[str, Any]] = None
           ) -> TDSchwabProtocol:
    tfile = TokenFile(path) if path else None
    keeper = _keeper(variant, tfile.load().document() if tfile else (doc or _document()))
    return TDSchwabProtocol(variant, oauth=keeper, token_file=tfile, qos="0")


def _connected(peer: OAuthPeer) -> OneAtATime:
    """A pair logged in: the REST login (a refresh, then the streamer info) answered to the end, then the socket."""
    pair = OneAtATime(peer)
    p = pair.proto
    p.endpoint(pair.now, int(pair.now * 1e9))
    _answer_rest(pair)
    pair.connect()
    return pair


def _answer_rest(pair: OneAtATime) -> None:
    for _ in range(10):
        calls = pair.proto.http_outgoing()
        if not calls:
            return
        for call_id, req in calls:
            pair.proto.http_response(call_id, pair.h.answer_http(req), pair.now, int(pair.now * 1e9))


def _config(spec: Any, environ: Optional[Dict[str, str]] = None, **kwargs: Any) -> TDSchwabProtocol:
    proto: TDSchwabProtocol = spec.make_protocol(resolve_options(spec.name, spec.options, kwargs, environ or {}))
    return proto


# ---------------------------------------------------------------- token sources
def test_an_explicit_access_token_beats_the_environment_which_beats_the_file(tmp_path: Any) -> None:
    path = _write(tmp_path / "token.json", _document())
    env = {"MDSDK_SCHWAB_ACCESS_TOKEN": "from-env"}
    assert _config(SCHWAB_SPEC, env, access_token="from-arg").oauth.token.access_token == "from-arg"  # type: ignore
    by_env = _config(SCHWAB_SPEC, env, token_path=path, app_key=APP_KEY, app_secret=APP_SECRET)
    assert by_env.oauth is not None and by_env.oauth.token.access_token == "from-env"
    assert by_env.oauth.token.refresh_token == REFRESH and by_env.oauth.can_refresh  # the file still refreshes
    by_file = _config(SCHWAB_SPEC, None, token_path=path, app_key=APP_KEY, app_secret=APP_SECRET)
    assert by_file.oauth is not None and by_file.oauth.token.access_token == ACCESS
    assert by_file.oauth.token.expires_at == T0 + 1800 and by_file.token_file is not None
    tda_env = _config(TDA_SPEC, {"MDSDK_TDA_ACCESS_TOKEN": "tda-env", "MDSDK_TDA_TOKEN_PATH": path})
    assert tda_env.oauth is not None and tda_env.oauth.token.access_token == "tda-env"
    assert by_file.api_url == "https://api.schwabapi.com" and tda_env.api_url == "https://api.tdameritrade.com"


def test_no_token_at_all_is_a_configuration_error_naming_the_options() -> None:
    with pytest.raises(ConfigurationError, match="MDSDK_SCHWAB_ACCESS_TOKEN.*token_path"):
        _config(SCHWAB_SPEC)


def test_token_file_shapes_schwab_py_wrapped_and_tda_api_legacy(tmp_path: Any) -> None:
    wrapped = TokenFile(_write(tmp_path / "a.json", _document())).load()
    assert (wrapped.access_token, wrapped.refresh_token, wrapped.creation_timestamp) == (ACCESS, REFRESH, CREATED)
    assert wrapped.wrapped and wrapped.fields["id_token"] == ID_TOKEN
    legacy = TokenFile(_write(tmp_path / "b.json", _document()["token"])).load()
    assert not legacy.wrapped and legacy.creation_timestamp is None and legacy.document() == _document()["token"]
    assert wrapped.document() == _document()


@pytest.mark.parametrize("content", ["not json", json.dumps({"token": {"x": 1}, "creation_timestamp": 1}), "[]"])
def test_a_bad_token_file_is_a_configuration_error_that_never_quotes_it(tmp_path: Any, content: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ConfigurationError) as err:
        TokenFile(str(path)).load()
    assert str(path) in str(err.value) and content[:6] not in str(err.value).replace(str(path), "")
    with pytest.raises(ConfigurationError, match="does not exist"):
        TokenFile(str(tmp_path / "missing.json")).load()


# ---------------------------------------------------------------- refresh and write-back
@pytest.mark.parametrize("variant", [SCHWAB, TDA], ids=["schwab", "tda"])
def test_an_expired_token_is_refreshed_before_login_and_written_back_atomically(tmp_path: Any,
                                                                                 variant: Variant) -> None:
    path = _write(tmp_path / "token.json", _document(expires_at=T0 - 5))
    os.chmod(path, 0o644)
    peer = OAuthPeer(variant, lambda: _proto(variant, path))
    pair = _connected(peer)
    assert pair.proto.ready and [c.method for c in peer.calls] == ["POST", "GET"]
    assert peer.calls[1].headers["Authorization"] == "Bearer acc-new-1"
    saved = json.loads((tmp_path / "token.json").read_text())
    assert saved["creation_timestamp"] == CREATED  # the refresh token's birth, as schwab-py keeps it
    token = saved["token"]
    assert token["access_token"] == "acc-new-1" and token["refresh_token"] == REFRESH
    assert token["expires_at"] == int(T0) + 1800 and token["id_token"] == ID_TOKEN and token["scope"] == "api"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert os.listdir(tmp_path) == ["token.json"]  # no temporary file left behind


def test_a_failed_write_keeps_the_old_file_whole_and_the_stream_going(tmp_path: Any,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path / "token.json", _document(expires_at=T0 - 5))
    before = (tmp_path / "token.json").read_text()

    def broken(src: str, dst: str) -> None:
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(os, "replace", broken)
    peer = OAuthPeer(SCHWAB, lambda: _proto(SCHWAB, path))
    pair = _connected(peer)
    assert pair.proto.ready and (tmp_path / "token.json").read_text() == before
    assert os.listdir(tmp_path) == ["token.json"]
    news = [e for e in pair.events if isinstance(e, Status)]
    assert any("could not write the refreshed token" in e.detail for e in news)
    assert not any("acc-new" in e.detail or REFRESH in e.detail for e in news)


@pytest.mark.parametrize("variant", [SCHWAB, TDA], ids=["schwab", "tda"])
def test_the_token_is_refreshed_before_it_expires_and_the_stream_never_drops(tmp_path: Any,
                                                                              variant: Variant) -> None:
    path = _write(tmp_path / "token.json", _document(expires_at=T0 + 1800))
    peer = OAuthPeer(variant, lambda: _proto(variant, path))
    pair = _connected(peer)
    p = pair.proto
    assert peer.calls[0].method == "GET" and p.auth.current is not None and p.auth.current.expires_at == T0 + 1800
    renew_at = p.auth.deadline
    assert renew_at is not None and T0 + 60 < renew_at < T0 + 1800 - 60  # ahead of expiry, not at the last second
    assert p.next_deadline() is not None and p.next_deadline() <= renew_at  # type: ignore[operator]
    pair.now = renew_at
    pair.receive('{"notify":[{"heartbeat":"1"}]}')  # the server kept talking meanwhile
    p.handle_timer(pair.now, int(pair.now * 1e9))
    _answer_rest(pair)
    pair.pump()
    assert p.token_renewals == 1 and peer.issued == 1
    ep = p.auth.current
    assert ep is not None and ep.rest_token == "acc-new-1" and ep.expires_at == renew_at + 1800
    assert ep.token == ("acc-new-1" if variant is SCHWAB else _PRINCIPALS["streamerInfo"]["token"])  # type: ignore
    assert not [s for s in pair.signals if isinstance(s, (Reconnect, Fatal))] and p.ready
    assert json.loads((tmp_path / "token.json").read_text())["token"]["access_token"] == f"acc-new-{peer.issued}"
    assert p.auth.deadline is not None and p.auth.deadline > pair.now + 60  # the next one is scheduled


@pytest.mark.parametrize("variant", [SCHWAB, TDA], ids=["schwab", "tda"])
def test_an_access_token_of_unknown_age_is_refreshed_first_when_it_can_be(tmp_path: Any, variant: Variant) -> None:
    path = _write(tmp_path / "token.json", _document())
    spec = SCHWAB_SPEC if variant is SCHWAB else TDA_SPEC
    peer = OAuthPeer(variant, lambda: _config(spec, access_token="acc-by-hand", token_path=path, app_key=APP_KEY,
                                              app_secret=APP_SECRET))
    peer.valid.add("acc-by-hand")
    pair = _connected(peer)  # not the file's token: it may be 29 of its 30 minutes old, no expiry is known
    p = pair.proto
    assert p.ready and [c.method for c in peer.calls] == ["POST", "GET"] and peer.issued == 1
    assert p.auth.current is not None and p.auth.current.expires_at == pair.now + 1800
    assert p.auth.deadline is not None and p.auth.deadline < pair.now + 1800  # the next refresh is scheduled
    fresh = _write(tmp_path / "again.json", _document())  # the first file now holds the refreshed token
    same = _config(spec, access_token=ACCESS, token_path=fresh, app_key=APP_KEY, app_secret=APP_SECRET)
    assert same.oauth is not None and same.oauth.token.expires_at == T0 + 1800  # the file's own: its expiry holds
    alone = OAuthPeer(variant, lambda: _config(spec, access_token=ACCESS))  # nothing to refresh it with
    assert _connected(alone).proto.ready and [c.method for c in alone.calls] == ["GET"] and alone.issued == 0


# ---------------------------------------------------------------- a refused refresh
@pytest.mark.parametrize("status", [400, 401])
def test_a_refused_refresh_at_login_is_final_and_says_to_recreate_the_token(tmp_path: Any, status: int) -> None:
    path = _write(tmp_path / "token.json", _document(expires_at=T0 - 5))
    peer = OAuthPeer(SCHWAB, lambda: _proto(SCHWAB, path))
    peer.refused_refresh = (status, {"error": "invalid_grant", "error_description": f"bad token {REFRESH}"})
    pair = _connected(peer)
    (fatal,) = [s for s in pair.signals + pair.proto.signals if isinstance(s, Fatal)]
    err = fatal.error
    assert isinstance(err, AuthenticationError) and "recreated" in str(err) and "7 days" in str(err)
    assert "invalid_grant" in str(err) and REFRESH not in str(err)
    assert pair.proto.endpoint(pair.now, int(pair.now * 1e9)) is None and not pair.proto.http_outgoing()
    assert len(peer.calls) == 1  # asked once; no retry loop
    assert json.loads((tmp_path / "token.json").read_text()) == _document(expires_at=T0 - 5)


def test_a_refused_renewal_is_news_now_and_fatal_at_the_next_connect_without_asking_again(tmp_path: Any) -> None:
    path = _write(tmp_path / "token.json", _document(expires_at=T0 + 1800))
    peer = OAuthPeer(SCHWAB, lambda: _proto(SCHWAB, path))
    pair = _connected(peer)
    p = pair.proto
    peer.refused_refresh = (400, {"error": "invalid_grant"})
    pair.now = p.auth.deadline or 0.0
    pair.receive('{"notify":[{"heartbeat":"1"}]}')
    p.handle_timer(pair.now, int(pair.now * 1e9))
    _answer_rest(pair)
    pair.pump()
    assert [c.method for c in peer.calls] == ["GET", "POST"]
    news = p.news + pair.events
    assert any(isinstance(e, Status) and "recreated" in e.detail for e in news) and p.ready  # still streaming
    p.connection_lost()
    assert p.endpoint(pair.now, int(pair.now * 1e9)) is None
    fatal = [s for s in p.signals if isinstance(s, Fatal)]
    assert fatal and isinstance(fatal[0].error, AuthenticationError) and "recreated" in str(fatal[0].error)
    assert not p.http_outgoing() and len(peer.calls) == 2


def test_the_tda_grant_sends_the_client_id_and_schwab_basic_auth() -> None:
    tda = refresh_request(TDA, "KEY", "", "r")
    assert tda.path == "/v1/oauth2/token" and dict(tda.form or {})["client_id"] == "KEY@AMER.OAUTHAP"
    assert "Authorization" not in tda.headers
    sch = refresh_request(SCHWAB, "KEY", "SEC", "r")
    assert sch.path == "/v1/oauth/token" and sch.headers["Authorization"] == "Basic S0VZOlNFQw=="
    assert TokenKeeper(TDA, StoredToken("a", "r"), app_key="KEY").can_refresh
    assert not TokenKeeper(SCHWAB, StoredToken("a", "r"), app_key="KEY").can_refresh  # Schwab needs the secret


# ---------------------------------------------------------------- redaction
def test_tokens_never_reach_reprs_status_or_errors(tmp_path: Any) -> None:
    path = _write(tmp_path / "token.json", _document())
    p = _config(SCHWAB_SPEC, None, token_path=path, app_key=APP_KEY, app_secret=APP_SECRET)
    assert p.oauth is not None
    shown = " ".join([repr(p.oauth), repr(p.oauth.token), repr(p.token_file), repr(StoredToken(ACCESS, REFRESH)),
                      repr(refresh_request(SCHWAB, APP_KEY, APP_SECRET, REFRESH))])
    for secret in (ACCESS, REFRESH, ID_TOKEN, APP_SECRET):
        assert secret not in shown and secret in p.secrets
    basic = base64.b64encode(f"{APP_KEY}:{APP_SECRET}".encode()).decode()
    assert basic in p.secrets
    evs = p.receive('{"broken ' + ACCESS + " " + REFRESH, T0, 1)
    assert ACCESS not in evs[0].detail and REFRESH not in evs[0].detail


# ---------------------------------------------------------------- price history
_HISTORY = {"tda": ("tda/pricehistory_rest.jsonl", "/v1/marketdata/AAPL/pricehistory"),
            "schwab": ("schwab/pricehistory_rest.jsonl", "/marketdata/v1/pricehistory")}


def _history(p: TDSchwabProtocol, peer: OAuthPeer, request: History, rid: int = 7) -> Reply:
    p.request(rid, request, T0, int(T0 * 1e9))
    for _ in range(5):
        calls = p.http_outgoing()
        for call_id, req in calls:
            p.http_response(call_id, peer.answer_http(req), T0, int(T0 * 1e9))
    (reply,) = [s for s in p.signals if isinstance(s, Reply) and s.request_id == rid]
    return reply


def _day(start_ms: int, interval: str = "1d") -> History:
    return History("AAPL", parse_interval(interval), (start_ms - 86400_000) * 1_000_000,
                   (start_ms + 86400_000) * 1_000_000)


@pytest.mark.parametrize("variant", [TDA, SCHWAB], ids=["tda", "schwab"])
def test_history_from_the_recorded_answers_through_the_rest_path(variant: Variant) -> None:
    fixture, path = _HISTORY[variant.name]
    (line,) = fixture_lines(fixture)
    body = json.loads(line["raw"])
    candle = body["candles"][0]
    peer = OAuthPeer(variant, lambda: None)
    peer.history_body = body
    p = _proto(variant)
    reply = _history(p, peer, _day(candle["datetime"]))
    assert reply.error is None and isinstance(reply.value, HistoryResult)
    (bar,) = reply.value.bars
    assert isinstance(bar, Bar) and bar.time == candle["datetime"] * 1_000_000 and bar.interval == "1d"
    assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == tuple(
        float(candle[k]) for k in ("open", "high", "low", "close", "volume"))
    req = peer.calls[-1]
    assert req.path == path and req.headers["Authorization"] == f"Bearer {ACCESS}"
    params = dict(req.params or {})
    assert (params["frequencyType"], params["frequency"]) == ("daily", 1)
    assert params["startDate"] == candle["datetime"] - 86400_000 and params["endDate"] == candle["datetime"] + 86400_000
    assert ("symbol" in params) is (variant is SCHWAB)
    df = bars_to_frame(list(reply.value.bars))
    assert str(df.index.tz) == "UTC" and df.index.name == "time" and df["close"].iloc[0] == candle["close"]


def test_history_refreshes_an_expired_token_first_and_filters_to_the_range() -> None:
    peer = OAuthPeer(SCHWAB, lambda: None)
    peer.history_body = {"symbol": "AAPL", "empty": False, "candles": [
        {"open": 1, "high": 2, "low": 0.5, "close": 1.5, "volume": 10, "datetime": 1_700_000_060_000},
        {"open": 1, "high": 2, "low": 0.5, "close": 1.6, "volume": 11, "datetime": 1_700_000_000_000},
        {"open": "x", "datetime": 1_700_000_120_000},
        {"open": 1, "high": 2, "low": 0.5, "close": 1.7, "volume": 12, "datetime": 1_700_000_180_000}]}
    p = _proto(SCHWAB, doc=_document(expires_at=T0 - 1))
    request = History("AAPL", parse_interval("1m"), 1_700_000_000 * 10**9, 1_700_000_180 * 10**9)
    reply = _history(p, peer, request)
    assert [c.method for c in peer.calls] == ["POST", "GET"]
    assert isinstance(reply.value, HistoryResult)
    assert [b.close for b in reply.value.bars] == [1.6, 1.5]  # ascending, the bad candle and the end excluded


def test_empty_history_is_an_empty_result() -> None:
    peer = OAuthPeer(SCHWAB, lambda: None)
    peer.history_body = {"symbol": "AAPL", "empty": True, "candles": []}
    reply = _history(_proto(SCHWAB), peer, _day(1_700_000_000_000))
    assert reply.error is None and reply.value == HistoryResult(())


@pytest.mark.parametrize("status,body,kind", [
    (400, {"errors": [{"status": "400", "title": "Bad Request", "detail": "Invalid symbol ZZZZ"}]}, ProviderError),
    (401, {"message": "token " + ACCESS + " is expired"}, AuthenticationError),
    (429, {"message": "Too many requests"}, RateLimitedError),
    (500, None, ProviderError)])
def test_history_http_errors_are_typed_with_the_server_words_redacted(status: int, body: Any, kind: type) -> None:
    peer = OAuthPeer(SCHWAB, lambda: None)
    p = _proto(SCHWAB)
    p.request(3, _day(1_700_000_000_000), T0, 1)
    (call_id, _), = p.http_outgoing()
    text = json.dumps(body) if body is not None else "upstream " + ACCESS + " failed"
    p.http_response(call_id, HttpResponse(status, body, text), T0, 1)
    (reply,) = p.signals
    assert isinstance(reply, Reply) and isinstance(reply.error, kind)
    assert ACCESS not in str(reply.error) and ACCESS not in str(getattr(reply.error, "message", ""))
    if status == 400:
        assert "Invalid symbol ZZZZ" in str(reply.error)
    assert peer.calls == []


def test_a_cancelled_history_gets_no_reply() -> None:
    peer = OAuthPeer(SCHWAB, lambda: None)
    peer.history_body = {"candles": []}
    p = _proto(SCHWAB)
    p.request(4, _day(1_700_000_000_000), T0, 1)
    p.cancel(4, T0, 1)
    for call_id, req in p.http_outgoing():
        p.http_response(call_id, peer.answer_http(req), T0, 1)
    assert not p.signals


@pytest.mark.parametrize("interval,expected", [
    ("1m", ("minute", 1)), ("5m", ("minute", 5)), ("10m", ("minute", 10)), ("15m", ("minute", 15)),
    ("30m", ("minute", 30)), ("1d", ("daily", 1)), ("1w", ("weekly", 1)), ("1mo", ("monthly", 1))])
def test_intervals_map_to_the_frequency_parameters(interval: str, expected: Tuple[str, int]) -> None:
    for variant in (TDA, SCHWAB):
        req = history_request(variant, History("AAPL", parse_interval(interval), 0, 10**12), "t")
        params = dict(req.params or {})
        assert (params["frequencyType"], params["frequency"]) == expected
        assert params["periodType"] == ("day" if expected[0] == "minute" else "year")
    assert len(INTERVALS) == 8


@pytest.mark.parametrize("interval", ["1s", "90s", "2d", "3mo"])
def test_intervals_the_api_lacks_are_unsupported_without_a_request(interval: str) -> None:
    p = _proto(TDA)
    p.request(9, History("AAPL", parse_interval(interval), 0, 10**12), T0, 1)
    (reply,) = p.signals
    assert isinstance(reply, Reply) and isinstance(reply.error, UnsupportedError)
    assert "tda" in str(reply.error) and "30m" in str(reply.error) and not p.http_outgoing()
    assert p.capabilities.history


@pytest.mark.parametrize("interval,base", [("1h", 30), ("2m", 1), ("4h", 30), ("45m", 15), ("25m", 5)])
def test_whole_minute_intervals_are_summed_from_the_broker_bars(interval: str, base: int) -> None:
    iv = parse_interval(interval)
    step = iv.seconds * 1000
    start = 1_700_000_000_000 - 1_700_000_000_000 % step  # a bucket boundary, in ms
    req = history_request(SCHWAB, History("AAPL", iv, start * 1_000_000, (start + 2 * step) * 1_000_000), "t")
    assert (dict(req.params or {})["frequencyType"], dict(req.params or {})["frequency"]) == ("minute", base)
    n = 2 * step // (base * 60_000)
    candles = [{"datetime": start + i * base * 60_000, "open": 100.0 + i, "high": 101.0 + i, "low": 99.0 - i,
                "close": 100.5 + i, "volume": 10} for i in range(n)]
    result = parse_history(SCHWAB, History("AAPL", iv, start * 1_000_000, (start + 2 * step) * 1_000_000),
                           HttpResponse(200, {"candles": candles, "empty": False}), "schwab")
    first, second = result.bars
    assert isinstance(result.bars, BarSeries) and result.bars.interval == str(iv)
    half = n // 2
    assert (first.time, second.time) == (start * 1_000_000, (start + step) * 1_000_000)
    assert (first.open, first.high, first.low, first.close, first.volume) == (
        100.0, 101.0 + half - 1, 99.0 - (half - 1), 100.5 + half - 1, 10.0 * half)
    assert (second.open, second.close, second.interval) == (100.0 + half, 100.5 + n - 1, interval)
