"""The verify stage: runs the project's tests in an isolated environment built from lockfiles.

A :class:`TestEnv` is one virtual environment per batch: created once, then synced to each
probe's candidate lockfiles (never rebuilt, never the user's environment). The test command
runs from the repository root without a shell, in its own process group, so a hang is killed
with every process it started.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import IO

from depbot.errors import RunError
from depbot.lock.interface import LockBackend, LockError, LockIndex
from depbot.models import TestResult

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = ["LOG_TAIL_LINES", "TestEnv", "failing_tests", "is_package"]

LOG_TAIL_LINES = 60
_LOG_TAIL_CHARS = 16_000
_INDEX_LINE = re.compile(r"^\s*(-i|--index-url|--extra-index-url)(\s|=)", re.MULTILINE)
_PYTEST_FAILED = re.compile(r"^(?:FAILED|ERROR) (\S+::\S+)", re.MULTILINE)
_UNITTEST_FAILED = re.compile(r"^(?:FAIL|ERROR): (\w+) \(([\w.]+)\)", re.MULTILINE)
# what would let the user's interpreter settings reach the test environment
_LEAKING = ("PYTHONHOME", "PYTHONPATH", "PYTHONSTARTUP", "PYTHONUSERBASE", "__PYVENV_LAUNCHER__")


def is_package(repo: Path) -> bool:
    """Whether ``repo`` is an installable project: ``setup.py``/``setup.cfg``, or a
    ``pyproject.toml`` with a ``[project]`` or ``[build-system]`` table."""
    if (repo / "setup.py").is_file() or (repo / "setup.cfg").is_file():
        return True
    pyproject = repo / "pyproject.toml"
    if not pyproject.is_file():
        return False
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False
    return "project" in data or "build-system" in data


def failing_tests(log: str) -> tuple[str, ...]:
    """Test ids named as failing in ``log``: pytest's ``FAILED id`` lines and unittest's
    ``FAIL: name (id)`` lines, first occurrence first."""
    found = [m.group(1) for m in _PYTEST_FAILED.finditer(log)]
    for m in _UNITTEST_FAILED.finditer(log):
        name, where = m.group(1), m.group(2)
        # Python 3.11+ writes the full id in the parentheses, earlier ones only the class
        found.append(where if where.endswith(f".{name}") else f"{where}.{name}")
    return tuple(dict.fromkeys(found))


def _tail(log: str) -> str:
    text = "\n".join(log.rstrip().splitlines()[-LOG_TAIL_LINES:])
    return text[-_LOG_TAIL_CHARS:]


class TestEnv:
    """A virtual environment at ``path`` for one batch's probes; a context manager that
    creates it on entry and removes it on exit.

    ``env`` is the environment of the lock tool and of the tests (without the venv, which is
    added); ``index`` is where packages come from when the lockfiles name no index.
    """

    __test__ = False  # not a pytest class

    def __init__(
        self,
        path: Path,
        repo: Path,
        backend: LockBackend,
        index: LockIndex,
        env: Mapping[str, str],
    ) -> None:
        self.path = path
        self.repo = repo
        self.backend = backend
        self.index = index
        self.env = dict(env)
        self._python: Path | None = None

    def __enter__(self) -> TestEnv:
        if self.path.exists():
            if not (self.path / "pyvenv.cfg").is_file():
                raise RunError(f"{self.path} exists and is not a virtual environment")
            # left over from a killed run: its contents are unknown
            shutil.rmtree(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._python = self.backend.create_venv(self.path, self.env)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    @property
    def python(self) -> Path:
        """The environment's interpreter; only inside the ``with`` block."""
        if self._python is None:
            raise RunError("the test environment is used outside its 'with' block")
        return self._python

    def sync(self, files: Mapping[str, str]) -> None:
        """Makes the environment hold exactly the pins of ``files`` (path → lockfile text),
        then installs the project itself when it is a package. Raises LockError."""
        with tempfile.TemporaryDirectory(prefix="lockfiles-", dir=self.path) as scratch:
            written = []
            for name, text in sorted(files.items()):
                # kept relative, so "-r"/"-c" lines between lockfiles still resolve
                target = Path(scratch, *PurePosixPath(name).parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
                written.append(target)
            named = any(_INDEX_LINE.search(text) for text in files.values())
            index = LockIndex() if named else self.index
            self.backend.sync(self.python, written, index, self.env)
        if is_package(self.repo):
            self.backend.install_project(self.python, self.repo, self.index, self.env)

    def test_environment(self) -> dict[str, str]:
        """The environment the test command runs in: the venv's scripts first on PATH."""
        scripts = self.python.parent
        env = {k: v for k, v in self.env.items() if k not in _LEAKING}
        env["VIRTUAL_ENV"] = str(self.path)
        env["PATH"] = os.pathsep.join(filter(None, [str(scripts), self.env.get("PATH", "")]))
        return env

    def probe(self, files: Mapping[str, str], command: str, timeout: float) -> TestResult:
        """Syncs to ``files`` and runs ``command``; candidate lockfiles that cannot be
        installed fail like a failing test, with the installer's message."""
        started = time.monotonic()
        try:
            self.sync(files)
        except LockError as exc:
            return TestResult(
                passed=False,
                log_tail=_tail(f"installing the candidate lockfiles failed: {exc}"),
                duration=time.monotonic() - started,
            )
        return self.run_tests(command, timeout)

    def _program(self, name: str, path: str) -> str | None:
        """``name`` found on ``path``; a name with a slash is relative to the repository."""
        if "/" in name or os.sep in name:
            candidate = self.repo / name
            runnable = candidate.is_file() and os.access(candidate, os.X_OK)
            return str(candidate) if runnable else None
        return shutil.which(name, path=path)

    def run_tests(self, command: str, timeout: float) -> TestResult:
        """Runs ``command`` from the repository root; a run over ``timeout`` seconds is killed
        with its whole process group and fails."""
        try:
            argv = shlex.split(command)
        except ValueError as exc:
            return TestResult(passed=False, log_tail=f"cannot split the test command: {exc}")
        if not argv:
            return TestResult(passed=False, log_tail="the test command is empty")
        env = self.test_environment()
        program = self._program(argv[0], env["PATH"])
        if program is None:
            return TestResult(
                passed=False, log_tail=f"{argv[0]}: not found in the test environment"
            )
        with tempfile.TemporaryFile(dir=self.path) as log:
            started = time.monotonic()
            timed_out, code = _run_in_group([program, *argv[1:]], self.repo, env, log, timeout)
            duration = time.monotonic() - started
            log.seek(0)
            text = log.read().decode("utf-8", errors="replace")
        if timed_out:
            text = f"{text.rstrip()}\n[depbot] timed out after {timeout:g} s".lstrip()
        return TestResult(
            passed=code == 0 and not timed_out,
            log_tail=_tail(text),
            failing_tests=failing_tests(text),
            duration=duration,
        )


def _run_in_group(
    argv: list[str], cwd: Path, env: Mapping[str, str], log: IO[bytes], timeout: float
) -> tuple[bool, int]:
    """(timed out, exit code) of ``argv`` run in a new process group whose leftovers are
    killed when it ends; output goes to the file ``log``, so a leftover holding it open
    cannot keep the run waiting."""
    posix = os.name == "posix"
    flags = 0 if posix else getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=posix,
        creationflags=flags,
    )
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        _kill_group(proc)
    return timed_out, proc.returncode


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    if os.name == "posix":
        # ProcessLookupError: the whole group has already ended
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    elif proc.poll() is None:
        proc.kill()
    proc.wait()
