"""A fault-injecting HTTP proxy on 127.0.0.1 in front of a test index (``serve_index``).

Every request is forwarded to the index unless a fault is set for its path; a fault answers
instead, for its first ``times`` requests (None: all of them), optionally only for clients
whose User-Agent starts with ``agent`` (``"pip/"``: pip-compile's lookups, ``"depbot/"``:
depbot's own), beginning after the first ``after`` such requests. The kinds:

- ``500``: ``500 Internal Server Error``;
- ``503``: ``503 Service Unavailable`` (with ``times``: 503, then the real page);
- ``garbage-html``: ``200 text/html``, a maintenance page that lists nothing;
- ``garbage-json``: ``200`` PEP 691 JSON that is not a project page;
- ``truncated``: the real page's headers with half of its body, then the connection closes
  (Content-Length larger than the body);
- ``hang``: nothing at all until the proxy closes (or ``hang_for`` seconds pass).

    with serve_index(root, dists) as index, fault_proxy(index) as proxy:
        proxy.fault("alpha", "hang")
        ...  # use proxy.url as the index URL
"""

from __future__ import annotations

import http.client
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from depbot.demo.index_server import JSON_TYPE, IndexServer, serving

if TYPE_CHECKING:
    from tests.support.tiny_project import TinyProject

__all__ = ["FAULT_KINDS", "Fault", "FaultProxy", "fault_proxy", "route_through"]

FAULT_KINDS = ("500", "503", "garbage-html", "garbage-json", "truncated", "hang")

GARBAGE_HTML = (
    b"<!DOCTYPE html><html><head><title>Maintenance</title></head><body>"
    b"<h1>We'll be back soon</h1><p>The mirror is being synchronised.</p></body></html>"
)
GARBAGE_JSON = b'{"meta": {"api-version": "1.1"}, "name": "x", "files": {"oops": true}}'
# what is passed on, both ways: enough for conditional requests, content negotiation, redirects
_REQUEST_HEADERS = ("Accept", "User-Agent", "If-None-Match", "If-Modified-Since", "Range")
_ANSWER_HEADERS = (
    "Content-Type", "ETag", "Last-Modified", "Cache-Control", "Location", "Accept-Ranges",
    "Content-Range",
)  # fmt: skip


@dataclass
class Fault:
    """What a path answers instead of the index."""

    kind: str
    times: int | None = None
    """How many more requests it answers; None: every one."""
    agent: str = ""
    """Only for User-Agents starting with this ("": every client)."""
    after: int = 0
    """How many of those requests are forwarded before the fault begins."""

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {self.kind!r}")


@dataclass
class FaultProxy:
    """The proxy's state; tests may change ``faults`` between requests."""

    upstream: IndexServer
    url: str = ""
    """``http://127.0.0.1:PORT/simple/``: the index as clients see it."""
    faults: dict[str, Fault] = field(default_factory=dict)
    """Request path (``/simple/alpha/``) → its fault."""
    hits: Counter[str] = field(default_factory=Counter)
    """Request path → requests received."""
    faulted: Counter[str] = field(default_factory=Counter)
    """Request path → requests answered with a fault."""
    faulted_by: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(request path, client: ``pip``, ``depbot``, ``uv``…) → requests answered with a fault."""
    hang_for: float = 600.0
    closing: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fault(self, project: str, kind: str, times: int | None = None, agent: str = "") -> None:
        """Sets a fault on ``project``'s page."""
        self.faults[f"/simple/{project}/"] = Fault(kind, times, agent)

    def page_hits(self, project: str) -> int:
        return self.hits[f"/simple/{project}/"]

    def _take(self, path: str, agent: str) -> Fault | None:
        """The fault this request meets, counted; None: forward it."""
        with self.lock:
            self.hits[path] += 1
            fault = self.faults.get(path)
            if fault is None or not agent.startswith(fault.agent) or fault.times == 0:
                return None
            if fault.after:
                fault.after -= 1
                return None
            if fault.times is not None:
                fault.times -= 1
            self.faulted[path] += 1
            self.faulted_by[path, agent.partition("/")[0]] += 1
            return fault


def _upstream(state: FaultProxy, method: str, path: str, headers: dict[str, str]) -> tuple[
    int, dict[str, str], bytes
]:  # fmt: skip
    parts = urlsplit(state.upstream.url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
    try:
        conn.request(method, path, headers=headers)
        answer = conn.getresponse()
        body = answer.read()
        kept = {k: v for k in _ANSWER_HEADERS if (v := answer.getheader(k)) is not None}
        return answer.status, kept, body
    finally:
        conn.close()


def _handler(state: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real indexes: a fault must close it

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_HEAD(self) -> None:
            self._serve("HEAD")

        def do_GET(self) -> None:
            self._serve("GET")

        def _serve(self, method: str) -> None:
            path = unquote(self.path.split("?", 1)[0])
            fault = state._take(path, self.headers.get("User-Agent", ""))
            if fault is not None and fault.kind == "hang":
                state.closing.wait(state.hang_for)
                self.close_connection = True
                return
            forward = {k: v for k in _REQUEST_HEADERS if (v := self.headers.get(k)) is not None}
            if fault is None:
                status, headers, body = _upstream(state, method, self.path, forward)
                self._answer(status, headers, body, head=method == "HEAD")
            elif fault.kind in ("500", "503"):
                self._answer(int(fault.kind), {"Content-Type": "text/plain"}, b"try again")
            elif fault.kind == "garbage-html":
                self._answer(200, {"Content-Type": "text/html"}, GARBAGE_HTML)
            elif fault.kind == "garbage-json":
                self._answer(200, {"Content-Type": JSON_TYPE}, GARBAGE_JSON)
            else:  # truncated: the real answer, cut in half, the connection closed
                status, headers, body = _upstream(state, "GET", self.path, forward)
                self._answer(status, headers, body, length=len(body), cut=len(body) // 2)

        def _answer(
            self,
            status: int,
            headers: dict[str, str],
            body: bytes,
            *,
            head: bool = False,
            length: int | None = None,
            cut: int | None = None,
        ) -> None:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body) if length is None else length))
            if cut is not None:
                self.send_header("Connection", "close")
            self.end_headers()
            if not head:
                self.wfile.write(body if cut is None else body[:cut])
            self.wfile.flush()
            if cut is not None:
                self.close_connection = True

    return Handler


@contextmanager
def fault_proxy(upstream: IndexServer) -> Iterator[FaultProxy]:
    """Serves a fault-injecting proxy of ``upstream`` on 127.0.0.1 for the ``with`` block; a
    request still hanging when it ends is dropped."""
    state = FaultProxy(upstream)
    with serving(_handler(state)) as port:
        state.url = f"http://127.0.0.1:{port}/simple/"
        try:
            yield state
        finally:
            state.closing.set()  # before the server stops: it waits for hanging requests


def route_through(project: TinyProject, proxy: FaultProxy, config: str = "") -> dict[str, str]:
    """Points ``project`` (a ``tiny_project``) at ``proxy`` instead of its index, with
    ``config`` appended to its ``depbot.toml``, committed; the environment variables that
    point pip there too, for ``project.depbot(…, **env)``."""
    toml = project.repo / "depbot.toml"
    text = toml.read_text(encoding="utf-8").replace(project.index.url, proxy.url)
    toml.write_text(text + config, encoding="utf-8")
    project.git("commit", "-qam", "Through the proxy")
    return {"PIP_INDEX_URL": proxy.url}
