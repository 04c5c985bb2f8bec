"""The discover stage: finds and parses the repository's pip-compile and uv lockfiles (SPEC §2).

A ``.txt`` file in the repository root, ``requirements/`` or ``constraints/`` is a lockfile when
its header says pip-compile or ``uv pip compile`` wrote it; the configuration's ``lockfiles``
adds more, which must exist and parse but need no header. Each lockfile's references (the other
lockfiles its compile reads through ``-r``/``-c``, in its sources or on its command line) are
found here, and the lockfiles come out in relock order: a lockfile after those it refers to.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath

from depbot.config import Config
from depbot.errors import InputError
from depbot.lock.interface import LockError
from depbot.lock.replay import compile_command, working_directory
from depbot.lock.requirements import is_lockfile_header, parse_lockfile
from depbot.models import Environment, Lockfile

__all__ = ["LOCKFILE_DIRS", "discover", "environments", "relock_order"]

LOCKFILE_DIRS = (".", "requirements", "constraints")
"""Folders searched for lockfiles, relative to the repository root; not recursively."""


def discover(repo: Path, config: Config) -> tuple[Lockfile, ...]:
    """Every lockfile of ``repo``, parsed, with its references, in relock order.

    Raises InputError when a discovered lockfile is malformed, a configured one is missing,
    unreadable or malformed, or lockfiles refer to each other in a cycle.
    """
    found: dict[PurePosixPath, Lockfile] = {}
    for folder in LOCKFILE_DIRS:
        directory = repo / folder
        if not directory.is_dir():
            continue
        for candidate in sorted(directory.glob("*.txt")):
            if not candidate.is_file():
                continue
            relative = PurePosixPath(candidate.relative_to(repo).as_posix())
            try:
                text = candidate.read_text(encoding="utf-8")
            except UnicodeDecodeError as exc:
                if is_lockfile_header(candidate.read_bytes().decode("latin-1")):
                    # a lockfile that cannot be read is never skipped without a word
                    raise InputError(
                        f"{relative}: not UTF-8 ({exc.reason} at byte {exc.start})"
                    ) from None
                continue  # not a file pip-compile or uv wrote
            except OSError:
                continue
            if is_lockfile_header(text):
                found[relative] = parse_lockfile(relative, text)
    where = config.source if config.source is not None else "configuration"
    for listed in config.lockfiles:
        relative = PurePosixPath(Path(listed).as_posix())
        if relative in found:
            continue
        path = repo / relative
        if not path.is_file():
            raise InputError(f"{where}: key 'lockfiles': {listed} is not a file in the repository")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{where}: key 'lockfiles': cannot read {listed}: {exc}") from None
        found[relative] = parse_lockfile(relative, text)
    known = {str(p) for p in found}
    linked = []
    for lf in (found[p] for p in sorted(found)):
        constraints: dict[str, tuple[str, ...]] = {}
        references = tuple(sorted(_references(repo, lf, known, constraints)))
        lines = tuple((path, r) for path in sorted(constraints) for r in constraints[path])
        linked.append(dataclasses.replace(lf, references=references, constraints=lines))
    return relock_order(linked)


def relock_order(lockfiles: Sequence[Lockfile]) -> tuple[Lockfile, ...]:
    """``lockfiles`` with each one after those it refers to (ties keep their order); InputError
    naming the cycle when they refer to each other in a circle."""
    by_path = {str(lf.path): lf for lf in lockfiles}
    placed: dict[str, Lockfile] = {}
    visiting: list[str] = []

    def place(path: str) -> None:
        if path in placed:
            return
        if path in visiting:
            cycle = " -> ".join([*visiting[visiting.index(path) :], path])
            raise InputError(f"{path}: lockfiles refer to each other in a cycle: {cycle}")
        visiting.append(path)
        for ref in by_path[path].references:
            if ref in by_path:
                place(ref)
        visiting.pop()
        placed[path] = by_path[path]

    for lf in lockfiles:
        place(str(lf.path))
    return tuple(placed.values())


def environments(
    lockfiles: Sequence[Lockfile], configured: Sequence[Sequence[str]] = ()
) -> tuple[Environment, ...]:
    """Which lockfiles are installed together for the tests (SPEC §2 ``environments``).

    ``configured`` wins (a lockfile it does not list gets an environment of its own). Else the
    lockfiles of one Python and one variant label (``+cu121``, ``+cpu``) are one environment
    with everything their references reach; alternatives (another Python, another variant, or
    two pins of one package at different versions) get one each.
    """
    by_path = {str(lf.path): lf for lf in lockfiles}
    order = list(by_path)
    if configured:
        groups = [[p for p in group if p in by_path] for group in configured]
        listed = {p for group in groups for p in group}
        groups += [[p] for p in order if p not in listed]
    else:
        keyed: dict[tuple[str | None, frozenset[str]], list[str]] = {}
        for path, lf in by_path.items():
            keyed.setdefault((lf.header.python_version, _variants(lf)), []).append(path)
        groups = []
        for members in keyed.values():
            group = _closure(by_path, members)
            groups += [group] if _consistent(by_path, group) else _components(by_path, group)
    found = []
    for group in groups:
        paths = tuple(p for p in order if p in group)
        if paths:
            found.append(Environment(paths, by_path[paths[-1]].header.python_version))
    return tuple(found)


def _variants(lockfile: Lockfile) -> frozenset[str]:
    return frozenset(p.version.local for p in lockfile.pins if p.version.local)


def _closure(by_path: dict[str, Lockfile], members: Sequence[str]) -> list[str]:
    group = list(members)
    for path in group:  # grows while it is walked
        group += [r for r in by_path[path].references if r in by_path and r not in group]
    return group


def _consistent(by_path: dict[str, Lockfile], group: Sequence[str]) -> bool:
    """Whether the lockfiles of ``group`` can be installed together: no package twice at two
    versions."""
    seen: dict[str, object] = {}
    for path in group:
        for pin in by_path[path].pins:
            if seen.setdefault(pin.name, pin.version) != pin.version:
                return False
    return True


def _components(by_path: dict[str, Lockfile], group: Sequence[str]) -> list[list[str]]:
    """``group`` split into the sets its references connect."""
    components: list[list[str]] = []
    for path in group:
        linked = {path, *by_path[path].references}
        joined = [c for c in components if linked & set(c)]
        merged = [p for c in joined for p in c]
        merged += [p for p in _closure(by_path, [path]) if p not in merged]
        components = [c for c in components if c not in joined] + [merged]
    return components


def _references(
    repo: Path, lockfile: Lockfile, lockfiles: set[str], constraints: dict[str, tuple[str, ...]]
) -> set[str]:
    """The lockfiles among ``lockfiles`` that compiling ``lockfile`` reads; the hand-written
    constraints files it reads are added to ``constraints`` (path → requirement lines)."""
    try:
        command = compile_command(repo, lockfile)
    except LockError:
        return set()  # how it is compiled is unknown: relock says so
    cwd = working_directory(repo, lockfile, command)
    named = [(cwd / s, False) for s in command.sources if s != "-"]
    named += [(cwd / value, True) for value in _constraint_options(command.arguments)]
    found: set[str] = set()
    for path, constraining in named:
        found |= _read_references(repo, path, lockfiles, set(), (constraints, constraining))
    return found - {str(lockfile.path)}


def _constraint_options(arguments: tuple[str, ...]) -> Iterator[str]:
    words = iter(arguments)
    for word in words:
        name, eq, value = word.partition("=")
        if name in ("-c", "--constraint"):
            yield value if eq else next(words, "")
        elif word.startswith("-c") and len(word) > 2:
            yield word[2:]


def _read_references(
    repo: Path,
    path: Path,
    lockfiles: set[str],
    seen: set[Path],
    constraints: tuple[dict[str, tuple[str, ...]], bool],
) -> set[str]:
    """The lockfiles ``path`` is, or reaches through ``-r``/``-c`` lines of source files.

    ``constraints``: where the requirement lines of hand-written constraints files are
    recorded, and whether ``path`` was reached through ``-c``."""
    relative = _inside(repo, path)
    if relative is None or path in seen:
        return set()
    if relative in lockfiles:
        return {relative}
    seen.add(path)
    if path.suffix not in (".in", ".txt") or not path.is_file():
        return set()
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{relative}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except OSError:
        return set()  # unreadable here: its compile says why
    # a source is read with the lockfiles' care: a line pip cannot take is bad input, named
    source = parse_lockfile(PurePosixPath(relative), text)
    recorded, constraining = constraints
    if constraining:
        recorded[relative] = (*(f"{p.name}=={p.version}" for p in source.pins), *source.unpinned)
    found: set[str] = set()
    for include in source.includes:
        # what a constraints file includes constrains too
        chained = (recorded, constraining or include.kind == "-c")
        found |= _read_references(repo, path.parent / include.path, lockfiles, seen, chained)
    return found


def _inside(repo: Path, path: Path) -> str | None:
    """``path`` relative to ``repo`` with forward slashes; None when it is outside."""
    try:
        relative = Path(os.path.normpath(path)).relative_to(repo)
    except ValueError:
        return None
    return PurePosixPath(relative.as_posix()).as_posix()
