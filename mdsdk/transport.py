"""WebSocket transport over websocket-client's blocking ``WebSocket``.

The only module that imports ``websocket``. Its errors are translated here
into :mod:`mdsdk.errors` types. websocket-client opens the connection (TLS,
proxies, the upgrade) and sends; incoming frames are read here instead, in
big chunks: websocket-client reads each frame with three or more ``recv``
calls (each a syscall that also hands the GIL to other threads), where one
``recv`` of the socket buffer usually holds dozens of frames. Server frames
are simple to parse (RFC 6455 section 5.2: unmasked, maybe fragmented, with
control frames in between). Nothing is UTF-8-validated twice: text payloads
are decoded once, leniently; the protocol's JSON parser rejects bad text.
"""

from __future__ import annotations

import os
import select
import socket
import ssl
from typing import Callable, Dict, Iterable, List, Optional, Sequence

import websocket

from .errors import ConfigurationError, ConnectionLost, TransportError, UpgradeRefused, redact
from .providers.fields import compiled

__all__ = ["WebSocketTransport", "readable"]

_READ_SIZE = 1 << 18            # bytes per socket read: many frames in one syscall
_MAX_MESSAGE = 64 * 1024 * 1024  # a bigger frame is a broken or hostile server
# Whole unmasked text frames cut and decoded in C (the deframer's Python loop for one small frame took about 6 µs
# of a frame's latency); it leaves every other frame to _parse, which judges it.
_text_frames: Optional[Callable[[bytearray, int, int, List[str]], int]] = compiled("text_frames")


# One poll waits at most a day (a longer wait loops): poll takes its timeout as an int of milliseconds (24.8 days
# at most) and select refuses more than 1e8 s on macOS, so a long timeout passed through would raise instead.
_LONGEST_WAIT = 86400.0
_poll = getattr(select, "poll", None)  # not on Windows, whose select has no limit on descriptor numbers


def readable(fds: Sequence[int], timeout: Optional[float]) -> List[int]:
    """The descriptors among ``fds`` ready to read (or hung up), waiting up to ``timeout`` seconds for one
    (None: no limit; anything over a day waits a day, so callers with a deadline loop). It polls where the
    system can: ``select`` refuses descriptor numbers from 1024 up, which a process holding many files or
    sockets is handed, and it costs more per call (0.9 against 0.6 µs here)."""
    if timeout is not None:
        timeout = max(0.0, min(timeout, _LONGEST_WAIT))  # (a nan comes out 0.0: no wait)
    if _poll is None:
        return list(select.select(fds, (), (), timeout)[0])
    p = _poll()
    for fd in fds:
        p.register(fd, select.POLLIN)
    return [fd for fd, _ in p.poll(None if timeout is None else timeout * 1000.0)]


