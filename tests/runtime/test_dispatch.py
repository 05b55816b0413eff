"""The dispatcher's callbacks: every event reaches the right callbacks in
order (one class or mixed batches, symbol filters, several callbacks); a
raising callback costs only the event it raised on (on_error gets that very
event), StopIteration included; a callback removed or added mid-batch takes
effect from the next event. A real Dispatcher, fed as the socket thread
feeds it."""

from __future__ import annotations

import threading
import time
from typing import Any, List, Tuple

import pytest

from mdsdk.dispatch import Dispatcher
from mdsdk.events import Event, Quote, Status, Trade
from mdsdk.policy import QueuePolicy
from tests.conftest import wait_until

T = 1_700_000_000_000_000_000


def _quotes(names: List[str]) -> List[Event]:
    return [Quote(s, T + i, "sim", bid=float(i)) for i, s in enumerate(names)]


@pytest.mark.parametrize("batch", [
    _quotes([f"S{i}" for i in range(10)]),                                   # one class
    _quotes(["S0", "S1", "S2"]) + [Trade("S3", T, "sim", price=1.0)] + _quotes(["S4", "S5", "S6", "S7"]),
])
def test_raising_callback_costs_only_its_event(batch: List[Event]) -> None:
    d = Dispatcher("sim", QueuePolicy())
    seen: List[str] = []
    failed: List[Tuple[str, str]] = []

    def on_quote(ev: Any) -> None:
        if ev.symbol in ("S3", "S7", "S0"):
            raise (StopIteration if ev.symbol == "S7" else ValueError)(ev.symbol)
        seen.append(ev.symbol)

    d.add_handler("quote", on_quote, on_error=lambda exc, ev: failed.append((str(exc), ev.symbol)))
    try:
        d.publish(batch)
        d.publish(batch)  # the second time the per-class plan is warm
        quotes = [e.symbol for e in batch if isinstance(e, Quote)]
        good = [s for s in quotes if s not in ("S3", "S7", "S0")]
        assert wait_until(lambda: len(seen) == 2 * len(good))
        assert seen == good * 2
        bad = [(s, s) for s in quotes if s in ("S3", "S7", "S0")]
        assert wait_until(lambda: len(failed) == len(bad) * 2) and failed == bad * 2
        assert d.callback_errors == len(bad) * 2
    finally:
        d.close()


def test_several_callbacks_and_symbol_filters_keep_event_order() -> None:
    d = Dispatcher("sim", QueuePolicy())
    calls: List[str] = []
    d.add_handler("quote", lambda ev: calls.append("a:" + ev.symbol))
    d.add_handler("*", lambda ev: calls.append("all:" + ev.symbol), symbols=["S1"])
    try:
        d.publish(_quotes(["S0", "S1"]) + [Status("", T, "sim", kind="error", detail="x")])
        assert wait_until(lambda: len(calls) == 4)
        assert calls == ["a:S0", "a:S1", "all:S1", "all:"]  # Status passes symbol filters
    finally:
        d.close()


def test_a_callback_removed_or_added_mid_batch_counts_from_the_next_event() -> None:
    d = Dispatcher("sim", QueuePolicy())
    once: List[str] = []
    late: List[str] = []
    holder: List[Any] = []

    def first_only(ev: Any) -> None:
        once.append(ev.symbol)
        holder[0].remove()
        d.add_handler("quote", lambda e: late.append(e.symbol))

    holder.append(d.add_handler("quote", first_only))
    try:
        d.publish(_quotes(["S0", "S1", "S2", "S3"]))
        assert wait_until(lambda: len(late) == 3)
        assert once == ["S0"] and late == ["S1", "S2", "S3"]
    finally:
        d.close()


def _waited(q: Any, seconds: float) -> None:
    """Wait until the oldest queued batch has been there ``seconds`` (the queue's own clock)."""
    assert wait_until(lambda: q.lag >= seconds, seconds + 5)


def test_queue_lag_is_reported_and_max_lag_sheds_what_waited_too_long() -> None:
    from mdsdk.dispatch import BatchQueue
    q = BatchQueue(QueuePolicy(maxsize=1000, max_lag=0.2), "events#1")
    assert q.lag == 0.0 and q.stats()["lag"] == 0.0
    q.put(_quotes(["A", "B"]))
    _waited(q, 0.05)
    assert 0.05 <= q.stats()["lag"] < 5  # type: ignore[operator]
    _waited(q, 0.25)  # past max_lag: the next put takes the old batch (drop_oldest)
    q.put(_quotes(["C"]))
    assert q.dropped == 2 and len(q) == 1 and q.behind >= 0.25
    got = q.get(0.1)
    assert got is not None and [e.symbol for b in got for e in b] == ["C"] and q.lag == 0.0


