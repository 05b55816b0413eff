"""What every emulator shares: a websockets server in a background thread,
one session per client connection running one loop, the common fault
surface, restart on the same port, and clean shutdown.

The session loop (``SessionBase.run``) is the same for every protocol: wait
briefly for a client frame and hand it to ``on_message``; then do the
housekeeping a fault may have asked for (a pending close, a stall, injected
frames) and finally the protocol's own periodic work. Faults are requested
from other threads by setting a flag the session's own thread acts on, so a
socket is only ever written by the thread that owns it.
"""

from __future__ import annotations

import collections
import logging
import ssl
import threading
import time
from typing import Any, Callable, Deque, Generic, List, Optional, Sequence, Set, Tuple, TypeVar, Union

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

__all__ = ["EmulatorBase", "SessionBase", "Farewell"]

E = TypeVar("E", bound="EmulatorBase")
# What a session sends before it closes: text frames, then a close (code, reason).
Farewell = Tuple[Tuple[str, ...], int, str]


class SessionBase(Generic[E]):
    """One client connection, run on its websockets handler thread.

    Subclasses implement the protocol: :meth:`on_message` for each client
    frame, and optionally :meth:`greet` (sent once on connect),
    :meth:`periodic` (data, keepalives, timeouts; return False to end the
    session), :meth:`close_frames` and :meth:`takeover_farewell`.
    """

    def __init__(self, emu: E, ws: ServerConnection) -> None:
        self.emu = emu
        self.ws = ws
        self.authorized = False
        self.token: Optional[str] = None  # the token this connection was authorized with
        now = time.monotonic()
        self.last_recv = now
        self.last_send = now
        self._stalled = False
        self._injected: Deque[Union[str, Callable[[], Optional[str]]]] = collections.deque()
        self._farewell: Optional[Farewell] = None

    # -- requests from other threads (flags only; this session's thread acts)
    @property
    def stalled(self) -> bool:
        """Whether the session has gone silent (see :meth:`stall`)."""
        return self._stalled

    def stall(self) -> None:
        """Go silent: read and ignore client frames, send nothing, never time out."""
        self._stalled = True

    def inject(self, text: Union[str, Callable[[], Optional[str]]]) -> None:
        """Send ``text`` as a raw frame at the next housekeeping; a callable makes the frame then, on this
        session's thread (for frames numbered in the order they are sent), or returns None to send nothing."""
        self._injected.append(text)

    def request_close(self, code: int, reason: str = "", frames: Sequence[str] = ()) -> None:
        """Send ``frames`` then close with ``code``; the first request wins."""
        if self._farewell is None:
            self._farewell = (tuple(frames), code, reason)

    def log_in(self, token: str) -> None:
        """Mark this connection logged in with ``token`` and, with ``exclusive``, take over the
        others at once; call before sending the success reply, so a second login the client sends
        after reading that reply always finds this session authorized."""
        self.token = token
        self.emu.admit(self)

    def cut(self) -> None:
        """Close the TCP connection abruptly (no close frame)."""
        try:
            self.ws.close_socket()
        except OSError:
            pass  # already gone

    # -- the loop
    def run(self) -> None:
        """Serve the connection until it closes or the emulator stops."""
        try:
            self.greet()
            while not self.emu.closing:
                text = self.receive(self.recv_timeout())
                if text is not None and not self._stalled:
                    self.on_message(text)
                if not self._housekeeping():
                    return
        except ConnectionClosed:
            return

    def receive(self, timeout: float) -> Optional[str]:
        """The next client frame within ``timeout`` seconds, recorded, or None."""
        try:
            raw = self.ws.recv(timeout=timeout)
        except TimeoutError:
            return None
        text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
        self.last_recv = time.monotonic()
        self.emu.record(text)
        return text

    def _housekeeping(self) -> bool:
        farewell = self._farewell
        if farewell is not None:
            frames, code, reason = farewell
            for frame in frames:
                self.send_text(frame)
            self.ws.close(code, reason)
            return False
        if self._stalled:
            return True
        while self._injected:
            item = self._injected.popleft()
            text = item if isinstance(item, str) else item()
            if text is not None:
                self.send_text(text)
        return self.periodic(time.monotonic())

    def send_text(self, text: str) -> None:
        """Send one text frame."""
        self.ws.send(text)
        self.last_send = time.monotonic()

    # -- protocol hooks
    def recv_timeout(self) -> float:
        """How long one wait for a client frame may last (bounds fault latency)."""
        return 0.05

    def greet(self) -> None:
        """Send what the server sends as soon as a client connects."""

    def on_message(self, text: str) -> None:
        """Handle one client frame."""
        raise NotImplementedError

    def periodic(self, now: float) -> bool:
        """Periodic work at monotonic time ``now``; False ends the session."""
        return True

    def close_frames(self, code: int, reason: str) -> Sequence[str]:
        """Frames the protocol sends before closing with ``code`` (none by default)."""
        return ()

    def takeover_farewell(self) -> Farewell:
        """What this protocol sends when another login takes the session over."""
        raise NotImplementedError


