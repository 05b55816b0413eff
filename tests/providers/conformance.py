"""The provider-independent protocol suite every provider inherits.

A provider's test module subclasses :class:`ConformanceSuite` and supplies a
:class:`Harness`: how to build its protocol object and a scripted peer that
answers client frames the way the real server does (written from the
protocol reference, not from the client). The suite then checks, without
sockets: handshake, subscribe, data, keepalive due, deadline passed, remote
error, malformed frames, close, and resubscribe state after a reconnect.
"""

from __future__ import annotations

import math
from typing import Any, List, Set, Union

import pytest

from mdsdk.errors import ConnectionLost, MdsdkError
from mdsdk.events import Quote, Status
from mdsdk.providers.base import HttpRequest, HttpResponse, ProviderProtocol, Ready, Subscription

T0 = 1_700_000_000.0


class Harness:
    """What a provider supplies to run the conformance suite. A protocol whose
    server speaks first and whose client never sends a heartbeat (the Theta
    Terminal) sets ``client_speaks_first`` / ``client_keepalive`` False: the
    suite then checks that it finishes the handshake on the server's greeting
    alone and stays silent at its keepalive deadline."""

    client_speaks_first = True
    client_keepalive = True

    def new_protocol(self) -> ProviderProtocol:
        raise NotImplementedError

    def greeting(self) -> List[str]:
        """Frames the server sends as soon as a socket opens (Tradovate's ``o``)."""
        return []

    def respond(self, frame: str) -> List[str]:
        """The server's answer to one client frame (possibly nothing)."""
        raise NotImplementedError

    def quote_frames(self, symbol: str, bid: float, ask: float) -> List[str]:
        """Server frames that carry one quote for ``symbol``."""
        raise NotImplementedError

    def error_frame(self) -> str:
        """A server frame reporting a non-fatal error."""
        raise NotImplementedError

    def subscribed(self, frames: List[str]) -> Set[str]:
        """Symbols that client ``frames`` subscribe to quotes for."""
        raise NotImplementedError

    def is_keepalive(self, frame: str) -> bool:
        """True if ``frame`` is the client's keepalive/heartbeat."""
        raise NotImplementedError

    def is_first_frame(self, frame: str) -> bool:
        """True if ``frame`` is a valid opening frame of the handshake."""
        raise NotImplementedError

    def respond_http(self, request: HttpRequest) -> HttpResponse:
        """The REST answer to one request the protocol asks for (default: 404)."""
        return HttpResponse(404, None, "no REST in this harness")

    def answer_http(self, request: HttpRequest) -> Union[HttpResponse, MdsdkError]:
        """What the runtime's REST worker would hand back: a local step (``request.run``, a token file write)
        carried out, anything else answered by :meth:`respond_http`."""
        if request.run is None:
            return self.respond_http(request)
        try:
            return request.run()
        except MdsdkError as exc:
            return exc


class Pair:
    """A protocol object wired to the harness's scripted server in memory."""

    def __init__(self, harness: Harness) -> None:
        self.h = harness
        self.proto = harness.new_protocol()
        self.sent: List[str] = []
        self.events: List[Any] = []
        self.signals: List[Any] = []
        self.now = T0

    def pump(self) -> None:
        """Deliver client frames (and REST calls) to the server and answers back until quiet."""
        for _ in range(100):
            out = self.proto.outgoing()
            calls = self.proto.http_outgoing()
            if not out and not calls:
                return
            self.sent.extend(out)
            for frame in out:
                for answer in self.h.respond(frame):
                    self.receive(answer)
            for call_id, req in calls:
                self.proto.http_response(call_id, self.h.answer_http(req), self.now, int(self.now * 1e9))
        raise AssertionError("the exchange did not settle in 100 rounds")

    def receive(self, frame: str) -> List[Any]:
        evs = self.proto.receive(frame, self.now, int(self.now * 1e9))
        self.events.extend(evs)
        self.signals.extend(self.proto.signals)
        self.proto.signals.clear()
        return evs

    def connect(self) -> None:
        self.pump()  # a REST login first, where the provider has one
        self.proto.endpoint(self.now, int(self.now * 1e9))
        self.pump()
        self.proto.connection_made(self.now)
        for frame in self.h.greeting():
            self.receive(frame)
        self.pump()


