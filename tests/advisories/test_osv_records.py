"""parse_osv: OSV ranges evaluated exactly, cross-checked against the OSV pseudocode."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from packaging.version import Version

from depbot.advisories.osv_records import OSVRecordError, parse_osv
from depbot.models import AffectedRange
from tests.support.osv_server import vulnerable


def record(*events: dict[str, str], **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "PYSEC-0000-1",
        "aliases": ["CVE-0000-1"],
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": "Demo_Pkg"},
                "ranges": [{"type": "ECOSYSTEM", "events": list(events)}],
            }
        ],
    }
    base.update(extra)
    return base


def only(rec: dict[str, Any]) -> Any:
    (advisory,) = parse_osv(rec, "osv-dir:x")
    return advisory


V = Version


@pytest.mark.parametrize(
    ("events", "ranges"),
    [
        ([{"introduced": "0"}, {"fixed": "2.0"}], [AffectedRange(None, V("2.0"))]),
        ([{"introduced": "1.0"}], [AffectedRange(V("1.0"))]),
        (
            [{"introduced": "0"}, {"last_affected": "1.4"}],
            [AffectedRange(None, last_affected=V("1.4"))],
        ),
        (
            [{"introduced": "1.0"}, {"fixed": "1.5"}, {"introduced": "2.0"}, {"fixed": "2.3"}],
            [AffectedRange(V("1.0"), V("1.5")), AffectedRange(V("2.0"), V("2.3"))],
        ),
        # events out of order are sorted first, as OSV evaluates them
        (
            [{"fixed": "2.3"}, {"introduced": "2.0"}, {"fixed": "1.5"}, {"introduced": "1.0"}],
            [AffectedRange(V("1.0"), V("1.5")), AffectedRange(V("2.0"), V("2.3"))],
        ),
        # the last introduced is never closed: affected up to infinity
        (
            [{"introduced": "0"}, {"fixed": "1.0"}, {"introduced": "3.0"}],
            [AffectedRange(None, V("1.0")), AffectedRange(V("3.0"))],
        ),
        ([{"introduced": "0"}, {"limit": "*"}], [AffectedRange()]),
        ([{"introduced": "0"}, {"fixed": "0.24.dev0"}], [AffectedRange(None, V("0.24.dev0"))]),
    ],
)
def test_event_walks(events: list[dict[str, str]], ranges: list[AffectedRange]) -> None:
    assert list(only(record(*events)).ranges) == ranges


def test_fix_that_is_a_prerelease_clears_the_final_release() -> None:
    advisory = only(record({"introduced": "0"}, {"fixed": "0.24.dev0"}))
    assert advisory.affects(V("0.23.2"))
    assert not advisory.affects(V("0.24.0rc1"))
    assert not advisory.affects(V("0.24.2"))
    assert advisory.fixed == (V("0.24.dev0"),)


def test_last_affected_is_inclusive() -> None:
    advisory = only(record({"introduced": "1.0"}, {"last_affected": "1.4"}))
    assert [advisory.affects(V(v)) for v in ("0.9", "1.0", "1.4", "1.4.1")] == [
        False,
        True,
        True,
        False,
    ]
    assert advisory.fixed == ()


def test_fields_and_name_normalisation() -> None:
    rec = record({"introduced": "0"}, {"fixed": "1.0"}, summary="  short\n text ")
    advisory = only(rec)
    assert advisory.package == "demo-pkg"
    assert advisory.id == "PYSEC-0000-1"
    assert advisory.aliases == {"CVE-0000-1"}
    assert advisory.summary == "short text"
    assert advisory.source == "osv-dir:x"


def test_summary_falls_back_to_details() -> None:
    advisory = only(record({"introduced": "0"}, details="Line one\nline two."))
    assert advisory.summary == "Line one line two."


def test_git_and_semver_ranges_and_other_ecosystems_are_ignored() -> None:
    rec: dict[str, Any] = {
        "id": "GHSA-aaaa-bbbb-cccc",
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": "demo"},
                "ranges": [
                    {"type": "GIT", "repo": "r", "events": [{"introduced": "0"}, {"fixed": "ab"}]},
                    {"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.0.0"}]},
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.1"}]},
                ],
            },
            {"package": {"ecosystem": "npm", "name": "demo"}, "versions": ["1.0.0"]},
        ],
    }
    (advisory,) = parse_osv(rec, "osv")
    assert advisory.ranges == (AffectedRange(None, V("1.1")),)


def test_one_advisory_per_package_and_entries_of_one_package_join() -> None:
    rec: dict[str, Any] = {
        "id": "GHSA-xxxx-yyyy-zzzz",
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": "alpha"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1"}]}],
            },
            {
                "package": {"ecosystem": "PyPI", "name": "Alpha"},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "2.0"}, {"fixed": "2.1"}]}
                ],
            },
            {"package": {"ecosystem": "PyPI", "name": "beta"}, "versions": ["0.1", "not a v"]},
        ],
    }
    by_name = {a.package: a for a in parse_osv(rec, "osv")}
    assert set(by_name) == {"alpha", "beta"}
    assert by_name["alpha"].fixed == (V("1"), V("2.1"))
    assert by_name["alpha"].affects(V("2.0.5")) and not by_name["alpha"].affects(V("1.5"))
    # an invalid string in `versions` is skipped, the valid one kept
    assert by_name["beta"].versions == {V("0.1")}
    assert by_name["beta"].affects(V("0.1")) and not by_name["beta"].affects(V("0.2"))


@pytest.mark.parametrize("withdrawn", ["2024-01-01T00:00:00Z"])
def test_withdrawn_record_gives_nothing(withdrawn: str) -> None:
    assert parse_osv(record({"introduced": "0"}, withdrawn=withdrawn), "osv") == []


def test_empty_withdrawn_field_is_not_withdrawn() -> None:
    assert len(parse_osv(record({"introduced": "0"}, withdrawn=""), "osv")) == 1


@pytest.mark.parametrize(
    ("rec", "message"),
    [
        (record({"introduced": "0"}, {"fixed": "not-a-version"}), "PYSEC-0000-1"),
        (record({"introduced": "1.x"}), "not a PEP 440 version"),
        (record({"fixed": "1.0"}), "without an 'introduced'"),
        (record({"introduced": "0", "fixed": "1"}), "exactly one key"),
        (record({"introduced": 1.5}), "version string"),
        (record({"introduced": "0"}, schema_version="2.0.0"), "schema_version"),
        ({"affected": []}, "no 'id'"),
        ({"id": "X-1", "affected": {"package": {}}}, "must be a list"),
        ({"id": "X-1", "aliases": "CVE-1"}, "aliases"),
    ],
)
def test_malformed_records_raise_naming_the_record(rec: dict[str, Any], message: str) -> None:
    with pytest.raises(OSVRecordError, match=message):
        parse_osv(rec, "osv")


# ------------------------------------------------------- property: matches OSV's pseudocode

_versions = st.sampled_from(
    ["0.1", "0.9", "1.0", "1.0.1", "1.5rc1", "1.5", "2.0", "2.0.post1", "3"]
)
_event = st.tuples(st.sampled_from(["introduced", "fixed", "last_affected", "limit"]), _versions)


@given(
    first=st.one_of(st.just("0"), _versions),
    events=st.lists(_event, max_size=6),
    probe=_versions,
)
def test_affects_agrees_with_the_osv_pseudocode(
    first: str, events: list[tuple[str, str]], probe: str
) -> None:
    # one range may not mix fixed and last_affected (OSV schema); keep the first kind used
    closing = next((k for k, _ in events if k in ("fixed", "last_affected")), "fixed")
    evs = [{"introduced": first}] + [
        {k: v} for k, v in events if k in ("introduced", "limit", closing)
    ]
    rec = record(*evs)
    (advisory,) = parse_osv(rec, "osv")
    assert advisory.affects(V(probe)) == vulnerable(rec, "demo-pkg", probe)