class MarketClock:
    """The emulators' market clock: epoch seconds running ``speed`` times faster than real time from the
    moment it is made (``speed=60`` makes a minute bar last a real second), so a test crosses many bar
    boundaries quickly. Calling it gives epoch seconds (what emulators stamp data with); it also has the
    ``time_ns()``/``monotonic()`` pair a feed's ``clock=`` takes, so a client judging bar completeness and
    backfill ranges sees the same time as the server (deadlines stay on the real monotonic clock)."""

    def __init__(self, speed: float = 1.0, origin: Optional[Tuple[float, float]] = None) -> None:
        if not 0 < speed <= 10_000:
            raise ValueError(f"speed must be above 0 and at most 10000, not {speed!r}")
        self.speed = speed
        # ``origin`` lets a clock in another process (a client beside an emulator process) agree with this one.
        self._real0, self._market0 = origin if origin is not None else (time.time(),) * 2

    @property
    def origin(self) -> Tuple[float, float]:
        """The (real, market) epoch seconds this clock started from: ``MarketClock(speed, origin)`` in another
        process tells the same time."""
        return self._real0, self._market0

    def __call__(self) -> float:
        return self._market0 + (time.time() - self._real0) * self.speed

    def time_ns(self) -> int:
        """The market time as epoch nanoseconds (a feed's wall clock)."""
        return int(self() * 1e9)

    def monotonic(self) -> float:
        """Real monotonic seconds: timeouts are not sped up."""
        return time.monotonic()


