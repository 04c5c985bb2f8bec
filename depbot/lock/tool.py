"""Running a lock tool: one subprocess call without a shell, on a scratch copy of a lockfile."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from packaging.utils import NormalizedName
from packaging.version import Version

from depbot.lock.interface import LockError
from depbot.lock.replay import (
    CompileCommand,
    compile_command,
    keep_preamble,
    pin_argument,
    working_directory,
)
from depbot.models import Lockfile

__all__ = ["ArgvFor", "compile_scratch", "output_tail", "run_tool", "venv_python"]


ArgvFor = Callable[[CompileCommand, Path, list[str]], list[str]]
"""Builds a compile tool's argv from the lockfile's command, the output path and the -P pins."""


def compile_scratch(
    repo: Path,
    lockfile: Lockfile,
    upgrades: Mapping[NormalizedName, Version],
    env: Mapping[str, str],
    what: str,
    argv_for: ArgvFor,
    tmpdir: str | None = None,
) -> tuple[subprocess.CompletedProcess[str], str]:
    """Runs a compile tool on a scratch copy of ``lockfile`` (the tool reads the pins it holds
    from its output file) with ``-P name==version`` per upgrade.

    Returns the finished process and, when it succeeded, the new text under the original
    header and option lines; the user's file is never written. The copy is made in ``tmpdir``
    (None: the system's temporary folder).
    """
    command = compile_command(repo, lockfile)
    original = (repo / lockfile.path).read_text(encoding="utf-8")
    pins = [arg for n, v in sorted(upgrades.items()) for arg in ("-P", pin_argument(n, v))]
    with tempfile.TemporaryDirectory(prefix="depbot-relock-", dir=tmpdir) as scratch:
        output = Path(scratch) / lockfile.path.name
        output.write_text(original, encoding="utf-8")
        cwd = working_directory(repo, lockfile, command)
        done = run_tool(argv_for(command, output, pins), cwd, env, what)
        if done.returncode != 0:
            return done, ""
        return done, keep_preamble(original, output.read_text(encoding="utf-8"))


def run_tool(
    argv: Sequence[str], cwd: Path, env: Mapping[str, str], what: str
) -> subprocess.CompletedProcess[str]:
    """Runs a tool without a shell, capturing its output; LockError when it cannot start."""
    try:
        return subprocess.run(
            list(argv),
            cwd=cwd,
            env=dict(env),
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError as exc:
        raise LockError(f"cannot run {what} ({argv[0]}): {exc.strerror or exc}") from None


def output_tail(text: str, lines: int = 15) -> str:
    """The last ``lines`` lines of a tool's output, for an error message."""
    return "\n".join(text.strip().splitlines()[-lines:])


def venv_python(venv: Path) -> Path:
    """The interpreter of the virtual environment at ``venv``."""
    windows = venv / "Scripts" / "python.exe"
    return windows if windows.exists() else venv / "bin" / "python"
