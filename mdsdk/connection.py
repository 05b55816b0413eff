"""Connection: the one thread that owns one socket.

All I/O of a feed happens here (model: paho-mqtt's loop): REST login, opening
the socket, the handshake, receiving, keepalives, reconnects. Other threads
hand it commands through a queue and wake it through a socketpair; it waits
in ``select`` with a timeout equal to the protocol's next deadline, so there
is no extra ping thread. Backoff sleeps are also waits on the wake socket,
so ``close()`` is prompt.

Decoded events leave as one list per frame through ``sink`` (the
dispatcher); nothing user-supplied runs on this thread.
"""

from __future__ import annotations

import json
import logging
import queue
import select
import socket
import threading
import time
from concurrent.futures import Future
from typing import IO, Any, Callable, List, Optional

from .errors import (AuthenticationError, ClosedError, ConnectionLost, MdsdkError,
                     RequestTimeout)
from .events import Event, Status
from .policy import ReconnectPolicy, Timeouts
from .providers.base import (AuthExpired, AuthRejected, Config, Endpoint, Fatal, ProviderProtocol, Ready)

__all__ = ["Connection", "Command"]

log = logging.getLogger("mdsdk.connection")

Command = Callable[[ProviderProtocol, float], None]
_BURST_FRAMES = 256   # frames read back-to-back before timers and commands get a turn
_BURST_EVENTS = 4096  # events gathered into one batch at most


class _Stop(Exception):
    """Raised inside the loop when close() was requested."""