class EmulatorBase:
    """A WebSocket server on ``host:port`` (0 = any free port) that runs
    ``session_class(self, ws).run()`` for each client, as a context manager,
    with the fault surface every emulator shares: :meth:`drop`,
    :meth:`stall`, :meth:`inject`, ``refuse_auth``, :meth:`expire_token`,
    :meth:`close_with`, :meth:`restart` and :meth:`takeover` (automatic on a
    second login when ``exclusive``). ``issued_tokens`` lists every token the
    emulator has handed out, expired ones included, so a test can check that
    none of them leaks. With ``ssl_context`` set (on a subclass, or on the
    instance before this constructor runs) it serves ``wss://`` instead.
    """

    # Class-level so a subclass can turn TLS on without every protocol
    # emulator's constructor growing a parameter it would only pass through.
    ssl_context: Optional[ssl.SSLContext] = None
    GARBAGE = "{this is not json"  # what inject() sends by default
    PATH = "/"
    CLOSE_TIMEOUT = 2.0  # a client that never answers our close frame is cut after this

    def __init__(self, session_class: Callable[[Any, ServerConnection], SessionBase[Any]], *, host: str,
                 port: int, logger: logging.Logger, max_size: Optional[int] = 1 << 20,
                 exclusive: bool = False) -> None:
        self.exclusive = exclusive
        self.refuse_auth = False
        self.issued_tokens: List[str] = []
        self.connections = 0
        self._session_class = session_class
        self._logger = logger
        self._max_size = max_size
        self._sessions_lock = threading.Lock()
        self._restart_lock = threading.Lock()
        self._sessions: Set[SessionBase[Any]] = set()
        self._closing = False
        self._restarting = False
        self._host = host
        self._server = self._serve(port)
        self._port: int = self._server.socket.getsockname()[1]
        self._thread = self._start()

    def _serve(self, port: int) -> Server:
        return serve(self._handle, self._host, port, compression=None, ping_interval=None,
                     max_size=self._max_size, close_timeout=self.CLOSE_TIMEOUT, logger=self._logger,
                     ssl=self.ssl_context)

    def _start(self) -> threading.Thread:
        thread = threading.Thread(target=self._server.serve_forever,
                                  name=f"mdsdk-emulator-{type(self).__name__}")
        thread.start()
        return thread

    # -- surface
    @property
    def url(self) -> str:
        """The WebSocket URL (unchanged by :meth:`restart`)."""
        scheme = "ws" if self.ssl_context is None else "wss"
        return f"{scheme}://{self._host}:{self._port}{self.PATH}"

    @property
    def closing(self) -> bool:
        """True once :meth:`close` has begun; sessions end their loops."""
        return self._closing

    @property
    def open_connections(self) -> int:
        """How many client connections are open now."""
        return len(self._sessions)

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
        with self._restart_lock:
            self._stop_serving()
        self._closed()

    def _stop_serving(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)
        for session in self.sessions():
            session.cut()
        self.wait_for(lambda: not self._sessions, timeout=5)

    def _closed(self) -> None:
        """Hook: release what the subclass runs beside the socket (REST)."""

    def sessions(self) -> List[SessionBase[Any]]:
        """The sessions open now (a copy)."""
        with self._sessions_lock:
            return list(self._sessions)

    def record(self, text: str) -> None:
        """Hook: keep a client frame for inspection (called by sessions)."""

    def issue(self, token: str) -> str:
        """Note ``token`` in ``issued_tokens`` and return it."""
        self.issued_tokens.append(token)
        return token

    # -- the common fault surface
    def drop(self) -> None:
        """Cut every open connection abruptly (no close frame)."""
        for session in self.sessions():
            session.cut()

    def stall(self) -> None:
        """Make every open connection go silent (the socket stays open); new
        connections are served normally."""
        for session in self.sessions():
            session.stall()

    def inject(self, text: Optional[str] = None) -> None:
        """Send ``text`` (garbage by default) as a raw frame on every open connection."""
        for session in self.sessions():
            session.inject(self.GARBAGE if text is None else text)

    def close_with(self, code: int, reason: str = "") -> None:
        """Close every open connection with WebSocket close ``code``, after
        whatever close frame the protocol sends first."""
        for session in self.sessions():
            session.request_close(code, reason, session.close_frames(code, reason))

    def expire_token(self) -> None:
        """Invalidate every token issued so far (protocol specific)."""
        raise NotImplementedError

    def takeover(self) -> None:
        """Do what the real server does when a second client logs in with the
        same credentials: every open session gets the protocol's takeover
        frames and is closed."""
        self._take_over(self.sessions())

    def restart(self) -> None:
        """Stop serving, cut every session, and serve again on the same port,
        keeping issued tokens and all other state; returns once listening."""
        with self._restart_lock:
            if self._closing:
                raise RuntimeError("the emulator is closed")
            self._restarting = True  # a client reconnecting meanwhile is cut too
            try:
                for session in self.sessions():
                    session.cut()
                self._stop_serving()
            finally:
                self._restarting = False
            self._server = self._serve(self._port)
            self._thread = self._start()

    def admit(self, session: SessionBase[Any]) -> None:
        """Authorize ``session`` and pick whom its login takes over, in one step under the sessions
        lock: two logins racing on two threads must never each see the other as older and end both."""
        with self._sessions_lock:
            session.authorized = True
            others = [s for s in self._sessions if s is not session and s.authorized]
        self.session_authorized(session, others)

    def session_authorized(self, session: SessionBase[Any], others: List[SessionBase[Any]]) -> None:
        """Called once ``session`` logged in, with the sessions that were already logged in; with
        ``exclusive`` it takes those over."""
        if self.exclusive:
            self._take_over(others)

    def _take_over(self, sessions: List[SessionBase[Any]]) -> None:
        for session in sessions:
            frames, code, reason = session.takeover_farewell()
            session.request_close(code, reason, frames)

    # -- helpers
    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Poll ``predicate`` until true or ``timeout``; returns its last value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.01)
        return predicate()

    def _handle(self, ws: ServerConnection) -> None:
        session = self._session_class(self, ws)
        if self._restarting:
            session.cut()
            return
        with self._sessions_lock:
            self._sessions.add(session)
            self.connections += 1
        try:
            session.run()
        finally:
            with self._sessions_lock:
                self._sessions.discard(session)
