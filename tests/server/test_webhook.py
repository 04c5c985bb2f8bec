"""``POST /webhook`` and ``GET /healthz`` of a real ``depbot serve`` process on 127.0.0.1
(SPEC §8): signatures, sizes, a slow-loris body, malformed input, every ignored case,
duplicates across a restart."""

from __future__ import annotations

import http.client
import json
import socket
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from depbot.server.signature import sign
from tests.support.serve import (
    SECRET,
    FakeGitHub,
    ServeProcess,
    deliver,
    fixture,
    new_delivery,
    post,
)

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub() as fake:
        yield fake


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, github: FakeGitHub) -> Iterator[ServeProcess]:
    state = tmp_path_factory.mktemp("serve") / "queue.sqlite3"
    args = ("--dispatch", "--state", str(state), "--read-timeout", "1", "--retry-delay", "0.1")
    with ServeProcess.start(*args, env=github.env()) as process:
        yield process


def headers(body: bytes, event: str = "dependabot_alert", **extra: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": new_delivery(),
        "X-Hub-Signature-256": sign(SECRET.encode(), body),
        **extra,
    }


def body_of(name: str) -> bytes:
    return json.dumps(fixture(name)).encode()


def healthz(server: ServeProcess) -> dict[str, Any]:
    with urllib.request.urlopen(f"{server.url}/healthz", timeout=10) as response:
        assert response.status == 200
        doc: dict[str, Any] = json.loads(response.read())
        return doc


