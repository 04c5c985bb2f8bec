"""The forge seam: where a batch's branch and pull request go (SPEC §5, §8).

A forge receives the new contents of the lockfiles and the PR record, and publishes them on
``depbot/<batch id>`` without touching the user's checkout. It never overwrites a branch that
someone other than depbot committed to: that is reported as the status ``conflict``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass

from depbot.errors import RunError

__all__ = [
    "PUBLISH_STATUSES",
    "Forge",
    "ForgeError",
    "OpenBatch",
    "PRRecord",
    "Published",
]

PUBLISH_STATUSES = ("opened", "updated", "unchanged", "conflict")
"""Every value of ``Published.status``; the pipeline reports ``conflict`` as ``failed``."""


class ForgeError(RunError):
    """The forge could not do its job (git failed, the API is unreachable after retries)."""


@dataclass(frozen=True)
class PRRecord:
    """What a pull request says: deterministic, so an identical rerun produces identical text."""

    title: str
    body: str
    """Markdown."""
    labels: tuple[str, ...] = ()
    """``dependencies`` plus the batch's kind."""
    commit_message: str = ""
    """The commit's message (subject, summary, ``updated-dependencies:`` trailer); empty: the
    title and body."""
    proposal: str = ""
    """A stable key of what is proposed (the kept ``name==version`` list), free of run-specific
    evidence: a hosted forge rewrites a PR's body only when this or the branch changes, and
    recognises a proposal a maintainer declined. Empty: the commit message serves."""

    @property
    def message(self) -> str:
        """The commit message: ``commit_message``, else the full text."""
        return (self.commit_message or self.full_text).rstrip("\n") + "\n"

    @property
    def full_text(self) -> str:
        """Title, blank line, body: the whole record (the local forge keeps it as its commit
        message, where ``depbot status`` and the user read it)."""
        return f"{self.title}\n\n{self.body}".rstrip("\n") + "\n"


@dataclass(frozen=True)
class Published:
    """What ``Forge.publish`` did with one batch."""

    status: str
    """One of PUBLISH_STATUSES: ``opened`` (new branch/PR), ``updated`` (new commit replaces
    depbot's previous one), ``unchanged`` (the branch already holds this content on this base),
    ``conflict`` (someone else committed to the branch; it was left alone)."""
    branch: str
    pr: str | None = None
    """The PR's URL (GitHub) or the id of the local record (the commit holding it)."""
    commit: str | None = None
    """The branch's tip after publishing (None when nothing was written and no branch exists)."""
    message: str = ""
    """Why the status is ``conflict`` (or ``unchanged`` without a commit), for the user."""


@dataclass(frozen=True)
class OpenBatch:
    """A batch branch (and its PR) that currently exists on the forge."""

    id: str
    branch: str
    commit: str
    """The branch's tip."""
    title: str
    """The PR's title (local forge: the tip commit's subject)."""
    pr: str | None = None
    ours: bool = True
    """False when the tip was not written by depbot (a human committed to the branch)."""


class Forge(ABC):
    """A place to publish batches: the local repository or a hosted forge."""

    @abstractmethod
    def publish(self, batch_id: str, files: Mapping[str, bytes], record: PRRecord) -> Published:
        """Put ``files`` (repo-relative POSIX path → new content) on ``depbot/<batch_id>``.

        The commit is built on the user's current HEAD; the user's branch, index and working tree
        are left untouched. Raises ForgeError when the forge cannot be reached or git fails.
        """

    @abstractmethod
    def open_batches(self) -> tuple[OpenBatch, ...]:
        """Every ``depbot/*`` branch (and PR) that exists, sorted by batch id."""

    @abstractmethod
    def close(self, batch_id: str, reason: str) -> bool:
        """Close a superseded batch with ``reason`` as comment; False when it is not depbot's
        (left alone) or does not exist."""

    @abstractmethod
    def dashboard(self, body: str) -> str | None:
        """Publish the dashboard (Markdown): created once, then rewritten in place only when
        ``body`` differs from what is there. Returns where it lives (issue URL, file path)."""
