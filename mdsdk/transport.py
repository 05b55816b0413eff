"""WebSocket transport over websocket-client's blocking ``WebSocket``.

The only module that imports ``websocket``. Its errors are translated here
into :mod:`mdsdk.errors` types. UTF-8 validation is switched off: the
protocol's own JSON parser rejects bad text anyway, and websocket-client's
pure-Python validator costs several times the rest of the receive path.
"""

from __future__ import annotations

import socket
import ssl
from typing import Dict, Iterable, Optional

import websocket
from websocket import ABNF

from .errors import ConnectionLost, TransportError, redact

__all__ = ["WebSocketTransport"]


class WebSocketTransport:
    """One WebSocket connection; owned and used by a single thread.

    ``recv`` is called when the socket is readable (the owner waits with
    ``select`` on :meth:`fileno`); it returns one text message, or ``None``
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
            raise TransportError(self._msg(
                f"the server at {self.url} refused the WebSocket upgrade with HTTP {exc.status_code}; "
                "check the URL, or try again later if it is a gateway error")) from exc
        except ssl.SSLCertVerificationError as exc:
            raise TransportError(self._msg(
                f"TLS certificate of {self.url} could not be verified ({exc.verify_message}); "
                "fix the trust store, or pass verify_tls=False only if you accept the risk")) from exc
        except (OSError, websocket.WebSocketException) as exc:
            raise TransportError(self._msg(
                f"could not connect to {self.url}: {exc}; check the URL and your network")) from exc
        ws.settimeout(self.timeout)
        self._ws = ws

    def _msg(self, text: str) -> str:
        return redact(text, self._secrets)

    def fileno(self) -> int:
        """The socket's file descriptor, for ``select``."""
        assert self._ws is not None and self._ws.sock is not None
        return self._ws.sock.fileno()

    def pending(self) -> bool:
        """True when TLS has decrypted bytes buffered that ``select`` cannot see."""
        sock = self._ws.sock if self._ws else None
        return isinstance(sock, ssl.SSLSocket) and sock.pending() > 0

    def recv(self) -> Optional[str]:
        """Read one message; ``None`` if only a control frame arrived.

        Raises ConnectionLost when the peer closed (``close_code`` is set) or
        the socket failed.
        """
        ws = self._ws
        if ws is None:
            raise ConnectionLost("the connection is not open")
        try:
            opcode, data = ws.recv_data(control_frame=True)
        except websocket.WebSocketTimeoutException:
            return None
        except websocket.WebSocketConnectionClosedException as exc:
            raise ConnectionLost("the server closed the connection") from exc
        except (OSError, websocket.WebSocketException) as exc:
            raise ConnectionLost(self._msg(f"the connection failed: {exc}")) from exc
        if opcode == ABNF.OPCODE_TEXT:
            return data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)
        if opcode == ABNF.OPCODE_BINARY:
            return bytes(data).decode("utf-8", "replace")
        if opcode == ABNF.OPCODE_CLOSE:
            code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
            self.close_code = code
            self.close_reason = data[2:].decode("utf-8", "replace") if len(data) > 2 else ""
            raise ConnectionLost(f"the server closed the connection (code {code}"
                                 f"{', ' + self.close_reason if self.close_reason else ''})")
        return None

    def send(self, text: str) -> None:
        """Send one text frame, or raise ConnectionLost."""
        ws = self._ws
        if ws is None:
            raise ConnectionLost("the connection is not open")
        try:
            ws.send(text)
        except (OSError, websocket.WebSocketException) as exc:
            raise ConnectionLost(self._msg(f"sending failed: {exc}")) from exc

    def close(self) -> None:
        """Close politely if possible, and always release the socket."""
        ws, self._ws = self._ws, None
        if ws is None:
            return
        try:
            ws.settimeout(0.5)
            ws.close(timeout=0.5)
        except Exception:  # noqa: BLE001 - the peer may already be gone; we only release resources
            pass
        finally:
            ws.shutdown()  # type: ignore[no-untyped-call]
