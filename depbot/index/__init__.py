"""The index seam: where releases come from (SPEC §2 "Package index").

``build_index`` is the one way the pipeline gets an Index. The HTTP client is imported only
when a lookup misses the on-disk page store: a rerun within the freshness window starts
without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from depbot.index.cache import PageStore
from depbot.index.interface import Index, IndexLookupError
from depbot.index.multi import MultiIndex
from depbot.index.simple import DEADLINE, LazySession, SimpleIndex
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
    timeout: float = DEADLINE,
) -> Index:
    """The Index of the URLs ``index_urls`` picks, remembered under ``cache_dir`` (None: no
    disk cache); ``pool_size`` is the number of lookups the caller runs at once.

    ``cache_dir/index/`` holds one entry per page: its releases, trusted for ``freshness``
    seconds, and its validators, with which an older page is revalidated (``freshness=0``:
    every page is, whatever an earlier run stored, as ``run`` needs). The folders of an
    earlier layout there (``pages/``, ``releases/``) are removed on the first write.
    ``timeout``: seconds one page may take, every attempt included (``index-timeout``).
    """
    urls = index_urls(index_url, extra_index_urls, lockfiles)
    store = None
    if cache_dir is not None:
        # ``pages/`` and ``releases/``: the HTTP and release caches of an earlier layout
        store = PageStore(cache_dir / "index", [cache_dir / "pages", cache_dir / "releases"])
    session = LazySession(pool_size)
    return MultiIndex(
        [SimpleIndex(url, session, store, freshness, deadline=timeout) for url in urls]
    )
