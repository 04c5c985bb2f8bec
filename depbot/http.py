"""How depbot retries HTTP: one policy for the index and the advisory APIs (SPEC §9).

Connection errors, read errors and answers that say "try again" (429, 5xx) are retried with
exponential backoff; the last answer is returned, so the caller can report its status.
"""

from __future__ import annotations

from collections.abc import Collection

from urllib3.util.retry import Retry

__all__ = ["RETRY_STATUSES", "retry_policy"]

RETRY_STATUSES = (429, 500, 502, 503, 504)


def retry_policy(retries: int, backoff: float, methods: Collection[str] = ("GET",)) -> Retry:
    """A urllib3 Retry for ``methods`` only: a request is repeated only where that is safe."""
    return Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        backoff_factor=backoff,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset(methods),
        raise_on_status=False,
    )
