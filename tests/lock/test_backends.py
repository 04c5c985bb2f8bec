"""The lock seam's contract, run over every backend with the real tools on a loopback index."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from depbot.lock.interface import LockBackend, LockError, LockIndex, Unresolvable
from depbot.lock.piptools import PipToolsBackend
from depbot.lock.replay import compile_command, keep_preamble, pin_argument
from depbot.lock.requirements import parse_lockfile
from depbot.lock.uv import UvBackend
from depbot.models import Lockfile
from tests.support.locking import LockWorld, lock_world
from tests.support.wheels import Dist

pytestmark = pytest.mark.slow

BACKENDS = {"pip-tools": PipToolsBackend, "uv": UvBackend}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LockWorld]:
    with lock_world(tmp_path_factory.mktemp("lock")) as w:
        yield w


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest) -> LockBackend:
    return BACKENDS[request.param]()


def load(repo: Path, path: str) -> Lockfile:
    return parse_lockfile(PurePosixPath(path), (repo / path).read_text(encoding="utf-8"))


def versions(text: str) -> dict[str, str]:
    return {p.name: str(p.version) for p in parse_lockfile(PurePosixPath("x.txt"), text).pins}


def preamble(text: str) -> list[str]:
    """The lines before the first pin."""
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if "==" in line and not line.startswith("#"))
    return lines[:first]


def relock(backend: LockBackend, world: LockWorld, repo: Path, path: str, **targets: str) -> str:
    upgrades = {canonicalize_name(n): Version(v) for n, v in targets.items()}
    return backend.relock(repo, load(repo, path), upgrades, LockIndex(world.index.url), world.env)


def test_upgrade_moves_only_the_named_package(
    backend: LockBackend, world: LockWorld, tmp_path: Path
) -> None:
    repo = world.repo(tmp_path / "repo")
    before = (repo / "requirements.txt").read_text()

    after = relock(backend, world, repo, "requirements.txt", alpha="1.1")

    # beta 1.2 and gamma 1.5 exist, but only alpha was asked for
    assert versions(after) == {"alpha": "1.1", "beta": "1.0", "gamma": "1.0", "delta": "1.0"}
    assert (repo / "requirements.txt").read_text() == before  # the tool wrote elsewhere


def test_header_options_and_hashes_are_kept(
    backend: LockBackend, world: LockWorld, tmp_path: Path
) -> None:
    repo = world.repo(tmp_path / "repo")
    before = (repo / "requirements.txt").read_text()

    after = relock(backend, world, repo, "requirements.txt", gamma="1.5")

    assert preamble(after) == preamble(before)
    old, new = load(repo, "requirements.txt"), parse_lockfile(PurePosixPath("r.txt"), after)
    assert new.pin("gamma") is not None
    assert new.pin("gamma").hashes == (f"sha256:{world.index.file_sha256(Dist('gamma', '1.5'))}",)
    for name in ("alpha", "beta", "delta"):
        assert new.pin(name) == old.pin(name)  # same version, hashes, via and line


def test_no_index_line_appears_when_the_original_had_none(
    backend: LockBackend, world: LockWorld, tmp_path: Path
) -> None:
    repo = world.repo(tmp_path / "repo")
    assert "PIP_INDEX_URL" in world.env

    after = relock(backend, world, repo, "requirements.txt", delta="1.1")

    assert "--index-url" not in after
    assert world.index.url not in after
    assert versions(after)["delta"] == "1.1"


def test_an_index_line_of_the_original_is_kept(
    backend: LockBackend, world: LockWorld, tmp_path: Path
) -> None:
    repo = world.repo(tmp_path / "repo")
    before = (repo / "requirements/dev.txt").read_text()
    assert f"--index-url {world.index.url}" in before

    after = relock(backend, world, repo, "requirements/dev.txt", delta="1.1")

    assert preamble(after) == preamble(before)
    assert after.count("--index-url") == 1
    assert versions(after) == {"gamma": "1.0", "delta": "1.1"}
    assert "# via -r requirements/dev.in" in after


def test_a_transitive_pin_can_move_alone(
    backend: LockBackend, world: LockWorld, tmp_path: Path
) -> None:
    repo = world.repo(tmp_path / "repo")

    after = relock(backend, world, repo, "requirements.txt", beta="1.2")

    assert versions(after) == {"alpha": "1.0", "beta": "1.2", "gamma": "1.0", "delta": "1.0"}


@pytest.mark.parametrize(
    ("target", "words"),
    [("2.0", "beta"), ("7.0", "alpha")],
    ids=["dependency-missing", "version-missing"],
)
def test_an_unresolvable_upgrade_raises_with_the_resolvers_reason(
    backend: LockBackend, world: LockWorld, tmp_path: Path, target: str, words: str
) -> None:
    repo = world.repo(tmp_path / "repo")

    with pytest.raises(Unresolvable) as caught:
        relock(backend, world, repo, "requirements.txt", alpha=target)

    assert words in caught.value.message
    assert "Traceback" not in caught.value.message
    assert 'File "' not in caught.value.message


def test_both_backends_resolve_to_the_same_lockfile(world: LockWorld, tmp_path: Path) -> None:
    texts = {
        name: relock(
            cls(), world, world.repo(tmp_path / name), "requirements.txt", alpha="1.1", gamma="1.5"
        )
        for name, cls in BACKENDS.items()
    }

    assert texts["pip-tools"] == texts["uv"]


# ---------------------------------------------------------------------------- shared helpers


@pytest.mark.parametrize(
    "name", ["alpha; rm -rf /", "--index-url=http://evil", "al pha", "alpha[x]", "-Palpha", ""]
)
def test_pin_argument_rejects_what_is_not_a_name(name: str) -> None:
    with pytest.raises(LockError, match="invalid package name"):
        pin_argument(name, Version("1.0"))


def test_pin_argument_rejects_a_bad_version_and_normalises_good_ones() -> None:
    with pytest.raises(LockError, match="invalid version"):
        pin_argument("alpha", "1.0 --pre")
    assert pin_argument("Zope.Interface", "1.0.0-RC1") == "zope-interface==1.0.0rc1"


def lockfile_with(command: str, path: str = "requirements.txt") -> Lockfile:
    text = "#\n# This file is autogenerated by pip-compile with Python 3.11\n"
    text += f"# by the following command:\n#\n#    {command}\n#\nalpha==1.0\n"
    return parse_lockfile(PurePosixPath(path), text)


def test_the_replayed_command_drops_output_and_upgrade_options(tmp_path: Path) -> None:
    lockfile = lockfile_with(
        "pip-compile -U --generate-hashes -o requirements.txt --upgrade-package=x "
        "-P y --constraint c.txt --dry-run requirements.in extra.in"
    )

    command = compile_command(tmp_path, lockfile)

    assert command.tool == "pip-compile"
    assert command.arguments == (
        "--generate-hashes", "--constraint", "c.txt", "requirements.in", "extra.in",
    )  # fmt: skip
    assert command.sources == ("requirements.in", "extra.in")
    assert not command.names_index


def test_a_uv_header_is_replayed_as_uv(tmp_path: Path) -> None:
    text = (
        "# This file was autogenerated by uv via the following command:\n"
        "#    uv pip compile --universal -i http://x/simple requirements.in -o requirements.txt\n"
        "alpha==1.0\n"
    )
    command = compile_command(tmp_path, parse_lockfile(PurePosixPath("requirements.txt"), text))

    assert command.tool == "uv"
    assert command.arguments == ("--universal", "-i", "http://x/simple", "requirements.in")
    assert command.names_index


def test_a_custom_header_command_falls_back_to_the_sibling_in_file(tmp_path: Path) -> None:
    lockfile = lockfile_with("make lock", "requirements/base.txt")
    with pytest.raises(LockError, match=r"make lock.*requirements/base\.in"):
        compile_command(tmp_path, lockfile)

    (tmp_path / "requirements").mkdir()
    (tmp_path / "requirements/base.in").write_text("alpha\n")
    command = compile_command(tmp_path, lockfile)

    assert command.sources == ("requirements/base.in",)


def test_keep_preamble_puts_the_original_header_and_options_over_the_new_pins() -> None:
    original = "#\n# header\n#\n--index-url http://i/simple\n\nalpha==1.0\n    # via x\n"
    regenerated = "--find-links /leaked\n\nalpha==1.1\n    # via x\nbeta==2\n"

    assert keep_preamble(original, regenerated) == (
        "#\n# header\n#\n--index-url http://i/simple\n\nalpha==1.1\n    # via x\nbeta==2\n"
    )
