"""Plan stage: the batches that are relocked, tested and published together (SPEC §5, §6).

Pure: takes classified updates and the configuration, returns batches with stable ids
(``security``, ``minor``, ``major-<package or group>``) and the plan the dry run shows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from packaging.version import Version

from depbot.config import Config
from depbot.ml.families import family_of
from depbot.models import Batch, Kind, NormalizedName, Plan, Skipped, Update

__all__ = ["assign_groups", "make_plan", "plan_batches"]

_KIND_ORDER = {Kind.SECURITY: 0, Kind.MINOR: 1, Kind.MAJOR: 2}


def assign_groups(updates: Sequence[Update], config: Config) -> tuple[Update, ...]:
    """``updates`` with ``group`` set for members of a configured group or an ML family.

    A group already set is kept; a configured group wins over a built-in family. ``nvidia-*``
    joins the torch family only when torch moves in one of the same lockfiles.
    """
    configured: dict[NormalizedName, str] = {}
    for name in sorted(config.groups):
        for member in config.groups[name]:
            configured.setdefault(member, name)
    moving: dict[str, set[str]] = {}
    for u in updates:
        for path in u.lockfiles:
            moving.setdefault(path, set()).add(u.name)

    grouped: list[Update] = []
    for u in updates:
        group: str | None = u.group or configured.get(u.name)
        if group is None and config.ml.enabled:
            alongside = set[str]().union(*(moving[p] for p in u.lockfiles))
            group = family_of(u.name, alongside)
        grouped.append(u if group == u.group else replace(u, group=group))
    return tuple(grouped)


def plan_batches(updates: Sequence[Update], config: Config) -> tuple[Batch, ...]:
    """Security first, then minor, then one batch per major package or group, by id.

    A group moves as one unit in each batch. When any member has a major update,
    ``major-<group>`` takes the members with a major to its target and the others along at
    their minor targets, since a family half-moved does not resolve (torch 2.4 needs
    torchvision 0.19); an update that goes there is not repeated in the minor batch. A member
    with both a minor and a major keeps its minor in the minor batch (torch 1.13.0 → 1.13.1 is
    worth having while 2.x waits for review). Empty batches are left out; sorted by name.
    """
    grouped = assign_groups(updates, config)
    security = [u for u in grouped if u.kind is Kind.SECURITY]
    minor = [u for u in grouped if u.kind is Kind.MINOR]
    majors = [u for u in grouped if u.kind is Kind.MAJOR]

    by_id: dict[str, list[Update]] = {}
    for u in majors:
        by_id.setdefault(f"major-{u.group or u.name}", []).append(u)
    major_groups = {u.group for u in majors if u.group is not None}
    has_major = {(u.name, u.current) for u in majors}
    stays: list[Update] = []
    for u in minor:
        if u.group in major_groups and (u.name, u.current) not in has_major:
            by_id[f"major-{u.group}"].append(u)
        else:
            stays.append(u)

    batches = [
        Batch("security", Kind.SECURITY, _sorted(security)),
        Batch("minor", Kind.MINOR, _sorted(stays)),
        *(Batch(id_, Kind.MAJOR, _sorted(by_id[id_])) for id_ in sorted(by_id)),
    ]
    return tuple(b for b in batches if b.updates)


def make_plan(
    updates: Iterable[Update],
    skipped: Iterable[Skipped],
    source_errors: Iterable[str],
    config: Config,
    notes: Iterable[str] = (),
) -> Plan:
    """The dry run's answer: every update (with its group), the batches, what was skipped,
    and the notes classify left for the user (an ML variant that ends)."""
    grouped = assign_groups(tuple(updates), config)
    return Plan(
        updates=tuple(sorted(grouped, key=_order)),
        batches=plan_batches(grouped, config),
        skipped=tuple(skipped),
        source_errors=tuple(source_errors),
        notes=tuple(dict.fromkeys(notes)),
    )


def _order(u: Update) -> tuple[str, Version, int, tuple[str, ...]]:
    return (u.name, u.current, _KIND_ORDER[u.kind], u.lockfiles)


def _sorted(updates: Iterable[Update]) -> tuple[Update, ...]:
    return tuple(sorted(updates, key=_order))
