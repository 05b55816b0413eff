"""TDA and Schwab through the whole SDK against their emulators, for the
faults issue 10 names that the shared runtime conformance suite does not
cover: a login the streamer denies, a stream with nothing subscribed (the
empty-subscription close), a handler far slower than the stream (the
slow-reader kill), and fixture-shaped data reaching user code."""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Iterator, List

import pytest

import mdsdk
from mdsdk import AuthenticationError, QueuePolicy, ReconnectPolicy, Status
from mdsdk.registry import emulator_options, get_spec
from mdsdk.providers.tdschwab import TokenFile
from mdsdk.testing import TDSchwabEmulator

from .conftest import wait_until

FAST = ReconnectPolicy(initial=0.05, cap=0.2, jitter=0.0)


@pytest.fixture(params=["tda", "schwab"])
def emu(request: Any) -> Iterator[TDSchwabEmulator]:
    with TDSchwabEmulator(variant=request.param, tick=0.05, empty_timeout=1.0, heartbeat_interval=0.5) as server:
        yield server


def _connect(emu: TDSchwabEmulator, **more: Any) -> Any:
    name = emu.variant
    return mdsdk.connect(name, reconnect=FAST, **{**emulator_options(get_spec(name), emu), **more})


def test_a_denied_login_fails_connect_without_a_retry_loop(emu: TDSchwabEmulator) -> None:
    emu.refuse_auth = True
    with pytest.raises(AuthenticationError):
        _connect(emu)
    logins = emu.connections
    time.sleep(0.5)
    assert emu.connections == logins  # nobody keeps knocking


def test_unsubscribing_everything_brings_no_empty_subscription_close(emu: TDSchwabEmulator) -> None:
    with _connect(emu) as feed:
        statuses: List[Status] = []
        feed.on("status", statuses.append)
        assert feed.get_quote(emu.example_symbol, timeout=5)
        feed.unsubscribe(emu.example_symbol)
        time.sleep(3 * emu.empty_timeout)  # well past the streamer's watchdog
        assert feed.stats()["reconnects"] == 0 and feed.stats()["connected"]
        assert not [s for s in statuses if s.kind in ("disconnected", "reconnecting")]
        feed.subscribe(emu.example_symbol, kinds=("quote",))
        before = time.time_ns()
        assert wait_until(lambda: feed.get_quote(emu.example_symbol).time >= before, 5)


def test_a_handler_far_slower_than_the_stream_loses_counted_events_not_the_socket(emu: TDSchwabEmulator) -> None:
    emu.slow_reader_bytes = 256 * 1024  # the streamer cuts a client this far behind
    with _connect(emu, callback_queue=QueuePolicy(maxsize=50, mode="drop_oldest")) as feed:
        feed.on_quote(lambda q: time.sleep(0.02))  # far slower than the stream
        feed.subscribe(["AAPL", "MSFT", "SPY", "QQQ", "IWM", "NVDA"], kinds=("quote", "trade"))
        assert wait_until(lambda: feed.stats()["dropped"] > 0, 10), feed.stats()["queues"]
        time.sleep(1.0)
        assert feed.stats()["reconnects"] == 0 and feed.stats()["connected"]  # the socket kept being read


def test_account_activity_reaches_feed_on_without_a_subscription(emu: TDSchwabEmulator) -> None:
    with _connect(emu) as feed:
        assert "account_activity" in feed.capabilities.notices
        got: List[Any] = []
        feed.on("account_activity", got.append)
        # The stream carries it from login on (the protocol keeps ACCT_ACTIVITY subscribed), so no subscribe.
        assert wait_until(lambda: emu.account_activity("OrderEntryRequest", "<xml/>") > 0, 5)
        assert wait_until(lambda: got, 5)
        ev = got[0]
        assert ev.topic == "account_activity" and ev.provider == emu.variant
        assert ev.extra["account"] == emu.account_id and ev.extra["message_type"] == "OrderEntryRequest"
        assert ev.extra["message_data"] == "<xml/>"
        assert all(e.extra["message_type"] != "SUBSCRIBED" for e in got)  # the SUBS answer is no activity
        with pytest.raises(mdsdk.UnsupportedError, match="feed.on"):
            feed.subscribe("AAPL", kinds="account_activity")


