"""TLS for the benchmarks: a fresh self-signed certificate for 127.0.0.1 and
localhost, the DXLink emulator serving ``wss://`` with it in its own process,
and a scoped trust setting under which clients verify that certificate (never
with verification turned off).

Clients trust the certificate through ``SSL_CERT_FILE``, the OpenSSL variable
that Python's ``SSLContext.load_default_certs`` honours: websocket-client
loads the default trust store whenever no CA is passed, so mdsdk (which passes
none while ``verify_tls`` is on) and a bare websocket-client loop verify the
emulator exactly as they verify a real server, this file standing in for the
system's CA bundle.

The server process is this module run as ``python -m benchmarks._tls CERT KEY
TICK KEEPALIVE``; it prints the same ``url:`` / ``api_url:`` lines as
``mdsdk emulate dxlink`` (the ``api_url`` control side stays plain HTTP).
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import pathlib
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
from typing import Iterator, Optional, Tuple

import websocket

from ._common import EmulatorProcess

ROOT = pathlib.Path(__file__).resolve().parents[1]

# Our own config, so the result does not depend on the system's openssl.cnf:
# a server certificate (not a CA) that is its own trust anchor.
_OPENSSL_CONFIG = """\
[req]
distinguished_name = dn
x509_extensions = ext
prompt = no
[dn]
CN = localhost
[ext]
basicConstraints = critical,CA:FALSE
subjectAltName = IP:127.0.0.1,DNS:localhost
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
"""


def _has_cryptography() -> bool:
    try:
        import cryptography  # noqa: F401
    except ImportError:
        return False
    return True


def tls_unavailable() -> Optional[str]:
    """Why a certificate cannot be generated here (neither the ``openssl``
    command nor the ``cryptography`` package is available), or None when it
    can; callers print the reason and skip their TLS work."""
    if shutil.which("openssl") or _has_cryptography():
        return None
    return "neither the openssl command nor the cryptography package is available to make a certificate"


def make_certificate(directory: "os.PathLike[str] | str") -> Tuple[pathlib.Path, pathlib.Path]:
    """Write a fresh self-signed P-256 certificate valid for a day, with
    subjectAltName IP:127.0.0.1 and DNS:localhost, and its unencrypted key
    into ``directory``; returns (certificate, key) paths. Uses the openssl
    command, else the cryptography package (see :func:`tls_unavailable`)."""
    d = pathlib.Path(directory)
    cert, key = d / "cert.pem", d / "key.pem"
    if shutil.which("openssl"):
        config = d / "openssl.cnf"
        config.write_text(_OPENSSL_CONFIG)
        subprocess.run(["openssl", "req", "-x509", "-config", str(config), "-newkey", "ec",
                        "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
                        "-keyout", str(key), "-out", str(cert)],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    else:
        _make_with_cryptography(cert, key)
    return cert, key


def _make_with_cryptography(cert: pathlib.Path, key: pathlib.Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    pkey = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")])
    ski = x509.SubjectKeyIdentifier.from_public_key(pkey.public_key())
    built = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(pkey.public_key())
             .serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
             .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
             .add_extension(san, critical=False)
             .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
             .add_extension(ski, critical=False)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
             .sign(pkey, hashes.SHA256()))
    cert.write_bytes(built.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(pkey.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))


def server_context(cert: "os.PathLike[str] | str", key: "os.PathLike[str] | str") -> ssl.SSLContext:
    """A server-side TLS context presenting ``cert`` (Python's defaults:
    TLS 1.2 or newer, the library's cipher choice)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


class TLSEmulatorProcess(EmulatorProcess):
    """The DXLink emulator (no auth) serving ``wss://`` in a child process,
    with a certificate generated for this run into a temporary directory;
    ``ca_file`` is the certificate clients must trust. Raises RuntimeError
    when :func:`tls_unavailable` gives a reason."""

    def __init__(self, tick: float = 3600.0, keepalive_timeout: float = 60.0) -> None:
        reason = tls_unavailable()
        if reason:
            raise RuntimeError(reason)
        self._dir = tempfile.TemporaryDirectory(prefix="mdsdk-bench-tls-")
        try:
            self.ca_file, key = make_certificate(self._dir.name)
            super().__init__(tick, keepalive_timeout, command=[
                sys.executable, "-m", "benchmarks._tls", str(self.ca_file), str(key), str(tick),
                str(keepalive_timeout)], cwd=str(ROOT))
        except BaseException:
            self._dir.cleanup()
            raise

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._dir.cleanup()


@contextlib.contextmanager
def trusting(ca_file: "os.PathLike[str] | str") -> Iterator[None]:
    """Within the block, every new TLS context in this process that loads the
    default trust store reads ``ca_file`` in place of the system's CA bundle
    file (``SSL_CERT_FILE``; the system's certificate directory still counts);
    websocket-client's own ``WEBSOCKET_CLIENT_CA_BUNDLE``, which would take
    precedence, is unset. Both are restored afterwards."""
    saved = {k: os.environ.get(k) for k in ("SSL_CERT_FILE", "WEBSOCKET_CLIENT_CA_BUNDLE")}
    os.environ["SSL_CERT_FILE"] = str(ca_file)
    os.environ.pop("WEBSOCKET_CLIENT_CA_BUNDLE", None)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def check_verification(url: str, ca_file: "os.PathLike[str] | str") -> str:
    """Prove the clients really verify: websocket-client with ``sslopt``
    ``ca_certs`` and under :func:`trusting` both connect and hold a verified
    peer certificate, and with the untouched default store the handshake is
    refused. Returns the negotiated protocol and cipher; raises RuntimeError
    when any of that does not hold."""
    described = ""
    for sslopt, scoped in (({"ca_certs": str(ca_file)}, False), (None, True)):
        with trusting(ca_file) if scoped else contextlib.nullcontext():
            ws = websocket.WebSocket(sslopt=sslopt)
            ws.connect(url, timeout=10)
        try:
            sock = ws.sock
            # getpeercert() is empty unless the certificate was validated.
            if not isinstance(sock, ssl.SSLSocket) or not sock.getpeercert():
                raise RuntimeError(f"{url}: the TLS peer certificate was not verified")
            cipher = sock.cipher()
            described = f"{sock.version()} {cipher[0] if cipher else '?'}"
        finally:
            ws.close()
    ws = websocket.WebSocket()
    try:
        ws.connect(url, timeout=10)
    except ssl.SSLCertVerificationError:
        return described
    finally:
        ws.close()
    raise RuntimeError(f"{url}: a client without the generated certificate was not refused")


def _serve(cert: str, key: str, tick: float, keepalive_timeout: float) -> None:
    from mdsdk.testing.dxlink_emulator import DXLinkEmulator

    class TLSDXLinkEmulator(DXLinkEmulator):
        ssl_context = server_context(cert, key)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    with TLSDXLinkEmulator(require_auth=False, tick=tick, keepalive_timeout=keepalive_timeout) as emu:
        print(f"dxlink emulator (TLS)\n  url:     {emu.url}\n  api_url: {emu.api_url}", flush=True)
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    _serve(sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]))
