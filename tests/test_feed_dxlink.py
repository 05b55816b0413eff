"""The façade and runtime against the DXLink emulator over real sockets:
what is specific to DXLink, tastytrade and sim (logins, close code 1009,
FULL format, candles) and to the façade (callbacks, iterators, history,
recording, slow consumers). The faults every provider shares (drop, stall,
garbage, auth refusal, token expiry, takeover, restart, unknown symbol) are
in tests/runtime/conformance.py."""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from typing import Any, List

import pandas as pd
import pytest

import mdsdk
from mdsdk.registry import PLANNED
from mdsdk import (AuthenticationError, ClosedError, ConfigurationError, LocalProtocolError, QueuePolicy, Quote,
                   ReconnectPolicy, Status, UnknownProviderError)
from mdsdk.testing.dxlink_emulator import DXLinkEmulator

from .conftest import wait_until

FAST = ReconnectPolicy(initial=0.05, cap=0.2, jitter=0.1)


def _statuses(feed: mdsdk.Feed) -> List[Status]:
    got: List[Status] = []
    feed.on_status(got.append)
    return got


def _kinds(statuses: List[Status]) -> List[str]:
    return [s.kind for s in list(statuses)]


def test_sim_quote_stream_and_clean_close() -> None:
    with mdsdk.connect("sim") as feed:
        q = feed.get_quote("SPY", timeout=5)
        assert isinstance(q, Quote) and q.symbol == "SPY" and q.provider == "sim"
        assert 0 < q.bid < q.ask and q.bid_size > 0
        table = feed.quotes()
        assert list(table.index) == ["SPY"] and table.loc["SPY", "bid"] == pytest.approx(q.bid, rel=0.05)
        assert "age" in table.columns
    assert feed.closed


def test_dxlink_direct_with_token(emulator: DXLinkEmulator) -> None:
    with mdsdk.connect("dxlink", url=emulator.url, api_url=emulator.api_url, **emulator.credentials) as feed:
        wanted = {("quote", "SPY"), ("quote", "AAPL"), ("trade", "AAPL"), ("summary", "SPY"), ("profile", "AAPL")}
        with feed.events(timeout=5) as stream:
            feed.subscribe(["SPY", "AAPL"], kinds=("quote", "trade", "summary", "profile"))
            seen = set()
            for ev in stream:
                seen.add((ev.topic, ev.symbol))
                if wanted <= seen:
                    break
        assert wanted <= seen, wanted - seen
    sent = emulator.messages()
    assert [m["type"] for m in sent[:2]] == ["SETUP", "AUTH"]


def test_unknown_provider_and_bad_options() -> None:
    with pytest.raises(UnknownProviderError, match="sim, dxlink, tastytrade"):
        mdsdk.connect("nasdaq-magic")
    for planned in PLANNED:  # named in the design, not shipped yet
        with pytest.raises(UnknownProviderError, match="not available in this version"):
            mdsdk.connect(planned)
    with pytest.raises(ConfigurationError, match="does not take colour"):
        mdsdk.connect("sim", colour="blue")
    with pytest.raises(ConfigurationError, match="needs url"):
        mdsdk.connect("dxlink")


def test_bad_interval_range_kinds_symbols() -> None:
    with mdsdk.connect("sim") as feed:
        with pytest.raises(ConfigurationError, match="s, m, h, d, w, mo"):
            feed.history("SPY", interval="7x", start="-1d")
        with pytest.raises(ConfigurationError, match="is after end"):
            feed.history("SPY", interval="1h", start="2024-08-02", end="2024-08-01")
        with pytest.raises(ConfigurationError, match="unknown kind"):
            feed.subscribe("SPY", kinds=("quotes",))
        with pytest.raises(mdsdk.UnsupportedError, match="does not stream 'book'"):
            feed.subscribe("SPY", kinds=("book",))
        with pytest.raises(ConfigurationError, match="non-empty"):
            feed.subscribe(["SPY", ""])


