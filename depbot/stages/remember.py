"""remember: what depbot keeps between runs, in SQLite under ``.git/depbot/`` (SPEC §5, §9).

The store holds runs, probe verdicts (by content hash, so an identical rerun spends no test run),
published batches and rolled-back (package, version) pairs. A rolled-back version stays blocked
until a newer release appears (a different version) or the user clears it (``--retry``). Every
write is one transaction, so a run killed at any point leaves the store consistent. ``RunLock``
serialises runs on one repository.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import TracebackType

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from depbot.errors import RunError
from depbot.models import RolledBack, TestResult

__all__ = [
    "BLOCKING_REASONS",
    "SCHEMA_VERSION",
    "STALE_AFTER",
    "BatchRecord",
    "RollbackRecord",
    "RunLock",
    "RunRecord",
    "Store",
    "probe_key",
    "store_path",
]

SCHEMA_VERSION = 1
STALE_AFTER = timedelta(days=7)
"""A rollback blocked for longer than this is flagged by ``depbot status``."""
BLOCKING_REASONS = frozenset({"unresolvable", "tests-failed"})
"""Rollback reasons that block a version; ``not-tested`` (budget) never proved anything."""

_DETAIL_LIMIT = 20_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    trigger TEXT NOT NULL,
    started TEXT NOT NULL,
    finished TEXT,
    status TEXT
);
CREATE TABLE IF NOT EXISTS probes (
    key TEXT PRIMARY KEY,
    passed INTEGER NOT NULL,
    log_tail TEXT NOT NULL,
    failing_tests TEXT NOT NULL,
    duration REAL NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS batches (
    id TEXT PRIMARY KEY,
    branch TEXT NOT NULL,
    status TEXT NOT NULL,
    pr TEXT,
    head_sha TEXT,
    record TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rollbacks (
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (name, version)
);
"""


def store_path(state_dir: Path) -> Path:
    """The store's file inside depbot's state directory (``depbot.forge.git.depbot_dir``)."""
    return state_dir / "state.sqlite"


