"""The one module that runs git (through GitPython): commands, and where depbot keeps its state.

depbot's state lives in ``<common git dir>/depbot/``, never in the working tree, so a linked
worktree of the user's repository shares it with the main checkout.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import git
from git.exc import GitCommandError, GitCommandNotFound

from depbot.forge.interface import ForgeError

__all__ = [
    "ZERO_OID",
    "Git",
    "depbot_dir",
    "git_common_dir",
    "head_commit",
    "remote_url",
    "scratch_checkout",
]

ZERO_OID = "0" * 40
"""``update-ref``'s "must not exist yet" old value."""


class Git:
    """git commands run in ``cwd``; any failure becomes a ForgeError naming the command."""

    def __init__(self, cwd: Path, env: Mapping[str, str] | None = None) -> None:
        self.cwd = cwd
        self._env = dict(env or {})
        self._git = git.Git(str(cwd))

    def run(
        self, *args: str, stdin: bytes | None = None, env: Mapping[str, str] | None = None
    ) -> str:
        """The command's stdout without its final newline; raises ForgeError on a non-zero exit."""
        merged = {**self._env, **(env or {})}
        command = [git.Git.GIT_PYTHON_GIT_EXECUTABLE or "git", *args]
        try:
            if stdin is None:
                return self._execute(command, merged, None)
            # Popen needs a real file descriptor for stdin; a spooled temp file gives one.
            with tempfile.TemporaryFile() as handle:
                handle.write(stdin)
                handle.seek(0)
                return self._execute(command, merged, handle)
        except GitCommandNotFound as exc:
            raise ForgeError(f"git is not installed or not on PATH: {exc}") from None
        except GitCommandError as exc:
            stderr = (exc.stderr or "").strip().removeprefix("stderr:").strip(" '\n")
            raise ForgeError(f"git {args[0]} failed in {self.cwd}: {stderr}") from None

    def attempt(self, *args: str, env: Mapping[str, str] | None = None) -> tuple[int, str, str]:
        """``(exit status, stdout, stderr)`` of the command, which may fail (a push that a lease
        refuses says why on its output)."""
        merged = {**self._env, **(env or {})}
        command = [git.Git.GIT_PYTHON_GIT_EXECUTABLE or "git", *args]
        try:
            status, out, err = self._git.execute(
                command,
                env=merged or None,
                with_extended_output=True,
                with_exceptions=False,
            )
        except GitCommandNotFound as exc:
            raise ForgeError(f"git is not installed or not on PATH: {exc}") from None
        return int(status), str(out), str(err)

    def ok(self, *args: str) -> bool:
        """Whether the command exits with 0 (for questions such as "does this ref exist")."""
        try:
            self.run(*args)
        except ForgeError:
            return False
        return True

    def _execute(self, command: list[str], env: dict[str, str], stdin: object) -> str:
        out = self._git.execute(command, env=env or None, istream=stdin)  # type: ignore[call-overload]
        return str(out)


def git_common_dir(repo: Path) -> Path:
    """The absolute git directory shared by every worktree of ``repo``; ForgeError if none."""
    out = Git(repo).run("rev-parse", "--path-format=absolute", "--git-common-dir")
    return Path(out)


def depbot_dir(repo: Path) -> Path:
    """``<common git dir>/depbot``, created when missing: the home of depbot's state and lock."""
    path = git_common_dir(repo) / "depbot"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def scratch_checkout(repo: Path, path: Path, rev: str = "HEAD") -> Iterator[Path]:
    """A detached worktree of ``rev`` at ``path`` for the ``with`` block, then removed.

    The committed project, to run tools in (pip-compile builds metadata next to its sources);
    the user's working tree is never where they run. A leftover of a killed run is replaced.
    """
    git_ = Git(repo)
    if path.exists():
        git_.ok("worktree", "remove", "--force", str(path))
        shutil.rmtree(path, ignore_errors=True)
    git_.ok("worktree", "prune")
    path.parent.mkdir(parents=True, exist_ok=True)
    git_.run("worktree", "add", "--detach", "--force", str(path), rev)
    try:
        yield path
    finally:
        git_.ok("worktree", "remove", "--force", str(path))
        shutil.rmtree(path, ignore_errors=True)
        git_.ok("worktree", "prune")


def head_commit(repo: Path) -> str:
    """The sha of the user's HEAD; ForgeError when the repository has no commit yet."""
    return Git(repo).run("rev-parse", "--verify", "HEAD^{commit}")


def remote_url(repo: Path, name: str) -> str | None:
    """The URL of remote ``name``, or None when there is no such remote."""
    git_ = Git(repo)
    return git_.run("remote", "get-url", name) if git_.ok("remote", "get-url", name) else None