def test_every_call_after_close_raises_closed_error() -> None:
    feed = mdsdk.connect("sim")
    feed.close()
    feed.close()  # idempotent
    for call in (lambda: feed.subscribe("SPY"), lambda: feed.unsubscribe("SPY"),
                 lambda: feed.get_quote("SPY"), lambda: feed.quotes(),
                 lambda: feed.history("SPY", "1h", start="-1d"), lambda: feed.events(),
                 lambda: feed.on_quote(print)):
        with pytest.raises(ClosedError, match="closed"):
            call()


def test_tastytrade_login_with_password_and_wrong_password(emulator: DXLinkEmulator) -> None:
    with mdsdk.connect("tastytrade", api_url=emulator.api_url, username=emulator.username,
                       password=emulator.password) as feed:
        assert feed.get_quote("MSFT", timeout=5).symbol == "MSFT"
    assert ("POST", "/sessions") in emulator.rest_calls
    secret = "Wrong-Pass-987"
    with pytest.raises(AuthenticationError, match="Invalid login") as info:
        mdsdk.connect("tastytrade", api_url=emulator.api_url, username="demo", password=secret)
    assert secret not in str(info.value) and secret not in repr(info.value)


def test_tastytrade_customer_not_found(emulator: DXLinkEmulator) -> None:
    emulator.customer_not_found = True
    with pytest.raises(AuthenticationError, match="must be a customer"):
        mdsdk.connect("tastytrade", url=emulator.url, api_url=emulator.api_url, **emulator.credentials)


def test_close_code_1009_retries_once_with_smaller_frames_then_is_a_typed_error(emulator: DXLinkEmulator) -> None:
    with mdsdk.connect("dxlink", url=emulator.url, reconnect=FAST, **emulator.credentials) as feed:
        statuses = _statuses(feed)
        feed.get_quote("SPY")
        emulator.close_with(1009, "message too big")
        assert wait_until(lambda: "disconnected" in _kinds(statuses))
        lost = [s for s in statuses if s.kind == "disconnected"][0]
        assert "1009" in lost.detail and "4096" in lost.detail and lost.extra["error"] == "ConnectionLost"
        assert wait_until(lambda: "resubscribed" in _kinds(statuses), 10)
        emulator.close_with(1009, "message too big")
        with pytest.raises(LocalProtocolError, match="1009"):
            assert wait_until(lambda: feed.stats()["connected"] is False, 10)
            feed.get_quote("AAPL")


def test_full_format_switch_mid_stream(emulator: DXLinkEmulator) -> None:
    with mdsdk.connect("dxlink", url=emulator.url, **emulator.credentials) as feed:
        first = feed.get_quote("SPY")
        emulator.switch_to_full()
        assert wait_until(lambda: feed.cache.quotes["SPY"].time > first.time + 200_000_000)
        assert feed.stats()["malformed"] == 0 and not math.isnan(feed.cache.quotes["SPY"].bid)


def test_raising_callback_is_isolated(emulator: DXLinkEmulator, caplog: pytest.LogCaptureFixture) -> None:
    errors: List[Any] = []
    good: List[Quote] = []

    def bad(q: Quote) -> None:
        raise ValueError("user bug")

    with mdsdk.connect("dxlink", url=emulator.url, **emulator.credentials) as feed:
        feed.on_quote(bad, on_error=lambda exc, ev: errors.append((exc, ev)))
        feed.on_quote(good.append, symbols=["SPY"])
        feed.subscribe(["SPY", "AAPL"], kinds=("quote",))
        assert wait_until(lambda: len(good) >= 5 and len(errors) >= 5)
        assert isinstance(errors[0][0], ValueError) and isinstance(errors[0][1], Quote)
        assert {q.symbol for q in good} == {"SPY"}
        assert feed.stats()["callback_errors"] >= 5
    assert "user bug" in caplog.text