def test_max_lag_with_conflate_keeps_the_latest_per_symbol_in_order() -> None:
    from mdsdk.dispatch import BatchQueue
    q = BatchQueue(QueuePolicy(maxsize=1000, mode="conflate", max_lag=0.2), "events#2")
    q.put([Quote("A", T, "sim", bid=1.0), Quote("B", T, "sim", bid=1.0)])
    _waited(q, 0.25)
    q.put([Quote("A", T + 1, "sim", bid=2.0)])
    got = q.get(0.1)
    assert got is not None and [(e.symbol, e.bid) for b in got for e in b] == [("B", 1.0), ("A", 2.0)]  # type: ignore[attr-defined]
    assert q.conflated == 1 and q.dropped == 0


def test_a_consumer_that_falls_behind_hears_how_far() -> None:
    d = Dispatcher("sim", QueuePolicy())
    got: List[Any] = []
    d.add_handler("status", got.append)
    try:
        with d.stream(None, None, 0.2, QueuePolicy(maxsize=1000, max_lag=0.2)) as stream:
            d.publish(_quotes(["A"]))
            _waited(stream._consumer.queue, 0.25)
            d.publish(_quotes(["B"]))  # "A" waited past max_lag: dropped, and reported with this batch
            assert wait_until(lambda: any(s.kind == "overflow" for s in got), 5)
            overflow = next(s for s in got if s.kind == "overflow")
            assert "behind" in overflow.detail and overflow.extra["behind"] >= 0.25
            assert stream._consumer.queue.stats()["dropped"] == 1
    finally:
        d.close()


def test_a_loop_that_breaks_and_a_new_loop_over_the_same_stream_lose_nothing() -> None:
    d = Dispatcher("p", QueuePolicy())
    try:
        with d.stream(None, None, 0.2, QueuePolicy()) as stream:
            d.publish([Quote(f"S{i}", i + 1, "p") for i in range(5)])
            d.publish([Quote("T", 99, "p")])
            seen = []
            for ev in stream:
                seen.append(ev.symbol)
                if len(seen) == 2:
                    break
            seen += [ev.symbol for ev in stream]
        assert seen == ["S0", "S1", "S2", "S3", "S4", "T"]
    finally:
        d.close()


def _consume(q: Any, timeout: Any, out: List[Any]) -> threading.Thread:
    t = threading.Thread(target=lambda: out.append(q.get(timeout)), daemon=True)
    t.start()
    return t


def test_a_leftover_wake_up_does_not_end_a_wait_early() -> None:
    # A consumer that timed out just as a producer rang leaves the ring behind; the next wait must drain
    # it and sleep on (an iterator that took it for a timeout would end too soon).
    import select

    from mdsdk.queues import BatchQueue
    q = BatchQueue(QueuePolicy(), "events#3")
    q._bell.ring()  # the leftover wake-up
    assert select.select([q._bell.fileno()], [], [], 0)[0]
    out: List[Any] = []
    consumer = _consume(q, 30.0, out)
    assert wait_until(lambda: q._sleepers == 1 or bool(out))
    assert not select.select([q._bell.fileno()], [], [], 0)[0]  # the ring was taken back
    time.sleep(0.05)
    assert not out  # and the consumer sleeps on rather than return
    q.put(_quotes(["A"]))
    consumer.join(10)
    assert not consumer.is_alive() and out[0] is not None and [e.symbol for b in out[0] for e in b] == ["A"]


@pytest.mark.parametrize("timeout", [float("inf"), threading.TIMEOUT_MAX, 1e12], ids=["inf", "TIMEOUT_MAX", "1e12"])
def test_a_wait_far_longer_than_a_poll_can_take_still_wakes_on_a_put(timeout: float) -> None:
    # poll takes at most 24.8 days in int milliseconds and macOS select at most 1e8 s: a longer timeout handed
    # through raised (or overflowed) in the consumer instead of sleeping.
    from mdsdk.queues import BatchQueue
    q = BatchQueue(QueuePolicy(), "events#9")
    out: List[Any] = []
    consumer = _consume(q, timeout, out)
    assert wait_until(lambda: q._sleepers == 1 or bool(out))
    assert not out, f"the wait ended at once: {out}"
    q.put(_quotes(["A"]))
    consumer.join(10)
    assert not consumer.is_alive() and [e.symbol for b in out[0] for e in b] == ["A"]
    assert q.get(float("nan")) is None  # a nan timeout does not wait at all


