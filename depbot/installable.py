"""Where a file installs: ``Requires-Python`` and wheel tags, decided as pip decides them.

Used by ``DistFile.installable_on`` and ``Release.installable_on``; the answers are remembered
per Python, per distinct specifier string and per pair of wheel tags.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterable

from packaging import tags
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

__all__ = ["Installability", "checker"]


class Installability:
    """``DistFile.installable_on`` for one Python, remembering its answer per distinct
    specifier string and per distinct pair of wheel tags: a big project's thousands of files
    have a handful of each."""

    def __init__(self, python: Version) -> None:
        self.python = python
        self.supported = _supported_tags(python)
        self.specifiers: dict[str | None, bool] = {None: True}
        self.tags: dict[tuple[str, ...], bool] = {}

    def any_of(self, files: Iterable[tuple[str, str | None, bool]], include_yanked: bool) -> bool:
        """Whether one of ``files`` (the non-yanked ones unless ``include_yanked``) installs."""
        specifiers, tags = self.specifiers, self.tags
        for name, requires_python, yanked in files:
            if yanked and not include_yanked:
                continue
            accepted = specifiers.get(requires_python)
            if accepted is None:
                accepted = specifiers[requires_python] = _accepts(requires_python, self.python)
            if not accepted:
                continue
            key = _tags(name)
            if key is None:
                return True  # an sdist builds anywhere
            if not key:
                continue  # not NAME-VERSION-PYTHON-ABI-PLATFORM: pip ignores it
            fits = tags.get(key)
            if fits is None:
                fits = tags[key] = self._supported(*key)
            if fits:
                return True
        return False

    def _supported(self, interpreters: str, abis: str) -> bool:
        pairs = itertools.product(interpreters.lower().split("."), abis.lower().split("."))
        return any(pair in self.supported for pair in pairs)


def _tags(filename: str) -> tuple[str, ...] | None:
    """What decides where a file installs, besides its ``Requires-Python``: a wheel's Python
    and ABI tags; ``()`` for a wheel pip ignores (not NAME-VERSION-PYTHON-ABI-PLATFORM); None
    for an sdist, which builds anywhere."""
    if not filename.endswith(".whl"):
        return None
    parts = filename[:-4].rsplit("-", 3)
    if len(parts) < 4 or "-" not in parts[0]:
        return ()
    return (parts[1], parts[2])


@functools.lru_cache(maxsize=64)
def checker(python: Version) -> Installability:
    """The ``Installability`` of CPython ``python``, made once per process."""
    return Installability(python)


def _accepts(requires_python: str | None, python: Version) -> bool:
    if requires_python is None:
        return True
    try:
        return SpecifierSet(requires_python).contains(python, prereleases=True)
    except InvalidSpecifier:
        return True


def _supported_tags(python: Version) -> frozenset[tuple[str, str]]:
    """The (interpreter, ABI) pairs pip accepts on CPython ``python``, whatever the platform:
    the ones of ``pip download --python-version X.Y``."""
    major, minor = (*python.release, 0)[:2]
    version = (major, minor)
    abi = f"cp{major}{minor}"
    abis = [abi, f"{abi}m"] if version < (3, 8) else [abi]
    found = itertools.chain(
        tags.cpython_tags(version, abis, ["any"]), tags.compatible_tags(version, abi, ["any"])
    )
    return frozenset((t.interpreter, t.abi) for t in found)
