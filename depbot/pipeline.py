"""The only place the stages meet: discover → check → classify → plan (→ relock → verify → publish).

Every collaborator (index, advisory sources, backends, forge, store) is passed in; this module
decides the order of the stages and hands each one the previous one's value.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from depbot.advisories.interface import AdvisorySource
from depbot.config import Config
from depbot.forge.interface import Forge
from depbot.index.interface import Index
from depbot.lock.interface import LockBackend, LockIndex
from depbot.models import (
    Batch,
    BatchOutcome,
    Kind,
    Lockfile,
    Plan,
    RolledBack,
    TestResult,
    Update,
)
from depbot.stages.bisect import bisect, default_budget
from depbot.stages.check import check
from depbot.stages.classify import classify
from depbot.stages.discover import discover
from depbot.stages.plan import make_plan
from depbot.stages.publish import pr_record
from depbot.stages.relock import RelockResult, relock
from depbot.stages.remember import Store, probe_key
from depbot.stages.verify import TestEnv

__all__ = ["Planned", "RunTools", "batches_for", "discover_lockfiles", "plan", "run"]


@dataclass(frozen=True)
class Planned:
    """The dry run's value and the lockfiles it was computed from."""

    lockfiles: tuple[Lockfile, ...]
    plan: Plan


def discover_lockfiles(repo: Path, config: Config) -> tuple[Lockfile, ...]:
    """Step 1: the project's lockfiles (SPEC §2)."""
    return discover(repo, config)


def plan(
    lockfiles: Sequence[Lockfile],
    config: Config,
    index: Index,
    sources: Sequence[AdvisorySource],
    pool_size: int = 16,
) -> Planned:
    """Steps 2 to 4: check every pin, classify the updates and batch them."""
    checked = check(lockfiles, index, sources, pool_size=pool_size)
    updates, skipped = classify(lockfiles, checked, config)
    result = make_plan(updates, (*checked.skipped, *skipped), checked.source_errors, config)
    return Planned(tuple(lockfiles), result)


# ---------------------------------------------------------------------------- run


@dataclass(frozen=True)
class RunTools:
    """The collaborators of ``run``: built by the CLI (or the demo), used here."""

    backend: LockBackend
    index: LockIndex
    forge: Forge
    store: Store
    state_dir: Path
    """``.git/depbot``: test environments and scratch checkouts live under it."""
    env: Mapping[str, str]
    """The environment of every tool depbot runs (lock tool, installer, tests)."""
    progress: Callable[[str], None] = lambda _message: None
    secrets: tuple[str, ...] = ()
    """Values that must never appear in a PR body (tokens)."""


def batches_for(trigger: str, result: Plan) -> tuple[Batch, ...]:
    """``security`` runs only the security batch; ``weekly`` and ``manual`` run every batch."""
    if trigger == "security":
        return tuple(b for b in result.batches if b.kind is Kind.SECURITY)
    return result.batches


def run(
    scratch: Path,
    planned: Planned,
    config: Config,
    tools: RunTools,
    *,
    trigger: str = "manual",
    dry_run: bool = False,
) -> tuple[BatchOutcome, ...]:
    """Steps 5 to 8 for each batch of the plan: relock, verify, bisect, publish, remember.

    ``scratch`` is a checkout of the user's HEAD where the lock tool and the tests run; the
    lockfiles of ``planned`` were read from it.
    """
    outcomes = []
    with _SharedEnv(scratch, tools) as env:
        for batch in batches_for(trigger, planned.plan):
            tools.progress(f"{batch.branch}: {len(batch.updates)} updates")
            outcome = _BatchRun(scratch, planned.lockfiles, config, tools, batch, env).run(dry_run)
            tools.store.remember_rollbacks(outcome.rolled_back)
            # "unchanged" says nothing new about a branch: keep what its last change was
            if outcome.status in ("opened", "updated") or (
                outcome.status == "failed" and outcome.branch
            ):
                tools.store.record_batch(
                    batch.id, branch=batch.branch, status=outcome.status, pr=outcome.pr
                )
            outcomes.append(outcome)
    return tuple(outcomes)


Unit = tuple[Update, ...]


class _SharedEnv:
    """One test environment for the whole run, created on first use and synced between
    probes (a venv with pip costs seconds; a sync costs only what changed)."""

    def __init__(self, scratch: Path, tools: RunTools) -> None:
        self.scratch = scratch
        self.tools = tools
        self._stack = contextlib.ExitStack()
        self._env: TestEnv | None = None

    def __enter__(self) -> _SharedEnv:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def get(self) -> TestEnv:
        if self._env is None:
            env = TestEnv(
                self.tools.state_dir / "venvs" / "test",
                self.scratch,
                self.tools.backend,
                self.tools.index,
                self.tools.env,
            )
            self._env = self._stack.enter_context(env)
        return self._env


