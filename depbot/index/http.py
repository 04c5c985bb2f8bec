"""The HTTP client every index lookup goes through: urllib3, a default timeout, a connection
pool per host, one TLS context, and what the environment says read once per host.

Not requests: importing it cost a cold plan about 30 ms on its critical path (the first page
cannot be asked for before), and it looks proxies, ``NO_PROXY`` and the CA bundle up again for
every request. What it did for the index is kept:

- proxies from ``http_proxy`` / ``https_proxy`` / ``all_proxy`` (either case), bypassed for the
  hosts of ``no_proxy`` (names and their subdomains, ``host:port``, IP networks, ``*``);
- credentials in the index URL (``https://user:token@host/…``) or, failing those, in
  ``~/.netrc`` (or ``$NETRC``), sent as HTTP Basic; never to another host after a redirect;
- TLS verified against ``REQUESTS_CA_BUNDLE`` or ``CURL_CA_BUNDLE``, else certifi's bundle,
  loaded into one context that every connection shares (urllib3 loads a bundle path anew for
  each connection: with a pool of 16, more CPU than downloading the pages);
- redirects followed.

The index client retries by itself (``depbot.index.simple``: every attempt at a page within one
deadline), so this session has no retries of its own by default; ``retries`` (the urllib3
policy of ``depbot.http``) is for other callers. Caching is not done here: the index client
asks with the validators ``depbot.index.cache`` remembered, so an unchanged page costs a 304.
"""

from __future__ import annotations

import ipaddress
import netrc
import os
import ssl
import threading
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit

import urllib3
from urllib3.util import Timeout, make_headers
from urllib3.util.ssl_ import create_urllib3_context

from depbot import __version__
from depbot.http import retry_policy

__all__ = ["IndexSession", "Response", "make_session"]

_REDIRECTS = 10


