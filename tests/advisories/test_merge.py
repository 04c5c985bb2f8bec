"""merge: de-duplication by id and aliases, with literal tables and a hypothesis property."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from packaging.version import Version

from depbot.advisories.merge import merge, preferred_id
from depbot.models import Advisory, AffectedRange, canonicalize_name

V = Version


def adv(
    id: str,
    *aliases: str,
    package: str = "demo",
    source: str = "osv",
    ranges: tuple[AffectedRange, ...] = (),
    summary: str = "",
) -> Advisory:
    return Advisory(
        id=id,
        package=canonicalize_name(package),
        aliases=frozenset(aliases),
        ranges=ranges,
        source=source,
        summary=summary,
    )


def test_preferred_id_order() -> None:
    assert preferred_id(["CVE-2020-1", "GHSA-aaaa", "PYSEC-2020-9", "OSV-1"]) == "PYSEC-2020-9"
    assert preferred_id(["CVE-2020-1", "GHSA-bbbb", "GHSA-aaaa"]) == "GHSA-aaaa"
    assert preferred_id(["CVE-2020-2", "CVE-2020-1", "pyup.io-1"]) == "CVE-2020-1"
    assert preferred_id(["pyup.io-2", "MAL-1"]) == "MAL-1"


def test_same_vulnerability_from_three_sources_becomes_one() -> None:
    osv_ranges = (AffectedRange(V("2.0"), V("2.3")), AffectedRange(V("1.0"), V("1.9")))
    merged = merge(
        [
            adv("GHSA-x84v", "CVE-2018-18074", source="pip-audit", ranges=(AffectedRange(),)),
            adv("PYSEC-2018-28", "CVE-2018-18074", source="osv-dir:x", ranges=osv_ranges),
            adv("pyup.io-1", "CVE-2018-18074", source="safety", summary="from safety"),
        ]
    )
    (one,) = merged
    assert one.id == "PYSEC-2018-28"
    assert one.aliases == {"CVE-2018-18074", "GHSA-x84v", "pyup.io-1"}
    assert one.ranges == osv_ranges
    assert one.source == "osv-dir:x"
    assert one.summary == "from safety"  # the richest record had none


def test_aliases_join_transitively() -> None:
    merged = merge([adv("A-1", "B-1"), adv("C-1", "D-1"), adv("B-1", "C-1"), adv("E-1")])
    assert [(a.id, sorted(a.aliases)) for a in merged] == [
        ("A-1", ["B-1", "C-1", "D-1"]),
        ("E-1", []),
    ]


def test_packages_never_merge() -> None:
    merged = merge([adv("CVE-1", package="jinja2"), adv("CVE-1", package="MarkupSafe")])
    assert [(a.package, a.id) for a in merged] == [("jinja2", "CVE-1"), ("markupsafe", "CVE-1")]


def test_pip_audit_inference_loses_to_any_osv_ranges() -> None:
    inferred = adv(
        "PYSEC-1", source="pip-audit", ranges=(AffectedRange(), AffectedRange(V("1"), V("2")))
    )
    published = adv("CVE-1", "PYSEC-1", source="osv", ranges=(AffectedRange(None, V("1.5")),))
    (one,) = merge([inferred, published])
    assert one.ranges == published.ranges and one.id == "PYSEC-1"


def test_empty() -> None:
    assert merge([]) == ()


# ---------------------------------------------------------------- properties

_names = st.sampled_from(["PYSEC-1", "PYSEC-2", "GHSA-a", "GHSA-b", "CVE-1", "CVE-2", "X-1"])
_advisory = st.builds(
    lambda id, aliases, package, source, fix: adv(
        id,
        *aliases,
        package=package,
        source=source,
        ranges=(AffectedRange(None, V(fix)),) if fix else (),
    ),
    _names,
    st.frozensets(_names, max_size=2),
    st.sampled_from(["alpha", "beta"]),
    st.sampled_from(["osv", "osv-dir:x", "pip-audit", "safety"]),
    st.sampled_from(["", "1.0", "2.0"]),
)


@given(st.lists(_advisory, max_size=8), st.randoms())
def test_merge_is_idempotent_and_order_independent(items: list[Advisory], rnd: object) -> None:
    once = merge(items)
    assert merge(once) == once
    shuffled = list(items)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert merge(shuffled) == once
    # no name is lost, and within a package no name is in two merged advisories
    for package in {a.package for a in items}:
        before = set().union(*(a.names for a in items if a.package == package))
        groups = [a.names for a in once if a.package == package]
        assert set().union(*groups) == before
        assert sum(len(g) for g in groups) == len(before)
