"""ThetaData through the whole SDK against the Theta Terminal emulator, for what issue 11 names beyond the
shared runtime conformance suite: permission denied, max streams reached, an unknown contract (silent on the
wire), an upstream flap, option and index streams, a malformed option symbol, and history with pages, an
expired page, retries and no data."""

from __future__ import annotations

from typing import Any, Iterator, List

import pytest

import mdsdk
from mdsdk import ReconnectPolicy, Status
from mdsdk.errors import ConfigurationError, RequestTimeout, SubscriptionError, UnsupportedError
from mdsdk.testing import ThetaDataEmulator

from .conftest import wait_until

FAST = ReconnectPolicy(initial=0.05, cap=0.2, jitter=0.0)


@pytest.fixture
def emu() -> Iterator[ThetaDataEmulator]:
    with ThetaDataEmulator(tick=0.05, status_interval=0.2) as server:
        yield server


def _connect(emu: ThetaDataEmulator, **more: Any) -> Any:
    return mdsdk.connect("thetadata", url=emu.url, api_url=emu.api_url, reconnect=FAST, **more)


def test_permission_denied_and_max_streams_reject_that_contract_only(emu: ThetaDataEmulator) -> None:
    emu.invalid_perms = {"OPTION"}
    with _connect(emu) as feed:
        with pytest.raises(SubscriptionError, match="permission") as info:
            feed.subscribe("AAPL240621C00190000", kinds="quote")
        assert info.value.code == "INVALID_PERMS" and info.value.symbol == "AAPL240621C00190000"
        assert feed.get_quote("AAPL", timeout=5).bid > 0  # the stock still streams
        emu.max_streams = len(feed.subscriptions)
        with pytest.raises(SubscriptionError, match="MAX_STREAMS_REACHED"):
            feed.subscribe("MSFT", kinds="quote")
        assert feed.stats()["connected"] and feed.stats()["reconnects"] == 0


def test_unknown_contract_times_out_naming_it(emu: ThetaDataEmulator) -> None:
    with _connect(emu) as feed:
        with pytest.raises(RequestTimeout, match="NOPE"):
            feed.get_quote("NOPE", timeout=1.0)


def test_upstream_flap_is_reported_and_data_resumes_without_resubscribing(emu: ThetaDataEmulator) -> None:
    with _connect(emu) as feed:
        got: List[Status] = []
        feed.on_status(got.append)
        first = feed.get_quote("AAPL", timeout=5)
        sent = len(emu.received)
        emu.upstream_down()
        assert wait_until(lambda: any(s.kind == "stale" for s in got), 5), [s.kind for s in got]
        emu.upstream_up()
        assert wait_until(lambda: any(s.kind == "connected" and "back" in s.detail for s in got), 5)
        assert wait_until(lambda: feed.get_quote("AAPL").time > first.time, 5)
        assert len(emu.received) == sent and feed.stats()["reconnects"] == 0  # the Terminal resubscribed itself


def test_option_and_index_streams_round_trip_their_symbols(emu: ThetaDataEmulator) -> None:
    option = "AAPL" + "261218C00200000"
    with _connect(emu) as feed:
        q = feed.get_quote(option, timeout=5)
        assert q.symbol == option and q.ask >= q.bid > 0
        with feed.events(kinds="trade", symbols="$SPX", timeout=5) as stream:
            feed.subscribe("$SPX", kinds="trade")
            t = next(iter(stream))
        assert t.symbol == "$SPX" and t.price > 0 and t.size != t.size  # an index level, no size
        with pytest.raises(ConfigurationError, match="AAPL240524C00950000|NVDA240524C00950000"):
            feed.subscribe("AAPL 261218 C 200", kinds="quote")
        with pytest.raises(UnsupportedError, match="index"):
            feed.get_quote("$SPX", timeout=1)


def test_history_pages_retries_and_no_data(emu: ThetaDataEmulator) -> None:
    emu.page_size = 7
    with _connect(emu) as feed:
        df = feed.history("AAPL", interval="15m", start="-2d", timeout=20)
        assert len(df) > 7 and df.index.is_monotonic_increasing and not df.index.has_duplicates
        assert list(df.columns[:5]) == ["open", "high", "low", "close", "volume"]
        assert any(path.startswith("/v2/page/") for path, _ in emu.rest_calls)
        emu.fail_next = [474, 571]
        again = feed.history("AAPL", interval="15m", start="-2d", timeout=30)
        assert len(again) == len(df)
        assert feed.history("NOPE", interval="1h", start="-2d").empty


