"""Tradovate end to end against TradovateEmulator over real sockets: quotes,
DOM, charts, ticks, history paging, and the faults the issue names."""

from __future__ import annotations

import logging
import math
from typing import Any, Iterator, List

import pytest

import mdsdk
from mdsdk import (AuthenticationError, BookSnapshot, Quote, ReconnectPolicy, Status, SubscriptionError,
                   Summary, Trade)
from mdsdk.testing import TradovateEmulator

from .conftest import wait_until

FAST = ReconnectPolicy(initial=0.05, cap=0.2, jitter=0.1)


@pytest.fixture
def tv() -> Iterator[TradovateEmulator]:
    with TradovateEmulator(tick=0.05) as emu:
        yield emu


def _connect(emu: TradovateEmulator, **kw: Any) -> mdsdk.Feed:
    return mdsdk.connect("tradovate", url=emu.url, api_url=emu.api_url, reconnect=FAST, **emu.credentials, **kw)


def _statuses(feed: mdsdk.Feed) -> List[Status]:
    got: List[Status] = []
    feed.on_status(got.append)
    return got


def test_quotes_trades_summary_dom_by_contract_id(tv: TradovateEmulator) -> None:
    with _connect(tv) as feed:
        q = feed.get_quote("ESZ6")
        assert isinstance(q, Quote) and q.symbol == "ESZ6" and q.ask - q.bid == pytest.approx(0.25)
        assert q.extra["contract_id"] == tv.contract_id("ESZ6")
        feed.subscribe("ESZ6", kinds=("summary", "book"))
        with feed.events(timeout=5) as stream:
            seen = {}
            for ev in stream:
                seen.setdefault(type(ev), ev)
                if {Summary, BookSnapshot} <= set(seen):
                    break
        book = seen[BookSnapshot]
        assert book.bids[0][0] > book.bids[-1][0] and book.asks[0][0] < book.asks[-1][0]
        assert book.bids[0][0] < book.asks[0][0]
        assert not math.isnan(seen[Summary].open_interest)
    assert ("GET", "/contract/find") in tv.rest_calls
    auth = tv.requests("authorize")[0]
    assert auth.startswith("authorize\n0\n\n") and tv.requests()[0] == auth


def test_ticks_are_trades_in_time_order(tv: TradovateEmulator) -> None:
    with _connect(tv) as feed:
        trades: List[Trade] = []
        feed.on_trade(trades.append)
        feed.subscribe("NQZ6", kinds=("trade",))
        assert wait_until(lambda: len(trades) >= 12)
        assert all(t.symbol == "NQZ6" and t.price > 0 and t.size >= 1 for t in trades)
        ids = [t.extra["tick_id"] for t in trades]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_history_pages_and_matches_the_contract(tv: TradovateEmulator) -> None:
    tv.max_bars = 100
    with _connect(tv) as feed:
        df = feed.history("ESZ6", interval="5m", start="2026-01-05", end="2026-01-06")
        assert len(df) == 288 and df.index.is_monotonic_increasing and not df.index.has_duplicates
        assert str(df.index[0]) == "2026-01-05 00:00:00+00:00" and str(df.index[-1]) == "2026-01-05 23:55:00+00:00"
        assert list(df.columns[:5]) == ["open", "high", "low", "close", "volume"]
        assert df["trade_date"].dtype.kind == "i"
    assert len(tv.requests("md/getChart")) >= 3  # 288 bars at 100 per answer


def test_live_bars_and_chart_cancel(tv: TradovateEmulator) -> None:
    with _connect(tv) as feed:
        bars: List[mdsdk.Bar] = []
        feed.on_bar(bars.append)
        feed.subscribe("CLZ6", kinds=("bar",), interval="1m")
        assert wait_until(lambda: len(bars) >= 5)
        assert all(b.interval == "1m" and b.symbol == "CLZ6" for b in bars)
        feed.unsubscribe("CLZ6")
        assert wait_until(lambda: len(tv.requests("md/cancelChart")) == 1)


def test_wrong_password_no_retry_loop(tv: TradovateEmulator) -> None:
    with pytest.raises(AuthenticationError, match="Incorrect username or password"):
        mdsdk.connect("tradovate", url=tv.url, api_url=tv.api_url, username="demo", password="nope")
    assert list(tv.rest_calls).count(("POST", "/auth/accesstokenrequest")) == 1


def test_penalty_waits_and_captcha_gives_a_clear_error(tv: TradovateEmulator) -> None:
    tv.penalty = 1
    with _connect(tv) as feed:
        assert feed.get_quote("ESZ6").symbol == "ESZ6"
    assert list(tv.rest_calls).count(("POST", "/auth/accesstokenrequest")) == 2
    tv.captcha = True
    with pytest.raises(AuthenticationError, match="log in once on the Tradovate web site"):
        _connect(tv)


def test_unknown_and_inaccessible_symbols_fail_alone(tv: TradovateEmulator) -> None:
    tv.unknown_symbols.add("NOPE")
    tv.inaccessible_symbols.add("6EZ6")
    with _connect(tv) as feed:
        with pytest.raises(SubscriptionError) as info:
            feed.subscribe(["ESZ6", "NOPE"], kinds=("quote",))
        assert info.value.symbol == "NOPE" and "does not know" in str(info.value)
        with pytest.raises(SubscriptionError) as info2:
            feed.get_quote("6EZ6")
        assert (info2.value.symbol, info2.value.code, info2.value.text) == (
            "6EZ6", "UnknownSymbol", "Symbol is inaccessible")
        with feed.events(kinds=("quote",), timeout=5) as stream:
            assert {ev.symbol for ev, _ in zip(stream, range(10))} == {"ESZ6"}


