"""A tiny JSON HTTP server on 127.0.0.1 for the emulators' REST sides.

Routes are ``(method, path) -> handler(request) -> (status, body)`` (a body
that is not a str is sent as JSON), or ``(status, body, content_type,
headers)`` for a reply of another type; a ``fallback`` handler answers every
path without a route. It runs in a daemon-free background thread and stops
on ``close()``.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, Mapping, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

__all__ = ["JsonRequest", "JsonServer", "Route", "RestSide"]


@dataclass(frozen=True)
class JsonRequest:
    """One request as the handler sees it."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: Any


Route = Callable[[JsonRequest], Tuple[Any, ...]]


class _Server(ThreadingHTTPServer):
    routes: Mapping[Tuple[str, str], Route]
    fallback: Optional[Route]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 0.5  # idle keep-alive connections end quickly, so close() can join them
    server: _Server

    def _request(self) -> JsonRequest:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        return JsonRequest(self.command, parts.path, {k: v[-1] for k, v in parse_qs(parts.query).items()},
                           {k.lower(): v for k, v in self.headers.items()}, body)

    def _handle(self) -> None:
        req = self._request()
        route = self.server.routes.get((req.method, req.path)) or self.server.fallback
        reply: Tuple[Any, ...] = (404, {"error": {"code": "not_found", "message": f"no route {req.path!s}"}}) \
            if route is None else route(req)
        status, payload = reply[0], reply[1]
        ctype, headers = (reply[2], reply[3]) if len(reply) > 2 else ("application/json", {})
        data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = do_PUT = _handle

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # keep test output clean; requests are inspected through the emulator


class JsonServer:
    """Serve ``routes`` (and ``fallback`` for every other path) on 127.0.0.1:``port`` (0 = pick a free port)."""

    def __init__(self, routes: Mapping[Tuple[str, str], Route], host: str = "127.0.0.1", port: int = 0,
                 fallback: Optional[Route] = None, name: str = "mdsdk-emulator-http") -> None:
        self.routes = routes
        self._server = _Server((host, port), _Handler)
        self._server.routes = routes
        self._server.fallback = fallback
        self._server.daemon_threads = False
        self._server.block_on_close = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=name)
        self._thread.start()

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:49152``."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def close(self) -> None:
        """Stop serving and join the thread."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class RestSide:
    """The REST half of an emulator: a :class:`JsonServer` on the routes the
    subclass lists in ``_routes()``, with a lock for its token books."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._server = JsonServer(self._routes())

    def _routes(self) -> Dict[Tuple[str, str], Route]:
        raise NotImplementedError

    @property
    def url(self) -> str:
        """The REST base URL."""
        return self._server.url

    def close(self) -> None:
        """Stop serving."""
        self._server.close()
