"""The verify stage: runs the project's tests in an isolated environment built from lockfiles.

A :class:`TestEnv` is one virtual environment per run: created once, then synced to each
probe's candidate lockfiles (never rebuilt, never the user's environment). The test command
runs from the repository root without a shell, in its own process group, so a hang is killed
with every process it started. A :class:`Prober` is bisect's probe for one batch: it relocks a
subset of the batch, syncs the environment and runs the tests, or answers from the verdicts
stored for the same inputs.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Protocol

from depbot.errors import RunError
from depbot.lock.interface import LockBackend, LockError, LockIndex
from depbot.lock.interpreters import current_version
from depbot.lock.requirements import parse_lockfile
from depbot.lock.tool import LockTimeout, venv_python
from depbot.models import Environment, TestResult, Update
from depbot.process import run_in_group

if TYPE_CHECKING:
    from depbot.stages.relock import RelockResult

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = [
    "LOG_TAIL_LINES",
    "LazyTestEnv",
    "Prober",
    "TestEnv",
    "Verdicts",
    "excerpt",
    "failing_tests",
    "is_package",
    "verdict_key",
]

LOG_TAIL_LINES = 60
_LOG_TAIL_CHARS = 16_000
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
        *,
        owned: bool = False,
    ) -> None:
        self.path = path
        self.owned = owned
        """Whether ``path`` is depbot's own (under ``.git/depbot``): whatever a killed run
        left there may go. Elsewhere only a virtual environment is ever replaced."""
        self.repo = repo
        self.backend = backend
        self.index = index
        self.env = dict(env)
        self._python: Path | None = None

    def __enter__(self) -> TestEnv:
        if self.path.exists():
            if not (self.owned or (self.path / "pyvenv.cfg").is_file()):
                raise RunError(f"{self.path} exists and is not a virtual environment")
            # left over from a killed run: its contents are unknown
            _remove(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for stale in self.path.parent.glob(f".{self.path.name}.*"):
            shutil.rmtree(stale, ignore_errors=True)  # a build or a removal a kill cut short
        # built beside its final path and renamed into place: it exists whole or not at all
        partial = self.path.with_name(f".{self.path.name}.partial-{os.getpid()}")
        self.backend.create_venv(partial, self.env)
        partial.rename(self.path)
        self._python = venv_python(self.path)
        return self

    def __exit__(self, *exc: object) -> None:
        _remove(self.path)

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
            named = any(
                parse_lockfile(PurePosixPath(name), text).index_urls for name, text in files.items()
            )
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
        installed fail like a failing test, with the installer's message; an installer that
        timed out (LockTimeout) is raised: the index, not the candidates, is to blame."""
        started = time.monotonic()
        try:
            self.sync(files)
        except LockTimeout:
            raise
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
            timed_out, code = run_in_group([program, *argv[1:]], self.repo, env, log, timeout)
            duration = time.monotonic() - started
            log.seek(0)
            # paths relative to the checkout: the scratch folder means nothing to a reader
            text = log.read().decode("utf-8", errors="replace").replace(f"{self.repo}{os.sep}", "")
        if timed_out:
            text = f"{text.rstrip()}\n[depbot] timed out after {timeout:g} s".lstrip()
        return TestResult(
            passed=code == 0 and not timed_out,
            log_tail=_tail(text),
            failing_tests=failing_tests(text),
            duration=duration,
        )


def _remove(path: Path) -> None:
    """Removes ``path`` by renaming it aside first, so no half-removed tree is left under its
    name when the removal is cut short."""
    if not path.exists():
        return
    trash = path.with_name(f".{path.name}.trash-{os.getpid()}")
    shutil.rmtree(trash, ignore_errors=True)
    path.rename(trash)
    shutil.rmtree(trash, ignore_errors=True)


# ---------------------------------------------------------------------------- probing

Unit = tuple[Update, ...]


def verdict_key(
    files: Mapping[str, bytes], test_command: str, *, tree: str = "", python: str = ""
) -> str:
    """The identity of a test run: the tested lockfiles, the test command, the tree id of the
    tested commit and the interpreter's version; equal inputs, equal key."""
    digest = hashlib.sha256()
    for path in sorted(files):
        content = files[path]
        # Lengths delimit the fields, so no two different inputs share a byte stream.
        digest.update(f"{len(path)}:{path}{len(content)}:".encode())
        digest.update(content)
    for field_ in (test_command, tree, python):
        digest.update(f"{len(field_)}:{field_}".encode())
    return digest.hexdigest()


class Verdicts(Protocol):
    """Where verdicts are kept between runs (``depbot.state.store.Store``)."""

    def get_probe(self, key: str) -> TestResult | None: ...

    def put_probe(self, key: str, result: TestResult) -> None: ...


