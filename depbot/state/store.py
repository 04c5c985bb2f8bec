"""depbot's memory between runs: SQLite under ``.git/depbot/`` (SPEC §5, §9).

The store holds runs, probe verdicts (by key, so an identical rerun spends no test run),
published batches and rolled-back (package, version) pairs. Which rollbacks block an update is
decided by ``depbot.stages.remember``; this module only keeps them. Every write is one
transaction, so a run killed at any point leaves the store consistent; what a kill between a
forge write and the store write leaves unsaid is put right by :meth:`Store.reconcile`, the
forge being the truth for what was published.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from depbot.errors import RunError
from depbot.forge.interface import OpenBatch
from depbot.models import TestResult
from depbot.secrets import redact

__all__ = [
    "SCHEMA_VERSION",
    "STALE_AFTER",
    "BatchRecord",
    "RollbackRecord",
    "RunRecord",
    "Store",
    "reconciled",
    "same_version",
    "store_path",
]

SCHEMA_VERSION = 1
STALE_AFTER = timedelta(days=7)
"""A rollback blocked for longer than this is flagged by ``depbot status``."""
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
    key TEXT,
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
    updated_at: datetime
    key: str | None = None
    """What was published: the base commit, the updates and targets (``pipeline``'s key)."""


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
    """depbot's memory for one repository, in the SQLite file at ``path`` (created if missing);
    ``secrets`` never reach it."""

    def __init__(self, path: Path, *, secrets: Collection[str] = ()) -> None:
        self.path = path
        self._secrets = tuple(secrets)
        """Masked in every text written (log tails, details): the store is an output."""
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
                columns = {r[1] for r in db.execute("PRAGMA table_info(batches)")}
                if "key" not in columns:  # a store written before the column existed
                    db.execute("ALTER TABLE batches ADD COLUMN key TEXT")
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

    def __exit__(self, *exc: object) -> None:
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
        """The stored verdict for ``key`` (``depbot.stages.verify.verdict_key``), marked
        ``cached``; None if never run."""
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
                    redact(result.log_tail, self._secrets),
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
        key: str | None = None,
        now: datetime | None = None,
    ) -> None:
        """Remember what was published for ``batch_id`` (replacing the previous entry)."""
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO batches"
                " (id, branch, status, pr, key, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                (batch_id, branch, status, pr, key, _iso(now)),
            )

    def reconcile(self, published: Sequence[OpenBatch]) -> Sequence[OpenBatch]:
        """Make the batches remembered agree with what the forge holds (``published``, which
        is returned), in one transaction (see :func:`reconciled`)."""
        with self._write() as db:
            for r in reconciled(self.batches(), published):
                db.execute(
                    "INSERT OR REPLACE INTO batches"
                    " (id, branch, status, pr, key, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (r.id, r.branch, r.status, r.pr, r.key, _iso(r.updated_at)),
                )
        return published

    def forget_batch(self, batch_id: str) -> None:
        with self._write() as db:
            db.execute("DELETE FROM batches WHERE id = ?", (batch_id,))

    def batches(self) -> tuple[BatchRecord, ...]:
        """Every remembered batch, by id."""
        rows = self._db.execute(
            "SELECT id, branch, status, pr, updated_at, key FROM batches ORDER BY id"
        ).fetchall()
        return tuple(BatchRecord(r[0], r[1], r[2], r[3], _parse(r[4]), r[5]) for r in rows)

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
                (
                    _name(name),
                    _version(version),
                    reason,
                    redact(detail, self._secrets)[-_DETAIL_LIMIT:],
                    _iso(now),
                ),
            )

    def rollbacks(self) -> tuple[RollbackRecord, ...]:
        """Every blocked (package, version), oldest first."""
        rows = self._db.execute(
            "SELECT name, version, reason, detail, at FROM rollbacks ORDER BY at, name, version"
        ).fetchall()
        return tuple(RollbackRecord(r[0], r[1], r[2], r[3], _parse(r[4])) for r in rows)

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


def reconciled(
    records: Iterable[BatchRecord], published: Iterable[OpenBatch], now: datetime | None = None
) -> tuple[BatchRecord, ...]:
    """The records that must change so the store says what the forge holds: a branch of
    depbot's the store does not know as open (a run killed after publishing, before
    remembering) is "opened", with no key, so the next run verifies it again before leaving it
    alone; a remembered branch that is gone is "closed". A branch someone else committed to
    keeps its record."""
    moment = _utc(now or datetime.now(timezone.utc))
    remembered = {r.id: r for r in records}
    on_forge = {b.id: b for b in published}
    changed = []
    for b in on_forge.values():
        if not b.ours:
            continue
        record = remembered.get(b.id)
        if record is None or record.status == "closed":
            changed.append(BatchRecord(b.id, b.branch, "opened", b.pr, moment))
        elif b.pr is not None and record.pr != b.pr:
            changed.append(replace(record, pr=b.pr, updated_at=moment))
    for record in remembered.values():
        if record.id not in on_forge and record.status != "closed":
            changed.append(replace(record, status="closed", key=None, updated_at=moment))
    return tuple(sorted(changed, key=lambda r: r.id))


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def _iso(now: datetime | None) -> str:
    return _utc(now or datetime.now(timezone.utc)).astimezone(timezone.utc).isoformat()


def _parse(text: str) -> datetime:
    return _utc(datetime.fromisoformat(text))


def _name(name: str) -> str:
    return str(canonicalize_name(name))


def same_version(a: str, b: str) -> bool:
    """Whether two version strings name one release under PEP 440 ("2.0" and "2.0.0")."""
    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b


def _version(version: str | Version) -> str:
    try:
        return str(Version(str(version)))
    except InvalidVersion:
        return str(version)
