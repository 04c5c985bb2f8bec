"""The SQLite store: real files, injected clocks."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from depbot.errors import RunError
from depbot.forge.interface import OpenBatch
from depbot.models import TestResult
from depbot.state.store import SCHEMA_VERSION, Store, reconciled, store_path

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return store_path(tmp_path / ".git" / "depbot")


def test_everything_survives_reopening(path: Path) -> None:
    with Store(path) as store:
        run = store.start_run("weekly", now=NOW)
        store.put_probe("k1", TestResult(False, "boom", ("t::a", "t::b"), 3.5), now=NOW)
        store.record_batch("minor", branch="depbot/minor", status="opened", pr="abc", now=NOW)
        store.add_rollback("Requests", "2.32.0", "tests-failed", "FAILED t::a", now=NOW)
        store.finish_run(run, "done", now=NOW + timedelta(minutes=3))

    with Store(path) as store:
        assert store.get_probe("k1") == TestResult(
            False, "boom", ("t::a", "t::b"), 3.5, cached=True
        )
        assert [(b.id, b.status, b.pr, b.updated_at) for b in store.batches()] == [
            ("minor", "opened", "abc", NOW)
        ]
        assert [(r.name, r.version) for r in store.rollbacks()] == [("requests", "2.32.0")]
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
        store.record_batch("minor", branch="depbot/minor", status="opened")
        store.forget_batch("minor")
        assert store.batches() == ()


def _open(batch_id: str, *, pr: str | None = None, ours: bool = True) -> OpenBatch:
    return OpenBatch(batch_id, f"depbot/{batch_id}", "c0ffee", "title", pr, ours)


def test_a_branch_published_but_not_remembered_is_recorded_as_opened(path: Path) -> None:
    # killed between update-ref and the store write: the forge has it, the store does not
    with Store(path) as store:
        published = [_open("security", pr="https://forge/pr/3")]
        assert store.reconcile(published) == published
        assert [(b.id, b.status, b.pr, b.key) for b in store.batches()] == [
            ("security", "opened", "https://forge/pr/3", None)
        ]
        # once true, nothing is left to change
        assert reconciled(store.batches(), published) == ()


def test_a_remembered_branch_that_is_gone_is_closed(path: Path) -> None:
    # killed between deleting a superseded branch and the store write (or the user deleted it)
    with Store(path) as store:
        store.record_batch("minor", branch="depbot/minor", status="updated", key="k1")
        store.record_batch("old", branch="depbot/old", status="closed")
        store.reconcile([])
        assert {b.id: (b.status, b.key) for b in store.batches()} == {
            "minor": ("closed", None),
            "old": ("closed", None),
        }


def test_a_branch_closed_then_published_again_is_opened(path: Path) -> None:
    with Store(path) as store:
        store.record_batch("minor", branch="depbot/minor", status="closed", pr="p1")
        store.reconcile([_open("minor", pr="p2")])
        assert [(b.status, b.pr) for b in store.batches()] == [("opened", "p2")]


def test_what_is_remembered_and_true_keeps_its_key_and_date(path: Path) -> None:
    with Store(path) as store:
        store.record_batch("minor", branch="depbot/minor", status="updated", pr="p1", key="k")
        store.record_batch("edited", branch="depbot/edited", status="opened", key="k2")
        before = store.batches()
        # a PR found where none was remembered is taken; a human's branch keeps its record
        store.reconcile([_open("minor", pr="p1"), _open("edited", ours=False)])
        assert store.batches() == before
        changed = reconciled(before, [_open("minor", pr="p9"), _open("edited", ours=False)], NOW)
        assert [(r.id, r.status, r.pr, r.key, r.updated_at) for r in changed] == [
            ("minor", "updated", "p9", "k", NOW)
        ]


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