class WebSocketTransport:
    """One WebSocket connection; owned and used by a single thread.

    ``recv`` is called when the socket is readable (the owner waits in
    :func:`readable` on :meth:`fileno`); it returns one text message, or ``None``
    when only a control frame or part of a frame has arrived so far.
    """

    def __init__(self, url: str, *, timeout: float = 10.0, headers: Optional[Dict[str, str]] = None,
                 verify_tls: bool = True, secrets: Iterable[str] = ()) -> None:
        self.url = url
        self.timeout = timeout
        self.headers = dict(headers or {})
        self.verify_tls = verify_tls
        self._secrets = tuple(secrets)
        self._ws: Optional[websocket.WebSocket] = None
        self.close_code: Optional[int] = None
        self.close_reason = ""
        self._buf = bytearray()
        # Reads land in one reused buffer: recv(256 KiB) allocated a fresh 256 KiB object per call, which
        # costs ten times the read itself (14 µs against 1.4 for a few small frames), on every wake-up.
        self._scratch = memoryview(bytearray(_READ_SIZE))
        self._plain_fd = -1  # a plain TCP socket's descriptor, read directly (see _read); -1 for TLS
        self._messages: List[str] = []  # a list: the compiled deframer appends to it, recv_many hands it over whole
        self._fragments: List[bytes] = []
        self._lost: Optional[ConnectionLost] = None

    def __repr__(self) -> str:
        return f"WebSocketTransport(url={redact(self.url, self._secrets)!r})"

    def open(self) -> None:
        """Connect and finish the WebSocket upgrade, or raise TransportError."""
        sslopt = None if self.verify_tls else {"cert_reqs": ssl.CERT_NONE, "check_hostname": False}
        ws = websocket.WebSocket(skip_utf8_validation=True, enable_multithread=False, sslopt=sslopt,
                                 sockopt=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
        try:
            headers = [f"{k}: {v}" for k, v in self.headers.items()]
            ws.connect(self.url, timeout=self.timeout, header=headers)  # type: ignore[no-untyped-call]
        except websocket.WebSocketBadStatusException as exc:
            raise UpgradeRefused(self._msg(
                f"the server at {self.url} refused the WebSocket upgrade with HTTP {exc.status_code}; "
                "check the URL, or try again later if it is a gateway error"), exc.status_code) from exc
        except ssl.SSLCertVerificationError as exc:
            raise TransportError(self._msg(
                f"TLS certificate of {self.url} could not be verified ({exc.verify_message}); "
                "fix the trust store, or pass verify_tls=False only if you accept the risk")) from exc
        except (OSError, websocket.WebSocketException) as exc:
            raise TransportError(self._msg(
                f"could not connect to {self.url}: {exc}; check the URL and your network")) from exc
        except ValueError as exc:  # websocket-client's word for a URL it cannot parse
            raise ConfigurationError(self._msg(
                f"{self.url!r} is not a WebSocket URL ({exc}); pass url='wss://host/path'")) from exc
        ws.settimeout(self.timeout)
        self._ws = ws
        if type(ws.sock) is socket.socket and ws.sock.gettimeout() is not None:  # not a subclass: TLS
            self._plain_fd = ws.sock.fileno()

    def _msg(self, text: str) -> str:
        return redact(text, self._secrets)

    def fileno(self) -> int:
        """The socket's file descriptor, to wait on in :func:`readable`."""
        assert self._ws is not None and self._ws.sock is not None
        return self._ws.sock.fileno()

    def pending(self) -> bool:
        """True when a message is already buffered here, or TLS holds
        decrypted bytes that a poll cannot see: read again without waiting."""
        if self._messages or self._lost is not None:
            return True
        sock = self._ws.sock if self._ws else None
        return isinstance(sock, ssl.SSLSocket) and sock.pending() > 0

    def more(self) -> bool:
        """Whether :meth:`recv_many` has messages without waiting. A plain
        socket is read at once (its reads never wait: one syscall, where
        asking ``poll`` first made two); TLS, whose reads may wait, is
        asked for buffered bytes, then polled with no timeout."""
        if self.pending():
            return True
        if self._plain_fd >= 0:
            try:
                self._read()
            except ConnectionLost as exc:  # kept for recv_many, which raises it after the messages before it
                self._lost = exc
            return bool(self._messages) or self._lost is not None
        return bool(readable((self.fileno(),), 0))

    def recv(self) -> Optional[str]:
        """Return the next message; when none is buffered, read what the
        socket has (call it when the socket is readable) and return the first
        complete message, or ``None`` if no message is complete yet.

        Raises ConnectionLost when the peer closed (``close_code`` is set) or
        the socket failed, after every message received before that.
        """
        if not self._messages:
            self._read()
        if self._messages:
            return self._messages.pop(0)  # (one message at a time is the handshake's and the fuzzer's pace)
        if self._lost is not None:
            raise self._lost
        return None

    def recv_many(self) -> List[str]:
        """Every message buffered, after one read of the socket when none is
        (call it when the socket is readable); ``[]`` if no message is complete
        yet. Raises ConnectionLost like :meth:`recv`, after the messages."""
        if not self._messages:
            self._read()
        if self._messages:
            out, self._messages = self._messages, []
            return out
        if self._lost is not None:
            raise self._lost
        return []

    def _read(self) -> None:
        if self._lost is not None:
            return
        ws = self._ws
        if ws is None or ws.sock is None:
            raise ConnectionLost("the connection is not open")
        try:
            # A socket with a timeout polls before every recv: a second syscall, and a second hand-over of
            # the GIL, on every wake-up. Its descriptor is non-blocking, so readv() alone says "nothing yet".
            n = os.readv(self._plain_fd, (self._scratch,)) if self._plain_fd >= 0 else ws.sock.recv_into(self._scratch)
        except (socket.timeout, BlockingIOError, ssl.SSLWantReadError):
            return
        except OSError as exc:
            raise ConnectionLost(self._msg(f"the connection failed: {exc}")) from exc
        if not n:
            self._lost = ConnectionLost("the server closed the connection without a close frame")
        else:
            self._buf += self._scratch[:n]
            self._parse()

    def _parse(self) -> None:
        """Cut every complete frame off the buffer (RFC 6455 section 5.2)."""
        buf = self._buf
        fast = _text_frames
        pos = 0 if fast is None else fast(buf, 0, _MAX_MESSAGE, self._messages)
        if len(buf) - pos >= 2:
            pos = self._parse_from(pos)
        if pos:
            del buf[:pos]

    def _parse_from(self, pos: int) -> int:
        """Read the frames from ``pos`` on in Python (the compiled path, where built, takes each run of whole
        unmasked text frames between the others); the offset of the first frame not complete yet."""
        buf, fast = self._buf, _text_frames
        n = len(buf)
        messages = self._messages  # (no call below replaces it)
        with memoryview(buf) as view:  # payloads decode straight from the buffer, without copies
            while n - pos >= 2:
                b0, b1 = buf[pos], buf[pos + 1]
                length = b1 & 0x7F
                head = 2
                if length == 126:
                    if n - pos < 4:
                        break
                    length = int.from_bytes(view[pos + 2:pos + 4], "big")
                    head = 4
                elif length == 127:
                    if n - pos < 10:
                        break
                    length = int.from_bytes(view[pos + 2:pos + 10], "big")
                    head = 10
                if length > _MAX_MESSAGE:
                    self._lost = ConnectionLost(f"the server sent a {length}-byte frame, over the "
                                                f"{_MAX_MESSAGE}-byte limit")
                    break
                if b1 & 0x80:
                    head += 4
                end = pos + head + length
                if end > n:
                    break
                if b0 == 0x81 and not b1 & 0x80:  # a whole unmasked text frame: nearly every frame
                    messages.append(str(view[pos + head:end], "utf-8", "replace"))
                else:
                    self._frame(b0, view[pos + head - 4 if b1 & 0x80 else end:pos + head], bytes(view[pos + head:end]))
                pos = end
                if self._lost is not None:
                    break
                if fast is not None:
                    pos = fast(buf, pos, _MAX_MESSAGE, messages)
        return pos

    def _frame(self, b0: int, mask: memoryview, payload: bytes) -> None:
        """Any frame but a whole unmasked text frame (``mask`` is empty for an
        unmasked one; servers should not mask, some do)."""
        if mask:
            payload = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
        fin, opcode = b0 & 0x80, b0 & 0x0F
        if opcode == 0x1 or opcode == 0x2:
            if fin:
                self._messages.append(payload.decode("utf-8", "replace"))
            else:
                self._fragments = [payload]
        elif opcode == 0x0:
            self._fragments.append(payload)
            if sum(map(len, self._fragments)) > _MAX_MESSAGE:
                self._lost = ConnectionLost(f"the server sent a fragmented message over the {_MAX_MESSAGE}-byte "
                                            "limit")
                self._fragments = []
                return
            if fin:
                self._messages.append(b"".join(self._fragments).decode("utf-8", "replace"))
                self._fragments = []
        elif opcode == 0x8:
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
            self.close_code = code
            self.close_reason = payload[2:].decode("utf-8", "replace") if len(payload) > 2 else ""
            # The reason is the server's text and may quote our token; the
            # error can reach the caller as is (a close during the first handshake).
            self._lost = ConnectionLost(self._msg(f"the server closed the connection (code {code}"
                                                  f"{', ' + self.close_reason if self.close_reason else ''})"))
        elif opcode == 0x9:
            try:
                assert self._ws is not None
                self._ws.pong(payload)
            except (OSError, websocket.WebSocketException):
                pass  # the next read reports a dead socket

    def send(self, text: str) -> None:
        """Send one text frame, or raise ConnectionLost."""
        ws = self._ws
        if ws is None:
            raise ConnectionLost("the connection is not open")
        try:
            ws.send(text)
        except (OSError, websocket.WebSocketException) as exc:
            raise ConnectionLost(self._msg(f"sending failed: {exc}")) from exc

    def abort(self) -> None:
        """Shut the socket down from another thread, waking a blocked read or send."""
        sock = self._ws.sock if self._ws else None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        """Close politely if possible, and always release the socket."""
        ws, self._ws = self._ws, None
        self._plain_fd = -1
        if ws is None:
            return
        try:
            ws.settimeout(0.5)
            ws.close(timeout=0.5)
        except Exception:  # noqa: BLE001 - the peer may already be gone; we only release resources
            pass
        finally:
            ws.shutdown()  # type: ignore[no-untyped-call]
