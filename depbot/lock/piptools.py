"""The pip-tools backend: ``pip-compile -P name==version`` to relock, ``pip-sync`` to install.

pip-compile reads the existing pins from its output file and re-resolves only the packages
named with ``-P``, so the relock copies the current lockfile to a scratch output file first.
It runs without header and option lines; the original ones are put back (see
:func:`~depbot.lock.interface.keep_preamble`), so the header stays byte-identical even though
this interpreter may differ from the header's Python.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from packaging.utils import NormalizedName
from packaging.version import Version

from depbot.lock.interface import LockBackend, LockError, LockIndex, Unresolvable
from depbot.lock.interpreters import Interpreter, current_version
from depbot.lock.replay import CompileCommand, index_arguments, index_options
from depbot.lock.tool import LOCK_TIMEOUT, compile_scratch, output_tail, run_tool, venv_python
from depbot.models import Lockfile

__all__ = ["PipToolsBackend", "compile_new", "resolver_message", "tool_python"]

# uv pip compile options pip-compile does not know, and whether each takes a value
_UV_ONLY = {
    "--universal": False,
    "--no-strip-markers": False,
    "--emit-index-annotation": False,
    "--emit-marker-expression": False,
    "--python-version": True,
    "--python-platform": True,
    "-p": True,
    "--python": True,
    "--index-strategy": True,
    "--torch-backend": True,
    "--custom-compile-command": True,
}
_UNRESOLVED = (
    "ResolutionImpossible",
    "DistributionNotFound",
    "NoCandidateFound",
    "No matching distribution",
    "Could not find a version",
    "conflicting dependencies",
)
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|NotFound|Impossible|Found|Exception): ")


def tool_python(interpreter: Interpreter, tools: Path, env: Mapping[str, str]) -> Path:
    """An interpreter of ``interpreter``'s version that runs pip-tools: depbot's own when the
    versions agree, else a virtual environment under ``tools`` holding depbot's version of
    pip-tools, built once (beside its final path, then renamed into place) from the index
    ``env`` configures. Raises LockError when it cannot be built."""
    if interpreter.version == current_version():
        return Path(sys.executable)
    pinned = f"pip-tools=={importlib.metadata.version('pip-tools')}"
    target = tools / f"{pinned.replace('==', '-')}-py{interpreter.version}"
    if (target / ".complete").is_file():
        return venv_python(target)
    tools.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(target, ignore_errors=True)  # unfinished: never renamed into place whole
    build = tools / f".{target.name}.{os.getpid()}"
    shutil.rmtree(build, ignore_errors=True)
    steps = (
        ([str(interpreter.path), "-m", "venv", str(build)], "venv"),
        ([str(venv_python(build)), "-m", "pip", "install", "--quiet", pinned], "pip install"),
    )
    for argv, what in steps:
        done = run_tool(argv, tools, env, what)
        if done.returncode != 0:
            shutil.rmtree(build, ignore_errors=True)
            message = output_tail(done.stderr or done.stdout)
            raise LockError(f"cannot install {pinned} for Python {interpreter.version}: {message}")
    (build / ".complete").write_text(pinned + "\n", encoding="utf-8")
    try:
        build.rename(target)
    except OSError:  # another run built it meanwhile
        shutil.rmtree(build, ignore_errors=True)
    return venv_python(target)


def compile_new(
    repo: Path,
    source: str,
    output: str,
    options: Sequence[str],
    env: Mapping[str, str],
    python: str = sys.executable,
) -> None:
    """Compiles ``source`` into a new lockfile ``output`` in ``repo``, the header saying
    ``pip-compile <options> <source>`` (how a maintainer would have run it); raises LockError."""
    argv = [python, "-m", "piptools", "compile", "--quiet", *options, "--no-emit-index-url"]
    argv += ["--output-file", output, source]
    header = {"CUSTOM_COMPILE_COMMAND": " ".join(["pip-compile", *options, source])}
    done = run_tool(argv, repo, {**env, **header}, "pip-compile")
    if done.returncode != 0:
        message = resolver_message(done.stderr) or output_tail(done.stderr)
        raise LockError(f"pip-compile could not compile {source}: {message}")


def resolver_message(stderr: str, limit: int = 6) -> str:
    """The resolver's own words from pip-compile's stderr: ``ERROR:`` lines and the final
    exception's message, without traceback frames."""
    lines = [line.strip() for line in stderr.splitlines()]
    found = [line for line in lines if line.startswith("ERROR:")]
    last = next((line for line in reversed(lines) if line), "")
    if _EXCEPTION_LINE.match(last):
        reason = last.split(": ", 1)[1]
        if reason not in found:
            found.append(reason)
    elif last and not found:
        found.append(last)
    return "\n".join(found[:limit])


