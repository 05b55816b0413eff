"""The runtime's own guarantees, over real sockets: a bug in a protocol
object or a consumer costs one frame, never the feed; commands given during
a reconnect backoff run when the connection is back; close code 1009 gets one
retry with smaller frames, then a typed error that reaches the caller; a
callback that keeps raising is logged once, then counted."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any, Iterator, List

import pytest

import mdsdk
from mdsdk import LocalProtocolError, Quote, ReconnectPolicy, RequestTimeout, Status
from mdsdk.cache import LatestCache
from mdsdk.connection import Connection
from mdsdk.dispatch import Dispatcher
from mdsdk.events import Event
from mdsdk.policy import QueuePolicy
from mdsdk.providers.base import Subscription
from mdsdk.providers.dxlink.protocol import DXLinkProtocol
from mdsdk.testing.dxlink_emulator import DXLinkEmulator
from mdsdk.testing.universe import sample
from mdsdk.transport import WebSocketTransport

from ..conftest import wait_until

FAST = ReconnectPolicy(initial=0.05, cap=0.2, jitter=0.1)
pytestmark = pytest.mark.timeout(60)


class _Buggy(DXLinkProtocol):
    """A plug-in protocol with two planted bugs, as a third-party provider
    might have: one frame makes it raise, another makes it emit an event
    whose symbol is a list (which breaks the cache update downstream)."""

    def _receive(self, text: str, now: float, wall_ns: int) -> List[Event]:
        if "BOOM" in text:
            raise RuntimeError("a bug in a decoder")
        if "LISTSYM" in text:
            return [Quote(["not", "a", "str"], wall_ns, self.provider)]  # type: ignore[arg-type]
        return super()._receive(text, now, wall_ns)


@pytest.fixture
def buggy(emulator: DXLinkEmulator) -> Iterator[Any]:
    cache = LatestCache()
    dispatcher = Dispatcher("dxlink", QueuePolicy(), cache.update)
    statuses: List[Status] = []
    dispatcher.add_handler("status", statuses.append)
    conn = Connection(provider="dxlink", protocol=_Buggy(emulator.token, url=emulator.url),
                      transport_factory=lambda ep: WebSocketTransport(ep.url), sink=dispatcher.publish,
                      reconnect=FAST)
    conn.start()
    try:
        yield conn, cache, statuses
    finally:
        conn.close()
        dispatcher.close()
        cache.close()


def test_a_raising_protocol_costs_one_frame_not_the_feed(emulator: DXLinkEmulator, buggy: Any,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    conn, cache, statuses = buggy
    conn.protocol.subscribe([Subscription("quote", "SPY")], 0.0)
    conn.call(lambda p, now, wall: None)  # wake the loop so the subscription goes out
    assert wait_until(lambda: "SPY" in cache.quotes)
    for _ in range(3):
        emulator.inject('{"type":"KEEPALIVE","channel":0,"note":"BOOM"}')
    assert wait_until(lambda: conn.internal_errors >= 3)
    before = cache.quotes["SPY"].time
    assert wait_until(lambda: cache.quotes["SPY"].time > before)  # still streaming
    assert conn.alive and conn.reconnects == 0 and conn.error is None
    internal = [s for s in statuses if s.kind == "error" and "internal error" in s.detail]
    assert len(internal) >= 3 and "RuntimeError" in internal[0].detail
    assert internal[-1].extra["internal_errors"] >= 3
    logged = [r for r in caplog.records if r.name == "mdsdk.connection" and "a bug in a decoder" in r.getMessage()]
    assert len(logged) == 1  # with its traceback once; the others are counted


def test_a_bad_event_breaking_the_cache_loses_nothing_else(emulator: DXLinkEmulator, buggy: Any) -> None:
    conn, cache, statuses = buggy
    conn.protocol.subscribe([Subscription("quote", "SPY")], 0.0)
    conn.call(lambda p, now, wall: None)
    assert wait_until(lambda: "SPY" in cache.quotes)
    emulator.inject('{"type":"KEEPALIVE","channel":0,"note":"LISTSYM"}')
    assert wait_until(lambda: conn.internal_errors >= 1)
    assert any("delivering events" in s.detail for s in statuses if s.kind == "error")
    before = cache.quotes["SPY"].time
    assert wait_until(lambda: cache.quotes["SPY"].time > before)
    assert conn.alive and conn.reconnects == 0


def _kinds(statuses: List[Status]) -> List[str]:
    return [s.kind for s in list(statuses)]


def test_subscribe_and_cancel_during_a_backoff_run_when_back(emulator: DXLinkEmulator) -> None:
    slow = ReconnectPolicy(initial=1.5, factor=1.0, cap=1.5, jitter=0.0)
    with mdsdk.connect("dxlink", url=emulator.url, reconnect=slow, **emulator.credentials) as feed:
        statuses: List[Status] = []
        feed.on_status(statuses.append)
        feed.get_quote("SPY")
        emulator.drop()
        assert wait_until(lambda: "reconnecting" in _kinds(statuses))
        feed.subscribe("AAPL", kinds=("quote",))  # given while no socket is open
        with pytest.raises(RequestTimeout):
            feed.history("MSFT", "1m", start="-1h", timeout=0.2)  # its cancel also runs in the backoff
        quote = feed.get_quote("AAPL", timeout=10)
        assert quote.symbol == "AAPL"
        assert not conn_history_requests(emulator, "MSFT")
        assert feed.stats()["internal_errors"] == 0


def conn_history_requests(emulator: DXLinkEmulator, symbol: str) -> List[Any]:
    """History subscriptions of ``symbol`` the emulator received after the last SETUP."""
    msgs = emulator.messages()
    last_setup = max(i for i, m in enumerate(msgs) if m.get("type") == "SETUP")
    return [m for m in msgs[last_setup:] if m.get("type") == "FEED_SUBSCRIPTION" and m.get("channel") == 5
            and any(symbol in str(item.get("symbol")) for item in m.get("add") or ())]


def test_1009_from_a_small_server_limit_retries_once_with_smaller_frames() -> None:
    symbols = sample(400)
    with DXLinkEmulator(max_message_size=6000, keepalive_timeout=3.0, tick=0.05) as emu:
        with mdsdk.connect("dxlink", url=emu.url, reconnect=FAST, **emu.credentials) as feed:
            statuses: List[Status] = []
            feed.on_status(statuses.append)
            feed.subscribe(symbols, kinds=("quote",))
            assert wait_until(lambda: "disconnected" in _kinds(statuses), 10)
            lost = [s for s in statuses if s.kind == "disconnected"][0]
            assert "1009" in lost.detail and "4096" in lost.detail
            assert feed.get_quote(symbols[-1], timeout=10).symbol == symbols[-1]
            assert feed.stats()["connected"]


def test_1009_again_is_a_local_protocol_error_for_the_caller() -> None:
    symbols = sample(400)
    with DXLinkEmulator(max_message_size=1500, keepalive_timeout=3.0, tick=0.05) as emu:
        with mdsdk.connect("dxlink", url=emu.url, reconnect=FAST, **emu.credentials) as feed:
            stream = feed.events(kinds="status")  # no timeout: only the feed stopping can end it
            feed.subscribe(symbols, kinds=("quote",))
            with pytest.raises(LocalProtocolError, match="chunk_size"):
                feed.get_quote(symbols[0], timeout=30)
            with pytest.raises(LocalProtocolError):
                feed.subscribe("SPY")
            assert feed.stats()["reconnects"] == 1  # exactly one retry
            seen = list(stream)  # ends by itself after the final Status
            assert seen[-1].extra.get("fatal") and "1009" in seen[-1].detail


def test_a_recording_on_a_full_disk_stops_and_the_feed_goes_on(emulator: DXLinkEmulator) -> None:
    with mdsdk.connect("dxlink", url=emulator.url, record="/dev/full", **emulator.credentials) as feed:
        statuses: List[Status] = []
        feed.on_status(statuses.append)
        feed.subscribe(sample(50), kinds=("quote", "trade"))
        assert wait_until(lambda: any("recording stopped" in s.detail for s in statuses), 20)
        before = feed.stats()["frames_in"]
        assert wait_until(lambda: feed.stats()["frames_in"] > before + 5)
        assert feed.stats()["connected"] and feed.stats()["internal_errors"] == 0


def test_a_callback_raising_on_every_event_is_logged_once(emulator: DXLinkEmulator,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    def always(q: Quote) -> None:
        raise ValueError("user bug")

    with mdsdk.connect("dxlink", url=emulator.url, **emulator.credentials) as feed:
        feed.on_quote(always)
        feed.subscribe(sample(20), kinds=("quote",))
        assert wait_until(lambda: feed.stats()["callback_errors"] >= 50, 10)
    tracebacks = [r for r in caplog.records if r.name == "mdsdk.dispatch" and r.exc_info]
    assert len(tracebacks) == 1 and "always" in tracebacks[0].getMessage()


def test_an_on_error_handler_that_raises_is_logged_once_and_counted(emulator: DXLinkEmulator,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    def always(q: Quote) -> None:
        raise ValueError("user bug")

    def broken(exc: BaseException, ev: Any) -> None:
        raise KeyError("handler bug")

    with mdsdk.connect("dxlink", url=emulator.url, **emulator.credentials) as feed:
        feed.on_quote(always, on_error=broken)
        feed.subscribe(sample(20), kinds=("quote",))
        assert wait_until(lambda: feed.stats()["callback_errors"] >= 40, 10)
    handler = [r for r in caplog.records if r.name == "mdsdk.dispatch" and "handler of" in r.getMessage()]
    assert len(handler) == 1 and handler[0].exc_info is not None


def test_a_rest_server_that_never_answers_costs_the_rest_deadline() -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections (the kernel does) and never answers
    try:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(mdsdk.TransportError, match="deadline"):
            mdsdk.connect("tradovate", url="ws://127.0.0.1:9/none", api_url=url, username="u", password="p",
                          timeouts=mdsdk.Timeouts(rest=0.5))
    finally:
        silent.close()


def test_closing_while_a_rest_call_runs_leaves_no_thread_error() -> None:
    """A REST answer that comes back after close() has nobody to go to; the worker ends quietly."""
    import http.server
    from mdsdk.testing import ThetaDataEmulator

    class Slow(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server hook name
            time.sleep(1.0)
            self.send_response(472)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    errors: List[Any] = []
    old_hook = threading.excepthook
    threading.excepthook = errors.append
    rest = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    serving = threading.Thread(target=rest.serve_forever)
    serving.start()
    try:
        with ThetaDataEmulator() as emu:
            feed = mdsdk.connect("thetadata", url=emu.url, api_url=f"http://127.0.0.1:{rest.server_port}")
            asking = threading.Thread(target=lambda: pytest.raises(mdsdk.MdsdkError, feed.history, "AAPL", "1h",
                                                                   start="-1d", timeout=5))
            asking.start()
            time.sleep(0.3)  # the call is in flight now
            feed.close()
            asking.join(5)
            time.sleep(1.2)  # the answer arrives after close
    finally:
        threading.excepthook = old_hook
        rest.shutdown()
        rest.server_close()
        serving.join(5)
    assert errors == []
