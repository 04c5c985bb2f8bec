"""Running a lock tool: one subprocess call without a shell, on a scratch copy of a lockfile.

Each call has a deadline (``lock-timeout``): past it, the tool is killed with its whole process
group and LockTimeout says so; the batch fails, its updates are not blamed. pip's and uv's own
network timeouts and retries are bounded by default (``NETWORK_DEFAULTS``, where the
environment does not set them), so a hanging index page costs a lock tool seconds, not minutes.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

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
from depbot.process import run_in_group

__all__ = [
    "LOCK_TIMEOUT",
    "NETWORK_DEFAULTS",
    "ArgvFor",
    "LockTimeout",
    "compile_scratch",
    "output_tail",
    "run_tool",
    "venv_python",
]

LOCK_TIMEOUT = 600.0
"""Seconds one lock-tool call may take (``lock-timeout``)."""
NETWORK_DEFAULTS = {
    # pip: seconds per socket operation, retries per request (pip's defaults: 15 and 5, which
    # made one hanging page cost each pip-compile call about 98 s)
    "PIP_TIMEOUT": "15",
    "PIP_RETRIES": "1",
    # uv: the same (uv's defaults: 30 s and 3)
    "UV_HTTP_TIMEOUT": "15",
    "UV_HTTP_RETRIES": "1",
}
"""What a tool's environment holds unless it sets these itself (the user's values win)."""


class LockTimeout(LockError):
    """A lock-tool call ran past its deadline and was killed with its process group."""

    def __init__(self, what: str, seconds: float, output: str) -> None:
        said = f"; its last words: {output}" if output else ""
        super().__init__(
            f"{what} did not finish within {seconds:g} s (lock-timeout) and was stopped with"
            f" its processes; is the index answering?{said}"
        )
        self.what = what
        self.seconds = seconds


ArgvFor = Callable[[CompileCommand, Path, list[str]], list[str]]
"""Builds a compile tool's argv from the lockfile's command, the output path and the -P pins."""


def compile_scratch(
    repo: Path,
    lockfile: Lockfile,
    upgrades: Mapping[NormalizedName, Version],
    env: Mapping[str, str],
    what: str,
    argv_for: ArgvFor,
    timeout: float | None = None,
    tmpdir: str | None = None,
) -> tuple[subprocess.CompletedProcess[str], str]:
    """Runs a compile tool on a scratch copy of ``lockfile`` (the tool reads the pins it holds
    from its output file) with ``-P name==version`` per upgrade.

    Returns the finished process and, when it succeeded, the new text under the original
    header and option lines; the user's file is never written. Raises LockTimeout after
    ``timeout`` seconds (None: no limit). The copy is made in ``tmpdir`` (None: the system's
    temporary folder).
    """
    command = compile_command(repo, lockfile)
    original = (repo / lockfile.path).read_text(encoding="utf-8")
    pins = [arg for n, v in sorted(upgrades.items()) for arg in ("-P", pin_argument(n, v))]
    with tempfile.TemporaryDirectory(prefix="depbot-relock-", dir=tmpdir) as scratch:
        output = Path(scratch) / lockfile.path.name
        output.write_text(original, encoding="utf-8")
        cwd = working_directory(repo, lockfile, command)
        done = run_tool(argv_for(command, output, pins), cwd, env, what, timeout)
        if done.returncode != 0:
            return done, ""
        return done, keep_preamble(original, output.read_text(encoding="utf-8"))


def run_tool(
    argv: Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    what: str,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[str]:
    """Runs a tool without a shell in its own process group, capturing its output, with
    ``NETWORK_DEFAULTS`` under ``env``; LockError when it cannot start, LockTimeout (the group
    killed) when it runs past ``timeout`` seconds (None: no limit)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            timed_out, code = run_in_group(
                list(argv), cwd, {**NETWORK_DEFAULTS, **env}, out, timeout, errors=err
            )
        except OSError as exc:
            raise LockError(f"cannot run {what} ({argv[0]}): {exc.strerror or exc}") from None
        stdout, stderr = _text(out), _text(err)
    if timed_out:
        raise LockTimeout(what, timeout or 0.0, output_tail(stderr or stdout, 3))
    return subprocess.CompletedProcess(list(argv), code, stdout, stderr)


def _text(file: IO[bytes]) -> str:
    file.seek(0)
    return file.read().decode("utf-8", "replace")


def output_tail(text: str, lines: int = 15) -> str:
    """The last ``lines`` lines of a tool's output, for an error message."""
    return "\n".join(text.strip().splitlines()[-lines:])


def venv_python(venv: Path) -> Path:
    """The interpreter of the virtual environment at ``venv``."""
    windows = venv / "Scripts" / "python.exe"
    return windows if windows.exists() else venv / "bin" / "python"
