"""The uv backend: ``uv pip compile -P name==version`` to relock, ``uv pip sync`` to install.

uv reads existing pins from its output file as pip-compile does and resolves to the same pins;
it ignores pip's configuration, so the index is always passed on its command line. A
pip-compile command is translated: options uv rejects are dropped, and pip-compile's defaults
that differ from uv's (extras and markers kept) are stated explicitly.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from packaging.utils import NormalizedName
from packaging.version import Version

from depbot.lock.interface import LockBackend, LockError, LockIndex, Unresolvable
from depbot.lock.replay import CompileCommand, index_arguments, index_options
from depbot.lock.tool import LOCK_TIMEOUT, compile_scratch, output_tail, run_tool, venv_python
from depbot.models import Lockfile

__all__ = ["UvBackend", "default_uv", "uv_message"]

# pip-compile options uv rejects or ignores, and whether each takes a value
_PIP_COMPILE_ONLY = {
    "--resolver": True,
    "--max-rounds": True,
    "--pip-args": True,
    "--newline": True,
    "--config": True,
    "--cert": True,
    "--client-cert": True,
    "--reuse-hashes": False,
    "--no-reuse-hashes": False,
    "--emit-trusted-host": False,
    "--no-emit-trusted-host": False,
    "--allow-unsafe": False,
    "--no-allow-unsafe": False,
    "--rebuild": False,
    "--emit-options": False,
    "--no-emit-options": False,
    "--build-isolation": False,
}
# option lines come from the original lockfile, never from the tool
_EMITTING = frozenset({"--emit-index-url", "--emit-find-links", "--emit-build-options"})
_RENAMED = {"--trusted-host": "--allow-insecure-host", "--uploaded-prior-to": "--exclude-newer"}
_PYTHON = frozenset({"-p", "--python", "--python-version", "--universal"})


def default_uv() -> str:
    """The uv binary of the installed ``uv`` package, else ``uv`` looked up on PATH."""
    try:
        from uv import find_uv_bin
    except ImportError:
        return "uv"
    try:
        return str(find_uv_bin())
    except FileNotFoundError:
        return "uv"


def uv_message(stderr: str, limit: int = 8) -> str:
    """uv's explanation from its stderr, without warnings."""
    lines = [line.strip() for line in stderr.splitlines()]
    kept = [line for line in lines if line and not line.startswith("warning:")]
    return "\n".join(kept[:limit])


def _for_uv(command: CompileCommand, python_version: str | None) -> list[str]:
    """The command's arguments in uv's dialect."""
    args: list[str] = []
    words = iter(command.arguments)
    for word in words:
        name, eq, value = word.partition("=")
        if name in _PIP_COMPILE_ONLY:
            if _PIP_COMPILE_ONLY[name] and not eq:
                next(words, None)
            continue
        if name in _EMITTING:
            continue
        if name in _RENAMED:
            args += [_RENAMED[name], value if eq else next(words, "")]
            continue
        args.append(word)
    names = {a.partition("=")[0] for a in args}
    if command.tool == "pip-compile":
        if not names & {"--strip-extras", "--no-strip-extras"}:
            args.append("--no-strip-extras")
        args.append("--no-strip-markers")
    if python_version and not names & _PYTHON:
        args += ["--python-version", python_version]
    return args


class UvBackend(LockBackend):
    """``uv pip compile``, ``uv venv`` and ``uv pip sync``."""

    name = "uv"

    def __init__(
        self, uv: str | None = None, python: str = sys.executable, timeout: float = LOCK_TIMEOUT
    ) -> None:
        self.uv = uv or default_uv()
        self.python = python
        self.timeout = timeout
        """Seconds each call may take before it is stopped (LockTimeout)."""

    def relock(
        self,
        repo: Path,
        lockfile: Lockfile,
        upgrades: Mapping[NormalizedName, Version],
        index: LockIndex,
        env: Mapping[str, str],
    ) -> str:
        def argv(command: CompileCommand, output: Path, pins: list[str]) -> list[str]:
            return [
                self.uv, "pip", "compile", "--quiet", "--color", "never",
                *_for_uv(command, lockfile.header.python_version),
                *index_arguments(lockfile, command, index),
                "--no-header", "--output-file", str(output), *pins,
            ]  # fmt: skip

        # the copy goes where the tool's own temporary files go (depbot's, cleared at start)
        done, text = compile_scratch(
            repo,
            lockfile,
            upgrades,
            env,
            "uv pip compile",
            argv,
            self.timeout,
            tmpdir=env.get("TMPDIR"),
        )
        if done.returncode == 1:
            raise Unresolvable(uv_message(done.stderr) or "uv found no solution")
        if done.returncode != 0:
            raise LockError(f"uv pip compile failed for {lockfile.path}: "
                            f"{uv_message(done.stderr)}")  # fmt: skip
        return text

    def create_venv(self, path: Path, env: Mapping[str, str]) -> Path:
        argv = [self.uv, "venv", "--quiet", "--python", self.python, str(path)]
        done = run_tool(argv, path.parent, env, "uv venv", self.timeout)
        if done.returncode != 0:
            raise LockError(f"cannot create a virtual environment at {path}: {done.stderr}")
        return venv_python(path)

    def sync(
        self,
        python: Path,
        lockfiles: Sequence[Path],
        index: LockIndex,
        env: Mapping[str, str],
    ) -> None:
        argv = [
            self.uv, "pip", "sync", "--quiet", "--color", "never", "--python", str(python),
            *index_options(index), *(str(p) for p in lockfiles),
        ]  # fmt: skip
        done = run_tool(argv, python.parent, env, "uv pip sync", self.timeout)
        if done.returncode != 0:
            raise LockError(f"uv pip sync failed: {output_tail(done.stderr)}")

    def install_project(
        self, python: Path, project: Path, index: LockIndex, env: Mapping[str, str]
    ) -> None:
        argv = [
            self.uv, "pip", "install", "--quiet", "--color", "never", "--python", str(python),
            "--no-deps", *index_options(index), "-e", str(project),
        ]  # fmt: skip
        done = run_tool(argv, project, env, "uv pip install", self.timeout)
        if done.returncode != 0:
            raise LockError(f"cannot install {project}: {output_tail(done.stderr)}")
