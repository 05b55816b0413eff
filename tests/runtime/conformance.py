"""The runtime conformance suite: every registered provider, through its own
emulator over real sockets, behind the public API.

A provider gets all of it by being registered with an emulator: the suite
builds the emulator from the spec's entry, points the provider at it with
:func:`mdsdk.feed.emulator_options`, and checks connect, get_quote,
callbacks, the iterator, history (where capable) and each common fault
with the outcome the provider's capabilities call for. The emulators name
a real instrument (``example_symbol``) and an unknown one (``unknown_symbol``).

With ``test_backfill.py`` (bars across a reconnect) this is the fault matrix:
every provider x {drop mid-stream, stall, garbage frame, auth refusal,
unknown symbol, token expiry, takeover, slow consumer, server restart,
wall-clock jump}, each ending recovered with its subscriptions restored or in
a typed error.
"""

from __future__ import annotations

import inspect
import math
import time
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Tuple

import pytest

import mdsdk
from mdsdk.connection import Clock
from mdsdk.errors import AuthenticationError, RequestTimeout, SubscriptionError, TakeoverError
from mdsdk.events import Quote, Status
from mdsdk.feed import emulator_options
from mdsdk.policy import QueuePolicy, ReconnectPolicy
from mdsdk.providers.base import ProviderSpec
from mdsdk.registry import get_spec, known_providers, load_object

from ..conftest import wait_until

FAST = ReconnectPolicy(initial=0.05, cap=0.2, jitter=0.0)
PROVIDERS = [name for name in known_providers() if get_spec(name).emulator]
# Liveness settings the suite shortens where a provider has them, so a stall is seen in about a second.
QUICK_LIVENESS = {"keepalive_timeout": 1.0, "server_timeout": 1.0}
QUICK_EMULATOR = {"tick": 0.05, "keepalive_timeout": 3.0}


def _accepted(cls: Any, wanted: Dict[str, Any]) -> Dict[str, Any]:
    """The ``wanted`` keywords the emulator class takes (through a subclass that passes ``**kwargs`` on too)."""
    names: set = set()
    for klass in cls.__mro__:
        if "__init__" in vars(klass):
            params = inspect.signature(klass.__init__).parameters
            names |= set(params)
            if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
                break
    return {k: v for k, v in wanted.items() if k in names}


@contextmanager
def emulated(name: str, quick_liveness: bool = False, **options: Any) -> Iterator[Tuple[Any, mdsdk.Feed]]:
    """The provider's emulator and a feed connected to it."""
    spec: ProviderSpec = get_spec(name)
    assert spec.emulator
    cls = load_object(spec.emulator)
    with cls(**_accepted(cls, QUICK_EMULATOR)) as emu:
        names = {o.name for o in spec.options}
        opts = dict(emulator_options(spec, emu), **options)
        if "emulate" in names:
            opts["emulate"] = False  # connect to this emulator, not one of the feed's own
        if quick_liveness:
            opts.update({k: v for k, v in QUICK_LIVENESS.items() if k in names})
        with mdsdk.connect(name, reconnect=FAST, **opts) as feed:
            yield emu, feed


def statuses(feed: mdsdk.Feed) -> List[Status]:
    got: List[Status] = []
    feed.on_status(got.append)
    return got


def kinds(got: List[Status]) -> List[str]:
    return [s.kind for s in got]


def fresh_quote(feed: mdsdk.Feed, symbol: str) -> bool:
    """True once a quote newer than the current one arrives."""
    before = feed.get_quote(symbol, timeout=5).time
    return wait_until(lambda: feed.cache.quotes[symbol].time > before, 5)