def _for_pip_compile(command: CompileCommand) -> list[str]:
    """The command's arguments with the uv-only options taken out."""
    if command.tool == "pip-compile":
        return list(command.arguments)
    kept: list[str] = []
    words = iter(command.arguments)
    for word in words:
        name = word.split("=", 1)[0]
        if name in _UV_ONLY:
            if _UV_ONLY[name] and "=" not in word:
                next(words, None)
            continue
        kept.append(word)
    return kept


class PipToolsBackend(LockBackend):
    """pip-compile and pip-sync, run as ``python -m piptools`` of ``python``; each call is
    stopped after ``timeout`` seconds (LockTimeout)."""

    name = "pip-tools"

    def __init__(self, python: str = sys.executable, timeout: float = LOCK_TIMEOUT) -> None:
        self.python = python
        self.timeout = timeout

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
                self.python, "-m", "piptools", "compile", "--quiet",
                *_for_pip_compile(command), *index_arguments(lockfile, command, index),
                "--no-header", "--no-emit-options", "--output-file", str(output), *pins,
            ]  # fmt: skip

        # the copy goes where the tool's own temporary files go (depbot's, cleared at start)
        done, text = compile_scratch(
            repo,
            lockfile,
            upgrades,
            env,
            "pip-compile",
            argv,
            self.timeout,
            tmpdir=env.get("TMPDIR"),
        )
        if done.returncode != 0:
            message = resolver_message(done.stderr) or f"pip-compile exited {done.returncode}"
            if done.returncode == 1 or any(s in done.stderr for s in _UNRESOLVED):
                raise Unresolvable(message)
            raise LockError(f"pip-compile failed for {lockfile.path}: {message}")
        return text

    def create_venv(self, path: Path, env: Mapping[str, str]) -> Path:
        # pip-sync drives the environment's own pip, so this one keeps pip
        done = run_tool(
            [self.python, "-m", "venv", str(path)], path.parent, env, "venv", self.timeout
        )
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
            self.python, "-m", "piptools", "sync", "--quiet", "--python-executable", str(python),
            *index_options(index), *(str(p) for p in lockfiles),
        ]  # fmt: skip
        done = run_tool(argv, python.parent, env, "pip-sync", self.timeout)
        if done.returncode != 0:
            output = f"{done.stdout}\n{done.stderr}"
            # pip's own "ERROR:" lines say why; the rest is pip-sync's traceback
            errors = "\n".join(line.strip() for line in output.splitlines() if "ERROR:" in line)
            raise LockError(f"pip-sync failed: {errors or output_tail(output)}")

    def install_project(
        self, python: Path, project: Path, index: LockIndex, env: Mapping[str, str]
    ) -> None:
        argv = [
            str(python), "-m", "pip", "install", "--quiet", "--no-deps",
            *index_options(index), "-e", str(project),
        ]  # fmt: skip
        done = run_tool(argv, project, env, "pip install", self.timeout)
        if done.returncode != 0:
            raise LockError(f"cannot install {project}: {output_tail(done.stderr or done.stdout)}")
