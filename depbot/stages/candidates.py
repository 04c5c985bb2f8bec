"""The version rules classification is made of (SPEC §3): series, candidates, fixes.

Shared by the classify stage and the ML family's decision (``depbot.ml.family``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from packaging.version import Version

from depbot.models import Advisory, Release

__all__ = ["candidates", "has_fix", "lowest_preferring_series", "public", "series", "unfixable"]


def series(v: Version) -> tuple[int, ...]:
    """The epoch and first release segment; for ``0.x`` the epoch and first two segments."""
    release = v.release
    if release[0] == 0:
        return (v.epoch, 0, release[1] if len(release) > 1 else 0)
    return (v.epoch, release[0])


def public(v: Version) -> Version:
    """``v`` without its local label (``2.1.0+cu118`` → ``2.1.0``)."""
    return Version(v.public) if v.local is not None else v


def candidates(
    current: Version,
    releases: Sequence[Release],
    python: Sequence[Version],
    allow_pre: bool,
    label: str | None = None,
) -> list[Version]:
    """Releases newer than ``current`` that may replace it, ascending (ignore rules aside);
    ``releases`` are ascending, as an index gives them.

    Not yanked, installable on every Python in ``python``, no pre-/dev release unless
    ``allow_pre`` or ``current`` is one, and carrying the same local label as ``current``
    (``2.1.0+cu118`` only moves to ``…+cu118``; an unlabelled pin never gains a label), or the
    label ``label`` when given (a move to another variant).
    """
    wanted = current.local if label is None else label
    allow_pre = allow_pre or current.is_prerelease
    floor = public(current)
    found: set[Version] = set()
    for release in reversed(releases):
        version = release.version
        if version <= floor:
            break  # ascending: the rest are older still (a store makes only the newer ones)
        if version.local != wanted or public(version) <= floor:
            continue
        if release.yanked or (version.is_prerelease and not allow_pre):
            continue
        if all(release.installable_on(py) for py in python):
            found.add(version)
    return sorted(found)


def has_fix(advisory: Advisory) -> bool:
    """Whether some release is free of ``advisory``."""
    # OSV's last_affected also bounds the hole: every later release is free of it
    return bool(advisory.fixed) or any(r.last_affected is not None for r in advisory.ranges)


def lowest_preferring_series(current: Version, clean: Sequence[Version]) -> Version:
    """The lowest of ``clean`` in the series of ``current``, else the lowest of all."""
    same = [v for v in clean if series(v) == series(current)]
    return min(same) if same else min(clean)


def unfixable(current: Version, fixable: Sequence[Advisory], pythons: Iterable[Version]) -> str:
    """Why no release fixes ``fixable`` for ``current`` (on ``pythons``), in one sentence."""
    ids = ", ".join(a.id for a in fixable)
    verb, pronoun = ("affects", "it") if len(fixable) == 1 else ("affect", "them")
    fixes = ", ".join(str(v) for v in sorted({f for a in fixable for f in a.fixed}))
    on = ", ".join(str(p) for p in sorted(pythons))
    reason = f"{ids} {verb} {current}; no installable release is free of {pronoun}"
    details = [f"fixed in {fixes}"] if fixes else []
    details += [f"Python {on}"] if on else []
    return f"{reason} ({'; '.join(details)})" if details else reason
