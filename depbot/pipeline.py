"""The only place the stages meet, as a straight line over values (SPEC §1):

discover → check → classify → plan, then per batch: remember → relock → verify (baseline,
batch) → bisect → publish → remember.

Every collaborator (index, advisory sources, backend, forge, store) is passed in by the
composition root (``depbot.app``); this module decides only the order of the stages.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from packaging.utils import canonicalize_name

from depbot.advisories.interface import AdvisorySource
from depbot.config import Config
from depbot.forge.interface import Forge, OpenBatch
from depbot.index.interface import Index
from depbot.lock.interface import LockError, LockIndex
from depbot.lock.tool import LockTimeout
from depbot.ml.lookup import VariantLookup
from depbot.models import (
    Batch,
    BatchOutcome,
    Environment,
    Kind,
    Lockfile,
    Moved,
    Plan,
    RolledBack,
    Skipped,
    TestResult,
    Update,
)
from depbot.stages.bisect import bisect, default_budget
from depbot.stages.check import NOT_FOUND, check
from depbot.stages.classify import classify_all
from depbot.stages.dashboard import tidy
from depbot.stages.discover import discover, environments
from depbot.stages.plan import make_plan
from depbot.stages.publish import direct_packages, pr_record
from depbot.stages.relock import BackendFor, moved_pins, relock
from depbot.stages.remember import remember, unblocked
from depbot.stages.verify import LazyTestEnv, Prober, TestEnv, excerpt
from depbot.state.store import Store

__all__ = [
    "Planned",
    "RunTools",
    "batches_for",
    "discover_lockfiles",
    "nothing_looked_up",
    "plan",
    "run",
    "run_batch",
    "test_environments",
]


@dataclass(frozen=True)
class Planned:
    """The dry run's value and the lockfiles it was computed from."""

    lockfiles: tuple[Lockfile, ...]
    plan: Plan
    unlooked: tuple[Skipped, ...] = ()
    """The packages whose lookup failed or found nothing (also in ``plan.skipped``)."""


def discover_lockfiles(repo: Path, config: Config) -> tuple[Lockfile, ...]:
    """Step 1: the project's lockfiles (SPEC §2)."""
    return discover(repo, config)


def plan(
    lockfiles: Sequence[Lockfile],
    config: Config,
    index: Index,
    sources: Sequence[AdvisorySource],
    pool_size: int = 16,
    ml: VariantLookup | None = None,
) -> Planned:
    """Steps 2 to 4: check every pin (``ml``: the torch family on its variants' indexes),
    classify the updates and batch them."""
    checked = check(lockfiles, index, sources, pool_size=pool_size, ml=ml)
    updates, skipped, notes = classify_all(lockfiles, checked, config)
    result = make_plan(
        updates, (*checked.skipped, *skipped), checked.source_errors, config, notes=notes
    )
    return Planned(tuple(lockfiles), result, checked.skipped)


def nothing_looked_up(planned: Planned) -> bool:
    """Whether no pinned package could be looked up on the index: the run could not do its
    job (exit 1), for ``plan`` and ``run`` alike."""
    names = {p.name for lf in planned.lockfiles for p in lf.pins}
    return bool(names) and names <= {s.name for s in planned.unlooked}


# ---------------------------------------------------------------------------- run

Unit = tuple[Update, ...]


@dataclass(frozen=True)
class RunTools:
    """The collaborators of ``run``: built by the composition root (``depbot.app``)."""

    backends: BackendFor
    """The lock backend for a lockfile's Python (``"X.Y"``; None: depbot's own)."""
    index: LockIndex
    forge: Forge
    store: Store
    state_dir: Path
    """``.git/depbot``: test environments and scratch checkouts live under it."""
    env: Mapping[str, str]
    """The environment of every tool depbot runs (lock tool, installer, tests): allow-listed."""
    base: str = ""
    """The commit the scratch checkout holds (the user's HEAD): what the batches are built on."""
    tree: str = ""
    """Its tree id: part of every verdict's key, so a fix committed on HEAD is re-tested."""
    progress: Callable[[str], None] = lambda _message: None
    secrets: tuple[str, ...] = ()
    """Values that must never appear in a PR body (tokens)."""
    now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
    """The clock the dashboard measures ages with."""


