"""A loopback simple index whose pages are shaped like today's real pages of 20 popular projects.

``data/real_pages.json.gz`` is a recorded summary of the package index's PEP 691 pages for
``PROJECTS`` (made once with ``python benchmarks/plan.py --record``): per project, its distinct
``Requires-Python`` strings and, per file, its name, specifier, yank and size. ``RealIndex``
serves pages rebuilt from it with every key the real pages carry (URL, hash, size, upload time),
so their file counts, version counts, ``Requires-Python`` variety and byte sizes are the real
ones. It answers ``If-None-Match`` with 304 and sleeps ``latency`` before every answer.
"""

from __future__ import annotations

import gzip
import hashlib
import html
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data" / "real_pages.json.gz"
JSON_TYPE = "application/vnd.pypi.simple.v1+json"

# name → the pin of the benchmark's lockfile: what a project locked a couple of years ago
PINS = {
    "aiohttp": "3.9.1",
    "certifi": "2023.11.17",
    "click": "8.1.7",
    "cryptography": "41.0.7",
    "flask": "3.0.0",
    "idna": "3.4",
    "jinja2": "3.1.2",
    "numpy": "1.26.2",
    "packaging": "23.2",
    "pillow": "10.1.0",
    "pyyaml": "6.0.1",
    "requests": "2.31.0",
    "rich": "13.7.0",
    "scikit-learn": "1.3.2",
    "six": "1.16.0",
    "sqlalchemy": "2.0.23",
    "torch": "2.1.1",
    "tqdm": "4.66.1",
    "urllib3": "2.0.7",
    "werkzeug": "3.0.1",
}
PROJECTS = tuple(PINS)


def record(index_url: str, out: Path = DATA) -> dict[str, int]:
    """Fetches the PEP 691 page of every project in ``PROJECTS`` from ``index_url`` and writes
    the summary to ``out``; returns the file count per project."""
    import requests

    summary: dict[str, Any] = {}
    with requests.Session() as session:
        for name in PROJECTS:
            response = session.get(
                f"{index_url.rstrip('/')}/{name}/", headers={"Accept": JSON_TYPE}, timeout=60
            )
            response.raise_for_status()
            specifiers: dict[str | None, int] = {}
            files = []
            for f in response.json()["files"]:
                rp = f.get("requires-python")
                number = specifiers.setdefault(rp, len(specifiers))
                files.append([f["filename"], number, f.get("yanked", False), f.get("size", 0)])
            summary[name] = {"requires-python": list(specifiers), "files": files}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(gzip.compress(json.dumps(summary, separators=(",", ":")).encode(), 9, mtime=0))
    return {name: len(s["files"]) for name, s in summary.items()}


def load(path: Path = DATA) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(gzip.decompress(path.read_bytes()))
    return loaded


def json_page(name: str, summary: Mapping[str, Any]) -> bytes:
    """The PEP 691 page, with the keys and about the sizes of the real one."""
    specifiers = summary["requires-python"]
    files = []
    for i, (filename, rp, yanked, size) in enumerate(summary["files"]):
        digest = hashlib.sha256(filename.encode()).hexdigest()
        files.append(
            {
                "filename": filename,
                "hashes": {"sha256": digest},
                "requires-python": specifiers[rp],
                "size": size,
                "upload-time": f"2020-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}.000000Z",
                "url": f"../../files/{digest[:2]}/{digest[2:4]}/{digest[4:]}/{filename}",
                "yanked": yanked,
            }
        )
    doc = {"files": files, "meta": {"api-version": "1.1", "_last-serial": 1}, "name": name}
    return json.dumps(doc).encode()


