"""Merging the advisories of several sources: one advisory per vulnerability and package.

Two advisories of one package are the same vulnerability when they share an id or alias,
transitively (A aliases B, B aliases C: one). The merged advisory keeps the range data of its
richest member: a source that publishes ranges (OSV, a directory of OSV records, GitHub) wins
over one whose ranges depbot inferred from fix versions (pip-audit, safety), then more ranges
and listed versions win. Its id is the most stable name of the group (PYSEC, then GHSA, then
CVE, then others; lexical within each), every other name becomes an alias.
"""

from __future__ import annotations

from collections.abc import Iterable

from depbot.models import Advisory, NormalizedName

__all__ = ["merge", "preferred_id"]

_INFERRED_SOURCES = ("pip-audit", "safety")
_ID_PREFERENCE = ("PYSEC-", "GHSA-", "CVE-")


def merge(advisories: Iterable[Advisory]) -> tuple[Advisory, ...]:
    """The advisories de-duplicated per package by id and aliases, sorted by package and id."""
    by_package: dict[NormalizedName, list[Advisory]] = {}
    for advisory in advisories:
        by_package.setdefault(advisory.package, []).append(advisory)
    merged = [_combine(group) for items in by_package.values() for group in _connected(items)]
    return tuple(sorted(merged, key=lambda a: (a.package, a.id)))


def preferred_id(names: Iterable[str]) -> str:
    """The name an advisory is best known by: PYSEC, then GHSA, then CVE, then any other."""
    return min(names, key=_id_rank)


def _id_rank(name: str) -> tuple[int, str]:
    upper = name.upper()
    for rank, prefix in enumerate(_ID_PREFERENCE):
        if upper.startswith(prefix):
            return rank, name
    return len(_ID_PREFERENCE), name


def _connected(items: list[Advisory]) -> list[list[Advisory]]:
    """The groups of ``items`` linked by a shared name (union-find over names)."""
    parent: dict[str, str] = {}

    def root(name: str) -> str:
        parent.setdefault(name, name)
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    for advisory in items:
        first, *rest = sorted(advisory.names)
        for other in rest:
            a, b = root(first), root(other)
            if a != b:
                parent[max(a, b)] = min(a, b)
    groups: dict[str, list[Advisory]] = {}
    for advisory in items:
        groups.setdefault(root(advisory.id), []).append(advisory)
    return list(groups.values())


def _combine(group: list[Advisory]) -> Advisory:
    names: frozenset[str] = frozenset().union(*(a.names for a in group))
    chosen = preferred_id(names)
    ranked = sorted(group, key=_richness)
    best = ranked[0]
    summary = next((a.summary for a in ranked if a.summary), "")
    return Advisory(
        id=chosen,
        package=best.package,
        aliases=names - {chosen},
        ranges=best.ranges,
        versions=best.versions,
        summary=summary,
        source=best.source,
    )


def _richness(advisory: Advisory) -> tuple[object, ...]:
    """Sort key, best first; total over distinct advisories so the result is order-independent."""
    return (
        advisory.source in _INFERRED_SOURCES,
        -(len(advisory.ranges) + len(advisory.versions)),
        advisory.source,
        advisory.id,
        tuple(sorted(repr(r) for r in advisory.ranges)),
        tuple(sorted(str(v) for v in advisory.versions)),
        tuple(sorted(advisory.aliases)),
        advisory.summary,
    )
