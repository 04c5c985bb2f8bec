"""SimpleIndex against a real simple index on 127.0.0.1 (JSON and HTML) and a file:// tree."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.version import Version

from depbot.index.cache import PageStore
from depbot.index.http import make_session
from depbot.index.interface import IndexLookupError
from depbot.index.page import JSON_TYPE
from depbot.index.simple import ACCEPT, SimpleIndex
from depbot.models import NormalizedName, Release, canonicalize_name
from tests.support.index_server import IndexServer, serve_index
from tests.support.wheels import Dist

DISTS = [
    Dist("Alpha", "1.0"),
    Dist("Alpha", "1.1", requires_python=">=3.9"),
    Dist("Alpha", "1.2", yanked="broken metadata"),
    Dist("Alpha", "2.0rc1"),
    Dist("torch", "2.1.0+cu118"),
    Dist("torch", "2.1.0+cpu"),
]


def n(name: str) -> NormalizedName:
    return canonicalize_name(name)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[IndexServer]:
    with serve_index(tmp_path / "index", DISTS) as s:
        yield s


def index(
    server: IndexServer, tmp_path: Path, retries: int = 4, timeout: float = 15
) -> SimpleIndex:
    return SimpleIndex(
        server.url,
        make_session(),
        PageStore(tmp_path / "cache"),
        freshness=0,
        attempts=retries + 1,
        backoff=0.01,
        request_timeout=timeout,
    )


def summary(releases: tuple[Release, ...]) -> list[tuple[str, bool, str | None, list[str]]]:
    return [
        (str(r.version), r.yanked, None if r.requires_python is None else str(r.requires_python),
         [f.filename for f in r.files])
        for r in releases
    ]  # fmt: skip


@pytest.mark.parametrize("json_pages", [True, False], ids=["pep691-json", "pep503-html"])
def test_releases_keep_yanked_requires_python_and_prereleases(
    server: IndexServer, tmp_path: Path, json_pages: bool
) -> None:
    server.json_pages = json_pages
    assert summary(index(server, tmp_path).releases(n("alpha"))) == [
        ("1.0", False, None, ["alpha-1.0-py3-none-any.whl"]),
        ("1.1", False, ">=3.9", ["alpha-1.1-py3-none-any.whl"]),
        ("1.2", True, None, ["alpha-1.2-py3-none-any.whl"]),
        ("2.0rc1", False, None, ["alpha-2.0rc1-py3-none-any.whl"]),
    ]


def test_local_version_labels_are_distinct_releases(server: IndexServer, tmp_path: Path) -> None:
    versions = [r.version for r in index(server, tmp_path).releases(n("torch"))]
    assert versions == [Version("2.1.0+cpu"), Version("2.1.0+cu118")]


def test_a_project_missing_from_the_index_has_no_releases(
    server: IndexServer, tmp_path: Path
) -> None:
    assert index(server, tmp_path).releases(n("nothing-here")) == ()
    assert server.hits["/simple/nothing-here/"] == 1  # a 404 is an answer, not retried


def test_files_of_one_version_are_summarised(server: IndexServer, tmp_path: Path) -> None:
    def file(name: str, rp: str | None = None, yanked: bool = False) -> dict[str, object]:
        return {
            "filename": name,
            "url": name,
            "hashes": {},
            "requires-python": rp,
            "yanked": yanked,
        }

    page = {
        "meta": {"api-version": "1.1"},
        "name": "multi",
        "files": [
            file("multi-1.0-cp312-cp312-manylinux1_x86_64.whl", ">=3.12"),
            file("multi-1.0.tar.gz", ">=3.8"),
            file("multi-2.0-py3-none-any.whl", ">=3.10", yanked=True),
            file("multi-2.0.tar.gz", ">=3.9"),
            file("multi-3.0-py3-none-any.whl", yanked=True),
            file("multi-not.a.version.tar.gz"),
            file("README.txt"),
        ],
    }
    server.overrides["multi"] = (JSON_TYPE, json.dumps(page).encode())
    releases = index(server, tmp_path).releases(n("multi"))
    assert summary(releases) == [
        ("1.0", False, ">=3.8",
         ["multi-1.0-cp312-cp312-manylinux1_x86_64.whl", "multi-1.0.tar.gz"]),
        ("2.0", False, ">=3.9", ["multi-2.0-py3-none-any.whl", "multi-2.0.tar.gz"]),
        ("3.0", True, None, ["multi-3.0-py3-none-any.whl"]),
    ]  # fmt: skip
    two = releases[1]
    assert [f.yanked for f in two.files] == [True, False]
    assert not two.installable_on(Version("3.8"))
    assert two.installable_on(Version("3.9"))


def test_a_page_failing_twice_with_503_is_retried(server: IndexServer, tmp_path: Path) -> None:
    server.failures["alpha"] = 2
    assert len(index(server, tmp_path).releases(n("alpha"))) == 4
    assert server.hits["/simple/alpha/"] == 3


def test_a_page_that_keeps_failing_raises_after_the_retries(
    server: IndexServer, tmp_path: Path
) -> None:
    server.failures["alpha"] = 100
    with pytest.raises(IndexLookupError, match="HTTP 503"):
        index(server, tmp_path, retries=2).releases(n("alpha"))
    assert server.hits["/simple/alpha/"] == 3


@pytest.mark.parametrize(
    ("ctype", "body"),
    [(JSON_TYPE, b'{"meta": {"api-version": "1.1"}, "name": "alpha", "fi'), ("text/plain", b"hi")],
    ids=["truncated-json", "wrong-content-type"],
)
def test_a_malformed_page_is_read_again_then_raises(
    server: IndexServer, tmp_path: Path, ctype: str, body: bytes
) -> None:
    server.overrides["alpha"] = (ctype, body)
    with pytest.raises(IndexLookupError, match="malformed page"):
        index(server, tmp_path).releases(n("alpha"))
    assert server.hits["/simple/alpha/"] == 2


def test_an_unreachable_index_raises(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    simple = SimpleIndex(f"http://127.0.0.1:{port}/simple", make_session(), attempts=2, backoff=0)
    with pytest.raises(IndexLookupError, match="could not be read"):
        simple.releases(n("alpha"))


def test_a_slow_index_times_out(server: IndexServer, tmp_path: Path) -> None:
    server.latency = 0.5
    with pytest.raises(IndexLookupError, match="alpha"):
        index(server, tmp_path, retries=1, timeout=0.1).releases(n("alpha"))
    assert server.hits["/simple/alpha/"] == 2


def test_a_file_url_index_is_read_from_disk(tmp_path: Path) -> None:
    root = tmp_path / "mirror" / "simple"
    (root / "alpha").mkdir(parents=True)
    (root / "alpha" / "index.html").write_text(
        "<!DOCTYPE html><html><body>"
        '<a href="../../files/alpha-1.0-py3-none-any.whl#sha256=00">alpha-1.0-py3-none-any.whl</a>'
        '<a href="../../files/alpha-1.1.tar.gz" data-requires-python="&gt;=3.10"'
        ' data-yanked="">alpha-1.1.tar.gz</a>'
        "</body></html>"
    )
    simple = SimpleIndex(root.as_uri(), make_session())
    assert summary(simple.releases(n("alpha"))) == [
        ("1.0", False, None, ["alpha-1.0-py3-none-any.whl"]),
        ("1.1", True, ">=3.10", ["alpha-1.1.tar.gz"]),
    ]
    assert simple.releases(n("bravo")) == ()
    (root / "bravo").mkdir()
    (root / "bravo" / "index.html").write_bytes(b"\xff")
    with pytest.raises(IndexLookupError, match="bravo"):
        simple.releases(n("bravo"))


def test_an_unknown_api_version_is_a_lookup_error(server: IndexServer, tmp_path: Path) -> None:
    server.overrides["alpha"] = (JSON_TYPE, b'{"meta": {"api-version": "2.0"}, "files": []}')
    with pytest.raises(IndexLookupError, match="unsupported repository API version"):
        index(server, tmp_path).releases(n("alpha"))
    assert server.hits["/simple/alpha/"] == 1


def test_json_is_preferred_and_html_understood(server: IndexServer, tmp_path: Path) -> None:
    assert ACCEPT.startswith(JSON_TYPE + ",")
    server.overrides["alpha"] = ("text/html; charset=utf-8", b'<a href="alpha-3.0.tar.gz">x</a>')
    assert summary(index(server, tmp_path).releases(n("alpha"))) == [
        ("3.0", False, None, ["alpha-3.0.tar.gz"])
    ]


def test_credentials_in_the_index_url_never_reach_messages(
    server: IndexServer, tmp_path: Path
) -> None:
    server.failures["alpha"] = 10
    url = server.url.replace("http://", "http://user:s3cret@")
    simple = SimpleIndex(url, make_session(), PageStore(tmp_path / "store"), attempts=1)
    with pytest.raises(IndexLookupError) as raised:
        simple.releases(n("alpha"))
    assert "s3cret" not in str(raised.value)
    assert "***@127.0.0.1" in str(raised.value)
    assert "s3cret" not in repr(simple)
    server.failures.clear()
    assert simple.releases(n("alpha"))
    (stored,) = (tmp_path / "store").iterdir()
    assert b"s3cret" not in stored.read_bytes()
    assert b"127.0.0.1" not in stored.read_bytes()
