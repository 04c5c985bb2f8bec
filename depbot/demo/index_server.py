"""A PEP 503 / PEP 691 simple index on 127.0.0.1, serving wheels built in the test.

It can add latency to every response, fail a project's page a number of times with 503,
and answer conditional requests with 304, so the index client's retries, concurrency and
cache are tested against a real HTTP server.
"""

from __future__ import annotations

import hashlib
import html
import json
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

from packaging.utils import canonicalize_name

from depbot.demo.wheels import Dist, build_wheel

__all__ = ["IndexServer", "serve_index", "serving"]

JSON_TYPE = "application/vnd.pypi.simple.v1+json"


@dataclass
class IndexServer:
    """The state of a running index; tests may change it between requests."""

    root: Path
    url: str = ""
    """``http://127.0.0.1:PORT/simple/``"""
    latency: float = 0.0
    failures: dict[str, int] = field(default_factory=dict)
    """Project name → how many more times its page answers 503."""
    down_for: tuple[str, ...] = ()
    """User-Agent prefixes (``"pip/"``) whose every page request is answered 503: an outage
    that only the lock tool meets, after depbot's own lookups."""
    hits: Counter[str] = field(default_factory=Counter)
    """Request paths → count (304s included)."""
    dists: dict[str, list[Dist]] = field(default_factory=dict)
    json_pages: bool = True
    """Whether the index honours PEP 691 JSON; False serves HTML only."""
    not_modified: int = 0
    """How many requests were answered 304 Not Modified."""
    overrides: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    """Project name → (content type, body) served instead of its page (malformed pages)."""
    in_flight: int = 0
    max_in_flight: int = 0
    """The most requests handled at the same time: evidence of concurrent clients."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base(self) -> str:
        return self.url.rsplit("/simple/", 1)[0]

    def add(self, *dists: Dist) -> None:
        """Builds and publishes more releases (pages change, so their ETags change)."""
        for d in dists:
            build_wheel(d, self.root / "files")
            with self.lock:
                self.dists.setdefault(canonicalize_name(d.name), []).append(d)

    def file_sha256(self, dist: Dist) -> str:
        return hashlib.sha256((self.root / "files" / dist.filename).read_bytes()).hexdigest()

    def page(self, project: str, as_json: bool) -> bytes | None:
        with self.lock:
            dists = list(self.dists.get(project, ()))
        if not dists:
            return None
        if as_json:
            files = []
            for d in dists:
                entry: dict[str, object] = {
                    "filename": d.filename,
                    "url": f"../../files/{d.filename}",
                    "hashes": {"sha256": self.file_sha256(d)},
                    "requires-python": d.requires_python,
                }
                if d.yanked is not None:
                    entry["yanked"] = d.yanked or True
                files.append(entry)
            doc = {"meta": {"api-version": "1.1"}, "name": project, "files": files}
            return json.dumps(doc).encode()
        links = []
        for d in dists:
            attrs = f'href="../../files/{d.filename}#sha256={self.file_sha256(d)}"'
            if d.requires_python:
                attrs += f' data-requires-python="{html.escape(d.requires_python)}"'
            if d.yanked is not None:
                attrs += f' data-yanked="{html.escape(d.yanked)}"'
            links.append(f"<a {attrs}>{d.filename}</a><br/>")
        body = "<!DOCTYPE html><html><body>" + "\n".join(links) + "</body></html>"
        return body.encode()


def _handler(state: IndexServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        head_only = False

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_HEAD(self) -> None:
            # uv asks for a wheel's headers first (range-request support) before reading it
            self.head_only = True
            self.do_GET()

        def do_GET(self) -> None:
            path = unquote(self.path.split("?", 1)[0])
            with state.lock:
                state.hits[path] += 1
                state.in_flight += 1
                state.max_in_flight = max(state.max_in_flight, state.in_flight)
            try:
                if state.latency:
                    time.sleep(state.latency)
                self._route(path)
            finally:
                with state.lock:
                    state.in_flight -= 1

        def _route(self, path: str) -> None:
            parts = [p for p in path.split("/") if p]
            if parts[:1] == ["files"] and len(parts) == 2:
                self._send_file(parts[1])
            elif parts == ["simple"]:
                names = sorted(state.dists)
                body = "".join(f'<a href="{n}/">{n}</a>\n' for n in names)
                self._send(200, "text/html", body.encode())
            elif parts[:1] == ["simple"] and len(parts) == 2:
                self._send_project(parts[1])
            else:
                self._send(404, "text/plain", b"not found")

        def _send_project(self, raw: str) -> None:
            project = canonicalize_name(raw)
            if project != raw:
                self.send_response(301)
                self.send_header("Location", f"/simple/{project}/")
                self.end_headers()
                return
            with state.lock:
                left = state.failures.get(project, 0)
                if left:
                    state.failures[project] = left - 1
                agent = self.headers.get("User-Agent", "")
                down = any(agent.startswith(prefix) for prefix in state.down_for)
            if left or down:
                self._send(503, "text/plain", b"try again")
                return
            with state.lock:
                override = state.overrides.get(project)
            if override is not None:
                self._send(200, override[0], override[1])
                return
            as_json = state.json_pages and JSON_TYPE in self.headers.get("Accept", "")
            body = state.page(project, as_json)
            if body is None:
                self._send(404, "text/plain", b"no such project")
                return
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            if self.headers.get("If-None-Match") == etag:
                with state.lock:
                    state.not_modified += 1
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            ctype = JSON_TYPE if as_json else "text/html"
            self._send(200, ctype, body, {"ETag": etag, "Cache-Control": "max-age=0"})

        def _send_file(self, name: str) -> None:
            path = state.root / "files" / Path(name).name
            if not path.is_file():
                self._send(404, "text/plain", b"no such file")
                return
            self._send(200, "application/octet-stream", path.read_bytes())

        def _send(
            self, code: int, ctype: str, body: bytes, headers: dict[str, str] | None = None
        ) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if not self.head_only:
                self.wfile.write(body)

    return Handler


class _Server(ThreadingHTTPServer):
    # set on the class: listen() runs in the constructor, and installers such as uv open many
    # connections at once (a backlog of 5 drops some, and each retry costs a second)
    request_queue_size = 128
    daemon_threads = True


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[int]:
    """Serves ``handler`` on 127.0.0.1 on a thread for the ``with`` block; yields the port."""
    server = _Server(("127.0.0.1", 0), handler)
    # a short poll interval makes shutdown, and so every test using the index, quick
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def serve_index(
    root: Path, dists: Iterable[Dist] = (), latency: float = 0.0
) -> Iterator[IndexServer]:
    """Builds ``dists`` under ``root`` and serves them on 127.0.0.1 for the ``with`` block."""
    state = IndexServer(root=root, latency=latency)
    state.add(*dists)
    with serving(_handler(state)) as port:
        state.url = f"http://127.0.0.1:{port}/simple/"
        yield state
