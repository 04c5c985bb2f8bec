"""What depbot remembers of an index page between runs: its releases and its validators.

One small JSON file per page URL (its SHA-256; the URL itself, which may carry a private
index's credentials, is never written). It holds the parsed summary (versions, yanks,
``Requires-Python`` and file names: kilobytes where the page has megabytes) and the page's
``ETag`` / ``Last-Modified``. A run within the freshness window reads the summary and asks
nothing; after it, the page is asked for with a conditional request, and a 304 answer reuses
the summary without downloading or parsing anything.

A release's files are kept as one text of ``name TAB requires-python TAB 0|1`` lines and
become ``DistFile`` values only when they are looked at (``StoredFiles``): a plan looks at the
files of the few releases newer than each pin, not at the tens of thousands a big project has.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import overload

from packaging.version import Version

from depbot.index.multi import specifier as _specifier
from depbot.models import DistFile, Release

__all__ = ["PageEntry", "PageStore", "StoredFiles"]

_FORMAT = 3


@dataclass(frozen=True)
class PageEntry:
    """A page as last seen."""

    fetched: float
    """When the index last confirmed it (a download or a 304), seconds since the epoch."""
    releases: tuple[Release, ...]
    etag: str | None = None
    last_modified: str | None = None


class PageStore:
    """``PageEntry`` files in ``directory``, written atomically; anything unreadable is a miss.

    ``obsolete`` folders (an earlier layout's caches) are removed the first time this store
    writes: a run that only reads stays as cheap as it is.
    """

    def __init__(self, directory: Path, obsolete: Sequence[Path] = ()) -> None:
        self.directory = directory
        self._obsolete = list(obsolete)
        self._obsolete_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"PageStore({str(self.directory)!r})"

    def _path(self, url: str) -> Path:
        return self.directory / f"{hashlib.sha256(url.encode()).hexdigest()[:32]}.json"

    def read(self, url: str) -> PageEntry | None:
        try:
            doc = json.loads(self._path(url).read_bytes())
            if doc["format"] != _FORMAT:
                return None
            texts: dict[str, str] = {}  # one string per distinct specifier, shared by the files
            releases = []
            for version, yanked, spec, lines in doc["releases"]:
                if not _well_formed(lines):
                    return None
                requires_python = None if spec is None else _specifier(spec)
                files = StoredFiles(lines, texts)
                releases.append(Release(Version(version), bool(yanked), requires_python, files))
            return PageEntry(
                float(doc["fetched"]),
                tuple(releases),
                _text(doc.get("etag")),
                _text(doc.get("last-modified")),
            )
        except (OSError, ValueError, KeyError, TypeError):
            # a missing, old or damaged entry is only a miss
            return None

    def write(self, url: str, entry: PageEntry) -> None:
        releases = []
        for r in entry.releases:
            lines = "".join([f"{n}\t{rp or ''}\t{'1' if y else '0'}\n" for n, rp, y in r.files])
            if lines.count("\n") != len(r.files) or lines.count("\t") != 2 * len(r.files):
                return  # a tab or a line break in a file name: not worth a format of its own
            spec = None if r.requires_python is None else str(r.requires_python)
            releases.append([str(r.version), r.yanked, spec, lines])
        doc = {
            "format": _FORMAT,
            "fetched": entry.fetched,
            "etag": entry.etag,
            "last-modified": entry.last_modified,
            "releases": releases,
        }
        self._remove_obsolete()
        path = self._path(url)
        temporary = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            # written beside its final name and renamed, so a reader never sees half a file
            temporary.write_text(json.dumps(doc, separators=(",", ":")), encoding="utf-8")
            temporary.replace(path)
        except OSError:
            # the cache is an optimisation: a read-only or full disk must not fail the lookup
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)

    def _remove_obsolete(self) -> None:
        with self._obsolete_lock:
            obsolete, self._obsolete = self._obsolete, []
        for folder in obsolete:
            if folder.is_dir():
                import shutil  # here: hardly ever needed

                shutil.rmtree(folder, ignore_errors=True)


class StoredFiles(Sequence[DistFile]):
    """A release's files as the store keeps them, decoded when used (iterating decodes only
    as far as the caller reads).

    Equal to the tuple of the same files. Decoding cannot fail late: every line yields a file.
    """

    __slots__ = ("_decoded", "_lines", "_texts")

    def __init__(self, lines: str, texts: dict[str, str]) -> None:
        self._lines = lines
        self._texts = texts
        self._decoded: tuple[DistFile, ...] | None = None

    def _files(self) -> tuple[DistFile, ...]:
        if self._decoded is None:
            self._decoded = tuple(self._each())
        return self._decoded

    def _each(self) -> Iterator[DistFile]:
        new, texts = tuple.__new__, self._texts
        for line in self._lines.split("\n")[:-1]:
            name, rp, yanked = (*line.split("\t", 2), "", "")[:3]
            spec = texts.setdefault(rp, rp) if rp else None
            yield new(DistFile, (name, spec, yanked == "1"))

    @overload
    def __getitem__(self, index: int) -> DistFile: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[DistFile, ...]: ...
    def __getitem__(self, index: int | slice) -> DistFile | tuple[DistFile, ...]:
        return self._files()[index]

    def __len__(self) -> int:
        return self._lines.count("\n")

    def __iter__(self) -> Iterator[DistFile]:
        # decoded as far as the caller reads: an installability check stops at the first fit
        return iter(self._decoded) if self._decoded is not None else self._each()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence):
            return self._files() == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._files())

    def __repr__(self) -> str:
        return repr(self._files())


def _well_formed(lines: object) -> bool:
    """Whether ``lines`` looks like what ``PageStore.write`` wrote. Entries are renamed into
    place whole, so this only guards against foreign edits, cheaply: a line that does not split
    in three still decodes (with empty fields), never into an error."""
    return isinstance(lines, str) and (not lines or lines[-1] == "\n")


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
