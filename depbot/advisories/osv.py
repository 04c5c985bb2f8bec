"""The ``osv`` source: the OSV API (``querybatch`` for ids, then ``vulns/{id}`` per record).

``querybatch`` answers only ids, so each distinct record is fetched in full afterwards, a few
at a time. Transient failures (connection errors, timeouts, 5xx) are retried with backoff by
urllib3 on a session this module builds; a session passed in is used as its owner set it up.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

from depbot.advisories.interface import AdvisorySource, AdvisorySourceError
from depbot.advisories.osv_records import parse_osv
from depbot.http import retry_policy
from depbot.models import Advisory, Lockfile, NormalizedName

__all__ = ["BATCH_LIMIT", "OSVSource"]

BATCH_LIMIT = 1000
"""The most queries the OSV API accepts in one ``querybatch`` request."""


class OSVSource(AdvisorySource):
    """Advisories for the pinned versions, from the OSV API at ``api_url`` (``…/v1``)."""

    spec = "osv"

    def __init__(
        self,
        api_url: str,
        session: requests.Session | None = None,
        *,
        retries: int = 4,
        backoff: float = 0.5,
        timeout: float = 30.0,
        workers: int = 8,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        self.workers = workers
        self.session = session if session is not None else _retrying_session(retries, backoff)

    def advisories(self, lockfiles: Sequence[Lockfile]) -> list[Advisory]:
        """The OSV records affecting some pinned version, as advisories of the pinned packages.

        Raises AdvisorySourceError when the API cannot answer after retries.
        """
        pins = sorted({(str(p.name), p.version.public) for lock in lockfiles for p in lock.pins})
        if not pins:
            return []
        ids = self._query_ids(pins)
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            records = list(pool.map(self._record, sorted(ids)))
        pinned: set[NormalizedName] = {p.name for lock in lockfiles for p in lock.pins}
        found: list[Advisory] = []
        for record in records:
            found.extend(a for a in parse_osv(record, self.spec) if a.package in pinned)
        return found

    def _query_ids(self, pins: Sequence[tuple[str, str]]) -> set[str]:
        ids: set[str] = set()
        pending: list[tuple[str, str, str | None]] = [(n, v, None) for n, v in pins]
        while pending:
            chunk, pending = pending[:BATCH_LIMIT], pending[BATCH_LIMIT:]
            queries = [_query(name, version, token) for name, version, token in chunk]
            answer = self._call("POST", "/querybatch", {"queries": queries})
            results = answer.get("results")
            if not isinstance(results, list) or len(results) != len(chunk):
                raise AdvisorySourceError(
                    f"OSV API at {_redact(self.api_url)}: querybatch answered"
                    f" {len(results) if isinstance(results, list) else 'no'} results"
                    f" for {len(chunk)} queries"
                )
            for (name, version, _), result in zip(chunk, results, strict=True):
                ids.update(_ids(result, self.api_url))
                token = result.get("next_page_token") if isinstance(result, Mapping) else None
                if token:
                    pending.append((name, version, str(token)))
        return ids

    def _record(self, vuln_id: str) -> Mapping[str, Any]:
        return self._call("GET", f"/vulns/{quote(vuln_id, safe='')}", None)

    def _call(self, method: str, path: str, body: object) -> Mapping[str, Any]:
        where = f"OSV API at {_redact(self.api_url)}"
        try:
            response = self.session.request(
                method, self.api_url + path, json=body, timeout=self.timeout
            )
        except requests.RequestException as exc:
            # the exception text repeats the URL, which may carry credentials: name the kind only
            raise AdvisorySourceError(
                f"{where} did not answer {method} {path}: {type(exc).__name__}"
            ) from None
        if response.status_code != 200:
            raise AdvisorySourceError(f"{where} answered {response.status_code} to {method} {path}")
        try:
            data = response.json()
        except ValueError:
            raise AdvisorySourceError(f"{where} answered {method} {path} with no JSON") from None
        if not isinstance(data, Mapping):
            raise AdvisorySourceError(f"{where} answered {method} {path} with no JSON object")
        return data


def _retrying_session(retries: int, backoff: float) -> requests.Session:
    # OSV's POST endpoints are queries without side effects: safe to repeat
    retry = retry_policy(retries, backoff, ("GET", "POST"))
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry, pool_maxsize=16)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _query(name: str, version: str, token: str | None) -> dict[str, Any]:
    query: dict[str, Any] = {
        "package": {"name": name, "ecosystem": "PyPI"},
        "version": version,
    }
    if token is not None:
        query["page_token"] = token
    return query


def _ids(result: object, api_url: str) -> Iterable[str]:
    if not isinstance(result, Mapping):
        raise AdvisorySourceError(f"OSV API at {_redact(api_url)}: a result is not an object")
    vulns = result.get("vulns") or []
    if not isinstance(vulns, list):
        raise AdvisorySourceError(f"OSV API at {_redact(api_url)}: 'vulns' is not a list")
    for vuln in vulns:
        vid = vuln.get("id") if isinstance(vuln, Mapping) else None
        if not isinstance(vid, str) or not vid:
            raise AdvisorySourceError(f"OSV API at {_redact(api_url)}: a vuln without an id")
        yield vid


def _redact(url: str) -> str:
    """``url`` without user information or query string, which is where secrets would be."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))
