"""The SQLite store and the run lock: real files, injected clocks, no sleeping."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from packaging.version import Version

from depbot.errors import RunError
from depbot.models import Kind, RolledBack, TestResult, Update, canonicalize_name
from depbot.stages.remember import (
    SCHEMA_VERSION,
    RunLock,
    Store,
    probe_key,
    store_path,
)

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return store_path(tmp_path / ".git" / "depbot")


def update(name: str, current: str, target: str) -> Update:
    return Update(
        canonicalize_name(name), Version(current), Version(target), Kind.MINOR, ("r.txt",)
    )


def test_everything_survives_reopening(path: Path) -> None:
    with Store(path) as store:
        run = store.start_run("weekly", now=NOW)
        store.put_probe("k1", TestResult(False, "boom", ("t::a", "t::b"), 3.5), now=NOW)
        store.record_batch(
            "minor", branch="depbot/minor", status="opened", pr="abc", head_sha="abc", now=NOW
        )
        store.add_rollback("Requests", "2.32.0", "tests-failed", "FAILED t::a", now=NOW)
        store.finish_run(run, "done", now=NOW + timedelta(minutes=3))

    with Store(path) as store:
        assert store.get_probe("k1") == TestResult(
            False, "boom", ("t::a", "t::b"), 3.5, cached=True
        )
        assert [(b.id, b.status, b.head_sha, b.updated_at) for b in store.batches()] == [
            ("minor", "opened", "abc", NOW)
        ]
        assert store.is_blocked("requests", "2.32.0")
        [latest] = store.runs()
        assert (latest.trigger, latest.status, latest.finished) == (
            "weekly",
            "done",
            NOW + timedelta(minutes=3),
        )


def test_unknown_probe_is_none_and_a_new_verdict_replaces_the_old(path: Path) -> None:
    with Store(path) as store:
        assert store.get_probe("nope") is None
        store.put_probe("k", TestResult(False, "x"), now=NOW)
        store.put_probe("k", TestResult(True, "ok", duration=1.0), now=NOW)
        result = store.get_probe("k")
    assert result is not None
    assert result.passed
    assert result.cached


def test_a_killed_run_has_no_finish(path: Path) -> None:
    with Store(path) as store:
        store.start_run("manual", now=NOW)
    with Store(path) as store:
        [run] = store.runs()
    assert run.finished is None
    assert run.status is None


def test_a_version_is_blocked_but_a_newer_release_is_not(path: Path) -> None:
    with Store(path) as store:
        store.add_rollback("numpy", Version("2.0.0"), "tests-failed", now=NOW)
        assert store.is_blocked("NumPy", "2.0")
        assert store.is_blocked("numpy", Version("2.0.0"))
        assert not store.is_blocked("numpy", "2.0.1")
        assert not store.is_blocked("scipy", "2.0.0")


def test_a_repeated_rollback_keeps_its_first_date(path: Path) -> None:
    with Store(path) as store:
        store.add_rollback("numpy", "2.0.0", "tests-failed", "old", now=NOW)
        store.add_rollback("numpy", "2.0.0", "unresolvable", "new", now=NOW + timedelta(days=3))
        [record] = store.rollbacks()
    assert (record.reason, record.detail, record.at) == ("unresolvable", "new", NOW)


def test_rollback_age_flags_those_blocked_over_a_week(path: Path) -> None:
    with Store(path) as store:
        store.add_rollback("old", "1.0", "tests-failed", now=NOW - timedelta(days=8))
        store.add_rollback("young", "1.0", "tests-failed", now=NOW - timedelta(days=6))
        records = store.rollbacks()
    assert [r.name for r in records] == ["old", "young"]
    assert records[0].age(NOW) == timedelta(days=8)
    assert [r.stale(NOW) for r in records] == [True, False]


def test_only_proven_failures_are_remembered(path: Path) -> None:
    rolled = [
        RolledBack(update("a", "1.0", "1.1"), "tests-failed", "FAILED x"),
        RolledBack(update("b", "1.0", "1.1"), "unresolvable", "conflict"),
        RolledBack(update("c", "1.0", "1.1"), "not-tested"),
        RolledBack(update("d", "1.0", "1.1"), "previously-failed"),
    ]
    with Store(path) as store:
        assert store.remember_rollbacks(rolled, now=NOW) == 2
        assert [(r.name, r.version) for r in store.rollbacks()] == [("a", "1.1"), ("b", "1.1")]


def test_retry_clears_named_packages_or_all(path: Path) -> None:
    with Store(path) as store:
        for name in ("a", "b", "c"):
            store.add_rollback(name, "1.0", "tests-failed", now=NOW)
        assert store.clear_rollbacks(["A", "b", "zzz"]) == 2
        assert [r.name for r in store.rollbacks()] == ["c"]
        assert store.clear_rollbacks() == 1
        assert store.rollbacks() == ()


def test_forget_batch(path: Path) -> None:
    with Store(path) as store:
        store.record_batch("minor", branch="depbot/minor", status="opened", record="t\n\nb")
        store.forget_batch("minor")
        assert store.batches() == ()


def test_a_failed_write_leaves_nothing_behind(path: Path) -> None:
    with Store(path) as store:
        with pytest.raises(sqlite3.IntegrityError):
            store.add_rollback("a", "1.0", None, now=NOW)  # type: ignore[arg-type]
        assert store.rollbacks() == ()
        store.add_rollback("a", "1.0", "tests-failed", now=NOW)
        assert len(store.rollbacks()) == 1


def test_a_store_from_a_newer_depbot_is_refused(path: Path) -> None:
    Store(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE schema SET version = ?", (SCHEMA_VERSION + 1,))
    db.commit()
    db.close()
    with pytest.raises(RunError, match="newer depbot"):
        Store(path)


def test_a_corrupt_store_is_a_run_error(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(RunError, match="state store"):
        Store(path)


def test_store_uses_wal(path: Path) -> None:
    Store(path).close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_probe_key_depends_on_every_content_and_the_command() -> None:
    files = {"a.txt": b"x==1\n", "b.txt": b"y==2\n"}
    key = probe_key(files, "pytest -q")
    assert key == probe_key(dict(reversed(files.items())), "pytest -q")
    assert key != probe_key({**files, "b.txt": b"y==3\n"}, "pytest -q")
    assert key != probe_key(files, "pytest")
    # Field boundaries are part of the hash: moving bytes between path and content changes it.
    assert probe_key({"ab": b"c"}, "") != probe_key({"a": b"bc"}, "")


def test_second_lock_holder_fails_after_its_timeout(tmp_path: Path) -> None:
    lock_path = tmp_path / "lock"
    now = [0.0]
    waited: list[float] = []

    def sleep(seconds: float) -> None:
        waited.append(seconds)
        now[0] += seconds

    with RunLock(lock_path):
        second = RunLock(lock_path, timeout=2.0, poll=0.5, clock=lambda: now[0], sleep=sleep)
        with pytest.raises(RunError, match=r"another depbot run holds the lock .*\(pid \d+\)"):
            second.acquire()
    assert waited == [0.5, 0.5, 0.5, 0.5]


def test_lock_is_free_again_after_release(tmp_path: Path) -> None:
    lock_path = tmp_path / "lock"
    with RunLock(lock_path):
        pass
    with RunLock(lock_path) as again:
        assert again.path.read_text().strip().isdigit()


def test_a_lock_file_left_by_a_crashed_run_does_not_block(tmp_path: Path) -> None:
    lock_path = tmp_path / "depbot" / "lock"
    lock_path.parent.mkdir()
    lock_path.write_text("99999\n")
    with RunLock(lock_path, timeout=0):
        assert lock_path.exists()


def test_a_lock_held_by_a_process_killed_with_sigkill_is_released(tmp_path: Path) -> None:
    lock_path = tmp_path / "lock"
    holder = (
        "import sys, pathlib\n"
        "from depbot.stages.remember import RunLock\n"
        "lock = RunLock(pathlib.Path(sys.argv[1]))\n"
        "lock.acquire()\n"
        "print('locked', flush=True)\n"
        "sys.stdin.read()\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", holder, str(lock_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "locked"
        with pytest.raises(RunError, match=f"pid {child.pid}"):
            RunLock(lock_path).acquire()
    finally:
        child.kill()
        child.wait()
    with RunLock(lock_path, timeout=0):
        assert lock_path.read_text().strip() == str(os.getpid())
