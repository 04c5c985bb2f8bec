"""The relock stage: regenerates each lockfile once for a batch, upgrading exactly its packages.

An update that cannot be resolved is rolled back (reason ``unresolvable``, with the resolver's
message) in every lockfile, together with the rest of its unit (a family moves as one), and the
others go on. A lockfile whose regeneration fails is relocked again with its units added one at
a time, so updates that only fail together roll back the later unit and keep the earlier.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from packaging.utils import NormalizedName
from packaging.version import Version

from depbot.lock.interface import LockBackend, LockIndex, Unresolvable
from depbot.lock.requirements import parse_lockfile
from depbot.models import Lockfile, RolledBack, Update

__all__ = ["RelockResult", "relock"]

UNRESOLVABLE = "unresolvable"


@dataclass(frozen=True)
class RelockResult:
    """The candidate lockfiles of a batch and the updates that could not be resolved."""

    files: Mapping[str, str]
    """Lockfile path (relative, forward slashes) → its new text, for every lockfile touched."""
    kept: tuple[Update, ...]
    """The updates every new lockfile carries at their targets, in batch order."""
    unresolvable: tuple[RolledBack, ...] = ()


def _unit_key(update: Update) -> str:
    return f"group:{update.group}" if update.group else f"name:{update.name}"


class _Relocker:
    """Runs the backend and remembers each (lockfile, pin set) it already resolved."""

    def __init__(
        self,
        repo: Path,
        backend: LockBackend,
        index: LockIndex,
        env: Mapping[str, str],
    ) -> None:
        self.repo = repo
        self.backend = backend
        self.index = index
        self.env = env
        self.done: dict[tuple[str, frozenset[tuple[str, str]]], str | Unresolvable] = {}

    def text(self, lockfile: Lockfile, updates: Sequence[Update]) -> str:
        """The relocked text with every update at its target; raises Unresolvable."""
        upgrades: dict[NormalizedName, Version] = {u.name: u.target for u in updates}
        key = (str(lockfile.path), frozenset((n, str(v)) for n, v in upgrades.items()))
        if key not in self.done:
            try:
                self.done[key] = self._run(lockfile, upgrades)
            except Unresolvable as exc:
                self.done[key] = exc
        result = self.done[key]
        if isinstance(result, Unresolvable):
            raise result
        return result

    def _run(self, lockfile: Lockfile, upgrades: Mapping[NormalizedName, Version]) -> str:
        text = self.backend.relock(self.repo, lockfile, upgrades, self.index, self.env)
        new = parse_lockfile(PurePosixPath(lockfile.path), text)
        for name, target in upgrades.items():
            pin = new.pin(name)
            # a resolver may quietly keep the old pin (a constraint holds it): not an upgrade
            if pin is None:
                raise Unresolvable(f"{name} {target}: the resolver dropped {name}")
            if pin.version != target:
                raise Unresolvable(f"{name} {target}: the resolver kept {name} at {pin.version}")
        return text


def relock(
    repo: Path,
    lockfiles: Sequence[Lockfile],
    updates: Sequence[Update],
    backend: LockBackend,
    index: LockIndex,
    env: Mapping[str, str],
) -> RelockResult:
    """Regenerates every lockfile that ``updates`` touch; ``repo`` is a scratch copy.

    Raises LockError when the lock tool fails for another reason than an unresolvable update.
    """
    relocker = _Relocker(repo, backend, index, env)
    rolled: dict[str, tuple[RolledBack, ...]] = {}
    while True:
        active = [u for u in updates if _unit_key(u) not in rolled]
        files: dict[str, str] = {}
        failed: dict[str, tuple[RolledBack, ...]] = {}
        for lockfile in lockfiles:
            path = str(lockfile.path)
            wanted = [u for u in active if path in u.lockfiles]
            if not wanted:
                continue
            try:
                files[path] = relocker.text(lockfile, wanted)
            except Unresolvable:
                failed = _unresolvable_units(relocker, lockfile, wanted)
                break
        if not failed:
            gone = tuple(r for group in rolled.values() for r in group)
            return RelockResult(files, tuple(active), gone)
        # a unit rolled back in one lockfile leaves all of them: relock the rest again (the
        # relocker remembers what it resolved, so unchanged lockfiles cost nothing)
        rolled.update(failed)


def _unresolvable_units(
    relocker: _Relocker, lockfile: Lockfile, wanted: Sequence[Update]
) -> dict[str, tuple[RolledBack, ...]]:
    """The units that do not resolve alongside the units before them, by unit key."""
    units: dict[str, list[Update]] = {}
    for u in wanted:
        units.setdefault(_unit_key(u), []).append(u)
    accepted: list[Update] = []
    failed: dict[str, tuple[RolledBack, ...]] = {}
    for key, members in units.items():
        try:
            relocker.text(lockfile, [*accepted, *members])
        except Unresolvable as exc:
            failed[key] = tuple(RolledBack(u, UNRESOLVABLE, exc.message) for u in members)
            continue
        accepted += members
    return failed
