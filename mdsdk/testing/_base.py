"""What every emulator shares: a websockets server in a background thread,
one session object per client connection, the common fault switches, and
clean shutdown. Protocol specifics live in the subclasses."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Optional, Set

from websockets.sync.server import ServerConnection, serve

__all__ = ["EmulatorBase"]


class EmulatorBase:
    """A WebSocket server on ``host:port`` (0 = any free port) that runs
    ``session_class(self, ws).run()`` for each client, as a context manager.

    Sessions must have ``ws``, ``stalled``, ``injected`` (a deque of raw
    frames to send) and ``close_request`` (``(code, reason)`` or None).
    """

    GARBAGE = "{this is not json"  # what inject() sends by default
    PATH = "/"

    def __init__(self, session_class: Any, *, host: str, port: int, logger: logging.Logger,
                 max_size: Optional[int] = 1 << 20) -> None:
        self._session_class = session_class
        self._lock = threading.Lock()
        self._sessions: Set[Any] = set()
        self.connections = 0
        self._closing = False
        self._server = serve(self._handle, host, port, compression=None, ping_interval=None,
                             max_size=max_size, logger=logger)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name=f"mdsdk-emulator-{type(self).__name__}")
        self._thread.start()

    @property
    def url(self) -> str:
        """The WebSocket URL."""
        host, port = self._server.socket.getsockname()[:2]
        return f"ws://{host}:{port}{self.PATH}"

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self.url!r}, api_url={getattr(self, 'api_url', None)!r})"

    def close(self) -> None:
        """Stop serving, close every connection and join all threads."""
        if self._closing:
            return
        self._closing = True
        self._server.shutdown()
        self._thread.join(timeout=5)
        for session in list(self._sessions):
            try:
                session.ws.close_socket()
            except Exception:  # noqa: BLE001 - already gone
                pass
        deadline = time.monotonic() + 5
        while self._sessions and time.monotonic() < deadline:
            time.sleep(0.01)
        self._closed()

    def _closed(self) -> None:
        """Hook: release what the subclass runs beside the socket (REST)."""

    # -- fault switches every emulator has
    def drop(self) -> None:
        """Cut every open connection abruptly (no close frame)."""
        for session in list(self._sessions):
            session.ws.close_socket()

    def stall(self) -> None:
        """Make every open connection go silent (the socket stays open); new
        connections are served normally."""
        for session in list(self._sessions):
            session.stalled = True

    def inject(self, text: Optional[str] = None) -> None:
        """Send ``text`` (garbage by default) as a raw frame on every open connection."""
        for session in list(self._sessions):
            session.injected.append(self.GARBAGE if text is None else text)

    def close_with(self, code: int, reason: str = "") -> None:
        """Close every open connection with WebSocket close ``code``."""
        for session in list(self._sessions):
            session.close_request = (code, reason)

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Poll ``predicate`` until true or ``timeout``; returns its last value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.01)
        return predicate()

    @property
    def open_connections(self) -> int:
        """How many client connections are open now."""
        return len(self._sessions)

    def _handle(self, ws: ServerConnection) -> None:
        session = self._session_class(self, ws)
        with self._lock:
            self._sessions.add(session)
            self.connections += 1
        try:
            session.run()
        finally:
            with self._lock:
                self._sessions.discard(session)