def test_a_closed_queue_frees_its_bell_once_no_consumer_sleeps_on_it() -> None:
    from mdsdk.queues import BatchQueue
    q = BatchQueue(QueuePolicy(), "events#7")
    out: List[Any] = []
    consumer = _consume(q, 30.0, out)
    assert wait_until(lambda: q._sleepers == 1)
    q.close()
    consumer.join(10)
    assert not consumer.is_alive() and out == [None]
    assert q._bell.fileno() == -1  # the last sleeper out closed it
    q.put(_quotes(["A"]))  # and nothing rings a freed descriptor
    assert q.get(0) is None
    idle = BatchQueue(QueuePolicy(), "events#8")
    idle.close()
    assert idle._bell.fileno() == -1


def test_close_frees_a_producer_that_block_made_wait_and_its_batch_goes_nowhere() -> None:
    from mdsdk.queues import BatchQueue
    q = BatchQueue(QueuePolicy(maxsize=1, mode="block", block_timeout=30.0), "events#10")
    q.put(_quotes(["A"]))
    producer = threading.Thread(target=lambda: q.put(_quotes(["B"])), daemon=True)
    producer.start()
    time.sleep(0.05)
    assert producer.is_alive(), "the producer should wait for room"
    q.close()
    producer.join(10)
    assert not producer.is_alive()
    got = q.get(0)
    assert got is not None and [e.symbol for b in got for e in b] == ["A"] and q.get(0) is None


def _both_return(q: Any, act: Any, **get: Any) -> List[Any]:
    """Two consumers asleep on ``q``; ``act()``; both must return (a swallowed wake-up leaves one asleep)."""
    out: List[Any] = []
    threads = [threading.Thread(target=lambda: out.append(q.get(30.0, **get)), daemon=True) for _ in range(2)]
    for t in threads:
        t.start()
    assert wait_until(lambda: q._sleepers == 2)
    act()
    for t in threads:
        t.join(10)
    assert not any(t.is_alive() for t in threads), "a consumer slept on with work (or the close) waiting"
    return out


def test_close_wakes_every_consumer_of_a_queue() -> None:
    from mdsdk.queues import BatchQueue
    q = BatchQueue(QueuePolicy(), "events#4")
    assert _both_return(q, q.close) == [None, None]


def test_what_one_consumer_leaves_wakes_the_next() -> None:
    from mdsdk.queues import BatchQueue
    q = BatchQueue(QueuePolicy(), "events#5")
    out = _both_return(q, lambda: (q.put(_quotes(["A"])), q.put(_quotes(["B"]))), max_events=1)
    assert sorted(e.symbol for got in out for b in got for e in b) == ["A", "B"]
    q = BatchQueue(QueuePolicy(), "events#6")  # an urgent batch first, the queued one for the other
    out = _both_return(q, lambda: (q.put(_quotes(["A"])), q.put_front(_quotes(["U"]))))
    assert sorted(e.symbol for got in out for b in got for e in b) == ["A", "U"]


@pytest.mark.parametrize("eventfd", [True, False], ids=["eventfd", "socketpair"])
def test_a_bell_stays_rung_until_drained_and_is_inert_once_closed(eventfd: bool) -> None:
    import os
    import select

    from mdsdk.queues import Bell
    if eventfd and not hasattr(os, "eventfd"):
        pytest.skip("this OS has no eventfd; the socket pair serves it")
    bell = Bell(eventfd=eventfd)

    def rung() -> bool:
        return bool(select.select([bell.fileno()], [], [], 0)[0])

    assert not rung()
    for _ in range(100_000 if not eventfd else 3):  # a socket pair's buffer fills; ringing on must not raise
        bell.ring()
    assert rung() and rung()  # level-triggered: every sleeper that looks sees it
    bell.drain()
    assert not rung()
    bell.wait(0.01)  # sleeps its timeout out when nobody rings
    bell.close()
    assert bell.fileno() == -1
    bell.ring()
    bell.drain()
    bell.close()


def test_a_queued_batch_holds_its_events_and_little_else() -> None:
    # A slow consumer leaves a hundred thousand one-event batches queued: each must not carry a set of its
    # own nor the latest-per-symbol dict the socket thread's passes used.
    from mdsdk.events import Batch
    first, second = Batch(_quotes(["A"])), Batch(_quotes(["B", "C"]))
    assert first.classes == {Quote} and first.classes is second.classes
    assert Batch(_quotes(["D"]) + [Trade("E", T, "sim", price=1.0)]).classes == {Quote, Trade}
    seen: List[List[Event]] = []
    d = Dispatcher("sim", QueuePolicy(), on_batch=lambda b: seen.append(list(b.latest().values())))
    try:
        d.publish(second)
        assert [e.symbol for b in seen for e in b] == ["B", "C"]  # the cache's pass had the dict
        assert second._latest is None  # and the published batch no longer holds it
        assert [e.symbol for e in second.latest().values()] == ["B", "C"]  # a later caller rebuilds it
    finally:
        d.close()
