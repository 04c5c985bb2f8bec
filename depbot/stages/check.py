"""The check stage: every pinned package against the index and the advisory sources.

Lookups run concurrently, one per distinct name; the advisory sources run beside them. A
package whose lookup fails is skipped with the reason and the run goes on; a source that
cannot answer is reported in ``source_errors``, never read as "no vulnerabilities". With an
ML lookup, each lockfile's torch variant is then looked up on its own index (SPEC §6).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING

from depbot.advisories.interface import AdvisorySource, AdvisorySourceError
from depbot.advisories.merge import merge
from depbot.index.interface import Index, IndexLookupError
from depbot.models import Advisory, CheckResult, Lockfile, NormalizedName, Release, Skipped

if TYPE_CHECKING:
    from depbot.ml.lookup import VariantLookup

__all__ = ["NOT_FOUND", "check"]

NOT_FOUND = "not found on the index"


def check(
    lockfiles: Sequence[Lockfile],
    index: Index,
    sources: Sequence[AdvisorySource],
    pool_size: int = 16,
    ml: VariantLookup | None = None,
) -> CheckResult:
    """Looks up every distinct pinned name once (``pool_size`` at a time) and asks every
    source; ``ml`` looks the torch family up on its variants' indexes."""
    names = sorted({pin.name for lf in lockfiles for pin in lf.pins})
    # sources get their own threads: a slow one (pip-audit) must not hold a lookup slot
    with (
        ThreadPoolExecutor(max(1, len(sources)), thread_name_prefix="depbot-advisories") as side,
        ThreadPoolExecutor(pool_size, thread_name_prefix="depbot-index") as pool,
    ):
        asked = [(s, side.submit(s.advisories, lockfiles)) for s in sources]
        # what the cache can answer is answered here: threads start only for real lookups
        cached = {n: found for n in names if (found := index.fresh(n)) is not None}
        looked_up = [(n, pool.submit(index.releases, n)) for n in names if n not in cached]
        releases, skipped = _collect_releases(cached, looked_up)
        advisories: list[Advisory] = []
        source_errors: list[str] = []
        for source, future in asked:
            try:
                advisories.extend(future.result())
            except AdvisorySourceError as e:
                source_errors.append(f"{source.spec}: {e}")
    result = CheckResult(
        releases=releases,
        advisories=merge(advisories),
        skipped=tuple(skipped),
        source_errors=tuple(source_errors),
    )
    if ml is None:
        return result
    facts, held = ml.facts(lockfiles, releases)
    return replace(result, ml=facts, skipped=(*result.skipped, *held))


def _collect_releases(
    cached: Mapping[NormalizedName, Sequence[Release]],
    looked_up: Sequence[tuple[NormalizedName, Future[Sequence[Release]]]],
) -> tuple[dict[NormalizedName, Sequence[Release]], list[Skipped]]:
    answers: dict[NormalizedName, Sequence[Release] | IndexLookupError] = dict(cached)
    for name, future in looked_up:
        try:
            answers[name] = future.result()
        except IndexLookupError as e:
            answers[name] = e
    releases: dict[NormalizedName, Sequence[Release]] = {}
    skipped: list[Skipped] = []
    for name, found in sorted(answers.items()):
        if isinstance(found, IndexLookupError):
            skipped.append(Skipped(name, str(found)))
        elif found:
            releases[name] = found
        else:
            skipped.append(Skipped(name, NOT_FOUND))
    return releases, skipped
