"""The transport's own frame reader against a real websockets server:
fragmented messages, 16- and 64-bit lengths, many frames per read, pings
answered, close codes, and frames split across reads."""

from __future__ import annotations

import select
import threading
import time
from typing import Any, List

import pytest
from websockets.sync.server import ServerConnection, serve

from mdsdk.errors import ConnectionLost, TransportError
from mdsdk.transport import WebSocketTransport


class Script:
    """A one-connection server that plays ``actions`` and records pongs."""

    def __init__(self, *actions: Any) -> None:
        self.actions = actions
        self.pongs: List[bytes] = []
        self.received: List[str] = []
        self.server = serve(self.handle, "127.0.0.1", 0, compression=None, ping_interval=None)
        self.thread = threading.Thread(target=self.server.serve_forever)
        self.thread.start()

    @property
    def url(self) -> str:
        return "ws://127.0.0.1:%d/" % self.server.socket.getsockname()[1]

    def handle(self, ws: ServerConnection) -> None:
        for action in self.actions:
            action(self, ws)
        try:
            for msg in ws:
                self.received.append(str(msg))
        except Exception:  # noqa: BLE001 - the client went away
            pass

    def close(self) -> None:
        self.server.shutdown()
        self.thread.join(5)


def drain(t: WebSocketTransport, limit: float = 5.0) -> List[str]:
    got: List[str] = []
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if not t.pending():
            select.select([t.fileno()], [], [], 0.2)
        try:
            msg = t.recv()
        except ConnectionLost:
            return got
        if msg is not None:
            got.append(msg)
    raise AssertionError(f"no close within {limit} s; got {len(got)} messages")


def test_frames_of_every_shape_then_close_code() -> None:
    big = "x" * 70_000  # 64-bit length
    mid = "y" * 300     # 16-bit length

    def play(s: Script, ws: ServerConnection) -> None:
        ws.send(["frag", "ment", "ed"])       # one message in three frames
        pong = ws.ping(b"hi")
        for i in range(500):                  # many small frames, read in few syscalls
            ws.send(f"m{i}")
        ws.send(mid)
        ws.send(big)
        ws.send(b'{"binary": true}')
        s.pongs.append(b"ok" if pong.wait(5) else b"")
        ws.close(1001, "going away")

    server = Script(play)
    try:
        t = WebSocketTransport(server.url, timeout=5)
        t.open()
        got = drain(t)
        t.close()
    finally:
        server.close()
    assert got[0] == "fragmented"
    assert got[1:501] == [f"m{i}" for i in range(500)]
    assert got[501:] == [mid, big, '{"binary": true}']
    assert server.pongs == [b"ok"]
    assert (t.close_code, t.close_reason) == (1001, "going away")


def test_abrupt_drop_is_connection_lost_after_buffered_messages() -> None:
    def play(s: Script, ws: ServerConnection) -> None:
        ws.send("last words")
        time.sleep(0.1)
        ws.close_socket()

    server = Script(play)
    try:
        t = WebSocketTransport(server.url, timeout=5)
        t.open()
        assert drain(t) == ["last words"]
        assert t.close_code is None
        t.close()
    finally:
        server.close()


def test_more_reads_a_plain_socket_without_waiting_and_keeps_the_close_for_last() -> None:
    sent = threading.Event()
    go_on = threading.Event()

    def play(s: Script, ws: ServerConnection) -> None:
        for i in range(3):
            ws.send(f"a{i}")
        sent.set()
        go_on.wait(5)
        ws.send("b")
        time.sleep(0.1)
        ws.close_socket()

    server = Script(play)
    try:
        t = WebSocketTransport(server.url, timeout=30)
        t.open()
        assert sent.wait(5)
        got: List[str] = []
        deadline = time.monotonic() + 5
        while len(got) < 3 and time.monotonic() < deadline:  # more() reads by itself: no select needed
            if t.more():
                got += t.recv_many()
        assert got == ["a0", "a1", "a2"]
        t0 = time.monotonic()
        assert t.more() is False  # nothing there: says so rather than waiting out the 30 s read timeout
        assert time.monotonic() - t0 < 10.0
        go_on.set()
        while not t.more() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert t.recv_many() == ["b"]  # the message before the drop first
        while not t.more() and time.monotonic() < deadline:
            time.sleep(0.01)
        with pytest.raises(ConnectionLost):
            t.recv_many()
        t.close()
    finally:
        server.close()


