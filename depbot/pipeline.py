"""The only place the stages meet, as a straight line over values (SPEC §1):

discover → check → classify → plan, then per batch: remember → relock → verify (baseline,
batch) → bisect → publish → remember.

Every collaborator (index, advisory sources, backend, forge, store) is passed in by the
composition root (``depbot.app``); this module decides only the order of the stages.
"""

from __future__ import annotations

import functools
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
from depbot.stages.relock import relock
from depbot.stages.remember import blocking, unblocked
from depbot.stages.verify import LazyTestEnv, Prober, TestEnv
from depbot.state.store import Store

__all__ = [
    "Planned",
    "RunTools",
    "batches_for",
    "discover_lockfiles",
    "plan",
    "run",
    "run_batch",
]


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

Unit = tuple[Update, ...]


@dataclass(frozen=True)
class RunTools:
    """The collaborators of ``run``: built by the composition root (``depbot.app``)."""

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
    original = {
        str(lf.path): (scratch / lf.path).read_text(encoding="utf-8") for lf in planned.lockfiles
    }
    test_env = TestEnv(
        tools.state_dir / "venvs" / "test", scratch, tools.backend, tools.index, tools.env
    )
    outcomes = []
    with LazyTestEnv(lambda: test_env) as env:
        for batch in batches_for(trigger, planned.plan):
            tools.progress(f"{batch.branch}: {len(batch.updates)} updates")
            prober = _prober(batch, scratch, planned, original, env, config, tools)
            outcome = run_batch(batch, prober, config, tools, dry_run=dry_run)
            _remember(outcome, tools.store)
            outcomes.append(outcome)
    return tuple(outcomes)


def run_batch(
    batch: Batch, prober: Prober, config: Config, tools: RunTools, *, dry_run: bool = False
) -> BatchOutcome:
    """One batch through remember → relock → baseline → verify → bisect → publish."""

    def outcome(
        status: str,
        kept: Sequence[Unit] = (),
        *,
        message: str = "",
        pr: str | None = None,
        branch: bool = False,
    ) -> BatchOutcome:
        """``branch``: whether the batch's branch exists (or, dry run, would) after this."""
        return BatchOutcome(
            batch=batch,
            status=status,
            kept=tuple(u for unit in kept for u in unit),
            rolled_back=tuple(rolled),
            test_runs=prober.runs,
            branch=batch.branch if branch or status == "planned" else None,
            pr=pr,
            message=message,
        )

    # 8, read back: what failed before waits for a newer release
    units, rolled = unblocked(batch.units, tools.store.rollbacks())
    if not units:
        return outcome("rolled-back")
    # 5. relock the whole batch: what cannot be resolved leaves it
    relocked = prober.relocked(units)
    rolled += relocked.unresolvable
    resolvable = {u.name for u in relocked.kept}
    units = [unit for unit in units if all(u.name in resolvable for u in unit)]
    if not units:
        return outcome("rolled-back")
    # 6. verify: the current lockfiles must pass before any update is blamed
    baseline = prober(())
    if not baseline.passed:
        message = (
            "the current lockfiles fail the tests (baseline), so no update is blamed:\n"
            + baseline.log_tail
        )
        return outcome("failed", message=message)
    full = prober(tuple(units))
    kept: tuple[Unit, ...] = tuple(units)
    passing: TestResult | None = full
    if not full.passed:
        # bisect: find the failing units, keep the rest
        tools.progress(f"{batch.branch}: the batch fails; bisecting")
        found = bisect(units, prober, _budget(config, prober.runs, len(units)), full=full)
        kept, passing = found.kept, found.last_pass
        for rejection in found.rejected:
            detail = _excerpt(rejection.result)
            rolled += [RolledBack(u, "tests-failed", detail) for u in rejection.unit]
        rolled += [RolledBack(u, "not-tested") for unit in found.untested for u in unit]
    if not kept:
        return outcome("rolled-back")
    if dry_run:
        return outcome("planned", kept)
    # 7. publish what passed
    record = pr_record(
        batch,
        tuple(u for unit in kept for u in unit),
        rolled,
        test_command=config.test_command,
        test_runs=prober.runs,
        passing=passing,
        secrets=tools.secrets,
    )
    files = prober.files(kept)
    changed = {p: t.encode() for p, t in files.items() if t != prober.original[p]}
    published = tools.forge.publish(batch.id, changed, record)
    if published.status == "conflict":
        return outcome("failed", kept, message=published.message, branch=True)
    return outcome(published.status, kept, pr=published.pr, branch=True)


def _prober(
    batch: Batch,
    scratch: Path,
    planned: Planned,
    original: Mapping[str, str],
    env: LazyTestEnv,
    config: Config,
    tools: RunTools,
) -> Prober:
    """Bisect's probe for ``batch``: relocks in ``scratch``, tests in the run's ``env``."""

    def progress(message: str) -> None:
        tools.progress(f"{batch.branch}: {message}")

    relock_batch = functools.partial(
        relock, scratch, planned.lockfiles, backend=tools.backend, index=tools.index, env=tools.env
    )
    return Prober(
        relock_batch,
        original,
        env,
        tools.store,
        test_command=config.test_command,
        timeout=config.test_timeout,
        progress=progress,
    )


def _remember(outcome: BatchOutcome, store: Store) -> None:
    """8. remember: proven failures block their versions; a changed branch is recorded."""
    for r in blocking(outcome.rolled_back):
        store.add_rollback(r.update.name, r.update.target, r.reason, r.detail)
    # "unchanged" says nothing new about a branch: keep what its last change was
    if outcome.status in ("opened", "updated") or (outcome.status == "failed" and outcome.branch):
        store.record_batch(
            outcome.batch.id, branch=outcome.batch.branch, status=outcome.status, pr=outcome.pr
        )


def _budget(config: Config, spent: int, n: int) -> int:
    if config.max_test_runs is None:
        return default_budget(n)
    return max(config.max_test_runs - spent, 0)


def _excerpt(result: TestResult, lines: int = 20) -> str:
    """What convicted an update: the failing tests, then the end of the log."""
    head = "".join(f"FAILED {t}\n" for t in result.failing_tests)
    tail = "\n".join(result.log_tail.splitlines()[-lines:])
    return (head + tail).strip()