class _BatchRun:
    """One batch through relock → baseline → verify → bisect → publish."""

    def __init__(
        self,
        scratch: Path,
        lockfiles: Sequence[Lockfile],
        config: Config,
        tools: RunTools,
        batch: Batch,
        env: _SharedEnv,
    ) -> None:
        self.scratch = scratch
        self.lockfiles = tuple(lockfiles)
        self.config = config
        self.tools = tools
        self.batch = batch
        self.original = {
            str(lf.path): (scratch / lf.path).read_text(encoding="utf-8") for lf in lockfiles
        }
        self.relocked: dict[frozenset[Update], RelockResult] = {}
        self.runs = 0
        self.probed: set[str] = set()
        self.env = env

    # ------------------------------------------------------------------ stages

    def run(self, dry_run: bool) -> BatchOutcome:
        units, rolled = self._unblocked()
        if not units:
            return self._outcome("rolled-back", (), rolled)
        full_set = self._relock(units)
        rolled += list(full_set.unresolvable)
        resolvable = {u.name for u in full_set.kept}
        units = [unit for unit in units if all(u.name in resolvable for u in unit)]
        if not units:
            return self._outcome("rolled-back", (), rolled)

        baseline = self._probe(())
        if not baseline.passed:
            message = (
                "the current lockfiles fail the tests (baseline), so no update is blamed:\n"
                + baseline.log_tail
            )
            return self._outcome("failed", (), rolled, message=message)

        full = self._probe(tuple(units))
        if full.passed:
            kept: tuple[Unit, ...] = tuple(units)
            passing: TestResult | None = full
        else:
            self.tools.progress(f"{self.batch.branch}: the batch fails; bisecting")
            budget = self._budget(len(units))
            found = bisect(units, self._probe, budget, full=full)
            kept, passing = found.kept, found.last_pass
            for rejection in found.rejected:
                detail = _excerpt(rejection.result)
                rolled += [RolledBack(u, "tests-failed", detail) for u in rejection.unit]
            rolled += [RolledBack(u, "not-tested") for unit in found.untested for u in unit]
        kept_updates = tuple(u for unit in kept for u in unit)
        if not kept_updates:
            return self._outcome("rolled-back", (), rolled)
        if dry_run:
            return self._outcome("planned", kept_updates, rolled)
        return self._publish(kept, kept_updates, rolled, passing)

    def _unblocked(self) -> tuple[list[Unit], list[RolledBack]]:
        """The batch's units without the versions that failed before (not retried)."""
        store = self.tools.store
        details = {(r.name, r.version): r for r in store.rollbacks()}
        units: list[Unit] = []
        rolled: list[RolledBack] = []
        for unit in self.batch.units:
            blocked = [u for u in unit if store.is_blocked(u.name, u.target)]
            if not blocked:
                units.append(unit)
                continue
            for u in unit:
                record = details.get((u.name, str(u.target)))
                why = f"{record.reason} on {record.at:%Y-%m-%d}" if record else "failed before"
                rolled.append(RolledBack(u, "previously-failed", why))
        return units, rolled

    def _relock(self, units: Sequence[Unit]) -> RelockResult:
        key = frozenset(u for unit in units for u in unit)
        if key not in self.relocked:
            self.tools.progress(f"{self.batch.branch}: relocking {len(units)} units")
            self.relocked[key] = relock(
                self.scratch,
                self.lockfiles,
                [u for unit in units for u in unit],
                self.tools.backend,
                self.tools.index,
                self.tools.env,
            )
        return self.relocked[key]

    def _files(self, units: Sequence[Unit]) -> dict[str, str]:
        """Every lockfile of the project, the batch's ones relocked with ``units`` only."""
        files = dict(self.original)
        if units:
            files.update(self._relock(units).files)
        return files

    def _probe(self, units: tuple[Unit, ...]) -> TestResult:
        """The verdict of the tests on base + ``units``: from the store when known."""
        if units:
            relocked = self._relock(units)
            wanted = {u for unit in units for u in unit}
            if set(relocked.kept) != wanted:
                lost = sorted(u.name for u in wanted - set(relocked.kept))
                return TestResult(False, f"does not resolve together: {', '.join(lost)}")
        files = self._files(units)
        command = self.config.test_command
        key = probe_key({p: t.encode() for p, t in files.items()}, command)
        # a set probed again in this run is bisect confirming a failure: that must be a real
        # run, or a flaky failure would convict an update on a remembered verdict
        known = None if key in self.probed else self.tools.store.get_probe(key)
        self.probed.add(key)
        if known is not None:
            return known
        what = f"{len(units)} units" if units else "the current lockfiles"
        self.tools.progress(f"{self.batch.branch}: testing {what}")
        result = self.env.get().probe(files, command, self.config.test_timeout)
        self.runs += 1
        self.tools.store.put_probe(key, result)
        return result

    def _budget(self, n: int) -> int:
        if self.config.max_test_runs is None:
            return default_budget(n)
        return max(self.config.max_test_runs - self.runs, 0)

    def _publish(
        self,
        kept: Sequence[Unit],
        kept_updates: tuple[Update, ...],
        rolled: list[RolledBack],
        passing: TestResult | None,
    ) -> BatchOutcome:
        files = self._files(kept)
        changed = {p: t.encode() for p, t in files.items() if t != self.original[p]}
        record = pr_record(
            self.batch,
            kept_updates,
            rolled,
            test_command=self.config.test_command,
            test_runs=self.runs,
            passing=passing,
            secrets=self.tools.secrets,
        )
        published = self.tools.forge.publish(self.batch.id, changed, record)
        if published.status == "conflict":
            return self._outcome(
                "failed", kept_updates, rolled, message=published.message, branch=True
            )
        return self._outcome(published.status, kept_updates, rolled, pr=published.pr, branch=True)

    def _outcome(
        self,
        status: str,
        kept: tuple[Update, ...],
        rolled: Sequence[RolledBack],
        *,
        message: str = "",
        pr: str | None = None,
        branch: bool = False,
    ) -> BatchOutcome:
        """``branch``: whether the batch's branch exists (or, dry run, would) after this."""
        return BatchOutcome(
            batch=self.batch,
            status=status,
            kept=kept,
            rolled_back=tuple(rolled),
            test_runs=self.runs,
            branch=self.batch.branch if branch or status == "planned" else None,
            pr=pr,
            message=message,
        )


def _excerpt(result: TestResult, lines: int = 20) -> str:
    """What convicted an update: the failing tests, then the end of the log."""
    head = "".join(f"FAILED {t}\n" for t in result.failing_tests)
    tail = "\n".join(result.log_tail.splitlines()[-lines:])
    return (head + tail).strip()