def test_slow_callback_overflows_by_policy_and_keepalives_stay_on_time() -> None:
    with DXLinkEmulator(keepalive_timeout=2.0, tick=0.05) as emu:
        calls = [0]

        def slow(q: Quote) -> None:
            calls[0] += 1
            time.sleep(0.002)

        with mdsdk.connect("dxlink", url=emu.url, keepalive_interval=0.3, keepalive_timeout=2.0,
                           callback_queue=QueuePolicy(maxsize=500, mode="drop_oldest"),
                           **emu.credentials) as feed:
            statuses = _statuses(feed)
            total = feed.events(kinds=("quote",), policy=QueuePolicy(maxsize=10**6))
            feed.on_quote(slow)
            feed.subscribe(["SPY", "AAPL"], kinds=("quote",))
            feed.get_quote("SPY")
            keepalives_before = len(emu.messages("KEEPALIVE"))
            emu.blast(30000, k=10, symbols=["SPY", "AAPL"])
            time.sleep(1.0)  # let the slow consumer fall behind while keepalives must continue
            stats = feed.stats()
            assert stats["reconnects"] == 0 and stats["connected"]
            assert stats["dropped"] > 0
            assert len(emu.messages("KEEPALIVE")) >= keepalives_before + 2
            assert wait_until(lambda: any(s.kind == "overflow" for s in statuses), 5)
            total.close()
            received = sum(1 for ev in total if ev.topic == "quote")
            cb = feed.stats()["queues"]["callbacks"]
            # every quote is accounted for: delivered to the callback, dropped, or still queued
            assert cb["delivered"] + cb["dropped"] + cb["depth"] >= received >= 30000


def test_conflating_stream_keeps_latest_per_symbol(emulator: DXLinkEmulator) -> None:
    with mdsdk.connect("dxlink", url=emulator.url, **emulator.credentials) as feed:
        feed.subscribe(["A", "B", "C"], kinds=("quote",))
        feed.get_quote("A")
        with feed.events(kinds=("quote",), policy=QueuePolicy(maxsize=3, mode="conflate"), timeout=0.5) as st:
            emulator.blast(3000, k=30, symbols=["A", "B", "C"])
            assert wait_until(lambda: st.stats()["conflated"] > 2000)
            latest = {}
            for ev in st:
                latest[ev.symbol] = ev
                if len(latest) == 3:
                    break
            assert set(latest) == {"A", "B", "C"}
            assert st.stats()["dropped"] == 0


def test_iterator_ends_on_timeout_and_on_close() -> None:
    with mdsdk.connect("sim") as feed:
        with feed.events(kinds=("trade",), timeout=0.2) as stream:
            assert list(stream) == []
        stream2 = feed.events(kinds=("quote",))
        done = threading.Event()

        def drain() -> None:
            for _ in stream2:
                pass
            done.set()

        t = threading.Thread(target=drain)
        t.start()
        feed.subscribe("SPY", kinds=("quote",))
    t.join(3)
    assert done.is_set()


def test_history_dataframe_contract() -> None:
    with mdsdk.connect("sim") as feed:
        df = feed.history("SPY", interval="1h", start="-3d")
        assert isinstance(df.index, pd.DatetimeIndex) and df.index.name == "time"
        assert str(df.index.tz) == "UTC"
        assert list(df.columns[:5]) == ["open", "high", "low", "close", "volume"]
        assert all(df[c].dtype == "float64" for c in ["open", "high", "low", "close", "volume"])
        assert df.index.is_monotonic_increasing and not df.index.has_duplicates
        assert 70 <= len(df) <= 73
        assert (df["high"] >= df["low"]).all() and (df["high"] >= df["close"]).all()
        assert (df.index[1:] - df.index[:-1]).unique().tolist() == [pd.Timedelta(hours=1)]
        # a fixed hour three days back: inside the sim's bar cap whatever today's date is
        day = pd.Timestamp.now(tz="UTC").normalize() - pd.Timedelta(days=3)
        start, end = day + pd.Timedelta(hours=14), day + pd.Timedelta(hours=15)
        fixed = feed.history("SPY", interval="5m", start=start.isoformat(), end=end.isoformat())
        assert len(fixed) == 12 and fixed.index[0] == start
        assert fixed.index[-1] == start + pd.Timedelta(minutes=55)
        again = feed.history("SPY", interval="5m", start=start.isoformat(), end=end.isoformat())
        pd.testing.assert_frame_equal(fixed, again)  # deterministic market
        empty = feed.history("SPY", interval="1d", start="-1s")
        assert len(empty) == 0 and list(empty.columns[:5]) == ["open", "high", "low", "close", "volume"]


