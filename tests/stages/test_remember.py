"""remember's decisions: which rollbacks block an update, which are kept; and the verdict key."""

from __future__ import annotations

from datetime import datetime, timezone

from packaging.version import Version

from depbot.models import Kind, RolledBack, Update, canonicalize_name
from depbot.stages.remember import blocking, unblocked
from depbot.stages.verify import verdict_key as probe_key
from depbot.state.store import RollbackRecord

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=timezone.utc)


def update(name: str, current: str, target: str) -> Update:
    return Update(
        canonicalize_name(name), Version(current), Version(target), Kind.MINOR, ("r.txt",)
    )


def record(name: str, version: str, reason: str = "tests-failed") -> RollbackRecord:
    return RollbackRecord(name, version, reason, "", NOW)


def test_a_version_is_blocked_but_a_newer_release_is_not() -> None:
    memory = [record("numpy", str(Version("2.0.0")))]
    units = [(update("NumPy", "1.26", "2.0"),), (update("numpy", "1.26", "2.0.0"),)]
    units += [(update("numpy", "1.26", "2.0.1"),), (update("scipy", "1.0", "2.0.0"),)]
    kept, rolled = unblocked(units, memory)
    assert [u[0].target for u in kept] == [Version("2.0.1"), Version("2.0.0")]
    assert [u[0].name for u in kept] == ["numpy", "scipy"]
    assert [(r.update.name, r.reason, r.detail) for r in rolled] == [
        ("numpy", "previously-failed", "tests-failed on 2025-03-10"),
        ("numpy", "previously-failed", "tests-failed on 2025-03-10"),
    ]


def test_a_unit_waits_as_one_when_memory_blocks_a_member() -> None:
    family = (update("torch", "2.0", "2.1"), update("torchvision", "0.15", "0.16"))
    kept, rolled = unblocked([family], [record("torch", "2.1")])
    assert kept == []
    assert [(r.update.name, r.detail) for r in rolled] == [
        ("torch", "tests-failed on 2025-03-10"),
        ("torchvision", "failed before"),
    ]


def test_only_proven_failures_are_remembered() -> None:
    rolled = [
        RolledBack(update("a", "1.0", "1.1"), "tests-failed", "FAILED x"),
        RolledBack(update("b", "1.0", "1.1"), "unresolvable", "conflict"),
        RolledBack(update("c", "1.0", "1.1"), "not-tested"),
        RolledBack(update("d", "1.0", "1.1"), "previously-failed"),
    ]
    assert [(r.update.name, str(r.update.target)) for r in blocking(rolled)] == [
        ("a", "1.1"),
        ("b", "1.1"),
    ]


def test_probe_key_depends_on_every_content_and_the_command() -> None:
    files = {"a.txt": b"x==1\n", "b.txt": b"y==2\n"}
    key = probe_key(files, "pytest -q")
    assert key == probe_key(dict(reversed(files.items())), "pytest -q")
    assert key != probe_key({**files, "b.txt": b"y==3\n"}, "pytest -q")
    assert key != probe_key(files, "pytest")
    # Field boundaries are part of the hash: moving bytes between path and content changes it.
    assert probe_key({"ab": b"c"}, "") != probe_key({"a": b"bc"}, "")
