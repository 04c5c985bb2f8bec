from __future__ import annotations

from pathlib import PurePosixPath

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from depbot.config import Config, IgnoreRule
from depbot.models import (
    Advisory,
    AffectedRange,
    CheckResult,
    Kind,
    Lockfile,
    LockHeader,
    Pin,
    Release,
    Skipped,
    Update,
    canonicalize_name,
)
from depbot.stages.classify import candidates, classify, series

V = Version


def lock(path: str, python: str | None = "3.11", **pins: str) -> Lockfile:
    header = LockHeader("pip-compile", python, ("pip-compile",))
    entries = tuple(
        Pin(canonicalize_name(n), V(v), line) for line, (n, v) in enumerate(pins.items(), 1)
    )
    return Lockfile(PurePosixPath(path), header, entries)


def releases(*versions: str, yanked: tuple[str, ...] = (), **requires: str) -> tuple[Release, ...]:
    """Releases of ``versions``; ``requires`` maps ``v1_2_0`` style keys to Requires-Python."""
    out = []
    for v in versions:
        spec = requires.get("v" + v.replace(".", "_"))
        out.append(Release(V(v), v in yanked, SpecifierSet(spec) if spec else None))
    return tuple(out)


def check(
    advisories: tuple[Advisory, ...] = (),
    skipped: tuple[Skipped, ...] = (),
    **rels: tuple[Release, ...],
) -> CheckResult:
    return CheckResult({canonicalize_name(k): v for k, v in rels.items()}, advisories, skipped)


def advisory(id_: str, package: str, *ranges: tuple[str | None, str | None]) -> Advisory:
    return Advisory(
        id_,
        canonicalize_name(package),
        ranges=tuple(
            AffectedRange(V(lo) if lo else None, V(hi) if hi else None) for lo, hi in ranges
        ),
    )


def summary(updates: tuple[Update, ...]) -> list[tuple[str, str, str, str, bool]]:
    return [(u.name, str(u.current), str(u.target), u.kind.value, u.breaking) for u in updates]


# ---------------------------------------------------------------------------- series


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("0.3.1", "0.3.9", True),
        ("0.3.9", "0.4.0", False),
        ("2.3.0", "2.9.1", True),
        ("2.3.0", "3.0.0", False),
        ("1!2.0", "2.0", False),
        ("1!2.0", "1!2.5", True),
        ("0", "0.0.5", True),
        ("0.0.1", "0.1.0", False),
        ("2.1.0+cu118", "2.2.0+cu118", True),
        ("1.0rc1", "1.4", True),
    ],
)
def test_series(a: str, b: str, same: bool) -> None:
    assert (series(V(a)) == series(V(b))) is same


def test_series_values() -> None:
    assert series(V("0.3.1")) == (0, 0, 3)
    assert series(V("2.3.0")) == (0, 2)
    assert series(V("1!4.0")) == (1, 4)


# ---------------------------------------------------------------------------- candidates


@pytest.mark.parametrize(
    ("current", "rels", "python", "allow_pre", "expected"),
    [
        ("1.0", releases("0.9", "1.0", "1.1", "2.0"), [], False, ["1.1", "2.0"]),
        ("1.0", releases("1.1", "1.2", yanked=("1.2",)), [], False, ["1.1"]),
        ("1.0", releases("1.1", "1.2rc1", "1.2.dev0"), [], False, ["1.1"]),
        ("1.0", releases("1.1", "1.2rc1"), [], True, ["1.1", "1.2rc1"]),
        ("1.2rc1", releases("1.2rc2", "1.2"), [], False, ["1.2rc2", "1.2"]),
        ("1.0", releases("1.1", "1.2", v1_2=">=3.12"), ["3.11"], False, ["1.1"]),
        ("1.0", releases("1.1", "1.2", v1_2=">=3.12"), ["3.12"], False, ["1.1", "1.2"]),
        ("1.0", releases("1.1", v1_1=">=3.10"), ["3.9", "3.12"], False, []),
        ("1.0", releases("1.1", v1_1=">=3.10"), [], False, ["1.1"]),
        (
            "2.1.0+cu118",
            releases("2.1.0", "2.1.1+cu118", "2.1.1+cu121", "2.2.0", "2.2.0+cu118"),
            [],
            False,
            ["2.1.1+cu118", "2.2.0+cu118"],
        ),
        ("2.1.0", releases("2.1.1+cu118", "2.1.2"), [], False, ["2.1.2"]),
        ("1.0", releases("1.0.post1", "1!0.1"), [], False, ["1.0.post1", "1!0.1"]),
    ],
)
def test_candidates(
    current: str,
    rels: tuple[Release, ...],
    python: list[str],
    allow_pre: bool,
    expected: list[str],
) -> None:
    found = candidates(V(current), rels, [V(p) for p in python], allow_pre)
    assert found == [V(e) for e in expected]


