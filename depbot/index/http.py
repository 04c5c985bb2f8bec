"""The HTTP session every index lookup goes through: a timeout, a connection pool, a name.

The index client retries by itself (``depbot.index.simple``: every attempt at a page within
one deadline), so its session has no retries of its own; ``retries`` (urllib3,
``depbot.http``) is for other callers. Caching is not done here: ``depbot.index.simple`` asks
with the validators ``depbot.index.cache`` remembered, so an unchanged page costs a 304.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from requests import PreparedRequest, Response
from requests.adapters import HTTPAdapter
from urllib3.util.ssl_ import create_urllib3_context

from depbot import __version__
from depbot.http import retry_policy

if TYPE_CHECKING:
    from requests.sessions import _Settings

__all__ = ["make_session"]


class _Adapter(HTTPAdapter):
    """An adapter that applies a default timeout to requests that set none and verifies TLS
    with one context per CA bundle.

    requests hands urllib3 the bundle's path, and urllib3 loads it into a new context for every
    connection: with a pool of 16 that cost about 50 ms of CPU and a megabyte or two each, more
    than downloading the pages.
    """

    def __init__(self, default_timeout: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.default_timeout = default_timeout
        self._contexts: dict[tuple[str | None, str | None], ssl.SSLContext] = {}
        self._contexts_lock = threading.Lock()

    def cert_verify(self, conn: Any, url: str, verify: bool | str, cert: Any) -> None:
        super().cert_verify(conn, url, verify, cert)  # type: ignore[no-untyped-call]
        ca_file, ca_dir = getattr(conn, "ca_certs", None), getattr(conn, "ca_cert_dir", None)
        if ca_file or ca_dir:
            conn.conn_kw["ssl_context"] = self._context(ca_file, ca_dir)
            conn.ca_certs = conn.ca_cert_dir = None

    def _context(self, ca_file: str | None, ca_dir: str | None) -> ssl.SSLContext:
        with self._contexts_lock:
            context = self._contexts.get((ca_file, ca_dir))
            if context is None:
                context = create_urllib3_context()  # verifies the peer and its host name
                context.load_verify_locations(cafile=ca_file, capath=ca_dir)
                self._contexts[(ca_file, ca_dir)] = context
            return context

    def send(
        self,
        request: PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> Response:
        if timeout is None:
            timeout = self.default_timeout
        return super().send(request, stream, timeout, verify, cert, proxies)


class _Session(requests.Session):
    """A session that reads the environment's settings for a host once, not per request.

    requests looks the proxies (``HTTP(S)_PROXY``, ``NO_PROXY``, the system's) and the CA
    bundle (``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``) up again for every request: for a plan
    that asks one index for 20 pages, that was a tenth of its CPU. The answer depends only on
    the environment and the URL's scheme and host, and the environment of a run does not
    change; a request that passes its own proxies, verify or cert is looked up as requests
    would.
    """

    def __init__(self) -> None:
        super().__init__()
        self._settings: dict[tuple[str, str], _Settings] = {}
        self._settings_lock = threading.Lock()

    def merge_environment_settings(
        self, url: str | bytes | None, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> _Settings:
        if proxies or verify is not None or cert is not None or not isinstance(url, str):
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        key = urlsplit(url)[:2]
        with self._settings_lock:
            known = self._settings.get(key)
        if known is None:
            known = super().merge_environment_settings(url, {}, None, None, None)
            with self._settings_lock:
                self._settings[key] = known
        # a copy each time: requests hands the proxies on, and they must not be shared
        merged = known.copy()
        merged["proxies"] = dict(known["proxies"])
        merged["stream"] = stream if stream is not None else known["stream"]
        return merged


def make_session(
    retries: int = 0, backoff: float = 0.2, timeout: float = 15, pool_size: int = 16
) -> requests.Session:
    """A session for index pages, with ``timeout`` seconds per request unless the caller gives
    one, keeping up to ``pool_size`` connections per host; ``retries`` urllib3 retries (none by
    default: the index client has its own, under one deadline)."""
    adapter = _Adapter(
        timeout,
        max_retries=retry_policy(retries, backoff),
        pool_connections=pool_size,
        pool_maxsize=pool_size,
    )
    session = _Session()
    # an index operator (and a fault-injecting test proxy) can tell depbot's lookups from pip's
    session.headers["User-Agent"] = f"depbot/{__version__} {requests.utils.default_user_agent()}"
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
