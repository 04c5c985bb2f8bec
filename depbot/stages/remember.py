"""remember: which updates depbot's memory holds back, and which rollbacks it keeps (SPEC §5).

Pure decisions over values; the store (``depbot.state.store``) only keeps what these decide. A
rolled-back version stays blocked until a newer release appears (a different version) or the
user clears it (``--retry``); a rollback that proved nothing (the budget ran out) blocks nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from depbot.models import RolledBack, Update
from depbot.state.store import RollbackRecord, same_version

__all__ = ["BLOCKING_REASONS", "blocking", "unblocked"]

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
