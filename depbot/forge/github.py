"""The GitHub forge: a batch is a branch ``depbot/<id>`` on ``origin`` and one pull request.

The commit is built as the local forge builds it (from a temporary index file, no worktree; the
user's checkout is never touched), then pushed with a lease on the commit depbot last wrote
there, so a branch a human pushed to is never overwritten: that batch is a ``conflict`` and its
PR gets one comment. The token reaches git only through the environment of the one fetch or
push that needs it (an ``http.<server>/.extraheader`` given as ``GIT_CONFIG_*`` variables),
never argv or a file.
Pull requests are found again by their head branch (open first, then one depbot closed) and
written only where they differ from the record: the title, missing labels, and the body when the
branch's content or the proposal changed (the body is the evidence of the run that produced
that content). So a rerun with nothing new makes no write call and no push.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from github.Issue import Issue
from github.PullRequest import PullRequest

from depbot.errors import InputError
from depbot.forge.commits import CommitBuilder, Tip, checked_id, checked_path
from depbot.forge.git import Git
from depbot.forge.interface import Forge, ForgeError, OpenBatch, PRRecord, Published
from depbot.forge.origin import OriginBranches
from depbot.github_api import (
    ApiBudget,
    GitHubClient,
    GitHubSettings,
    basic_credential,
    github_settings,
)

__all__ = [
    "CLOSED_MARK",
    "DASHBOARD_TITLE",
    "LABELS",
    "GitHubForge",
    "GitHubSettings",
    "github_settings",
    "wants_github",
]

DASHBOARD_TITLE = "depbot dashboard"
LABELS = {
    "dependencies": ("0366d6", "Pull requests that update a dependency file"),
    "security": ("d73a4a", "Updates that fix a published vulnerability"),
    "minor": ("c2e0c6", "Minor and patch updates, batched weekly"),
    "major": ("fbca04", "A major update, for manual review"),
}
"""Colour and description of each label depbot creates when the repository lacks it."""
CLOSED_MARK = "<!-- depbot:closed -->"
"""Appended to the body of a PR depbot closed itself: only such a PR is reopened later."""


def _mark(batch_id: str, record: PRRecord | None = None) -> str:
    """The body's last line: whose PR this is and, with ``record``, a fingerprint of what it
    proposes (so a proposal a maintainer declined is recognised even after its branch is gone)."""
    if record is None:
        return f"<!-- depbot:batch {batch_id} "
    digest = hashlib.sha256((record.proposal or record.message).encode()).hexdigest()[:16]
    return f"<!-- depbot:batch {batch_id} {digest} -->"


def wants_github(choice: str, settings: GitHubSettings | None) -> bool:
    """Forge selection (SPEC §8): ``github`` needs settings (InputError naming what is missing),
    ``auto`` is GitHub when a token and a GitHub ``origin`` are present, ``local`` never."""
    if choice == "github":
        if settings is None:
            raise InputError(
                "--forge github needs GITHUB_TOKEN (or DEPBOT_GITHUB_TOKEN) and the repository"
                " (GITHUB_REPOSITORY, or an origin remote on a GitHub host)"
            )
        return True
    return choice == "auto" and settings is not None and settings.remote_is_github


@dataclass(frozen=True)
class _Found:
    pr: PullRequest | None
    declined: bool = False
    """The latest PR of the branch was closed by a person: same content is not proposed again."""


class GitHubForge(Forge):
    """Publishes batches of the repository at ``repo`` to GitHub per ``settings``."""

    def __init__(
        self,
        repo: Path,
        settings: GitHubSettings,
        *,
        name: str = "depbot",
        email: str = "depbot@users.noreply.github.com",
        state_dir: Path | None = None,
        base_branch: str | None = None,
        budget: ApiBudget | None = None,
        throttle: bool = True,
        retries: int = 6,
    ) -> None:
        self.settings = settings
        self.client = GitHubClient(settings, budget=budget, throttle=throttle, retries=retries)
        self._repo = repo
        self._git = Git(repo)
        self._commits = CommitBuilder(repo, name=name, email=email, state_dir=state_dir)
        self._base_branch = base_branch
        self._origin = OriginBranches(self._git, self._auth_env, self._scrub)
        self._labels: set[str] | None = None

    # ------------------------------------------------------------------ Forge

    def publish(self, batch_id: str, files: Mapping[str, bytes], record: PRRecord) -> Published:
        branch = f"depbot/{checked_id(batch_id)}"
        paths = {checked_path(p): content for p, content in files.items()}
        base = self._commits.resolve("HEAD")
        if base is None:
            raise ForgeError(f"{self._repo} has no commit to build {branch} on")
        old = self._origin.tips().get(batch_id)
        tip = self._commits.tip(old, batch_id) if old else None
        body = f"{record.body.rstrip()}\n\n{_mark(batch_id, record)}\n"
        found = self._find(branch)
        url = found.pr.html_url if found.pr is not None else None
        if tip is not None and not tip.ours:
            self._note_conflict(found.pr, tip.sha, branch)
            return Published(
                "conflict", branch, url, tip.sha, f"{branch} has commits not made by depbot"
            )
        if found.declined and found.pr is not None and _mark(batch_id, record) in body_of(found.pr):
            # a maintainer closed the PR of exactly this proposal: it is not made again
            sha = tip.sha if tip else None
            return Published("unchanged", branch, url, sha, "its PR was closed by a maintainer")
        tree = self._commits.tree(batch_id, base, paths)
        if tree == self._commits.base_tree(base):
            sha = tip.sha if tip else None
            return Published("unchanged", branch, url, sha, "HEAD already has this content")
        pushed = False
        if tip is None or not _same(tip, base, tree):
            commit = self._commits.commit(tree, base, record.message, batch_id)
            if not self._origin.push(batch_id, commit, old):
                current = self._origin.tips(refresh=True).get(batch_id)
                self._note_conflict(found.pr, current or "", branch)
                return Published(
                    "conflict", branch, url, current, f"{branch} moved while depbot pushed it"
                )
            pushed, sha = True, commit
        else:
            sha = tip.sha
        if found.pr is None or found.declined:
            pr = self._create_pr(branch, record, body)
            return Published("opened", branch, pr.html_url, sha)
        reopened = found.pr.state != "open"
        # the body is evidence for the branch's content: with the same content and proposal it
        # stays as the run that produced it wrote it (a rerun's cached verdicts cost no test
        # run, and remembered rollbacks read "previously-failed": not news for the reader)
        fresh = pushed or reopened or _mark(batch_id, record) not in body_of(found.pr)
        edited = self._sync(found.pr, record, body if fresh else None)
        status = "opened" if reopened else ("updated" if pushed or edited else "unchanged")
        return Published(status, branch, found.pr.html_url, sha)

    def open_batches(self) -> tuple[OpenBatch, ...]:
        pulls = self.client.call(
            "list open pull requests",
            lambda: list(self.client.repo.get_pulls(state="open")),
            ForgeError,
        )
        by_branch = {p.head.ref: p for p in pulls if _is_ours(p)}
        batches = []
        for batch_id, sha in sorted(self._origin.tips().items()):
            tip = self._commits.tip(sha, batch_id)
            pr = by_branch.get(f"depbot/{batch_id}")
            title = pr.title if pr is not None else tip.subject
            url = pr.html_url if pr is not None else None
            batches.append(OpenBatch(batch_id, f"depbot/{batch_id}", sha, title, url, tip.ours))
        return tuple(batches)

    def close(self, batch_id: str, reason: str) -> bool:
        """Close the batch's open PR with ``reason`` as comment and delete its branch; False
        (nothing touched) when the branch has a human's commits or nothing of depbot's exists."""
        branch = f"depbot/{checked_id(batch_id)}"
        old = self._origin.tips().get(batch_id)
        tip = self._commits.tip(old, batch_id) if old else None
        if tip is not None and not tip.ours:
            return False
        found = self._find(branch)
        pr = found.pr if found.pr is not None and found.pr.state == "open" else None
        if pr is None and old is None:
            return False
        if pr is not None:
            closing = pr
            self.client.call(
                f"comment on #{pr.number}",
                lambda: closing.create_issue_comment(f"depbot closed this pull request: {reason}"),
                ForgeError,
            )
            body = f"{(pr.body or '').rstrip()}\n{CLOSED_MARK}\n"
            self.client.call(
                f"close #{pr.number}", lambda: closing.edit(state="closed", body=body), ForgeError
            )
        if old is not None:
            self._origin.delete(batch_id, old)
        return True

    def dashboard(self, body: str) -> str | None:
        """The issue titled ``depbot dashboard``: created once, its body edited only on change."""
        issue = self._dashboard_issue()
        if issue is None:
            self._ensure_labels(["dependencies"])
            created = self.client.call(
                "create the dashboard issue",
                lambda: self.client.repo.create_issue(
                    title=DASHBOARD_TITLE, body=body, labels=["dependencies"]
                ),
                ForgeError,
            )
            return str(created.html_url)
        if (issue.body or "") != body:
            found = issue
            self.client.call(
                f"update the dashboard #{issue.number}", lambda: found.edit(body=body), ForgeError
            )
        return str(issue.html_url)

    # ------------------------------------------------------------------ pull requests

    def _find(self, branch: str) -> _Found:
        head = f"{self.settings.owner}:{branch}"
        repo = self.client.repo
        pulls = self.client.call(
            f"find the pull request of {branch}",
            lambda: list(repo.get_pulls(state="open", head=head)),
            ForgeError,
        )
        if pulls:
            return _Found(min(pulls, key=lambda p: p.number))
        closed = self.client.call(
            f"find a closed pull request of {branch}",
            lambda: list(repo.get_pulls(state="closed", head=head)),
            ForgeError,
        )
        unmerged = [p for p in closed if p.merged_at is None and _is_ours(p)]
        if not unmerged:
            return _Found(None)
        latest = max(unmerged, key=lambda p: p.number)
        if CLOSED_MARK in (latest.body or ""):
            return _Found(latest)
        return _Found(latest, declined=True)

    def _create_pr(self, branch: str, record: PRRecord, body: str) -> PullRequest:
        base = self._base()
        repo = self.client.repo
        try:
            pr = self.client.call(
                f"open the pull request of {branch}",
                lambda: repo.create_pull(base=base, head=branch, title=record.title, body=body),
                ForgeError,
            )
        except ForgeError as exc:
            # a retried POST whose first attempt went through (or a concurrent run) finds the
            # PR already there: take that one over rather than fail
            if "already exists" not in str(exc):
                raise
            found = self._find(branch)
            if found.pr is None or found.pr.state != "open":
                raise
            self._sync(found.pr, record, body)
            return found.pr
        self._add_labels(pr, record.labels)
        return pr

    def _sync(self, pr: PullRequest, record: PRRecord, body: str | None) -> bool:
        """Make ``pr`` say ``record`` (reopening it if depbot closed it), its body ``body``
        unless None; whether it wrote."""
        changes: dict[str, Any] = {}
        if pr.title != record.title:
            changes["title"] = record.title
        if body is not None and body_of(pr) != body:
            changes["body"] = body
        if pr.state != "open":
            changes["state"] = "open"
        if changes:
            self.client.call(f"update #{pr.number}", lambda: pr.edit(**changes), ForgeError)
        have = {label.name for label in pr.labels}
        missing = [name for name in record.labels if name not in have]
        if missing:
            self._add_labels(pr, missing)
        return bool(changes or missing)

    def _add_labels(self, pr: PullRequest, names: Collection[str]) -> None:
        if not names:
            return
        self._ensure_labels(names)
        self.client.call(
            f"label #{pr.number}", lambda: pr.add_to_labels(*sorted(names)), ForgeError
        )

    def _ensure_labels(self, names: Collection[str]) -> None:
        repo = self.client.repo
        if self._labels is None:
            labels = self.client.call("list labels", lambda: list(repo.get_labels()), ForgeError)
            self._labels = {label.name for label in labels}
        for name in sorted(set(names) - self._labels):
            color, description = LABELS.get(name, ("ededed", "Set by depbot"))
            self.client.call(
                f"create the label {name!r}",
                lambda n=name, c=color, d=description: repo.create_label(n, c, d),  # type: ignore[misc]
                ForgeError,
            )
            self._labels.add(name)

    def _note_conflict(self, pr: PullRequest | None, sha: str, branch: str) -> None:
        """Say once on the PR (per foreign tip) that depbot left the branch alone."""
        if pr is None:
            return
        marker = f"<!-- depbot:conflict {sha} -->"
        comments = self.client.call(
            f"read the comments of #{pr.number}",
            lambda: list(pr.get_issue_comments()),
            ForgeError,
        )
        if any(marker in (c.body or "") for c in comments):
            return
        text = (
            f"depbot did not update `{branch}`: it has commits not made by depbot"
            f" (tip `{sha[:12]}`), and depbot never overwrites them. Delete the branch (or close"
            f" this pull request) to let depbot propose the updates again.\n\n{marker}\n"
        )
        self.client.call(
            f"comment on #{pr.number}", lambda: pr.create_issue_comment(text), ForgeError
        )

    def _dashboard_issue(self) -> Issue | None:
        repo = self.client.repo
        issues = self.client.call(
            "find the dashboard issue",
            lambda: list(repo.get_issues(state="all", labels=["dependencies"])),
            ForgeError,
        )
        # a PR is an issue too; its page is /pull/N (reading ``pull_request`` would cost a call)
        mine = [i for i in issues if i.title == DASHBOARD_TITLE and "/pull/" not in i.html_url]
        return min(mine, key=lambda i: i.number) if mine else None

    def _base(self) -> str:
        if self._base_branch is None:
            repo = self.client.repo
            self._base_branch = self.client.call(
                "read the default branch", lambda: str(repo.default_branch), ForgeError
            )
        return self._base_branch

    # ------------------------------------------------------------------ git

    def _auth_env(self) -> dict[str, str]:
        """git configuration for one command: the token as an extra header scoped to the
        server, after an empty value that drops any header configured before (a checkout's)."""
        key = f"http.{self.settings.server_url}/.extraheader"
        header = f"AUTHORIZATION: basic {basic_credential(self.settings.token.reveal())}"
        return {
            "GIT_CONFIG_COUNT": "2",
            "GIT_CONFIG_KEY_0": key,
            "GIT_CONFIG_VALUE_0": "",
            "GIT_CONFIG_KEY_1": key,
            "GIT_CONFIG_VALUE_1": header,
            "GIT_TERMINAL_PROMPT": "0",
        }

    def _scrub(self, text: str) -> str:
        return self.settings.token.scrub(text)


def _same(tip: Tip, base: str, tree: str) -> bool:
    return tip.parents == (base,) and tip.tree == tree


def _is_ours(pr: PullRequest) -> bool:
    ref = pr.head.ref
    return ref.startswith("depbot/") and _mark(ref.removeprefix("depbot/")) in body_of(pr)


def body_of(pr: PullRequest) -> str:
    return pr.body or ""