def test_sending_and_connect_errors() -> None:
    server = Script()
    try:
        t = WebSocketTransport(server.url, timeout=5)
        t.open()
        t.send('{"hello": 1}')
        deadline = time.monotonic() + 5
        while not server.received and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.received == ['{"hello": 1}']
        t.close()
    finally:
        server.close()
    with pytest.raises(TransportError, match="could not connect"):
        WebSocketTransport("ws://127.0.0.1:9/nothing", timeout=2).open()
    with pytest.raises(ConnectionLost):
        WebSocketTransport("ws://127.0.0.1:9/nothing").recv()


def test_a_close_reason_quoting_the_token_is_redacted() -> None:
    """A close during the first handshake reaches the caller as the transport's
    own error, so the transport redacts the server's close reason itself."""
    token = "tok-S3CRET-close-reason"
    server = Script(lambda script, ws: ws.close(1008, f"token {token} is not valid"))
    t = WebSocketTransport(server.url, timeout=5.0, secrets=(token,))
    try:
        t.open()
        with pytest.raises(ConnectionLost) as info:
            for _ in range(100):  # bounded: the close frame is already on its way
                select.select([t.fileno()], [], [], 0.1)
                t.recv()
    finally:
        t.close()
        server.close()
    assert "1008" in str(info.value) and token not in str(info.value) and "***" in str(info.value)


def test_a_masked_server_frame_is_unmasked() -> None:
    key, text = b"\x01\x02\x03\x04", "masked by a sloppy server"
    payload = bytes(c ^ key[i % 4] for i, c in enumerate(text.encode()))

    def play(s: Script, ws: ServerConnection) -> None:
        with ws.send_context():  # raw bytes: the library itself never masks a server frame
            ws.socket.sendall(bytes((0x81, 0x80 | len(payload))) + key + payload + b"\x81\x00")
        ws.send("after")
        ws.close(1000, "")

    server = Script(play)
    try:
        t = WebSocketTransport(server.url, timeout=5)
        t.open()
        got = drain(t)
        t.close()
    finally:
        server.close()
    assert got == [text, "", "after"]


def test_a_fragmented_message_over_the_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import mdsdk.transport as transport_module
    monkeypatch.setattr(transport_module, "_MAX_MESSAGE", 1000)  # the real limit is 64 MiB

    def play(s: Script, ws: ServerConnection) -> None:
        ws.send("before")
        ws.send(["x" * 600, "y" * 600, "z" * 600])  # 1,800 bytes in three frames of 600
        time.sleep(0.5)

    server = Script(play)
    try:
        t = WebSocketTransport(server.url, timeout=5)
        t.open()
        got: List[str] = []
        with pytest.raises(ConnectionLost, match="fragmented message over the 1000-byte limit"):
            for _ in range(100):
                select.select([t.fileno()], [], [], 0.2)
                got += t.recv_many()
        t.close()
    finally:
        server.close()
    assert got == ["before"]


