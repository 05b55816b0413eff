"""Staleness and the session calendar: a symbol quiet far longer than its cadence while its market trades gets
one Status(stale) and one when it speaks again; closed markets do not count; a feed whose every symbol went
quiet is reconnected, one that never spoke is not. Scripted time, through a real protocol object too."""

from __future__ import annotations

import datetime as dt
from typing import Any, List

import pytest

from mdsdk.errors import ConfigurationError, ConnectionLost
from mdsdk.events import Quote, Status
from mdsdk.providers.base import Subscription
from mdsdk.providers.freshness import Freshness, Staleness, asset_class_of
from mdsdk.sessions import MarketCalendar

from .conformance import Pair
from .test_thetadata_protocol import TerminalPeer


def status(kind: str, detail: str, wall_ns: int, symbol: str = "", **extra: Any) -> Status:
    return Status(symbol, wall_ns or 1, "p", kind=kind, detail=detail, extra=extra)


def _ns(iso: str) -> int:
    return int(dt.datetime.fromisoformat(iso).timestamp() * 1e9)


def _quote(symbol: str) -> Quote:
    return Quote(symbol, 1, "p", bid=1.0, ask=2.0)


def _run(f: Freshness, start: float, seconds: int, speaking: List[str], wall_ns: int = 1) -> List[Status]:
    """One check a second for ``seconds``, the ``speaking`` symbols updating every second."""
    out: List[Status] = []
    for i in range(1, seconds + 1):
        now = start + i
        f.stamp([_quote(s) for s in speaking], now - 0.5)
        out += f.check(now, wall_ns, status)  # type: ignore[arg-type]
    return out


def test_a_quiet_symbol_is_stale_once_and_fresh_again() -> None:
    f = Freshness(Staleness(factor=5, floor=3, calendar=None))
    f.watch([("A", "equity"), ("B", "equity")], 0.0)
    assert _run(f, 0.0, 10, ["A", "B"]) == []          # cadence learnt: about a second
    quiet = _run(f, 10.0, 10, ["B"])                    # A stops
    assert [(s.kind, s.symbol, s.extra["stale"]) for s in quiet] == [("stale", "A", True)]
    assert f.snapshot(20.0)["A"]["stale"] is True and f.snapshot(20.0)["B"]["stale"] is False
    back = _run(f, 20.0, 2, ["A", "B"])
    assert [(s.kind, s.symbol, s.extra["stale"]) for s in back] == [("stale", "A", False)]


def test_closed_markets_do_not_count() -> None:
    f = Freshness(Staleness(factor=5, floor=3, calendar=MarketCalendar()))
    f.watch([("AAPL", "equity"), ("/ES", "future")], 0.0)
    saturday = _ns("2026-11-21T15:00:00+00:00")         # equities and Globex both closed
    assert _run(f, 0.0, 60, [], saturday) == []
    monday = _ns("2026-11-23T15:00:00+00:00")           # both open: silence now counts
    assert {s.symbol for s in _run(f, 60.0, 60, [], monday)} == {"AAPL", "/ES"}


def test_a_silent_feed_is_reconnected_but_one_that_never_spoke_is_not() -> None:
    f = Freshness(Staleness(factor=5, floor=3, feed_quiet=10, calendar=None))
    f.watch([("A", "equity")], 0.0)
    _run(f, 0.0, 5, ["A"])
    with pytest.raises(ConnectionLost, match="no data for any of 1 symbols for 10 s"):
        _run(f, 5.0, 60, [])
    never = Freshness(Staleness(factor=5, floor=3, feed_quiet=10, calendar=None))
    never.watch([("NOPE", "equity")], 0.0)
    assert [s.symbol for s in _run(never, 0.0, 60, [])] == ["NOPE"]  # stale, reported, no reconnect


def test_through_a_protocol_object() -> None:
    pair = Pair(TerminalPeer())
    pair.connect()
    pair.proto.fresh.policy = Staleness(factor=5, floor=3, calendar=None)
    pair.proto.subscribe([Subscription("quote", "AAA"), Subscription("quote", "BBB")], pair.now)
    pair.pump()
    news: List[Any] = []
    for second in range(30):
        pair.now += 1.0
        for symbol in (("AAA", "BBB") if second < 10 or second > 25 else ("BBB",)):
            for frame in pair.h.quote_frames(symbol, 1.0, 2.0):
                pair.receive(frame)
        pair.proto.handle_timer(pair.now, int(pair.now * 1e9))
        news += [e for e in pair.proto.news if isinstance(e, Status) and e.kind == "stale"]
        pair.proto.news.clear()
    assert [(s.symbol, s.extra["stale"]) for s in news] == [("AAA", True), ("AAA", False)]


def test_asset_classes_and_bad_policies() -> None:
    assert [asset_class_of(s) for s in ("/ESZ26", "$SPX", "EUR/USD", "AAPL  240517C00190000", "AAPL")] == \
        ["future", "index", "fx", "option", "equity"]
    for bad in ({"factor": 0}, {"floor": -1}, {"feed_quiet": 0}, {"calendar": "NYSE"}):
        with pytest.raises(ConfigurationError):
            Staleness(**bad)  # type: ignore[arg-type]
