"""The worker: in order, one job at a time per repository, done only after success; coalesced
security runs on one repository; dispatches retried with backoff until GitHub accepts."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path

import pytest

from depbot.errors import InputError
from depbot.server.dispatch import send_dispatch
from depbot.server.queue import Queue
from depbot.server.worker import (
    Worker,
    backoff,
    client_payload,
    dispatch_handler,
    repo_handler,
)
from tests.server.test_queue import EVENT
from tests.support.serve import FakeGitHub

TOKEN = "ghs_faketoken0123456789"


def wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.01)


def states(queue: Queue) -> list[str]:
    return [j.state for j in queue.jobs()]


def test_backoff_doubles_up_to_a_cap() -> None:
    assert [backoff(n, 0.5, cap=3.0) for n in (1, 2, 3, 4, 50)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_a_dispatch_is_retried_after_two_502s_and_done_once_accepted(tmp_path: Path) -> None:
    log: list[str] = []
    with FakeGitHub(script=[502, 502]) as github, Queue(tmp_path / "q.sqlite3") as queue:
        send = partial(send_dispatch, token=TOKEN, api_url=github.url)
        worker = Worker(queue, dispatch_handler(send), retry_delay=0.05, log=log.append)
        queue.enqueue(EVENT)
        worker.start()
        wait_until(lambda: states(queue) == ["done"])
        assert worker.stop(5)
        (job,) = queue.jobs()
        assert (job.attempts, job.last_error) == (
            3,
            "octo-lab/vision-kit: GitHub answered 502 (Server Error)",
        )
        assert len(github.requests) == 3
        assert [d["client_payload"] for d in github.accepted] == [client_payload(EVENT)]
        assert sum("retrying" in line for line in log) == 2


def test_a_404_fails_the_job_and_keeps_it(tmp_path: Path) -> None:
    with FakeGitHub(script=[404]) as github, Queue(tmp_path / "q.sqlite3") as queue:
        send = partial(send_dispatch, token=TOKEN, api_url=github.url)
        worker = Worker(queue, dispatch_handler(send), retry_delay=0.05, log=lambda _: None)
        queue.enqueue(EVENT)
        queue.enqueue(replace(EVENT, delivery="no-repo", repository=None))
        worker.start()
        wait_until(lambda: states(queue) == ["failed", "failed"])
        worker.stop(5)
        first, second = queue.jobs()
        assert first.last_error == "octo-lab/vision-kit: GitHub answered 404 (Not Found)"
        assert second.last_error == "the event names no repository to dispatch to"
        assert len(github.requests) == 1


def test_jobs_of_one_repository_go_in_order_others_in_parallel(tmp_path: Path) -> None:
    with FakeGitHub(delay=0.05) as github, Queue(tmp_path / "q.sqlite3") as queue:
        send = partial(send_dispatch, token=TOKEN, api_url=github.url)
        for i in range(6):
            queue.enqueue(replace(EVENT, delivery=f"d{i}", repository=f"o/r{i % 2}"))
        worker = Worker(
            queue, dispatch_handler(send, threads=3), retry_delay=0.05, log=lambda _: None
        )
        worker.start()
        wait_until(lambda: states(queue) == ["done"] * 6)
        worker.stop(5)
        order = github.deliveries()
        for repo in ("/repos/o/r0/dispatches", "/repos/o/r1/dispatches"):
            mine = [
                d["client_payload"]["delivery_id"] for d in github.accepted if d["path"] == repo
            ]
            assert mine == sorted(mine)
        assert sorted(order) == [f"d{i}" for i in range(6)]


def test_jobs_arriving_during_a_run_are_coalesced_into_the_next(tmp_path: Path) -> None:
    runs: list[tuple[Path, tuple[str, ...]]] = []
    started, release = threading.Event(), threading.Event()

    def run_security(repo: Path, packages: tuple[str, ...]) -> int:
        runs.append((repo, packages))
        started.set()
        release.wait(20)
        return 0

    with Queue(tmp_path / "q.sqlite3") as queue:
        worker = Worker(
            queue, repo_handler(tmp_path, run_security), retry_delay=0.05, log=lambda _: None
        )
        worker.start()
        queue.enqueue(EVENT)
        worker.wake()
        assert started.wait(20)
        for i, name in enumerate(["urllib3", "requests", "idna"]):
            queue.enqueue(replace(EVENT, delivery=f"late-{i}", packages=(name,)))
        assert states(queue) == ["running", "pending", "pending", "pending"]
        release.set()
        wait_until(lambda: states(queue) == ["done"] * 4)
        worker.stop(5)
    assert runs == [(tmp_path, ("requests",)), (tmp_path, ("urllib3", "requests", "idna"))]


@pytest.mark.parametrize(
    ("result", "state", "attempts", "error"),
    [
        (2, "failed", 1, "the security run exited 2 (bad input)"),
        (1, "failed", 3, "the security run exited 1"),
        (InputError("depbot.toml: bad key"), "failed", 1, "bad input: depbot.toml: bad key"),
        (RuntimeError("boom"), "failed", 3, "RuntimeError: boom"),
    ],
)
def test_a_failed_security_run_is_retried_or_failed(
    tmp_path: Path, result: int | Exception, state: str, attempts: int, error: str
) -> None:
    def run_security(repo: Path, packages: tuple[str, ...]) -> int:
        if isinstance(result, Exception):
            raise result
        return result

    with Queue(tmp_path / "q.sqlite3") as queue:
        handler = repo_handler(tmp_path, run_security, max_attempts=3)
        worker = Worker(queue, handler, retry_delay=0.01, log=lambda _: None)
        queue.enqueue(EVENT)
        worker.start()
        wait_until(lambda: states(queue) == [state])
        worker.stop(5)
        (job,) = queue.jobs()
        assert (job.attempts, job.last_error) == (attempts, error)
