"""Latest quote and summary per symbol, and waiting for the first one.

Updated once per batch on the socket thread (one lock round per frame, not per
event); ``get_quote`` waits on it from user threads.
"""

from __future__ import annotations

import threading
import time
from typing import Dict, List, Optional

from .errors import MdsdkError
from .events import Batch, Event, Quote, Summary, classes_of

__all__ = ["LatestCache"]

_ONLY_QUOTES = frozenset({Quote})


class LatestCache:
    """The newest Quote and Summary of every symbol, plus per-symbol errors
    (a rejected subscription) that waiting callers should see at once."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.quotes: Dict[str, Quote] = {}
        self.summaries: Dict[str, Summary] = {}
        self._errors: Dict[str, MdsdkError] = {}
        self._waiters = 0
        self._closed = False

    def update(self, events: List[Event]) -> None:
        """Take the quotes and summaries out of one decoded batch."""
        batch = events.__class__ is Batch  # (what publish() hands over) its classes without a call
        if _ONLY_QUOTES.issuperset(events.classes if batch else classes_of(events)):  # type: ignore[attr-defined]
            # The usual batch: the latest per symbol, then one merge. A Batch's latest-per-symbol dict is shared
            # with the freshness stamps: one pass serves both.
            latest = events.latest() if batch else {e.symbol: e for e in events}  # type: ignore[attr-defined]
            self.quotes.update(latest)  # type: ignore[arg-type]
            seen = bool(events)
        else:
            quotes = self.quotes
            seen = False
            for ev in events:
                cls = ev.__class__
                if cls is Quote:
                    quotes[ev.symbol] = ev  # type: ignore[assignment]
                    seen = True
                elif cls is Summary:
                    self.summaries[ev.symbol] = ev  # type: ignore[assignment]
        if seen and self._waiters:
            with self._cond:
                self._cond.notify_all()

    def reject(self, symbol: str, error: MdsdkError) -> None:
        """Record that ``symbol`` cannot be served; wake its waiters."""
        with self._cond:
            self._errors[symbol] = error
            self._cond.notify_all()

    def clear_error(self, symbol: str) -> None:
        """Forget a rejection (the user subscribes again)."""
        with self._cond:
            self._errors.pop(symbol, None)

    def close(self) -> None:
        """Wake every waiter; they will see the feed is closed."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def wait_quote(self, symbol: str, timeout: float) -> Optional[Quote]:
        """The latest quote of ``symbol``, waiting up to ``timeout`` for the
        first; raises the symbol's recorded error; None on timeout or close."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._waiters += 1
            try:
                while True:
                    if symbol in self._errors:
                        raise self._errors[symbol]
                    q = self.quotes.get(symbol)
                    left = deadline - time.monotonic()
                    if q is not None or left <= 0 or self._closed:
                        return q
                    self._cond.wait(min(left, 0.5))
            finally:
                self._waiters -= 1
