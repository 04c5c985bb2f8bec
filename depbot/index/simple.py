"""A PEP 503 (HTML) / PEP 691 (JSON) simple index, over HTTP(S) or a ``file://`` tree.

Pages are parsed by pypi-simple; the files of a page are summarised per version with
``merge_releases``. Retries of 5xx answers and timeouts happen in the session
(``depbot.index.http``); a page that still cannot be read raises IndexLookupError.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import requests
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from depbot.index.interface import Index, IndexLookupError
from depbot.index.multi import merge_releases
from depbot.models import NormalizedName, Release

if TYPE_CHECKING:
    from collections.abc import Iterable

    from pypi_simple import ProjectPage

__all__ = ["ACCEPT", "SimpleIndex", "redacted"]

# pypi_simple.ACCEPT_JSON_PREFERRED, spelled out so that a request does not wait for pypi-simple
# (and its HTML and JSON parsers) to be imported: the import overlaps the first round trips.
ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.5,"
    " text/html;q=0.01"
)
_PACKAGE_TYPES = frozenset({"wheel", "sdist"})
# A malformed page may be a truncated or half-written one: it is read once more, past the cache.
_PAGE_RETRY_DELAY = 0.2


class SimpleIndex(Index):
    """One simple index at ``url`` (``…/simple/``); HTTP goes through ``session``."""

    def __init__(self, url: str, session: requests.Session) -> None:
        self.url = url if url.endswith("/") else url + "/"
        self.session = session
        self.shown = redacted(self.url)
        """The URL as messages show it: without the credentials a private index URL carries."""

    def __repr__(self) -> str:
        return f"SimpleIndex({self.shown!r})"

    def releases(self, name: NormalizedName) -> tuple[Release, ...]:
        """Every release on this index, ascending; () when the project is not on it."""
        try:
            page = self._page(name, refetch=False)
        except _MalformedPage:
            time.sleep(_PAGE_RETRY_DELAY)
            try:
                page = self._page(name, refetch=True)
            except _MalformedPage as e:
                reason = self._scrub(str(e))
                raise IndexLookupError(f"{name}: malformed page at {self.shown}: {reason}") from e
        return () if page is None else merge_releases(_file_releases(page.packages))

    def _scrub(self, text: str) -> str:
        secret = urlsplit(self.url).netloc.rpartition("@")[0]
        return text.replace(secret, "***") if secret else text

    def _page(self, name: NormalizedName, refetch: bool) -> ProjectPage | None:
        page_url = f"{self.url}{name}/"
        if page_url.startswith("file:"):
            return _file_page(name, page_url)
        headers = {"Accept": ACCEPT}
        if refetch:
            headers["Cache-Control"] = "no-cache"
        shown = f"{self.shown}{name}/"
        try:
            response = self.session.get(page_url, headers=headers)
        except requests.RequestException as e:
            reason = self._scrub(str(e))
            raise IndexLookupError(f"{name}: {shown} could not be read: {reason}") from e
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise IndexLookupError(f"{name}: {shown} answered HTTP {response.status_code}")
        import pypi_simple  # here, not at the top: see ACCEPT

        try:
            return pypi_simple.ProjectPage.from_response(response, name)
        except (ValueError, pypi_simple.UnsupportedContentTypeError) as e:
            raise _MalformedPage(str(e)) from e
        except pypi_simple.UnsupportedRepoVersionError as e:
            raise IndexLookupError(f"{name}: {shown}: {self._scrub(str(e))}") from e


class _MalformedPage(Exception):
    pass


def redacted(url: str) -> str:
    """``url`` without its user and password (``https://***@host/…``)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]).geturl()


def _file_page(name: NormalizedName, page_url: str) -> ProjectPage | None:
    """A page of a PEP 503 directory tree (``<root>/<name>/index.html``), as pip mirrors lay
    them out."""
    directory = Path(url2pathname(unquote(urlsplit(page_url).path)))
    path = directory / "index.html"
    try:
        html = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise IndexLookupError(f"{name}: {path} could not be read: {e}") from e
    import pypi_simple  # here, not at the top: see ACCEPT

    try:
        return pypi_simple.ProjectPage.from_html(name, html, base_url=page_url)
    except ValueError as e:
        raise _MalformedPage(str(e)) from e


def _file_releases(packages: Iterable[Any]) -> list[Release]:
    """One Release per installable file whose version is PEP 440; other files are ignored."""
    out = []
    for p in packages:
        if p.package_type not in _PACKAGE_TYPES or p.version is None:
            continue
        try:
            version = Version(p.version)
        except InvalidVersion:
            continue
        out.append(Release(version, p.is_yanked, _requires_python(p.requires_python)))
    return out


def _requires_python(value: str | None) -> SpecifierSet | None:
    # pip ignores an invalid Requires-Python rather than refusing the file; so do we
    if not value or not value.strip():
        return None
    try:
        return SpecifierSet(value)
    except InvalidSpecifier:
        return None
