"""The uv backend's own behaviour: its dialect, its messages, its header, its failures."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from depbot.lock.interface import LockError, LockIndex, Unresolvable
from depbot.lock.replay import CompileCommand
from depbot.lock.requirements import parse_lockfile
from depbot.lock.uv import UvBackend, _for_uv, default_uv, uv_message
from tests.support.locking import LockWorld, lock_world

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LockWorld]:
    with lock_world(tmp_path_factory.mktemp("uv")) as w:
        yield w


def test_pip_compile_options_are_translated_to_uvs_dialect() -> None:
    command = CompileCommand(
        "pip-compile",
        (
            "--allow-unsafe", "--resolver=backtracking", "--max-rounds", "5", "--reuse-hashes",
            "--emit-index-url", "--trusted-host", "h.example", "--uploaded-prior-to=2024-01-01",
            "--generate-hashes", "requirements.in",
        ),
        ("requirements.in",),
    )  # fmt: skip

    assert _for_uv(command, "3.10") == [
        "--allow-insecure-host", "h.example", "--exclude-newer", "2024-01-01",
        "--generate-hashes", "requirements.in", "--no-strip-extras", "--no-strip-markers",
        "--python-version", "3.10",
    ]  # fmt: skip


def test_a_uv_command_keeps_its_own_choices() -> None:
    command = CompileCommand("uv", ("--universal", "--strip-extras", "a.in"), ("a.in",))

    assert _for_uv(command, "3.11") == ["--universal", "--strip-extras", "a.in"]


def test_uv_message_drops_warnings() -> None:
    stderr = "warning: pip-compile's `--allow-unsafe` has no effect\n  error: No solution found\n"

    assert uv_message(stderr) == "error: No solution found"


def test_default_uv_is_the_installed_binary() -> None:
    assert Path(default_uv()).name in ("uv", "uv.exe")


def test_a_lockfile_made_by_uv_keeps_its_uv_header(world: LockWorld, tmp_path: Path) -> None:
    repo = world.repo(tmp_path / "repo")
    header = "uv pip compile requirements.in -o uv.txt"
    subprocess.run(
        [default_uv(), "pip", "compile", "--quiet", "--index-url", world.index.url,
         "--custom-compile-command", header, "-P", "alpha==1.0", "-P", "beta==1.0",
         "-P", "gamma==1.0", "-P", "delta==1.0", "requirements.in", "-o", "uv.txt"],
        cwd=repo, env=dict(world.env), check=True, capture_output=True,
    )  # fmt: skip
    before = (repo / "uv.txt").read_text()
    lockfile = parse_lockfile(PurePosixPath("uv.txt"), before)
    assert lockfile.header.tool == "uv"

    after = UvBackend().relock(
        repo, lockfile, {canonicalize_name("gamma"): Version("1.5")},
        LockIndex(world.index.url), world.env,
    )  # fmt: skip

    assert after.splitlines()[:2] == before.splitlines()[:2]
    assert f"#    {header}" in after
    assert "gamma==1.5" in after
    assert "alpha==1.0" in after


def test_an_unreachable_index_is_a_lock_error_not_unresolvable(
    world: LockWorld, tmp_path: Path
) -> None:
    repo = world.repo(tmp_path / "repo")
    lockfile = parse_lockfile(
        PurePosixPath("requirements.txt"), (repo / "requirements.txt").read_text()
    )
    env = {**world.env, "UV_HTTP_RETRIES": "0"}

    with pytest.raises(LockError) as caught:
        UvBackend().relock(
            repo, lockfile, {canonicalize_name("gamma"): Version("1.5")},
            LockIndex("http://127.0.0.1:9/simple/"), env,
        )  # fmt: skip

    assert not isinstance(caught.value, Unresolvable)
    assert "127.0.0.1:9" in str(caught.value)


def test_a_missing_uv_binary_is_a_lock_error(world: LockWorld, tmp_path: Path) -> None:
    repo = world.repo(tmp_path / "repo")
    lockfile = parse_lockfile(
        PurePosixPath("requirements.txt"), (repo / "requirements.txt").read_text()
    )

    with pytest.raises(LockError, match="cannot run uv pip compile"):
        UvBackend(uv=str(tmp_path / "no-uv")).relock(
            repo, lockfile, {}, LockIndex(world.index.url), world.env
        )