def batches_for(trigger: str, result: Plan, first: Collection[str] = ()) -> tuple[Batch, ...]:
    """``security`` runs only the security batch; ``weekly`` and ``manual`` run every batch.

    ``first``: the packages an advisory event names (SPEC §8, "the affected packages first"):
    their units lead the security batch, so bisection tests them first and the PR lists them
    first; which updates the batch holds does not change.
    """
    if trigger != "security":
        return result.batches
    wanted = {canonicalize_name(n) for n in first}

    def leading(batch: Batch) -> Batch:
        units = sorted(batch.units, key=lambda unit: not any(u.name in wanted for u in unit))
        return dataclasses.replace(batch, updates=tuple(u for unit in units for u in unit))

    return tuple(leading(b) for b in result.batches if b.kind is Kind.SECURITY)


def test_environments(lockfiles: Sequence[Lockfile], config: Config) -> tuple[Environment, ...]:
    """Which lockfiles are installed together for the tests (SPEC §2 ``environments``)."""
    return environments(lockfiles, config.environments)


def run(
    scratch: Path,
    planned: Planned,
    config: Config,
    tools: RunTools,
    *,
    trigger: str = "manual",
    dry_run: bool = False,
    first: Collection[str] = (),
) -> tuple[BatchOutcome, ...]:
    """Steps 5 to 8 for each batch of the plan: relock, verify, bisect, publish, remember;
    then the batches no longer proposed are closed.

    ``scratch`` is a checkout of the user's HEAD where the lock tool and the tests run; the
    lockfiles of ``planned`` were read from it.
    """
    original = {
        str(lf.path): (scratch / lf.path).read_text(encoding="utf-8") for lf in planned.lockfiles
    }
    envs = test_environments(planned.lockfiles, config)
    published = {b.id: b for b in tools.store.reconcile(tools.forge.open_batches()) if b.ours}
    outcomes = []
    with contextlib.ExitStack() as stack:
        venvs = {
            e.name: stack.enter_context(LazyTestEnv(_venv_maker(e, i, scratch, tools)))
            for i, e in enumerate(envs)
        }
        for batch in batches_for(trigger, planned.plan, first):
            tools.progress(f"{batch.branch}: {len(batch.updates)} updates")
            prober = _prober(batch, scratch, planned, original, venvs, config, tools)
            outcome = run_batch(
                batch, prober, envs, config, tools, dry_run=dry_run,
                published=published.get(batch.id), plan=planned.plan,
                direct=direct_packages(planned.lockfiles),
            )  # fmt: skip
            remember(outcome, tools.store, _batch_key(tools.base, outcome.kept, config))
            outcomes.append(outcome)
    if not dry_run:
        failed = [s.name for s in planned.unlooked if s.reason != NOT_FOUND]
        superseded = sorted(set(published) - {b.id for b in planned.plan.batches})
        if failed and superseded and trigger != "security":
            # a batch may be missing only because its packages could not be looked up this time
            names = ", ".join(superseded)
            tools.progress(f"not closing {names}: {len(failed)} packages could not be looked up")
        _tidy(planned, outcomes, tools, full_plan=trigger != "security" and not failed)
    return tuple(outcomes)


