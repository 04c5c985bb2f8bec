"""What depbot remembers of an index page between runs: its releases and its validators.

One small JSON file per page URL (its SHA-256; the URL itself, which may carry a private
index's credentials, is never written). It holds the parsed summary (versions, yanks,
``Requires-Python`` and file names: kilobytes where the page has megabytes) and the page's
``ETag`` / ``Last-Modified``. A run within the freshness window reads the summary and asks
nothing; after it, the page is asked for with a conditional request, and a 304 answer reuses
the summary without downloading or parsing anything.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from packaging.version import Version

from depbot.index.multi import specifier as _specifier
from depbot.models import DistFile, Release

__all__ = ["PageEntry", "PageStore"]

_FORMAT = 2


@dataclass(frozen=True)
class PageEntry:
    """A page as last seen."""

    fetched: float
    """When the index last confirmed it (a download or a 304), seconds since the epoch."""
    releases: tuple[Release, ...]
    etag: str | None = None
    last_modified: str | None = None


class PageStore:
    """``PageEntry`` files in ``directory``, written atomically; anything unreadable is a miss."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def __repr__(self) -> str:
        return f"PageStore({str(self.directory)!r})"

    def _path(self, url: str) -> Path:
        return self.directory / f"{hashlib.sha256(url.encode()).hexdigest()[:32]}.json"

    def read(self, url: str) -> PageEntry | None:
        try:
            doc = json.loads(self._path(url).read_bytes())
            if doc["format"] != _FORMAT:
                return None
            texts = doc["requires-python"]
            specs = [None if t is None else _specifier(t) for t in texts]
            new = tuple.__new__  # DistFile's own constructor parses arguments: 3x slower
            releases = tuple(
                Release(
                    Version(version),
                    bool(yanked),
                    specs[spec],
                    tuple([new(DistFile, (name, texts[rp], bool(y))) for name, rp, y in files]),
                )
                for version, yanked, spec, files in doc["releases"]
            )
            return PageEntry(
                float(doc["fetched"]),
                releases,
                _text(doc.get("etag")),
                _text(doc.get("last-modified")),
            )
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            # a missing, old or damaged entry is only a miss
            return None

    def write(self, url: str, entry: PageEntry) -> None:
        texts: dict[str | None, int] = {}

        def number(text: str | None) -> int:
            return texts.setdefault(text, len(texts))

        releases = [
            [
                str(r.version),
                r.yanked,
                number(None if r.requires_python is None else str(r.requires_python)),
                [[f.filename, number(f.requires_python), f.yanked] for f in r.files],
            ]
            for r in entry.releases
        ]
        doc = {
            "format": _FORMAT,
            "fetched": entry.fetched,
            "etag": entry.etag,
            "last-modified": entry.last_modified,
            "requires-python": list(texts),
            "releases": releases,
        }
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


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
