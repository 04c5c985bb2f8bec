"""The one module that talks to the GitHub REST API (through PyGithub), and where its settings
come from (SPEC §8).

Settings are read from an environment mapping handed in: the token from ``GITHUB_TOKEN`` or
``DEPBOT_GITHUB_TOKEN``, the repository from ``GITHUB_REPOSITORY`` or the ``origin`` URL, the API
base from ``GITHUB_API_URL``. The token is a ``Secret``: its ``repr`` and ``str`` hide it, and
every error message passes through ``Secret.scrub``. Rate limits (403/429 with ``Retry-After``
or ``X-RateLimit-Reset``) and 5xx answers are retried with backoff; every wait of one client is
drawn from one budget of seconds, after which the call fails naming itself.
"""

from __future__ import annotations

import base64
import hmac
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from github import Auth, Github, GithubException, GithubRetry
from github.Repository import Repository
from urllib3.exceptions import HTTPError as Urllib3Error

from depbot.errors import RunError

__all__ = [
    "DEFAULT_API_URL",
    "TOKEN_VARIABLES",
    "ApiBudget",
    "GitHubClient",
    "GitHubSettings",
    "Secret",
    "basic_credential",
    "github_settings",
    "parse_remote",
    "settings_from",
]

TOKEN_VARIABLES = ("GITHUB_TOKEN", "DEPBOT_GITHUB_TOKEN")
"""Where the token comes from; to be left out of the environment of every tool depbot runs."""
DEFAULT_API_URL = "https://api.github.com"
DEFAULT_SERVER_URL = "https://github.com"
_NAME = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+\Z")
_SCP = re.compile(r"(?:[^@/]+@)?(?P<host>[^:/]+):(?P<path>[^/].*)\Z")
T = TypeVar("T")


class Secret:
    """A token that never shows itself: ``repr``, ``str`` and f-strings give ``***``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The token, for the one call that sends it."""
        return self._value

    def scrub(self, text: str) -> str:
        """``text`` with the token, and the forms git and HTTP would carry it in, replaced."""
        if not self._value:
            return text
        forms = {self._value, basic_credential(self._value)}
        for form in sorted(forms, key=len, reverse=True):
            text = text.replace(form, "***")
        return text

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and hmac.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(Secret)

    def __reduce__(self) -> Any:
        raise TypeError("a Secret is not serialised")

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: object) -> Secret:
        return self


def basic_credential(token: str) -> str:
    """The value of a basic ``Authorization`` header for ``token`` (GitHub's git over HTTPS)."""
    return base64.b64encode(f"x-access-token:{token}".encode()).decode()


@dataclass(frozen=True)
class GitHubSettings:
    """Where and as whom depbot talks to GitHub."""

    token: Secret
    repository: str
    """``owner/name``."""
    api_url: str
    """The REST base without a trailing slash (``https://api.github.com``, ``…/api/v3``)."""
    server_url: str
    """The web and git base (``https://github.com``); the push's credential is scoped to it."""
    remote_is_github: bool
    """Whether ``origin`` points at this GitHub host (what ``--forge auto`` requires)."""

    @property
    def owner(self) -> str:
        return self.repository.split("/", 1)[0]


def settings_from(env: Mapping[str, str], origin: str | None) -> GitHubSettings | None:
    """GitHub settings from ``env`` and the ``origin`` URL; None without a token or without a
    repository (neither ``GITHUB_REPOSITORY`` nor an origin on a GitHub host).

    The hosts that count as GitHub are github.com and the hosts of ``GITHUB_SERVER_URL`` and
    ``GITHUB_API_URL``; a URL that merely contains "github" elsewhere is not one.
    """
    token = next((env[name] for name in TOKEN_VARIABLES if env.get(name)), "")
    if not token:
        return None
    server = (env.get("GITHUB_SERVER_URL") or "").rstrip("/")
    api = (env.get("GITHUB_API_URL") or "").rstrip("/")
    hosts = {"github.com"}
    for url in (server, api):
        host = urlsplit(url).hostname
        if host:
            hosts.add(host.lower())
    if api.startswith("https://api.") and not server:
        server = "https://" + api.removeprefix("https://api.")
    if server and not api:
        api = DEFAULT_API_URL if urlsplit(server).hostname == "github.com" else f"{server}/api/v3"
    parsed = parse_remote(origin) if origin else None
    on_github = parsed is not None and parsed[0] in hosts
    repository = env.get("GITHUB_REPOSITORY") or (parsed[1] if on_github and parsed else "")
    if not _NAME.match(repository):
        return None
    if not server:
        server = f"https://{parsed[0]}" if on_github and parsed else DEFAULT_SERVER_URL
    return GitHubSettings(
        token=Secret(token),
        repository=repository,
        api_url=api or DEFAULT_API_URL,
        server_url=server,
        remote_is_github=on_github,
    )


def parse_remote(url: str) -> tuple[str, str] | None:
    """``(host, "owner/name")`` of a git remote URL (https, ssh, scp-like ``git@host:o/n``);
    None for a local path, a ``file:`` URL, or a path that is not exactly owner/name."""
    parts = urlsplit(url)
    if parts.scheme in ("https", "http", "ssh", "git"):
        host, path = parts.hostname or "", parts.path
    elif not parts.scheme or len(parts.scheme) > 1:
        scp = _SCP.match(url) if "://" not in url else None
        if scp is None or url.startswith(("/", ".")):
            return None
        host, path = scp.group("host"), scp.group("path")
    else:
        return None
    name = path.strip("/").removesuffix(".git")
    if not host or not _NAME.match(name) or name.count("/") != 1:
        return None
    return host.lower(), name