def test_each_variant_streams_its_own_provider_events(emu: TDSchwabEmulator) -> None:
    # TDA has news headlines, Schwab has screeners; asking a variant for the other's kind names the variant.
    own, key, other = ("news", "MSFT", "screener") if emu.variant == "tda" else ("screener", "NYSE_VOLUME_5", "news")
    with _connect(emu) as feed:
        assert own in feed.capabilities.notices and other not in feed.capabilities.notices
        with feed.events(kinds=own, timeout=5) as stream:
            feed.subscribe(key, kinds=own)
            ev = next(iter(stream))
        assert ev.topic == own and ev.symbol == key
        if own == "news":
            assert ev.extra["headline"].startswith("MSFT") and ev.extra["story_source"] == "Emulator Wire"
        else:
            assert ev.extra["sort_field"] == "VOLUME" and ev.extra["frequency"] == 5
            assert ev.extra["items"] and all("last_price" in row for row in ev.extra["items"])
        with pytest.raises(mdsdk.UnsupportedError, match=emu.variant):
            feed.subscribe(key, kinds=other)
        with pytest.raises(mdsdk.UnsupportedError, match=f"'{emu.variant}' does not stream '{other}'"):
            feed.on(other, print)
        with pytest.raises(mdsdk.ConfigurationError, match="unknown kind"):
            feed.on("headlines", print)  # no provider's kind: a misspelling


def test_fields_kinds_streams_only_what_the_kinds_need_and_widens_with_view(emu: TDSchwabEmulator) -> None:
    symbol = emu.example_symbol
    with _connect(emu, fields="kinds") as feed:
        assert feed.get_quote(symbol, timeout=5)
        trades: List[Any] = []
        feed.on("trade", trades.append)
        feed.subscribe(symbol, kinds=("trade",))  # its fields are not on the wire yet: VIEW must add them
        assert wait_until(lambda: trades, 5), "no trade after the VIEW"
        assert trades[0].symbol == symbol and trades[0].price > 0
    commands = [c for frame in emu.received for c in json.loads(frame).get("requests", [])]
    level_one = [c for c in commands if c["service"] in ("QUOTE", "LEVELONE_EQUITIES")]
    assert [c["command"] for c in level_one][:2] == ["SUBS", "VIEW"]
    first = set(level_one[0]["parameters"]["fields"].split(","))
    wider = set(level_one[1]["parameters"]["fields"].split(","))
    assert first < wider and len(wider) < 30  # quotes then trades: never the whole table of 50-odd fields


def test_a_refreshed_token_is_written_back_to_the_token_file_off_the_socket_thread(
        emu: TDSchwabEmulator, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = emu.token_file()
    doc["token"]["expires_at"] = int(time.time()) + 30  # inside the refresh margin: refreshed before login
    path = tmp_path / "token.json"
    path.write_text(json.dumps(doc))
    writers: List[str] = []
    real_save = TokenFile.save

    def save(self: TokenFile, token: Any) -> None:  # the real write, noting which thread does it
        writers.append(threading.current_thread().name)
        real_save(self, token)
    monkeypatch.setattr(TokenFile, "save", save)
    with mdsdk.connect(emu.variant, api_url=emu.api_url, token_path=str(path), app_key=emu.app_key,
                       app_secret=emu.app_secret, reconnect=FAST) as feed:
        assert feed.get_quote(emu.example_symbol, timeout=5)
        assert wait_until(lambda: writers, 5)
    saved = json.loads(path.read_text())
    assert saved["token"]["access_token"] != doc["token"]["access_token"]
    assert saved["token"]["access_token"] in emu.issued_tokens and saved["token"]["refresh_token"]
    assert saved["creation_timestamp"] == doc["creation_timestamp"]
    assert writers == [f"mdsdk-{emu.variant}-rest"]  # the REST worker, never the socket thread