class Connection:
    """Runs ``protocol`` over sockets from ``transport_factory`` on its own thread.

    ``endpoint_source(refresh)`` returns where to connect (performing any REST
    login; ``refresh=True`` asks for a fresh token). ``sink(events)`` receives
    every decoded batch. ``on_signal(signal)`` receives history answers and
    rejections (called on this thread; it must not block).
    """

    def __init__(self, *, provider: str, config: Config, protocol: ProviderProtocol,
                 endpoint_source: Callable[[bool], Endpoint],
                 transport_factory: Callable[[Endpoint], Any],
                 sink: Callable[[List[Event]], None],
                 on_signal: Callable[[Any], None],
                 reconnect: ReconnectPolicy = ReconnectPolicy(), timeouts: Timeouts = Timeouts(),
                 record: Optional[IO[str]] = None) -> None:
        self.provider = provider
        self.config = config
        self.protocol = protocol
        self._endpoint_source = endpoint_source
        self._transport_factory = transport_factory
        self._sink = sink
        self._on_signal = on_signal
        self.reconnect = reconnect
        self.timeouts = timeouts
        self._record = record
        self._commands: "queue.SimpleQueue[Command]" = queue.SimpleQueue()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._stopping = threading.Event()
        self._started: "Future[None]" = Future()
        self._thread = threading.Thread(target=self._run, name=f"mdsdk-{provider}", daemon=True)
        self._transport: Any = None
        self.error: Optional[MdsdkError] = None
        # Figures for stats(); written by the socket thread only.
        self.reconnects = 0
        self.frames_in = 0
        self.frames_out = 0
        self.last_frame_at: Optional[float] = None
        self.connected = False
        self._refreshed = False

    # ------------------------------------------------------------ control (any thread)
    def start(self) -> None:
        """Start the thread and wait until the first handshake is done.

        Raises AuthenticationError, TransportError or RequestTimeout when the
        first connection cannot be made; nothing is retried in that case.
        """
        self._thread.start()
        limit = self.timeouts.connect + self.timeouts.handshake + self.timeouts.request
        try:
            self._started.result(timeout=limit)
        except TimeoutError:
            self.close()
            raise RequestTimeout(f"connecting to {self.provider} took longer than {limit:g} s; "
                                 "check the URL and the server") from None
        except MdsdkError:
            self.close()
            raise

    def call(self, command: Command) -> None:
        """Run ``command(protocol, now)`` on the socket thread, soon."""
        if self._stopping.is_set():
            raise ClosedError("the feed is closed; connect again to make new requests")
        self._commands.put(command)
        self._wake()

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass  # closing, or the buffer is full: either way the loop will wake

    def close(self, timeout: Optional[float] = None) -> None:
        """Stop the thread, close the socket, and wait (``timeouts.close``)."""
        self._stopping.set()
        self._wake()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            limit = self.timeouts.close if timeout is None else timeout
            self._thread.join(limit * 0.75)
            transport = self._transport
            if self._thread.is_alive() and transport is not None:
                transport.abort()  # unblock a read or a REST-free send stuck on a dead peer
                self._thread.join(limit * 0.25)
        if not self._thread.is_alive():
            for s in (self._wake_r, self._wake_w):
                s.close()

    @property
    def alive(self) -> bool:
        """True while the socket thread runs."""
        return self._thread.is_alive()

    # ------------------------------------------------------------ the thread
    def _emit(self, kind: str, detail: str, **extra: object) -> None:
        self._sink([Status("", time.time_ns(), self.provider, kind=kind, detail=detail, extra=extra)])

    def _run(self) -> None:
        attempt = 0
        refresh = False
        self._refreshed = False
        while not self._stopping.is_set():
            up_since: Optional[float] = None
            try:
                endpoint = self._endpoint_source(refresh)
                refresh = False
                self._open(endpoint)
                up_since = time.monotonic()
                self._serve()
                return  # _serve returns only when stopping
            except _Stop:
                return
            except AuthenticationError as exc:
                if not self._started.done():
                    self._started.set_exception(exc)
                    return
                if not self._refreshed:
                    # Expired, or refused on reconnect: one fresh token, then give up.
                    refresh = self._refreshed = True
                    self._emit("disconnected", f"{exc}; fetching a fresh token and reconnecting")
                    self._close_transport()
                    continue
                self._fatal(exc)
                return
            except MdsdkError as exc:
                self._close_transport()
                if not self._started.done():
                    self._started.set_exception(exc)
                    return
                if getattr(exc, "fatal", False):
                    self._fatal(exc)
                    return
                if up_since is not None and time.monotonic() - up_since >= self.reconnect.reset_after:
                    attempt = 0
                attempt += 1
                if self.reconnect.gives_up(attempt):
                    self._fatal(ConnectionLost(f"gave up after {attempt - 1} reconnect attempts: {exc}"))
                    return
                self._emit("disconnected", str(exc), error=type(exc).__name__)
                delay = self.reconnect.delay(attempt)
                self._emit("reconnecting", f"reconnecting in {delay:.1f} s (attempt {attempt})",
                           attempt=attempt, delay=delay)
                if self._sleep(delay):
                    return
                self.reconnects += 1
            except Exception as exc:  # noqa: BLE001 - a bug must not kill the feed silently
                log.exception("mdsdk connection thread failed")
                err = MdsdkError(f"internal error in the {self.provider} connection: {exc!r}")
                if not self._started.done():
                    self._started.set_exception(err)
                else:
                    self._fatal(err)
                return
            finally:
                self._close_transport()

    def _fatal(self, exc: MdsdkError) -> None:
        self.error = exc
        self._emit("error", f"{exc} (the feed has stopped)", error=type(exc).__name__, fatal=True)
        self._on_signal(Fatal(exc))

    def _sleep(self, seconds: float) -> bool:
        """Wait ``seconds`` or until woken by close(); True when stopping."""
        deadline = time.monotonic() + seconds
        while not self._stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            select.select([self._wake_r], [], [], left)
            self._drain_wake()
        return True

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    def _open(self, endpoint: Endpoint) -> None:
        transport = self._transport_factory(endpoint)
        transport.open()
        self._transport = transport
        self.protocol.set_token(endpoint.token)
        self.protocol.connection_made(time.time())
        self._flush()

    def _close_transport(self) -> None:
        transport, self._transport = self._transport, None
        if transport is not None:
            self.connected = False
            self.protocol.connection_lost()
            transport.close()

    def _flush(self) -> None:
        frames = self.protocol.outgoing()
        if not frames:
            return
        transport = self._transport
        rec = self._record
        for text in frames:
            transport.send(text)
            if rec is not None:
                self._write_record("out", self.config.redact(text))
        self.frames_out += len(frames)

    def _write_record(self, direction: str, text: str) -> None:
        assert self._record is not None
        self._record.write(json.dumps({"dir": direction, "raw": text, "t": round(time.time(), 6)}) + "\n")

    def _run_commands(self) -> None:
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return
            command(self.protocol, time.time())

    def _serve(self) -> None:
        proto, transport = self.protocol, self._transport
        sock = transport.fileno()
        wake = self._wake_r
        readers = [sock, wake]
        while True:
            if self._stopping.is_set():
                raise _Stop()
            deadline = proto.next_deadline()
            now = time.time()
            timeout = 1.0 if deadline is None else min(1.0, max(0.0, deadline - now))
            if transport.pending():
                timeout = 0.0
            ready, _, _ = select.select(readers, [], [], timeout)
            if wake in ready:
                self._drain_wake()
                if self._stopping.is_set():
                    raise _Stop()
                self._run_commands()
            if sock in ready or transport.pending():
                self._read_burst(sock)
            deadline = proto.next_deadline()
            if deadline is not None and time.time() >= deadline:
                proto.handle_timer(time.time())
            self._flush()

    def _read_burst(self, sock: int) -> None:
        """Read every frame that is already waiting (up to a bound) and hand
        their events over as one batch.

        Under load, one cross-thread handover per burst instead of per frame
        is what keeps small frames (one event each) cheap; when the socket is
        idle the burst is a single frame, so no latency is added.
        """
        proto, transport, rec = self.protocol, self._transport, self._record
        receive = proto.receive
        batch: List[Event] = []
        for _ in range(_BURST_FRAMES):
            try:
                text = transport.recv()
            except ConnectionLost as exc:
                if batch:
                    self._sink(batch)  # nothing already received is lost
                raise self._closed(exc) from exc
            if text is not None:
                ns = time.time_ns()
                now = ns / 1e9
                self.frames_in += 1
                self.last_frame_at = now
                if rec is not None:
                    self._write_record("in", text)
                events = receive(text, now, ns)
                if proto.signals:
                    if batch:
                        self._sink(batch)
                        batch = []
                    self._signals(events)
                elif events:
                    if batch:
                        batch.extend(events)
                    else:
                        batch = events
                    if len(batch) >= _BURST_EVENTS:
                        break
            if not transport.pending() and not select.select((sock,), (), (), 0)[0]:
                break
        if batch:
            self._sink(batch)

    def _closed(self, exc: ConnectionLost) -> MdsdkError:
        code = self._transport.close_code if self._transport is not None else None
        translated = self.protocol.closed_error(code, getattr(self._transport, "close_reason", ""))
        if translated is not None:
            return translated
        return exc

    def _signals(self, events: List[Event]) -> None:
        """Act on the protocol's news. "connected" goes out before the frame's
        events (so it precedes "resubscribed"); the events are delivered
        before any error is raised, so nothing received is lost."""
        signals, self.protocol.signals = self.protocol.signals, []
        failure: Optional[MdsdkError] = None
        for sig in signals:
            if isinstance(sig, Ready):
                self.connected = True
                self._refreshed = False
                if not self._started.done():
                    self._started.set_result(None)
                    self._emit("connected", f"connected to {self.provider}")
                else:
                    self._emit("connected", f"reconnected to {self.provider}", reconnects=self.reconnects)
            elif isinstance(sig, AuthRejected):
                failure = failure or sig.error
            elif isinstance(sig, AuthExpired):
                failure = failure or _Expired(str(sig.error))
            elif isinstance(sig, Fatal):
                failure = failure or _FatalError(str(sig.error))
            else:
                self._on_signal(sig)
        if events:
            self._sink(events)
        if failure is not None:
            raise failure


class _Expired(AuthenticationError):
    """An authorised session lost its token; refreshed once, then fatal."""


class _FatalError(MdsdkError):
    fatal = True

