"""Classify stage: the security, minor and major updates each pin has (SPEC §3, §6).

Pure: takes the parsed lockfiles, the check stage's result and the configuration, returns
updates, the packages that could not be updated with the reason, and notes for the user. The
torch family of a lockfile is decided as one unit (``depbot.ml.family``); an update that a
known coupling forbids beside what its lockfile keeps (numpy 2 beside torch 2.1) is skipped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version

from depbot.config import Config
from depbot.ml.compat import COUPLINGS, coupling_violations
from depbot.ml.family import family_updates
from depbot.ml.lookup import family_pins
from depbot.models import (
    Advisory,
    CheckResult,
    Kind,
    Lockfile,
    NormalizedName,
    Skipped,
    Update,
    canonicalize_name,
)
from depbot.stages.candidates import (
    candidates,
    has_fix,
    lowest_preferring_series,
    public,
    series,
    unfixable,
)

__all__ = ["Classified", "candidates", "classify", "classify_all", "series"]

_KIND_ORDER = {Kind.SECURITY: 0, Kind.MINOR: 1, Kind.MAJOR: 2}


class Classified(NamedTuple):
    """What classify found: the updates, what was skipped and why, and notes."""

    updates: tuple[Update, ...]
    skipped: tuple[Skipped, ...]
    notes: tuple[str, ...] = ()


def classify(
    lockfiles: Sequence[Lockfile], check: CheckResult, config: Config
) -> tuple[tuple[Update, ...], tuple[Skipped, ...]]:
    """``classify_all`` without its notes."""
    found = classify_all(lockfiles, check, config)
    return found.updates, found.skipped


def classify_all(lockfiles: Sequence[Lockfile], check: CheckResult, config: Config) -> Classified:
    """Every update of every pin, one per (name, current version) and kind, sorted.

    A package pinned at different versions in two lockfiles yields separate updates, each
    listing its lockfiles; the target must install on the Python of each of them.

    - security: ``current`` is affected by advisories that have a fix. Target: the lowest
      candidate affected by none of them, the lowest in the current series if there is one
      (else ``breaking``). Advisories without any fix, fixes that cannot be installed, and a
      fix the configuration ignores are reported as skipped instead.
    - minor: the latest candidate in the current series; major: the latest candidate when it
      is in a newer series (``breaking``). A package can have both.
    - Next to a security update, minor and major are proposed only above its target and only
      to releases free of the advisories it fixes, so no batch moves back into a hole the
      security batch closes. Without a security update they follow the usual rules.
    - Packages the check stage skipped are left out; ignored targets are not candidates.
    - The torch family of a lockfile that pins torch is one unit whose kind is torch's; its
      members have no update of their own there.
    """
    already = {canonicalize_name(s.name) for s in check.skipped}
    updates: list[Update] = []
    skipped: list[Skipped] = []
    notes: list[str] = []
    plain: list[Lockfile] = []
    family: list[Update] = []
    for lockfile in lockfiles:
        pins = family_pins(lockfile) if config.ml.enabled else ()
        if pins:
            path = str(lockfile.path)
            if not {p.name for p in pins} & already:
                home, move = check.ml.homes.get(path), check.ml.moves.get(path)
                found = family_updates(
                    lockfile, home, move, check.releases, check.advisories, config
                )
                family += found.updates
                skipped += found.skipped
                notes += found.notes
            lockfile = dataclasses.replace(
                lockfile, pins=tuple(p for p in lockfile.pins if p not in pins)
            )
        plain.append(lockfile)
    for (name, current), where in sorted(_pins(plain).items()):
        if name in already:
            continue
        found_pin, reasons = _classify_pin(name, current, where, check, config)
        updates += found_pin
        skipped += reasons
    kept, forbidden = _coupled(updates, lockfiles, family)
    updates, constrained = _constrained([*kept, *family], lockfiles)
    forbidden += constrained
    updates = _merged(updates)
    updates.sort(key=lambda u: (u.name, u.current, _KIND_ORDER[u.kind], u.lockfiles))
    return Classified(tuple(updates), tuple(dict.fromkeys([*skipped, *forbidden])), tuple(notes))


def _merged(updates: Sequence[Update]) -> list[Update]:
    """One update per (name, current, target, kind) listing every lockfile that has it."""
    by_key: dict[tuple[object, ...], Update] = {}
    for u in updates:
        key = (u.name, u.current, u.target, u.kind)
        known = by_key.get(key)
        if known is None:
            by_key[key] = u
        else:
            lockfiles = tuple(sorted({*known.lockfiles, *u.lockfiles}))
            by_key[key] = dataclasses.replace(known, lockfiles=lockfiles)
    return list(by_key.values())


def _constrained(
    updates: Sequence[Update], lockfiles: Sequence[Lockfile]
) -> tuple[list[Update], list[Skipped]]:
    """``updates`` without the lockfiles whose hand-written constraints files forbid the
    target (a family unit leaves such a lockfile whole), and the skipped ones, naming the
    constraint."""
    rules: dict[tuple[str, NormalizedName], list[tuple[str, Requirement]]] = {}
    for lf in lockfiles:
        for where, line in lf.constraints:
            try:
                req = Requirement(line)
            except InvalidRequirement:
                continue  # pip says so when it compiles
            rules.setdefault((str(lf.path), canonicalize_name(req.name)), []).append((where, req))
    blocked: dict[tuple[str, str, Kind], str] = {}
    skipped: list[Skipped] = []
    for u in updates:
        for path in u.lockfiles:
            for where, req in rules.get((path, u.name), []):
                if not req.specifier.contains(u.target, prereleases=True):
                    blocked[(path, u.group or u.name, u.kind)] = f"{where}: {req}"
                    reason = f"{u.target} is forbidden in {path} by {where}: {req}"
                    skipped.append(Skipped(u.name, reason))
    kept = []
    named = {s.name for s in skipped}
    for u in updates:
        allowed = tuple(p for p in u.lockfiles if (p, u.group or u.name, u.kind) not in blocked)
        for path in sorted(set(u.lockfiles) - set(allowed)):
            if u.name not in named:
                held = blocked[(path, u.group or u.name, u.kind)]
                skipped.append(
                    Skipped(u.name, f"{u.target} moves with {u.group} in {path}, held by {held}")
                )
        if allowed:
            kept.append(dataclasses.replace(u, lockfiles=allowed))
    return kept, skipped


def _coupled(
    updates: Sequence[Update], lockfiles: Sequence[Lockfile], family: Sequence[Update]
) -> tuple[list[Update], list[Skipped]]:
    """``updates`` without the lockfiles where a known coupling forbids the target beside
    what that lockfile holds in the update's batch (the family's security or minor target,
    when it moves in the same batch; else its current pin), and the skipped ones."""
    coupled = {c.package: c.beside for c in COUPLINGS}
    by_path = {str(lf.path): lf for lf in lockfiles}
    moving = {(u.name, path, u.kind): u.target for u in family for path in u.lockfiles}
    kept: list[Update] = []
    skipped: list[Skipped] = []
    for u in updates:
        beside = coupled.get(u.name)
        if beside is None:
            kept.append(u)
            continue
        allowed = []
        for path in u.lockfiles:
            pin = by_path[path].pin(beside) if path in by_path else None
            if pin is None:
                allowed.append(path)
                continue
            with_it = moving.get((pin.name, path, u.kind)) if u.kind is not Kind.MAJOR else None
            broken = coupling_violations({u.name: u.target, pin.name: with_it or pin.version})
            if broken:
                reason = f"{u.target} is not proposed in {path}: {broken[0]}"
                skipped.append(Skipped(u.name, reason))
            else:
                allowed.append(path)
        if allowed:
            kept.append(dataclasses.replace(u, lockfiles=tuple(allowed)))
    return kept, skipped


# ---------------------------------------------------------------------------- one pin


@dataclass
class _Where:
    """The lockfiles that pin one (name, version) and the Pythons they target."""

    lockfiles: set[str] = field(default_factory=set)
    pythons: set[Version] = field(default_factory=set)


def _pins(lockfiles: Iterable[Lockfile]) -> dict[tuple[NormalizedName, Version], _Where]:
    pins: dict[tuple[NormalizedName, Version], _Where] = {}
    for lockfile in lockfiles:
        python = _python(lockfile.header.python_version)
        for pin in lockfile.pins:
            where = pins.setdefault((pin.name, pin.version), _Where())
            where.lockfiles.add(str(lockfile.path))
            if python is not None:
                where.pythons.add(python)
    return pins


def _python(text: str | None) -> Version | None:
    # an unreadable header version means "unknown", which only disables the filter
    if text is None:
        return None
    try:
        return Version(text)
    except InvalidVersion:
        return None


def _classify_pin(
    name: NormalizedName, current: Version, where: _Where, check: CheckResult, config: Config
) -> tuple[list[Update], list[Skipped]]:
    allow_pre = name in config.allow_prereleases or "*" in config.allow_prereleases
    pool = candidates(current, check.releases.get(name, ()), sorted(where.pythons), allow_pre)
    wanted = [v for v in pool if not config.ignores(name, v)]
    lockfiles = tuple(sorted(where.lockfiles))

    def update(kind: Kind, target: Version, advisories: tuple[Advisory, ...] = ()) -> Update:
        breaking = series(target) != series(current)
        return Update(name, current, target, kind, lockfiles, advisories, breaking)

    # advisories speak of public versions; a local label is a build variant of the same code
    affecting = [a for a in check.advisories if a.package == name and a.affects(public(current))]
    fixable = tuple(sorted((a for a in affecting if has_fix(a)), key=lambda a: a.id))
    skipped = [
        Skipped(name, f"{a.id} affects {current} and has no fix")
        for a in sorted(affecting, key=lambda a: a.id)
        if not has_fix(a)
    ]
    updates: list[Update] = []
    floor = current
    if fixable:

        def clean(v: Version) -> bool:
            return not any(a.affects(public(v)) for a in fixable)

        clean_wanted = [v for v in wanted if clean(v)]
        clean_pool = [v for v in pool if clean(v)]
        ids = ", ".join(a.id for a in fixable)
        if clean_wanted:
            floor = lowest_preferring_series(current, clean_wanted)
            updates.append(update(Kind.SECURITY, floor, fixable))
            wanted = clean_wanted
        elif clean_pool:
            target = lowest_preferring_series(current, clean_pool)
            skipped.append(
                Skipped(name, f"security update to {target} ({ids}) ignored by configuration")
            )
        else:
            skipped.append(Skipped(name, unfixable(current, fixable, where.pythons)))

    in_series = [v for v in wanted if series(v) == series(current)]
    if in_series and in_series[-1] > floor:
        updates.append(update(Kind.MINOR, in_series[-1]))
    if wanted and series(wanted[-1]) != series(current) and wanted[-1] > floor:
        updates.append(update(Kind.MAJOR, wanted[-1]))
    return updates, skipped