def run_batch(
    batch: Batch,
    prober: Prober,
    envs: Sequence[Environment],
    config: Config,
    tools: RunTools,
    *,
    dry_run: bool = False,
    published: OpenBatch | None = None,
    plan: Plan | None = None,
    direct: Collection[str] | None = None,
) -> BatchOutcome:
    """One batch through remember → relock → baseline → verify → bisect → publish.

    ``published``: depbot's branch of this batch on the forge; when the store says it holds
    exactly these updates on this base, nothing is relocked or tested again. ``direct``: the
    packages a source file asks for (the commit's ``updated-dependencies`` trailer).
    """
    rolled: list[RolledBack] = []

    def outcome(
        status: str,
        kept: Sequence[Unit] = (),
        *,
        message: str = "",
        pr: str | None = None,
        branch: bool = False,
        moved: tuple[Moved, ...] = (),
    ) -> BatchOutcome:
        """``branch``: whether the batch's branch exists (or, dry run, would) after this."""
        return BatchOutcome(
            batch=batch,
            status=status,
            kept=tuple(u for unit in kept for u in unit),
            rolled_back=tuple(rolled),
            moved=moved,
            test_runs=prober.runs,
            branch=batch.branch if branch or status == "planned" else None,
            pr=pr,
            message=message,
        )

    # 8, read back: what failed before waits for a newer release
    units, rolled[:] = unblocked(batch.units, tools.store.rollbacks())
    if not units:
        return outcome("rolled-back")
    if published and not dry_run and _already_published(batch, units, config, tools):
        return outcome("unchanged", units, branch=True, pr=published.pr)
    try:
        # 5. relock the whole batch: what cannot be resolved leaves it
        relocked = prober.relocked(units)
        rolled += relocked.unresolvable
        resolvable = {u.name for u in relocked.kept}
        units = [unit for unit in units if all(u.name in resolvable for u in unit)]
        if not units:
            return outcome("rolled-back")
        prober.environments = tuple(e for e in envs if set(e.lockfiles) & set(relocked.files))
        # 6. verify: the current lockfiles must pass before any update is blamed
        baseline = prober(())
        if not baseline.passed:
            message = (
                "the current lockfiles fail the tests (baseline), so no update is blamed:\n"
                + baseline.log_tail
            )
            return outcome("failed", message=message)
        if config.max_test_runs is not None and prober.runs >= config.max_test_runs:
            rolled += [RolledBack(u, "not-tested") for unit in units for u in unit]
            return outcome("rolled-back", message="max-test-runs was spent on the baseline")
        full = prober(tuple(units))
        kept: tuple[Unit, ...] = tuple(units)
        passing: TestResult | None = full
        if not full.passed:
            # bisect: find the failing units, keep the rest
            tools.progress(f"{batch.branch}: the batch fails; bisecting")
            found = bisect(units, prober, _budget(config, prober.runs, len(units)), full=full)
            kept, passing = found.kept, found.last_pass
            for rejection in found.rejected:
                detail = excerpt(rejection.result)
                rolled += [RolledBack(u, "tests-failed", detail) for u in rejection.unit]
            rolled += [RolledBack(u, "not-tested") for unit in found.untested for u in unit]
        if not kept:
            return outcome("rolled-back")
        files = prober.files(kept)
        # a move to another variant also moves the index line of the lockfiles' sources
        sources = prober.relocked(kept).sources
    except LockTimeout as exc:
        # a tool hung (on the index, most likely): nothing is the updates' fault
        return outcome("failed", message=f"the lock tool timed out: {exc}")
    except LockError as exc:
        # the index or a source is broken: nothing is the updates' fault, nothing is remembered
        return outcome("failed", message=f"relocking failed: {exc}")
    kept_updates = tuple(u for unit in kept for u in unit)
    moved = _pending(moved_pins(prober.original, files, kept_updates), batch, plan)
    if dry_run:
        return outcome("planned", kept, moved=moved)
    # 7. publish what passed
    record = pr_record(
        batch,
        kept_updates,
        rolled,
        test_command=config.test_command,
        test_runs=prober.runs,
        passing=passing,
        secrets=tools.secrets,
        moved=moved,
        index_url=config.index_url,
        direct=direct,
    )
    changed = {p: t.encode() for p, t in files.items() if t != prober.original[p]}
    changed.update({p: t.encode() for p, t in sources.items()})
    result = tools.forge.publish(batch.id, changed, record)
    if result.status == "conflict":
        return outcome("failed", kept, message=result.message, branch=True, moved=moved)
    return outcome(result.status, kept, pr=result.pr, branch=True, moved=moved)


