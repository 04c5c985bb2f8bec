"""The local forge: a batch is a branch in the user's repository, its PR record the commit message.

The commit is built from a temporary index file, without a worktree or a checkout
(``depbot.forge.commits``), so the user's HEAD, branch, index and working tree are not touched.
The branch moves with a compare-and-swap ``update-ref``: a concurrent writer makes it fail, not
lose work. Callers hold the run lock (``depbot.state.lock.RunLock``) around ``publish``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from depbot.forge.commits import BATCH_TRAILER, CommitBuilder, Tip, checked_id, checked_path
from depbot.forge.git import ZERO_OID, Git, depbot_dir, temp_dir
from depbot.forge.interface import Forge, ForgeError, OpenBatch, PRRecord, Published

__all__ = ["BATCH_TRAILER", "DASHBOARD_FILE", "LocalForge"]

DASHBOARD_FILE = "dashboard.md"
"""The local dashboard, in depbot's state directory."""

_PREFIX = "refs/heads/depbot/"


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
        self._commits = CommitBuilder(repo, name=name, email=email, state_dir=state_dir)
        self._state_dir = state_dir

    # ------------------------------------------------------------------ Forge

    def publish(self, batch_id: str, files: Mapping[str, bytes], record: PRRecord) -> Published:
        branch = f"depbot/{checked_id(batch_id)}"
        ref = f"refs/heads/{branch}"
        paths = {checked_path(p): content for p, content in files.items()}
        base = self._resolve("HEAD")
        if base is None:
            raise ForgeError(f"{self._repo} has no commit to build {branch} on")
        tip = self._tip(ref, batch_id)
        if tip is not None and not tip.ours:
            return Published(
                "conflict", branch, None, tip.sha, f"{branch} has commits not made by depbot"
            )

        tree = self._commits.tree(batch_id, base, paths)
        if tip is not None and tip.parents == (base,) and tip.tree == tree:
            return Published("unchanged", branch, tip.sha, tip.sha)
        if tree == self._commits.base_tree(base):
            # Nothing to propose: the user's HEAD already holds these lockfiles.
            sha = tip.sha if tip is not None else None
            return Published("unchanged", branch, sha, sha, "HEAD already has this content")
        if tip is not None and ref in self._checked_out_branches():
            return Published(
                "conflict", branch, None, tip.sha, f"{branch} is checked out; not overwritten"
            )

        commit = self._commits.commit(tree, base, record.full_text, batch_id)
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
        ref = f"refs/heads/depbot/{checked_id(batch_id)}"
        tip = self._tip(ref, batch_id)
        if tip is None or not tip.ours or ref in self._checked_out_branches():
            return False
        return self._git.ok("update-ref", "-m", f"depbot: close: {reason}", "-d", ref, tip.sha)

    def dashboard(self, body: str) -> str:
        """Write the dashboard to ``dashboard.md`` in the state directory, atomically and only
        when its text changes; returns its path."""
        state = self._state_dir or depbot_dir(self._repo)
        path = state / DASHBOARD_FILE
        if path.is_file() and path.read_text(encoding="utf-8") == body:
            return str(path)
        # written beside it (one file system: the rename is atomic), where repair clears it
        fd, tmp = tempfile.mkstemp(dir=temp_dir(state), prefix="dashboard-")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(body)
        Path(tmp).replace(path)
        return str(path)

    # ------------------------------------------------------------------ git

    def _resolve(self, rev: str) -> str | None:
        return self._commits.resolve(rev)

    def _tip(self, ref: str, batch_id: str) -> Tip | None:
        sha = self._resolve(ref)
        return None if sha is None else self._commits.tip(sha, batch_id)

    def _checked_out_branches(self) -> set[str]:
        out = self._git.run("worktree", "list", "--porcelain")
        return {
            line.removeprefix("branch ") for line in out.splitlines() if line.startswith("branch ")
        }
