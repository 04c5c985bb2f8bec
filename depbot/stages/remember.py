"""remember: which updates depbot's memory holds back, and which rollbacks it keeps (SPEC §5).

Pure decisions over values; the store (``depbot.state.store``) only keeps what these decide,
written by ``remember``, the pipeline's last step for each batch. A
rolled-back version stays blocked until a newer release appears (a different version) or the
user clears it (``--retry``); a rollback that proved nothing (the budget ran out) blocks nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from depbot.models import BatchOutcome, RolledBack, Update
from depbot.state.store import RollbackRecord, Store, same_version

__all__ = ["BLOCKING_REASONS", "blocking", "remember", "unblocked"]

BLOCKING_REASONS = frozenset({"unresolvable", "tests-failed"})
"""Rollback reasons that block a version; ``not-tested`` (budget) never proved anything."""

Unit = tuple[Update, ...]


def blocking(rolled_back: Iterable[RolledBack]) -> tuple[RolledBack, ...]:
    """The rollbacks to remember: those whose reason is in BLOCKING_REASONS."""
    return tuple(r for r in rolled_back if r.reason in BLOCKING_REASONS)


def _record_of(update: Update, memory: Sequence[RollbackRecord]) -> RollbackRecord | None:
    for record in memory:
        if record.name == update.name and same_version(record.version, str(update.target)):
            return record
    return None


def unblocked(
    units: Iterable[Unit], memory: Sequence[RollbackRecord]
) -> tuple[list[Unit], list[RolledBack]]:
    """The units no remembered rollback blocks, and the others as ``previously-failed``.

    A unit moves as one: when memory blocks one member, the whole unit waits.
    """
    kept: list[Unit] = []
    rolled: list[RolledBack] = []
    for unit in units:
        records = [_record_of(u, memory) for u in unit]
        if not any(records):
            kept.append(unit)
            continue
        for u, record in zip(unit, records, strict=True):
            why = f"{record.reason} on {record.at:%Y-%m-%d}" if record else "failed before"
            rolled.append(RolledBack(u, "previously-failed", why))
    return kept, rolled


def remember(outcome: BatchOutcome, store: Store, key: str) -> None:
    """8. remember: proven failures block their versions; a published branch is recorded with
    what it holds, so a rerun with nothing new can leave it alone."""
    for r in blocking(outcome.rolled_back):
        store.add_rollback(r.update.name, r.update.target, r.reason, r.detail)
    if outcome.status in ("opened", "updated") or (outcome.status == "failed" and outcome.branch):
        store.record_batch(
            outcome.batch.id,
            branch=outcome.batch.branch,
            status=outcome.status,
            pr=outcome.pr,
            key=key if outcome.status != "failed" else None,
        )
    elif outcome.status == "unchanged":
        # "unchanged" says nothing new about a branch: keep what its last change was
        remembered = {b.id: b for b in store.batches()}.get(outcome.batch.id)
        if remembered is not None and remembered.key != key:
            store.record_batch(
                outcome.batch.id,
                branch=outcome.batch.branch,
                status=remembered.status,
                pr=remembered.pr,
                key=key,
            )