def test_missed_heartbeats_reconnect_and_restore_everything(tv: TradovateEmulator) -> None:
    tv.client_timeout = 1.0
    # heartbeat_interval 30 s plays a client whose machine stalled: the server drops it
    with _connect(tv, heartbeat_interval=30.0) as feed:
        statuses = _statuses(feed)
        bars: List[mdsdk.Bar] = []
        feed.on_bar(bars.append)
        feed.subscribe("ESZ6", kinds=("quote", "book", "bar"), interval="1m")
        assert wait_until(lambda: "resubscribed" in [s.kind for s in statuses], 10)
        tv.client_timeout = 60.0
        n_conn = tv.connections
        before = len(bars)
        assert wait_until(lambda: len(bars) > before + 3)
        sent = tv.requests()
        assert sum(r.startswith("md/subscribeQuote") for r in sent) >= 2
        assert sum(r.startswith("md/subscribeDOM") for r in sent) >= 2
        assert sum(r.startswith("md/getChart") for r in sent) >= 2
        assert '"asFarAsTimestamp"' in [r for r in sent if r.startswith("md/getChart")][-1]
        times = [b.time for b in bars if b.complete]
        assert len(times) == len(set(times))  # no bar completed twice across the gap
        assert tv.connections >= n_conn >= 2


def test_token_renewed_before_expiry_without_dropping(tv: TradovateEmulator) -> None:
    tv.token_lifetime = 2.0
    with _connect(tv) as feed:
        feed.get_quote("ESZ6")
        assert wait_until(lambda: feed.stats()["token_renewals"] >= 2, 10)
        assert feed.stats()["reconnects"] == 0 and tv.connections == 1
        assert ("GET", "/auth/renewaccesstoken") in tv.rest_calls
        statuses = _statuses(feed)
        tv.refuse_renewal = True
        logins = list(tv.rest_calls).count(("POST", "/auth/accesstokenrequest"))
        assert wait_until(lambda: list(tv.rest_calls).count(("POST", "/auth/accesstokenrequest")) > logins, 10)
        refused = [s for s in statuses if s.kind == "error" and "renewal" in s.detail]
        assert len(refused) == 1 and tv.connections == 1  # reported once; the stream stayed up
        tv.drop()  # the next socket authorizes with the freshest token
        assert wait_until(lambda: tv.connections == 2 and feed.stats()["connected"], 10)
        assert feed.get_quote("ESZ6").symbol == "ESZ6"


def test_401_reauthorizes_once_then_fails(tv: TradovateEmulator) -> None:
    with _connect(tv) as feed:
        statuses = _statuses(feed)
        feed.get_quote("ESZ6")
        tv.expire_token()
        tv.drop()  # reconnect: authorize with the old token -> 401 -> fresh login -> ok
        assert wait_until(lambda: "resubscribed" in [s.kind for s in statuses], 10)
        tv.expire_token()
        tv.refuse_auth = True
        tv.drop()
        assert wait_until(lambda: any(s.extra.get("fatal") for s in statuses), 10)
        with pytest.raises(AuthenticationError):
            feed.get_quote("NQZ6")


def test_garbage_unknown_event_and_bad_payload_are_counted(tv: TradovateEmulator) -> None:
    with _connect(tv) as feed:
        statuses = _statuses(feed)
        feed.get_quote("ESZ6")
        tv.inject("a[not json")
        tv.inject('a[{"e":"weird","d":{}}]')
        tv.inject("?!")
        assert wait_until(lambda: feed.stats()["malformed"] == 3)
        assert wait_until(lambda: len([s for s in statuses if s.kind == "error"]) == 3)
        before = feed.cache.quotes["ESZ6"].time
        assert wait_until(lambda: feed.cache.quotes["ESZ6"].time > before)
        assert feed.stats()["reconnects"] == 0


def test_shutdown_and_close_frames_reconnect(tv: TradovateEmulator) -> None:
    with _connect(tv) as feed:
        statuses = _statuses(feed)
        feed.get_quote("ESZ6")
        tv.shutdown("Maintenance")
        assert wait_until(lambda: [s.kind for s in statuses].count("resubscribed") == 1, 10)
        assert any("Maintenance" in s.detail for s in statuses)
        tv.close_with(3000)
        assert wait_until(lambda: [s.kind for s in statuses].count("resubscribed") == 2, 10)


def test_data_before_response_and_batched_items(tv: TradovateEmulator) -> None:
    tv.data_before_response = True
    tv.items_per_frame = 5
    with _connect(tv) as feed:
        bars: List[mdsdk.Bar] = []
        feed.on_bar(bars.append)
        feed.subscribe(["ESZ6", "NQZ6"], kinds=("quote", "bar"), interval="1m")
        assert feed.get_quote("NQZ6").symbol == "NQZ6"
        assert wait_until(lambda: {b.symbol for b in bars} == {"ESZ6", "NQZ6"})
        assert feed.stats()["malformed"] == 0


def test_secrets_stay_out(tv: TradovateEmulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AuthenticationError) as info:
        mdsdk.connect("tradovate", url=tv.url, api_url=tv.api_url, username="demo", password="Sup3r-Secret!")
    with _connect(tv, sec="api-secret-xyz") as feed:
        feed.get_quote("ESZ6")
        shown = repr(feed.config) + repr(feed) + str(feed.stats())
    for text in (str(info.value), caplog.text, shown):
        assert "Sup3r-Secret!" not in text and "api-secret-xyz" not in text and tv.password not in text