def html_page(name: str, summary: Mapping[str, Any]) -> bytes:
    """The PEP 503 page of the same files."""
    specifiers = summary["requires-python"]
    links = []
    for filename, rp, yanked, _size in summary["files"]:
        digest = hashlib.sha256(filename.encode()).hexdigest()
        href = f"../../files/{digest[:2]}/{digest[2:4]}/{digest[4:]}/{filename}#sha256={digest}"
        attrs = f'href="{href}"'
        if specifiers[rp]:
            attrs += f' data-requires-python="{html.escape(specifiers[rp])}"'
        if yanked:
            reason = yanked if isinstance(yanked, str) else ""
            attrs += f' data-yanked="{html.escape(reason)}"'
        links.append(f"    <a {attrs}>{filename}</a><br />")
    head = f'<meta name="pypi:repository-version" content="1.1"><title>Links for {name}</title>'
    body = f"<!DOCTYPE html>\n<html>\n  <head>\n    {head}\n  </head>\n  <body>\n"
    return (body + "\n".join(links) + "\n  </body>\n</html>\n").encode()


@dataclass
class RealIndex:
    """A running loopback index of the recorded pages."""

    pages: dict[str, tuple[bytes, bytes]]
    """name → (JSON page, HTML page)"""
    latency: float = 0.0
    url: str = ""
    hits: Counter[str] = field(default_factory=Counter)
    not_modified: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def page_bytes(self) -> int:
        return sum(len(j) for j, _ in self.pages.values())

    def requests(self) -> int:
        with self.lock:
            return sum(self.hits.values())


@contextmanager
def serve(summary: Mapping[str, Any], latency: float = 0.0) -> Iterator[RealIndex]:
    """Serves ``summary``'s pages on 127.0.0.1 until the block ends."""
    pages = {n: (json_page(n, s), html_page(n, s)) for n, s in summary.items()}
    state = RealIndex(pages, latency)
    server = _Server(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}/simple/"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def _handler(state: RealIndex) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the real index offers
        # headers and body leave in two writes: with Nagle's algorithm the second one waits for
        # the client's delayed ACK (40 ms a page), a stall the real index does not have
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            parts = [p for p in self.path.split("?")[0].split("/") if p]
            if state.latency:
                time.sleep(state.latency)
            with state.lock:
                state.hits[self.path] += 1
            page = state.pages.get(parts[1]) if len(parts) == 2 and parts[0] == "simple" else None
            if page is None:
                self._send(404, "text/plain", b"not found", {})
                return
            as_json = JSON_TYPE in self.headers.get("Accept", "")
            body = page[0] if as_json else page[1]
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            headers = {"ETag": etag, "Cache-Control": "max-age=600, public"}
            if self.headers.get("If-None-Match") == etag:
                with state.lock:
                    state.not_modified += 1
                self._send(304, None, b"", headers)
                return
            self._send(200, JSON_TYPE if as_json else "text/html", body, headers)

        def _send(
            self, code: int, ctype: str | None, body: bytes, headers: Mapping[str, str]
        ) -> None:
            self.send_response(code)
            if ctype is not None:
                self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

    return Handler


class _Server(ThreadingHTTPServer):
    request_queue_size = 128
    daemon_threads = True


def lockfile(pins: Mapping[str, str] = PINS, python: str = "3.11") -> str:
    """A pip-compile lockfile of ``pins`` for Python ``python``."""
    header = (
        "#\n"
        f"# This file is autogenerated by pip-compile with Python {python}\n"
        "# by the following command:\n"
        "#\n"
        "#    pip-compile requirements.in\n"
        "#\n"
    )
    body = "".join(f"{n}=={v}\n    # via -r requirements.in\n" for n, v in sorted(pins.items()))
    return header + body


def shape(summary: Mapping[str, Any]) -> Sequence[tuple[str, int, int, int]]:
    """(name, files, versions, distinct Requires-Python strings) per project, as recorded."""
    out = []
    for name, s in summary.items():
        versions = {_version_of(f[0]) for f in s["files"]}
        out.append((name, len(s["files"]), len(versions), len(s["requires-python"])))
    return out


def _version_of(filename: str) -> str:
    if filename.endswith(".whl"):
        return filename.split("-")[1]
    stem = filename
    for suffix in (".tar.gz", ".zip", ".tar.bz2", ".tgz", ".exe", ".egg", ".msi", ".dmg", ".rpm"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    return stem.rpartition("-")[2]
