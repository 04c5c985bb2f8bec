"""The relock stage: one regeneration per lockfile, unresolvable updates rolled back alone."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from pathlib import Path, PurePosixPath

import pytest
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from depbot.lock.interface import LockBackend, LockIndex, Unresolvable
from depbot.lock.piptools import PipToolsBackend
from depbot.lock.requirements import parse_lockfile
from depbot.models import Kind, Lockfile, Update
from depbot.stages.relock import BackendFor, relock
from tests.support.locking import LockWorld, lock_world

LOCKFILES = ("requirements.txt", "requirements/dev.txt")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LockWorld]:
    with lock_world(tmp_path_factory.mktemp("relock")) as w:
        yield w


def lockfiles(repo: Path) -> tuple[Lockfile, ...]:
    return tuple(
        parse_lockfile(PurePosixPath(p), (repo / p).read_text(encoding="utf-8")) for p in LOCKFILES
    )


def update(name: str, current: str, target: str, *paths: str, group: str | None = None) -> Update:
    return Update(
        name=canonicalize_name(name),
        current=Version(current),
        target=Version(target),
        kind=Kind.MINOR,
        lockfiles=paths or ("requirements.txt",),
        group=group,
    )


def every(backend: LockBackend) -> BackendFor:
    """The same backend for every lockfile's Python."""
    return lambda _python: backend


def pins(text: str) -> dict[str, str]:
    return {p.name: str(p.version) for p in parse_lockfile(PurePosixPath("x"), text).pins}


@pytest.mark.slow
def test_an_unresolvable_update_is_rolled_back_and_the_rest_applied(
    world: LockWorld, tmp_path: Path
) -> None:
    repo = world.repo(tmp_path / "repo")
    bad = update("alpha", "1.0", "2.0")
    good = update("gamma", "1.0", "1.5", *LOCKFILES)

    result = relock(
        repo,
        lockfiles(repo),
        [bad, good],
        every(PipToolsBackend()),
        LockIndex(world.index.url),
        world.env,
    )

    assert result.kept == (good,)
    assert [(r.update, r.reason) for r in result.unresolvable] == [(bad, "unresolvable")]
    assert "beta>=9" in result.unresolvable[0].detail
    assert pins(result.files["requirements.txt"]) == {
        "alpha": "1.0", "beta": "1.0", "gamma": "1.5", "delta": "1.0",
    }  # fmt: skip
    assert pins(result.files["requirements/dev.txt"]) == {"gamma": "1.5", "delta": "1.0"}


@pytest.mark.slow
def test_a_batch_that_resolves_touches_only_its_lockfiles(world: LockWorld, tmp_path: Path) -> None:
    repo = world.repo(tmp_path / "repo")
    batch = [update("alpha", "1.0", "1.1"), update("beta", "1.0", "1.2")]

    result = relock(
        repo,
        lockfiles(repo),
        batch,
        every(PipToolsBackend()),
        LockIndex(world.index.url),
        world.env,
    )

    assert set(result.files) == {"requirements.txt"}
    assert pins(result.files["requirements.txt"])["alpha"] == "1.1"
    assert pins(result.files["requirements.txt"])["beta"] == "1.2"
    assert result.unresolvable == ()


