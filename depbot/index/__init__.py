"""The index seam: where releases come from (SPEC §2 "Package index").

``build_index`` is the one way the pipeline gets an Index. The HTTP and page-parsing modules
are imported only when a lookup misses the on-disk release cache: a rerun within the
freshness window starts without them.
"""

from __future__ import annotations

import hashlib
import importlib
import threading
from collections.abc import Sequence
from pathlib import Path

from depbot.index.cache import CachedIndex
from depbot.index.interface import Index, IndexLookupError
from depbot.models import Lockfile

__all__ = ["DEFAULT_FRESHNESS", "Index", "IndexLookupError", "build_index", "index_urls"]

DEFAULT_FRESHNESS = 600.0
"""Seconds a looked-up page is trusted without asking again; PyPI's own ``max-age``."""


def index_urls(
    index_url: str, extra_index_urls: Sequence[str], lockfiles: Sequence[Lockfile]
) -> tuple[str, ...]:
    """The primary index then the extra ones, without duplicates.

    The lockfiles' own ``--index-url`` / ``--extra-index-url`` lines win over the configured
    values when present, each kind on its own: that is where the project resolves. Several
    lockfiles contribute the union of their lines, in file order; the first ``--index-url``
    written is the primary.
    """
    written_primary = [lf.index_url for lf in lockfiles if lf.index_url]
    written_extra = [url for lf in lockfiles for url in lf.extra_index_urls]
    primary = written_primary[0] if written_primary else index_url
    extras = written_extra if written_extra else list(extra_index_urls)
    seen: dict[str, None] = {}
    for url in (primary, *extras):
        seen.setdefault(url.rstrip("/") + "/", None)
    return tuple(seen)


def build_index(
    index_url: str,
    extra_index_urls: Sequence[str],
    lockfiles: Sequence[Lockfile],
    cache_dir: Path | None,
    *,
    pool_size: int = 16,
    freshness: float = DEFAULT_FRESHNESS,
) -> Index:
    """The Index of the URLs ``index_urls`` picks, cached under ``cache_dir`` (None: no disk
    cache); ``pool_size`` is the number of lookups the caller runs at once.

    ``cache_dir`` holds ``pages/`` (HTTP responses, revalidated with conditional requests)
    and ``releases/`` (parsed releases, trusted for ``freshness`` seconds).
    """
    urls = index_urls(index_url, extra_index_urls, lockfiles)

    def open_index() -> Index:
        # the page parser's import is slow (HTML and JSON-schema libraries): it runs while the
        # first requests are on the wire
        threading.Thread(target=importlib.import_module, args=("pypi_simple",), daemon=True).start()
        from depbot.index.http import make_session
        from depbot.index.multi import MultiIndex
        from depbot.index.simple import SimpleIndex

        pages = cache_dir / "pages" if cache_dir is not None else None
        session = make_session(pages, pool_size=pool_size, freshness=freshness)
        return MultiIndex([SimpleIndex(url, session) for url in urls])

    if cache_dir is None:
        return open_index()
    key = hashlib.sha256("\n".join(urls).encode()).hexdigest()[:16]
    return CachedIndex(open_index, cache_dir / "releases" / key, freshness)