def github_settings(repo: Path, env: Mapping[str, str]) -> GitHubSettings | None:
    """``settings_from`` with the ``origin`` URL of the git repository at ``repo``."""
    from depbot.forge.git import remote_url

    return settings_from(env, remote_url(repo, "origin"))


# ---------------------------------------------------------------------------- client


class BudgetSpent(Exception):
    """The retry budget of a client cannot cover the next wait."""

    def __init__(self, wait: float, left: float) -> None:
        super().__init__(f"needs a {wait:.0f} s wait; {left:.0f} s of the retry budget left")


class ApiBudget:
    """Seconds a client may spend waiting before retries, across all of its calls."""

    def __init__(self, seconds: float, sleep: Callable[[float], None] = time.sleep) -> None:
        self.seconds = seconds
        self.spent = 0.0
        self.waits: list[float] = []
        self._sleep = sleep

    def wait(self, seconds: float) -> None:
        seconds = max(seconds, 0.0)
        if self.spent + seconds > self.seconds:
            raise BudgetSpent(seconds, self.seconds - self.spent)
        self.spent += seconds
        self.waits.append(seconds)
        self._sleep(seconds)


class _BudgetRetry(GithubRetry):
    """GithubRetry (rate-limit aware) whose waits come out of an ApiBudget."""

    def __init__(self, budget: ApiBudget | None = None, **kwargs: Any) -> None:
        self.budget = budget or ApiBudget(0.0)
        super().__init__(**kwargs)

    def new(self, **kw: Any) -> _BudgetRetry:
        kw["budget"] = self.budget
        return super().new(**kw)

    def sleep(self, response: Any = None) -> None:
        wait = self.get_retry_after(response) if response is not None else None
        self.budget.wait(wait if wait is not None else self.get_backoff_time())


class GitHubClient:
    """PyGithub on one repository, every call wrapped so a failure is a RunError naming it."""

    def __init__(
        self,
        settings: GitHubSettings,
        *,
        budget: ApiBudget | None = None,
        retries: int = 6,
        backoff: float = 1.0,
        throttle: bool = True,
        timeout: int = 30,
    ) -> None:
        self.settings = settings
        self.budget = budget or ApiBudget(300.0)
        retry = _BudgetRetry(
            budget=self.budget,
            total=retries,
            backoff_factor=backoff,
            backoff_max=60,
            status_forcelist=[429, *range(500, 600)],
            allowed_methods=frozenset({"GET", "POST", "PATCH", "PUT", "DELETE"}),
            max_rate_limit_wait=self.budget.seconds,
        )
        self.github = Github(
            auth=Auth.Token(settings.token.reveal()),
            base_url=settings.api_url,
            retry=retry,
            timeout=timeout,
            per_page=100,
            lazy=True,
            # GitHub asks integrations to pace writes; tests turn this off
            seconds_between_requests=0.25 if throttle else None,
            seconds_between_writes=1.0 if throttle else None,
        )
        self.repo: Repository = self.github.get_repo(settings.repository)

    def call(self, what: str, action: Callable[[], T], error: type[RunError] = RunError) -> T:
        """``action()``; any API failure after retries raises ``error`` naming ``what``."""
        try:
            return action()
        except GithubException as exc:
            raise error(self._say(what, _describe(exc))) from None
        except BudgetSpent as exc:
            raise error(self._say(what, f"rate limited or failing: {exc}")) from None
        except (requests.RequestException, Urllib3Error) as exc:
            raise error(self._say(what, _transport(exc))) from None

    def dispatch(self, event_type: str, payload: Mapping[str, Any]) -> None:
        """``POST /repos/{owner}/{repo}/dispatches``: a ``repository_dispatch`` event (at most
        10 top-level payload keys, GitHub's limit). Raises RunError when GitHub refuses."""
        if len(payload) > 10:
            raise RunError(f"a repository_dispatch payload has at most 10 keys, not {len(payload)}")
        repo = self.repo
        body = {"event_type": event_type, "client_payload": dict(payload)}
        # PyGithub's create_repository_dispatch answers False on a refusal; this raises
        self.call(
            f"send the repository_dispatch {event_type!r}",
            lambda: repo.requester.requestJsonAndCheck(
                "POST", f"{repo.url}/dispatches", input=body
            ),
        )

    def _say(self, what: str, why: str) -> str:
        text = f"GitHub API ({self.settings.repository}): {what} failed: {why}"
        return self.settings.token.scrub(text)


def _describe(exc: GithubException) -> str:
    data = exc.data if isinstance(exc.data, Mapping) else {}
    message = str(data.get("message") or "no message")
    details = [
        str(e.get("message") or e.get("code"))
        for e in data.get("errors") or []
        if isinstance(e, Mapping)
    ]
    tail = f" ({'; '.join(details)})" if details else ""
    return f"{exc.status} {message}{tail}"


def _transport(exc: Exception) -> str:
    # the text of a transport error repeats URLs; name the kind and the last status only
    reason = getattr(exc, "reason", None) or (exc.args[0] if exc.args else None)
    inner = getattr(reason, "reason", reason)
    if "too many" in str(inner).lower() and "error response" in str(inner).lower():
        status = re.search(r"too many (\d+) error", str(inner))
        return f"retries exhausted ({status.group(1)} answers)" if status else "retries exhausted"
    return f"{type(exc).__name__}: retries exhausted or no answer"