# ---------------------------------------------------------------------------- minor and major


def test_bravo_has_a_minor_and_a_major_update() -> None:
    updates, skipped = classify(
        [lock("requirements.txt", bravo="2.3.0")],
        check(bravo=releases("2.2.0", "2.3.0", "2.3.1", "3.0.0")),
        Config(),
    )
    assert summary(updates) == [
        ("bravo", "2.3.0", "2.3.1", "minor", False),
        ("bravo", "2.3.0", "3.0.0", "major", True),
    ]
    assert skipped == ()
    assert updates[0].lockfiles == ("requirements.txt",)


def test_zero_x_minor_bump_is_major() -> None:
    updates, _ = classify(
        [lock("r.txt", alpha="0.3.1")],
        check(alpha=releases("0.3.1", "0.3.9", "0.4.0")),
        Config(),
    )
    assert summary(updates) == [
        ("alpha", "0.3.1", "0.3.9", "minor", False),
        ("alpha", "0.3.1", "0.4.0", "major", True),
    ]


def test_epoch_change_is_major() -> None:
    updates, _ = classify(
        [lock("r.txt", calver="2023.1")],
        check(calver=releases("2023.2", "1!1.0")),
        Config(),
    )
    assert summary(updates) == [
        ("calver", "2023.1", "2023.2", "minor", False),
        ("calver", "2023.1", "1!1.0", "major", True),
    ]


def test_no_releases_or_nothing_newer_means_no_update() -> None:
    updates, skipped = classify(
        [lock("r.txt", alpha="1.0", bravo="2.0")],
        check(bravo=releases("1.0", "2.0")),
        Config(),
    )
    assert updates == ()
    assert skipped == ()


def test_transitive_pins_and_several_lockfiles() -> None:
    files = [
        lock("requirements/dev.txt", python="3.12", alpha="1.0", idna="3.4"),
        lock("requirements.txt", python="3.9", alpha="1.0", idna="3.6"),
    ]
    updates, _ = classify(
        files,
        check(
            alpha=releases("1.1", "1.2", v1_2=">=3.10"),
            idna=releases("3.4", "3.6", "3.7"),
        ),
        Config(),
    )
    assert [(u.name, str(u.current), str(u.target), u.lockfiles) for u in updates] == [
        # 1.2 does not install on the 3.9 lockfile, and alpha moves in both
        ("alpha", "1.0", "1.1", ("requirements.txt", "requirements/dev.txt")),
        ("idna", "3.4", "3.7", ("requirements/dev.txt",)),
        ("idna", "3.6", "3.7", ("requirements.txt",)),
    ]


@pytest.mark.parametrize("python", [None, "three"])
def test_unknown_python_does_not_filter(python: str | None) -> None:
    updates, _ = classify(
        [lock("uv.txt", python=python, alpha="1.0")],
        check(alpha=releases("1.1", v1_1=">=3.99")),
        Config(),
    )
    assert summary(updates) == [("alpha", "1.0", "1.1", "minor", False)]


def test_local_label_is_kept() -> None:
    updates, _ = classify(
        [lock("r.txt", torch="2.1.0+cu118")],
        check(torch=releases("2.1.2", "2.1.2+cu118", "2.2.0+cu121", "3.0.0+cu118")),
        Config(),
    )
    assert summary(updates) == [
        ("torch", "2.1.0+cu118", "2.1.2+cu118", "minor", False),
        ("torch", "2.1.0+cu118", "3.0.0+cu118", "major", True),
    ]


