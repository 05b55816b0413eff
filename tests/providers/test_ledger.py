"""The bar ledger and the reconnect backfill on their own: repeats and stale forming bars dropped, held series
released in order after their backfill, the outage as Status(gap), a backfill that never answers; and the book
check, alone and through a protocol object (a crossed book is dropped and reported)."""

from __future__ import annotations

import json
import math
from typing import Any, List, Tuple

from mdsdk.events import Bar, BookSnapshot, Status
from mdsdk.providers.base import Capabilities, History, Subscription
from mdsdk.providers.ledger import NEXT, REPEAT, BarLedger, Continuity, Sequences, book_problem

M = 60 * 10**9


def bar(t: int, complete: bool = True, symbol: str = "ES", interval: str = "1m") -> Bar:
    return Bar(symbol, t * M, "p", interval, 1.0, 2.0, 0.5, 1.5, 10.0, complete)


def status(kind: str, detail: str, wall_ns: int, symbol: str = "", **extra: Any) -> Status:
    return Status(symbol, wall_ns or 1, "p", kind=kind, detail=detail, extra=extra)


def test_repeats_and_stale_forming_bars_are_dropped() -> None:
    ledger = BarLedger()
    ledger.watch([("ES", "1m")])
    first = ledger.apply([bar(1), bar(2, False), bar(2), bar(1), bar(2, False), bar(3, False)])
    assert [(b.time // M, b.complete) for b in first] == [(1, True), (2, False), (2, True), (3, False)]
    assert ledger.repeats == 2
    other = bar(1, symbol="NQ")  # a series nobody subscribed passes untouched, and leaves no trace
    assert ledger.apply([other, other]) == [other, other] and ("NQ", "1m") not in ledger.last


def test_a_held_series_waits_for_its_backfill_then_goes_in_order() -> None:
    ledger = BarLedger()
    ledger.watch([("ES", "1m")])
    ledger.apply([bar(1)])
    ledger.hold(("ES", "1m"))
    assert ledger.apply([bar(5, False), bar(5), bar(6, False)]) == []  # live bars wait
    out = ledger.release(("ES", "1m"), [bar(3), bar(2), bar(4), bar(1), bar(5)])
    assert [(b.time // M, b.complete) for b in out] == [(2, True), (3, True), (4, True), (5, False), (5, True),
                                                        (6, False)]  # merged by bar start, as live would have


def test_continuity_reports_the_outage_and_backfills_each_series() -> None:
    c = Continuity(patience=5.0)
    c.ledger.watch([("ES", "1m"), ("NQ", "5m")])
    c.ledger.apply([bar(10), bar(10, symbol="NQ", interval="5m")])
    c.last_rx_ns = 100 * M
    c.dropped()
    asked: List[Any] = []
    news = c.reconnected(1000.0, 103 * M + 5, Capabilities(history=True), lambda rid, req: asked.append((rid, req)),
                         status)
    assert [s.kind for s in news] == ["gap"] and news[0].extra == {"start": 100 * M, "end": 103 * M + 5}
    es = next(req for _, req in asked if req.symbol == "ES")
    assert isinstance(es, History) and (es.start_ns, es.end_ns) == (11 * M, 103 * M)  # the forming bar is live's
    rid_es = next(rid for rid, req in asked if req.symbol == "ES")
    assert rid_es < 0 and c.owns(rid_es) and c.deadline == 1005.0
    out = c.answer(rid_es, type("R", (), {"bars": (bar(11), bar(12))})(), None, status, 1)
    assert [b.time // M for b in out] == [11, 12] and c.backfilled == 2
    late = c.timer(1006.0, status, 1)  # NQ's backfill never answered: its held bars go, with a Status
    assert [s.kind for s in late if isinstance(s, Status)] == ["error"] and c.deadline is None


def test_two_outages_close_together_lose_no_bar_between_or_after_them() -> None:
    c = Continuity(patience=30.0)
    c.ledger.watch([("ES", "1m")])
    c.ledger.apply([bar(10)])
    asked: List[Any] = []

    def outage(drop_at: int, back_at: int, now: float) -> None:
        c.last_rx_ns = drop_at * M
        c.dropped()
        c.reconnected(now, back_at * M + 5, Capabilities(history=True), lambda rid, req: asked.append((rid, req)),
                      status)

    outage(10, 14, 100.0)  # bars 11-13 missed: their backfill is slow to answer
    assert c.ledger.apply([bar(14), bar(15), bar(16, False)]) == []  # live bars between the outages are held
    outage(16, 20, 110.0)  # bars 16-19 missed while the first backfill is still out
    assert [(r.start_ns // M, r.end_ns // M) for _, r in asked] == [(11, 14), (11, 20)]
    first = c.answer(asked[0][0], type("R", (), {"bars": (bar(11), bar(12), bar(13))})(), None, status, 1)
    assert first == []  # the series waits for the second backfill too: releasing now would skip 16-19 for good
    assert c.ledger.apply([bar(20), bar(21, False)]) == []
    second = c.answer(asked[1][0], type("R", (), {"bars": tuple(bar(t) for t in range(11, 20))})(), None, status, 1)
    got = [(b.time // M, b.complete) for b in second]
    complete = [(t, True) for t in range(11, 21)]
    assert got == complete[:5] + [(16, False)] + complete[5:] + [(21, False)]
    assert c.backfilled == 10 and c.deadline is None


def test_no_backfill_without_history_or_where_the_provider_resumes_bars() -> None:
    c = Continuity()
    assert c.reconnected(1.0, 5, Capabilities(history=True), lambda rid, req: None, status) == []  # first connection
    c.ledger.watch([("ES", "1m")])
    c.ledger.apply([bar(1)])
    c.last_rx_ns = 2 * M
    c.dropped()
    asked: List[Any] = []
    for can in (Capabilities(history=False), Capabilities(history=True, resumes_bars=True)):
        c.outage_from = 2 * M
        news = c.reconnected(1.0, 4 * M, can, lambda rid, req: asked.append(req), status)
        assert [s.kind for s in news] == ["gap"] and asked == [] and not c.ledger.holding


def book(bids: Any, asks: Any) -> BookSnapshot:
    return BookSnapshot("MSFT", 1, "p", tuple(bids), tuple(asks))


def test_book_problems() -> None:
    assert book_problem(book([(10.0, 1.0), (9.5, 2.0)], [(10.5, 1.0), (11.0, 3.0)])) is None
    assert book_problem(book([(10.0, 1.0)], [(10.0, 1.0)])) is None  # locked is a real market state
    assert "crossed" in (book_problem(book([(10.0, 1.0)], [(9.9, 1.0)])) or "")
    assert "not falling" in (book_problem(book([(10.0, 1.0), (10.0, 2.0)], [])) or "")
    assert "not rising" in (book_problem(book([], [(10.0, 1.0), (9.0, 2.0)])) or "")
    assert "level 0" in (book_problem(book([(10.0, 0.0)], [])) or "")
    assert "level 1" in (book_problem(book([], [(10.0, 1.0), (math.nan, 1.0)])) or "")


def test_a_crossed_book_is_dropped_and_reported_through_the_protocol() -> None:
    from .conformance import Pair
    from .test_tdschwab_protocol import SCHWAB_ID, SCHWAB_TOKEN, StreamerPeer
    from mdsdk.providers.tdschwab.variants import SCHWAB
    pair = Pair(StreamerPeer(SCHWAB, SCHWAB_TOKEN, SCHWAB_ID))
    pair.connect()
    pair.proto.subscribe([Subscription("book", "MSFT")], pair.now)
    pair.pump()

    def frame(ask: float) -> str:
        return json.dumps({"data": [{"service": "NASDAQ_BOOK", "timestamp": 1590532470149, "command": "SUBS",
                                     "content": [{"key": "MSFT", "1": 1590532442608,
                                                  "2": [{"0": 181.77, "1": 100, "2": 1, "3": []}],
                                                  "3": [{"0": ask, "1": 100, "2": 1, "3": []}]}]}]})
    good = pair.receive(frame(181.95))
    assert [type(e).__name__ for e in good] == ["BookSnapshot"]
    bad = pair.receive(frame(181.50))
    assert [(type(e).__name__, getattr(e, "kind", None), e.symbol) for e in bad] == [("Status", "error", "MSFT")]
    assert "crossed" in bad[0].detail and pair.proto.bad_books == 1


def resumed(last: int) -> Tuple[Continuity, List[Any]]:
    """A Continuity whose ES 1m series had its last complete bar at ``last`` minutes, after a reconnect to a
    provider that resumes bar series itself."""
    c = Continuity(patience=5.0)
    c.ledger.watch([("ES", "1m")])
    c.ledger.apply([bar(last)])
    c.last_rx_ns = (last + 1) * M
    c.dropped()
    asked: List[Any] = []
    news = c.reconnected(50.0, (last + 9) * M, Capabilities(history=True, resumes_bars=True),
                         lambda rid, req: asked.append((rid, req)), status)
    assert [s.kind for s in news] == ["gap"] and asked == []  # resumed: nothing fetched up front
    return c, asked


def test_a_resumption_that_skips_bars_is_reported_and_backfilled_in_order() -> None:
    c, asked = resumed(10)
    out = c.apply([bar(14), bar(15), bar(16, False)], 51.0, status, 7)
    assert [(s.kind, s.extra["start"], s.extra["end"]) for s in out] == [("gap", 11 * M, 14 * M)]
    assert "skipped 3 bar(s)" in out[0].detail
    (rid, req), = asked
    assert isinstance(req, History) and (req.symbol, req.start_ns, req.end_ns) == ("ES", 11 * M, 14 * M)
    assert c.owns(rid) and c.deadline == 56.0 and c.ledger.holding
    assert c.apply([bar(16)], 52.0, status, 8) == []  # still held behind the backfill
    done = c.answer(rid, type("R", (), {"bars": (bar(13), bar(11), bar(12))})(), None, status, 9)
    assert [(b.time // M, b.complete) for b in done] == [(11, True), (12, True), (13, True), (14, True),
                                                         (15, True), (16, False), (16, True)]


def test_a_resumption_that_continues_is_trusted_and_only_its_first_bar_is_checked() -> None:
    c, asked = resumed(10)
    out = c.apply([bar(10), bar(11, False), bar(11)], 51.0, status, 7)  # replays the last bar: continuous
    assert [(b.time // M, b.complete) for b in out] == [(11, False), (11, True)] and c.ledger.repeats == 1
    assert [b.time // M for b in c.apply([bar(20)], 52.0, status, 8)] == [20]  # a quiet market later: no fetch
    assert asked == [] and not c.ledger.suspect


def test_no_hole_check_without_history_or_for_providers_that_do_not_resume() -> None:
    c = Continuity()
    c.ledger.watch([("ES", "1m")])
    c.ledger.apply([bar(1)])
    c.last_rx_ns = 2 * M
    c.dropped()
    c.reconnected(1.0, 9 * M, Capabilities(history=False, resumes_bars=True), lambda rid, req: None, status)
    assert not c.ledger.suspect
    assert [b.time // M for b in c.apply([bar(7)], 2.0, status, 1)] == [7]


def test_sequences_count_per_key_and_wrap_where_the_counter_does() -> None:
    plain = Sequences()
    assert [plain.seen("k", n) for n in (5, 6, 6, 4, 9)] == [NEXT, NEXT, REPEAT, REPEAT, (7, 8)]
    assert plain.seen("other", 1) == NEXT and plain.last == {"k": 9, "other": 1}
    wraps = Sequences(modulus=1 << 32)
    top = (1 << 32) - 2
    assert [wraps.seen("OPTION", n) for n in (top, top + 1, 0, 3, 2)] == [NEXT, NEXT, NEXT, (1, 2), REPEAT]
    assert wraps.seen("OPTION", top) == REPEAT  # far behind: late, not a skip of four billion
    assert wraps.seen("OPTION", 1 << 30) == (4, (1 << 30) - 1)
    small = Sequences(max_keys=2)
    small.seen("a", 1), small.seen("b", 1), small.seen("c", 1)
    assert len(small.last) <= 2  # bounded, whatever keys a server invents
    small.reset()
    assert small.last == {}
