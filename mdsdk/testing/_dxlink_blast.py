"""The DXLink emulator's benchmark streams: ``blast`` (N Quote events as fast
as the socket takes them) and ``pace`` (a steady rate, each event stamped
with its send time). A job waits in a one-slot :class:`Blaster` until a
session with a Quote subscription claims it and runs it on its own thread;
the symbols are sent as given, known to the universe or not. A paced stream sends
each frame at its own time (``burst=1``) or ``burst`` frames together at the
same mean rate, the shape of a feed that batches.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, List, Optional, Union

from ._dxlink_events import EventRows

if TYPE_CHECKING:
    from ._dxlink_session import DXLinkSession

__all__ = ["BlastJob", "PaceJob", "Blaster", "run_job"]


@dataclass(frozen=True)
class BlastJob:
    """``n`` Quote events, ``k`` per FEED_DATA frame, over ``symbols``."""

    n: int
    k: int
    symbols: List[str]


@dataclass(frozen=True)
class PaceJob:
    """``rate`` Quote events per second for ``seconds``, ``k`` per frame, ``burst`` frames back to back."""

    rate: float
    k: int
    seconds: float
    symbols: List[str]
    burst: int = 1


Job = Union[BlastJob, PaceJob]


class Blaster:
    """One job slot shared by the sessions: submit from any thread, claim
    from the session that will run it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._job: Optional[Job] = None
        self._done = threading.Event()

    def submit(self, job: Job, timeout: float) -> None:
        """Post ``job`` and wait until a session has sent it all; withdraws
        it and raises TimeoutError when none claimed and finished it in time."""
        if not job.symbols or job.k < 1:
            raise ValueError("a blast needs at least one symbol and k >= 1")
        self._done.clear()
        with self._lock:
            self._job = job
        if not self._done.wait(timeout):
            with self._lock:
                if self._job is job:
                    self._job = None
            raise TimeoutError("no connection with a Quote subscription took the stream")

    @property
    def pending(self) -> bool:
        """Whether a job waits for a session."""
        return self._job is not None

    def claim(self) -> Optional[Job]:
        """Take the waiting job, if any (exactly one session gets it)."""
        with self._lock:
            job, self._job = self._job, None
            return job

    def finished(self) -> None:
        """Tell the submitter the claimed job is done."""
        self._done.set()


def run_job(session: "DXLinkSession", ch: int, job: Job) -> None:
    """Run ``job`` on ``session``'s channel ``ch`` and report it finished."""
    try:
        if isinstance(job, BlastJob):
            _blast(session, ch, job)
        else:
            _pace(session, ch, job)
    finally:
        session.emu.blaster.finished()


def _frame(ch: int, values: List[Any]) -> str:
    return json.dumps({"type": "FEED_DATA", "channel": ch, "data": ["Quote", values]}, separators=(",", ":"))


def _blast(session: "DXLinkSession", ch: int, job: BlastJob) -> None:
    names = session.fields_for(ch, "Quote")
    market = session.emu.market
    t = session.emu.clock()
    stamp = int(t * 1000) * 1_000_000
    frames = []
    for f in range(64):  # a repeating cycle of frames, so building them costs nothing per event
        values: List[Any] = []
        for j in range(job.k):
            sym = job.symbols[(f * job.k + j) % len(job.symbols)]
            row = EventRows.stamped_quote(sym, market.quote(sym, t + f * 0.1 + j), stamp)
            values.extend(row.get(nm, "NaN") for nm in names)
        frames.append(_frame(ch, values))
    # Frames go out pre-framed, many per write: sending them one by one through the
    # WebSocket library capped the emulator near 110k frames/s, below what clients read.
    wire = [_server_frame(text) for text in frames]
    per_chunk = 64 * max(1, (1 << 16) // len(b"".join(wire)))
    chunk = b"".join(wire) * (per_chunk // 64)
    frames_left = -(-job.n // job.k)
    ws = session.ws
    try:
        while frames_left > 0:
            data = chunk if frames_left >= per_chunk else b"".join(wire[i & 63] for i in range(frames_left))
            with ws.send_context():
                ws.socket.sendall(data)
            frames_left -= per_chunk
    except OSError:
        pass  # the client went away; the session loop notices
    session.last_send = time.monotonic()


def _server_frame(text: str) -> bytes:
    """One unmasked text frame (RFC 6455 section 5.2), as a server sends it."""
    data = text.encode()
    n = len(data)
    if n < 126:
        return bytes((0x81, n)) + data
    if n < 1 << 16:
        return bytes((0x81, 126)) + n.to_bytes(2, "big") + data
    return bytes((0x81, 127)) + n.to_bytes(8, "big") + data


def _pace(session: "DXLinkSession", ch: int, job: PaceJob) -> None:
    names = session.fields_for(ch, "Quote")
    emu = session.emu
    quotes = [emu.market.quote(s, emu.clock()) for s in job.symbols]
    total = int(job.rate * job.seconds / job.k)
    interval = job.k * job.burst / job.rate  # between two bursts
    _fine_timer()
    start = time.perf_counter()
    listened = start
    sent = 0
    while sent < total and not emu.closing:
        # Each burst leaves at its own time. Rounding the sleeps to half a millisecond once sent bursts of
        # about six frames by accident: the latency figure then measured how fast a client drains a burst.
        wait = start + sent // job.burst * interval - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        values: List[Any] = []
        for j in range(job.k):
            idx = (sent * job.k + j) % len(job.symbols)
            row = EventRows.stamped_quote(job.symbols[idx], quotes[idx], time.time_ns(), sent)
            values.extend(row.get(nm, "NaN") for nm in names)
        session.ws.send(_frame(ch, values))
        sent += 1
        now = time.perf_counter()
        if now - listened > 0.005:
            listened = now
            session.last_send = time.monotonic()
            if time.monotonic() - session.last_recv > emu.keepalive_timeout:
                break
            while session.receive(0) is not None:  # keep reading the client's keepalives
                pass
    session.last_send = time.monotonic()


def _fine_timer() -> None:
    """Let this thread's sleeps end within microseconds of their time (Linux rounds a sleep up by the thread's
    timer slack, 50 µs by default: half the gap between two frames at 10k frames/s)."""
    if not sys.platform.startswith("linux"):
        return  # elsewhere sleeps are as coarse as the OS makes them
    try:
        import ctypes
        ctypes.CDLL(None).prctl(29, 1, 0, 0, 0)  # PR_SET_TIMERSLACK, 1 ns, for the calling thread only
    except (OSError, AttributeError):
        pass