def test_prereleases_only_when_allowed() -> None:
    rels = check(alpha=releases("1.1", "1.2b1"), bravo=releases("2.1", "3.0a1"))
    files = [lock("r.txt", alpha="1.0", bravo="2.0")]
    plain, _ = classify(files, rels, Config())
    assert [str(u.target) for u in plain] == ["1.1", "2.1"]
    some, _ = classify(files, rels, Config(allow_prereleases=(canonicalize_name("bravo"),)))
    assert [str(u.target) for u in some] == ["1.1", "2.1", "3.0a1"]
    every, _ = classify(files, rels, Config(allow_prereleases=(canonicalize_name("*"),)))
    assert [str(u.target) for u in every] == ["1.2b1", "2.1", "3.0a1"]


def test_ignore_by_name_and_by_specifier() -> None:
    files = [lock("r.txt", alpha="1.0", bravo="2.0")]
    rels = check(alpha=releases("1.1", "2.0"), bravo=releases("2.1", "3.0", "3.1"))
    config = Config(
        ignore=(
            IgnoreRule(canonicalize_name("alpha")),
            IgnoreRule(canonicalize_name("bravo"), SpecifierSet(">=3.1")),
        )
    )
    updates, skipped = classify(files, rels, config)
    assert summary(updates) == [
        ("bravo", "2.0", "2.1", "minor", False),
        ("bravo", "2.0", "3.0", "major", True),
    ]
    assert skipped == ()


def test_packages_the_check_skipped_are_left_out() -> None:
    updates, skipped = classify(
        [lock("r.txt", alpha="1.0")],
        check(
            (advisory("GHSA-1", "alpha", (None, "1.1")),),
            (Skipped("Alpha", "index answered 503"),),
            alpha=releases("1.1"),
        ),
        Config(),
    )
    assert updates == ()
    assert skipped == ()


# ---------------------------------------------------------------------------- security


def test_security_prefers_the_lowest_fix_in_the_current_series() -> None:
    updates, _ = classify(
        [lock("r.txt", alpha="1.2.0")],
        check(
            (advisory("GHSA-a", "alpha", ("1.0", "1.2.3"), ("2.0", "2.0.1")),),
            alpha=releases("1.2.1", "1.2.3", "1.2.4", "1.3.0", "2.0.1"),
        ),
        Config(),
    )
    assert summary(updates) == [
        ("alpha", "1.2.0", "1.2.3", "security", False),
        ("alpha", "1.2.0", "1.3.0", "minor", False),
        ("alpha", "1.2.0", "2.0.1", "major", True),
    ]
    assert [a.id for a in updates[0].advisories] == ["GHSA-a"]


def test_security_fix_only_in_a_newer_series_is_breaking() -> None:
    updates, skipped = classify(
        [lock("r.txt", alpha="1.2.0")],
        check(
            (advisory("GHSA-a", "alpha", (None, "2.0.0")),),
            alpha=releases("1.2.1", "1.9.0", "2.0.0", "2.1.0"),
        ),
        Config(),
    )
    # the in-series releases are all vulnerable, so no minor moves onto them
    assert summary(updates) == [
        ("alpha", "1.2.0", "2.0.0", "security", True),
        ("alpha", "1.2.0", "2.1.0", "major", True),
    ]
    assert skipped == ()


def test_security_target_clears_every_advisory() -> None:
    updates, _ = classify(
        [lock("r.txt", alpha="1.0.0")],
        check(
            (
                advisory("PYSEC-2", "alpha", (None, "1.0.3")),
                advisory("PYSEC-1", "alpha", (None, "1.0.1"), ("1.0.2", "1.0.5")),
            ),
            alpha=releases("1.0.1", "1.0.2", "1.0.3", "1.0.4", "1.0.5"),
        ),
        Config(),
    )
    assert summary(updates) == [("alpha", "1.0.0", "1.0.5", "security", False)]
    assert [a.id for a in updates[0].advisories] == ["PYSEC-1", "PYSEC-2"]


def test_advisory_that_does_not_affect_the_pin_is_ignored() -> None:
    updates, skipped = classify(
        [lock("r.txt", alpha="1.5")],
        check((advisory("GHSA-old", "alpha", (None, "1.4")),), alpha=releases("1.6")),
        Config(),
    )
    assert summary(updates) == [("alpha", "1.5", "1.6", "minor", False)]
    assert skipped == ()


