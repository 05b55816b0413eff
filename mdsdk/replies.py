"""One table of requests waiting for their answer, and one timeout rule.

Every request that expects an answer (an acknowledged subscription, a
history pull, an RPC) gets an id here; the protocol object answers with a
:class:`~mdsdk.providers.base.Reply` that the socket thread hands to
:meth:`PendingReplies.resolve`; the caller waits in :meth:`PendingReplies.wait`.
A caller that gives up cancels its request, so the server side is undone.
(Named ``replies`` rather than DESIGN's ``requests`` so it cannot be
mistaken for the HTTP library of that name.)
"""

from __future__ import annotations

import concurrent.futures
import itertools
import threading
from concurrent.futures import Future
from typing import Any, Callable, Dict, Tuple

from .errors import MdsdkError, RequestTimeout
from .providers.base import Reply

__all__ = ["PendingReplies"]


class PendingReplies:
    """Request id -> the future its caller waits on."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._waiting: Dict[int, "Future[Any]"] = {}

    def open(self) -> Tuple[int, "Future[Any]"]:
        """A fresh request id and the future its answer will resolve."""
        fut: "Future[Any]" = Future()
        with self._lock:
            rid = next(self._ids)
            self._waiting[rid] = fut
        return rid, fut

    def resolve(self, reply: Reply) -> None:
        """Answer the caller of ``reply.request_id`` (late answers are dropped)."""
        with self._lock:
            fut = self._waiting.pop(reply.request_id, None)
        if fut is None or fut.done():
            return
        if reply.error is not None:
            fut.set_exception(reply.error)
        else:
            fut.set_result(reply.value)

    def fail_all(self, error: MdsdkError) -> None:
        """Every waiting caller gets ``error`` (the feed stopped)."""
        with self._lock:
            waiting, self._waiting = self._waiting, {}
        for fut in waiting.values():
            if not fut.done():
                fut.set_exception(error)

    def wait(self, rid: int, fut: "Future[Any]", timeout: float, what: str,
             cancel: Callable[[], None]) -> Any:
        """The answer of ``rid`` within ``timeout`` seconds; otherwise cancel the
        request and raise RequestTimeout saying ``what`` did not come."""
        try:
            return fut.result(timeout=timeout)
        except concurrent.futures.TimeoutError:
            with self._lock:
                self._waiting.pop(rid, None)
            cancel()
            raise RequestTimeout(f"{what} did not arrive within {timeout:g} s; try a longer timeout, "
                                 "and check the symbol and the connection") from None

    def __len__(self) -> int:
        return len(self._waiting)
