"""The bounded queue that carries whole batches of events from the socket
thread to one consumer (a callback thread or an iterator).

A batch goes in and comes out in one operation. When the queue is full or its
consumer lags, its :class:`~mdsdk.policy.QueuePolicy` conflates, drops the
oldest or blocks, and counts every event it discards; the dispatcher turns
those counts into ``Status(overflow)`` reports.
"""

from __future__ import annotations

import collections
import os
import socket
import threading
import time
from typing import Deque, Dict, List, Optional, Tuple

from .events import Event, Status
from .policy import QueuePolicy
from .transport import readable

__all__ = ["BatchQueue", "Bell"]

_OVERFLOW_REPORT_EVERY = 1.0  # seconds between overflow Status events of one queue
_TAKE = 1024  # events a consumer takes from its queue in one step
class Bell:
    """A wake-up that one thread rings and others sleep on (in :func:`readable`).

    It stays rung until drained, so every sleeper sees it. It is rung with a system call that lets go
    of the GIL, so a sleeper woken on the same CPU runs at once: waking on a lock left the sleeper
    waiting for the GIL until the ringer's next blocking call, which at one frame per wake-up cost
    about 20 µs of latency. An eventfd on Linux, a socket pair elsewhere (``select`` on Windows takes
    only sockets) or where the system refuses an eventfd; ``eventfd=False`` picks the socket pair anyway.
    Ringing or draining a closed bell does nothing, and waiting on one returns at once.
    """

    def __init__(self, eventfd: Optional[bool] = None) -> None:
        self._lock = threading.Lock()  # a ring never touches a descriptor number close() freed
        self._pair: Optional[Tuple[socket.socket, socket.socket]] = None
        self._fd = -1
        if eventfd is None:
            eventfd = hasattr(os, "eventfd")
        if eventfd:
            try:
                self._fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
            except OSError:  # a sandbox that filters the call, or out of descriptors: the pair says which
                eventfd = False
        if not eventfd:
            self._pair = socket.socketpair()
            for s in self._pair:
                s.setblocking(False)
            self._fd = self._pair[0].fileno()

    def fileno(self) -> int:
        """The descriptor to wait on (readable while rung; -1 once closed)."""
        return self._fd

    def ring(self) -> None:
        """Wake the sleepers (a no-op once closed, or while already rung on a full socket pair)."""
        with self._lock:
            if self._fd < 0:
                return
            try:
                if self._pair is None:
                    os.eventfd_write(self._fd, 1)
                else:
                    self._pair[1].send(b"x")
            except OSError:
                pass  # the socket pair is full of rings already (the counter cannot overflow at one per ring)

    def drain(self) -> None:
        """Take back every ring so far (the next ``select`` sleeps until the next ring). Only the thread
        that sleeps on the bell drains it, never while another closes it, so this takes no lock: a
        consumer going back to sleep must not wait for a ringer its wake-up preempted."""
        if self._fd < 0:
            return
        try:
            if self._pair is None:
                os.eventfd_read(self._fd)
            else:
                while self._pair[0].recv(4096):
                    pass
        except (BlockingIOError, InterruptedError):
            pass  # nothing rung

    def wait(self, timeout: Optional[float]) -> None:
        """Sleep until rung or ``timeout`` seconds pass (None: no limit; at most a day per call)."""
        if self._fd >= 0:
            readable((self._fd,), timeout)

    def close(self) -> None:
        """Free the descriptors; only when no thread can be waiting on them any more."""
        with self._lock:
            if self._fd < 0:
                return
            if self._pair is None:
                os.close(self._fd)
            else:
                for s in self._pair:
                    s.close()
            self._fd = -1

    def __del__(self) -> None:
        # A queue nobody closed (an abandoned iterator's) gives its descriptor back when it is collected.
        self.close()


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
        # A sleeping consumer waits on a bell the producer rings after letting go of the queue's lock, so
        # the woken consumer finds the lock free as well as the GIL. The last consumer to stop sleeping on
        # a closed queue closes it (no select may wait on a freed descriptor).
        self._bell = Bell()
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
                if self.closed:  # close() woke a producer that "block" made wait: the batch goes nowhere
                    return
            self._batches.append(batch)
            self._stamps.append(now)
            self._count += n
            if self._count > self.high_water:
                self.high_water = self._count
            if not self._sleepers:
                return
        self._bell.ring()

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
        """Wait for a ring or the deadline (called and returning with the lock held). The bell is drained
        here, before sleeping on an empty queue, not on waking: a consumer that wakes goes straight to the
        events, and a ring left over from one that timed out cannot end this wait early."""
        self._bell.drain()
        self._sleepers += 1
        self._lock.release()
        try:
            self._bell.wait(None if deadline is None else deadline - time.monotonic())
        finally:
            self._lock.acquire()
            self._sleepers -= 1
            if self.closed and not self._sleepers:
                self._bell.close()

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
            if not self._sleepers:
                return
        self._bell.ring()

    def _overflow(self, batch: List[Event]) -> List[Event]:
        mode = self.policy.mode
        if mode == "block":
            deadline = time.monotonic() + self.policy.block_timeout
            while self._count + len(batch) > self.policy.maxsize and not self.closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._not_full.wait(left)
            if self.closed or self._count + len(batch) <= self.policy.maxsize:
                return batch  # (closed: put() discards it, and what is queued stays for the consumer's last get)
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
            return self._take(max_events)

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
            self._not_full.notify_all()
            if not self._sleepers:
                self._bell.close()
                return
        self._bell.ring()

    def stats(self) -> Dict[str, object]:
        """Depth, high-water mark and loss counters of this queue."""
        return {"depth": self._count, "high_water": self.high_water, "dropped": self.dropped,
                "conflated": self.conflated, "delivered": self.delivered, "maxsize": self.policy.maxsize,
                "mode": self.policy.mode, "lag": self.lag, "max_lag": self.policy.max_lag, "behind": self.behind}
