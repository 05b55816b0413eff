"""The DXLink emulator over TLS: with ``ssl_context`` set it serves wss://
with a certificate generated for the test, and a plain websocket-client that
verifies that certificate (never with verification off) completes the SETUP
handshake; one that does not trust it is refused."""

from __future__ import annotations

import json
import pathlib
import ssl

import pytest
import websocket

from mdsdk.testing import DXLinkEmulator

from benchmarks._tls import make_certificate, server_context, tls_unavailable

_UNAVAILABLE = tls_unavailable()
pytestmark = pytest.mark.skipif(_UNAVAILABLE is not None, reason=f"no TLS test: {_UNAVAILABLE}")


def test_emulator_serves_wss_to_a_verifying_client(tmp_path: pathlib.Path) -> None:
    cert, key = make_certificate(tmp_path)

    class TLSDXLinkEmulator(DXLinkEmulator):
        ssl_context = server_context(cert, key)

    with TLSDXLinkEmulator(require_auth=False, rest=False) as emu:
        assert emu.url.startswith("wss://127.0.0.1:")
        ws = websocket.WebSocket(sslopt={"ca_certs": str(cert)})  # verification stays on (CERT_REQUIRED)
        ws.connect(emu.url, timeout=5)
        try:
            sock = ws.sock
            assert isinstance(sock, ssl.SSLSocket) and sock.getpeercert()  # empty unless verified
            ws.send(json.dumps({"type": "SETUP", "channel": 0, "version": "0.1-test", "keepaliveTimeout": 60,
                                "acceptKeepaliveTimeout": 60}))
            ws.settimeout(5)
            replies = [json.loads(ws.recv()) for _ in range(2)]
        finally:
            ws.close()
        assert [r.get("type") for r in replies] == ["SETUP", "AUTH_STATE"]
        assert any(r.get("type") == "AUTH_STATE" and r.get("state") == "AUTHORIZED" for r in replies)

        untrusting = websocket.WebSocket()  # the default trust store has never seen this certificate
        with pytest.raises(ssl.SSLCertVerificationError):
            untrusting.connect(emu.url, timeout=5)
        untrusting.close()
