"""The torch family's updates in one lockfile: one unit, to a set built together (SPEC §3, §6).

Pure. A *set* is a torch release and, for every partner the lockfile pins (torchvision,
torchaudio, torchtext, xformers, triton), the newest release built for it: by its wheel
metadata when the index served it, else by the built-in table. A set exists only when every
partner has such a release on the variant's index with the lockfile's labels, installable on
the lockfile's Python, and breaks no known coupling. The other members (``nvidia-*``) follow
torch's own pins through the resolver. The kind of the whole unit is torch's: torch 2.0.1 →
2.7.1 is a minor, whatever torchvision's ``0.x`` series do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from packaging.version import Version

from depbot.config import Config
from depbot.ml.compat import PARTNERS, coupling_violations, row_for, torch_for
from depbot.ml.families import TORCH
from depbot.ml.lookup import family_pins, lockfile_python
from depbot.models import (
    Advisory,
    Kind,
    Lockfile,
    NormalizedName,
    Pin,
    Release,
    Skipped,
    Update,
    VariantIndex,
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

__all__ = ["FamilyDecision", "family_updates"]

_TORCH = canonicalize_name(TORCH)


@dataclass(frozen=True)
class FamilyDecision:
    """The family's updates in one lockfile, what could not be updated, and what to say."""

    updates: tuple[Update, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Set:
    torch: Version
    targets: Mapping[NormalizedName, Version]
    """Every partner's version in this set (unchanged ones included), and torch's."""


class _Variant:
    """Where one variant's builds are looked for: its index, or the main one for plain pins."""

    def __init__(
        self,
        index: VariantIndex | None,
        main: Mapping[NormalizedName, Sequence[Release]],
        relabel: tuple[str, str] | None = None,
    ) -> None:
        self.index = index
        self.main = main
        self.relabel = relabel

    def label(self, pin: Pin) -> str | None:
        if self.relabel is not None and pin.version.local == self.relabel[0]:
            return self.relabel[1]
        return pin.version.local

    def releases(self, pin: Pin) -> Sequence[Release]:
        if self.index is None:
            return self.main.get(pin.name, ())
        on_index = self.index.releases.get(pin.name, ())
        if self.label(pin) is not None:
            return on_index
        # a plain partner (triton, xformers from PyPI) may come from either index
        known = {r.version for r in on_index}
        extra = [r for r in self.main.get(pin.name, ()) if r.version not in known]
        # ascending, as every list of releases is (``candidates`` walks it down from the newest)
        return sorted([*on_index, *extra], key=lambda r: r.version) if extra else on_index

    def built_for(self, name: NormalizedName, version: Version) -> Version | None:
        derived = self.index.built_for.get((name, version)) if self.index else None
        return derived if derived is not None else torch_for(name, version)


def _sets(lockfile: Lockfile, pins: Sequence[Pin], variant: _Variant, config: Config) -> list[_Set]:
    """Every set newer than the lockfile's torch on ``variant``, ascending."""
    python = lockfile_python(lockfile)
    pythons = [python] if python is not None else []
    by_name = {p.name: p for p in pins}
    torch = by_name[_TORCH]
    partners = [p for p in pins if p.name in PARTNERS]

    def allow_pre(name: str) -> bool:
        return name in config.allow_prereleases or "*" in config.allow_prereleases

    pools: dict[NormalizedName, list[Version]] = {}
    for p in partners:
        label = variant.label(p)
        pool = candidates(p.version, variant.releases(p), pythons, allow_pre(p.name), label)
        pools[p.name] = [p.version, *pool] if label == p.version.local else pool
    before = {p.name: p.version for p in lockfile.pins}
    found = []
    label = variant.label(torch)
    pool = candidates(torch.version, variant.releases(torch), pythons, allow_pre(TORCH), label)
    for t in pool:
        row = row_for(t)
        if config.ignores(TORCH, t) or (python is not None and row and not row.supports(python)):
            continue
        targets: dict[NormalizedName, Version] = {_TORCH: t}
        for p in partners:
            built = [v for v in pools[p.name] if variant.built_for(p.name, v) == public(t)]
            built = [v for v in built if v == p.version or not config.ignores(p.name, v)]
            if not built:
                break
            targets[p.name] = max(built)
        else:
            after = {**before, **targets}
            if len(coupling_violations(after)) <= len(coupling_violations(before)):
                found.append(_Set(t, targets))
    return found


def _updates(
    lockfile: Lockfile,
    pins: Sequence[Pin],
    chosen: _Set,
    kind: Kind,
    advisories: Mapping[NormalizedName, tuple[Advisory, ...]] | None = None,
) -> list[Update]:
    torch = next(p for p in pins if p.name == _TORCH)
    breaking = series(chosen.torch) != series(torch.version) or kind is Kind.MAJOR
    where = (str(lockfile.path),)
    found = (advisories or {}).get
    return [
        Update(p.name, p.version, target, kind, where, found(p.name, ()), breaking, TORCH)
        for p in pins
        if (target := chosen.targets.get(p.name)) is not None and target != p.version
    ]


def family_updates(
    lockfile: Lockfile,
    home: VariantIndex | None,
    move: VariantIndex | None,
    main: Mapping[NormalizedName, Sequence[Release]],
    advisories: Sequence[Advisory],
    config: Config,
) -> FamilyDecision:
    """The torch family's updates in ``lockfile``: security (the lowest clean set, in torch's
    series first), minor and major to the newest set, each one unit; and, when the variant
    ends, the move to the newer variant ``move`` as a major, with a note saying so.

    ``home`` is the variant index of a labelled torch (None: plain builds of ``main``).
    """
    pins = family_pins(lockfile)
    torch = next(p for p in pins if p.name == _TORCH)
    own = _Variant(home, main)
    sets = _sets(lockfile, pins, own, config)
    updates: list[Update] = []
    skipped: list[Skipped] = []
    affecting = {
        p.name: [a for a in advisories if a.package == p.name and a.affects(public(p.version))]
        for p in pins
    }
    fixable = {n: tuple(a for a in found if has_fix(a)) for n, found in affecting.items()}
    holes = [a for found in fixable.values() for a in found]
    skipped += [
        Skipped(n, f"{a.id} affects {next(p.version for p in pins if p.name == n)} and has no fix")
        for n, found in sorted(affecting.items())
        for a in found
        if not has_fix(a)
    ]

    def clean(s: _Set) -> bool:
        return not any(
            a.affects(public(s.targets.get(a.package, _current(pins, a.package)))) for a in holes
        )

    floor = torch.version
    if holes:
        clean_sets = [s for s in sets if clean(s)]
        if clean_sets:
            lowest = lowest_preferring_series(torch.version, [s.torch for s in clean_sets])
            chosen = next(s for s in clean_sets if s.torch == lowest)
            updates += _updates(lockfile, pins, chosen, Kind.SECURITY, fixable)
            floor, sets = lowest, clean_sets
        else:
            python = lockfile_python(lockfile)
            on = [python] if python is not None else []
            skipped += [
                Skipped(n, unfixable(_current(pins, n), found, on))
                for n, found in sorted(fixable.items())
                if found
            ]
    same = [s for s in sets if series(s.torch) == series(torch.version) and s.torch > floor]
    if same:
        updates += _updates(lockfile, pins, same[-1], Kind.MINOR)
    newer = [s for s in sets if series(s.torch) != series(torch.version) and s.torch > floor]
    if newer:
        updates += _updates(lockfile, pins, newer[-1], Kind.MAJOR)
    notes: list[str] = []
    label = torch.version.local
    if home is not None and label is not None:
        note, moved = _variant_end(lockfile, pins, home, move, main, config, floor, bool(newer))
        notes += [note] if note else []
        updates += moved
    return FamilyDecision(tuple(updates), tuple(skipped), tuple(notes))


def _current(pins: Sequence[Pin], name: NormalizedName) -> Version:
    return next(p.version for p in pins if p.name == name)


def _variant_end(
    lockfile: Lockfile,
    pins: Sequence[Pin],
    home: VariantIndex,
    move: VariantIndex | None,
    main: Mapping[NormalizedName, Sequence[Release]],
    config: Config,
    floor: Version,
    has_major: bool,
) -> tuple[str | None, list[Update]]:
    """The note when ``home`` has no build of the newest torch, and the move to ``move``."""
    python = lockfile_python(lockfile)
    ok = [
        public(r.version)
        for r in main.get(_TORCH, ())
        if not r.yanked and not r.version.is_prerelease and r.installable_on(python)
    ]
    own = [public(v) for v in home.versions(TORCH) if v.local == home.label]
    if not ok or not own or max(own) >= max(ok):
        return None, []
    end, newest = max(own), max(ok)
    said = (
        f"{lockfile.path}: the {home.label} builds of torch end at {end} ({home.url} has no"
        f" torch {newest})"
    )
    if move is None or has_major:
        hint = "set [tool.depbot.ml] cuda to the variant to move to"
        return f"{said}; no newer variant beside it has torch {newest} ({hint})", []
    variant = _Variant(move, main, relabel=(home.label, move.label))
    sets = [s for s in _sets(lockfile, pins, variant, config) if public(s.torch) > end]
    sets = [s for s in sets if public(s.torch) > public(floor)]
    if not sets:
        return f"{said}; {move.url} has no complete torch family newer than {end}", []
    chosen = sets[-1]
    updates = _updates(lockfile, pins, chosen, Kind.MAJOR)
    return (
        f"{said}; the move to {move.label} ({move.url}, torch {chosen.torch}) is proposed only"
        " as major-torch, for manual review",
        updates,
    )
