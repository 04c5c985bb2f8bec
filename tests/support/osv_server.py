"""A fake OSV API on 127.0.0.1 serving literal records: ``query``, ``querybatch``, ``vulns/{id}``.

The affected-version check here is written independently of depbot's parser (the OSV
pseudocode, versions compared with packaging), so tests through it cross-check that parser.

    with serve_osv(records) as url:          # url == "http://127.0.0.1:PORT/v1"
        OSVSource(url).advisories(lockfiles)

``faults`` maps a path (``/v1/querybatch``) to status codes answered, one per request, before
the real answer; ``log`` (a list) receives ``(method, path)`` for every request; ``page_size``
makes ``querybatch`` paginate with ``next_page_token``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

__all__ = ["serve_osv", "vulnerable"]


def vulnerable(record: Mapping[str, Any], name: str, version: str) -> bool:
    """Whether ``name==version`` (PyPI) is affected by ``record``, per the OSV pseudocode."""
    if record.get("withdrawn"):
        return False
    try:
        v = Version(version)
    except InvalidVersion:
        return False
    for affected in record.get("affected", []):
        pkg = affected.get("package", {})
        if pkg.get("ecosystem") != "PyPI" or canonicalize_name(pkg.get("name", "")) != (
            canonicalize_name(name)
        ):
            continue
        if version in [str(x) for x in affected.get("versions", [])]:
            return True
        for rng in affected.get("ranges", []):
            if rng.get("type") == "ECOSYSTEM" and _in_range(rng.get("events", []), v):
                return True
    return False


def _in_range(events: list[dict[str, str]], v: Version) -> bool:
    def key(event: dict[str, str]) -> Version:
        ((_, raw),) = event.items()
        return Version("0") if raw == "0" else Version(raw)

    affected = False
    for event in sorted((e for e in events if "limit" not in e), key=key):
        ((kind, raw),) = event.items()
        bound = Version("0") if raw == "0" else Version(raw)
        if kind == "introduced" and (raw == "0" or v >= bound):
            affected = True
        elif (kind == "fixed" and v >= bound) or (kind == "last_affected" and v > bound):
            affected = False
    return affected


@contextmanager
def serve_osv(
    records: list[dict[str, Any]],
    *,
    faults: dict[str, list[int]] | None = None,
    log: list[tuple[str, str]] | None = None,
    page_size: int | None = None,
) -> Iterator[str]:
    """Serve ``records`` on a free port of 127.0.0.1; yields the API base ``http://…/v1``."""
    by_id = {r["id"]: r for r in records}
    pending_faults = {path: list(codes) for path, codes in (faults or {}).items()}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _fault(self) -> bool:
            with lock:
                if log is not None:
                    log.append((self.command, self.path))
                codes = pending_faults.get(self.path)
                code = codes.pop(0) if codes else None
            if code is None:
                return False
            self._send(code, {"code": code, "message": "injected fault"})
            return True

        def _send(self, code: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self._fault():
                return
            prefix = "/v1/vulns/"
            vid = unquote(self.path[len(prefix) :]) if self.path.startswith(prefix) else ""
            if vid in by_id:
                self._send(200, by_id[vid])
            else:
                self._send(404, {"code": 5, "message": "Bug not found."})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            if self._fault():
                return
            if self.path == "/v1/query":
                self._send(200, {"vulns": _matches(body)} if _matches(body) else {})
            elif self.path == "/v1/querybatch":
                self._send(200, {"results": [_page(q) for q in body.get("queries", [])]})
            else:
                self._send(404, {"code": 5, "message": "Not found."})

    def _matches(query: Mapping[str, Any]) -> list[dict[str, Any]]:
        pkg = query.get("package", {})
        return [
            r for r in records if vulnerable(r, pkg.get("name", ""), str(query.get("version", "")))
        ]

    def _page(query: Mapping[str, Any]) -> dict[str, Any]:
        found = [{"id": r["id"], "modified": r.get("modified", "")} for r in _matches(query)]
        start = int(query.get("page_token") or 0)
        if page_size is None:
            return {"vulns": found} if found else {}
        page: dict[str, Any] = {"vulns": found[start : start + page_size]}
        if start + page_size < len(found):
            page["next_page_token"] = str(start + page_size)
        return page

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
