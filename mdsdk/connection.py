"""The socket thread: one thread owns one provider connection.

Model: paho-mqtt's loop. The thread opens the socket, drives the protocol object, sends keepalives and
reconnects with backoff. Other threads hand it commands through a queue and wake it through a bell
(``queues.Bell``); it waits in a poll (``transport.readable``) with a timeout equal to the protocol's next
deadline (or the end of a reconnect backoff), so there is no extra ping thread and commands run during a
backoff too, never lost. REST calls the protocol asks for run on one REST worker thread (started only for
providers that use REST) and come back to the socket thread as commands: a REST call never runs here.

Deadlines use the monotonic clock; the wall clock only stamps events. Both come from ``clock``, the seam tests
use to move time.

The protocol object promises never to raise for bad input; the runtime guards every call into it anyway (and
the hand-over to consumers): an unexpected exception is logged once per place, counted in ``internal_errors``,
reported as ``Status(error)``, and the connection goes on. A bug may cost one frame, never the feed.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import traceback
from concurrent.futures import Future
from typing import IO, Any, Callable, List, Optional, Union

from .errors import (AuthenticationError, ClosedError, ConfigurationError, ConnectionLost, MdsdkError, ProtocolError,
                     RequestTimeout, TakeoverError, UpgradeRefused, redact)
from .events import Event, Status
from .policy import ReconnectPolicy, Timeouts
from .providers.base import (Fatal, HttpRequest, HttpResponse, ProviderProtocol, Ready, Reconnect, Reply,
                             Request)
from .queues import Bell
from .replies import PendingReplies
from .transport import readable

__all__ = ["Connection", "Command", "Clock"]

log = logging.getLogger("mdsdk.connection")

Command = Callable[[ProviderProtocol, float, int], None]
_BURST_FRAMES = 256   # frames read back-to-back before timers and commands get a turn
_BURST_BYTES = 1 << 18  # text decoded in one go at most: a batch of events stays around a megabyte
# Close reasons a reconnect cannot cure: the feed stops with them instead of looping.
_FINAL = (AuthenticationError, ProtocolError, ConfigurationError, TakeoverError)
_TIMER_PAUSE = 0.05  # seconds before a timer that raised runs again


class Clock:
    """The two clocks the runtime reads: ``monotonic()``, seconds on a clock
    that never steps, for deadlines, and ``time_ns()``, wall-clock epoch
    nanoseconds, for stamps. Tests pass a subclass that jumps. The defaults
    are the ``time`` functions themselves: the socket thread reads both on
    every wake-up, and a Python method around each cost a call apiece there."""

    monotonic: Callable[[], float] = staticmethod(time.monotonic)
    time_ns: Callable[[], int] = staticmethod(time.time_ns)


class _Stop(Exception):
    """Raised inside the loop when the thread must end."""


class _RestWorker:
    """One thread that performs the protocol's REST calls in order and hands
    each answer back to the socket thread as a command."""

    def __init__(self, name: str, perform: Callable[[HttpRequest], HttpResponse],
                 deliver: Callable[[Command], None], stopping: threading.Event) -> None:
        self._perform, self._deliver, self._stopping = perform, deliver, stopping
        self._jobs: "queue.SimpleQueue[Optional[tuple[int, HttpRequest]]]" = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, call_id: int, req: HttpRequest) -> None:
        self._jobs.put((call_id, req))

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None or self._stopping.is_set():
                return
            call_id, req = job
            answer: Union[HttpResponse, MdsdkError]
            if req.delay > 0 and self._stopping.wait(min(req.delay, 3600.0)):
                return
            try:
                answer = req.run() if req.run is not None else self._perform(req)
            except MdsdkError as exc:
                answer = exc
            except Exception as exc:  # noqa: BLE001 - the flow must hear an answer, or it waits forever
                answer = MdsdkError(f"REST call {req.method} {req.path} failed inside mdsdk: {exc!r}")
            try:
                self._deliver(_answer(call_id, answer))
            except ClosedError:  # the feed closed while this call ran: nobody waits for the answer
                return

    def close(self, timeout: float) -> None:
        self._jobs.put(None)
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)


class Connection:
    """Runs ``protocol`` over sockets from ``transport_factory`` on its own thread.

    ``sink(events)`` receives every decoded batch; ``http`` performs REST
    calls (built lazily, on the REST worker); ``record`` gets every frame.
    """

    def __init__(self, *, provider: str, protocol: ProviderProtocol,
                 transport_factory: Callable[[Any], Any], sink: Callable[[List[Event]], None],
                 http: Optional[Callable[[HttpRequest], HttpResponse]] = None,
                 reconnect: ReconnectPolicy = ReconnectPolicy(), timeouts: Timeouts = Timeouts(),
                 record: Optional[IO[str]] = None, clock: Optional[Clock] = None) -> None:
        self.provider = provider
        self.protocol = protocol
        self._transport_factory = transport_factory
        self._sink = sink
        self._http = http
        self.reconnect = reconnect
        self.timeouts = timeouts
        self._record = record
        self.clock = clock or Clock()
        self.pending = PendingReplies()
        self._commands: "queue.SimpleQueue[Command]" = queue.SimpleQueue()
        self._bell = Bell()
        self._stopping = threading.Event()
        self._started: "Future[None]" = Future()
        self._thread = threading.Thread(target=self._run, name=f"mdsdk-{provider}", daemon=True)
        self._transport: Any = None
        self._rest: Optional[_RestWorker] = None
        self.error: Optional[MdsdkError] = None
        # Figures for stats(); written by the socket thread only.
        self.reconnects = self.internal_errors = self.frames_in = self.frames_out = 0
        self._logged: set[str] = set()
        self.last_frame_at: Optional[float] = None
        self.connected = False
        self._attempt = 0
        self._retry_at = 0.0
        self._timer_floor = 0.0
        self._up_since: Optional[float] = None

    # ------------------------------------------------------------ control (any thread)
    def start(self) -> None:
        """Start the thread and wait until the first handshake is done.

        Raises AuthenticationError, TransportError or RequestTimeout when the
        first connection cannot be made; nothing is retried in that case.
        """
        self._thread.start()
        # A backstop: each step has its own deadline; a login may take two REST calls.
        limit = self.timeouts.connect + self.timeouts.handshake + 2 * self.timeouts.rest
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
        """Run ``command(protocol, now, wall_ns)`` on the socket thread, soon."""
        if self._stopping.is_set():
            raise ClosedError("the feed is closed; connect again to make new requests")
        self._commands.put(command)
        self._wake()

    def request(self, req: Request, timeout: float, what: str) -> Any:
        """Send ``req`` through the protocol and wait for its answer (one
        pending table, one timeout rule: on timeout the request is cancelled)."""
        if self.error is not None:
            raise self.error
        rid, fut = self.pending.open()

        def send(p: ProviderProtocol, now: float, wall: int) -> None:
            try:
                p.request(rid, req, now, wall)
            except Exception as exc:  # noqa: BLE001 - the caller hears it; the feed goes on
                self._internal(f"sending {what}", exc)
                self.pending.resolve(Reply(rid, None, MdsdkError(
                    f"mdsdk failed to send the request for {what} ({type(exc).__name__}); "
                    "see the log, and report it as a bug")))

        self.call(send)
        return self.pending.wait(rid, fut, timeout, what,
                                 lambda: self._cancel(rid))

    def _cancel(self, rid: int) -> None:
        if not self._stopping.is_set():
            self.call(lambda p, now, wall: p.cancel(rid, now, wall))

    def _wake(self) -> None:
        self._bell.ring()

    def close(self, timeout: Optional[float] = None) -> None:
        """Stop the threads, close the socket, and wait (``timeouts.close``)."""
        self._stopping.set()
        self._wake()
        limit = self.timeouts.close if timeout is None else timeout
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(limit * 0.75)
            transport = self._transport
            if self._thread.is_alive() and transport is not None:
                transport.abort()  # unblock a read or a send stuck on a dead peer
                self._thread.join(limit * 0.25)
        if self._rest is not None:
            self._rest.close(limit)
        self.pending.fail_all(ClosedError("the feed was closed while waiting for an answer"))
        if not self._thread.is_alive():
            self._bell.close()

    @property
    def alive(self) -> bool:
        """True while the socket thread runs."""
        return self._thread.is_alive()

    # ------------------------------------------------------------ the thread
    def _now(self) -> float:
        return self.clock.monotonic()

    def _redact(self, text: str) -> str:
        """The one redaction of this feed: logs, Status details and recordings."""
        return redact(text, self.protocol.secrets)

    def _scrub(self, exc: MdsdkError) -> MdsdkError:
        """``exc`` with every known secret masked in its message and in the
        server's words it carries: errors built from server text (which may
        echo a token) cross into user code here."""
        secrets = self.protocol.secrets
        exc.args = tuple(redact(a, secrets) if isinstance(a, str) else a for a in exc.args)
        for name in ("message", "text", "server_message"):
            value = getattr(exc, name, None)
            if isinstance(value, str):
                setattr(exc, name, redact(value, secrets))
        return exc

    def _emit(self, kind: str, detail: str, **extra: object) -> None:
        self._deliver([Status("", self.clock.time_ns(), self.provider, kind=kind,
                              detail=self._redact(detail), extra=extra)])

    def _deliver(self, events: List[Event]) -> None:
        """Hand a batch to the consumers; a failure there costs that batch only."""
        try:
            self._sink(events)
        except Exception as exc:  # noqa: BLE001 - see the module docstring
            self._internal("delivering events", exc)

    def _internal(self, where: str, exc: BaseException) -> List[Event]:
        """An unexpected exception from our own code: counted, logged with its
        traceback once per place and type, and reported as a Status."""
        self.internal_errors += 1
        key = f"{where}:{type(exc).__name__}"
        text = self._redact(f"{type(exc).__name__}: {exc}")[:300]
        if key not in self._logged and len(self._logged) < 100:
            self._logged.add(key)
            log.error("%s", self._redact("mdsdk internal error while %s in the %s connection (logged once; "
                                         "later ones are counted): %s" % (
                                             where, self.provider, "".join(traceback.format_exception(exc)))))
        status = Status("", self.clock.time_ns(), self.provider, kind="error",
                        detail=f"internal error while {where}: {text}; skipped, the connection goes on",
                        extra={"internal_errors": self.internal_errors})
        try:
            self._sink([status])
        except Exception:  # noqa: BLE001 - nothing more can be done; it is counted and logged
            pass
        return []

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                if self._transport is None and self._now() >= self._retry_at:
                    self._try_open()
                self._step()
        except _Stop:
            pass
        except Exception as exc:  # noqa: BLE001 - a bug must not kill the feed silently
            log.error("%s", self._redact("mdsdk connection thread failed: " + "".join(traceback.format_exception(exc))))
            self._fatal(MdsdkError(f"internal error in the {self.provider} connection: {exc!r}"), stop=False)
        finally:
            self._close_transport()
            if self._stopping.is_set():
                self._bell.close()  # close() may have given up waiting for this thread; rings after it do nothing

    def _try_open(self) -> None:
        proto = self.protocol
        try:
            endpoint = proto.endpoint(self._now(), self.clock.time_ns())
            self._after()
            if endpoint is None:
                return  # a REST login is running; its answer wakes us
            transport = self._transport_factory(endpoint)
            transport.open()
        except _Stop:
            raise
        except MdsdkError as exc:
            if isinstance(exc, UpgradeRefused):  # a refusal of credentials comes back as Fatal (or renew, Reconnect)
                proto.upgrade_refused(exc.status, self._now(), self.clock.time_ns())
            if not proto.signals:
                self._lost(exc)
            self._after()
            return
        except Exception as exc:  # noqa: BLE001 - a bug here must back off, not spin
            self._internal("opening the connection", exc)
            self._lost(MdsdkError(f"could not open the {self.provider} connection: {type(exc).__name__}"))
            return
        self._transport = transport
        if self._attempt:
            self.reconnects += 1
        self._up_since = self._now()
        try:
            proto.connection_made(self._now(), self.clock.time_ns())
        except Exception as exc:  # noqa: BLE001 - see the module docstring
            self._internal("starting the handshake", exc)
        self._guarded_after()

    def _step(self) -> None:
        proto, transport = self.protocol, self._transport
        now = self._now()
        timeout = 1.0
        deadline = self._deadline()
        if deadline is not None:
            timeout = min(timeout, max(0.0, deadline - now))
        if transport is None:
            timeout = min(timeout, max(0.0, self._retry_at - now))
        elif transport.pending():
            timeout = 0.0
        fd, bell = -1 if transport is None else transport.fileno(), self._bell.fileno()
        ready = readable((bell,) if fd < 0 else (bell, fd), timeout)
        if bell in ready:
            self._bell.drain()
            if self._stopping.is_set():
                raise _Stop()
            self._run_commands()
            if self._transport is not transport:  # commands closed it
                transport, fd = self._transport, -1
        if transport is not None and (fd in ready or transport.pending()):
            self._read_burst()
        deadline = self._deadline()
        if deadline is not None and self._now() >= deadline:
            try:
                proto.handle_timer(self._now(), self.clock.time_ns())
            except ConnectionLost as exc:
                self._lost(exc)
            except Exception as exc:  # noqa: BLE001 - see the module docstring
                self._internal("running a timer", exc)
                self._timer_floor = self._now() + _TIMER_PAUSE  # a timer that keeps failing must not spin
        self._guarded_after()

    def _deadline(self) -> Optional[float]:
        try:
            deadline = self.protocol.next_deadline()
        except Exception as exc:  # noqa: BLE001 - see the module docstring
            self._internal("reading the next deadline", exc)
            deadline = self._now() + 1.0
        if deadline is None:
            return None
        if not deadline == deadline:  # a nan deadline would never come
            deadline = self._now() + 1.0
        return max(deadline, self._timer_floor)

    def _run_commands(self) -> None:
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return
            try:
                command(self.protocol, self._now(), self.clock.time_ns())
            except Exception as exc:  # noqa: BLE001 - see the module docstring
                self._internal("running a command", exc)
            self._guarded_after()

    # ------------------------------------------------------------ after every protocol call
    def _guarded_after(self) -> None:
        try:
            self._after()
        except _Stop:
            raise
        except ConnectionLost as exc:  # a plug-in's outgoing() may say so: the socket goes, the feed stays
            self._lost(exc)
        except Exception as exc:  # noqa: BLE001 - see the module docstring
            self._internal("handling the protocol's output", exc)

    def _after(self) -> None:
        """Send queued frames, hand REST calls to the worker, act on signals
        and deliver news the protocol produced outside a frame."""
        proto = self.protocol
        if self._transport is not None:
            self._flush()
        else:
            proto.outgoing()  # nothing can be sent without a socket; a reconnect resends state
        calls = proto.http_outgoing()
        for call_id, req in calls:
            self._rest_worker().submit(call_id, req)
        if proto.news:
            news, proto.news = proto.news, []
            self._deliver(news)
        if proto.signals:
            self._signals()

    def _rest_worker(self) -> _RestWorker:
        if self._rest is None:
            perform = self._http or _no_rest(self.provider)
            self._rest = _RestWorker(f"mdsdk-{self.provider}-rest", perform, self.call, self._stopping)
        return self._rest

    def _flush(self) -> None:
        frames = self.protocol.outgoing()
        if not frames:
            return
        transport, rec = self._transport, self._record
        try:
            for text in frames:
                transport.send(text)
                if rec is not None:
                    self._write_record("out", text)
        except ConnectionLost as exc:
            self._lost(exc)
            return
        self.frames_out += len(frames)

    def _write_record(self, direction: str, text: str) -> None:
        if self._record is None:
            return  # stopped after a write failed (a caller may still hold the old handle)
        try:
            self._record.write(json.dumps({"dir": direction, "raw": self._redact(text),
                                           "t": round(time.time(), 6)}) + "\n")
        except (OSError, ValueError) as exc:  # a full disk must not stop the feed
            self._record = None
            self._emit("error", f"recording stopped: {exc}")

    def _signals(self, events: Optional[List[Event]] = None) -> None:
        """Act on the protocol's news. "connected" goes out before the frame's
        ``events`` (so it precedes "resubscribed"); the events are delivered
        before a reconnect or a stop, so nothing received is lost."""
        proto = self.protocol
        signals, proto.signals = proto.signals, []
        later: List[Any] = []
        for sig in signals:
            if isinstance(sig, Reply):
                for err in [sig.error, *(x for pair in _pairs(sig.value) for x in pair)]:
                    if isinstance(err, MdsdkError):
                        self._scrub(err)  # rejected subscriptions carry the server's words too
                self.pending.resolve(sig)
            elif isinstance(sig, Ready):
                self.connected = True
                if not self._started.done():
                    self._started.set_result(None)
                    self._emit("connected", f"connected to {self.provider}")
                else:
                    self._emit("connected", f"reconnected to {self.provider}", reconnects=self.reconnects)
            else:
                later.append(sig)
        if events:
            self._deliver(events)
        for sig in later:
            if isinstance(sig, Reconnect):
                self._lost(sig.error, immediate=sig.now)
            elif isinstance(sig, Fatal):
                self._fatal(sig.error)

    # ------------------------------------------------------------ failures
    def _lost(self, exc: MdsdkError, immediate: bool = False) -> None:
        """The socket is gone (or must go): report, and plan the next attempt."""
        final = False
        if self._transport is not None:
            translated = self._translate(exc)
            # A close the protocol names as incurable (e.g. 1009 again) stops the feed.
            final, exc = translated is not exc and isinstance(translated, _FINAL), translated
        self._close_transport()
        if not self._started.done() or final:
            self._fatal(exc)  # the first connection is not retried
        now = self._now()
        if self._up_since is not None and now - self._up_since >= self.reconnect.reset_after:
            self._attempt = 0
        self._up_since = None
        self._attempt += 1
        if self.reconnect.gives_up(self._attempt):
            self._fatal(ConnectionLost(f"gave up after {self._attempt - 1} reconnect attempts: {exc}"))
        self._emit("disconnected", str(exc), error=type(exc).__name__)
        delay = 0.0 if immediate else self.reconnect.delay(self._attempt)
        self._emit("reconnecting", f"reconnecting in {delay:.1f} s (attempt {self._attempt})",
                   attempt=self._attempt, delay=delay)
        self._retry_at = now + delay

    def _translate(self, exc: MdsdkError) -> MdsdkError:
        transport = self._transport
        try:
            translated = self.protocol.closed_error(transport.close_code, getattr(transport, "close_reason", ""))
        except Exception as err:  # noqa: BLE001 - see the module docstring
            translated = None
            self._internal("reading a close code", err)
        return translated if translated is not None else exc

    def _fatal(self, exc: MdsdkError, stop: bool = True) -> None:
        """The feed stops with ``exc``: every waiter hears it."""
        self.error = exc = self._scrub(exc)
        self._close_transport()
        if not self._started.done():
            self._started.set_exception(exc)
        else:
            self._emit("error", f"{exc} (the feed has stopped)", error=type(exc).__name__, fatal=True)
        self.pending.fail_all(exc)
        self._stopping.set()
        if stop:
            raise _Stop()

    def _close_transport(self) -> None:
        transport, self._transport = self._transport, None
        if transport is not None:
            self.connected = False
            try:
                self.protocol.connection_lost()
            except Exception as exc:  # noqa: BLE001 - see the module docstring; the socket is released anyway
                self._internal("forgetting the socket", exc)
            transport.close()

    # ------------------------------------------------------------ reading
    def _read_burst(self) -> None:
        """Decode what each socket read brought in one call and hand its events
        over as one batch, read after read while the socket has more (up to a
        bound): one cross-thread handover per read keeps small frames cheap, and
        the first read's events go out before the socket is asked again."""
        transport, rec = self._transport, self._record
        assert transport is not None
        size = frames = 0
        for _ in range(_BURST_FRAMES):  # reads, not only frames: a ping flood or a trickling giant frame yields none
            try:
                texts = transport.recv_many()
            except ConnectionLost as exc:
                if self._transport is transport:
                    self._lost(exc)  # after every frame received before it: nothing received is lost
                return
            if texts:
                if rec is not None:
                    for text in texts:
                        self._write_record("in", text)
                self._decode(texts)
                if self._transport is not transport:
                    return  # a signal closed it
                frames += len(texts)
                size += sum(map(len, texts))
            if frames >= _BURST_FRAMES or size >= _BURST_BYTES:
                return
            if not transport.more():
                return

    def _decode(self, texts: List[str]) -> None:
        proto, clock = self.protocol, self.clock
        ns = clock.time_ns()
        self.frames_in += len(texts)
        self.last_frame_at = ns / 1e9
        try:
            events = proto.receive_many(texts, clock.monotonic(), ns)
        except Exception as exc:  # noqa: BLE001 - see the module docstring
            events = self._internal("decoding a frame", exc)
        faults, proto.faults = proto.faults, []
        if proto.signals:
            self._signals(events)
        elif events:
            try:  # _deliver, spelled out: this is the path of every frame
                self._sink(events)
            except Exception as exc:  # noqa: BLE001 - see the module docstring
                self._internal("delivering events", exc)
        for fault in faults:  # after the burst's events: those frames came first or beside it
            self._internal("decoding a frame", fault)


def _pairs(value: Any) -> List[tuple[Any, ...]]:
    """The ``(subscription, error)`` pairs of a Subscribe reply; [] for other values."""
    if isinstance(value, tuple) and all(isinstance(p, tuple) for p in value):
        return list(value)
    return []


def _answer(call_id: int, answer: Union[HttpResponse, MdsdkError]) -> Command:
    def command(p: ProviderProtocol, now: float, wall: int) -> None:
        p.http_response(call_id, answer, now, wall)
    return command


def _no_rest(provider: str) -> Callable[[HttpRequest], HttpResponse]:
    def perform(req: HttpRequest) -> HttpResponse:
        raise MdsdkError(f"{provider} asked for a REST call but has no api_url; pass api_url=...")
    return perform
