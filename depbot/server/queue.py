"""The webhook's durable job queue: one SQLite file in WAL mode, synchronous=FULL.

A job is one accepted delivery. Its row moves ``pending → running → done``; a failed attempt
sends it back to ``pending`` with a time before which it is not retried, or to ``failed`` when
retrying cannot help (kept, and shown by ``depbot status``). The delivery id is unique, so a
delivery GitHub repeats is stored once, across restarts too. Every change is one transaction,
committed (and synced to disk) before the call returns: the webhook answers 202 only after it.
A job found ``running`` when the server starts was cut short by a crash; :meth:`Queue.recover`
makes it pending again (the work is idempotent, SPEC §5).

One connection, guarded by a lock, is shared by the HTTP handler's threads and the worker.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from depbot.server.events import AdvisoryEvent

__all__ = ["KEEP_DONE", "STATES", "Job", "Queue", "queue_path", "unfinished_jobs"]

STATES = ("pending", "running", "done", "failed")
KEEP_DONE = 30 * 24 * 3600.0
"""Seconds a done job is kept: its delivery id still turns a redelivery into a "duplicate"
(GitHub redelivers only recent deliveries), then it is pruned, so the file stays small."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery TEXT NOT NULL UNIQUE,
    repository TEXT,
    event TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    not_before REAL NOT NULL DEFAULT 0,
    received REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, id);
"""


@dataclass(frozen=True)
class Job:
    """One row of the queue."""

    id: int
    delivery: str
    repository: str | None
    event: AdvisoryEvent
    state: str
    """One of :data:`STATES`."""
    attempts: int
    """How many times the worker has started it."""
    last_error: str | None
    """Why the last attempt failed; None when none has."""
    received: float
    """When the webhook accepted it (seconds since the epoch)."""
    updated: float


def queue_path(state_dir: Path) -> Path:
    """Where the queue lives in depbot's state directory of a repository."""
    return state_dir / "serve.sqlite3"


def _job(row: tuple[object, ...]) -> Job:
    id_, delivery, repository, event, state, attempts, error, received, updated = row
    return Job(
        id=int(str(id_)),
        delivery=str(delivery),
        repository=None if repository is None else str(repository),
        event=AdvisoryEvent.from_json(str(event)),
        state=str(state),
        attempts=int(str(attempts)),
        last_error=None if error is None else str(error),
        received=float(str(received)),
        updated=float(str(updated)),
    )


