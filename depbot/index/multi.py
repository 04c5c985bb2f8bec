"""Several indexes seen as one, with pip's semantics: the union of their releases."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from depbot.index.interface import Index
from depbot.models import DistFile, NormalizedName, Release

__all__ = ["MultiIndex", "merge_releases", "specifier", "summarise"]

# SpecifierSet cannot express a union, so "most permissive" is measured on the Pythons that exist
# or may soon exist; only for the summary's ``requires_python``, which decides nothing when the
# files are known.
_PYTHONS = tuple(f"2.{m}" for m in range(8)) + tuple(f"3.{m}" for m in range(31))


class MultiIndex(Index):
    """The primary index and the extra ones: a version on any of them is a release."""

    def __init__(self, indexes: Sequence[Index]) -> None:
        self.indexes = tuple(indexes)

    def releases(self, name: NormalizedName) -> Sequence[Release]:
        """Every index is asked; one that fails makes the lookup fail (its error names it)."""
        if len(self.indexes) == 1:
            return self.indexes[0].releases(name)
        return merge_releases(r for index in self.indexes for r in index.releases(name))

    def fresh(self, name: NormalizedName) -> Sequence[Release] | None:
        """Known only when every index's answer is."""
        answers = [index.fresh(name) for index in self.indexes]
        if any(a is None for a in answers):
            return None
        if len(answers) == 1:
            return answers[0]
        return merge_releases(r for a in answers for r in a or ())

    def __repr__(self) -> str:
        return f"MultiIndex({list(self.indexes)!r})"


def merge_releases(releases: Iterable[Release]) -> Sequence[Release]:
    """One release per version, ascending, with the files of every entry of that version in
    the order given (duplicates dropped): the same version listed by several indexes."""
    files: dict[Version, dict[DistFile, None]] = {}
    hand_made: dict[Version, list[Release]] = {}
    for r in releases:
        if r.files:
            files.setdefault(r.version, {}).update(dict.fromkeys(r.files))
        else:
            hand_made.setdefault(r.version, []).append(r)
    merged = {r.version: r for r in summarise({v: list(f) for v, f in files.items()})}
    for version, entries in hand_made.items():
        if version in merged:
            continue  # the files of the version already decide
        live = [r for r in entries if not r.yanked]
        specs = [r.requires_python for r in (live or entries)]
        spec = None if None in specs else _most_permissive(tuple(str(s) for s in specs))
        merged[version] = Release(version, not live, spec)
    return tuple(merged[v] for v in sorted(merged))


def summarise(by_version: Mapping[Version, Sequence[DistFile]]) -> Sequence[Release]:
    """The releases of a page's files grouped by version (``page.by_version``), ascending.

    A version is yanked when every file is (PEP 592); its ``requires_python`` is the most
    permissive of its live files', decided once per distinct specifier string.
    """
    out = []
    for version in sorted(by_version):
        files = tuple(by_version[version])
        live = [f.requires_python for f in files if not f.yanked]
        yanked = not live
        strings = frozenset(live if live else (f.requires_python for f in files))
        out.append(Release.of(version, yanked, _summary_spec(strings), files))
    return tuple(out)


def _summary_spec(strings: frozenset[str | None]) -> SpecifierSet | None:
    texts = sorted(s for s in strings if s is not None)
    if len(texts) < len(strings):
        return None  # a file without Requires-Python installs anywhere
    return specifier(texts[0]) if len(texts) == 1 else _most_permissive(tuple(texts))


@functools.lru_cache(maxsize=1024)
def specifier(text: str) -> SpecifierSet | None:
    """``text`` parsed once per process; None when invalid (pip ignores an invalid
    Requires-Python rather than refusing the file; so do we)."""
    try:
        return SpecifierSet(text)
    except InvalidSpecifier:
        return None


@functools.lru_cache(maxsize=1024)
def _most_permissive(strings: tuple[str, ...]) -> SpecifierSet | None:
    specs = [specifier(s) for s in strings]
    if any(s is None for s in specs):
        return None
    return max(
        (s for s in specs if s is not None),
        key=lambda s: sum(s.contains(p, prereleases=True) for p in _PYTHONS),
    )
