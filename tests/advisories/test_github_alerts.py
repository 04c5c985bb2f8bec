"""The github source against the fake GitHub API, with alerts in GitHub's shape."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import PurePosixPath

import pytest
from packaging.version import Version

from depbot.advisories.github import GitHubAlertsSource, advisory_from_alert, parse_range
from depbot.advisories.interface import AdvisorySourceError
from depbot.advisories.merge import merge
from depbot.github_api import ApiBudget, GitHubSettings, Secret
from depbot.models import Advisory, AffectedRange, Lockfile, LockHeader, Pin, canonicalize_name
from tests.support.fake_github import FakeGitHub, alert

TOKEN = "ghs_alertsTOKEN"


def lockfile(pins: dict[str, str]) -> Lockfile:
    return Lockfile(
        PurePosixPath("requirements.txt"),
        LockHeader("pip-compile", "3.11", ()),
        tuple(
            Pin(canonicalize_name(n), Version(v), i + 1) for i, (n, v) in enumerate(pins.items())
        ),
    )


@pytest.fixture
def api() -> Iterator[FakeGitHub]:
    with FakeGitHub("octo/proj", token=TOKEN) as fake:
        yield fake


def source(api: FakeGitHub) -> GitHubAlertsSource:
    settings = GitHubSettings(Secret(TOKEN), "octo/proj", api.api, api.web, True)
    return GitHubAlertsSource(settings, throttle=False, budget=ApiBudget(5, sleep=lambda _: None))


def test_open_pip_alerts_become_advisories_across_pages(api: FakeGitHub) -> None:
    api.add_alert(
        alert("Requests", "GHSA-9wx4-h78v-vm56", "< 2.32.0", "2.32.0", cve="CVE-2024-35195")
    )
    api.add_alert(alert("jinja2", "GHSA-h5c8-rqwp-cp95", ">= 3.0.0, < 3.1.3", "3.1.3"))
    api.add_alert(alert("jinja2", "GHSA-h5c8-rqwp-cp95", ">= 3.0.0, < 3.1.3", "3.1.3"))
    api.add_alert(alert("lodash", "GHSA-js-only", "< 4.17.21", "4.17.21", ecosystem="npm"))
    api.add_alert(alert("idna", "GHSA-fixed-one", "< 3.7", "3.7", state="fixed"))
    api.add_alert(alert("notpinned", "GHSA-other", "< 1.0", "1.0"))
    api.add_alert(alert("urllib3", "GHSA-nofix", "<= 2.2.1", None))
    api.page_size_cap = 2

    found = source(api).advisories(
        [lockfile({"requests": "2.31.0", "jinja2": "3.1.2", "idna": "3.6", "urllib3": "2.2.1"})]
    )

    assert [(a.id, a.package) for a in found] == [
        ("GHSA-9wx4-h78v-vm56", "requests"),
        ("GHSA-h5c8-rqwp-cp95", "jinja2"),
        ("GHSA-nofix", "urllib3"),
    ]
    requests_, jinja, urllib = found
    assert requests_.aliases == {"CVE-2024-35195"} and requests_.fixed == (Version("2.32.0"),)
    assert requests_.affects(Version("2.31.0")) and not requests_.affects(Version("2.32.0"))
    assert jinja.ranges == (AffectedRange(Version("3.0.0"), Version("3.1.3")),)
    assert not jinja.affects(Version("2.11.3"))
    assert urllib.fixed == () and urllib.affects(Version("2.2.1"))
    assert not urllib.affects(Version("2.2.2"))
    assert all(a.source == "github" and a.summary for a in found)
    pages = [r for r in api.requests if r.path.endswith("/dependabot/alerts")]
    assert len(pages) == 3 and "after" in pages[1].query
    assert all(r.query.get("state") == "open" and r.query.get("ecosystem") == "pip" for r in pages)


def test_alerts_merge_with_an_osv_record_by_alias(api: FakeGitHub) -> None:
    api.add_alert(alert("requests", "GHSA-9wx4-h78v-vm56", "< 2.32.0", "2.32.0", cve="CVE-1"))
    from_github = source(api).advisories([lockfile({"requests": "2.31.0"})])
    osv = Advisory(
        "PYSEC-2024-1",
        canonicalize_name("requests"),
        aliases=frozenset({"CVE-1"}),
        ranges=(AffectedRange(None, Version("2.32.0")),),
    )

    merged = merge([*from_github, osv])

    assert len(merged) == 1


def test_disabled_alerts_are_a_loud_failure(api: FakeGitHub) -> None:
    api.alerts_enabled = False
    with pytest.raises(AdvisorySourceError, match=r"403 Dependabot alerts are disabled") as err:
        source(api).advisories([lockfile({"requests": "2.31.0"})])
    assert "list Dependabot alerts" in str(err.value) and TOKEN not in str(err.value)


def test_a_bad_token_is_a_failure_too(api: FakeGitHub) -> None:
    api.token = "rotated"
    with pytest.raises(AdvisorySourceError, match="401 Bad credentials"):
        source(api).advisories([lockfile({"requests": "2.31.0"})])


@pytest.mark.parametrize(
    ("text", "patched", "expected"),
    [
        ("< 2.0", None, AffectedRange(None, Version("2.0"))),
        (">= 1.0, < 2.0", Version("1.9.1"), AffectedRange(Version("1.0"), Version("1.9.1"))),
        ("<= 1.4", None, AffectedRange(None, None, Version("1.4"))),
        ("= 1.2.3", None, AffectedRange(Version("1.2.3"), None, Version("1.2.3"))),
        ("> 1.0, <= 1.5", Version("1.6"), AffectedRange(Version("1.0"), Version("1.6"))),
    ],
)
def test_parse_range(text: str, patched: Version | None, expected: AffectedRange) -> None:
    assert parse_range(text, patched) == expected


def test_an_unreadable_range_is_an_error_and_odd_alerts_are_skipped() -> None:
    with pytest.raises(AdvisorySourceError, match="cannot read"):
        parse_range("~> 1.0", None, "GHSA-x")
    withdrawn = alert("requests", "GHSA-w", "< 2", "2")
    withdrawn["security_advisory"]["withdrawn_at"] = "2026-01-02T00:00:00Z"
    assert advisory_from_alert(withdrawn) is None
    nameless = alert("requests", "", "< 2", "2")
    assert advisory_from_alert(nameless) is None
