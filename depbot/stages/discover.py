"""The discover stage: finds and parses the repository's pip-compile and uv lockfiles (SPEC §2).

A ``.txt`` file in the repository root, ``requirements/`` or ``constraints/`` is a lockfile when
its header says pip-compile or ``uv pip compile`` wrote it; the configuration's ``lockfiles``
adds more, which must exist and parse but need no header.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from depbot.config import Config
from depbot.errors import InputError
from depbot.lock.requirements import is_lockfile_header, parse_lockfile
from depbot.models import Lockfile

__all__ = ["LOCKFILE_DIRS", "discover"]

LOCKFILE_DIRS = (".", "requirements", "constraints")
"""Folders searched for lockfiles, relative to the repository root; not recursively."""


def discover(repo: Path, config: Config) -> tuple[Lockfile, ...]:
    """Every lockfile of ``repo``, parsed, sorted by path.

    Raises InputError when a discovered lockfile is malformed, or a configured one is missing,
    unreadable or malformed.
    """
    found: dict[PurePosixPath, Lockfile] = {}
    for folder in LOCKFILE_DIRS:
        directory = repo / folder
        if not directory.is_dir():
            continue
        for candidate in sorted(directory.glob("*.txt")):
            if not candidate.is_file():
                continue
            try:
                text = candidate.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                # not a file depbot wrote or can use; only named files must be readable
                continue
            if is_lockfile_header(text):
                relative = PurePosixPath(candidate.relative_to(repo).as_posix())
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
    return tuple(found[p] for p in sorted(found))
