"""The index session: retries, the last answer when they run out, the default timeout."""

from __future__ import annotations

import base64
import ssl
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit

import pytest
import urllib3

from depbot.index import http
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
    with pytest.raises(urllib3.exceptions.MaxRetryError) as raised:
        make_session(retries=0, timeout=0.05).get(server.url + PAGE)
    assert isinstance(raised.value.reason, urllib3.exceptions.ReadTimeoutError)


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


def test_tls_connections_share_one_verifying_context(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = self_signed(tmp_path, "localhost")
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    httpd.daemon_threads = True
    httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True).start()
    made: list[ssl.SSLContext] = []
    real = http._tls_context
    monkeypatch.setattr(http, "_tls_context", lambda env: made.append(real(env)) or made[-1])
    try:
        port = httpd.server_address[1]
        # the bundle comes from the environment, as requests and curl read it
        session = make_session(retries=0, environ={"REQUESTS_CA_BUNDLE": str(cert)})
        url = f"https://localhost:{port}/simple/alpha/"
        with ThreadPoolExecutor(4) as pool:
            statuses = list(pool.map(lambda _: session.get(url).status_code, range(4)))
        assert statuses == [200] * 4
        assert len(_Slow.clients) == 4  # four connections, four handshakes
        assert len(made) == 1  # one context, the bundle loaded once
        with pytest.raises(urllib3.exceptions.MaxRetryError) as raised:
            session.get(f"https://127.0.0.1:{port}/")  # not the cert's name
        assert isinstance(raised.value.reason, urllib3.exceptions.SSLError)
        stranger = make_session(retries=0, environ={"CURL_CA_BUNDLE": str(tmp_path)})
        with pytest.raises(urllib3.exceptions.MaxRetryError):
            stranger.get(url)  # a folder without the cert: not trusted
    finally:
        httpd.shutdown()
        httpd.server_close()


class _ForwardProxy(BaseHTTPRequestHandler):
    """An HTTP forward proxy (or an index) that answers every request itself, noting the URL
    and the Authorization header it was sent."""

    seen: ClassVar[list[tuple[str, str | None]]] = []

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Authorization")))
        body = b"answered here"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def answering() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _ForwardProxy)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    _ForwardProxy.seen = []
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_the_environment_decides_the_proxy_per_host_every_time(
    server: IndexServer, answering: str
) -> None:
    env = {"http_proxy": answering, "NO_PROXY": "example.org, 127.0.0.0/8"}
    session = make_session(environ=env)
    far = "http://index.invalid/simple/alpha/"
    for _ in range(2):  # the remembered route is the environment's, request after request
        assert session.get(far).text == "answered here"
    assert session.get(server.url + PAGE).status_code == 200  # NO_PROXY's network: straight
    assert [url for url, _ in _ForwardProxy.seen] == [far, far]
    # without NO_PROXY, the same host goes through the proxy
    assert make_session(environ={"HTTP_PROXY": answering}).get(server.url + PAGE).ok
    assert _ForwardProxy.seen[-1][0] == server.url + PAGE


@pytest.mark.parametrize(
    ("no_proxy", "url", "bypassed"),
    [
        ("*", "http://a.example/", True),
        ("example.org", "http://pkgs.example.org/", True),
        (".example.org", "http://example.org/", True),
        ("example.org", "http://notexample.org/", False),
        ("a.example:8080", "http://a.example:8080/", True),
        ("a.example:8080", "http://a.example/", False),
        ("10.0.0.0/8", "http://10.1.2.3/", True),
        ("10.0.0.0/8", "http://[::1]/", False),
        ("::1", "http://[::1]:81/", True),
        ("", "http://a.example/", False),
    ],
)
def test_no_proxy_entries(no_proxy: str, url: str, bypassed: bool) -> None:
    parts = urlsplit(url)
    proxy = http._proxy(
        {"http_proxy": "proxy.example:3128", "no_proxy": no_proxy}, "http", parts.netloc
    )
    assert proxy == (None if bypassed else "http://proxy.example:3128")


def test_a_cgi_programs_http_proxy_is_not_a_proxy() -> None:
    assert http._proxy({"HTTP_PROXY": "evil:1", "REQUEST_METHOD": "GET"}, "http", "a") is None
    assert (
        http._proxy({"HTTPS_PROXY": "p:1", "REQUEST_METHOD": "GET"}, "https", "a") == "http://p:1"
    )


def test_credentials_come_from_the_url_else_from_netrc(answering: str, tmp_path: Path) -> None:
    netrc_file = tmp_path / "netrc"
    netrc_file.write_text("machine 127.0.0.1 login alice password s3cret\n")
    netrc_file.chmod(0o600)
    port = answering.rpartition(":")[2]
    session = make_session(environ={"NETRC": str(netrc_file)})
    assert session.get(f"http://bob:t%40ken@127.0.0.1:{port}/simple/").ok
    assert session.get(f"{answering}/simple/").ok
    nobody = make_session(environ={"NETRC": str(tmp_path / "absent")})
    assert nobody.get(f"{answering}/simple/").ok
    (url_given, first), (_, second), (_, third) = _ForwardProxy.seen
    assert url_given == "/simple/"  # the credentials are not in the request line
    assert first == "Basic " + base64.b64encode(b"bob:t@ken").decode()
    assert second == "Basic " + base64.b64encode(b"alice:s3cret").decode()
    assert third is None


def test_a_response_body_left_unread_does_not_reach_the_next_request(answering: str) -> None:
    session = make_session()
    with session.get(f"{answering}/one", stream=True) as response:
        assert response.raw.read(3) == b"ans"
    assert session.get(f"{answering}/two").content == b"answered here"
    assert [url for url, _ in _ForwardProxy.seen] == ["/one", "/two"]