class ScriptedBackend(LockBackend):
    """Moves pins by editing the text; refuses or ignores what the test says. Only for the
    stage's decisions, which do not depend on a real resolver."""

    name = "scripted"

    def __init__(self, refuse: Mapping[str, set[str]], ignore: Collection[str] = ()) -> None:
        self.refuse = refuse
        self.ignore = ignore
        self.calls: list[tuple[str, frozenset[str]]] = []

    def relock(
        self,
        repo: Path,
        lockfile: Lockfile,
        upgrades: Mapping[NormalizedName, Version],
        index: LockIndex,
        env: Mapping[str, str],
    ) -> str:
        self.calls.append((str(lockfile.path), frozenset(upgrades)))
        if self.refuse.get(str(lockfile.path), set()) & set(upgrades):
            raise Unresolvable(f"refused in {lockfile.path}")
        text = (repo / lockfile.path).read_text()
        for name, target in upgrades.items():
            pin = lockfile.pin(name)
            if pin is not None and name not in self.ignore:
                text = text.replace(f"{name}=={pin.version}", f"{name}=={target}")
        return text

    def create_venv(self, path: Path, env: Mapping[str, str]) -> Path:
        raise NotImplementedError

    def sync(
        self, python: Path, lockfiles: Sequence[Path], index: LockIndex, env: Mapping[str, str]
    ) -> None:
        raise NotImplementedError

    def install_project(
        self, python: Path, project: Path, index: LockIndex, env: Mapping[str, str]
    ) -> None:
        raise NotImplementedError


def test_a_pin_the_resolver_quietly_kept_counts_as_unresolvable(
    world: LockWorld, tmp_path: Path
) -> None:
    repo = world.repo(tmp_path / "repo")
    stuck = update("delta", "1.0", "1.1")
    fine = update("gamma", "1.0", "1.5")

    result = relock(
        repo, lockfiles(repo), [stuck, fine], every(ScriptedBackend({}, ignore={"delta"})),
        LockIndex(), {},
    )  # fmt: skip

    assert result.kept == (fine,)
    assert result.unresolvable[0].update == stuck
    assert "kept delta at 1.0" in result.unresolvable[0].detail


def test_an_update_refused_in_one_lockfile_leaves_every_lockfile(
    world: LockWorld, tmp_path: Path
) -> None:
    repo = world.repo(tmp_path / "repo")
    both = update("delta", "1.0", "1.1", *LOCKFILES)
    other = update("gamma", "1.0", "1.5", *LOCKFILES)
    backend = ScriptedBackend({"requirements/dev.txt": {"delta"}})

    result = relock(repo, lockfiles(repo), [both, other], every(backend), LockIndex(), {})

    assert result.kept == (other,)
    assert [r.update for r in result.unresolvable] == [both]
    assert pins(result.files["requirements.txt"])["delta"] == "1.0"
    assert pins(result.files["requirements.txt"])["gamma"] == "1.5"
    # each (lockfile, pin set) is resolved once, however many rounds the stage takes
    assert len(backend.calls) == len(set(backend.calls))


def test_a_family_is_rolled_back_as_one_unit(world: LockWorld, tmp_path: Path) -> None:
    repo = world.repo(tmp_path / "repo")
    lead = update("alpha", "1.0", "1.1", group="fam")
    member = update("beta", "1.0", "1.2", group="fam")
    alone = update("gamma", "1.0", "1.5")

    result = relock(
        repo, lockfiles(repo), [lead, member, alone],
        every(ScriptedBackend({"requirements.txt": {"beta"}})), LockIndex(), {},
    )  # fmt: skip

    assert result.kept == (alone,)
    assert {r.update for r in result.unresolvable} == {lead, member}
    assert pins(result.files["requirements.txt"])["alpha"] == "1.0"


def test_updates_that_only_fail_together_keep_the_first(world: LockWorld, tmp_path: Path) -> None:
    repo = world.repo(tmp_path / "repo")
    first, second = update("gamma", "1.0", "1.5"), update("delta", "1.0", "1.1")

    class Together(ScriptedBackend):
        def relock(self, repo, lockfile, upgrades, index, env):  # type: ignore[no-untyped-def]
            if {"gamma", "delta"} <= set(upgrades):
                raise Unresolvable("gamma 1.5 and delta 1.1 conflict")
            return super().relock(repo, lockfile, upgrades, index, env)

    result = relock(repo, lockfiles(repo), [first, second], every(Together({})), LockIndex(), {})

    assert result.kept == (first,)
    assert result.unresolvable[0].update == second
    assert result.unresolvable[0].detail == "gamma 1.5 and delta 1.1 conflict"
