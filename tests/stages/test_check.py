"""The check stage against a real loopback index and advisory sources given as values."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import pytest
from packaging.version import Version

from depbot.advisories.interface import AdvisorySource, AdvisorySourceError
from depbot.index.http import make_session
from depbot.index.simple import SimpleIndex
from depbot.models import (
    Advisory,
    AffectedRange,
    Lockfile,
    LockHeader,
    NormalizedName,
    Pin,
    Release,
    Skipped,
    canonicalize_name,
)
from depbot.stages.check import NOT_FOUND, check
from tests.support.index_server import IndexServer, serve_index
from tests.support.wheels import Dist


def lockfile(path: str, *pins: str) -> Lockfile:
    header = LockHeader("pip-compile", "3.11", ("pip-compile",))
    parsed = []
    for line, pin in enumerate(pins, 1):
        name, version = pin.split("==")
        parsed.append(Pin(canonicalize_name(name), Version(version), line))
    return Lockfile(PurePosixPath(path), header, tuple(parsed))


class Listed(AdvisorySource):
    def __init__(self, spec: str, *advisories: Advisory) -> None:
        self.spec = spec
        self.listed = list(advisories)

    def advisories(self, lockfiles: Sequence[Lockfile]) -> list[Advisory]:
        return self.listed


class Broken(AdvisorySource):
    spec = "pip-audit"

    def advisories(self, lockfiles: Sequence[Lockfile]) -> list[Advisory]:
        raise AdvisorySourceError("alpha was skipped: not found")


def index(server: IndexServer, retries: int = 4) -> SimpleIndex:
    return SimpleIndex(server.url, make_session(), attempts=retries + 1, backoff=0.01)


def test_each_name_is_looked_up_once_and_failures_are_skipped(tmp_path: Path) -> None:
    dists = [Dist("alpha", "1.0"), Dist("alpha", "1.1"), Dist("bravo", "2.0"), Dist("charlie", "1")]
    with serve_index(tmp_path / "index", dists) as server:
        server.failures["charlie"] = 100
        server.failures["bravo"] = 1
        result = check(
            [
                lockfile("requirements.txt", "alpha==1.0", "bravo==2.0", "charlie==1"),
                lockfile("requirements/dev.txt", "Alpha==1.0", "delta==0.1"),
            ],
            index(server, retries=2),
            [],
        )
    assert {n: [(r.version, r.yanked) for r in rs] for n, rs in result.releases.items()} == {
        "alpha": [(Version("1.0"), False), (Version("1.1"), False)],
        "bravo": [(Version("2.0"), False)],
    }
    assert [s.name for s in result.skipped] == ["charlie", "delta"]
    assert "HTTP 503" in result.skipped[0].reason
    assert result.skipped[1] == Skipped("delta", NOT_FOUND)
    assert server.hits["/simple/alpha/"] == 1
    assert server.hits["/simple/bravo/"] == 2
    assert server.hits["/simple/charlie/"] == 3


def test_lookups_run_concurrently(tmp_path: Path) -> None:
    names = [f"pkg{i}" for i in range(20)]
    with serve_index(tmp_path / "index", [Dist(n, "1.0") for n in names], latency=0.1) as server:
        result = check([lockfile("r.txt", *(f"{n}==1.0" for n in names))], index(server), [], 10)
    assert len(result.releases) == 20
    assert 1 < server.max_in_flight <= 10


def test_advisories_are_merged_and_a_failing_source_is_reported(tmp_path: Path) -> None:
    alpha = canonicalize_name("alpha")
    fix = (AffectedRange(fixed=Version("1.1")),)
    osv = Advisory("PYSEC-1", alpha, frozenset({"GHSA-x"}), fix, source="osv-dir:osv")
    github = Advisory("GHSA-x", alpha, frozenset({"PYSEC-1"}), fix, source="github")
    with serve_index(tmp_path / "index", [Dist("alpha", "1.0")]) as server:
        result = check(
            [lockfile("requirements.txt", "alpha==1.0")],
            index(server),
            [Listed("osv-dir:osv", osv), Listed("github", github), Broken()],
        )
    assert [a.id for a in result.advisories] == ["PYSEC-1"]
    assert result.source_errors == ("pip-audit: alpha was skipped: not found",)


def test_no_lockfiles_no_lookups(tmp_path: Path) -> None:
    with serve_index(tmp_path / "index") as server:
        result = check([], index(server), [Listed("osv-dir:osv")])
    assert result.releases == {}
    assert result.advisories == ()
    assert sum(server.hits.values()) == 0


def test_a_fresh_cache_answers_on_the_callers_thread_and_the_rest_is_looked_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from depbot.index.cache import PageStore

    dists = [Dist("alpha", "1.0"), Dist("bravo", "2.0")]
    with serve_index(tmp_path / "index", dists) as server:
        store = PageStore(tmp_path / "cache")
        warm = SimpleIndex(server.url, make_session(), store, freshness=600)
        warm.releases(canonicalize_name("alpha"))
        threads: dict[str, str] = {}
        original = SimpleIndex.releases

        def releases(self: SimpleIndex, name: NormalizedName) -> tuple[Release, ...]:
            threads[name] = threading.current_thread().name
            return original(self, name)

        monkeypatch.setattr(SimpleIndex, "releases", releases)
        lockfiles = [lockfile("requirements.txt", "alpha==1.0", "bravo==2.0", "zulu==1")]
        result = check(lockfiles, warm, [])
    assert sorted(threads) == ["bravo", "zulu"]  # alpha came from the cache, no lookup
    assert all(t.startswith("depbot-index") for t in threads.values())
    assert sorted(result.releases) == ["alpha", "bravo"]
    assert result.skipped == (Skipped(canonicalize_name("zulu"), NOT_FOUND),)
    assert server.hits["/simple/alpha/"] == 1
