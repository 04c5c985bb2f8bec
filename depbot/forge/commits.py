"""How a batch's commit is built and recognised, shared by every forge.

The tree is built in a temporary index file under ``.git/depbot/tmp/`` (``read-tree`` of the
base, ``update-index --cacheinfo`` of each new blob, ``write-tree``) and committed with
``commit-tree``: no worktree, no checkout, so the user's HEAD, branch, index and working tree are
not touched, and a run killed meanwhile leaves only a file the next run's repair clears. A
commit is depbot's when its committer is depbot's identity and its message carries the batch
trailer.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from depbot.forge.git import Git, depbot_dir, git_common_dir, temp_dir
from depbot.forge.interface import ForgeError

__all__ = ["BATCH_TRAILER", "CommitBuilder", "Tip", "checked_id", "checked_path"]

BATCH_TRAILER = "Depbot-Batch"
"""The trailer that marks a commit as depbot's, naming its batch."""

_BATCH_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")
_EMAIL = re.compile(r"<([^>]*)>")


@dataclass(frozen=True)
class Tip:
    """The commit at the tip of a batch branch."""

    sha: str
    parents: tuple[str, ...]
    tree: str
    ours: bool
    """Committed by depbot's identity with this batch's trailer."""
    subject: str


class CommitBuilder:
    """Builds batch commits on a base commit of the repository at ``repo``."""

    def __init__(self, repo: Path, *, name: str, email: str, state_dir: Path | None = None) -> None:
        self.repo = repo
        self.git = Git(repo)
        self.email = email
        self.identity = {
            "GIT_AUTHOR_NAME": name,
            "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": name,
            "GIT_COMMITTER_EMAIL": email,
        }
        self._state_dir = state_dir

    def resolve(self, rev: str) -> str | None:
        """The commit ``rev`` names, or None."""
        try:
            return self.git.run("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
        except ForgeError:
            return None

    def tree(self, batch_id: str, base: str, files: Mapping[str, bytes]) -> str:
        """The tree of ``base`` with ``files`` (checked relative paths) replaced."""
        tmp = temp_dir(self._state_dir or depbot_dir(self.repo))
        with tempfile.TemporaryDirectory(prefix=f"tree-{batch_id}-", dir=tmp) as scratch:
            # Pinned explicitly, so a GIT_DIR or GIT_INDEX_FILE inherited from the caller's
            # environment (a git hook sets them) can never redirect these writes to the user's
            # index; the work tree is an empty folder nothing is checked out to.
            index = Git(
                Path(scratch),
                {
                    "GIT_DIR": str(git_common_dir(self.repo)),
                    "GIT_WORK_TREE": scratch,
                    "GIT_INDEX_FILE": str(Path(scratch) / "index"),
                },
                # a split index writes (and expires) shared index files beside the user's
                # index, a file system monitor watches a work tree: neither for this one
                {"core.splitIndex": "false", "core.fsmonitor": "false"},
            )
            index.run("read-tree", base)
            for path, content in sorted(files.items()):
                blob = index.run("hash-object", "-w", "--no-filters", "--stdin", stdin=content)
                mode = _mode_in_index(index, path)
                index.run("update-index", "--add", "--cacheinfo", f"{mode},{blob},{path}")
            return index.run("write-tree")

    def base_tree(self, base: str) -> str:
        return self.git.run("rev-parse", f"{base}^{{tree}}")

    def commit(self, tree: str, base: str, message: str, batch_id: str) -> str:
        """A commit of ``tree`` on ``base`` by depbot, its message ending in the batch trailer."""
        text = f"{message.rstrip()}\n\n{BATCH_TRAILER}: {batch_id}\n".encode()
        return self.git.run("commit-tree", tree, "-p", base, stdin=text, env=self.identity)

    def tip(self, sha: str, batch_id: str) -> Tip:
        """What the commit ``sha`` is; read raw, so a shallow clone's grafts do not hide parents."""
        raw = self.git.run("cat-file", "commit", sha)
        head, _, message = raw.partition("\n\n")
        tree, committer, parents = "", "", []
        for line in head.splitlines():
            key, _, value = line.partition(" ")
            if key == "tree":
                tree = value
            elif key == "parent":
                parents.append(value)
            elif key == "committer":
                found = _EMAIL.search(value)
                committer = found.group(1) if found else ""
        trailer = f"{BATCH_TRAILER}: {batch_id}"
        ours = committer == self.email and trailer in message.splitlines()
        subject = message.split("\n", 1)[0]
        return Tip(sha, tuple(parents), tree, ours, subject)


def _mode_in_index(work: Git, path: str) -> str:
    """Keep the mode of a file that exists (an executable stays executable)."""
    entry = work.run("ls-files", "--stage", "--", path)
    mode = entry.split(" ", 1)[0] if entry else ""
    return mode if mode in ("100644", "100755") else "100644"


def checked_id(batch_id: str) -> str:
    """``batch_id`` when it is a valid branch-name component; else ForgeError."""
    if not _BATCH_ID.match(batch_id) or ".." in batch_id or batch_id.endswith(".lock"):
        raise ForgeError(f"invalid batch id for a branch name: {batch_id!r}")
    return batch_id


def checked_path(path: str) -> str:
    """``path`` as a repository-relative POSIX path outside ``.git``; else ForgeError."""
    pure = PurePosixPath(path)
    if pure.is_absolute() or not pure.parts or ".." in pure.parts or "\\" in path:
        raise ForgeError(f"lockfile path must be relative to the repository: {path!r}")
    if pure.parts[0] == ".git":
        raise ForgeError(f"refusing to write inside .git: {path!r}")
    return pure.as_posix()