def probe_key(files: Mapping[str, bytes], test_command: str) -> str:
    """A content hash of the tested lockfiles and the test command: equal inputs, equal key."""
    digest = hashlib.sha256()
    for path in sorted(files):
        content = files[path]
        # Lengths delimit the fields, so no two different inputs share a byte stream.
        digest.update(f"{len(path)}:{path}{len(content)}:".encode())
        digest.update(content)
    digest.update(f"{len(test_command)}:{test_command}".encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class RunRecord:
    """One ``depbot run``."""

    id: int
    trigger: str
    started: datetime
    finished: datetime | None
    status: str | None
    """None while running, or when the run was killed before it finished."""


@dataclass(frozen=True)
class BatchRecord:
    """The last thing published for a batch."""

    id: str
    branch: str
    status: str
    pr: str | None
    head_sha: str | None
    updated_at: datetime
    record: str = ""
    """The PR record (title, blank line, body) as published."""


@dataclass(frozen=True)
class RollbackRecord:
    """A (package, version) that failed and is not retried until a newer release appears."""

    name: str
    version: str
    reason: str
    detail: str
    at: datetime
    """When it was first rolled back: its age is how long the update has been blocked."""

    def age(self, now: datetime) -> timedelta:
        return _utc(now) - self.at

    def stale(self, now: datetime, after: timedelta = STALE_AFTER) -> bool:
        """Whether it has been blocked for longer than ``after`` (flagged by ``status``)."""
        return self.age(now) > after


class Store:
    """depbot's memory for one repository, in the SQLite file at ``path`` (created if missing)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # isolation_level=None: transactions are begun explicitly, one per write.
            self._db = sqlite3.connect(str(path), timeout=30.0, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            with self._write() as db:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                row = db.execute("SELECT version FROM schema").fetchone()
                if row is None:
                    db.execute("INSERT INTO schema (version) VALUES (?)", (SCHEMA_VERSION,))
                elif row[0] > SCHEMA_VERSION:
                    raise RunError(
                        f"{path} was written by a newer depbot (schema {row[0]}, "
                        f"this depbot knows {SCHEMA_VERSION})"
                    )
        except sqlite3.DatabaseError as exc:
            raise RunError(f"cannot open depbot's state store {path}: {exc}") from None

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ runs

    def start_run(self, trigger: str, *, now: datetime | None = None) -> int:
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO runs (trigger, started) VALUES (?, ?)", (trigger, _iso(now))
            )
            return int(cursor.lastrowid or 0)

    def finish_run(self, run_id: int, status: str, *, now: datetime | None = None) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE runs SET finished = ?, status = ? WHERE id = ?", (_iso(now), status, run_id)
            )

    def runs(self, limit: int = 20) -> tuple[RunRecord, ...]:
        """The latest runs, newest first."""
        rows = self._db.execute(
            "SELECT id, trigger, started, finished, status FROM runs ORDER BY id DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return tuple(
            RunRecord(r[0], r[1], _parse(r[2]), _parse(r[3]) if r[3] else None, r[4]) for r in rows
        )

    # ------------------------------------------------------------------ probes

    def get_probe(self, key: str) -> TestResult | None:
        """The stored verdict for ``key`` (see probe_key), marked ``cached``; None if never run."""
        row = self._db.execute(
            "SELECT passed, log_tail, failing_tests, duration FROM probes WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            return None
        failing = tuple(str(t) for t in json.loads(row[2]))
        return TestResult(bool(row[0]), row[1], failing, float(row[3]), cached=True)

    def put_probe(self, key: str, result: TestResult, *, now: datetime | None = None) -> None:
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO probes (key, passed, log_tail, failing_tests, duration, at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    key,
                    int(result.passed),
                    result.log_tail,
                    json.dumps(list(result.failing_tests)),
                    result.duration,
                    _iso(now),
                ),
            )

    # ------------------------------------------------------------------ batches

    def record_batch(
        self,
        batch_id: str,
        *,
        branch: str,
        status: str,
        pr: str | None = None,
        head_sha: str | None = None,
        record: str = "",
        now: datetime | None = None,
    ) -> None:
        """Remember what was published for ``batch_id`` (replacing the previous entry)."""
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO batches"
                " (id, branch, status, pr, head_sha, record, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (batch_id, branch, status, pr, head_sha, record, _iso(now)),
            )

    def forget_batch(self, batch_id: str) -> None:
        with self._write() as db:
            db.execute("DELETE FROM batches WHERE id = ?", (batch_id,))

    def batches(self) -> tuple[BatchRecord, ...]:
        """Every remembered batch, by id."""
        rows = self._db.execute(
            "SELECT id, branch, status, pr, head_sha, updated_at, record FROM batches ORDER BY id"
        ).fetchall()
        return tuple(BatchRecord(r[0], r[1], r[2], r[3], r[4], _parse(r[5]), r[6]) for r in rows)

    # ------------------------------------------------------------------ rollbacks

    def add_rollback(
        self,
        name: str,
        version: str | Version,
        reason: str,
        detail: str = "",
        *,
        now: datetime | None = None,
    ) -> None:
        """Block ``name==version``; a repeat keeps the first date, so the age keeps growing."""
        with self._write() as db:
            db.execute(
                "INSERT INTO rollbacks (name, version, reason, detail, at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (name, version) DO UPDATE"
                " SET reason = excluded.reason, detail = excluded.detail",
                (_name(name), _version(version), reason, detail[-_DETAIL_LIMIT:], _iso(now)),
            )

    def remember_rollbacks(
        self, rolled_back: Iterable[RolledBack], *, now: datetime | None = None
    ) -> int:
        """Block the target of every rollback whose reason is in BLOCKING_REASONS; the count."""
        blocking = [r for r in rolled_back if r.reason in BLOCKING_REASONS]
        for r in blocking:
            self.add_rollback(r.update.name, r.update.target, r.reason, r.detail, now=now)
        return len(blocking)

    def rollbacks(self) -> tuple[RollbackRecord, ...]:
        """Every blocked (package, version), oldest first."""
        rows = self._db.execute(
            "SELECT name, version, reason, detail, at FROM rollbacks ORDER BY at, name, version"
        ).fetchall()
        return tuple(RollbackRecord(r[0], r[1], r[2], r[3], _parse(r[4])) for r in rows)

    def is_blocked(self, name: str, version: str | Version) -> bool:
        """Whether exactly this version was rolled back (a newer release is not blocked)."""
        wanted = _version(version)
        rows = self._db.execute(
            "SELECT version FROM rollbacks WHERE name = ?", (_name(name),)
        ).fetchall()
        # Compared as versions, so "2.0" and "2.0.0" (equal under PEP 440) are one release.
        return any(_same_version(row[0], wanted) for row in rows)

    def clear_rollbacks(self, names: Iterable[str] | None = None) -> int:
        """Unblock ``names`` (every package when None), for ``--retry``; the number removed."""
        with self._write() as db:
            if names is None:
                return db.execute("DELETE FROM rollbacks").rowcount
            wanted = sorted({_name(n) for n in names})
            return sum(
                db.execute("DELETE FROM rollbacks WHERE name = ?", (n,)).rowcount for n in wanted
            )

    # ------------------------------------------------------------------ plumbing

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE takes the write lock up front, so two writers queue instead of deadlocking.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")


class RunLock:
    """An exclusive lock on one repository's depbot state, held for a whole run.

    The operating system releases it when the holder dies (even by ``kill -9``), so a lock file
    left behind by a crashed run never blocks the next one. Waits up to ``timeout`` seconds,
    then raises RunError.
    """

    def __init__(
        self,
        path: Path,
        *,
        timeout: float = 0.0,
        poll: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.path = path
        self._timeout = timeout
        self._poll = poll
        self._clock = clock
        self._sleep = sleep
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = self._clock() + self._timeout
            while not _try_lock(fd):
                if self._clock() >= deadline:
                    holder = _read_holder(fd)
                    raise RunError(f"another depbot run holds the lock {self.path}{holder}")
                self._sleep(self._poll)
        except BaseException:
            os.close(fd)
            raise
        # The pid is only a hint for the message above; the OS lock is what counts.
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            _unlock(self._fd)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


if sys.platform == "win32":
    import msvcrt

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _read_holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        pid = os.read(fd, 32).decode("ascii", "replace").strip()
    except OSError:
        return ""
    return f" (pid {pid})" if pid.isdigit() else ""


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def _iso(now: datetime | None) -> str:
    return _utc(now or datetime.now(timezone.utc)).astimezone(timezone.utc).isoformat()


def _parse(text: str) -> datetime:
    return _utc(datetime.fromisoformat(text))


def _name(name: str) -> str:
    return str(canonicalize_name(name))


def _same_version(a: str, b: str) -> bool:
    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b


def _version(version: str | Version) -> str:
    try:
        return str(Version(str(version)))
    except InvalidVersion:
        return str(version)
