"""Webhook deliveries verify the receiver's TLS certificate, with one TLS context made
once per process (``playbooks.delivery._tls``) for every delivery."""

from __future__ import annotations

import http.server
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from healthscore.playbooks import delivery


@pytest.fixture
def https_receiver(tmp_path: Path) -> Iterator[str]:
    """An HTTPS server on 127.0.0.1 answering 200, with a self-signed certificate."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )

    class Ok(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


def test_a_receiver_whose_certificate_is_not_trusted_gets_nothing(https_receiver: str) -> None:
    for _ in range(2):  # the first delivery and one on the shared context alike
        with pytest.raises(delivery.DeliveryError, match="CERTIFICATE_VERIFY_FAILED"):
            delivery._post(https_receiver, b"{}", {"Content-Type": "application/json"})
    assert delivery._tls().verify_mode == ssl.CERT_REQUIRED
    assert delivery._tls() is delivery._tls()  # made once
