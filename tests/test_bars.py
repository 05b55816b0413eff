"""Bars built from trades (mdsdk.bars): the rules for time, tick and volume bars and for late trades, on their
own; ``feed.bars`` live from sim; and built bars against a server's own running OHLCV (the Theta Terminal
emulator sends the session's OHLC with every trade)."""

from __future__ import annotations

import datetime as _dt
import math
import time
from typing import Any, List

import pytest

import mdsdk
from mdsdk.bars import BarBuilder, parse_rule
from mdsdk.errors import ConfigurationError
from mdsdk.events import Bar, Trade
from mdsdk.testing import ThetaDataEmulator

S = 1_000_000_000
T0 = 1_716_303_600 * S  # 2024-05-21 15:00 UTC, a Tuesday in regular hours


def trade(t: float, price: float, size: float = 100.0, symbol: str = "SPY") -> Trade:
    return Trade(symbol, T0 + int(t * S), "p", price, size)


def ohlcv(b: Bar) -> Any:
    return ((b.time - T0) / S, b.open, b.high, b.low, b.close, b.volume, b.extra["trades"], b.complete)


def test_time_bars_complete_at_the_next_periods_trade_and_late_trades_are_left_out() -> None:
    build = BarBuilder("1m")
    out: List[Bar] = []
    for t, p in ((1, 10.0), (20, 12.0), (59.9, 9.0), (61, 11.0), (30, 99.0), (125, 13.0)):
        out += build.add(trade(t, p))
    assert [ohlcv(b) for b in out] == [(0, 10.0, 12.0, 9.0, 9.0, 300.0, 3, True),
                                       (60, 11.0, 11.0, 11.0, 11.0, 100.0, 1, True)]
    assert build.late == 1  # the 99.0 print stamped in the finished first minute changed nothing
    assert [ohlcv(b) for b in build.flush()] == [(120, 13.0, 13.0, 13.0, 13.0, 100.0, 1, True)]
    assert build.flush() == [] and out[0].interval == "1m"


def test_forming_bars_follow_every_trade_and_bad_numbers_are_handled() -> None:
    build = BarBuilder("5s", forming=True)
    assert build.add(trade(0, math.nan)) == []  # no price: skipped
    first = build.add(trade(0.5, 10.0, math.nan))  # no size: counts as 0
    second = build.add(trade(1, 10.5, 200.0))
    assert [ohlcv(b) for b in first + second] == [(0, 10.0, 10.0, 10.0, 10.0, 0.0, 1, False),
                                                  (0, 10.0, 10.5, 10.0, 10.5, 200.0, 2, False)]
    nxt = build.add(trade(6, 11.0))
    assert [b.complete for b in nxt] == [True, False] and nxt[0].close == 10.5


def test_tick_and_volume_bars_by_arrival_with_whole_trades() -> None:
    ticks = BarBuilder("2t")
    got = [b for t in range(5) for b in ticks.add(trade(t, 10.0 + t))]
    assert [(b.open, b.close, b.extra["trades"], (b.time - T0) // S) for b in got] == [(10.0, 11.0, 2, 0),
                                                                                      (12.0, 13.0, 2, 2)]
    volume = BarBuilder("500v")
    sizes = (200.0, 200.0, 300.0, 100.0, 400.0)
    got = [b for i, n in enumerate(sizes) for b in volume.add(trade(i, 10.0, n))]
    assert [(b.volume, b.extra["trades"]) for b in got] == [(700.0, 3), (500.0, 2)]  # the crossing trade stays whole
    assert got[0].interval == "500v" and volume.late == 0


def test_rules_are_checked() -> None:
    assert str(parse_rule("5m")) == "5m" and parse_rule("0100t") == "100t"
    for bad in ("0t", "abc", "5x", "", 7):
        with pytest.raises(ConfigurationError, match="bar rule|count of at least 1"):
            parse_rule(bad)  # type: ignore[arg-type]


def test_feed_bars_from_sim_trades() -> None:
    with mdsdk.connect("sim") as feed:
        with feed.events(kinds="trade", symbols=["SPY"], timeout=10) as tape:
            with feed.bars("SPY", "1s", timeout=10) as bars:
                built = [b for _, b in zip(range(3), bars)]
            trades: List[Trade] = []
            for t in tape:  # what the bars were built from, up to the end of the last one
                if t.time >= built[-1].time + S:
                    break
                trades.append(t)
        with pytest.raises(ConfigurationError, match="source"):
            feed.bars("SPY", "1s", source="quotes")
    for b in built:
        inside = [t for t in trades if b.time <= t.time < b.time + S]
        assert b.complete and b.interval == "1s" and b.provider == "sim"
        assert len(inside) == b.extra["trades"]  # the tape opened before the bars did: it saw every trade
        assert (b.open, b.close, b.volume) == (inside[0].price, inside[-1].price, sum(t.size for t in inside))
        assert (b.high, b.low) == (max(t.price for t in inside), min(t.price for t in inside))


def test_built_bars_match_the_servers_running_ohlcv() -> None:
    """The Terminal sends the session's OHLC before each trade it includes: from the first trade on, the bar
    built here must track the server's close, volume and trade count exactly, and stay within its high and low."""
    real0 = time.time()
    with ThetaDataEmulator(tick=0.05, clock=lambda: T0 / S + (time.time() - real0)) as emu:
        with mdsdk.connect("thetadata", url=emu.url, api_url=emu.api_url) as feed:
            with feed.events(kinds=("trade", "bar"), symbols=["AAPL"], timeout=10) as stream:
                feed.subscribe("AAPL", kinds=("trade", "bar"), interval="1d")
                got = [ev for _, ev in zip(range(60), stream)]
    build = BarBuilder("1d", forming=True)
    server = base = None
    compared = 0
    for ev in got:
        if isinstance(ev, Bar):
            server = ev
        elif server is not None:
            mine = build.add(ev)[-1]
            if base is None:
                base = (server.volume - ev.size, server.extra["count"] - 1)
            assert mine.close == server.close and mine.volume == server.volume - base[0]
            assert mine.extra["trades"] == server.extra["count"] - base[1]
            assert server.low <= mine.low <= mine.high <= server.high
            compared += 1
    assert compared >= 10, f"only {compared} trades came with the server's OHLC"
    assert _dt.datetime.fromtimestamp(mine.time / S, _dt.timezone.utc).date() == _dt.date(2024, 5, 21)
