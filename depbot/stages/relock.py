"""The relock stage: regenerates each lockfile once for a batch, upgrading exactly its packages.

Lockfiles are relocked in the order discover gives (a lockfile after those its compile reads
through ``-r``/``-c``), each compile seeing the new text of those it reads; a pin a referenced
lockfile moved is moved along in the lockfiles that read it. Each lockfile is compiled with an
interpreter of its own Python (``backends``); when there is none, the updates that need that
lockfile are skipped with the reason, and the rest go on.

An update that cannot be resolved is rolled back (reason ``unresolvable``, with the resolver's
message) together with the rest of its unit, after a check that the lockfile compiles without
any update: when it does not either, the index or the source is broken, which is a LockError
(the batch fails, nothing is remembered), never an update's fault. Units are then added one at
a time, so updates that only fail together roll back the later unit and keep the earlier.

An update to another CUDA variant (``2.7.1+cu118`` → ``2.8.0+cu126``) moves the variant's index
line of the lockfile (and of its sources, for the compile) along with it. A relock whose result
pairs what a known coupling forbids (numpy 2 beside torch 2.1) is unresolvable: the resolver
cannot see that break, depbot must.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from depbot.lock.interface import LockBackend, LockError, LockIndex, MissingPython, Unresolvable
from depbot.lock.replay import compile_command, working_directory
from depbot.lock.requirements import parse_lockfile
from depbot.ml.compat import coupling_violations
from depbot.ml.variants import relabel_index_lines
from depbot.models import Lockfile, Moved, RolledBack, Update

__all__ = [
    "PYTHON_MISSING",
    "UNRESOLVABLE",
    "BackendFor",
    "RelockResult",
    "moved_pins",
    "relock",
]

UNRESOLVABLE = "unresolvable"
PYTHON_MISSING = "python-missing"

BackendFor = Callable[[str | None], LockBackend]
"""The backend that compiles for a ``"X.Y"`` Python (None: depbot's own); raises MissingPython."""

Unit = tuple[Update, ...]


@dataclass(frozen=True)
class RelockResult:
    """The candidate lockfiles of a batch and the updates that could not be resolved."""

    files: Mapping[str, str]
    """Lockfile path (relative, forward slashes) → its new text, for every lockfile touched."""
    kept: tuple[Update, ...]
    """The updates every new lockfile carries at their targets, in batch order."""
    unresolvable: tuple[RolledBack, ...] = ()
    """Updates left out: ``unresolvable``, or ``python-missing`` (not remembered)."""
    sources: Mapping[str, str] = dataclasses.field(default_factory=dict)
    """Sources (``requirements.in``…) whose variant index line moved with a kept update
    (``…/whl/cu118`` → ``…/whl/cu126``) → their new text: published with the lockfiles."""


def _unit_key(update: Update) -> str:
    return f"group:{update.group}" if update.group else f"name:{update.name}"


def _units(updates: Sequence[Update]) -> list[Unit]:
    by_key: dict[str, list[Update]] = {}
    for u in updates:
        by_key.setdefault(_unit_key(u), []).append(u)
    return [tuple(members) for members in by_key.values()]


class _Conflict(Exception):
    """A pass of relock could not resolve ``lockfile``."""

    def __init__(self, lockfile: Lockfile, message: str) -> None:
        super().__init__(message)
        self.lockfile = lockfile
        self.message = message


class _Relocker:
    """Runs the backends in ``repo`` and remembers each compile it already did."""

    def __init__(
        self, repo: Path, backends: BackendFor, index: LockIndex, env: Mapping[str, str]
    ) -> None:
        self.repo = repo
        self.backends = backends
        self.index = index
        self.env = env
        self.done: dict[tuple[object, ...], str | Unresolvable] = {}

    def text(self, lockfile: Lockfile, updates: Sequence[Update], moved: Mapping[str, str]) -> str:
        """``lockfile`` relocked with ``updates`` at their targets, after the lockfiles it reads
        were rewritten as ``moved`` (path → new text); raises Unresolvable."""
        upgrades: dict[NormalizedName, Version] = _followers(lockfile, moved)
        upgrades.update({u.name: u.target for u in updates})
        key = (
            str(lockfile.path),
            frozenset((n, str(v)) for n, v in upgrades.items()),
            frozenset(moved.items()),
        )
        if key not in self.done:
            try:
                self.done[key] = self._run(lockfile, upgrades, moved, updates)
            except Unresolvable as exc:
                self.done[key] = exc
        result = self.done[key]
        if isinstance(result, Unresolvable):
            raise result
        return result

    def check_source(self, lockfile: Lockfile) -> None:
        """Raises LockError when ``lockfile`` does not compile even with no pin moved: then an
        index outage or a broken source is to blame, not the batch's updates."""
        try:
            self.text(lockfile, (), {})
        except Unresolvable as exc:
            raise LockError(
                f"{lockfile.path} does not compile even without updates (is the index"
                f" reachable, are its sources valid?): {exc.message}"
            ) from None

    def _run(
        self,
        lockfile: Lockfile,
        upgrades: Mapping[NormalizedName, Version],
        moved: Mapping[str, str],
        updates: Sequence[Update],
    ) -> str:
        backend = self.backends(lockfile.header.python_version)
        texts, lockfile = _relabelled(self.repo, lockfile, updates)
        with _rewritten(self.repo, {**texts, **moved}):
            text = backend.relock(self.repo, lockfile, upgrades, self.index, self.env)
        new = parse_lockfile(PurePosixPath(lockfile.path), text)
        before = coupling_violations({p.name: p.version for p in lockfile.pins})
        broken = coupling_violations({p.name: p.version for p in new.pins})
        if len(broken) > len(before):
            raise Unresolvable(f"{lockfile.path}: {broken[-1]}")
        for u in updates:
            pin = new.pin(u.name)
            # a resolver may quietly keep the old pin (a constraint holds it): not an upgrade
            if pin is None:
                raise Unresolvable(f"{u.name} {u.target}: the resolver dropped {u.name}")
            if pin.version != u.target:
                kept = f"the resolver kept {u.name} at {pin.version}"
                raise Unresolvable(f"{u.name} {u.target}: {kept}")
        return text


def _relabelled(
    repo: Path, lockfile: Lockfile, updates: Sequence[Update]
) -> tuple[dict[str, str], Lockfile]:
    """The texts of ``lockfile`` and its sources with the index lines of a variant that an
    update leaves (``+cu118`` → ``+cu126``) moved to the new one, and the lockfile as parsed
    from its new text; nothing when no update changes variant."""
    moves = {
        (u.current.local, u.target.local)
        for u in updates
        if u.current.local and u.target.local and u.current.local != u.target.local
    }
    if not moves:
        return {}, lockfile
    paths = [str(lockfile.path)]
    try:
        command = compile_command(repo, lockfile)
        cwd = working_directory(repo, lockfile, command)
        paths += [
            (cwd / s).relative_to(repo).as_posix()
            for s in command.sources
            if s != "-" and (cwd / s).is_file()
        ]
    except (LockError, ValueError):
        pass  # how it compiles is the backend's to say
    texts: dict[str, str] = {}
    for path in paths:
        text = original = (repo / path).read_text(encoding="utf-8")
        for old, new in sorted(moves):
            text = relabel_index_lines(text, old, new)
        if text != original:
            texts[path] = text
    main = texts.get(str(lockfile.path))
    if main is None:
        return texts, lockfile
    parsed = parse_lockfile(PurePosixPath(lockfile.path), main)
    return texts, dataclasses.replace(lockfile, options=parsed.options)


def _followers(lockfile: Lockfile, moved: Mapping[str, str]) -> dict[NormalizedName, Version]:
    """The pins of ``lockfile`` that a lockfile it reads now holds at another version."""
    followers: dict[NormalizedName, Version] = {}
    for path, text in sorted(moved.items()):
        for pin in parse_lockfile(PurePosixPath(path), text).pins:
            own = lockfile.pin(pin.name)
            if own is not None and own.version != pin.version:
                followers[pin.name] = pin.version
    return followers


@contextmanager
def _rewritten(repo: Path, texts: Mapping[str, str]) -> Iterator[None]:
    """``texts`` written over their files in ``repo`` (a scratch checkout) for the block."""
    saved = {path: (repo / path).read_bytes() for path in texts}
    try:
        for path, text in texts.items():
            (repo / path).write_text(text, encoding="utf-8")
        yield
    finally:
        for path, data in saved.items():
            (repo / path).write_bytes(data)


def _relock_all(
    relocker: _Relocker, lockfiles: Sequence[Lockfile], updates: Sequence[Update]
) -> dict[str, str]:
    """One pass in relock order: each lockfile an update names or whose references moved;
    raises _Conflict naming the lockfile that did not resolve."""
    files: dict[str, str] = {}
    for lockfile in lockfiles:
        path = str(lockfile.path)
        wanted = [u for u in updates if path in u.lockfiles]
        moved = {ref: files[ref] for ref in lockfile.references if ref in files}
        if wanted or moved:
            try:
                files[path] = relocker.text(lockfile, wanted, moved)
            except Unresolvable as exc:
                raise _Conflict(lockfile, exc.message) from None
    return files


def _needed(lockfiles: Sequence[Lockfile], update: Update) -> set[str]:
    """The lockfiles relocking ``update`` compiles: those that pin it and those reading them."""
    needed = set(update.lockfiles)
    for lockfile in lockfiles:  # relock order: a reader comes after what it reads
        if needed & set(lockfile.references):
            needed.add(str(lockfile.path))
    return needed


def _missing_python(backends: BackendFor, lockfile: Lockfile) -> str | None:
    """Why ``lockfile`` cannot be compiled here (its Python is missing), or None."""
    try:
        backends(lockfile.header.python_version)
    except MissingPython as exc:
        return f"{lockfile.path} {exc}"
    return None


def relock(
    repo: Path,
    lockfiles: Sequence[Lockfile],
    updates: Sequence[Update],
    backends: BackendFor,
    index: LockIndex,
    env: Mapping[str, str],
) -> RelockResult:
    """Regenerates every lockfile that ``updates`` touch; ``repo`` is a scratch copy.

    Raises LockError when the lock tool fails for another reason than an unresolvable update.
    """
    relocker = _Relocker(repo, backends, index, env)
    by_path = {str(lf.path): lf for lf in lockfiles}
    skipped: list[RolledBack] = []
    active: list[Update] = []
    for unit in _units(updates):
        needed = sorted({p for u in unit for p in _needed(lockfiles, u)} & set(by_path))
        why = next((w for w in (_missing_python(backends, by_path[p]) for p in needed) if w), None)
        if why is None:
            active += unit
        else:
            skipped += [RolledBack(u, PYTHON_MISSING, why) for u in unit]
    if not active:
        return RelockResult({}, (), tuple(skipped))
    try:
        return _with_sources(
            repo, lockfiles, _relock_all(relocker, lockfiles, active), active, skipped
        )
    except _Conflict as exc:
        relocker.check_source(exc.lockfile)
    accepted: list[Update] = []
    rolled: list[RolledBack] = []
    for unit in _units(active):
        try:
            _relock_all(relocker, lockfiles, [*accepted, *unit])
        except _Conflict as exc:
            rolled += [RolledBack(u, UNRESOLVABLE, exc.message) for u in unit]
            continue
        accepted += unit
    files = _relock_all(relocker, lockfiles, accepted) if accepted else {}
    return _with_sources(repo, lockfiles, files, accepted, (*skipped, *rolled))


def _with_sources(
    repo: Path,
    lockfiles: Sequence[Lockfile],
    files: Mapping[str, str],
    kept: Sequence[Update],
    left_out: Sequence[RolledBack],
) -> RelockResult:
    """The result, with the sources of the relocked lockfiles whose index lines the kept
    updates move to another variant (as ``_relabelled`` rewrote them for the compile)."""
    sources: dict[str, str] = {}
    for lockfile in lockfiles:
        path = str(lockfile.path)
        if path in files:
            wanted = [u for u in kept if path in u.lockfiles]
            texts, _ = _relabelled(repo, lockfile, wanted)
            sources.update({p: t for p, t in texts.items() if p not in files})
    return RelockResult(dict(files), tuple(kept), tuple(left_out), sources)


def moved_pins(
    original: Mapping[str, str], relocked: Mapping[str, str], kept: Sequence[Update]
) -> tuple[Moved, ...]:
    """Every pin ``relocked`` changes beyond ``kept`` (SPEC §5: every changed pin is
    accounted for), with the kept update that required it.

    The update is found by walking the ``# via`` annotations up from the moved pin (in the new
    file for a pin added or moved, in the old one for a pin removed); when they name none, the
    first kept update of that lockfile is named.
    """
    own = {u.name for u in kept}
    found: dict[NormalizedName, Moved] = {}
    for path in sorted(relocked):
        old = parse_lockfile(PurePosixPath(path), original.get(path, ""))
        new = parse_lockfile(PurePosixPath(path), relocked[path])
        before = {p.name: p.version for p in old.pins}
        after = {p.name: p.version for p in new.pins}
        fallback = next((u.name for u in kept if path in u.lockfiles), None)
        for name in sorted(set(before) | set(after)):
            if name in own or before.get(name) == after.get(name):
                continue
            graph = new if name in after else old
            required_by = _requirer(graph, name, own) or fallback
            if required_by is None:
                continue
            if name in found:
                previous = found[name]
                found[name] = dataclasses.replace(previous, lockfiles=(*previous.lockfiles, path))
                continue
            found[name] = Moved(
                name, before.get(name), after.get(name), required_by, lockfiles=(path,)
            )
    return tuple(found[n] for n in sorted(found))


def _requirer(
    lockfile: Lockfile, name: NormalizedName, updates: set[NormalizedName]
) -> NormalizedName | None:
    """The first of ``updates`` reached from ``name`` by following ``# via`` parents."""
    parents = {
        p.name: [canonicalize_name(v) for v in p.via if not v.startswith("-")]
        for p in lockfile.pins
    }
    queue, seen = [name], {name}
    while queue:
        current = queue.pop(0)
        for parent in parents.get(current, []):
            if parent in updates:
                return parent
            if parent not in seen:
                seen.add(parent)
                queue.append(parent)
    return None
