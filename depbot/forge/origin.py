"""depbot's branches on a remote: read by one fetch, written only with a lease.

Every network command gets its credentials from ``auth_env`` (an environment for that one
command), never from argv or a file; the messages of failures pass through ``scrub``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from depbot.forge.git import Git
from depbot.forge.interface import ForgeError

__all__ = ["TRACKING", "OriginBranches"]

TRACKING = "refs/depbot/origin/"
"""Where the fetched ``depbot/*`` tips are kept (not ``refs/remotes``: the user's view of the
remote is left as it is)."""


class OriginBranches:
    """The ``depbot/<id>`` branches of ``remote`` as seen from the repository of ``git``."""

    def __init__(
        self,
        git: Git,
        auth_env: Callable[[], Mapping[str, str]],
        scrub: Callable[[str], str],
        remote: str = "origin",
    ) -> None:
        self._git = git
        self._auth_env = auth_env
        self._scrub = scrub
        self._remote = remote
        self._tips: dict[str, str] | None = None

    def tips(self, *, refresh: bool = False) -> dict[str, str]:
        """batch id → sha of every ``depbot/*`` branch on the remote, fetched once (or again
        with ``refresh``)."""
        if self._tips is None or refresh:
            args = ["fetch", "--quiet", "--no-tags", "--prune", "--no-write-fetch-head"]
            if self._git.run("rev-parse", "--is-shallow-repository") == "true":
                # only the tips: a shallow clone must not pull the whole history behind them
                args.append("--depth=1")
            args += [self._remote, f"+refs/heads/depbot/*:{TRACKING}*"]
            status, _, err = self._git.attempt(*args, env=self._auth_env())
            if status != 0:
                raise ForgeError(
                    self._scrub(f"git fetch from {self._remote} failed: {err.strip()}")
                )
            out = self._git.run("for-each-ref", "--format=%(objectname) %(refname)", TRACKING)
            tips = {}
            for line in out.splitlines():
                sha, ref = line.split(" ", 1)
                tips[ref.removeprefix(TRACKING)] = sha
            self._tips = tips
        return self._tips

    def push(self, batch_id: str, commit: str, old: str | None) -> bool:
        """Push ``commit`` to ``depbot/<batch_id>`` if the branch still is ``old`` (absent for
        None); False when the lease refused it (someone else moved the branch)."""
        if not self._push_ref(f"{commit}:refs/heads/depbot/{batch_id}", batch_id, old):
            return False
        self._git.run("update-ref", f"{TRACKING}{batch_id}", commit)
        self.tips()[batch_id] = commit
        return True

    def delete(self, batch_id: str, old: str) -> bool:
        """Delete ``depbot/<batch_id>`` if it still is ``old``; False when the lease refused."""
        if not self._push_ref(f":refs/heads/depbot/{batch_id}", batch_id, old):
            return False
        self._git.ok("update-ref", "-d", f"{TRACKING}{batch_id}")
        self.tips().pop(batch_id, None)
        return True

    def _push_ref(self, refspec: str, batch_id: str, old: str | None) -> bool:
        branch = f"depbot/{batch_id}"
        lease = f"--force-with-lease=refs/heads/{branch}:{old or ''}"
        status, out, err = self._git.attempt(
            "push", "--porcelain", "--no-verify", lease, self._remote, refspec,
            env=self._auth_env(),
        )  # fmt: skip
        if status == 0:
            return True
        if "stale info" in out or "stale info" in err or "fetch first" in out:
            return False
        raise ForgeError(self._scrub(f"git push of {branch} failed: {(err or out).strip()}"))