def _frame(opcode: int, payload: bytes, fin: bool = True, mask: bytes = b"", length: Any = None) -> bytes:
    """One server frame as bytes (``length`` overrides the declared payload length)."""
    n = len(payload) if length is None else length
    b1 = 0x80 if mask else 0
    if n < 126:
        head = bytes([(0x80 if fin else 0) | opcode, b1 | n])
    elif n < 65536:
        head = bytes([(0x80 if fin else 0) | opcode, b1 | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([(0x80 if fin else 0) | opcode, b1 | 127]) + n.to_bytes(8, "big")
    if mask:
        payload = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
    return head + mask + payload


def _stream(rng: Any) -> bytes:
    """A server's worth of frames of every kind but ping (which answers on a socket)."""
    parts: List[bytes] = []
    for _ in range(rng.randrange(1, 40)):
        kind = rng.random()
        size = rng.choice([0, 1, 2, 124, 125, 126, 127, 300, 65535, 65536, 70_000])
        text = bytes(rng.choice(b"ab{}\":,0123") for _ in range(size))
        if kind < 0.5:
            parts.append(_frame(0x1, text))
        elif kind < 0.6:
            parts.append(_frame(0x1, b"\xff\xfe bad utf-8 \xc3"))
        elif kind < 0.7:
            parts.append(_frame(0x1, text, mask=bytes(rng.randrange(256) for _ in range(4))))
        elif kind < 0.8:
            parts += [_frame(0x1, text[:3], fin=False), _frame(0x0, text[3:7], fin=False), _frame(0x0, text[7:])]
        elif kind < 0.9:
            parts.append(_frame(0x2, text))
        elif kind < 0.95:
            parts.append(_frame(0xA, b"pong"))
        else:
            parts.append(_frame(0x1, b"", length=(1 << 40)))  # over the size limit: the connection is lost
            break
    if rng.random() < 0.3:
        parts.append(_frame(0x8, (1000).to_bytes(2, "big") + b"bye"))
    return b"".join(parts)


def _read_in_chunks(data: bytes, cuts: List[int]) -> Any:
    t = WebSocketTransport("ws://127.0.0.1:1/")  # never opened: only its frame reader runs
    start = 0
    for cut in cuts + [len(data)]:
        t._buf += data[start:cut]
        start = cut
        t._parse()
        if t._lost is not None:
            break
    return list(t._messages), (str(t._lost) if t._lost else None), t.close_code, t.close_reason, len(t._buf)


def test_the_compiled_frame_reader_gives_what_the_python_one_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    import random

    import mdsdk.transport as transport
    if transport._text_frames is None:
        pytest.skip("the compiled path (mdsdk/providers/_accel.c) was not built here, or MDSDK_PURE_PYTHON is set")
    compiled = transport._text_frames
    rng = random.Random(6455)
    replaced = lost = closed = 0
    for case in range(300):
        data = _stream(rng)
        cuts = sorted(rng.sample(range(len(data)), min(len(data), rng.choice([0, 1, 3, 20]))))
        monkeypatch.setattr(transport, "_text_frames", compiled)
        fast = _read_in_chunks(data, cuts)
        monkeypatch.setattr(transport, "_text_frames", None)
        slow = _read_in_chunks(data, cuts)
        assert fast == slow, f"case {case}: the compiled path differs"
        replaced += any("\ufffd" in m for m in fast[0])
        lost += fast[1] is not None and "limit" in fast[1]
        closed += fast[2] == 1000
    assert replaced and lost and closed, "the generated streams missed a kind of frame they are meant to hold"


def test_the_compiled_frame_reader_refuses_wrong_arguments_and_stops_where_python_must_look() -> None:
    import mdsdk.transport as transport
    fast = transport._text_frames
    if fast is None:
        pytest.skip("the compiled path (mdsdk/providers/_accel.c) was not built here, or MDSDK_PURE_PYTHON is set")
    out: List[str] = []
    buf = bytearray(_frame(0x1, b"one") + _frame(0x1, "twö".encode()) + _frame(0x9, b"ping") + _frame(0x1, b"x"))
    assert fast(buf, 0, 1 << 20, out) == 11 and out == ["one", "twö"]  # stops at the ping, for Python to answer
    assert fast(buf, 17, 1 << 20, out) == len(buf) and out[-1] == "x"
    big = bytearray(_frame(0x1, b"y" * 300))
    assert fast(big, 0, 299, out) == 0  # over the limit: Python reports it
    assert fast(big[:-1], 0, 1 << 20, out) == 0  # not all here yet
    for args in [(bytes(buf), 0, 1, out), (buf, 0, 1, ()), (buf, 0, 1)]:
        with pytest.raises(TypeError):
            fast(*args)
    with pytest.raises(ValueError):
        fast(buf, -1, 1, out)
