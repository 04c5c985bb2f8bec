"""A real ``depbot serve`` process on 127.0.0.1, signed deliveries, and a fake GitHub.

    with FakeGitHub() as github, ServeProcess.start(tmp_path, "--dispatch", env=...) as server:
        status, doc = deliver(server.url, SECRET, "ping", {"zen": "…"})

The server subprocess measures coverage when the test run does (coverage's own subprocess
start-up hook, configured from the running measurement).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from depbot.server.signature import sign
from tests.conftest import clean_env

__all__ = [
    "FIXTURES",
    "SECRET",
    "FakeGitHub",
    "ServeProcess",
    "deliver",
    "fixture",
    "new_delivery",
    "post",
]

SECRET = "it is a secret to everybody"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "webhooks"
_LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+)")


def fixture(name: str) -> dict[str, Any]:
    """A payload of ``tests/fixtures/webhooks/`` (``dependabot_alert.created``…)."""
    doc: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return doc


def new_delivery() -> str:
    return str(uuid.uuid4())


def _coverage_env() -> dict[str, str]:
    """Makes a Python subprocess measure coverage into this run's data, when it is measured."""
    try:
        import coverage
    except ImportError:  # pragma: no cover
        return {}
    current = coverage.Coverage.current()
    if current is None:
        return {}
    config = current.config
    saved = (config.parallel, config.data_file)
    config.parallel = True
    config.data_file = os.path.abspath(config.data_file)  # noqa: PTH100
    try:
        return {"COVERAGE_PROCESS_CONFIG": config.serialize()}
    finally:
        config.parallel, config.data_file = saved


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    timeout: float = 30.0,
) -> tuple[int, dict[str, Any]]:
    """POSTs ``body`` to ``url``/webhook: (status, the JSON answer or {})."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("POST", "/webhook", body=body, headers=dict(headers))
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    return response.status, (json.loads(data) if data else {})


def deliver(
    url: str,
    event: str,
    payload: object,
    *,
    delivery: str | None = None,
    secret: str = SECRET,
    timeout: float = 30.0,
) -> tuple[int, dict[str, Any]]:
    """One delivery signed as GitHub signs it: (status, the JSON answer)."""
    body = json.dumps(payload).encode("utf-8")
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or new_delivery(),
        "X-Hub-Signature-256": sign(secret.encode("utf-8"), body),
    }
    return post(url, body, headers, timeout=timeout)


@dataclass
class ServeProcess:
    """A running ``python -m depbot serve``; its stderr is collected in ``log``."""

    process: subprocess.Popen[str]
    port: int
    lines: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> str:
        return "".join(self.lines)

    @classmethod
    @contextmanager
    def start(
        cls,
        *args: str,
        env: Mapping[str, str] | None = None,
        port: int = 0,
        wait: float = 30.0,
    ) -> Iterator[ServeProcess]:
        """``depbot serve --port PORT ARGS`` with ``env`` (default: a clean one holding the
        secret); stopped with SIGTERM at the end unless it was killed."""
        server = cls.spawn(*args, env=env, port=port, wait=wait)
        try:
            yield server
        finally:
            server.stop()

    @classmethod
    def spawn(
        cls,
        *args: str,
        env: Mapping[str, str] | None = None,
        port: int = 0,
        wait: float = 30.0,
    ) -> ServeProcess:
        """Starts the process and waits until it listens."""
        environment = dict(env if env is not None else serve_env())
        environment.update(_coverage_env())
        process = subprocess.Popen(
            [sys.executable, "-m", "depbot", "serve", "--port", str(port), *args],
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        server = cls(process, port)
        ready = threading.Event()

        def read() -> None:
            assert process.stderr is not None
            for line in process.stderr:
                server.lines.append(line)
                found = _LISTENING.search(line)
                if found:
                    server.port = int(found.group(1))
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(wait) or (process.poll() is not None and not server.port):
            process.kill()
            raise RuntimeError(f"depbot serve did not start:\n{server.log}")
        return server

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, then the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def kill(self) -> None:
        """``kill -9``: no shutdown code runs."""
        self.process.kill()
        self.process.wait()

    def wait_for(self, text: str, timeout: float = 60.0) -> None:
        """Waits until ``text`` appears in the log."""
        deadline = time.monotonic() + timeout
        while text not in self.log:
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not in the log:\n{self.log}")
            time.sleep(0.05)


def serve_env(**extra: str) -> dict[str, str]:
    """A clean environment with the webhook secret and nothing of GitHub's."""
    env = clean_env(DEPBOT_WEBHOOK_SECRET=SECRET, **extra)
    for name in ("GITHUB_TOKEN", "DEPBOT_GITHUB_TOKEN", "GITHUB_API_URL", "GITHUB_REPOSITORY"):
        if name not in extra:
            env.pop(name, None)
    return env


# ---------------------------------------------------------------------------- a fake GitHub


@dataclass
class FakeGitHub:
    """``POST /repos/{owner}/{repo}/dispatches`` on 127.0.0.1: answers the scripted statuses in
    turn (then 204) and records every dispatch it accepted."""

    script: list[int] = field(default_factory=list)
    accepted: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    """(method, path, headers) of every request."""
    delay: float = 0.0
    headers: dict[int, dict[str, str]] = field(default_factory=dict)
    """Status → extra headers sent with it (``x-ratelimit-remaining: 0`` on a 403)."""
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> FakeGitHub:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with fake.lock:
                    fake.requests.append(("POST", self.path, dict(self.headers)))
                    status = fake.script.pop(0) if fake.script else 204
                if fake.delay:
                    time.sleep(fake.delay)
                if not re.fullmatch(r"/repos/[^/]+/[^/]+/dispatches", self.path):
                    status = 404
                if status == 204:
                    with fake.lock:
                        fake.accepted.append({"path": self.path, **body})
                    self.send_response(204)
                    self.end_headers()
                    return
                payload = json.dumps({"message": _MESSAGES.get(status, "Error")}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                if status == 429:
                    self.send_header("Retry-After", "0")
                for name, value in fake.headers.get(status, {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def env(self, **extra: str) -> dict[str, str]:
        """The serve environment pointing ``--dispatch`` at this fake."""
        return serve_env(GITHUB_TOKEN="ghs_faketoken0123456789", GITHUB_API_URL=self.url, **extra)

    def deliveries(self) -> Sequence[str]:
        with self.lock:
            return [d["client_payload"]["delivery_id"] for d in self.accepted]


_MESSAGES = {
    403: "Resource not accessible by integration",
    404: "Not Found",
    422: "Invalid request",
    429: "Too many requests",
    502: "Server Error",
}