class LazyTestEnv:
    """A test environment created on first use (a venv with pip costs seconds; a sync between
    probes costs only what changed); a context manager that removes it."""

    def __init__(self, make: Callable[[], TestEnv]) -> None:
        self._make = make
        self._stack = contextlib.ExitStack()
        self._env: TestEnv | None = None

    def __enter__(self) -> LazyTestEnv:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def get(self) -> TestEnv:
        if self._env is None:
            self._env = self._stack.enter_context(self._make())
        return self._env


class Prober:
    """Bisect's probe for one batch: the tests' verdict on the base plus some units.

    ``relock`` regenerates the lockfiles for a set of updates (the relock stage, bound to the
    run's backends); each set is relocked once. ``original`` is every lockfile's current text.
    The tests run in each environment of ``environments`` (set by the pipeline to those the
    batch touches), in the matching ``envs`` entry; the probe passes when every one passes. A
    verdict known from ``verdicts`` is reused, except a failure seen before in this batch: that
    is bisect confirming a failure, which must be a real run, or a flaky failure would convict
    an update on a remembered verdict.
    """

    def __init__(
        self,
        relock: Callable[[Sequence[Update]], RelockResult],
        original: Mapping[str, str],
        envs: Mapping[str, LazyTestEnv],
        verdicts: Verdicts,
        *,
        test_command: str,
        timeout: float,
        tree: str = "",
        progress: Callable[[str], None] = lambda _message: None,
    ) -> None:
        self._relock = relock
        self.original = dict(original)
        self._envs = envs
        self._verdicts = verdicts
        self.test_command = test_command
        self._timeout = timeout
        self._tree = tree
        self._progress = progress
        self._relocked: dict[frozenset[Update], RelockResult] = {}
        self._seen: set[str] = set()
        self.environments: tuple[Environment, ...] = ()
        self.runs = 0
        """Test runs actually spent (verdicts reused from the store do not count)."""

    def relocked(self, units: Sequence[Unit]) -> RelockResult:
        """The lockfiles relocked with ``units`` (remembered per set of updates)."""
        updates = [u for unit in units for u in unit]
        key = frozenset(updates)
        if key not in self._relocked:
            self._progress(f"relocking {len(units)} units")
            self._relocked[key] = self._relock(updates)
        return self._relocked[key]

    def files(self, units: Sequence[Unit]) -> dict[str, str]:
        """Every lockfile of the project, those touched by ``units`` relocked with them."""
        files = dict(self.original)
        if units:
            files.update(self.relocked(units).files)
        return files

    def __call__(self, units: tuple[Unit, ...]) -> TestResult:
        if units:
            wanted = {u for unit in units for u in unit}
            kept = set(self.relocked(units).kept)
            if kept != wanted:
                lost = sorted(u.name for u in wanted - kept)
                return TestResult(False, f"does not resolve together: {', '.join(lost)}")
        files = self.files(units)
        what = f"{len(units)} units" if units else "the current lockfiles"
        results = [self._probe_in(env, files, what) for env in self.environments]
        return _combined(results, [env.name for env in self.environments])

    def _probe_in(self, env: Environment, files: Mapping[str, str], what: str) -> TestResult:
        tested = {p: files[p] for p in env.lockfiles}
        key = verdict_key(
            {p: t.encode() for p, t in tested.items()},
            self.test_command,
            tree=self._tree,
            python=env.python or current_version(),
        )
        known = self._verdicts.get_probe(key)
        confirming = key in self._seen and known is not None and not known.passed
        self._seen.add(key)
        if known is not None and not confirming:
            return known
        where = f" in {env.name}" if len(self.environments) > 1 else ""
        self._progress(f"testing {what}{where}")
        result = self._envs[env.name].get().probe(tested, self.test_command, self._timeout)
        self.runs += 1
        self._verdicts.put_probe(key, result)
        return result


def _combined(results: Sequence[TestResult], names: Sequence[str]) -> TestResult:
    """One verdict over several environments: passed when each passed, the failing logs."""
    if len(results) == 1:
        return results[0]
    failed = [(n, r) for n, r in zip(names, results, strict=True) if not r.passed]
    return TestResult(
        passed=not failed,
        log_tail="\n".join(f"[{n}]\n{r.log_tail}" for n, r in failed),
        failing_tests=tuple(dict.fromkeys(t for _, r in failed for t in r.failing_tests)),
        duration=sum(r.duration for r in results),
        cached=all(r.cached for r in results),
    )


def excerpt(result: TestResult, lines: int = 20) -> str:
    """What convicted an update: the failing tests, then the end of the log."""
    head = "".join(f"FAILED {t}\n" for t in result.failing_tests)
    tail = "\n".join(result.log_tail.splitlines()[-lines:])
    return (head + tail).strip()
