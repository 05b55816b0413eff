"""The REST client against a real local HTTP server: a form body goes out
url-encoded (OAuth token endpoints read nothing else), JSON as JSON."""

from __future__ import annotations

import http.server
import json
import threading
from typing import Any, Dict, Iterator, List
from urllib.parse import parse_qs

import pytest

from mdsdk.http import HttpClient
from mdsdk.providers.base import HttpRequest


class _Echo(http.server.BaseHTTPRequestHandler):
    seen: List[Dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        _Echo.seen.append({"type": self.headers.get("Content-Type"), "body": body})
        out = json.dumps({"ok": True}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=srv.serve_forever)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(5)


def test_form_and_json_bodies(server: str) -> None:
    _Echo.seen.clear()
    client = HttpClient(server, deadline=5.0)
    try:
        form = client.perform(HttpRequest("POST", "/token", form={"grant_type": "refresh_token", "x": "a b&c"}))
        js = client.perform(HttpRequest("POST", "/j", json={"a": 1}))
    finally:
        client.close()
    assert form.status == 200 and form.body == {"ok": True} and js.status == 200
    assert _Echo.seen[0]["type"] == "application/x-www-form-urlencoded"
    assert parse_qs(_Echo.seen[0]["body"]) == {"grant_type": ["refresh_token"], "x": ["a b&c"]}
    assert _Echo.seen[1]["type"] == "application/json" and json.loads(_Echo.seen[1]["body"]) == {"a": 1}
