"""The one module that runs git (through GitPython): commands, and where depbot keeps its state.

depbot's state lives in ``<common git dir>/depbot/``, never in the working tree, so a linked
worktree of the user's repository shares it with the main checkout. What a killed run leaves
there (a half-added worktree, a ref lock, temporary files) is removed by :func:`repair`.
"""

from __future__ import annotations

import contextlib
import re
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
    "repair",
    "scratch_checkout",
    "temp_dir",
]

ZERO_OID = "0" * 40
"""``update-ref``'s "must not exist yet" old value."""


class Git:
    """git commands run in ``cwd``; any failure becomes a ForgeError naming the command.

    ``config``: settings given to every command (``git -c name=value``), over the repository's.
    """

    def __init__(
        self,
        cwd: Path,
        env: Mapping[str, str] | None = None,
        config: Mapping[str, str] | None = None,
    ) -> None:
        self.cwd = cwd
        self._env = dict(env or {})
        self._options = [arg for k, v in (config or {}).items() for arg in ("-c", f"{k}={v}")]
        self._git = git.Git(str(cwd))

    def run(
        self, *args: str, stdin: bytes | None = None, env: Mapping[str, str] | None = None
    ) -> str:
        """The command's stdout without its final newline; raises ForgeError on a non-zero exit."""
        merged = {**self._env, **(env or {})}
        command = [git.Git.GIT_PYTHON_GIT_EXECUTABLE or "git", *self._options, *args]
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
        command = [git.Git.GIT_PYTHON_GIT_EXECUTABLE or "git", *self._options, *args]
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


def temp_dir(state: Path) -> Path:
    """``<state>/tmp``, created when missing: every temporary file of a run, the tools' too
    (their ``TMPDIR``), so :func:`repair` can clear what a killed run left."""
    path = state / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return path


# what a run keeps only while it runs: its temporary files, its scratch checkout, its test
# environments (``depbot.stages.verify``), and where an older depbot built its commits
_RUN_FOLDERS = ("tmp", "work", "venvs", "worktrees")


def repair(repo: Path, state: Path) -> None:
    """Undo what a run killed at any point left in ``repo``'s git directory; the caller holds
    the run lock, so nothing of depbot's is in use.

    Removes depbot's own linked worktrees (their admin entry under ``.git/worktrees`` and their
    folder in ``state``; of the user's worktrees only the ``gitdir`` file is read), the lock
    files a killed ``update-ref`` left under ``refs/heads/depbot/``, and the folders of
    ``state`` a run keeps only while it runs (``tmp``, ``work``, ``venvs``).
    """
    common = git_common_dir(repo)
    _remove_worktrees(common, state)
    refs = common / "refs" / "heads" / "depbot"
    if refs.is_dir():
        for stale in refs.rglob("*.lock"):
            stale.unlink(missing_ok=True)
    for folder in _RUN_FOLDERS:
        shutil.rmtree(state / folder, ignore_errors=True)
    temp_dir(state)


# how ``git worktree add`` names a scratch checkout's admin entry (``checkout``, ``checkout1``
# when taken): recognised even when a kill came before the entry got its ``gitdir`` file (or
# its ``locked`` one: an empty folder)
_SCRATCH_ENTRY = re.compile(r"checkout[0-9]*\Z")


def _remove_worktrees(common: Path, inside: Path) -> None:
    """Removes every linked worktree whose folder is inside ``inside`` (depbot's), as ``git
    worktree remove --force --force`` would, also one a kill left half-added."""
    entries = common / "worktrees"
    if entries.is_dir():
        root = inside.resolve()
        for admin in sorted(entries.iterdir()):
            gitdir = admin / "gitdir"
            if _whole_line(gitdir):
                dot_git = _linked(gitdir)
                if not dot_git.is_relative_to(root):
                    continue  # the user's
                shutil.rmtree(dot_git.parent, ignore_errors=True)
            elif not _SCRATCH_ENTRY.match(admin.name):
                continue  # without a whole gitdir, not one git could have made for depbot
            shutil.rmtree(admin, ignore_errors=True)
        with contextlib.suppress(OSError):
            entries.rmdir()  # as git leaves it: no ``worktrees`` folder once none is left


def _whole_line(file: Path) -> bool:
    """Whether ``file`` holds what git writes there, a line with its line break: a ``git
    worktree add`` killed while writing ``gitdir`` leaves it empty or cut short."""
    try:
        return file.read_bytes().endswith(b"\n")
    except OSError:
        return False


def _linked(file: Path, prefix: str = "") -> Path:
    """The path a worktree's link file holds (absolute, or relative to the file's folder)."""
    text = file.read_text(encoding="utf-8", errors="replace").strip().removeprefix(prefix)
    return (file.parent / text.strip()).resolve()


@contextlib.contextmanager
def scratch_checkout(repo: Path, path: Path, rev: str = "HEAD") -> Iterator[Path]:
    """A detached worktree of ``rev`` at ``path`` (inside depbot's state directory) for the
    ``with`` block, then removed; a leftover of a killed run at ``path`` is replaced.

    The committed project, to run tools in (pip-compile builds metadata next to its sources);
    the user's working tree is never where they run.
    """
    common = git_common_dir(repo)
    _remove_worktrees(common, path)
    shutil.rmtree(path, ignore_errors=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    Git(repo).run("worktree", "add", "--detach", "--no-checkout", str(path), rev)
    # checked out with its own index pinned: a GIT_INDEX_FILE inherited from the caller (a git
    # hook sets one) would otherwise make git write the user's index
    admin = _linked(path / ".git", "gitdir:")
    pinned = {"GIT_DIR": str(admin), "GIT_WORK_TREE": str(path)}
    Git(path, {**pinned, "GIT_INDEX_FILE": str(admin / "index")}).run("reset", "--hard", "-q")
    try:
        yield path
    finally:
        _remove_worktrees(common, path)
        shutil.rmtree(path, ignore_errors=True)


def head_commit(repo: Path) -> str:
    """The sha of the user's HEAD; ForgeError when the repository has no commit yet."""
    return Git(repo).run("rev-parse", "--verify", "HEAD^{commit}")


def remote_url(repo: Path, name: str) -> str | None:
    """The URL of remote ``name``, or None when there is no such remote."""
    git_ = Git(repo)
    return git_.run("remote", "get-url", name) if git_.ok("remote", "get-url", name) else None
