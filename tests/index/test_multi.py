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
from depbot.models import DistFile, Release, canonicalize_name
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


def test_files_of_one_version_on_several_indexes_are_united() -> None:
    wheel, sdist = DistFile("a-1-py3-none-any.whl", ">=3.12"), DistFile("a-1.tar.gz", "<3.9")
    (merged,) = merge_releases(
        [
            Release(V("1"), requires_python=spec(">=3.12"), files=(wheel,)),
            Release(V("1"), files=(sdist, wheel)),
            Release(V("1"), requires_python=spec(">=3.0")),  # no files: the files decide
        ]
    )
    assert merged.files == (wheel, sdist)
    assert merged.requires_python == spec(">=3.12")  # scored on the Pythons: wider than <3.9
    assert [merged.installable_on(V(p)) for p in ("3.8", "3.10", "3.12")] == [True, False, True]


def test_two_real_indexes_are_merged(tmp_path: Path) -> None:
    primary = [Dist("alpha", "1.0"), Dist("alpha", "1.1", yanked="oops")]
    extra = [Dist("alpha", "1.1"), Dist("alpha", "2.0+local"), Dist("bravo", "1.0")]
    with (
        serve_index(tmp_path / "a", primary) as a,
        serve_index(tmp_path / "b", extra) as b,
    ):
        session = make_session()
        index = MultiIndex([SimpleIndex(a.url, session), SimpleIndex(b.url, session)])
        alpha = index.releases(canonicalize_name("alpha"))
        assert [(r.version, r.yanked) for r in alpha] == [
            (V("1.0"), False),
            (V("1.1"), False),
            (V("2.0+local"), False),
        ]
        # the same file name on both indexes, yanked on one of them: both entries are kept
        assert [f.yanked for f in alpha[1].files] == [True, False]
        bravo = index.releases(canonicalize_name("bravo"))
        assert [r.version for r in bravo] == [V("1.0")]
        assert index.releases(canonicalize_name("charlie")) == ()


def test_an_error_on_any_index_fails_the_lookup_and_names_it(tmp_path: Path) -> None:
    with (
        serve_index(tmp_path / "a", [Dist("alpha", "1.0")]) as a,
        serve_index(tmp_path / "b", [Dist("alpha", "2.0")]) as b,
    ):
        b.failures["alpha"] = 10
        session = make_session()
        index = MultiIndex(
            [SimpleIndex(a.url, session), SimpleIndex(b.url, session, attempts=2, backoff=0)]
        )
        with pytest.raises(IndexLookupError, match=b.url):
            index.releases(canonicalize_name("alpha"))
