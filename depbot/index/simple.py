"""A PEP 503 (HTML) / PEP 691 (JSON) simple index, over HTTP(S) or a ``file://`` tree.

A page is read in one pass (``depbot.index.page``) and summarised per version. With a
``PageStore``, an entry younger than ``freshness`` seconds answers without a request; an
older one is revalidated with a conditional request (``If-None-Match`` /
``If-Modified-Since``), and ``freshness=0`` revalidates every page, whatever an earlier run
stored.

Every attempt at one page shares one deadline (``deadline`` seconds, ``index-timeout``): an
answer that says "try again" (429, 5xx), a connection or read error, a timeout and a truncated
body are retried with exponential backoff while attempts and time are left; a malformed page
(garbage, half written) is read once more, unconditionally, and then reported as malformed. A
page that still cannot be read raises IndexLookupError saying why, after how many attempts.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeGuard
from urllib.parse import unquote, urlsplit

from depbot.http import RETRY_STATUSES
from depbot.index.cache import PageEntry, PageStore
from depbot.index.interface import Index, IndexLookupError
from depbot.index.multi import summarise
from depbot.index.page import (
    JSON_TYPE,
    FileFields,
    MalformedPage,
    UnsupportedPage,
    by_version,
    json_files,
    parse_html,
)
from depbot.models import NormalizedName, Release

if TYPE_CHECKING:
    from depbot.index.http import IndexSession, Response

__all__ = ["ACCEPT", "DEADLINE", "LazySession", "SimpleIndex", "redacted"]

ACCEPT = f"{JSON_TYPE}, application/vnd.pypi.simple.v1+html;q=0.5, text/html;q=0.01"
DEADLINE = 30.0
"""Seconds one page may take, every attempt included (``index-timeout``)."""
# A malformed page may be a truncated or half-written one: it is read once more, unconditionally.
_PAGE_RETRY_DELAY = 0.2
_RETRY_STATUSES = frozenset(RETRY_STATUSES)
_CHUNK = 1 << 20
# Parsing is CPU under the GIL either way: one page at a time keeps one page's objects alive,
# not sixteen, and costs no time.
_PARSING = threading.Lock()


class _Transient(Exception):
    """A failure another attempt may not meet: a 429/5xx answer, a connection or read error,
    a timeout, a truncated body; ``reason`` says which, for the message."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SimpleIndex(Index):
    """One simple index at ``url`` (``…/simple/``); HTTP goes through ``session`` (a
    ``IndexSession`` or a ``LazySession``, without retries of its own); ``store`` (None:
    nothing remembered) keeps page entries, trusted for ``freshness`` seconds.

    One page gets up to ``attempts`` attempts within ``deadline`` seconds, each request waiting
    at most ``request_timeout`` seconds (and a third of the deadline) for the server, never past
    the deadline.
    """

    def __init__(
        self,
        url: str,
        session: IndexSession | LazySession,
        store: PageStore | None = None,
        freshness: float = 0.0,
        clock: Callable[[], float] = time.time,
        *,
        deadline: float = DEADLINE,
        attempts: int = 5,
        backoff: float = 0.25,
        request_timeout: float = 10.0,
    ) -> None:
        self.url = url if url.endswith("/") else url + "/"
        self.session = session
        self.store = store
        self.freshness = freshness
        self.clock = clock
        self.deadline = deadline
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.request_timeout = request_timeout
        self.shown = redacted(self.url)
        """The URL as messages show it: without the credentials a private index URL carries."""

    def __repr__(self) -> str:
        return f"SimpleIndex({self.shown!r})"

    def releases(self, name: NormalizedName) -> Sequence[Release]:
        """Every release on this index, ascending; () when the project is not on it."""
        page_url = f"{self.url}{name}/"
        if page_url.startswith("file:"):
            return _file_page(name, page_url)
        entry = self.store.read(page_url) if self.store is not None else None
        if self._trusted(entry):
            return entry.releases
        found = self._lookup(name, page_url, entry)
        if self.store is not None:
            self.store.write(page_url, found)
        return found.releases

    def fresh(self, name: NormalizedName) -> Sequence[Release] | None:
        page_url = f"{self.url}{name}/"
        if self.store is None or page_url.startswith("file:"):
            return None
        entry = self.store.read(page_url)
        return entry.releases if self._trusted(entry) else None

    def _trusted(self, entry: PageEntry | None) -> TypeGuard[PageEntry]:
        """Whether a cached page is young enough to answer without asking the index."""
        return entry is not None and 0 <= self.clock() - entry.fetched < self.freshness

    def _lookup(self, name: NormalizedName, page_url: str, known: PageEntry | None) -> PageEntry:
        """The page, attempted until it is read, the attempts run out or the deadline passes."""
        started = time.monotonic()
        deadline = started + self.deadline
        shown = f"{self.shown}{name}/"
        attempt = 0
        reread = False
        while True:
            attempt += 1
            try:
                return self._fetch(name, page_url, known, deadline)
            except MalformedPage as e:
                if reread or time.monotonic() + _PAGE_RETRY_DELAY >= deadline:
                    reason = self._scrub(str(e))
                    read = "read twice" if reread else "read once, no time left to read it again"
                    message = f"{name}: malformed page at {shown} ({read}): {reason}"
                    raise IndexLookupError(message) from e
                reread, known, pause = True, None, _PAGE_RETRY_DELAY
            except _Transient as e:
                pause = self.backoff * 2 ** (attempt - 1)
                if attempt >= self.attempts or time.monotonic() + pause >= deadline:
                    spent = time.monotonic() - started
                    tries = "1 attempt" if attempt == 1 else f"{attempt} attempts"
                    raise IndexLookupError(
                        f"{name}: {shown} {self._scrub(e.reason)} ({tries} in {spent:.1f} s;"
                        f" index-timeout is {self.deadline:g} s)"
                    ) from None
            time.sleep(pause)

    def _scrub(self, text: str) -> str:
        secret = urlsplit(self.url).netloc.rpartition("@")[0]
        return text.replace(secret, "***") if secret else text

    def _fetch(
        self, name: NormalizedName, page_url: str, known: PageEntry | None, deadline: float
    ) -> PageEntry:
        """One attempt; raises _Transient, MalformedPage or IndexLookupError."""
        from urllib3.exceptions import (
            HTTPError,
            IncompleteRead,
            NewConnectionError,
            ProtocolError,
            SSLError,
        )
        from urllib3.exceptions import TimeoutError as Urllib3Timeout

        headers = {"Accept": ACCEPT}
        if known is not None and known.etag:
            headers["If-None-Match"] = known.etag
        if known is not None and known.last_modified:
            headers["If-Modified-Since"] = known.last_modified
        shown = f"{self.shown}{name}/"
        # a third of the deadline at most: a request that hangs once leaves time for two more
        limit = min(self.request_timeout, self.deadline / 3)
        wait = max(0.05, min(limit, deadline - time.monotonic()))
        try:
            with self.session.get(page_url, headers=headers, stream=True, timeout=wait) as response:
                now = self.clock()
                status = response.status_code
                if status == 304 and known is not None:
                    return PageEntry(now, known.releases, known.etag, known.last_modified)
                if status == 404:
                    return PageEntry(now, ())
                if status in _RETRY_STATUSES:
                    raise _Transient(f"answered HTTP {status}")
                if status >= 400 or status == 304:
                    raise IndexLookupError(f"{name}: {shown} answered HTTP {status}")
                content_type = response.headers.get("Content-Type", "")
                etag = response.headers.get("ETag")
                modified = response.headers.get("Last-Modified")
                body = _read_body(response, deadline)
        except (IncompleteRead, ProtocolError) as e:
            # the connection closed before the body's announced end (IncompleteRead)
            raise _Transient(f"sent a truncated body ({_one_line(_cause(e))})") from e
        except (HTTPError, OSError) as e:
            cause = _cause(e)
            if isinstance(cause, (SSLError, ssl.SSLError)):
                reason = self._scrub(_one_line(cause))
                raise IndexLookupError(f"{name}: {shown} could not be read: {reason}") from None
            # urllib3 files a refused connection under its timeouts
            timed_out = isinstance(cause, (TimeoutError, Urllib3Timeout))
            if timed_out and not isinstance(cause, NewConnectionError):
                raise _Transient("timed out") from e
            raise _Transient(f"could not be read: {_one_line(cause)}") from e
        try:
            releases = _parse(name, content_type, body)
        except UnsupportedPage as e:
            raise IndexLookupError(f"{name}: {shown}: {self._scrub(str(e))}") from e
        return PageEntry(now, releases, etag, modified)


