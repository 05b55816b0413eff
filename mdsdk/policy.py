"""Policies as immutable values: reconnect backoff, queue overflow, timeouts,
client-side rate limits.

They are passed to constructors (never set globally) and are pure, so each is
unit-tested alone. Randomness for jitter comes in as an argument.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields, replace
from typing import Callable, Optional

from . import _validate as check
from .errors import ConfigurationError

__all__ = ["ReconnectPolicy", "QueuePolicy", "Timeouts", "RateLimit", "TokenBucket", "QUEUE_MODES"]

QUEUE_MODES = ("conflate", "drop_oldest", "block")
MAX_QUEUE = 10**9  # events; far beyond memory, so only a typo reaches it


@dataclass(frozen=True)
class ReconnectPolicy:
    """Exponential backoff with jitter between reconnect attempts.

    The n-th consecutive failed attempt (n from 1) waits
    ``min(cap, initial * factor**(n-1))`` seconds, spread by ``±jitter`` of
    itself. A connection that stayed up for ``reset_after`` seconds starts
    again from ``initial``. ``max_attempts=None`` retries forever.
    """

    initial: float = 1.0
    factor: float = 2.0
    cap: float = 30.0
    jitter: float = 0.2
    reset_after: float = 60.0
    max_attempts: Optional[int] = None

    def __post_init__(self) -> None:
        check.seconds("ReconnectPolicy initial", self.initial)
        check.number("ReconnectPolicy factor", self.factor, low=1.0, high=1000.0)
        check.seconds("ReconnectPolicy cap", self.cap)
        check.number("ReconnectPolicy jitter", self.jitter, low=0.0, high=1.0)
        check.seconds("ReconnectPolicy reset_after", self.reset_after)
        if self.max_attempts is not None:
            check.integer("ReconnectPolicy max_attempts", self.max_attempts, high=10**9)

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait before attempt number ``attempt`` (1-based)."""
        try:
            base = min(self.cap, self.initial * self.factor ** max(0, attempt - 1))
        except OverflowError:  # a connection retried for days: the cap has long been reached
            base = self.cap
        spread = base * self.jitter
        return max(0.0, base - spread + 2.0 * spread * rand())

    def gives_up(self, attempt: int) -> bool:
        """True when ``attempt`` exceeds ``max_attempts``."""
        return self.max_attempts is not None and attempt > self.max_attempts

    def with_(self, **changes: object) -> "ReconnectPolicy":
        """A copy with some fields changed."""
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class QueuePolicy:
    """Bound and overflow behaviour of one consumer queue.

    ``mode``: ``"conflate"`` keeps only the latest event per (type, symbol)
    when full; ``"drop_oldest"`` discards the oldest events; ``"block"`` makes
    the producer wait up to ``block_timeout`` seconds for room, then drops the
    oldest. With ``max_lag`` the same policy also applies to whatever has
    waited longer than that many seconds (a consumer falling behind a stream
    that is not yet filling the queue). Every discarded event is counted and
    reported, with how far behind the consumer was.
    """

    maxsize: int = 100_000
    mode: str = "drop_oldest"
    block_timeout: float = 1.0
    max_lag: Optional[float] = None  # seconds an event may wait for its consumer before the policy takes it

    def __post_init__(self) -> None:
        if not isinstance(self.mode, str) or self.mode not in QUEUE_MODES:
            raise ConfigurationError(
                f"unknown QueuePolicy mode {check.show(self.mode)}; use one of {', '.join(QUEUE_MODES)}")
        check.integer("QueuePolicy maxsize", self.maxsize, low=1, high=MAX_QUEUE)
        check.seconds("QueuePolicy block_timeout", self.block_timeout)
        if self.max_lag is not None:
            check.seconds("QueuePolicy max_lag", self.max_lag, positive=True)


@dataclass(frozen=True)
class Timeouts:
    """Time limits in seconds, each above 0 and at most a year: ``connect``
    for the TCP/TLS/WebSocket open, ``handshake`` for the protocol's login
    exchange, ``request`` for subscriptions, history and RPC answers,
    ``rest`` for the total deadline of one REST call (login, renewal,
    lookup): connect and read together, retries included, and ``close``
    for shutting the connection thread down."""

    connect: float = 10.0
    handshake: float = 10.0
    request: float = 30.0
    close: float = 2.0
    rest: float = 10.0

    def __post_init__(self) -> None:
        for f in fields(self):
            check.seconds(f"Timeouts {f.name}", getattr(self, f.name), positive=True)


@dataclass(frozen=True)
class RateLimit:
    """A client-side request budget: a token bucket of ``burst`` tokens
    refilled at ``rate`` per second (CrossTrade's documented 20 at 3/s is
    ``RateLimit(3.0, 20)``). Requests over it wait their turn instead of
    failing; a caller whose timeout would pass first gets RateLimitedError."""

    rate: float = 3.0
    burst: int = 20

    def __post_init__(self) -> None:
        check.number("RateLimit rate", self.rate, low=0.001, high=1e6, unit=" per second")
        check.integer("RateLimit burst", self.burst, low=1, high=1_000_000)

    def bucket(self, now: float) -> "TokenBucket":
        """A full bucket of this budget, its clock starting at ``now``."""
        return TokenBucket(self, now)


class TokenBucket:
    """The running state of a :class:`RateLimit` on a monotonic clock given
    by the caller (pure: no clock of its own). ``take`` spends a token when
    one is there; ``ready_at`` says when the ``n``-th next one will be."""

    def __init__(self, limit: RateLimit, now: float) -> None:
        self.limit = limit
        self.tokens = float(limit.burst)
        self.stamp = now

    def _fill(self, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(float(self.limit.burst), self.tokens + (now - self.stamp) * self.limit.rate)
            self.stamp = now

    def take(self, now: float) -> bool:
        """Spend one token if there is one at ``now``."""
        self._fill(now)
        if self.tokens >= 1.0 - 1e-6:  # a timer set by ready_at() wakes at one token, give or take float rounding
            self.tokens -= 1.0
            return True
        return False

    def ready_at(self, now: float, n: int = 1) -> float:
        """When ``n`` tokens will have been there (``now`` when they are)."""
        self._fill(now)
        missing = n - self.tokens
        return now if missing <= 0 else now + missing / self.limit.rate

    def reserve(self, now: float) -> float:
        """Spend a token now, in advance if there is none (the bucket goes into debt, so later takers wait
        for it too); returns how long to wait before using it."""
        wait = max(0.0, self.ready_at(now) - now)
        self.tokens -= 1.0
        return wait

    def drain(self, now: float) -> None:
        """Empty the bucket: the server said we went over, so wait a full refill step before the next."""
        self._fill(now)
        self.tokens = min(self.tokens, 0.0)