def wait_until(condition: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


# ---------------------------------------------------------------------------- accepted


def test_a_signed_alert_is_queued_then_dispatched(server: ServeProcess, github: FakeGitHub) -> None:
    delivery = new_delivery()
    status, doc = deliver(
        server.url, "dependabot_alert", fixture("dependabot_alert.created"), delivery=delivery
    )
    assert status == 202
    assert isinstance(doc["job"], int)
    wait_until(lambda: delivery in github.deliveries())
    (sent,) = [d for d in github.accepted if d["client_payload"]["delivery_id"] == delivery]
    assert sent["path"] == "/repos/octo-lab/vision-kit/dispatches"
    assert sent["event_type"] == "security-advisory"
    assert sent["client_payload"]["packages"] == ["requests"]
    assert sent["client_payload"]["advisory_id"] == "GHSA-9wx4-h78v-vm56"
    wait_until(lambda: healthz(server)["depth"] == 0)
    assert healthz(server)["jobs"]["done"] >= 1


def test_each_handled_event_is_accepted(server: ServeProcess) -> None:
    for event, name in [
        ("repository_vulnerability_alert", "repository_vulnerability_alert.create"),
        ("security_advisory", "security_advisory.published"),
    ]:
        payload = fixture(name)
        payload.setdefault("repository", fixture("dependabot_alert.created")["repository"])
        status, doc = deliver(server.url, event, payload)
        assert (status, sorted(doc)) == (202, ["job"])


# ---------------------------------------------------------------------------- signatures


def test_a_wrong_signature_is_401(server: ServeProcess) -> None:
    body = body_of("dependabot_alert.created")
    status, doc = post(
        server.url, body, headers(body, **{"X-Hub-Signature-256": "sha256=" + "0" * 64})
    )
    assert status == 401
    assert "does not match" in doc["error"]
    other_secret = sign(b"not the secret", body)
    assert post(server.url, body, headers(body, **{"X-Hub-Signature-256": other_secret}))[0] == 401


def test_a_signature_over_other_bytes_is_401(server: ServeProcess) -> None:
    body = body_of("dependabot_alert.created")
    signed_for = headers(body)
    sent = body.replace(b"vision-kit", b"vision-kid")
    assert post(server.url, sent, signed_for)[0] == 401


def test_a_missing_signature_is_401_before_the_body_matters(server: ServeProcess) -> None:
    body = b"not even json"
    h = headers(body)
    del h["X-Hub-Signature-256"]
    status, doc = post(server.url, body, h)
    assert (status, doc["error"]) == (401, "missing X-Hub-Signature-256")


def test_unsigned_garbage_is_401_not_400(server: ServeProcess) -> None:
    body = b"{"
    assert post(server.url, body, headers(body, **{"X-Hub-Signature-256": "sha256=00"}))[0] == 401


@pytest.mark.parametrize("header", ["X-GitHub-Event", "X-GitHub-Delivery"])
def test_a_missing_github_header_is_400_naming_it(server: ServeProcess, header: str) -> None:
    body = body_of("dependabot_alert.created")
    h = headers(body)
    del h[header]
    status, doc = post(server.url, body, h)
    assert (status, doc["field"]) == (400, header)
    assert header in doc["error"]


# ---------------------------------------------------------------------------- sizes and time


def test_one_mib_is_accepted_and_one_byte_more_is_413(server: ServeProcess) -> None:
    ping = json.dumps(fixture("ping")).encode()
    exact = ping + b" " * (MIB - len(ping))
    assert post(server.url, exact, headers(exact, "ping")) == (200, {"ignored": "ping"})
    # one byte more: answered from Content-Length, before the body is sent (a client that had
    # pushed the whole body would see the connection reset under the unread bytes)
    over = exact + b" "
    sock = _raw(server, _request_head(len(over), sign(SECRET.encode(), over)))
    try:
        answer = _until_closed(sock)
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 413")
    assert str(MIB).encode() in answer


def _raw(server: ServeProcess, head: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.sendall(head)
    return sock


def _until_closed(sock: socket.socket) -> bytes:
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    return answer


def _request_head(length: int | None, signature: str = "sha256=" + "0" * 64) -> bytes:
    framing = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    return (
        f"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nX-GitHub-Event: ping\r\n"
        f"X-GitHub-Delivery: {new_delivery()}\r\nX-Hub-Signature-256: {signature}\r\n"
        f"{framing}\r\n\r\n"
    ).encode()


def test_an_announced_huge_body_is_413_before_it_is_sent(server: ServeProcess) -> None:
    sock = _raw(server, _request_head(100 * MIB))
    try:
        answer = _until_closed(sock)  # the server closes: the body is never read
        assert answer.startswith(b"HTTP/1.1 413")
        assert b"connection: close" in answer.lower()
    finally:
        sock.close()


def test_a_chunked_body_is_cut_at_one_mib_and_the_rest_never_read(server: ServeProcess) -> None:
    sock = _raw(server, _request_head(None))
    chunk = b"%x\r\n%s\r\n" % (64 * 1024, b" " * 64 * 1024)
    sent = 0
    try:
        with pytest.raises(OSError):  # sending until the server hangs up
            for _ in range(1024):  # up to 64 MiB, if the server kept reading
                sock.sendall(chunk)
                sent += 64 * 1024
        assert sent < 16 * MIB
    finally:
        sock.close()
    assert healthz(server)["status"] == "ok"


def test_a_slow_loris_body_is_cut_by_the_read_timeout(server: ServeProcess) -> None:
    sock = _raw(server, _request_head(1000))
    started = time.monotonic()
    try:
        sock.settimeout(0.2)
        answer = b""
        while time.monotonic() - started < 10 and not answer:
            try:
                sock.sendall(b" ")  # one byte every 0.2 s: the body would take 200 s
                answer = sock.recv(65536)
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):  # cut before the 408 was read
                answer = b"HTTP/1.1 408 (reset)"
        elapsed = time.monotonic() - started
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert 0.9 <= elapsed < 3.0
        assert healthz(server)["status"] == "ok"  # others were served meanwhile
    finally:
        sock.close()


@pytest.mark.parametrize("head", [b"", b"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\n"])
def test_a_connection_that_never_completes_its_headers_is_closed(
    server: ServeProcess, head: bytes
) -> None:
    sock = _raw(server, head)
    started = time.monotonic()
    try:
        sock.settimeout(0.2)
        closed = False
        while time.monotonic() - started < 10 and not closed:
            try:
                sock.sendall(b"X")  # a header line, one byte every 0.2 s
                closed = sock.recv(65536) == b""
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                closed = True
        assert closed
        assert 0.9 <= time.monotonic() - started < 3.0
    finally:
        sock.close()


# ---------------------------------------------------------------------------- malformed


def test_malformed_json_is_400(server: ServeProcess) -> None:
    body = b'{"action": "created", '
    status, doc = post(server.url, body, headers(body))
    assert (status, doc["field"]) == (400, "body")


def test_a_missing_field_is_400_naming_it(server: ServeProcess) -> None:
    payload = fixture("dependabot_alert.created")
    del payload["alert"]["dependency"]["package"]["name"]
    status, doc = deliver(server.url, "dependabot_alert", payload)
    assert (status, doc["field"]) == (400, "alert.dependency.package.name")


# ---------------------------------------------------------------------------- ignored


def test_every_ignored_case_answers_200_with_its_reason(server: ServeProcess) -> None:
    other_action = fixture("dependabot_alert.created")
    other_action["action"] = "dismissed"
    npm = fixture("dependabot_alert.created")
    npm["alert"]["dependency"]["package"]["ecosystem"] = "npm"
    cases = [
        ("ping", fixture("ping"), "ping"),
        ("push", {"ref": "refs/heads/main", "repository": {"full_name": "o/r"}}, "other event"),
        ("dependabot_alert", other_action, "other action"),
        ("dependabot_alert", npm, "other ecosystem"),
        ("security_advisory", fixture("security_advisory.published"), "no repository"),
    ]
    before = healthz(server)["jobs"]
    for event, payload, reason in cases:
        assert deliver(server.url, event, payload) == (200, {"ignored": reason}), event
    assert healthz(server)["jobs"] == before  # nothing was queued


def test_a_repeated_delivery_is_a_duplicate(server: ServeProcess) -> None:
    delivery = new_delivery()
    payload = fixture("dependabot_alert.created")
    assert deliver(server.url, "dependabot_alert", payload, delivery=delivery)[0] == 202
    assert deliver(server.url, "dependabot_alert", payload, delivery=delivery) == (
        200,
        {"ignored": "duplicate"},
    )


def test_the_secret_is_never_echoed_or_logged(server: ServeProcess) -> None:
    body = body_of("dependabot_alert.created")
    h = headers(body, **{"X-Hub-Signature-256": SECRET})
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("POST", "/webhook", body=body, headers=h)
    answer = conn.getresponse().read()
    conn.close()
    assert SECRET.encode() not in answer
    assert SECRET not in server.log
    assert "ghs_faketoken" not in server.log


def test_duplicates_are_recognised_after_a_restart(tmp_path: Path, github: FakeGitHub) -> None:
    state = tmp_path / "queue.sqlite3"
    args = ("--dispatch", "--state", str(state))
    delivery = new_delivery()
    payload = fixture("dependabot_alert.created")
    with ServeProcess.start(*args, env=github.env()) as first:
        status, _ = deliver(first.url, "dependabot_alert", payload, delivery=delivery)
        assert status == 202
        port = first.port
        assert first.stop() == 0
    assert "stopped" in first.log
    with ServeProcess.start(*args, env=github.env(), port=port) as second:
        assert deliver(second.url, "dependabot_alert", payload, delivery=delivery) == (
            200,
            {"ignored": "duplicate"},
        )
        assert healthz(second)["jobs"]["pending"] + healthz(second)["jobs"]["done"] == 1
