"""The local forge: a batch is a branch in the user's repository, its PR record the commit message.

The commit is built in a separate, detached worktree under ``.git/depbot/worktrees/`` that never
checks files out, so the user's HEAD, branch, index and working tree are not touched. The branch
moves with a compare-and-swap ``update-ref``: a concurrent writer makes it fail, not lose work.
Callers hold the run lock (``depbot.state.lock.RunLock``) around ``publish``.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from depbot.forge.git import ZERO_OID, Git, depbot_dir
from depbot.forge.interface import Forge, ForgeError, OpenBatch, PRRecord, Published

__all__ = ["BATCH_TRAILER", "LocalForge"]

BATCH_TRAILER = "Depbot-Batch"
"""The trailer that marks a commit as depbot's, naming its batch."""

_BATCH_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")
_PREFIX = "refs/heads/depbot/"


@dataclass(frozen=True)
class _Tip:
    sha: str
    parents: tuple[str, ...]
    tree: str
    ours: bool
    subject: str


class LocalForge(Forge):
    """Publishes batches as ``depbot/<id>`` branches of the repository at ``repo``."""

    def __init__(
        self,
        repo: Path,
        *,
        name: str = "depbot",
        email: str = "depbot@localhost",
        state_dir: Path | None = None,
    ) -> None:
        self._repo = repo
        self._git = Git(repo)
        self._email = email
        self._identity = {
            "GIT_AUTHOR_NAME": name,
            "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": name,
            "GIT_COMMITTER_EMAIL": email,
        }
        self._state_dir = state_dir

    # ------------------------------------------------------------------ Forge

    def publish(self, batch_id: str, files: Mapping[str, bytes], record: PRRecord) -> Published:
        branch = f"depbot/{_checked_id(batch_id)}"
        ref = f"refs/heads/{branch}"
        paths = {_checked_path(p): content for p, content in files.items()}
        base = self._resolve("HEAD")
        if base is None:
            raise ForgeError(f"{self._repo} has no commit to build {branch} on")
        tip = self._tip(ref, batch_id)
        if tip is not None and not tip.ours:
            return Published(
                "conflict", branch, None, tip.sha, f"{branch} has commits not made by depbot"
            )

        with self._worktree(batch_id, base) as work:
            tree = self._tree(work, paths)
        if tip is not None and tip.parents == (base,) and tip.tree == tree:
            return Published("unchanged", branch, tip.sha, tip.sha)
        if tree == self._git.run("rev-parse", f"{base}^{{tree}}"):
            # Nothing to propose: the user's HEAD already holds these lockfiles.
            sha = tip.sha if tip is not None else None
            return Published("unchanged", branch, sha, sha, "HEAD already has this content")
        if tip is not None and ref in self._checked_out_branches():
            return Published(
                "conflict", branch, None, tip.sha, f"{branch} is checked out; not overwritten"
            )

        message = f"{record.message.rstrip()}\n\n{BATCH_TRAILER}: {batch_id}\n".encode()
        commit = self._git.run("commit-tree", tree, "-p", base, stdin=message, env=self._identity)
        old = tip.sha if tip is not None else ZERO_OID
        try:
            self._git.run("update-ref", "-m", f"depbot: publish {batch_id}", ref, commit, old)
        except ForgeError:
            current = self._resolve(ref)
            return Published(
                "conflict", branch, None, current, f"{branch} moved while depbot was writing it"
            )
        return Published("opened" if tip is None else "updated", branch, commit, commit)

    def open_batches(self) -> tuple[OpenBatch, ...]:
        out = self._git.run("for-each-ref", "--format=%(refname)", _PREFIX.rstrip("/"))
        batches = []
        for ref in sorted(out.splitlines()):
            batch_id = ref.removeprefix(_PREFIX)
            tip = self._tip(ref, batch_id)
            if tip is not None:
                batches.append(
                    OpenBatch(
                        batch_id, f"depbot/{batch_id}", tip.sha, tip.subject, tip.sha, tip.ours
                    )
                )
        return tuple(batches)

    def close(self, batch_id: str, reason: str) -> bool:
        """Delete depbot's branch of a superseded batch (``reason`` goes to the reflog only)."""
        ref = f"refs/heads/depbot/{_checked_id(batch_id)}"
        tip = self._tip(ref, batch_id)
        if tip is None or not tip.ours or ref in self._checked_out_branches():
            return False
        return self._git.ok("update-ref", "-m", f"depbot: close: {reason}", "-d", ref, tip.sha)

    # ------------------------------------------------------------------ git

    def _resolve(self, rev: str) -> str | None:
        try:
            return self._git.run("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
        except ForgeError:
            return None

    def _tip(self, ref: str, batch_id: str) -> _Tip | None:
        sha = self._resolve(ref)
        if sha is None:
            return None
        fields = self._git.run("log", "-1", "--format=%P%x00%T%x00%ce%x00%s%x00%B", sha).split("\0")
        parents, tree, committer, subject, body = fields
        trailer = f"{BATCH_TRAILER}: {batch_id}"
        ours = committer == self._email and trailer in body.splitlines()
        return _Tip(sha, tuple(parents.split()), tree, ours, subject)

    def _checked_out_branches(self) -> set[str]:
        out = self._git.run("worktree", "list", "--porcelain")
        return {
            line.removeprefix("branch ") for line in out.splitlines() if line.startswith("branch ")
        }

    def _worktree(self, batch_id: str, base: str) -> _Worktree:
        root = (self._state_dir or depbot_dir(self._repo)) / "worktrees"
        return _Worktree(self._git, root / batch_id, base)

    def _tree(self, work: Git, files: Mapping[str, bytes]) -> str:
        for path, content in sorted(files.items()):
            blob = work.run("hash-object", "-w", "--no-filters", "--stdin", stdin=content)
            mode = _mode_in_index(work, path)
            work.run("update-index", "--add", "--cacheinfo", f"{mode},{blob},{path}")
        return work.run("write-tree")


class _Worktree:
    """A detached worktree of ``base`` with only its index populated; removed on exit, and
    cleaned up first if a killed run left one behind."""

    def __init__(self, repo: Git, path: Path, base: str) -> None:
        self._repo = repo
        self._path = path
        self._base = base

    def __enter__(self) -> Git:
        self._remove()
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._repo.run("worktree", "add", "--detach", "--no-checkout", str(self._path), self._base)
        admin = _admin_dir(self._path)
        # Pinned explicitly so a GIT_DIR or GIT_INDEX_FILE inherited from the caller's
        # environment can never redirect these writes to the user's index.
        work = Git(
            self._path,
            {
                "GIT_DIR": str(admin),
                "GIT_WORK_TREE": str(self._path),
                "GIT_INDEX_FILE": str(admin / "index"),
            },
        )
        work.run("read-tree", self._base)
        return work

    def __exit__(self, *exc: object) -> None:
        self._remove()

    def _remove(self) -> None:
        registered = self._repo.run("worktree", "list", "--porcelain").splitlines()
        target = self._path.resolve()
        if any(Path(line.removeprefix("worktree ")).resolve() == target for line in registered):
            # Twice forced: also removes a worktree a killed ``worktree add`` left locked.
            self._repo.ok("worktree", "remove", "--force", "--force", str(self._path))
        if self._path.exists():
            shutil.rmtree(self._path)
        self._repo.run("worktree", "prune")


def _admin_dir(worktree: Path) -> Path:
    text = (worktree / ".git").read_text(encoding="utf-8").strip()
    if not text.startswith("gitdir:"):
        raise ForgeError(f"{worktree} is not a linked worktree")
    return Path(text.removeprefix("gitdir:").strip())


def _mode_in_index(work: Git, path: str) -> str:
    """Keep the mode of a file that exists (an executable stays executable)."""
    entry = work.run("ls-files", "--stage", "--", path)
    mode = entry.split(" ", 1)[0] if entry else ""
    return mode if mode in ("100644", "100755") else "100644"


def _checked_id(batch_id: str) -> str:
    if not _BATCH_ID.match(batch_id) or ".." in batch_id or batch_id.endswith(".lock"):
        raise ForgeError(f"invalid batch id for a branch name: {batch_id!r}")
    return batch_id


def _checked_path(path: str) -> str:
    pure = PurePosixPath(path)
    if pure.is_absolute() or not pure.parts or ".." in pure.parts or "\\" in path:
        raise ForgeError(f"lockfile path must be relative to the repository: {path!r}")
    if pure.parts[0] == ".git":
        raise ForgeError(f"refusing to write inside .git: {path!r}")
    return pure.as_posix()