def test_advisory_without_fix_is_reported() -> None:
    updates, skipped = classify(
        [lock("r.txt", alpha="1.0")],
        check((advisory("GHSA-nofix", "alpha", ("0.5", None)),), alpha=releases("1.1")),
        Config(),
    )
    assert summary(updates) == [("alpha", "1.0", "1.1", "minor", False)]
    assert skipped == (Skipped("alpha", "GHSA-nofix affects 1.0 and has no fix"),)


def test_last_affected_counts_as_a_fix() -> None:
    record = Advisory(
        "OSV-1", canonicalize_name("alpha"), ranges=(AffectedRange(last_affected=V("1.0.1")),)
    )
    updates, skipped = classify(
        [lock("r.txt", alpha="1.0.0")], check((record,), alpha=releases("1.0.1", "1.0.2")), Config()
    )
    assert summary(updates) == [("alpha", "1.0.0", "1.0.2", "security", False)]
    assert skipped == ()


def test_fix_not_installable_on_the_target_python_is_skipped() -> None:
    updates, skipped = classify(
        [lock("r.txt", python="3.9", alpha="1.0")],
        check(
            (advisory("GHSA-a", "alpha", (None, "1.2")),),
            alpha=releases("1.1", "1.2", v1_2=">=3.10"),
        ),
        Config(),
    )
    # every candidate left is vulnerable anyway, so the usual minor still flows
    assert summary(updates) == [("alpha", "1.0", "1.1", "minor", False)]
    assert skipped == (
        Skipped(
            "alpha",
            "GHSA-a affects 1.0; no installable release is free of it (fixed in 1.2; Python 3.9)",
        ),
    )


def test_prerelease_fix_needs_a_final_release() -> None:
    advisories = (advisory("GHSA-rc", "alpha", (None, "2.0.0rc1")),)
    files = [lock("r.txt", alpha="1.9.0")]
    only_rc, skipped = classify(files, check(advisories, alpha=releases("2.0.0rc1")), Config())
    assert only_rc == ()
    assert [s.reason.split(";")[0] for s in skipped] == ["GHSA-rc affects 1.9.0"]
    final, _ = classify(files, check(advisories, alpha=releases("2.0.0rc1", "2.0.0")), Config())
    assert summary(final) == [("alpha", "1.9.0", "2.0.0", "security", True)]
    allowed, _ = classify(
        files,
        check(advisories, alpha=releases("2.0.0rc1", "2.0.0")),
        Config(allow_prereleases=(canonicalize_name("alpha"),)),
    )
    assert [(str(u.target), u.kind) for u in allowed] == [
        ("2.0.0rc1", Kind.SECURITY),
        ("2.0.0", Kind.MAJOR),
    ]


def test_ignored_security_update_is_reported() -> None:
    updates, skipped = classify(
        [lock("r.txt", alpha="1.0")],
        check((advisory("GHSA-a", "alpha", (None, "1.1")),), alpha=releases("1.1")),
        Config(ignore=(IgnoreRule(canonicalize_name("alpha")),)),
    )
    assert updates == ()
    assert skipped == (
        Skipped("alpha", "security update to 1.1 (GHSA-a) ignored by configuration"),
    )


def test_security_on_local_label_uses_public_version() -> None:
    updates, _ = classify(
        [lock("r.txt", torch="2.1.0+cu118")],
        check(
            (advisory("GHSA-t", "torch", (None, "2.1.2")),),
            torch=releases("2.1.1+cu118", "2.1.2+cu118", "2.1.2+cpu"),
        ),
        Config(),
    )
    assert summary(updates) == [("torch", "2.1.0+cu118", "2.1.2+cu118", "security", False)]


def test_minor_above_security_must_be_clean() -> None:
    # a regression re-opens the hole in 1.0.4; the minor stops at the latest clean release
    updates, _ = classify(
        [lock("r.txt", alpha="1.0.0")],
        check(
            (advisory("GHSA-a", "alpha", (None, "1.0.2"), ("1.0.4", "1.0.5")),),
            alpha=releases("1.0.1", "1.0.2", "1.0.3", "1.0.4"),
        ),
        Config(),
    )
    assert summary(updates) == [
        ("alpha", "1.0.0", "1.0.2", "security", False),
        ("alpha", "1.0.0", "1.0.3", "minor", False),
    ]


