"""Several indexes seen as one, with pip's semantics: the union of their releases."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from depbot.index.interface import Index
from depbot.models import NormalizedName, Release

__all__ = ["MultiIndex", "merge_releases"]

# SpecifierSet cannot express a union, so "most permissive" is measured on the Pythons that exist
# or may soon exist.
_PYTHONS = tuple(Version(f"2.{m}") for m in range(8)) + tuple(Version(f"3.{m}") for m in range(31))


class MultiIndex(Index):
    """The primary index and the extra ones: a version on any of them is a release."""

    def __init__(self, indexes: Sequence[Index]) -> None:
        self.indexes = tuple(indexes)

    def releases(self, name: NormalizedName) -> tuple[Release, ...]:
        """Every index is asked; one that fails makes the lookup fail (its error names it)."""
        found: list[Release] = []
        for index in self.indexes:
            found.extend(index.releases(name))
        return merge_releases(found)

    def __repr__(self) -> str:
        return f"MultiIndex({list(self.indexes)!r})"


def merge_releases(releases: Iterable[Release]) -> tuple[Release, ...]:
    """One release per version, ascending: yanked only when yanked everywhere, the most
    permissive ``Requires-Python`` of the entries that are not yanked.

    The same rule merges the files of one version and one version listed by several indexes.
    """
    by_version: dict[Version, list[Release]] = {}
    for r in releases:
        by_version.setdefault(r.version, []).append(r)
    merged = []
    for version in sorted(by_version):
        entries = by_version[version]
        live = [r for r in entries if not r.yanked]
        yanked = not live
        merged.append(Release(version, yanked, _most_permissive(live or entries)))
    return tuple(merged)


def _most_permissive(entries: Sequence[Release]) -> SpecifierSet | None:
    specs = [r.requires_python for r in entries]
    if any(s is None for s in specs):
        return None
    return max(
        (s for s in specs if s is not None),
        key=lambda s: sum(s.contains(p, prereleases=True) for p in _PYTHONS),
    )
