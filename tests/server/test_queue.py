"""The durable queue: unique deliveries, claims in order, one job per repository at a time,
recovery of jobs a crash left running, and the rows ``depbot status`` shows."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import replace
from pathlib import Path

from depbot.server.events import AdvisoryEvent
from depbot.server.queue import Queue, queue_path, unfinished_jobs

EVENT = AdvisoryEvent(
    delivery="d-0",
    event="dependabot_alert",
    action="created",
    repository="octo-lab/vision-kit",
    packages=("requests",),
    advisory_id="GHSA-9wx4-h78v-vm56",
    aliases=("CVE-2024-35195",),
    patched=(("requests", "2.32.0"),),
)


def event(delivery: str, repository: str | None = "octo-lab/vision-kit") -> AdvisoryEvent:
    return replace(EVENT, delivery=delivery, repository=repository)


def test_a_delivery_is_stored_once_across_reopening(tmp_path: Path) -> None:
    path = queue_path(tmp_path / "state")
    with Queue(path) as queue:
        first = queue.enqueue(event("d-1"))
        assert first is not None
        assert queue.enqueue(event("d-1")) is None
    with Queue(path) as queue:
        assert queue.enqueue(event("d-1")) is None
        assert queue.enqueue(event("d-2")) == first + 1
        assert queue.counts() == {"pending": 2, "running": 0, "done": 0, "failed": 0}
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    db.close()


def test_jobs_are_claimed_in_order_one_at_a_time_per_repository(tmp_path: Path) -> None:
    with Queue(tmp_path / "q.sqlite3") as queue:
        a1 = queue.enqueue(event("a1", "o/a"))
        a2 = queue.enqueue(event("a2", "o/a"))
        b1 = queue.enqueue(event("b1", "o/b"))
        now = time.time()
        first = queue.claim_next(now)
        assert first is not None
        assert (first.id, first.state, first.attempts) == (a1, "running", 1)
        second = queue.claim_next(now)  # a2 waits for a1: o/b goes next
        assert second is not None
        assert second.id == b1
        assert queue.claim_next(now) is None
        queue.finish([a1])
        third = queue.claim_next(now)
        assert third is not None
        assert third.id == a2


def test_a_retried_job_waits_and_holds_back_its_repository(tmp_path: Path) -> None:
    with Queue(tmp_path / "q.sqlite3") as queue:
        a1 = queue.enqueue(event("a1", "o/a"))
        queue.enqueue(event("a2", "o/a"))
        now = time.time()
        job = queue.claim_next(now)
        assert job is not None
        queue.retry([a1], "GitHub answered 502", now + 60)
        assert queue.claim_next(now) is None  # a1 not due, a2 behind it
        assert queue.next_due() == now + 60  # a2 is due, but held back by a1
        again = queue.claim_next(now + 61)
        assert again is not None
        assert (again.id, again.attempts, again.last_error) == (a1, 2, "GitHub answered 502")


def test_claim_all_coalesces_every_pending_job(tmp_path: Path) -> None:
    with Queue(tmp_path / "q.sqlite3") as queue:
        ids = [queue.enqueue(event(f"d{i}")) for i in range(3)]
        now = time.time()
        jobs = queue.claim_all(now)
        assert [j.id for j in jobs] == ids
        assert queue.claim_all(now) == ()
        queue.retry([j.id for j in jobs], "exit 1", now + 60)
        assert queue.claim_all(now) == ()  # none is due
        later = queue.enqueue(event("d3"))
        assert [j.id for j in queue.claim_all(now)] == [*ids, later]  # the new one brings all


def test_recover_makes_running_jobs_pending_and_status_reads_without_changing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "q.sqlite3"
    with Queue(path) as queue:
        done = queue.enqueue(event("done"))
        failed = queue.enqueue(event("failed"))
        running = queue.enqueue(event("running", "o/other"))
        pending = queue.enqueue(event("pending"))
        now = time.time()
        for _ in range(3):
            queue.claim_next(now)
        queue.finish([done])  # type: ignore[list-item]
        queue.fail([failed], "GitHub answered 404 (Not Found)")  # type: ignore[list-item]
    rows = unfinished_jobs(path)
    assert [(j.id, j.state) for j in rows] == [
        (failed, "failed"),
        (running, "running"),
        (pending, "pending"),
    ]
    assert rows[0].last_error == "GitHub answered 404 (Not Found)"
    assert unfinished_jobs(path) == rows  # reading changed nothing
    with Queue(path) as queue:
        assert queue.recover() == 1
        assert [j.state for j in queue.jobs(["pending"])] == ["pending", "pending"]
    assert unfinished_jobs(tmp_path / "absent.sqlite3") == ()


def test_done_jobs_are_pruned_after_the_keep_time_and_nothing_else(tmp_path: Path) -> None:
    with Queue(queue_path(tmp_path / "state")) as queue:
        ids = [queue.enqueue(event(f"d-{n}")) for n in range(4)]
        assert None not in ids
        first, second, third, fourth = (i or 0 for i in ids)
        queue.finish([first, second])
        queue.fail([third], "forbidden")
        later = time.time() + 60
        assert queue.prune(later, keep=3600) == 0  # done a minute ago: kept
        assert queue.prune(later, keep=30) == 2
        assert [(j.id, j.state) for j in queue.jobs()] == [(third, "failed"), (fourth, "pending")]
        assert queue.enqueue(event("d-0")) is not None  # a pruned delivery is new again
