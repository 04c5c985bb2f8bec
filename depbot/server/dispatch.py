"""The one GitHub call of ``depbot serve --dispatch``: ``POST /repos/{owner}/{repo}/dispatches``.

It starts the repository's own ``deps.yml`` (``repository_dispatch`` of type
``security-advisory``). PyGithub's ``Repository.create_repository_dispatch`` answers only
True/False and so hides the status that tells a retry (5xx, 429, a rate limit) from a refusal
(404, 403); the same POST therefore goes through the client's requester, status checked.
The token is handed to the client and nowhere else: it never reaches an error message.
"""

from __future__ import annotations

from collections.abc import Mapping

import requests
from github import Auth, Github, GithubException

from depbot.errors import RunError

__all__ = ["DEFAULT_API_URL", "EVENT_TYPE", "DispatchError", "send_dispatch"]

EVENT_TYPE = "security-advisory"
DEFAULT_API_URL = "https://api.github.com"


class DispatchError(RunError):
    """GitHub did not accept the dispatch; ``transient`` when trying again later may help."""

    def __init__(self, message: str, *, transient: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.retry_after = retry_after
        """Seconds GitHub asked to wait (``Retry-After``), when it said."""


def send_dispatch(
    repository: str,
    client_payload: Mapping[str, object],
    *,
    token: str,
    api_url: str = DEFAULT_API_URL,
    timeout: float = 15.0,
) -> None:
    """Sends the ``security-advisory`` dispatch to ``repository`` (``owner/name``).

    Raises DispatchError: transient for a network error, a 5xx, a 429 or a rate-limited 403;
    permanent for any other refusal (404: no such repository or no access; 403; 422).
    """
    gh = Github(
        auth=Auth.Token(token),
        base_url=api_url.rstrip("/"),
        timeout=int(timeout),
        retry=None,  # the worker retries, durably, with its own backoff
        seconds_between_requests=None,
        seconds_between_writes=None,
    )
    body = {"event_type": EVENT_TYPE, "client_payload": dict(client_payload)}
    try:
        gh.requester.requestJsonAndCheck("POST", f"/repos/{repository}/dispatches", input=body)
    except GithubException as exc:
        raise _refusal(repository, exc, token) from None
    except requests.RequestException as exc:
        reason = _redact(type(exc).__name__, token)
        message = f"{repository}: GitHub unreachable ({reason})"
        raise DispatchError(message, transient=True) from None
    finally:
        gh.close()


def _refusal(repository: str, exc: GithubException, token: str) -> DispatchError:
    status = exc.status
    headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
    data = exc.data if isinstance(exc.data, dict) else {}
    message = _redact(str(data.get("message", "")), token)[:200]
    retry_after = _seconds(headers.get("retry-after"))
    rate_limited = headers.get("x-ratelimit-remaining") == "0" or retry_after is not None
    transient = status >= 500 or status == 429 or (status == 403 and rate_limited)
    text = f"{repository}: GitHub answered {status}" + (f" ({message})" if message else "")
    return DispatchError(text, transient=transient, retry_after=retry_after)


def _seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _redact(text: str, token: str) -> str:
    return text.replace(token, "***") if token else text