class Queue:
    """The queue in the SQLite file at ``path`` (created with its directory when missing)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a 202 means the job is on disk
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Queue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # ------------------------------------------------------------------------ the webhook

    def enqueue(self, event: AdvisoryEvent) -> int | None:
        """Stores ``event`` as a pending job; its id, or None when its delivery is known."""
        now = time.time()
        with self._transaction() as db:
            known = db.execute("SELECT 1 FROM jobs WHERE delivery = ?", (event.delivery,))
            if known.fetchone() is not None:
                return None
            cursor = db.execute(
                "INSERT INTO jobs (delivery, repository, event, state, received, updated)"
                " VALUES (?, ?, ?, 'pending', ?, ?)",
                (event.delivery, event.repository, event.to_json(), now, now),
            )
            return cursor.lastrowid

    def counts(self) -> Mapping[str, int]:
        """How many jobs are in each state."""
        with self._lock:
            rows = self._db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall()
        found = {str(state): int(n) for state, n in rows}
        return {state: found.get(state, 0) for state in STATES}

    def prune(self, now: float, keep: float = KEEP_DONE) -> int:
        """Deletes the done jobs last updated over ``keep`` seconds before ``now``; how many.
        Pending, running and failed jobs are never pruned."""
        with self._transaction() as db:
            cursor = db.execute(
                "DELETE FROM jobs WHERE state = 'done' AND updated < ?", (now - keep,)
            )
            return cursor.rowcount

    # ------------------------------------------------------------------------ the worker

    def recover(self) -> int:
        """Makes the jobs a crash left ``running`` pending again; how many there were."""
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE jobs SET state = 'pending', updated = ? WHERE state = 'running'",
                (time.time(),),
            )
            return cursor.rowcount

    def claim_next(self, now: float) -> Job | None:
        """Starts the oldest pending job that is due and whose repository has no older job
        pending or running (one job at a time per repository, in order)."""
        with self._transaction() as db:
            row = db.execute(
                "SELECT id, delivery, repository, event, state, attempts, last_error,"
                " received, updated"
                " FROM jobs AS j WHERE state = 'pending' AND not_before <= ?"
                " AND NOT EXISTS (SELECT 1 FROM jobs AS k WHERE k.id < j.id"
                "   AND k.state IN ('pending', 'running') AND k.repository IS j.repository)"
                " ORDER BY id LIMIT 1",
                (now,),
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE jobs SET state = 'running', attempts = attempts + 1, updated = ?"
                " WHERE id = ?",
                (now, row[0]),
            )
        job = _job(row)
        return replace(job, state="running", attempts=job.attempts + 1)

    def claim_all(self, now: float) -> tuple[Job, ...]:
        """Starts every pending job when one of them is due (one run serves them all)."""
        with self._transaction() as db:
            due = db.execute(
                "SELECT 1 FROM jobs WHERE state = 'pending' AND not_before <= ? LIMIT 1", (now,)
            ).fetchone()
            if due is None:
                return ()
            rows = db.execute(
                "SELECT id, delivery, repository, event, state, attempts, last_error,"
                " received, updated"
                " FROM jobs WHERE state = 'pending' ORDER BY id"
            ).fetchall()
            db.execute(
                "UPDATE jobs SET state = 'running', attempts = attempts + 1, updated = ?"
                " WHERE state = 'pending'",
                (now,),
            )
        started = (_job(row) for row in rows)
        return tuple(replace(j, state="running", attempts=j.attempts + 1) for j in started)

    def finish(self, ids: Iterable[int]) -> None:
        """Marks the jobs done: their work succeeded."""
        self._set(ids, "done", None, 0.0)

    def retry(self, ids: Iterable[int], error: str, not_before: float) -> None:
        """Sends the jobs back to pending, not to be started before ``not_before``."""
        self._set(ids, "pending", error, not_before)

    def fail(self, ids: Iterable[int], error: str) -> None:
        """Marks the jobs failed: retrying cannot help; they stay for ``depbot status``."""
        self._set(ids, "failed", error, 0.0)

    def _set(self, ids: Iterable[int], state: str, error: str | None, not_before: float) -> None:
        now = time.time()
        with self._transaction() as db:
            db.executemany(
                "UPDATE jobs SET state = ?, last_error = COALESCE(?, last_error),"
                " not_before = ?, updated = ? WHERE id = ?",
                [(state, error, not_before, now, i) for i in ids],
            )

    def next_due(self) -> float | None:
        """When the earliest job that could be claimed next is due; None when none is pending."""
        with self._lock:
            row = self._db.execute(
                "SELECT MIN(not_before) FROM jobs AS j WHERE state = 'pending'"
                " AND NOT EXISTS (SELECT 1 FROM jobs AS k WHERE k.id < j.id"
                "   AND k.state IN ('pending', 'running') AND k.repository IS j.repository)"
            ).fetchone()
        return None if row[0] is None else float(row[0])

    def jobs(self, states: Iterable[str] = STATES) -> tuple[Job, ...]:
        """The jobs in ``states``, oldest first."""
        wanted = json.dumps(list(states))
        with self._lock:
            rows = self._db.execute(
                "SELECT id, delivery, repository, event, state, attempts, last_error,"
                " received, updated"
                " FROM jobs WHERE state IN (SELECT value FROM json_each(?)) ORDER BY id",
                (wanted,),
            ).fetchall()
        return tuple(_job(row) for row in rows)


def unfinished_jobs(path: Path) -> tuple[Job, ...]:
    """The pending, running and failed jobs of the queue at ``path``, oldest first, read without
    changing anything (for ``depbot status``); () when there is no queue."""
    if not path.is_file():
        return ()
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT id, delivery, repository, event, state, attempts, last_error,"
            " received, updated"
            " FROM jobs WHERE state IN ('pending', 'running', 'failed')"
            " ORDER BY id"
        ).fetchall()
    finally:
        db.close()
    return tuple(_job(row) for row in rows)
