"""What depbot remembers of an index page between runs: its releases and its validators.

One small file per page URL (its SHA-256; the URL itself, which may carry a private
index's credentials, is never written): a JSON header line (the format, the validators, the
CRC-32 of the rest) and the releases as JSON. It holds the parsed summary (versions, yanks,
``Requires-Python`` and file names: kilobytes where the page has megabytes) and the page's
``ETag`` / ``Last-Modified``. A run within the freshness window reads the summary and asks
nothing; after it, the page is asked for with a conditional request, and a 304 answer reuses
the summary without downloading or parsing anything.

A release's files (one per install shape, as ``page.by_version`` keeps them: a release's
wheels for a dozen platforms are one) are kept as one text of ``name TAB requires-python TAB
0|1`` lines that becomes ``DistFile`` values only when looked at (``StoredFiles``): a plan looks
at the files of the few releases newer than each pin, not at all the releases of a project.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast, overload

import msgspec
from packaging.version import Version

from depbot.index.multi import specifier as _specifier
from depbot.models import DistFile, Release

__all__ = ["PageEntry", "PageStore", "StoredFiles", "StoredReleases"]

_FORMAT = 4
_UNSEEN: Any = object()
_T = TypeVar("_T")


@dataclass(frozen=True)
class PageEntry:
    """A page as last seen."""

    fetched: float
    """When the index last confirmed it (a download or a 304), seconds since the epoch."""
    releases: Sequence[Release]
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
            header, _, body = self._path(url).read_bytes().partition(b"\n")
            head = msgspec.json.decode(header)
            if head["format"] != _FORMAT or head["crc32"] != zlib.crc32(body):
                return None  # an earlier layout's entry, or one damaged or edited since
            return PageEntry(
                float(head["fetched"]),
                StoredReleases(msgspec.json.decode(body)),
                _text(head.get("etag")),
                _text(head.get("last-modified")),
            )
        except (OSError, msgspec.DecodeError, ValueError, KeyError, TypeError):
            # a missing, old or damaged entry is only a miss
            return None

    def write(self, url: str, entry: PageEntry) -> None:
        releases = []
        texts: dict[int, str | None] = {id(None): None}  # a page's releases share a few sets
        for r in entry.releases:
            files = r.files
            lines = "".join([f"{n}\t{rp or ''}\t{'1' if y else '0'}\n" for n, rp, y in files])
            if lines.count("\n") != len(files) or lines.count("\t") != 2 * len(files):
                return  # a tab or a line break in a file name: not worth a format of its own
            spec = texts.get(id(r.requires_python), _UNSEEN)
            if spec is _UNSEEN:
                spec = texts[id(r.requires_python)] = str(r.requires_python)
            releases.append((str(r.version), r.yanked, spec, lines))
        body = msgspec.json.encode(releases)
        head = {
            "format": _FORMAT,
            "fetched": entry.fetched,
            "etag": entry.etag,
            "last-modified": entry.last_modified,
            "crc32": zlib.crc32(body),
        }
        self._remove_obsolete()
        path = self._path(url)
        temporary = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            # written beside its final name and renamed, so a reader never sees half a file
            temporary.write_bytes(msgspec.json.encode(head) + b"\n" + body)
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


class _Stored(Sequence[_T]):
    """A sequence the store decodes when used: equal to, and hashed as, the tuple of its
    items."""

    __slots__ = ()

    def _whole(self) -> tuple[_T, ...]:
        return tuple(self)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence):
            return self._whole() == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._whole())

    def __repr__(self) -> str:
        return repr(self._whole())


class StoredReleases(_Stored[Release]):
    """A page's releases as the store keeps them, ascending, each made when first used.

    ``candidates`` walks them from the newest down to the pin: a plan makes the few releases
    newer than each pin, not the hundreds a big project has. Making one cannot fail: the
    rows are what ``PageStore.write`` wrote (the entry's CRC says so), versions included.
    Equal to the tuple of the same releases.
    """

    __slots__ = ("_made", "_rows", "_texts")

    def __init__(self, rows: Sequence[Sequence[object]]) -> None:
        if not isinstance(rows, list):
            raise TypeError("the releases are not a list")
        self._rows = rows
        self._made: list[Release | None] = [None] * len(rows)
        self._texts: dict[str, str] = {}  # one string per distinct specifier, for the files

    def _release(self, i: int) -> Release:
        made = self._made[i]
        if made is None:
            version, yanked, spec, lines = self._rows[i]
            requires_python = None if spec is None else _specifier(cast(str, spec))
            files = StoredFiles(cast(str, lines), self._texts)
            made = Release.of(Version(cast(str, version)), yanked is True, requires_python, files)
            self._made[i] = made
        return made

    @overload
    def __getitem__(self, index: int) -> Release: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Release]: ...
    def __getitem__(self, index: int | slice) -> Release | Sequence[Release]:
        if isinstance(index, slice):
            return tuple(self._release(i) for i in range(len(self._rows))[index])
        return self._release(range(len(self._rows))[index])

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[Release]:
        return map(self._release, range(len(self._rows)))

    def __reversed__(self) -> Iterator[Release]:
        return map(self._release, reversed(range(len(self._rows))))


class StoredFiles(_Stored[DistFile]):
    """A release's files as the store keeps them, decoded when used (iterating decodes only
    as far as the caller reads).

    Equal to the tuple of the same files. Decoding cannot fail late: every line yields a file.
    """

    __slots__ = ("_decoded", "_lines", "_texts")

    def __init__(self, lines: str, texts: dict[str, str]) -> None:
        self._lines = lines
        self._texts = texts
        self._decoded: tuple[DistFile, ...] | None = None

    def _whole(self) -> tuple[DistFile, ...]:
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
        return self._whole()[index]

    def __len__(self) -> int:
        return self._lines.count("\n")

    def __iter__(self) -> Iterator[DistFile]:
        # decoded as far as the caller reads: an installability check stops at the first fit
        return iter(self._decoded) if self._decoded is not None else self._each()


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
