"""The page store and build_index: reruns within the freshness window ask nobody, later ones
revalidate with conditional requests, and ``run`` (freshness 0) always revalidates."""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from depbot.index import build_index, index_urls
from depbot.index.cache import PageEntry, PageStore, StoredFiles, StoredReleases
from depbot.index.http import make_session
from depbot.index.simple import SimpleIndex
from depbot.models import DistFile, Lockfile, LockHeader, Release, canonicalize_name
from tests.support.index_server import serve_index
from tests.support.wheels import Dist

ALPHA = canonicalize_name("alpha")
URL = "https://user:s3cret@mirror.example/simple/alpha/"
RELEASES = (
    Release(Version("1.0"), yanked=True, files=(DistFile("alpha-1.0.tar.gz", None, True),)),
    Release(
        Version("1.1+cu118"),
        requires_python=SpecifierSet(">=3.9,<4"),
        files=(
            DistFile("alpha-1.1+cu118-cp311-cp311-linux_x86_64.whl", ">=3.9,<4"),
            DistFile("alpha-1.1+cu118.tar.gz", ">=3.9,<4", True),
        ),
    ),
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_entry_keeps_the_summary_and_the_validators(tmp_path: Path) -> None:
    store = PageStore(tmp_path)
    entry = PageEntry(1000.0, RELEASES, etag='"abc"', last_modified="Wed, 02 Dec 2026 06:00 GMT")
    store.write(URL, entry)
    assert store.read(URL) == entry
    assert store.read(URL.replace("alpha", "bravo")) is None
    (written,) = tmp_path.iterdir()
    assert b"s3cret" not in written.read_bytes() and b"mirror" not in written.read_bytes()


def test_stored_files_are_decoded_when_first_used_and_equal_the_tuple(tmp_path: Path) -> None:
    store = PageStore(tmp_path)
    store.write(URL, PageEntry(1000.0, RELEASES))
    entry = store.read(URL)
    assert entry is not None
    files = entry.releases[1].files
    assert isinstance(files, StoredFiles)
    assert len(files) == 2 and repr(files).startswith("(DistFile(")
    assert files == RELEASES[1].files and RELEASES[1].files == files
    assert files[1] == RELEASES[1].files[1] and files[:1] == RELEASES[1].files[:1]
    assert hash(files) == hash(RELEASES[1].files)
    assert files != "not files"
    same = entry.releases[1].files[0].requires_python
    assert same is entry.releases[1].files[1].requires_python  # one string per specifier


def test_releases_are_made_when_first_used_and_equal_the_tuple(tmp_path: Path) -> None:
    store = PageStore(tmp_path)
    store.write(URL, PageEntry(1000.0, RELEASES))
    entry = store.read(URL)
    assert entry is not None
    releases = entry.releases
    assert isinstance(releases, StoredReleases)
    newest = next(reversed(releases))  # what candidates() reads first
    assert newest == RELEASES[-1]
    assert [r is None for r in releases._made] == [True, False]  # the older one is not made
    assert releases[-1] is newest and releases[:1] == RELEASES[:1]
    assert releases == RELEASES and RELEASES == releases  # noqa: SIM300 (both sides)
    assert hash(releases) == hash(RELEASES)
    assert list(releases) == list(RELEASES) and len(releases) == 2
    assert releases != "not releases" and repr(releases).startswith("(Release(")
    with pytest.raises(IndexError):
        releases[2]


def _edit(written: Path, header: object = None, body: bytes | None = None) -> None:
    head, _, rest = written.read_bytes().partition(b"\n")
    doc = json.loads(head) if header is None else header
    written.write_bytes(json.dumps(doc).encode() + b"\n" + (rest if body is None else body))


def _body(written: Path) -> bytes:
    return written.read_bytes().partition(b"\n")[2]


@pytest.mark.parametrize(
    "edit",
    [
        lambda w: _edit(w, body=b"[]"),  # the releases edited: the CRC no longer matches
        lambda w: _edit(w, body=_body(w).replace(b"1.0", b"1.2")),
        lambda w: _edit(w, body=_body(w).replace(b'"1.0"', b'"not a version"')),
        lambda w: _edit(w, header={"format": 4, "fetched": 1000.0}),  # no CRC
        lambda w: _edit(w, header=[4]),
        lambda w: w.write_bytes(w.read_bytes()[:-5]),  # cut short
        lambda w: w.write_bytes(b"{half a fi"),
    ],
    ids=["body", "version", "invalid-version", "no-crc", "header-list", "truncated", "half"],
)
def test_damaged_or_edited_entries_are_misses(tmp_path: Path, edit: Callable[[Path], None]) -> None:
    store = PageStore(tmp_path)
    store.write(URL, PageEntry(1000.0, RELEASES))
    (written,) = tmp_path.iterdir()
    edit(written)
    assert store.read(URL) is None


def test_a_body_that_is_not_a_list_is_a_miss_even_with_its_crc(tmp_path: Path) -> None:
    store = PageStore(tmp_path)
    store.write(URL, PageEntry(1000.0, RELEASES))
    (written,) = tmp_path.iterdir()
    head = json.loads(written.read_bytes().partition(b"\n")[0])
    _edit(written, header={**head, "crc32": zlib.crc32(b"{}")}, body=b"{}")
    assert store.read(URL) is None


def test_old_or_half_written_entries_are_misses(tmp_path: Path) -> None:
    store = PageStore(tmp_path)
    store.write(URL, PageEntry(1000.0, RELEASES))
    (written,) = tmp_path.iterdir()
    head = json.loads(written.read_bytes().partition(b"\n")[0])
    _edit(written, header={**head, "format": 3})  # an earlier layout's entry
    assert store.read(URL) is None
    written.write_text('{"format": 3, "fetched": 1000.0, "releases": []}')  # layout 3 itself
    assert store.read(URL) is None
    assert list(tmp_path.glob("*.tmp")) == []


def test_a_file_name_the_line_format_cannot_hold_is_not_stored(tmp_path: Path) -> None:
    odd = (Release(Version("1.0"), files=(DistFile("a-1.0.tar.gz\tx"),)),)
    PageStore(tmp_path).write(URL, PageEntry(1000.0, odd))
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_store_only_costs_the_cache(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    store = PageStore(tmp_path / "file" / "store")
    store.write(URL, PageEntry(1000.0, RELEASES))
    assert store.read(URL) is None


def test_obsolete_folders_go_on_the_first_write_not_on_reads(tmp_path: Path) -> None:
    old = [tmp_path / "pages", tmp_path / "releases", tmp_path / "absent"]
    for folder in old[:2]:
        (folder / "a" / "b").mkdir(parents=True)
        (folder / "a" / "b" / "entry").write_text("kept by an earlier layout")
    store = PageStore(tmp_path / "index", old)
    assert store.read(URL) is None
    assert all(folder.is_dir() for folder in old[:2])
    store.write(URL, PageEntry(1000.0, RELEASES))
    assert not any(folder.exists() for folder in old)
    assert store.read(URL) == PageEntry(1000.0, RELEASES)
    (tmp_path / "pages").mkdir()
    store.write(URL, PageEntry(1001.0, RELEASES))  # once per store: later writes look no more
    assert (tmp_path / "pages").is_dir()


def test_build_index_clears_the_earlier_layouts_caches(tmp_path: Path) -> None:
    for name in ("pages", "releases"):
        (tmp_path / "cache" / name / "x").mkdir(parents=True)
    (tmp_path / "cache" / "tools").mkdir()
    with serve_index(tmp_path / "index", [Dist("alpha", "1.0")]) as server:
        build_index(server.url, [], [], tmp_path / "cache").releases(ALPHA)
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["index", "tools"]


def test_fresh_entries_answer_without_a_request_then_304s_renew_them(tmp_path: Path) -> None:
    clock = Clock()
    with serve_index(tmp_path / "index", [Dist("alpha", "1.0")]) as server:

        def index() -> SimpleIndex:
            return SimpleIndex(server.url, make_session(), PageStore(tmp_path / "s"), 600, clock)

        first = index().releases(ALPHA)
        clock.now += 599
        assert index().releases(ALPHA) == first
        assert server.hits["/simple/alpha/"] == 1
        clock.now += 1
        assert index().releases(ALPHA) == first  # revalidated: 304
        clock.now += 599
        assert index().releases(ALPHA) == first  # the 304 renewed the entry
    assert server.hits["/simple/alpha/"] == 2
    assert server.not_modified == 1


def test_build_index_reruns_within_freshness_send_no_request(tmp_path: Path) -> None:
    with serve_index(tmp_path / "index", [Dist("alpha", "1.0")]) as server:
        first = build_index(server.url, [], [], tmp_path / "cache").releases(ALPHA)
        second = build_index(server.url, [], [], tmp_path / "cache").releases(ALPHA)
    assert first == second
    assert [r.version for r in first] == [Version("1.0")]
    assert server.hits["/simple/alpha/"] == 1


def test_a_page_missing_from_the_index_is_remembered_too(tmp_path: Path) -> None:
    with serve_index(tmp_path / "index", [Dist("alpha", "1.0")]) as server:
        for _ in range(2):
            assert build_index(server.url, [], [], tmp_path / "cache").releases(ALPHA) != ()
            bravo = canonicalize_name("bravo")
            assert build_index(server.url, [], [], tmp_path / "cache").releases(bravo) == ()
    assert server.hits["/simple/bravo/"] == 1


def test_build_index_reruns_after_freshness_revalidate(tmp_path: Path) -> None:
    with serve_index(tmp_path / "index", [Dist("alpha", "1.0")]) as server:
        for _ in range(2):
            build_index(server.url, [], [], tmp_path / "cache", freshness=0).releases(ALPHA)
        server.add(Dist("alpha", "1.1"))
        third = build_index(server.url, [], [], tmp_path / "cache", freshness=0).releases(ALPHA)
    assert server.hits["/simple/alpha/"] == 3
    assert server.not_modified == 1
    assert [r.version for r in third] == [Version("1.0"), Version("1.1")]


def test_a_run_after_a_plan_sees_a_release_published_in_between(tmp_path: Path) -> None:
    # issue 7: plan trusts its pages for 600 s; run (freshness=0) must revalidate them anyway
    with serve_index(tmp_path / "index", [Dist("alpha", "1.0")]) as server:
        planned = build_index(server.url, [], [], tmp_path / "cache").releases(ALPHA)
        server.add(Dist("alpha", "1.1"))
        run = build_index(server.url, [], [], tmp_path / "cache", freshness=0).releases(ALPHA)
        again = build_index(server.url, [], [], tmp_path / "cache", freshness=0).releases(ALPHA)
    assert [r.version for r in planned] == [Version("1.0")]
    assert (
        [r.version for r in run] == [r.version for r in again] == [Version("1.0"), Version("1.1")]
    )
    assert server.hits["/simple/alpha/"] == 3
    assert server.not_modified == 1


def test_without_a_cache_dir_every_lookup_downloads(tmp_path: Path) -> None:
    with serve_index(tmp_path / "index", [Dist("alpha", "1.0")]) as server:
        index = build_index(server.url, [], [], None)
        index.releases(ALPHA)
        index.releases(ALPHA)
    assert server.hits["/simple/alpha/"] == 2
    assert server.not_modified == 0


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


def test_fresh_answers_from_the_cache_only_while_it_is_trusted(tmp_path: Path) -> None:
    clock = Clock()
    with serve_index(tmp_path / "index", [Dist("alpha", "1.0")]) as server:
        index = SimpleIndex(server.url, make_session(), PageStore(tmp_path / "s"), 600, clock)
        assert index.fresh(ALPHA) is None  # nothing cached: only the index can tell
        first = index.releases(ALPHA)
        clock.now += 599
        assert index.fresh(ALPHA) == first
        clock.now += 1
        assert index.fresh(ALPHA) is None  # too old to trust without revalidating
        assert SimpleIndex(server.url, make_session()).fresh(ALPHA) is None  # no store
        both = build_index(server.url, [server.url], [], tmp_path / "cache")
        assert both.fresh(ALPHA) is None
        both.releases(ALPHA)
        assert both.fresh(ALPHA) == first
