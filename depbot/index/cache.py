"""Releases remembered on disk between runs, so a rerun within minutes asks no index at all.

The HTTP cache (``depbot.index.http``) saves the download of a page; this one saves the
round trip, the parsing, and the import of the HTTP and parsing libraries. It answers only
while an entry is younger than ``freshness``; after that the wrapped index is asked (and the
HTTP cache revalidates the page with a conditional request).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from depbot.index.interface import Index
from depbot.models import NormalizedName, Release

__all__ = ["CachedIndex"]

_FORMAT = 1


class CachedIndex(Index):
    """``open_index()``'s releases, kept in ``directory`` for ``freshness`` seconds.

    The wrapped index is built on the first miss, so a fully cached run never builds it.
    """

    def __init__(
        self,
        open_index: Callable[[], Index],
        directory: Path,
        freshness: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = directory
        self.freshness = freshness
        self._open_index = open_index
        self._clock = clock
        self._inner: Index | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"CachedIndex({str(self.directory)!r}, freshness={self.freshness})"

    @property
    def inner(self) -> Index:
        with self._lock:
            if self._inner is None:
                self._inner = self._open_index()
            return self._inner

    def releases(self, name: NormalizedName) -> tuple[Release, ...]:
        """The remembered releases while fresh, else the wrapped index's (then remembered)."""
        path = self.directory / f"{name}.json"
        cached = self._read(path)
        if cached is not None:
            return cached
        releases = self.inner.releases(name)
        if self.freshness > 0:
            self._write(path, releases)
        return releases

    def _read(self, path: Path) -> tuple[Release, ...] | None:
        if self.freshness <= 0:
            return None
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            if doc["format"] != _FORMAT or not 0 <= self._clock() - doc["fetched"] < self.freshness:
                return None
            return tuple(
                Release(Version(v), bool(yanked), SpecifierSet(rp) if rp is not None else None)
                for v, yanked, rp in doc["releases"]
            )
        except (OSError, ValueError, KeyError, TypeError):
            # a missing, old or damaged entry is only a miss
            return None

    def _write(self, path: Path, releases: tuple[Release, ...]) -> None:
        doc = {
            "format": _FORMAT,
            "fetched": self._clock(),
            "releases": [
                [
                    str(r.version),
                    r.yanked,
                    None if r.requires_python is None else str(r.requires_python),
                ]
                for r in releases
            ],
        }
        temporary = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            # written beside its final name and renamed, so a reader never sees half a file
            temporary.write_text(json.dumps(doc), encoding="utf-8")
            temporary.replace(path)
        except OSError:
            # the cache is an optimisation: a read-only or full disk must not fail the lookup
            temporary.unlink(missing_ok=True)