def test_live_bars_through_on_bar() -> None:
    bars: List[mdsdk.Bar] = []
    with mdsdk.connect("sim") as feed:
        feed.on_bar(bars.append)
        feed.subscribe("SPY", kinds=("bar",), interval="1m")
        assert wait_until(lambda: any(not b.complete for b in bars))
    assert all(b.interval == "1m" and b.symbol == "SPY" for b in bars)
    assert any(b.complete for b in bars)


def test_record_then_replay_gives_the_same_events(tmp_path: Any) -> None:
    path = tmp_path / "session.jsonl"
    got: List[Quote] = []
    with mdsdk.connect("sim", record=str(path)) as feed:
        feed.on_quote(got.append)
        feed.subscribe(["SPY", "AAPL"], kinds=("quote",))
        assert wait_until(lambda: len(got) >= 10)
        token = feed.config["token"]  # the test checks the secret stays out of the file
    text = path.read_text()
    assert token and token not in text
    first, *lines = [json.loads(line) for line in text.splitlines()]
    assert first == {"provider": "sim"}
    assert {line["dir"] for line in lines} == {"in", "out"} and all("t" in line for line in lines)
    replayed = [e for e in mdsdk.replay(str(path)) if isinstance(e, Quote)]
    assert [(q.symbol, q.bid, q.ask, q.time) for q in replayed[:len(got)]] == \
        [(q.symbol, q.bid, q.ask, q.time) for q in got]


def test_secrets_stay_out_of_logs_reprs_and_errors(emulator: DXLinkEmulator,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    password = "P4ss-SECRET-xyz"
    with pytest.raises(AuthenticationError) as info:
        mdsdk.connect("tastytrade", api_url=emulator.api_url, username="demo", password=password)
    with mdsdk.connect("dxlink", url=emulator.url, **emulator.credentials) as feed:
        shown = repr(feed) + repr(feed.config) + str(feed.stats())
        feed.get_quote("SPY")
    for text in (str(info.value), repr(info.value), caplog.text, shown):
        assert password not in text and emulator.token not in text
    assert "***" in repr(feed.config)


def test_a_process_with_a_thousand_open_files_still_streams(emulator: DXLinkEmulator) -> None:
    # A server or notebook holding many files hands out descriptor numbers of 1024 and up, which select()
    # refuses: the socket thread, the callback thread and an iterator must all still wake.
    import os
    resource = pytest.importorskip("resource", reason="descriptor limits are a POSIX matter")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip(f"the hard limit on open files ({hard}) leaves no descriptor numbers past 1024")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200) if soft != resource.RLIM_INFINITY else soft, hard))
    filler: List[int] = []
    try:
        while not filler or filler[-1] < 1030:
            filler.append(os.open(os.devnull, os.O_RDONLY))
        got: List[Quote] = []
        with mdsdk.connect("dxlink", url=emulator.url, **emulator.credentials) as feed:
            feed.on_quote(got.append)
            with feed.events(kinds="quote", timeout=10.0) as stream:
                feed.subscribe(["SPY"], kinds=("quote",))
                first = next(iter(stream))
                assert first.symbol == "SPY"
            assert wait_until(lambda: len(got) >= 3)
            assert feed._connection._transport.fileno() >= 1024  # the socket thread's own wait saw past 1024 too
    finally:
        for fd in filler:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
