"""The index session: retries, the last answer when they run out, the default timeout."""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
import requests

from depbot.index.http import make_session
from tests.support.index_server import IndexServer, serve_index
from tests.support.wheels import Dist

PAGE = "alpha/"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[IndexServer]:
    with serve_index(tmp_path / "index", [Dist("alpha", "1.0")]) as s:
        yield s


def test_server_errors_are_retried(server: IndexServer) -> None:
    server.failures["alpha"] = 3
    response = make_session(retries=3, backoff=0.01).get(server.url + PAGE)
    assert response.status_code == 200
    assert server.hits["/simple/alpha/"] == 4


def test_the_last_error_is_returned_when_retries_run_out(server: IndexServer) -> None:
    server.failures["alpha"] = 10
    response = make_session(retries=2, backoff=0.01).get(server.url + PAGE)
    assert response.status_code == 503
    assert server.hits["/simple/alpha/"] == 3


def test_requests_get_the_default_timeout(server: IndexServer) -> None:
    server.latency = 0.3
    with pytest.raises(requests.exceptions.ConnectionError):
        make_session(retries=0, timeout=0.05).get(server.url + PAGE)


def test_an_explicit_timeout_wins(server: IndexServer) -> None:
    server.latency = 0.2
    session = make_session(retries=0, timeout=0.05)
    assert session.get(server.url + PAGE, timeout=5).status_code == 200


def self_signed(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """A certificate for ``name`` (and nothing else) with its key, made with cryptography."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class _Slow(BaseHTTPRequestHandler):
    clients: ClassVar[set[int]] = set()

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.clients.add(self.client_address[1])
        time.sleep(0.2)  # the four requests overlap: four connections
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


def test_tls_connections_share_one_verifying_context(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path, "localhost")
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    httpd.daemon_threads = True
    httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True).start()
    try:
        port = httpd.server_address[1]
        session = make_session(retries=0)
        url = f"https://localhost:{port}/simple/alpha/"

        def get(_: int) -> int:
            # per request: requests lets REQUESTS_CA_BUNDLE win over ``session.verify``
            return session.get(url, verify=str(cert)).status_code

        with ThreadPoolExecutor(4) as pool:
            statuses = list(pool.map(get, range(4)))
        assert statuses == [200] * 4
        assert len(_Slow.clients) == 4  # four connections, four handshakes
        adapter = session.get_adapter(url)
        assert len(adapter._contexts) == 1  # type: ignore[attr-defined]
        with pytest.raises(requests.exceptions.SSLError):
            session.get(f"https://127.0.0.1:{port}/", verify=str(cert))  # not the cert's name
    finally:
        httpd.shutdown()
        httpd.server_close()


class _ForwardProxy(BaseHTTPRequestHandler):
    """An HTTP forward proxy that answers every request itself, noting its absolute URL."""

    seen: ClassVar[list[str]] = []

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.seen.append(self.path)
        body = b"through the proxy"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_the_environment_decides_the_proxy_per_host_every_time(
    server: IndexServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), _ForwardProxy)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    _ForwardProxy.seen = []
    try:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{proxy.server_address[1]}")
        monkeypatch.setenv("no_proxy", "127.0.0.1")
        session = make_session()
        far = "http://index.invalid/simple/alpha/"
        for _ in range(2):  # the remembered answer is the environment's, request after request
            assert session.get(far).text == "through the proxy"
        assert session.get(server.url + PAGE).status_code == 200  # NO_PROXY: straight there
        assert _ForwardProxy.seen == [far, far]
        # a request's own proxies still win over the environment
        assert session.get(server.url + PAGE, proxies={"http": session_proxy(proxy)}).ok
        assert _ForwardProxy.seen[-1] == server.url + PAGE
    finally:
        proxy.shutdown()
        proxy.server_close()


def session_proxy(proxy: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{proxy.server_address[1]}"
