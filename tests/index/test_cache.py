"""The on-disk release cache and build_index: a rerun within the freshness window asks nobody."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from depbot.index import build_index, index_urls
from depbot.index.cache import CachedIndex
from depbot.index.interface import Index
from depbot.models import Lockfile, LockHeader, NormalizedName, Release, canonicalize_name
from tests.support.index_server import serve_index
from tests.support.wheels import Dist

ALPHA = canonicalize_name("alpha")
RELEASES = (
    Release(Version("1.0"), yanked=True),
    Release(Version("1.1+cu118"), requires_python=SpecifierSet(">=3.9,<4")),
)


class Counting(Index):
    def __init__(self) -> None:
        self.asked: list[str] = []

    def releases(self, name: NormalizedName) -> tuple[Release, ...]:
        self.asked.append(name)
        return RELEASES


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_fresh_entries_are_answered_without_opening_the_index(tmp_path: Path) -> None:
    clock, inner = Clock(), Counting()
    assert CachedIndex(lambda: inner, tmp_path, 600, clock).releases(ALPHA) == RELEASES
    opened: list[int] = []

    def never() -> Index:
        opened.append(1)
        return inner

    clock.now += 599
    assert CachedIndex(never, tmp_path, 600, clock).releases(ALPHA) == RELEASES
    assert inner.asked == ["alpha"]
    assert opened == []


def test_stale_or_damaged_entries_are_looked_up_again(tmp_path: Path) -> None:
    clock, inner = Clock(), Counting()
    cached = CachedIndex(lambda: inner, tmp_path, 600, clock)
    cached.releases(ALPHA)
    clock.now += 600
    cached.releases(ALPHA)
    (tmp_path / "alpha.json").write_text("{half a fi")
    assert cached.releases(ALPHA) == RELEASES
    assert inner.asked == ["alpha"] * 3
    assert list(tmp_path.glob("*.tmp")) == []


def test_zero_freshness_never_answers_from_disk(tmp_path: Path) -> None:
    inner = Counting()
    cached = CachedIndex(lambda: inner, tmp_path / "r", 0)
    cached.releases(ALPHA)
    cached.releases(ALPHA)
    assert inner.asked == ["alpha", "alpha"]
    assert not (tmp_path / "r").exists()


def test_build_index_reruns_within_freshness_send_no_request(tmp_path: Path) -> None:
    with serve_index(tmp_path / "index", [Dist("alpha", "1.0")]) as server:
        first = build_index(server.url, [], [], tmp_path / "cache").releases(ALPHA)
        second = build_index(server.url, [], [], tmp_path / "cache").releases(ALPHA)
    assert first == second == (Release(Version("1.0")),)
    assert server.hits["/simple/alpha/"] == 1


def test_build_index_reruns_after_freshness_revalidate(tmp_path: Path) -> None:
    with serve_index(tmp_path / "index", [Dist("alpha", "1.0")]) as server:
        for _ in range(2):
            build_index(server.url, [], [], tmp_path / "cache", freshness=0).releases(ALPHA)
        server.add(Dist("alpha", "1.1"))
        third = build_index(server.url, [], [], tmp_path / "cache", freshness=0).releases(ALPHA)
    assert server.hits["/simple/alpha/"] == 3
    assert server.not_modified == 1
    assert [r.version for r in third] == [Version("1.0"), Version("1.1")]


def lockfile(*options: tuple[str, str]) -> Lockfile:
    header = LockHeader("pip-compile", "3.11", ("pip-compile",))
    return Lockfile(PurePosixPath("requirements.txt"), header, (), options=options)


def test_index_urls_prefer_the_lockfiles_lines() -> None:
    torch = lockfile(("--extra-index-url", "https://torch.example/whl/cu118"))
    private = lockfile(("--index-url", "https://mirror.example/simple/"))
    assert index_urls("https://conf.example/simple", ["https://extra.example/simple"], []) == (
        "https://conf.example/simple/",
        "https://extra.example/simple/",
    )
    assert index_urls("https://conf.example/simple", ["https://extra.example/"], [torch]) == (
        "https://conf.example/simple/",
        "https://torch.example/whl/cu118/",
    )
    assert index_urls("https://conf.example/simple", [], [private, torch, private]) == (
        "https://mirror.example/simple/",
        "https://torch.example/whl/cu118/",
    )


def test_a_run_after_a_plan_sees_a_release_published_in_between(tmp_path: Path) -> None:
    # issue 7: plan trusts its pages for 600 s; run (freshness=0) must revalidate them anyway
    with serve_index(tmp_path / "index", [Dist("alpha", "1.0")]) as server:
        planned = build_index(server.url, [], [], tmp_path / "cache").releases(ALPHA)
        server.add(Dist("alpha", "1.1"))
        run = build_index(server.url, [], [], tmp_path / "cache", freshness=0).releases(ALPHA)
        again = build_index(server.url, [], [], tmp_path / "cache", freshness=0).releases(ALPHA)
    assert [r.version for r in planned] == [Version("1.0")]
    assert [r.version for r in run] == [r.version for r in again] == [Version("1.0"), Version("1.1")]
    assert server.hits["/simple/alpha/"] == 3
    assert server.not_modified == 1