class ConformanceSuite:
    """Inherit and set ``harness`` to run the suite for a provider."""

    harness: Harness

    @pytest.fixture
    def pair(self) -> Pair:
        return Pair(self.harness)

    def test_handshake_reaches_ready(self, pair: Pair) -> None:
        assert not pair.proto.ready
        pair.proto.connection_made(pair.now)
        for frame in self.harness.greeting():
            pair.receive(frame)
        first = pair.proto.outgoing()
        if not self.harness.client_speaks_first:
            assert first == [] and pair.proto.ready  # the greeting alone finished it
        else:
            assert first and self.harness.is_first_frame(first[0])
        pair.sent.extend(first)
        for frame in first:
            for answer in self.harness.respond(frame):
                pair.receive(answer)
        pair.pump()
        assert pair.proto.ready
        assert any(isinstance(s, Ready) for s in pair.signals)

    def test_subscribe_before_ready_is_sent_after_handshake(self, pair: Pair) -> None:
        pair.proto.subscribe([Subscription("quote", "AAA")], pair.now)
        assert "AAA" not in self.harness.subscribed(pair.proto.outgoing())
        pair.connect()
        assert "AAA" in self.harness.subscribed(pair.sent)

    def test_subscribe_when_ready_and_data_decodes(self, pair: Pair) -> None:
        pair.connect()
        pair.proto.subscribe([Subscription("quote", "BBB")], pair.now)
        pair.pump()
        assert "BBB" in self.harness.subscribed(pair.sent)
        events: List[Any] = []
        for frame in self.harness.quote_frames("BBB", 10.25, 10.5):
            events.extend(pair.receive(frame))
        quotes = [e for e in events if isinstance(e, Quote)]
        assert len(quotes) == 1
        q = quotes[0]
        assert (q.symbol, q.bid, q.ask) == ("BBB", 10.25, 10.5)
        assert q.provider and q.time > 0

    def test_subscribe_is_idempotent(self, pair: Pair) -> None:
        pair.connect()
        pair.proto.subscribe([Subscription("quote", "CCC")], pair.now)
        pair.pump()
        n = len(pair.sent)
        pair.proto.subscribe([Subscription("quote", "CCC")], pair.now)
        pair.pump()
        assert len(pair.sent) == n

    def test_keepalive_due(self, pair: Pair) -> None:
        pair.connect()
        deadline = pair.proto.next_deadline()
        assert deadline is not None and deadline > pair.now
        pair.now = deadline
        pair.proto.handle_timer(deadline)
        out = pair.proto.outgoing()
        if self.harness.client_keepalive:
            assert any(self.harness.is_keepalive(f) for f in out), out
        else:
            assert out == []  # the server's own frames prove the link; the client sends nothing

    def test_deadline_passed_raises_connection_lost(self, pair: Pair) -> None:
        pair.connect()
        later = pair.now
        with pytest.raises(ConnectionLost):
            for _ in range(1000):  # the peer stays silent; keepalives alone do not save it
                later = pair.proto.next_deadline() or later + 1
                pair.proto.handle_timer(later)
                pair.proto.outgoing()

    def test_remote_error_is_an_event_not_an_exception(self, pair: Pair) -> None:
        pair.connect()
        evs = pair.receive(self.harness.error_frame())
        assert any(isinstance(e, Status) and e.kind == "error" for e in evs)
        assert pair.proto.ready

    def test_malformed_frame_is_reported_and_skipped(self, pair: Pair) -> None:
        pair.connect()
        pair.proto.subscribe([Subscription("quote", "DDD")], pair.now)
        pair.pump()
        before = pair.proto.malformed
        evs = pair.receive("{garbage")
        assert [e.kind for e in evs] == ["error"] and pair.proto.malformed == before + 1
        got = [e for f in self.harness.quote_frames("DDD", 1.5, 1.75) for e in pair.receive(f)]
        assert [(e.bid, e.ask) for e in got if isinstance(e, Quote)] == [(1.5, 1.75)]

    def test_close_forgets_socket_state(self, pair: Pair) -> None:
        pair.connect()
        pair.proto.connection_lost()
        assert not pair.proto.ready
        assert pair.proto.next_deadline() is None

    def test_resubscribe_state_after_reconnect(self, pair: Pair) -> None:
        pair.connect()
        pair.proto.subscribe([Subscription("quote", "EEE"), Subscription("quote", "FFF")], pair.now)
        pair.proto.unsubscribe([Subscription("quote", "FFF")], pair.now)
        pair.pump()
        pair.proto.connection_lost()
        pair.sent.clear()
        pair.events.clear()
        pair.connect()
        assert pair.proto.ready
        assert self.harness.subscribed(pair.sent) == {"EEE"}
        assert any(isinstance(e, Status) and e.kind == "resubscribed" for e in pair.events)
        got = [e for f in self.harness.quote_frames("EEE", 2.0, 2.5) for e in pair.receive(f)]
        assert any(isinstance(e, Quote) and not math.isnan(e.bid) for e in got)

    def test_wall_clock_jumps_neither_fire_nor_suppress_deadlines(self, pair: Pair) -> None:
        # Deadlines follow ``now`` (monotonic); the wall clock (NTP steps, a laptop
        # waking up) may jump an hour either way without any effect on them.
        pair.connect()
        start = pair.now
        for jump in (3600, -3600, -7200):
            pair.now += 0.5
            wall = int((pair.now + jump) * 1e9)
            for frame in self.harness.quote_frames("BBB", 1.0, 1.5):
                pair.proto.receive(frame, pair.now, wall)
            pair.proto.handle_timer(pair.now, wall)  # must not raise: the peer just spoke
            pair.proto.outgoing()
        deadline = pair.proto.next_deadline()
        assert deadline is not None and start < deadline <= pair.now + 3600
        with pytest.raises(ConnectionLost):  # and silence is still caught on the monotonic clock
            later = pair.now
            for _ in range(1000):
                later = pair.proto.next_deadline() or later + 1
                pair.proto.handle_timer(later, int((later - 3600) * 1e9))
                pair.proto.outgoing()
