"""The HTTP session every index lookup goes through: retries, a timeout, an on-disk cache.

Retries (urllib3) cover connection and read errors and 500/502/503/504 answers of GET requests,
with exponential backoff. The cache (CacheControl) keeps pages on disk between runs: a page
younger than ``freshness`` seconds is used without asking the server; an older one is
revalidated with a conditional request (ETag / Last-Modified), which costs a round trip but
not the page.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import requests
from cachecontrol import CacheControlAdapter
from cachecontrol.cache import BaseCache
from cachecontrol.heuristics import BaseHeuristic
from requests import PreparedRequest, Response
from urllib3 import HTTPResponse

from depbot.http import retry_policy

__all__ = ["MinimumFreshness", "PageCache", "make_session"]


class MinimumFreshness(BaseHeuristic):
    """Treats a page as fresh for at least ``seconds`` unless the server says more.

    PyPI serves simple pages with ``max-age=600``; mirrors often send ``max-age=0``, which
    would make every run pay one round trip per package. ``no-store`` and ``no-cache`` are
    the server's explicit wish and are left alone.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = int(seconds)

    def update_headers(self, response: HTTPResponse) -> dict[str, str]:
        if self.seconds <= 0 or response.status not in (200, 203, 304):
            return {}
        directives = _directives(response.headers)
        if "no-store" in directives or "no-cache" in directives:
            return {}
        try:
            server_age = int(directives.get("max-age") or 0)
        except ValueError:
            server_age = 0
        if server_age >= self.seconds:
            return {}
        kept = [f"{k}={v}" if v else k for k, v in directives.items() if k != "max-age"]
        return {"Cache-Control": ", ".join([*kept, f"max-age={self.seconds}"])}

    def warning(self, response: HTTPResponse) -> str | None:
        return None


def _directives(headers: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in headers.get("Cache-Control", "").split(","):
        key, _, value = part.strip().partition("=")
        if key:
            out[key.lower()] = value.strip().strip('"')
    return out


class PageCache(BaseCache):
    """CacheControl's entries as flat files in ``directory``, each written atomically.

    CacheControl's own FileCache takes a file lock and creates five directory levels per
    entry; with hundreds of pages per run that bookkeeping cost about as much CPU as the
    request itself.
    A rename is atomic, and a lost race between two writers of one page only costs a download.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, key: str) -> Path:
        return self.directory / hashlib.sha224(key.encode()).hexdigest()

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except OSError:
            return None

    def set(self, key: str, value: bytes, expires: Any = None) -> None:
        path = self._path(key)
        temporary = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            temporary.write_bytes(value)
            temporary.replace(path)
        except OSError:
            # the cache is an optimisation: a read-only or full disk must not fail the lookup
            temporary.unlink(missing_ok=True)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


class _Adapter(CacheControlAdapter):
    """A CacheControl adapter that applies a default timeout to requests that set none."""

    def __init__(self, default_timeout: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.default_timeout = default_timeout

    def send(
        self,
        request: PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
        cacheable_methods: Collection[str] | None = None,
    ) -> Response:
        if timeout is None:
            timeout = self.default_timeout
        return super().send(request, stream, timeout, verify, cert, proxies, cacheable_methods)


def make_session(
    cache_dir: Path | None,
    retries: int = 4,
    backoff: float = 0.2,
    timeout: float = 15,
    pool_size: int = 16,
    freshness: float = 600,
) -> requests.Session:
    """A session for index pages: cached in ``cache_dir`` (None: in memory only), retried,
    with ``timeout`` seconds per request unless the caller gives one."""
    retry = retry_policy(retries, backoff)
    cache = PageCache(cache_dir) if cache_dir is not None else None
    adapter = _Adapter(
        timeout,
        cache=cache,
        heuristic=MinimumFreshness(freshness),
        max_retries=retry,
        pool_connections=pool_size,
        pool_maxsize=pool_size,
    )
    session = requests.Session()
    if freshness <= 0:
        # a page cached by an earlier run may carry a longer max-age (the heuristic's own, or the
        # server's): asking for max-age=0 makes every page revalidate, with a conditional request
        session.headers["Cache-Control"] = "max-age=0"
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
