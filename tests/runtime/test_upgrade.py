"""The WebSocket upgrade as the place a server judges credentials: headers from the protocol's endpoint reach
the server, and a 401 there is an AuthenticationError from connect (no retry loop), while other refusals stay
transport errors. Real sockets, a minimal server that only answers upgrades."""

from __future__ import annotations

import http
import threading
from typing import Any, Dict, Iterator, List, Tuple

import pytest
from websockets.sync.server import ServerConnection, serve

import mdsdk
from mdsdk.errors import AuthenticationError, UpgradeRefused
from mdsdk.transport import WebSocketTransport

from ..conftest import wait_until


@pytest.fixture
def refusing() -> Iterator[Tuple[str, List[Dict[str, str]], Dict[str, Any]]]:
    """A server refusing every upgrade with ``control["status"]``, recording each request's headers."""
    seen: List[Dict[str, str]] = []
    control: Dict[str, Any] = {"status": http.HTTPStatus.UNAUTHORIZED}

    def judge(conn: ServerConnection, request: Any) -> Any:
        seen.append(dict(request.headers))
        return conn.respond(control["status"], "no\n")

    with serve(lambda ws: None, "127.0.0.1", 0, process_request=judge) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"ws://127.0.0.1:{server.socket.getsockname()[1]}/", seen, control
        finally:
            server.shutdown()
            thread.join(5)


def test_a_401_at_the_upgrade_is_an_authentication_error_once(refusing: Any) -> None:
    url, seen, _ = refusing
    with pytest.raises(AuthenticationError, match="HTTP 401"):
        mdsdk.connect("dxlink", url=url, token="not-a-real-token", reconnect=mdsdk.ReconnectPolicy(initial=0.05))
    assert wait_until(lambda: len(seen) == 1) and len(seen) == 1  # refused credentials are not retried


def test_other_refusals_stay_transport_errors(refusing: Any) -> None:
    url, seen, control = refusing
    control["status"] = http.HTTPStatus.SERVICE_UNAVAILABLE
    with pytest.raises(UpgradeRefused, match="HTTP 503") as info:
        mdsdk.connect("dxlink", url=url, token="t")
    assert info.value.status == 503 and not isinstance(info.value, AuthenticationError)


def test_endpoint_headers_reach_the_upgrade(refusing: Any) -> None:
    url, seen, _ = refusing
    transport = WebSocketTransport(url, headers={"Authorization": "Bearer k", "X-Client": "mdsdk"}, secrets=("k",))
    with pytest.raises(UpgradeRefused) as info:
        transport.open()
    assert "Bearer k" not in str(info.value)
    assert seen[-1]["authorization"] == "Bearer k" and seen[-1]["x-client"] == "mdsdk"  # names arrive lower-cased
