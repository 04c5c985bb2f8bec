"""The worker that drains the webhook's queue, in order, marking a job done only after its work
succeeded. Its work is injected, so it plugs into whatever builds the run:

- :func:`repo_handler`: a security run on one repository, ``run_security(repo, packages)``
  returning an exit code (SPEC §7). Every job pending when a run starts is served by that run
  (the union of their packages): jobs that arrive during a run are coalesced into the next.
  Exit 0 is done; exit 2 (bad input) fails the jobs; exit 1 or an exception retries them with
  backoff, up to ``max_attempts`` starts.
- :func:`dispatch_handler`: one ``repository_dispatch`` per job, jobs of different repositories
  in parallel, one at a time per repository. A transient refusal retries with backoff until
  GitHub accepts; a permanent one fails the job.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from depbot.errors import InputError
from depbot.server.dispatch import DispatchError
from depbot.server.events import AdvisoryEvent
from depbot.server.queue import Job, Queue

__all__ = [
    "Handler",
    "Outcome",
    "RunSecurity",
    "SendDispatch",
    "Worker",
    "backoff",
    "client_payload",
    "dispatch_handler",
    "repo_handler",
]

RunSecurity = Callable[[Path, tuple[str, ...]], int]
"""``run_security(repo, packages) -> exit code``: a security run on ``repo``, ``packages`` first."""
SendDispatch = Callable[[str, dict[str, object]], None]
"""``send(repository, client_payload)``; raises DispatchError when GitHub does not accept it."""

MAX_DELAY = 300.0
"""The longest wait between two attempts (seconds)."""


@dataclass(frozen=True)
class Outcome:
    """What became of the jobs one attempt served."""

    state: str
    """``"done"``, ``"retry"`` or ``"failed"``."""
    error: str | None = None
    retry_after: float | None = None
    """The least wait before the retry that the other side asked for."""


@dataclass(frozen=True)
class Handler:
    """How a worker takes jobs off the queue and does their work."""

    claim: Callable[[Queue, float], Sequence[Job]]
    work: Callable[[Sequence[Job]], Outcome]
    threads: int
    max_attempts: int | None
    """Starts after which a retried job fails instead; None retries until it succeeds."""


def backoff(attempts: int, first: float, cap: float = MAX_DELAY) -> float:
    """The wait after the ``attempts``-th failed start: ``first``, doubling, at most ``cap``."""
    return min(cap, first * 2.0 ** max(0, min(attempts - 1, 30)))


def client_payload(event: AdvisoryEvent) -> dict[str, object]:
    """What the dispatch hands ``deps.yml`` (``github.event.client_payload``)."""
    return {
        "packages": list(event.packages),
        "advisory_id": event.advisory_id,
        "aliases": list(event.aliases),
        "delivery_id": event.delivery,
    }


def repo_handler(repo: Path, run_security: RunSecurity, *, max_attempts: int = 5) -> Handler:
    """Security runs on ``repo``, all pending jobs coalesced into one run."""

    def claim(queue: Queue, now: float) -> Sequence[Job]:
        return queue.claim_all(now)

    def work(jobs: Sequence[Job]) -> Outcome:
        packages = tuple(dict.fromkeys(p for job in jobs for p in job.event.packages))
        try:
            code = run_security(repo, packages)
        except InputError as exc:
            return Outcome("failed", f"bad input: {exc}")
        if code == 0:
            return Outcome("done")
        if code == 2:
            return Outcome("failed", "the security run exited 2 (bad input)")
        return Outcome("retry", f"the security run exited {code}")

    return Handler(claim=claim, work=work, threads=1, max_attempts=max_attempts)


def dispatch_handler(send: SendDispatch, *, threads: int = 4) -> Handler:
    """One ``repository_dispatch`` per job; ``threads`` repositories at a time."""

    def claim(queue: Queue, now: float) -> Sequence[Job]:
        job = queue.claim_next(now)
        return () if job is None else (job,)

    def work(jobs: Sequence[Job]) -> Outcome:
        (job,) = jobs
        if job.repository is None:
            return Outcome("failed", "the event names no repository to dispatch to")
        try:
            send(job.repository, client_payload(job.event))
        except DispatchError as exc:
            return Outcome("retry" if exc.transient else "failed", str(exc), exc.retry_after)
        return Outcome("done")

    return Handler(claim=claim, work=work, threads=threads, max_attempts=None)


class Worker:
    """Threads draining ``queue`` with ``handler``; :meth:`wake` after each enqueue."""

    def __init__(
        self,
        queue: Queue,
        handler: Handler,
        *,
        retry_delay: float,
        log: Callable[[str], None],
        poll: float = 1.0,
    ) -> None:
        self._queue = queue
        self._handler = handler
        self._retry_delay = retry_delay
        self._log = log
        self._poll = poll
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for i in range(self._handler.threads):
            thread = threading.Thread(target=self._loop, name=f"depbot-worker-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def wake(self) -> None:
        """A job was enqueued: look now rather than at the next poll."""
        self._wake.set()

    def stop(self, timeout: float) -> bool:
        """Asks the threads to stop after their current job; whether they did within
        ``timeout`` seconds (a job cut short stays ``running`` and is resumed at the next
        start)."""
        self._stop.set()
        self._wake.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self._threads)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            jobs = self._handler.claim(self._queue, time.time())
            if not jobs:
                self._wake.wait(self._idle_wait())
                continue
            self._serve(jobs)

    def _idle_wait(self) -> float:
        due = self._queue.next_due()
        if due is None:
            return self._poll
        return min(self._poll, max(0.01, due - time.time()))

    def _serve(self, jobs: Sequence[Job]) -> None:
        ids = [job.id for job in jobs]
        names = ", ".join(job.delivery for job in jobs)
        try:
            outcome = self._handler.work(jobs)
        except Exception as exc:  # a bug in the work must not stop the queue
            outcome = Outcome("retry", f"{type(exc).__name__}: {exc}")
        if outcome.state == "done":
            self._queue.finish(ids)
            self._log(f"done: {names}")
            return
        error = outcome.error or "failed"
        attempts = max(job.attempts for job in jobs)
        limit = self._handler.max_attempts
        if outcome.state == "failed" or (limit is not None and attempts >= limit):
            self._queue.fail(ids, error)
            self._log(f"failed: {names}: {error}")
            return
        delay = max(backoff(attempts, self._retry_delay), outcome.retry_after or 0.0)
        self._queue.retry(ids, error, time.time() + delay)
        self._log(f"retrying in {delay:.1f}s: {names}: {error}")