# ---------------------------------------------------------------------------- properties

_segments = st.lists(st.integers(0, 3), min_size=1, max_size=3)
_pre = st.sampled_from(["", "rc1", ".dev0"])
_versions = st.builds(
    lambda epoch, segs, pre: V(f"{epoch}!{'.'.join(map(str, segs))}{pre}"),
    st.sampled_from([0, 0, 0, 1]),
    _segments,
    _pre,
)
_requires = st.sampled_from([None, ">=3.11", "<3.10", ">=3.8"])
_releases = st.lists(
    st.builds(
        lambda v, y, r: Release(v, y, SpecifierSet(r) if r else None),
        _versions,
        st.booleans(),
        _requires,
    ),
    max_size=12,
)
_ranges = st.lists(
    st.builds(
        lambda lo, hi: AffectedRange(lo, hi),
        st.none() | _versions,
        st.none() | _versions,
    ),
    min_size=1,
    max_size=2,
)
_advisories = st.lists(
    st.builds(
        lambda i, r: Advisory(f"ADV-{i}", canonicalize_name("pkg"), ranges=tuple(r)),
        st.integers(0, 5),
        _ranges,
    ),
    max_size=3,
    unique_by=lambda a: a.id,
)


@settings(max_examples=300, deadline=None)
@given(
    current=_versions,
    rels=_releases,
    advisories=_advisories,
    python=st.sampled_from([None, "3.9", "3.12"]),
    allow_pre=st.booleans(),
)
def test_classify_properties(
    current: Version,
    rels: list[Release],
    advisories: list[Advisory],
    python: str | None,
    allow_pre: bool,
) -> None:
    config = Config(allow_prereleases=(canonicalize_name("pkg"),) if allow_pre else ())
    updates, _ = classify(
        [lock("r.txt", python=python, pkg=str(current))],
        check(tuple(advisories), pkg=tuple(rels)),
        config,
    )
    by_version: dict[Version, list[Release]] = {}
    for r in rels:
        by_version.setdefault(r.version, []).append(r)
    kinds = [u.kind for u in updates]
    assert len(kinds) == len(set(kinds))
    for u in updates:
        assert u.target > u.current
        assert u.lockfiles == ("r.txt",)
        offered = by_version[u.target]
        assert any(
            not r.yanked and r.installable_on(V(python) if python else None) for r in offered
        )
        if not (allow_pre or current.is_prerelease):
            assert not u.target.is_prerelease
        if u.kind is Kind.MINOR:
            assert series(u.target) == series(u.current)
            assert not u.breaking
        if u.kind is Kind.MAJOR:
            assert series(u.target) != series(u.current)
            assert u.breaking
        if u.kind is Kind.SECURITY:
            assert u.advisories
            assert all(a.affects(u.current) for a in u.advisories)
            assert not any(a.affects(u.target) for a in u.advisories)
            assert u.breaking == (series(u.target) != series(u.current))
    security = [u for u in updates if u.kind is Kind.SECURITY]
    for other in (u for u in updates if u.kind is not Kind.SECURITY):
        for s in security:
            assert other.target > s.target
            assert not any(a.affects(other.target) for a in s.advisories)


@settings(max_examples=200, deadline=None)
@given(current=_versions, rels=_releases)
def test_minor_and_major_are_the_latest_candidates(current: Version, rels: list[Release]) -> None:
    updates, _ = classify([lock("r.txt", pkg=str(current))], check(pkg=tuple(rels)), Config())
    pool = candidates(current, rels, [V("3.11")], allow_pre=False)
    in_series = [v for v in pool if series(v) == series(current)]
    expected = []
    if in_series:
        expected.append((Kind.MINOR, in_series[-1]))
    if pool and series(pool[-1]) != series(current):
        expected.append((Kind.MAJOR, pool[-1]))
    assert [(u.kind, u.target) for u in updates] == expected