class Response:
    """One answer: its status, its headers and its body, read as it arrives from ``raw`` (the
    urllib3 response). A with-block gives the connection back (closed, if the body was not
    read to its end)."""

    def __init__(self, raw: urllib3.BaseHTTPResponse) -> None:
        self.raw = raw

    @property
    def status_code(self) -> int:
        return self.raw.status

    @property
    def ok(self) -> bool:
        return self.status_code < 400

    @property
    def headers(self) -> Mapping[str, str]:
        """Case-insensitive."""
        return self.raw.headers

    @property
    def content(self) -> bytes:
        return self.raw.data

    @property
    def text(self) -> str:
        charset = "utf-8"
        for parameter in self.headers.get("Content-Type", "").split(";")[1:]:
            key, _, value = parameter.strip().partition("=")
            if key.lower() == "charset" and value:
                charset = value.strip('"')
        return self.content.decode(charset, "replace")

    def close(self) -> None:
        if not self.raw.closed:
            self.raw.close()  # a body left unread must not reach the next request
        self.raw.release_conn()

    def __enter__(self) -> Response:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class IndexSession:
    """GET requests with the environment's proxies, credentials and CA bundle (``environ``:
    the process's by default), ``timeout`` seconds unless the caller gives one, and up to
    ``pool_size`` connections per host."""

    def __init__(
        self,
        retries: int = 0,
        backoff: float = 0.2,
        timeout: float = 15,
        pool_size: int = 16,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.environ = os.environ if environ is None else environ
        self.timeout = timeout
        self.pool_size = pool_size
        # every kind of error bounded by ``retries``, redirects by their own count
        policy = retry_policy(retries, backoff)
        self.retries = policy.new(total=None, other=retries, redirect=_REDIRECTS)
        # an index operator (and a fault-injecting test proxy) can tell depbot's lookups from pip's
        self.user_agent = f"depbot/{__version__}"
        self._lock = threading.Lock()
        self._context: ssl.SSLContext | None = None
        self._managers: dict[tuple[str | None, bool], urllib3.PoolManager] = {}
        self._routes: dict[tuple[str, str], tuple[str | None, str | None]] = {}

    def get(
        self,
        url: str,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
        timeout: float | None = None,
    ) -> Response:
        """The answer to ``GET url`` (``stream``: its body not read yet); urllib3's errors
        (``urllib3.exceptions.HTTPError``) when there is none."""
        parts = urlsplit(url)
        proxy, auth = self._route(parts.scheme, parts.netloc)
        sent = {"User-Agent": self.user_agent, **(headers or {})}
        if auth is not None and "Authorization" not in sent:
            sent["Authorization"] = auth
        if parts.username is not None or parts.password is not None:
            url = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
        seconds = self.timeout if timeout is None else timeout
        raw = self._manager(proxy, parts.scheme == "https").request(
            "GET",
            url,
            headers=sent,
            timeout=Timeout(connect=seconds, read=seconds),
            retries=self.retries,
            preload_content=not stream,
            decode_content=True,
        )
        return Response(raw)

    def _route(self, scheme: str, netloc: str) -> tuple[str | None, str | None]:
        """The proxy URL (None: straight there) and the Authorization header for a host."""
        key = (scheme, netloc)
        with self._lock:
            known = self._routes.get(key)
        if known is None:
            known = (_proxy(self.environ, scheme, netloc), _basic_auth(self.environ, netloc))
            with self._lock:
                self._routes[key] = known
        return known

    def _manager(self, proxy: str | None, secure: bool) -> urllib3.PoolManager:
        """The pools for HTTPS (``secure``) or plain HTTP URLs through ``proxy``: only the
        former need the TLS context, whose bundle takes tens of milliseconds to load."""
        with self._lock:
            manager = self._managers.get((proxy, secure))
            if manager is None:
                kw: dict[str, Any] = {"num_pools": self.pool_size, "maxsize": self.pool_size}
                if secure:
                    if self._context is None:
                        self._context = _tls_context(self.environ)
                    kw["ssl_context"] = self._context
                if proxy is None:
                    manager = urllib3.PoolManager(**kw)
                else:
                    login = _login(urlsplit(proxy))
                    if login is not None:
                        kw["proxy_headers"] = make_headers(proxy_basic_auth=login)
                    manager = urllib3.ProxyManager(proxy, **kw)
                self._managers[(proxy, secure)] = manager
            return manager


make_session = IndexSession
"""A session for index pages: the name its callers know."""


def _tls_context(environ: Mapping[str, str]) -> ssl.SSLContext:
    bundle = environ.get("REQUESTS_CA_BUNDLE") or environ.get("CURL_CA_BUNDLE")
    if not bundle:
        import certifi  # here: a run answered from the store never needs it

        bundle = certifi.where()
    context = create_urllib3_context()  # verifies the peer and its host name
    if Path(bundle).is_dir():
        context.load_verify_locations(capath=bundle)
    else:
        context.load_verify_locations(cafile=bundle)
    return context


def _proxy(environ: Mapping[str, str], scheme: str, netloc: str) -> str | None:
    """The proxy for ``scheme://netloc`` that the environment names, as curl and requests
    read it; None when there is none or ``no_proxy`` says to go straight there."""

    def variable(name: str) -> str:
        lower = environ.get(name, "")
        if lower or (name == "http_proxy" and "REQUEST_METHOD" in environ):
            return lower  # a CGI program's HTTP_PROXY is the client's Proxy: header
        return environ.get(name.upper(), "")

    proxy = variable(f"{scheme}_proxy") or variable("all_proxy")
    if not proxy or _bypassed(variable("no_proxy"), netloc, scheme):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


def _bypassed(no_proxy: str, netloc: str, scheme: str) -> bool:
    parts = urlsplit(f"//{netloc}")
    host = parts.hostname or ""
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        port = None
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        if not entry:
            continue
        if entry == "*":
            return True
        if address is not None:
            try:
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                pass
        name = entry.lstrip(".")
        if host == name or host.endswith(f".{name}") or f"{host}:{port}" == name:
            return True
    return False


def _basic_auth(environ: Mapping[str, str], netloc: str) -> str | None:
    """The Authorization header for the credentials in ``netloc``, else for ``netloc``'s host
    in the netrc file; None when there are none."""
    parts = urlsplit(f"//{netloc}")
    login = _login(parts) or _netrc_login(environ, parts.hostname or "")
    return None if login is None else make_headers(basic_auth=login)["authorization"]


def _login(parts: SplitResult) -> str | None:
    """``user:password`` of a URL that carries them (percent-decoded); None otherwise."""
    if parts.username is None:
        return None
    return f"{unquote(parts.username)}:{unquote(parts.password or '')}"


def _netrc_login(environ: Mapping[str, str], host: str) -> str | None:
    given = environ.get("NETRC")
    candidates = [Path(given)] if given else [Path("~/.netrc"), Path("~/_netrc")]
    for candidate in candidates:
        try:
            path = candidate.expanduser()
            if not path.is_file():
                continue
            entry = netrc.netrc(str(path)).authenticators(host)
        except (OSError, netrc.NetrcParseError, RuntimeError):
            # RuntimeError: no home folder to expand ~ in; an unreadable netrc is no netrc
            continue
        if entry is not None:
            login, account, password = entry
            return f"{login or account or ''}:{password or ''}"
        return None
    return None
