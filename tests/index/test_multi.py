"""Several indexes as one: pip's union, with yanks and Requires-Python merged per version."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from depbot.index.http import make_session
from depbot.index.interface import IndexLookupError
from depbot.index.multi import MultiIndex, merge_releases
from depbot.index.simple import SimpleIndex
from depbot.models import Release, canonicalize_name
from tests.support.index_server import serve_index
from tests.support.wheels import Dist

V = Version


def spec(s: str) -> SpecifierSet:
    return SpecifierSet(s)


def test_merge_is_a_union_sorted_by_version() -> None:
    merged = merge_releases([Release(V("2.0")), Release(V("1.0")), Release(V("1.5"))])
    assert [r.version for r in merged] == [V("1.0"), V("1.5"), V("2.0")]


def test_a_version_is_yanked_only_when_yanked_everywhere() -> None:
    assert merge_releases([Release(V("1.0"), yanked=True), Release(V("1.0"))]) == (
        Release(V("1.0")),
    )
    assert merge_releases([Release(V("1.0"), yanked=True)] * 2) == (Release(V("1.0"), yanked=True),)


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        ([Release(V("1"), requires_python=spec(">=3.9")), Release(V("1"))], None),
        (
            [
                Release(V("1"), requires_python=spec(">=3.10")),
                Release(V("1"), requires_python=spec(">=3.8")),
            ],
            spec(">=3.8"),
        ),
        (
            # the yanked file's wider range does not count
            [
                Release(V("1"), requires_python=spec(">=3.10")),
                Release(V("1"), yanked=True, requires_python=spec(">=3.6")),
            ],
            spec(">=3.10"),
        ),
        (
            [
                Release(V("1"), yanked=True, requires_python=spec(">=3.10")),
                Release(V("1"), yanked=True, requires_python=spec(">=3.6")),
            ],
            spec(">=3.6"),
        ),
    ],
    ids=["one-without", "widest", "yanked-ignored", "all-yanked"],
)
def test_requires_python_is_the_most_permissive(
    entries: list[Release], expected: SpecifierSet | None
) -> None:
    (merged,) = merge_releases(entries)
    assert merged.requires_python == expected


def test_two_real_indexes_are_merged(tmp_path: Path) -> None:
    primary = [Dist("alpha", "1.0"), Dist("alpha", "1.1", yanked="oops")]
    extra = [Dist("alpha", "1.1"), Dist("alpha", "2.0+local"), Dist("bravo", "1.0")]
    with (
        serve_index(tmp_path / "a", primary) as a,
        serve_index(tmp_path / "b", extra) as b,
    ):
        session = make_session(None)
        index = MultiIndex([SimpleIndex(a.url, session), SimpleIndex(b.url, session)])
        assert index.releases(canonicalize_name("alpha")) == (
            Release(V("1.0")),
            Release(V("1.1")),
            Release(V("2.0+local")),
        )
        assert index.releases(canonicalize_name("bravo")) == (Release(V("1.0")),)
        assert index.releases(canonicalize_name("charlie")) == ()


def test_an_error_on_any_index_fails_the_lookup_and_names_it(tmp_path: Path) -> None:
    with (
        serve_index(tmp_path / "a", [Dist("alpha", "1.0")]) as a,
        serve_index(tmp_path / "b", [Dist("alpha", "2.0")]) as b,
    ):
        b.failures["alpha"] = 10
        session = make_session(None, retries=1, backoff=0)
        index = MultiIndex([SimpleIndex(a.url, session), SimpleIndex(b.url, session)])
        with pytest.raises(IndexLookupError, match=b.url):
            index.releases(canonicalize_name("alpha"))