def _read_body(response: Response, deadline: float) -> bytes:
    """The whole body, read as it arrives (a server that trickles it cannot outlast the
    deadline by more than one read); one chunk is used as it is, not copied."""
    chunks = []
    while chunk := response.raw.read1(_CHUNK, decode_content=True):
        chunks.append(chunk)
        if time.monotonic() > deadline:
            raise _Transient("timed out while sending the page")
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _cause(error: BaseException) -> BaseException:
    """The innermost reason of an HTTP error that urllib3 wrapped."""
    seen = {id(error)}
    while True:
        inner = getattr(error, "reason", None)
        if not isinstance(inner, BaseException):
            last = error.args[-1] if error.args else None
            inner = last if isinstance(last, BaseException) else None
        if inner is None or id(inner) in seen:
            return error
        seen.add(id(inner))
        error = inner


def _one_line(error: BaseException) -> str:
    return " ".join((str(error) or type(error).__name__).split())


def _parse(name: NormalizedName, content_type: str, body: bytes) -> Sequence[Release]:
    kind = content_type.partition(";")[0].strip().lower()
    with _PARSING:
        if kind == JSON_TYPE:
            files: Iterable[FileFields] = json_files(body)
        elif kind in ("text/html", "application/vnd.pypi.simple.v1+html"):
            files = parse_html(body)
        else:
            raise MalformedPage(f"unexpected content type {kind!r}")
        return summarise(by_version(files, name))


class LazySession:
    """An ``IndexSession`` (``depbot.index.http.make_session``) made on the first request, so
    that a run answered from the page store builds no pool and no TLS context."""

    def __init__(self, pool_size: int = 16) -> None:
        self.pool_size = pool_size
        self._session: IndexSession | None = None
        self._lock = threading.Lock()

    def get(
        self,
        url: str,
        headers: Mapping[str, str],
        stream: bool = False,
        timeout: float | None = None,
    ) -> Response:
        with self._lock:
            if self._session is None:
                from depbot.index.http import make_session

                self._session = make_session(pool_size=self.pool_size)
            session = self._session
        return session.get(url, headers=headers, stream=stream, timeout=timeout)


def redacted(url: str) -> str:
    """``url`` without its user and password (``https://***@host/…``)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]).geturl()


def _file_page(name: NormalizedName, page_url: str) -> Sequence[Release]:
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
