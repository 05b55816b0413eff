"""Bars across a reconnect, for every provider that streams live bars and serves history: the emulator's market
clock runs 60 times faster than real time (a minute bar lasts a second) and the feed reads the same clock, so a
two-second outage misses two bars. The outage is reported as ``Status(gap)``, the missed bars arrive from history
before the new live ones, and every complete bar reaches the user exactly once, in order."""

from __future__ import annotations

from typing import List

import pytest

import mdsdk
from mdsdk.events import Bar, Status
from mdsdk.feed import emulator_options
from mdsdk.policy import ReconnectPolicy
from mdsdk.registry import get_spec, known_providers, load_object

from ..conftest import wait_until

SPEED = 60.0
# ThetaData's live bar is the session so far: it has no minute bars to lose.
BARS = [name for name in known_providers()
        if get_spec(name).emulator and "bar" in get_spec(name).capabilities.kinds
        and get_spec(name).capabilities.history and name != "thetadata"]


@pytest.mark.parametrize("name", BARS)
def test_a_reconnect_loses_no_bar_and_repeats_none(name: str) -> None:
    spec = get_spec(name)
    cls = load_object(spec.emulator or "")
    with cls(tick=0.05, speed=SPEED) as emu:
        opts = dict(emulator_options(spec, emu))
        if "emulate" in {o.name for o in spec.options}:
            opts["emulate"] = False
        # The outage: the first reconnect waits 2.5 real seconds, 2.5 market minutes.
        policy = ReconnectPolicy(initial=2.5, cap=2.5, jitter=0.0)
        with mdsdk.connect(name, reconnect=policy, clock=emu.clock, **opts) as feed:
            bars: List[Bar] = []
            news: List[Status] = []
            feed.on_bar(bars.append)
            feed.on_status(news.append)
            feed.subscribe(emu.example_symbol, kinds="bar", interval="1m")
            assert wait_until(lambda: sum(b.complete for b in bars) >= 2, 15), f"{name}: no complete bars"
            emu.drop()
            assert wait_until(lambda: any(s.kind == "gap" for s in news), 15), [s.kind for s in news]
            after = sum(b.complete for b in bars)
            assert wait_until(lambda: sum(b.complete for b in bars) >= after + 4, 20)
            starts = [b.time for b in bars if b.complete]
            step = 60 * 10**9
            assert starts == sorted(starts) and len(starts) == len(set(starts)), f"{name}: repeated bars"
            holes = [(a, b) for a, b in zip(starts, starts[1:]) if b - a != step]
            assert not holes, f"{name}: missing bars after the reconnect: {holes}"
            gap = next(s for s in news if s.kind == "gap")
            assert 0 < gap.extra["end"] - gap.extra["start"]  # type: ignore[operator]




def test_a_resumption_cut_short_by_the_server_is_reported_and_fetched_from_history() -> None:
    """DXLink resumes candles itself (``fromTime``), but a server that snips the resumed snapshot to its newest
    bars skips some: the first bar after the reconnect shows the hole, which is reported as ``Status(gap)`` and
    asked of history (the emulator snips that snapshot too, as the server would, so the hole stays reported)."""
    from mdsdk.testing import DXLinkEmulator

    with DXLinkEmulator(tick=0.05, speed=SPEED, max_snapshot=2) as emu:
        policy = ReconnectPolicy(initial=2.5, cap=2.5, jitter=0.0)
        with mdsdk.connect("dxlink", url=emu.url, token=emu.token, reconnect=policy, clock=emu.clock) as feed:
            bars: List[Bar] = []
            news: List[Status] = []
            feed.on_bar(bars.append)
            feed.on_status(news.append)
            feed.subscribe("SPY", kinds="bar", interval="1m")
            assert wait_until(lambda: sum(b.complete for b in bars) >= 2, 15), "no complete bars"
            emu.drop()
            assert wait_until(lambda: any("skipped" in s.detail for s in news), 15), [s.detail for s in news]
            skipped = next(s for s in news if "skipped" in s.detail)
            first_ms = skipped.extra["start"] // 1_000_000  # type: ignore[operator]
            assert skipped.kind == "gap" and skipped.symbol == "SPY" and skipped.extra["start"] < skipped.extra["end"]

            def asked_history() -> bool:
                return any(item.get("fromTime") == first_ms for frame in list(emu.received)
                           if frame.get("type") == "FEED_SUBSCRIPTION" for item in frame.get("add", ()))
            assert wait_until(asked_history, 10), "the hole was not asked of history"
            after = sum(b.complete for b in bars)
            assert wait_until(lambda: sum(b.complete for b in bars) >= after + 2, 20)  # live bars go on after it
            starts = [b.time for b in bars if b.complete]
            assert starts == sorted(starts) and len(starts) == len(set(starts)), "repeated bars"
