"""What a partner wheel says it was built for: its ``Requires-Dist: torch==X``, from the index.

The ground truth of the compatibility table (``depbot.ml.compat``). The project page is read
for the wheel's URL; its core metadata comes from the PEP 658/714 file beside it
(``<wheel URL>.metadata``, announced by ``data-core-metadata`` or the older
``data-dist-info-metadata``, or ``core-metadata`` in PEP 691 JSON), else from the wheel itself
when it is small enough to read (partner wheels are a few MB; torch's own are not read).
"""

from __future__ import annotations

import io
import json
import threading
import time
import zipfile
from collections.abc import Callable
from email.parser import HeaderParser
from html.parser import HTMLParser
from typing import Any, NamedTuple
from urllib.parse import unquote, urljoin, urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

__all__ = ["MAX_WHEEL_BYTES", "Fetch", "MetadataReader", "http_fetch", "torch_pin_of"]

MAX_WHEEL_BYTES = 64 * 1024 * 1024
"""A wheel without a metadata file is read only up to this size."""

_ACCEPT = "application/vnd.pypi.simple.v1+json, text/html;q=0.5"
_JSON = "application/vnd.pypi.simple.v1+json"

Fetch = Callable[[str, str, int], tuple[int, str, bytes | None]]
"""GET ``url`` with an ``Accept`` header, reading at most ``limit`` bytes → (status, content
type, body; None when longer than the limit); raises OSError."""
_PAGE_LIMIT = 32 * 1024 * 1024
_CHUNK = 1 << 20


class _Link(NamedTuple):
    filename: str
    url: str
    has_metadata: bool


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.found.append(dict(attrs))


def _announced(value: object) -> bool:
    return value not in (None, False, "false")


def _links(page_url: str, content_type: str, body: bytes) -> list[_Link]:
    if content_type.partition(";")[0].strip() == _JSON:
        doc = json.loads(body)
        return [
            _Link(
                f["filename"],
                urljoin(page_url, f["url"]),
                _announced(f.get("core-metadata", f.get("dist-info-metadata"))),
            )
            for f in doc.get("files", [])
        ]
    parser = _Anchors()
    parser.feed(body.decode("utf-8", "replace"))
    links = []
    for attrs in parser.found:
        href = attrs.get("href")
        if not href:
            continue
        url = urljoin(page_url, href).partition("#")[0]
        metadata = attrs.get("data-core-metadata", attrs.get("data-dist-info-metadata"))
        filename = unquote(urlsplit(url).path.rpartition("/")[2])
        links.append(_Link(filename, url, _announced(metadata)))
    return links


def _wheel_version(filename: str) -> Version | None:
    if not filename.endswith(".whl"):
        return None
    parts = filename[:-4].split("-")
    try:
        return Version(parts[1]) if len(parts) >= 5 else None
    except InvalidVersion:
        return None


def torch_pin_of(metadata: str) -> Version | None:
    """The torch version a core metadata file pins exactly (``Requires-Dist: torch==X``)."""
    for line in HeaderParser().parsestr(metadata).get_all("Requires-Dist") or []:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if canonicalize_name(req.name) != "torch":
            continue
        exact = [s.version for s in req.specifier if s.operator == "==" and "*" not in s.version]
        if len(exact) == 1:
            return Version(exact[0])
    return None


def _metadata_in_wheel(data: bytes) -> str | None:
    with zipfile.ZipFile(io.BytesIO(data)) as wheel:
        for name in wheel.namelist():
            if name.count("/") == 1 and name.endswith(".dist-info/METADATA"):
                return wheel.read(name).decode("utf-8", "replace")
    return None


class MetadataReader:
    """Reads partner wheels' torch pins through ``fetch``, each page and file once."""

    def __init__(self, fetch: Fetch) -> None:
        self.fetch = fetch
        self._pages: dict[str, list[_Link]] = {}
        self._pins: dict[tuple[str, str, Version], Version | None] = {}
        self._lock = threading.Lock()

    def torch_pin(self, index_url: str, project: str, version: Version) -> Version | None:
        """The torch ``project`` ``version`` on ``index_url`` pins exactly; None when it pins
        none, has no wheel there, or the index cannot say (the table decides then)."""
        key = (index_url, canonicalize_name(project), version)
        with self._lock:
            if key in self._pins:
                return self._pins[key]
        try:
            found = self._read(index_url, canonicalize_name(project), version)
        except (OSError, ValueError, zipfile.BadZipFile):
            found = None
        with self._lock:
            self._pins[key] = found
        return found

    def _read(self, index_url: str, project: str, version: Version) -> Version | None:
        page_url = f"{index_url.rstrip('/')}/{project}/"
        if page_url not in self._pages:
            status, content_type, body = self.fetch(page_url, _ACCEPT, _PAGE_LIMIT)
            ok = status == 200 and body is not None
            self._pages[page_url] = _links(page_url, content_type, body or b"") if ok else []
        links = self._pages[page_url]
        wheels = [link for link in links if _wheel_version(link.filename) == version]
        wheels.sort(key=lambda link: not link.has_metadata)
        for link in wheels[:1]:
            if link.has_metadata:
                status, _, body = self.fetch(link.url + ".metadata", "*/*", _PAGE_LIMIT)
                if status == 200 and body is not None:
                    return torch_pin_of(body.decode("utf-8", "replace"))
            status, _, body = self.fetch(link.url, "*/*", MAX_WHEEL_BYTES)
            if status == 200 and body is not None:
                text = _metadata_in_wheel(body)
                return torch_pin_of(text) if text is not None else None
        return None


def http_fetch(pool_size: int = 4, timeout: float = 30.0) -> Fetch:
    """A Fetch over HTTP(S) through the index's session, made on its first use; one fetch
    takes at most ``timeout`` seconds (``index-timeout``), however slowly the server sends."""
    from depbot.index.simple import LazySession, redacted

    session = LazySession(pool_size)

    def fetch(url: str, accept: str, limit: int) -> tuple[int, str, bytes | None]:
        from urllib3.exceptions import HTTPError

        deadline = time.monotonic() + timeout
        try:
            with session.get(
                url, headers={"Accept": accept}, stream=True, timeout=min(15.0, timeout)
            ) as response:
                status = response.status_code
                content_type = response.headers.get("Content-Type", "")
                declared = response.headers.get("Content-Length", "")
                body: bytes | None = None
                if not (declared.isdigit() and int(declared) > limit):
                    body = _read_until(response.raw, limit + 1, deadline, redacted(url))
        except HTTPError as exc:
            raise OSError(str(exc)) from exc
        return status, content_type, body if body is not None and len(body) <= limit else None

    return fetch


def _read_until(raw: Any, limit: int, deadline: float, url: str) -> bytes:
    """Up to ``limit`` bytes of a streamed body, read as they come; TimeoutError past
    ``deadline`` (a server that trickles its answer cannot hold the plan)."""
    chunks, size = [], 0
    while size < limit and (chunk := raw.read1(min(_CHUNK, limit - size), decode_content=True)):
        chunks.append(chunk)
        size += len(chunk)
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} was still being sent when index-timeout ran out")
    return b"".join(chunks)