@pytest.fixture(params=PROVIDERS)
def provider(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class RuntimeConformance:
    """Inherit to run the suite (tests/runtime/test_conformance.py does)."""

    def test_connect_and_get_quote(self, provider: str) -> None:
        with emulated(provider) as (emu, feed):
            q = feed.get_quote(emu.example_symbol, timeout=5)
            assert isinstance(q, Quote) and q.symbol == emu.example_symbol and q.provider == provider
            assert isinstance(q.bid, float) and isinstance(q.time, int) and q.time > 0
            assert feed.stats()["connected"] and feed.subscriptions

    def test_callbacks_and_iterator(self, provider: str) -> None:
        with emulated(provider) as (emu, feed):
            got: List[Quote] = []
            feed.on_quote(got.append, symbols=[emu.example_symbol])
            with feed.events(kinds=("quote",), timeout=5) as stream:
                feed.subscribe(emu.example_symbol, kinds=("quote",))
                first = next(iter(stream))
            assert first.symbol == emu.example_symbol
            assert wait_until(lambda: len(got) >= 2)
            assert all(q.symbol == emu.example_symbol for q in got)

    def test_history_where_capable(self, provider: str) -> None:
        with emulated(provider) as (emu, feed):
            if not feed.capabilities.history:
                with pytest.raises(mdsdk.UnsupportedError, match=provider):
                    feed.history(emu.example_symbol, interval="1h", start="-1d")
                return
            df = feed.history(emu.example_symbol, interval="1h", start="-2d", timeout=20)
            assert list(df.columns[:5]) == ["open", "high", "low", "close", "volume"]
            assert 40 <= len(df) <= 49 and df.index.is_monotonic_increasing
            assert df.attrs["provider"] == provider

    def test_drop_reconnects_and_resubscribes(self, provider: str) -> None:
        with emulated(provider) as (emu, feed):
            got = statuses(feed)
            feed.get_quote(emu.example_symbol)
            emu.drop()
            assert wait_until(lambda: "resubscribed" in kinds(got), 10), kinds(got)
            assert "disconnected" in kinds(got) and "reconnecting" in kinds(got)
            assert fresh_quote(feed, emu.example_symbol)
            assert feed.stats()["reconnects"] >= 1

    def test_stall_is_detected_and_recovered(self, provider: str) -> None:
        with emulated(provider, quick_liveness=True) as (emu, feed):
            got = statuses(feed)
            feed.get_quote(emu.example_symbol)
            emu.stall()
            assert wait_until(lambda: "resubscribed" in kinds(got), 10), kinds(got)
            assert fresh_quote(feed, emu.example_symbol)

    def test_garbage_frame_is_counted_and_skipped(self, provider: str) -> None:
        with emulated(provider) as (emu, feed):
            got = statuses(feed)
            feed.get_quote(emu.example_symbol)
            emu.inject()
            assert wait_until(lambda: feed.stats()["malformed"] >= 1)
            assert wait_until(lambda: "error" in kinds(got))  # the Status travels via the callback thread
            assert fresh_quote(feed, emu.example_symbol)
            assert feed.stats()["reconnects"] == 0

    def test_auth_refusal_is_a_typed_error(self, provider: str) -> None:
        spec = get_spec(provider)
        cls = load_object(spec.emulator or "")
        with cls(**_accepted(cls, QUICK_EMULATOR)) as emu:
            emu.refuse_auth = True
            opts = emulator_options(spec, emu)
            if "emulate" in {o.name for o in spec.options}:
                opts["emulate"] = False
            with pytest.raises(AuthenticationError):
                mdsdk.connect(provider, reconnect=FAST, **opts)
            assert wait_until(lambda: emu.open_connections == 0)  # the refused client did not stay or retry

    def test_token_expiry(self, provider: str) -> None:
        with emulated(provider) as (emu, feed):
            got = statuses(feed)
            feed.get_quote(emu.example_symbol)
            emu.expire_token()
            emu.drop()
            if feed.capabilities.rest:  # a fresh token can be had: the stream comes back
                assert wait_until(lambda: "resubscribed" in kinds(got), 10), kinds(got)
                assert fresh_quote(feed, emu.example_symbol)
            else:  # a fixed token: the user must bring a new one
                assert wait_until(lambda: any(s.extra.get("fatal") for s in got), 10), kinds(got)
                with pytest.raises(AuthenticationError):
                    feed.get_quote(emu.example_symbol)

    def test_takeover_stops_without_a_reconnect_war(self, provider: str) -> None:
        with emulated(provider) as (emu, feed):
            got = statuses(feed)
            feed.get_quote(emu.example_symbol)
            connections = emu.connections
            emu.takeover()
            assert wait_until(lambda: any(s.extra.get("fatal") for s in got), 10), kinds(got)
            with pytest.raises(TakeoverError):
                feed.get_quote(emu.example_symbol)
            assert emu.connections == connections and not feed.stats()["connected"]

    def test_restart_on_the_same_port(self, provider: str) -> None:
        with emulated(provider) as (emu, feed):
            got = statuses(feed)
            feed.get_quote(emu.example_symbol)
            url = emu.url
            emu.restart()
            assert emu.url == url
            assert wait_until(lambda: "resubscribed" in kinds(got), 10), kinds(got)
            assert fresh_quote(feed, emu.example_symbol)

    def test_a_slow_consumer_loses_counted_events_not_the_socket(self, provider: str) -> None:
        with emulated(provider, callback_queue=QueuePolicy(maxsize=20, mode="drop_oldest")) as (emu, feed):
            feed.on_quote(lambda q: time.sleep(0.25))  # far slower than the stream
            feed.subscribe(emu.example_symbol, kinds=("quote",))
            assert wait_until(lambda: feed.stats()["dropped"] > 0, 20), feed.stats()["queues"]
            assert feed.stats()["reconnects"] == 0 and feed.stats()["connected"]  # the socket kept being read
            assert fresh_quote(feed, emu.example_symbol)  # and the latest quote is still current

    def test_unknown_symbol(self, provider: str) -> None:
        with emulated(provider) as (emu, feed):
            feed.get_quote(emu.example_symbol)
            if feed.capabilities.rejects_unknown:  # the server answers: the symbol is refused at once
                with pytest.raises(SubscriptionError) as info:
                    feed.get_quote(emu.unknown_symbol, timeout=5)
                assert info.value.symbol == emu.unknown_symbol
            else:  # the server stays silent about it: the wait says which symbol
                with pytest.raises(RequestTimeout, match=emu.unknown_symbol):
                    feed.get_quote(emu.unknown_symbol, timeout=1.0)
            q = feed.get_quote(emu.example_symbol)  # the rest keep streaming
            assert not math.isnan(q.bid)


class JumpingClock(Clock):
    """A wall clock that jumps an hour forward, then back, while the
    monotonic clock runs normally."""

    def __init__(self) -> None:
        self.offset_ns = 0

    def time_ns(self) -> int:
        return time.time_ns() + self.offset_ns


class ClockConformance:
    """Wall-clock steps during a stream cause no reconnect and hide no stall."""

    def test_wall_clock_jumps_cause_no_reconnect_and_hide_no_stall(self, provider: str) -> None:
        clock = JumpingClock()
        with emulated(provider, quick_liveness=True, clock=clock) as (emu, feed):
            got = statuses(feed)
            feed.get_quote(emu.example_symbol)
            for offset in (3600, -3600):
                clock.offset_ns = offset * 1_000_000_000
                assert fresh_quote(feed, emu.example_symbol)
            time.sleep(1.5)  # longer than the 1 s liveness limit: a wrong clock would have fired by now
            assert feed.stats()["reconnects"] == 0 and "disconnected" not in kinds(got)
            emu.stall()
            assert wait_until(lambda: "resubscribed" in kinds(got), 10), kinds(got)