def _venv_maker(
    env: Environment, number: int, scratch: Path, tools: RunTools
) -> Callable[[], TestEnv]:
    def make() -> TestEnv:
        path = tools.state_dir / "venvs" / ("test" if number == 0 else f"test-{number}")
        backend = tools.backends(env.python)
        return TestEnv(path, scratch, backend, tools.index, tools.env, owned=True)

    return make


def _prober(
    batch: Batch,
    scratch: Path,
    planned: Planned,
    original: Mapping[str, str],
    venvs: Mapping[str, LazyTestEnv],
    config: Config,
    tools: RunTools,
) -> Prober:
    """Bisect's probe for ``batch``: relocks in ``scratch``, tests in the run's ``venvs``."""

    def progress(message: str) -> None:
        tools.progress(f"{batch.branch}: {message}")

    relock_batch = functools.partial(
        relock, scratch, planned.lockfiles, backends=tools.backends, index=tools.index,
        env=tools.env,
    )  # fmt: skip
    return Prober(
        relock_batch,
        original,
        venvs,
        tools.store,
        test_command=config.test_command,
        timeout=config.test_timeout,
        tree=tools.tree,
        progress=progress,
    )


def _batch_key(base: str, updates: Sequence[Update], config: Config) -> str:
    """What a published branch holds: the base commit, the updates with their targets and
    the test command that passed them."""
    text = "\n".join([base, config.test_command, *sorted(f"{u.name}=={u.target}" for u in updates)])
    return hashlib.sha256(text.encode()).hexdigest()


def _already_published(
    batch: Batch, units: Sequence[Unit], config: Config, tools: RunTools
) -> bool:
    record = next((b for b in tools.store.batches() if b.id == batch.id), None)
    updates = [u for unit in units for u in unit]
    return record is not None and record.key == _batch_key(tools.base, updates, config)


def _pending(moved: tuple[Moved, ...], batch: Batch, plan: Plan | None) -> tuple[Moved, ...]:
    """``moved`` with the other batch that proposes the same package, when one does."""
    if plan is None:
        return moved
    elsewhere = {u.name: b.id for b in plan.batches if b.id != batch.id for u in b.updates}
    return tuple(dataclasses.replace(m, pending=elsewhere.get(m.name)) for m in moved)


def _tidy(
    planned: Planned, outcomes: Sequence[BatchOutcome], tools: RunTools, *, full_plan: bool
) -> None:
    """Close the batches no longer proposed (their updates moved on or were merged), then
    publish the dashboard of what stays open."""
    tidied = tidy(
        tools.forge,
        planned={b.id for b in planned.plan.batches},
        statuses={o.batch.id: o.status for o in outcomes},
        full_plan=full_plan,
        rollbacks=tools.store.rollbacks(),
        now=tools.now(),
        source_errors=planned.plan.source_errors,
        skipped=planned.plan.skipped,
    )
    for batch_id, reason in tidied.closed:
        tools.progress(f"depbot/{batch_id}: closed ({reason})")
        tools.store.record_batch(batch_id, branch=f"depbot/{batch_id}", status="closed")
    if tidied.dashboard:
        tools.progress(f"dashboard: {tidied.dashboard}")


def _budget(config: Config, spent: int, n: int) -> int:
    """Probes left for bisect: ``max-test-runs`` counts every test run of the batch (the
    baseline and the whole batch included); the default is sized from the batch."""
    if config.max_test_runs is None:
        return default_budget(n)
    return max(config.max_test_runs - spent, 0)
