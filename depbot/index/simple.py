"""A PEP 503 (HTML) / PEP 691 (JSON) simple index, over HTTP(S) or a ``file://`` tree.

A page is read in one pass (``depbot.index.page``) and summarised per version. With a
``PageStore``, an entry younger than ``freshness`` seconds answers without a request; an
older one is revalidated with a conditional request (``If-None-Match`` /
``If-Modified-Since``), and ``freshness=0`` revalidates every page, whatever an earlier run
stored. Retries of 5xx answers and timeouts happen in the session (``depbot.index.http``); a
page that still cannot be read raises IndexLookupError.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from depbot.index.cache import PageEntry, PageStore
from depbot.index.interface import Index, IndexLookupError
from depbot.index.multi import summarise
from depbot.index.page import (
    JSON_TYPE,
    MalformedPage,
    UnsupportedPage,
    by_version,
    parse_html,
    parse_json,
)
from depbot.models import NormalizedName, Release

if TYPE_CHECKING:
    import requests

__all__ = ["ACCEPT", "LazySession", "SimpleIndex", "redacted"]

ACCEPT = f"{JSON_TYPE}, application/vnd.pypi.simple.v1+html;q=0.5, text/html;q=0.01"
# A malformed page may be a truncated or half-written one: it is read once more, unconditionally.
_PAGE_RETRY_DELAY = 0.2
# Parsing is CPU under the GIL either way: one page at a time keeps one page's objects alive,
# not sixteen, and costs no time.
_PARSING = threading.Lock()


class SimpleIndex(Index):
    """One simple index at ``url`` (``…/simple/``); HTTP goes through ``session`` (a
    ``requests.Session`` or a ``LazySession``); ``store`` (None: nothing remembered) keeps page
    entries, trusted for ``freshness`` seconds.
    """

    def __init__(
        self,
        url: str,
        session: requests.Session | LazySession,
        store: PageStore | None = None,
        freshness: float = 0.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = url if url.endswith("/") else url + "/"
        self.session = session
        self.store = store
        self.freshness = freshness
        self.clock = clock
        self.shown = redacted(self.url)
        """The URL as messages show it: without the credentials a private index URL carries."""

    def __repr__(self) -> str:
        return f"SimpleIndex({self.shown!r})"

    def releases(self, name: NormalizedName) -> tuple[Release, ...]:
        """Every release on this index, ascending; () when the project is not on it."""
        page_url = f"{self.url}{name}/"
        if page_url.startswith("file:"):
            return _file_page(name, page_url)
        entry = self.store.read(page_url) if self.store is not None else None
        if entry is not None and 0 <= self.clock() - entry.fetched < self.freshness:
            return entry.releases
        try:
            found = self._fetch(name, page_url, entry)
        except MalformedPage:
            time.sleep(_PAGE_RETRY_DELAY)
            try:
                found = self._fetch(name, page_url, None)
            except MalformedPage as e:
                reason = self._scrub(str(e))
                raise IndexLookupError(f"{name}: malformed page at {self.shown}: {reason}") from e
        if self.store is not None:
            self.store.write(page_url, found)
        return found.releases

    def _scrub(self, text: str) -> str:
        secret = urlsplit(self.url).netloc.rpartition("@")[0]
        return text.replace(secret, "***") if secret else text

    def _fetch(self, name: NormalizedName, page_url: str, known: PageEntry | None) -> PageEntry:
        import requests  # here: a run answered from the store never needs it
        from urllib3.exceptions import HTTPError

        headers = {"Accept": ACCEPT}
        if known is not None and known.etag:
            headers["If-None-Match"] = known.etag
        if known is not None and known.last_modified:
            headers["If-Modified-Since"] = known.last_modified
        shown = f"{self.shown}{name}/"
        try:
            with self.session.get(page_url, headers=headers, stream=True) as response:
                now = self.clock()
                status = response.status_code
                if status == 304 and known is not None:
                    return PageEntry(now, known.releases, known.etag, known.last_modified)
                if status == 404:
                    return PageEntry(now, ())
                if status >= 400 or status == 304:
                    raise IndexLookupError(f"{name}: {shown} answered HTTP {status}")
                content_type = response.headers.get("Content-Type", "")
                etag = response.headers.get("ETag")
                modified = response.headers.get("Last-Modified")
                # in one piece: ``response.content`` joins 10 kB chunks, holding the page twice
                body = response.raw.read(decode_content=True)
        except (requests.RequestException, HTTPError) as e:
            reason = self._scrub(str(e))
            raise IndexLookupError(f"{name}: {shown} could not be read: {reason}") from e
        try:
            releases = _parse(name, content_type, body)
        except UnsupportedPage as e:
            raise IndexLookupError(f"{name}: {shown}: {self._scrub(str(e))}") from e
        return PageEntry(now, releases, etag, modified)


def _parse(name: NormalizedName, content_type: str, body: bytes) -> tuple[Release, ...]:
    kind = content_type.partition(";")[0].strip().lower()
    with _PARSING:
        if kind == JSON_TYPE:
            files = parse_json(body)
        elif kind in ("text/html", "application/vnd.pypi.simple.v1+html"):
            files = parse_html(body)
        else:
            raise MalformedPage(f"unexpected content type {kind!r}")
        return summarise(by_version(files, name))


class LazySession:
    """A ``requests.Session`` (``depbot.index.http.make_session``) made on the first request,
    so that a run answered from the page store never imports the HTTP client."""

    def __init__(self, pool_size: int = 16) -> None:
        self.pool_size = pool_size
        self._session: requests.Session | None = None
        self._lock = threading.Lock()

    def get(self, url: str, headers: Mapping[str, str], stream: bool = False) -> requests.Response:
        with self._lock:
            if self._session is None:
                from depbot.index.http import make_session

                self._session = make_session(pool_size=self.pool_size)
        return self._session.get(url, headers=headers, stream=stream)


def redacted(url: str) -> str:
    """``url`` without its user and password (``https://***@host/…``)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]).geturl()


def _file_page(name: NormalizedName, page_url: str) -> tuple[Release, ...]:
    """A page of a PEP 503 directory tree (``<root>/<name>/index.html``), as pip mirrors lay
    them out; read on every lookup (it is local)."""
    from urllib.request import url2pathname  # here: it imports half of the HTTP stack

    directory = Path(url2pathname(unquote(urlsplit(page_url).path)))
    path = directory / "index.html"
    try:
        body = path.read_bytes()
    except FileNotFoundError:
        return ()
    except OSError as e:
        raise IndexLookupError(f"{name}: {path} could not be read: {e}") from e
    try:
        return summarise(by_version(parse_html(body), name))
    except (MalformedPage, UnsupportedPage) as e:
        raise IndexLookupError(f"{name}: {path}: {e}") from e
