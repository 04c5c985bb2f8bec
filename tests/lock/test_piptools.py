"""The pip-tools backend's own behaviour: its messages, pip's configuration, other headers."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from depbot.lock.interface import LockError, LockIndex
from depbot.lock.piptools import PipToolsBackend, resolver_message
from depbot.lock.requirements import parse_lockfile
from depbot.lock.uv import default_uv
from tests.support.locking import LockWorld, lock_world

pytestmark = pytest.mark.slow

STDERR = """\
  ERROR: Could not find a version that satisfies the requirement beta>=9 (from alpha)
Traceback (most recent call last):
  File "/x/pip/_internal/resolution/resolvelib/resolver.py", line 103, in resolve
    result = self._result = resolver.resolve(
             ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
pip._vendor.resolvelib.resolvers.exceptions.ResolutionImpossible: [RequirementInformation()]

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/x/piptools/resolver.py", line 677, in _do_resolve
pip._internal.exceptions.DistributionNotFound: No matching distribution found for beta>=9
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LockWorld]:
    with lock_world(tmp_path_factory.mktemp("piptools")) as w:
        yield w


def test_resolver_message_keeps_pips_words_without_the_traceback() -> None:
    assert resolver_message(STDERR) == (
        "ERROR: Could not find a version that satisfies the requirement beta>=9 (from alpha)\n"
        "No matching distribution found for beta>=9"
    )


def test_resolver_message_falls_back_to_the_last_line() -> None:
    assert resolver_message("some noise\nError: no such option: --bogus\n") == (
        "Error: no such option: --bogus"
    )


def test_without_a_configured_index_pip_resolves_as_configured_and_nothing_leaks(
    world: LockWorld, tmp_path: Path
) -> None:
    repo = world.repo(tmp_path / "repo")
    lockfile = parse_lockfile(
        PurePosixPath("requirements.txt"), (repo / "requirements.txt").read_text()
    )
    env = {**world.env, "PIP_FIND_LINKS": str(tmp_path / "wheels")}

    after = PipToolsBackend().relock(
        repo, lockfile, {canonicalize_name("delta"): Version("1.1")}, LockIndex(), env
    )

    assert "delta==1.1" in after  # found through PIP_INDEX_URL
    assert "--index-url" not in after
    assert "--find-links" not in after


def test_a_lockfile_made_by_uv_is_relocked_by_pip_tools(world: LockWorld, tmp_path: Path) -> None:
    repo = world.repo(tmp_path / "repo")
    header = "uv pip compile --universal --python-version 3.11 requirements.in -o uv.txt"
    subprocess.run(
        [default_uv(), "pip", "compile", "--quiet", "--universal", "--python-version", "3.11",
         "--index-url", world.index.url, "--custom-compile-command", header,
         "-P", "alpha==1.0", "-P", "beta==1.0", "-P", "gamma==1.0", "-P", "delta==1.0",
         "requirements.in", "-o", "uv.txt"],
        cwd=repo, env=dict(world.env), check=True, capture_output=True,
    )  # fmt: skip
    before = (repo / "uv.txt").read_text()

    after = PipToolsBackend().relock(
        repo, parse_lockfile(PurePosixPath("uv.txt"), before),
        {canonicalize_name("alpha"): Version("1.1")}, LockIndex(world.index.url), world.env,
    )  # fmt: skip

    assert after.splitlines()[:2] == before.splitlines()[:2]
    assert "alpha==1.1" in after
    assert "beta==1.0" in after


def test_a_missing_interpreter_is_a_lock_error(world: LockWorld, tmp_path: Path) -> None:
    repo = world.repo(tmp_path / "repo")
    lockfile = parse_lockfile(
        PurePosixPath("requirements.txt"), (repo / "requirements.txt").read_text()
    )

    with pytest.raises(LockError, match="cannot run pip-compile"):
        PipToolsBackend(python=str(tmp_path / "no-python")).relock(
            repo, lockfile, {}, LockIndex(world.index.url), world.env
        )
