"""The bounded queue that carries whole batches of events from the socket
thread to one consumer (a callback thread or an iterator).

A batch goes in and comes out in one operation. When the queue is full or its
consumer lags, its :class:`~mdsdk.policy.QueuePolicy` conflates, drops the
oldest or blocks, and counts every event it discards; the dispatcher turns
those counts into ``Status(overflow)`` reports.
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Deque, Dict, List, Optional, Tuple

from .events import Event, Status
from .policy import QueuePolicy

__all__ = ["BatchQueue"]

_OVERFLOW_REPORT_EVERY = 1.0  # seconds between overflow Status events of one queue
_TAKE = 1024  # events a consumer takes from its queue in one step
_FOREVER = threading.TIMEOUT_MAX  # the longest wait a lock accepts; a longer timeout would raise


class BatchQueue:
    """A bounded FIFO of events that moves whole batches across threads."""

    def __init__(self, policy: QueuePolicy, name: str) -> None:
        self.policy = policy
        self.name = name
        self._batches: Deque[List[Event]] = collections.deque()
        self._stamps: Deque[float] = collections.deque()  # monotonic time each queued batch came in
        self._urgent: Deque[List[Event]] = collections.deque()
        self._count = 0
        self._lock = threading.Lock()
        # A sleeping consumer waits on a plain lock used as a one-permit semaphore, released by the
        # producer: cheaper on both sides than a Condition, whose wait allocates a lock and whose notify
        # walks its waiters in Python, on every hand-over.
        self._wake = threading.Lock()
        self._wake.acquire()
        self._sleepers = 0
        self._not_full = threading.Condition(self._lock)
        self.closed = False
        self.high_water = 0
        self.dropped = 0
        self.conflated = 0
        self.delivered = 0
        self._reported = (0, 0)
        self._last_report = 0.0
        self.warned = False
        self.behind = 0.0  # the longest wait (s) an event had when max_lag shed it

    def __len__(self) -> int:
        return self._count

    def put(self, batch: List[Event]) -> None:
        """Add a batch, applying the overflow policy when full."""
        with self._lock:
            if self.closed:
                return
            n = len(batch)
            now = time.monotonic()
            if self._stamps and self.policy.max_lag is not None and now - self._stamps[0] > self.policy.max_lag:
                batch = self._shed(batch, now)
                n = len(batch)
            if self._count + n > self.policy.maxsize:
                batch = self._overflow(batch)
                n = len(batch)
            self._batches.append(batch)
            self._stamps.append(now)
            self._count += n
            if self._count > self.high_water:
                self.high_water = self._count
            self._signal()

    def _signal(self) -> None:
        """Wake a sleeping consumer, if any (called with the lock held)."""
        if self._sleepers:
            try:
                self._wake.release()
            except RuntimeError:
                pass  # a wake-up is already pending

    def _wait(self, timeout: Optional[float]) -> None:
        """Sleep until something is queued, the queue closes or ``timeout`` passes (lock held)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self._sleep(deadline)
            if self._count or self._urgent or self.closed:
                return
            if deadline is not None and not time.monotonic() < deadline:  # (a nan timeout ends at once)
                return

    def _sleep(self, deadline: Optional[float]) -> None:
        """Wait for a wake-up or the deadline (called and returning with the lock held).
        A wake-up left over from a consumer that timed out only makes the next wait return early:
        :meth:`get` looks again and sleeps on."""
        self._sleepers += 1
        self._lock.release()
        try:
            self._wake.acquire(True, -1 if deadline is None else min(max(0.0, deadline - time.monotonic()), _FOREVER))
        finally:
            self._lock.acquire()
            self._sleepers -= 1

    @property
    def lag(self) -> float:
        """Seconds the oldest queued event has waited for its consumer (0 when the queue is empty)."""
        try:
            return max(0.0, time.monotonic() - self._stamps[0])
        except IndexError:
            return 0.0

    def _shed(self, batch: List[Event], now: float) -> List[Event]:
        """The consumer is more than ``max_lag`` behind: the policy takes what waited that long (conflate keeps
        the latest per symbol, the other modes drop the oldest)."""
        max_lag = self.policy.max_lag or 0.0
        self.behind = max(self.behind, now - self._stamps[0])
        if self.policy.mode == "conflate":
            return self._conflate(batch)
        while self._stamps and now - self._stamps[0] > max_lag:
            self._stamps.popleft()
            first = self._batches.popleft()
            self._count -= len(first)
            self.dropped += len(first)
        return batch

    def put_front(self, batch: List[Event]) -> None:
        """Deliver a small batch before everything queued, outside the bound
        and the overflow policy: news about the queue itself must neither
        wait behind its backlog nor be dropped with it."""
        with self._lock:
            if self.closed:
                return
            self._urgent.append(batch)
            self._signal()

    def _overflow(self, batch: List[Event]) -> List[Event]:
        mode = self.policy.mode
        if mode == "block":
            deadline = time.monotonic() + self.policy.block_timeout
            while self._count + len(batch) > self.policy.maxsize and not self.closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._not_full.wait(left)
            if self._count + len(batch) <= self.policy.maxsize:
                return batch
        elif mode == "conflate":
            batch = self._conflate(batch)
        return self._drop_oldest(batch)

    def _conflate(self, batch: List[Event]) -> List[Event]:
        """Everything queued plus ``batch`` as one batch holding the latest event per (type, symbol)."""
        merged: Dict[object, Event] = {}
        before = self._count + len(batch)
        for b in (*self._batches, batch):
            for ev in b:
                key = (ev.__class__, ev.symbol) if ev.__class__ is not Status else id(ev)
                merged.pop(key, None)  # re-insert so order follows the latest update
                merged[key] = ev
        kept = list(merged.values())
        self.conflated += before - len(kept)
        self._batches.clear()
        self._stamps.clear()
        self._count = 0
        return kept

    def _drop_oldest(self, batch: List[Event]) -> List[Event]:
        maxsize = self.policy.maxsize
        if len(batch) > maxsize:
            self.dropped += len(batch) - maxsize + self._count
            for _ in range(len(self._batches)):
                self._batches.popleft()
            self._stamps.clear()
            self._count = 0
            return batch[len(batch) - maxsize:]
        need = self._count + len(batch) - maxsize
        while need > 0 and self._batches:
            first = self._batches[0]
            if len(first) <= need:
                self._batches.popleft()
                self._stamps.popleft()
                need -= len(first)
                self._count -= len(first)
                self.dropped += len(first)
            else:
                self._batches[0] = first[need:]
                self._count -= need
                self.dropped += need
                need = 0
        return batch

    def overflow_news(self) -> Optional[Tuple[int, int]]:
        """``(dropped, conflated)`` totals if they grew since the last report
        and a report is due; None otherwise. Cheap when nothing was lost."""
        if (self.dropped, self.conflated) == self._reported:
            return None
        now = time.monotonic()
        if now - self._last_report < _OVERFLOW_REPORT_EVERY:
            return None
        self._last_report = now
        self._reported = (self.dropped, self.conflated)
        return self._reported

    def get(self, timeout: Optional[float] = None, max_events: int = _TAKE) -> Optional[Deque[List[Event]]]:
        """Take queued batches, whole, until they hold ``max_events`` events
        (at least one batch), in one step; None on timeout or when closed
        and empty.

        Taking a bounded chunk (not everything) keeps the queue's bound and
        its ``depth`` honest when the consumer is slow: what it has not
        processed yet stays in the queue, where the policy can act on it.
        """
        with self._lock:
            if not self._count and not self._urgent and not self.closed:
                self._wait(timeout)
            try:
                return self._take(max_events)
            finally:
                # One permit stands for any number of puts: whoever used it passes it on while work (or
                # the close) is left for another consumer of this queue.
                if self._count or self._urgent or self.closed:
                    self._signal()

    def _take(self, max_events: int) -> Optional[Deque[List[Event]]]:
        """The urgent batches, else queued batches up to ``max_events`` events, else None (lock held)."""
        if self._urgent:
            urgent, self._urgent = self._urgent, collections.deque()
            return urgent
        if not self._count:
            return None
        if self._count <= max_events:
            batches, self._batches = self._batches, collections.deque()
            self._stamps.clear()
            taken = self._count
        else:
            # Whole batches only (the first even when it alone is larger): cutting one copied it and lost
            # its Batch class set, about a tenth of the consumer's cost at a hundred events per frame.
            batches = collections.deque()
            taken = 0
            while taken < max_events and self._batches:
                b = self._batches.popleft()
                self._stamps.popleft()
                batches.append(b)
                taken += len(b)
        self.delivered += taken
        self._count -= taken
        if self.policy.mode == "block":
            self._not_full.notify_all()  # only that mode makes a producer wait for room
        return batches

    def close(self) -> None:
        """Stop accepting; wake the consumer and any blocked producer."""
        with self._lock:
            self.closed = True
            self._signal()  # each consumer woken passes it on (get)
            self._not_full.notify_all()

    def stats(self) -> Dict[str, object]:
        """Depth, high-water mark and loss counters of this queue."""
        return {"depth": self._count, "high_water": self.high_water, "dropped": self.dropped,
                "conflated": self.conflated, "delivered": self.delivered, "maxsize": self.policy.maxsize,
                "mode": self.policy.mode, "lag": self.lag, "max_lag": self.policy.max_lag, "behind": self.behind}