def test_option_and_index_history_and_an_expired_page(emu: ThetaDataEmulator) -> None:
    option = f"AAPL261218C{emu.atm_strike('AAPL'):08d}"
    with _connect(emu) as feed:
        bars = feed.history(option, interval="1h", start="-1d")
        underlying = feed.history("AAPL", interval="1h", start="-1d")
        assert len(bars) and (bars["close"] < underlying["close"].min()).all()  # the option's own prices
        daily = feed.history("$SPX", interval="1d", start="-5d")
        assert len(daily) >= 3 and (daily["volume"] == 0).all()  # an index level has no volume
        emu.page_size, emu.page_expire = 3, 0.0  # every page is gone before the client can fetch it
        with pytest.raises(mdsdk.ProviderError, match="477 NO_PAGE_FOUND") as info:
            feed.history("AAPL", interval="15m", start="-2d", timeout=20)
        assert info.value.code == 477


def test_the_full_option_stream_brings_every_contracts_trades(emu: ThetaDataEmulator) -> None:
    with _connect(emu) as feed:
        with feed.events(kinds=("trade", "quote", "bar"), timeout=5) as stream:
            feed.subscribe("ALL:OPTION", kinds="trade")
            got = [ev for _, ev in zip(range(30), stream)]
        assert {ev.topic for ev in got} == {"trade", "quote", "bar"}  # each trade with its quotes and OHLC
        options = {ev.symbol for ev in got}
        assert all(len(s) > 15 and s[-9] in "CP" for s in options)  # each contract's own OCC symbol
        emu.invalid_perms = {"BULK"}
        with pytest.raises(SubscriptionError, match="permission"):
            feed.subscribe("ALL:STOCK", kinds="trade")


def test_trades_lost_upstream_on_a_full_stream_are_a_sequence_gap(emu: ThetaDataEmulator) -> None:
    """A full trade stream carries every trade of its feed, so its sequence must not skip: trades the feed carried
    while the Terminal was cut off upstream show up as a gap with the missing numbers."""
    with _connect(emu) as feed:
        got: List[Status] = []
        trades: List[Any] = []
        feed.on_status(got.append)
        feed.on_trade(trades.append)
        feed.subscribe("ALL:STOCK", kinds="trade")
        feed.subscribe("AAPL", kinds="trade")  # one contract's trades are a sample: never counted
        assert wait_until(lambda: len(trades) >= 10, 5)
        assert not [s for s in got if s.kind == "gap"]  # a live, unbroken stream: no false alarm
        emu.flap(0.5)
        assert wait_until(lambda: any(s.kind == "gap" for s in got), 10), [s.detail for s in got]
        gap = next(s for s in got if s.kind == "gap")
        assert gap.extra["security_type"] == "STOCK" and "trades never arrived" in gap.detail
        seen = [t.extra["sequence"] for t in trades if len(t.symbol) < 10]
        first, last = gap.extra["first"], gap.extra["last"]
        assert first not in seen and last not in seen and feed.stats()["reconnects"] == 0


def test_trade_and_quote_ticks(emu: ThetaDataEmulator) -> None:
    with _connect(emu) as feed:
        emu.page_size = 50  # several pages
        trades = feed.ticks("AAPL", "trade", start="-5min")
        assert len(trades) > 50 and list(trades.columns[:2]) == ["price", "size"]
        assert trades.index.is_monotonic_increasing and str(trades.index.tz) == "UTC"
        assert (trades["price"] > 0).all() and "sequence" in trades.columns
        quotes = feed.ticks("AAPL", "quote", start="-2min")
        assert list(quotes.columns[:4]) == ["bid", "ask", "bid_size", "ask_size"]
        assert (quotes["ask"] >= quotes["bid"]).all()
        index = feed.ticks("$SPX", "trade", start="-5min")
        assert len(index) and index["size"].isna().all()  # index levels carry no size
        assert feed.ticks("NOPE", "trade", start="-5min").empty
        with pytest.raises(mdsdk.ConfigurationError, match="trade, quote"):
            feed.ticks("AAPL", "bars")


def test_providers_without_ticks_say_so() -> None:
    with mdsdk.connect("sim") as feed:
        with pytest.raises(UnsupportedError, match="'sim' does not offer ticks"):
            feed.ticks("SPY")
