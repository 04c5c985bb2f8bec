"""A fake GitHub REST API on 127.0.0.1: pulls, issues, labels, comments, Dependabot alerts,
repository dispatches, with GitHub's response shapes, errors, pagination and rate-limit headers.

    with FakeGitHub(token="t0k", bare=origin) as gh:   # gh.api == "http://127.0.0.1:PORT/api/v3"
        ...                                            # gh.requests: every request, in order

Objects carry absolute ``url``/``issue_url`` fields pointing back here (PyGithub follows them
and checks host, port and prefix). ``bare`` is the git repository playing GitHub's side of
``origin``: a pull request's head must exist there, and its ``head.sha`` is read from it.
``fail(method, pattern, *answers)`` queues answers (status, headers, body) that the next
matching requests get before the real one: rate limits, 5xx. ``alerts_enabled = False`` makes
the Dependabot alerts endpoint answer 403 like a repository with alerts turned off.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

__all__ = ["DOCS", "FakeGitHub", "Recorded", "alert", "iter_bodies"]

DOCS = "https://docs.github.com/rest"
WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
_STAMP = "2026-01-01T00:00:00Z"
_BOT = {"login": "github-actions[bot]", "id": 41898282, "type": "Bot", "site_admin": False}


@dataclass(frozen=True)
class Recorded:
    """One request as the fake saw it."""

    method: str
    path: str
    """Without the ``/api/v3`` prefix and without the query."""
    query: dict[str, str]
    body: bytes
    headers: dict[str, str]

    @property
    def write(self) -> bool:
        return self.method in WRITE_METHODS

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class _Repo:
    full_name: str
    default_branch: str = "main"
    items: dict[int, dict[str, Any]] = field(default_factory=dict)
    """Issues and pull requests share one numbering, as on GitHub."""
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    labels: dict[str, dict[str, Any]] = field(default_factory=dict)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    dispatches: list[dict[str, Any]] = field(default_factory=list)


class _Answer(Exception):
    def __init__(self, status: int, body: Any = None, headers: dict[str, str] | None = None):
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


def _error(status: int, message: str, **extra: Any) -> _Answer:
    body = {"message": message, "documentation_url": DOCS, **extra, "status": str(status)}
    return _Answer(status, body)


class FakeGitHub:
    """The fake API for one repository ``owner/name`` (``full_name``), authorised by ``token``."""

    def __init__(
        self,
        full_name: str = "octo/proj",
        *,
        token: str = "fake-token",  # noqa: S107 - the fake's own credential
        bare: Path | None = None,
    ) -> None:
        self.repo = _Repo(full_name)
        self.token = token
        self.bare = bare
        self.requests: list[Recorded] = []
        self.alerts_enabled = True
        self.page_size_cap = 100
        self._faults: list[tuple[str, re.Pattern[str], list[tuple[int, dict[str, str], Any]]]] = []
        self._lock = threading.Lock()
        self._next_id = 1000
        self._remaining = 5000
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        port = self._server.server_address[1]
        self.web = f"http://127.0.0.1:{port}"
        self.api = f"{self.web}/api/v3"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeGitHub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ------------------------------------------------------------------ for tests

    def fail(self, method: str, pattern: str, *answers: tuple[int, dict[str, str], Any]) -> None:
        """The next ``len(answers)`` requests matching ``method`` and the path regex get these."""
        self._faults.append((method, re.compile(pattern), list(answers)))

    def writes(self) -> list[Recorded]:
        return [r for r in self.requests if r.write]

    def reset_log(self) -> None:
        self.requests.clear()

    def pulls(self) -> list[dict[str, Any]]:
        return [i for _, i in sorted(self.repo.items.items()) if "head" in i]

    def issues(self) -> list[dict[str, Any]]:
        return [i for _, i in sorted(self.repo.items.items()) if "head" not in i]

    def comments_on(self, number: int) -> list[str]:
        return [c["body"] for c in self.repo.comments.get(number, [])]

    def add_alert(self, raw: dict[str, Any]) -> None:
        number = len(self.repo.alerts) + 1
        raw = {**raw, "number": number}
        raw.setdefault("url", f"{self._repo_url()}/dependabot/alerts/{number}")
        raw.setdefault("html_url", f"{self.web}/{self.repo.full_name}/security/dependabot/{number}")
        self.repo.alerts.append(raw)

    # ------------------------------------------------------------------ serving

    def handle(self, method: str, raw_path: str, body: bytes, headers: dict[str, str]) -> _Answer:
        parts = urlsplit(raw_path)
        path = unquote(parts.path)
        if not path.startswith("/api/v3/"):
            return _error(404, "Not Found")
        path = path.removeprefix("/api/v3")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        with self._lock:
            self.requests.append(Recorded(method, path, query, body, headers))
            self._last_path = parts.path
            for fault_method, pattern, answers in self._faults:
                if answers and fault_method == method and pattern.fullmatch(path):
                    status, extra, payload = answers.pop(0)
                    return _Answer(status, payload, extra)
            auth = headers.get("authorization", "")
            if auth not in (f"token {self.token}", f"Bearer {self.token}"):
                return _error(401, "Bad credentials")
            try:
                payload = json.loads(body) if body else {}
            except ValueError:
                return _error(400, "Problems parsing JSON")
            try:
                return self._route(method, path, query, payload)
            except _Answer as answer:
                return answer

    def rate_headers(self) -> dict[str, str]:
        self._remaining = max(self._remaining - 1, 0)
        return {
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Remaining": str(self._remaining),
            "X-RateLimit-Reset": str(int(time.time()) + 3600),
            "X-RateLimit-Used": str(5000 - self._remaining),
            "X-RateLimit-Resource": "core",
        }

    def _route(self, method: str, path: str, query: dict[str, str], payload: Any) -> _Answer:
        if path == "/user":
            # what the Actions token answers: depbot must never depend on this call
            raise _error(403, "Resource not accessible by integration")
        prefix = f"/repos/{self.repo.full_name}"
        if not (path == prefix or path.startswith(prefix + "/")):
            raise _error(404, "Not Found")
        rest = path[len(prefix) :]
        routes: list[tuple[str, str, Any]] = [
            ("GET", r"", lambda: self._repo_json()),
            ("GET", r"/pulls", lambda: self._list(self._find_pulls(query), query)),
            ("POST", r"/pulls", lambda: self._create_pull(payload)),
            ("GET", r"/pulls/(\d+)", lambda n: self._item(int(n), pull=True)),
            ("PATCH", r"/pulls/(\d+)", lambda n: self._edit(int(n), payload, pull=True)),
            ("GET", r"/issues", lambda: self._list(self._find_issues(query), query)),
            ("POST", r"/issues", lambda: self._create_issue(payload)),
            ("GET", r"/issues/(\d+)", lambda n: self._item(int(n))),
            ("PATCH", r"/issues/(\d+)", lambda n: self._edit(int(n), payload)),
            ("GET", r"/issues/(\d+)/comments", lambda n: self._comments(int(n), query)),
            ("POST", r"/issues/(\d+)/comments", lambda n: self._comment(int(n), payload)),
            ("POST", r"/issues/(\d+)/labels", lambda n: self._add_labels(int(n), payload)),
            ("PUT", r"/issues/(\d+)/labels", lambda n: self._set_labels(int(n), payload)),
            ("GET", r"/labels", lambda: self._list(list(self.repo.labels.values()), query)),
            ("POST", r"/labels", lambda: self._create_label(payload)),
            ("GET", r"/labels/([^/]+)", lambda name: self._label(name)),
            ("GET", r"/dependabot/alerts", lambda: self._alerts(query)),
            ("POST", r"/dispatches", lambda: self._dispatch(payload)),
        ]
        for route_method, pattern, action in routes:
            match = re.fullmatch(pattern, rest)
            if match and route_method == method:
                result = action(*match.groups())
                raise result if isinstance(result, _Answer) else _Answer(200, result)
        raise _error(404, "Not Found")

    # ------------------------------------------------------------------ objects

    def _repo_url(self) -> str:
        return f"{self.api}/repos/{self.repo.full_name}"

    def _repo_json(self) -> dict[str, Any]:
        owner, name = self.repo.full_name.split("/")
        return {
            "id": 1,
            "node_id": "R_1",
            "name": name,
            "full_name": self.repo.full_name,
            "owner": {"login": owner, "id": 2, "type": "Organization"},
            "private": True,
            "html_url": f"{self.web}/{self.repo.full_name}",
            "url": self._repo_url(),
            "default_branch": self.repo.default_branch,
            "permissions": {"admin": False, "push": True, "pull": True},
        }

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _label_json(self, name: str, color: str = "ededed", description: str | None = None) -> Any:
        return {
            "id": self._new_id(),
            "node_id": f"LA_{name}",
            "url": f"{self._repo_url()}/labels/{quote(name)}",
            "name": name,
            "color": color,
            "default": False,
            "description": description,
        }

    def _ensure_labels(self, names: list[str]) -> list[dict[str, Any]]:
        # adding an unknown label to an issue creates it with a default colour, as GitHub does
        for name in names:
            if name not in self.repo.labels:
                self.repo.labels[name] = self._label_json(name)
        return [self.repo.labels[n] for n in names]

    def _issue_json(self, number: int, title: str, body: str | None, labels: list[str]) -> Any:
        return {
            "url": f"{self._repo_url()}/issues/{number}",
            "repository_url": self._repo_url(),
            "labels_url": f"{self._repo_url()}/issues/{number}/labels{{/name}}",
            "comments_url": f"{self._repo_url()}/issues/{number}/comments",
            "events_url": f"{self._repo_url()}/issues/{number}/events",
            "html_url": f"{self.web}/{self.repo.full_name}/issues/{number}",
            "id": self._new_id(),
            "node_id": f"I_{number}",
            "number": number,
            "title": title,
            "user": _BOT,
            "labels": self._ensure_labels(labels),
            "state": "open",
            "state_reason": None,
            "locked": False,
            "assignee": None,
            "assignees": [],
            "milestone": None,
            "comments": 0,
            "created_at": _STAMP,
            "updated_at": _STAMP,
            "closed_at": None,
            "author_association": "NONE",
            "active_lock_reason": None,
            "body": body,
        }

    def _create_issue(self, payload: dict[str, Any]) -> _Answer:
        if not payload.get("title"):
            raise _error(
                422,
                "Validation Failed",
                errors=[{"resource": "Issue", "code": "missing_field", "field": "title"}],
            )
        number = len(self.repo.items) + 1
        item = self._issue_json(
            number, payload["title"], payload.get("body"), list(payload.get("labels") or [])
        )
        self.repo.items[number] = item
        return _Answer(201, item)

    def _create_pull(self, payload: dict[str, Any]) -> _Answer:
        head, base = payload.get("head", ""), payload.get("base", "")
        ref = head.split(":", 1)[-1]
        sha = self._branch_sha(ref)
        if sha is None:
            raise _error(
                422,
                "Validation Failed",
                errors=[{"resource": "PullRequest", "field": "head", "code": "invalid"}],
            )
        if any(p["head"]["ref"] == ref and p["state"] == "open" for p in self.pulls()):
            owner = self.repo.full_name.split("/")[0]
            raise _error(
                422,
                "Validation Failed",
                errors=[
                    {
                        "resource": "PullRequest",
                        "code": "custom",
                        "message": f"A pull request already exists for {owner}:{ref}.",
                    }
                ],
            )
        number = len(self.repo.items) + 1
        item = self._issue_json(number, payload.get("title", ""), payload.get("body"), [])
        url = f"{self._repo_url()}/pulls/{number}"
        owner = self.repo.full_name.split("/")[0]
        item.update(
            url=url,
            html_url=f"{self.web}/{self.repo.full_name}/pull/{number}",
            issue_url=f"{self._repo_url()}/issues/{number}",
            diff_url=f"{self.web}/{self.repo.full_name}/pull/{number}.diff",
            patch_url=f"{self.web}/{self.repo.full_name}/pull/{number}.patch",
            commits_url=f"{url}/commits",
            review_comments_url=f"{url}/comments",
            statuses_url=f"{self._repo_url()}/statuses/{sha}",
            head={"label": f"{owner}:{ref}", "ref": ref, "sha": sha, "repo": self._repo_json()},
            base={"label": f"{owner}:{base}", "ref": base, "sha": "0" * 40},
            merged_at=None,
            merge_commit_sha=None,
            draft=bool(payload.get("draft", False)),
            maintainer_can_modify=bool(payload.get("maintainer_can_modify", False)),
            requested_reviewers=[],
            requested_teams=[],
            auto_merge=None,
        )
        self.repo.items[number] = item
        return _Answer(201, self._pull_view(item))

    def _branch_sha(self, ref: str) -> str | None:
        if self.bare is None:
            return "1" * 40
        done = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", f"refs/heads/{ref}"],
            cwd=self.bare,
            capture_output=True,
            text=True,
            check=False,
        )
        return done.stdout.strip() or None

    def _pull_view(self, item: dict[str, Any]) -> dict[str, Any]:
        view = dict(item)
        sha = self._branch_sha(item["head"]["ref"])
        view["head"] = {**item["head"], "sha": sha or item["head"]["sha"]}
        view["merged"] = item.get("merged_at") is not None
        return view

    def _item(self, number: int, *, pull: bool = False) -> Any:
        item = self.repo.items.get(number)
        if item is None or (pull and "head" not in item):
            raise _error(404, "Not Found")
        if "head" in item:
            return self._pull_view(item) if pull else self._as_issue(item)
        return item

    def _as_issue(self, item: dict[str, Any]) -> dict[str, Any]:
        view = {k: v for k, v in item.items() if k not in ("head", "base")}
        view["url"] = item["issue_url"]
        view["html_url"] = item["html_url"]
        view["pull_request"] = {
            "url": item["url"],
            "html_url": item["html_url"],
            "diff_url": item["diff_url"],
            "patch_url": item["patch_url"],
            "merged_at": item.get("merged_at"),
        }
        return view

    def _edit(self, number: int, payload: dict[str, Any], *, pull: bool = False) -> Any:
        item = self.repo.items.get(number)
        if item is None or (pull and "head" not in item):
            raise _error(404, "Not Found")
        for key in ("title", "body"):
            if key in payload:
                item[key] = payload[key]
        if "state" in payload:
            if payload["state"] not in ("open", "closed"):
                raise _error(
                    422,
                    "Validation Failed",
                    errors=[{"resource": "Issue", "code": "invalid", "field": "state"}],
                )
            reopen = payload["state"] == "open" and "head" in item
            if reopen and self._branch_sha(item["head"]["ref"]) is None:
                raise _error(422, "Validation Failed", errors=[{"code": "invalid"}])
            item["state"] = payload["state"]
            item["closed_at"] = _STAMP if payload["state"] == "closed" else None
            item["state_reason"] = payload.get("state_reason")
        if "labels" in payload:
            item["labels"] = self._ensure_labels(list(payload["labels"]))
        return self._item(number, pull=pull)

    def _find_pulls(self, query: dict[str, str]) -> list[dict[str, Any]]:
        state = query.get("state", "open")
        found = []
        for item in self.pulls():
            if state != "all" and item["state"] != state:
                continue
            if "head" in query and query["head"] != item["head"]["label"]:
                continue
            if "base" in query and query["base"] != item["base"]["ref"]:
                continue
            found.append(self._pull_view(item))
        return found

    def _find_issues(self, query: dict[str, str]) -> list[dict[str, Any]]:
        state = query.get("state", "open")
        wanted = {n for n in query.get("labels", "").split(",") if n}
        found = []
        for _, item in sorted(self.repo.items.items()):
            names = {label["name"] for label in item["labels"]}
            if (state == "all" or item["state"] == state) and wanted <= names:
                found.append(self._as_issue(item) if "head" in item else item)
        return found

    def _comments(self, number: int, query: dict[str, str]) -> _Answer:
        self._item(number)
        return self._list(self.repo.comments.get(number, []), query)

    def _comment(self, number: int, payload: dict[str, Any]) -> _Answer:
        item = self._item(number)
        cid = self._new_id()
        comment = {
            "id": cid,
            "node_id": f"IC_{cid}",
            "url": f"{self._repo_url()}/issues/comments/{cid}",
            "html_url": f"{item['html_url']}#issuecomment-{cid}",
            "issue_url": f"{self._repo_url()}/issues/{number}",
            "body": payload.get("body", ""),
            "user": _BOT,
            "created_at": _STAMP,
            "updated_at": _STAMP,
            "author_association": "NONE",
        }
        self.repo.comments.setdefault(number, []).append(comment)
        self.repo.items[number]["comments"] += 1
        return _Answer(201, comment)

    def _add_labels(self, number: int, payload: Any) -> Any:
        item = self.repo.items.get(number)
        if item is None:
            raise _error(404, "Not Found")
        names = payload.get("labels", []) if isinstance(payload, dict) else list(payload)
        current = [label["name"] for label in item["labels"]]
        item["labels"] = self._ensure_labels(current + [n for n in names if n not in current])
        return item["labels"]

    def _set_labels(self, number: int, payload: Any) -> Any:
        item = self.repo.items.get(number)
        if item is None:
            raise _error(404, "Not Found")
        names = payload.get("labels", []) if isinstance(payload, dict) else list(payload)
        item["labels"] = self._ensure_labels(list(names))
        return item["labels"]

    def _create_label(self, payload: dict[str, Any]) -> _Answer:
        name = payload.get("name", "")
        if name in self.repo.labels:
            raise _error(
                422,
                "Validation Failed",
                errors=[{"resource": "Label", "code": "already_exists", "field": "name"}],
            )
        color = payload.get("color", "")
        if not re.fullmatch(r"[0-9a-fA-F]{6}", color):
            raise _error(
                422,
                "Validation Failed",
                errors=[{"resource": "Label", "code": "invalid", "field": "color"}],
            )
        label = self._label_json(name, color, payload.get("description"))
        self.repo.labels[name] = label
        return _Answer(201, label)

    def _label(self, name: str) -> Any:
        if name not in self.repo.labels:
            raise _error(404, "Not Found")
        return self.repo.labels[name]

    def _alerts(self, query: dict[str, str]) -> _Answer:
        if not self.alerts_enabled:
            raise _error(403, "Dependabot alerts are disabled for this repository.")
        if "page" in query:
            # cursor pagination only, as GitHub answers for this endpoint
            raise _error(400, "Pagination using the `page` parameter is not supported.")
        states = set(query.get("state", "").split(",")) - {""}
        alerts = [
            a
            for a in self.repo.alerts
            if (not states or a["state"] in states)
            and query.get("ecosystem", a["dependency"]["package"]["ecosystem"])
            == a["dependency"]["package"]["ecosystem"]
        ]
        size = min(int(query.get("per_page", "30")), self.page_size_cap)
        start = int(base64.b64decode(query["after"]).decode()) if "after" in query else 0
        page = alerts[start : start + size]
        headers = {}
        if start + size < len(alerts):
            cursor = base64.b64encode(str(start + size).encode()).decode()
            link_query = {k: v for k, v in query.items() if k != "after"}
            link_query["after"] = cursor
            url = f"{self._repo_url()}/dependabot/alerts?{urlencode(link_query)}"
            headers["Link"] = f'<{url}>; rel="next"'
        return _Answer(200, page, headers)

    def _dispatch(self, payload: dict[str, Any]) -> _Answer:
        if not payload.get("event_type"):
            raise _error(422, 'Invalid request.\n\n"event_type" wasn\'t supplied.')
        self.repo.dispatches.append(payload)
        return _Answer(204)

    def _list(self, items: list[dict[str, Any]], query: dict[str, str]) -> _Answer:
        """``page``/``per_page`` pagination with GitHub's ``Link`` header."""
        size = min(int(query.get("per_page", "30")), self.page_size_cap)
        page = int(query.get("page", "1"))
        chunk = items[(page - 1) * size : page * size]
        last = max((len(items) + size - 1) // size, 1)
        links = []
        path = self._last_path
        for rel, number in (("next", page + 1), ("last", last)):
            if page < last:
                link_query = {**query, "page": str(number)}
                links.append(f'<{self.web}{path}?{urlencode(link_query)}>; rel="{rel}"')
        return _Answer(200, chunk, {"Link": ", ".join(links)} if links else {})

    _last_path = ""


def _handler(fake: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            answer = fake.handle(self.command, self.path, body, headers)
            data = b"" if answer.body is None else json.dumps(answer.body).encode()
            self.send_response(answer.status)
            merged = {**fake.rate_headers(), **answer.headers}
            for key, value in merged.items():
                self.send_header(key, value)
            if data:
                self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def alert(
    package: str,
    ghsa: str,
    vulnerable_range: str,
    patched: str | None,
    *,
    cve: str | None = None,
    state: str = "open",
    ecosystem: str = "pip",
    summary: str = "A vulnerability",
    manifest: str = "requirements.txt",
) -> dict[str, Any]:
    """A Dependabot alert in the shape ``GET /repos/{o}/{r}/dependabot/alerts`` answers."""
    vulnerability = {
        "package": {"ecosystem": ecosystem, "name": package},
        "severity": "high",
        "vulnerable_version_range": vulnerable_range,
        "first_patched_version": {"identifier": patched} if patched else None,
    }
    identifiers = [{"value": ghsa, "type": "GHSA"}]
    if cve:
        identifiers.append({"value": cve, "type": "CVE"})
    return {
        "state": state,
        "dependency": {
            "package": {"ecosystem": ecosystem, "name": package},
            "manifest_path": manifest,
            "scope": "runtime",
            "relationship": "direct",
        },
        "security_advisory": {
            "ghsa_id": ghsa,
            "cve_id": cve,
            "summary": summary,
            "description": f"{summary}. Upgrade.",
            "vulnerabilities": [vulnerability],
            "severity": "high",
            "cvss": {"vector_string": None, "score": 0.0},
            "cwes": [],
            "identifiers": identifiers,
            "references": [{"url": f"https://github.com/advisories/{ghsa}"}],
            "published_at": _STAMP,
            "updated_at": _STAMP,
            "withdrawn_at": None,
        },
        "security_vulnerability": vulnerability,
        "created_at": _STAMP,
        "updated_at": _STAMP,
        "dismissed_at": None,
        "dismissed_by": None,
        "dismissed_reason": None,
        "dismissed_comment": None,
        "fixed_at": None,
        "auto_dismissed_at": None,
    }


def iter_bodies(fake: FakeGitHub) -> Iterator[bytes]:
    """Every request body and header value the fake saw, for secret scans."""
    for r in fake.requests:
        yield r.body
        yield json.dumps({k: v for k, v in r.headers.items() if k != "authorization"}).encode()
