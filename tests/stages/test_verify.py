"""The verify stage: a real virtual environment synced to candidate lockfiles, real test runs."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from depbot.errors import RunError
from depbot.lock.interface import LockIndex
from depbot.lock.piptools import PipToolsBackend
from depbot.lock.uv import UvBackend
from depbot.stages.verify import TestEnv, failing_tests, is_package
from tests.support.locking import LockWorld, lock_world, write_files

pytestmark = pytest.mark.slow

# A PEP 517 backend inside the project, so installing it needs nothing from the index.
BACKEND = """
import base64, hashlib, os, zipfile

HERE = os.path.dirname(os.path.abspath(__file__))


def _wheel(directory, files):
    info = "sampleproj-0.1.0.dist-info"
    files[info + "/METADATA"] = "Metadata-Version: 2.1\\nName: sampleproj\\nVersion: 0.1.0\\n"
    files[info + "/WHEEL"] = (
        "Wheel-Version: 1.0\\nGenerator: t\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"
    )
    record = []
    for path, text in files.items():
        digest = hashlib.sha256(text.encode()).digest()
        encoded = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        record.append(f"{path},sha256={encoded},{len(text.encode())}")
    files[info + "/RECORD"] = "\\n".join(record + [info + "/RECORD,,"]) + "\\n"
    name = "sampleproj-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(directory, name), "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return name


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    with open(os.path.join(HERE, "sampleproj", "__init__.py")) as source:
        return _wheel(wheel_directory, {"sampleproj/__init__.py": source.read()})


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    return _wheel(wheel_directory, {"sampleproj.pth": os.path.join(HERE, "src") + "\\n"})
"""

PROJECT = {
    "pyproject.toml": (
        '[build-system]\nrequires = []\nbuild-backend = "sample_backend"\nbackend-path = ["."]\n'
        '\n[project]\nname = "sampleproj"\nversion = "0.1.0"\n'
    ),
    "sample_backend.py": BACKEND,
    # outside the root, so only the installed project makes it importable
    "src/sampleproj/__init__.py": "VALUE = 42\n",
    "check.py": (
        "import importlib.metadata, os, sys\n"
        "import alpha, sampleproj\n"
        "print('alpha', alpha.__version__, 'project', sampleproj.VALUE,\n"
        "      importlib.metadata.version('sampleproj'), 'cwd', os.getcwd())\n"
        "print('prefix', sys.prefix)\n"
    ),
    "test_sample.py": (
        "import unittest\n\n"
        "class Sample(unittest.TestCase):\n"
        "    def test_good(self):\n        self.assertEqual(1, 1)\n\n"
        "    def test_bad(self):\n        self.assertEqual(1, 2, 'one is not two')\n"
    ),
    "scripts/test.sh": '#!/bin/sh\necho from-script "$VIRTUAL_ENV"\n',
    "spawn.py": (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
        "open(sys.argv[1], 'w').write(str(child.pid))\n"
        "print('spawned', child.pid, flush=True)\n"
        "time.sleep(120)\n"
    ),
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LockWorld]:
    with lock_world(tmp_path_factory.mktemp("verify")) as w:
        yield w


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("project")
    write_files(root, PROJECT)
    (root / "scripts/test.sh").chmod(0o755)
    return root


@pytest.fixture(scope="module", params=["pip-tools", "uv"])
def test_env(
    request: pytest.FixtureRequest,
    world: LockWorld,
    project: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[TestEnv]:
    backend = PipToolsBackend() if request.param == "pip-tools" else UvBackend()
    where = tmp_path_factory.mktemp("state") / "venvs" / "minor"
    with TestEnv(where, project, backend, LockIndex(world.index.url), world.env) as env:
        yield env
    assert not where.exists()


def locked(world: LockWorld) -> dict[str, str]:
    return {"requirements.txt": (world.template / "requirements.txt").read_text()}


def test_synced_environment_runs_the_command_from_the_root_with_the_project_installed(
    test_env: TestEnv, world: LockWorld, project: Path
) -> None:
    test_env.sync(locked(world))  # hashed, as pip-compile wrote it

    result = test_env.run_tests("python check.py", timeout=60)

    assert result.passed, result.log_tail
    assert "alpha 1.0 project 42 0.1.0" in result.log_tail
    assert f"cwd {project}" in result.log_tail
    assert f"prefix {test_env.path}" in result.log_tail  # the venv's python, not ours
    assert result.duration > 0


def test_a_later_sync_moves_pins_in_the_same_environment(
    test_env: TestEnv, world: LockWorld
) -> None:
    test_env.sync(locked(world))
    marker = test_env.path / "created-once"
    marker.write_text("")
    python = test_env.python

    test_env.sync({"requirements.txt": "alpha==1.1\nbeta==1.2\n"})

    assert marker.exists() and test_env.python == python
    moved = test_env.run_tests("python check.py", timeout=60)
    assert moved.passed, moved.log_tail
    assert "alpha 1.1" in moved.log_tail
    # gamma is no longer in the lockfiles, so the sync removed it
    gone = test_env.run_tests("python -c 'import gamma'", timeout=60)
    assert not gone.passed
    assert "ModuleNotFoundError" in gone.log_tail


def test_a_failing_test_fails_with_the_tail_and_the_test_named(
    test_env: TestEnv, world: LockWorld
) -> None:
    test_env.sync(locked(world))

    result = test_env.run_tests("python -m unittest test_sample", timeout=60)

    assert not result.passed
    assert "one is not two" in result.log_tail
    assert result.failing_tests == ("test_sample.Sample.test_bad",)


def _alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    if stat.parent.parent.is_dir() and Path("/proc/self").exists():
        try:
            # a zombie (state Z) has ended; it only waits for a parent to reap it
            return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except FileNotFoundError:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_hang_is_killed_with_its_whole_process_group(
    test_env: TestEnv, world: LockWorld, tmp_path: Path
) -> None:
    if test_env.backend.name == "uv":
        pytest.skip("process handling does not depend on the backend")
    pid_file = tmp_path / "grandchild.pid"
    started = time.monotonic()

    result = test_env.run_tests(f"python spawn.py {pid_file}", timeout=2)

    assert time.monotonic() - started < 30
    assert not result.passed
    assert "spawned" in result.log_tail
    assert result.log_tail.endswith("timed out after 2 s")
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(grandchild)


def test_a_command_not_in_the_environment_fails_saying_so(test_env: TestEnv) -> None:
    result = test_env.run_tests("no-such-test-runner -q", timeout=10)

    assert not result.passed
    assert result.log_tail == "no-such-test-runner: not found in the test environment"


def test_the_log_tail_keeps_the_last_lines(test_env: TestEnv) -> None:
    command = "python -c 'print(*range(500), sep=chr(10))'"

    result = test_env.run_tests(command, timeout=60)

    assert result.passed
    assert result.log_tail.splitlines() == [str(n) for n in range(440, 500)]


def test_a_probe_whose_lockfiles_cannot_be_installed_fails_with_the_reason(
    test_env: TestEnv,
) -> None:
    result = test_env.probe({"requirements.txt": "alpha==9.9\n"}, "python check.py", timeout=60)

    assert not result.passed
    assert result.log_tail.startswith("installing the candidate lockfiles failed")
    assert "alpha" in result.log_tail


def test_a_command_with_a_path_runs_relative_to_the_repository(test_env: TestEnv) -> None:
    if os.name != "posix":
        pytest.skip("a shell script")

    result = test_env.run_tests("scripts/test.sh", timeout=60)

    assert result.passed, result.log_tail
    assert result.log_tail == f"from-script {test_env.path}"


def test_an_existing_folder_that_is_not_a_venv_is_never_removed(
    world: LockWorld, project: Path, tmp_path: Path
) -> None:
    precious = tmp_path / "precious"
    write_files(precious, {"keep.txt": "mine"})
    env = TestEnv(precious, project, PipToolsBackend(), LockIndex(world.index.url), world.env)

    with pytest.raises(RunError, match="not a virtual environment"), env:
        pass

    assert (precious / "keep.txt").read_text() == "mine"


# ---------------------------------------------------------------------------- pure helpers


def test_failing_tests_reads_pytest_and_unittest_summaries() -> None:
    log = (
        "FAILED tests/test_a.py::test_one - AssertionError: x\n"
        "ERROR tests/test_b.py::test_two - fixture 'db' not found\n"
        "FAIL: test_bad (pkg.test_c.Case.test_bad)\n"
        "ERROR: test_old (pkg.test_d.Case)\n"
        "ERROR: Could not install packages\n"
        "FAILED tests/test_a.py::test_one - AssertionError: x\n"
    )

    assert failing_tests(log) == (
        "tests/test_a.py::test_one",
        "tests/test_b.py::test_two",
        "pkg.test_c.Case.test_bad",
        "pkg.test_d.Case.test_old",
    )


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"setup.py": ""}, True),
        ({"pyproject.toml": "[project]\nname = 'x'\n"}, True),
        ({"pyproject.toml": "[build-system]\nrequires = []\n"}, True),
        ({"pyproject.toml": "[tool.depbot]\ntest-command = 'pytest'\n"}, False),
        ({"pyproject.toml": "not toml ["}, False),
        ({"requirements.in": "x\n"}, False),
    ],
)
def test_is_package(tmp_path: Path, files: dict[str, str], expected: bool) -> None:
    write_files(tmp_path, files)

    assert is_package(tmp_path) is expected
