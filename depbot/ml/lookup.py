"""The check stage's ML lookups: each lockfile's torch variant on its own index (SPEC §6).

For a lockfile pinning a labelled torch (``2.0.1+cu118``), the family members are looked up on
the variant's index (``…/whl/cu118/``) and the partners' wheel metadata says which torch each
release was built for. When that variant has no build of the newest torch, the newer variants
beside it (``[tool.depbot.ml] cuda``, else every newer one the table knows, newest first) are
asked, and the first that has it is kept as the variant to move to.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence

from packaging.version import InvalidVersion, Version

from depbot.config import MLConfig
from depbot.index.interface import Index, IndexLookupError
from depbot.ml.compat import PARTNERS, ROWS
from depbot.ml.families import TORCH, family_of
from depbot.ml.metadata import MetadataReader
from depbot.ml.variants import newer_variants, sibling_url, variant_index_url
from depbot.models import (
    Lockfile,
    MLFacts,
    NormalizedName,
    Pin,
    Release,
    Skipped,
    VariantIndex,
    canonicalize_name,
)

__all__ = ["VariantLookup", "family_pins", "lockfile_python"]

_TORCH = canonicalize_name(TORCH)


def family_pins(lockfile: Lockfile) -> tuple[Pin, ...]:
    """The pins of ``lockfile`` in the torch family (none when it pins no torch)."""
    if lockfile.pin(TORCH) is None:
        return ()
    names = {p.name for p in lockfile.pins}
    return tuple(p for p in lockfile.pins if family_of(p.name, names) == TORCH)


def lockfile_python(lockfile: Lockfile) -> Version | None:
    """The Python of the lockfile's header, when it says a readable one."""
    text = lockfile.header.python_version
    try:
        return Version(text) if text else None
    except InvalidVersion:
        return None


def _newest(releases: Sequence[Release], python: Version | None) -> Version | None:
    """The newest final release that installs on ``python`` (``releases`` ascending)."""
    for r in reversed(releases):
        if not r.yanked and not r.version.is_prerelease and r.installable_on(python):
            return Version(r.version.public)
    return None


class VariantLookup:
    """Looks the family up on its variants' indexes; ``index_for`` builds the index of a URL,
    ``reader`` reads partner wheel metadata (None: the built-in table alone)."""

    def __init__(
        self,
        config: MLConfig,
        index_for: Callable[[str], Index],
        reader: MetadataReader | None = None,
    ) -> None:
        self.config = config
        self.index_for = index_for
        self.reader = reader
        self._indexes: dict[str, Index] = {}
        self._lock = threading.Lock()

    def facts(
        self, lockfiles: Sequence[Lockfile], releases: Mapping[NormalizedName, Sequence[Release]]
    ) -> tuple[MLFacts, tuple[Skipped, ...]]:
        """The variant of every lockfile with a labelled torch, and the family's packages
        skipped because their variant's index is unknown or cannot be read."""
        homes: dict[str, VariantIndex] = {}
        moves: dict[str, VariantIndex] = {}
        skipped: list[Skipped] = []
        if not self.config.enabled:
            return MLFacts(), ()
        for lockfile in lockfiles:
            pins = family_pins(lockfile)
            torch = lockfile.pin(TORCH)
            if torch is None or torch.version.local is None:
                continue
            label, path = torch.version.local, str(lockfile.path)
            url = variant_index_url(lockfile, label, self.config.index_url)
            if url is None:
                reason = (
                    f"{torch.version} is a {label} build, but no index line of {path} ends in"
                    f" /{label} and [tool.depbot.ml] index-url is not set: the family is held"
                )
                skipped += [Skipped(p.name, reason) for p in pins]
                continue
            try:
                home = self._variant(url, label, pins)
                python = lockfile_python(lockfile)
                newest = _newest(releases.get(_TORCH, ()), python)
                own = _newest(home.releases.get(_TORCH, ()), python)
                if newest is not None and (own is None or own < newest):
                    move = self._move(url, label, pins, newest)
                    if move is not None:
                        moves[path] = move
            except IndexLookupError as exc:
                skipped += [Skipped(p.name, str(exc)) for p in pins]
                continue
            homes[path] = home
        return MLFacts(homes, moves), tuple(skipped)

    def _index(self, url: str) -> Index:
        with self._lock:
            if url not in self._indexes:
                self._indexes[url] = self.index_for(url)
            return self._indexes[url]

    def _variant(self, url: str, label: str, pins: Sequence[Pin]) -> VariantIndex:
        index = self._index(url)
        releases = {p.name: index.releases(p.name) for p in pins}
        built_for: dict[tuple[NormalizedName, Version], Version] = {}
        if self.reader is not None:
            for pin in pins:
                if pin.name not in PARTNERS:
                    continue
                for release in releases[pin.name]:
                    v = release.version
                    if v.local != label or Version(v.public) <= Version(pin.version.public):
                        continue
                    torch = self.reader.torch_pin(url, pin.name, v)
                    if torch is not None:
                        built_for[(pin.name, v)] = torch
        return VariantIndex(label, url, releases, built_for)

    def _move(
        self, url: str, label: str, pins: Sequence[Pin], newest: Version
    ) -> VariantIndex | None:
        if self.config.cuda is not None:
            labels: Sequence[str] = (self.config.cuda,) if self.config.cuda != label else ()
        else:
            labels = newer_variants(label, {v for row in ROWS for v in row.variants})
        for other in labels:
            wanted = Version(f"{newest}+{other}")
            sibling = sibling_url(url, other)
            torch = self._index(sibling).releases(_TORCH)
            if any(r.version == wanted for r in torch):
                return self._variant(sibling, other, pins)
        return None
