"""The ``github`` source: the repository's open Dependabot alerts for pip (SPEC §4).

``GET /repos/{owner}/{repo}/dependabot/alerts?state=open&ecosystem=pip``, cursor-paginated,
through the one GitHub API module. Each alert becomes the same advisory value an OSV record
gives: the GHSA id, its CVE and other identifiers as aliases, the vulnerable range as an
affected range, the first patched version as its fix. A 403 (alerts turned off, or a token
that may not read them) is a source failure, never "no vulnerabilities".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from packaging.specifiers import InvalidSpecifier, Specifier
from packaging.version import Version

from depbot.advisories.interface import (
    AdvisorySource,
    AdvisorySourceError,
    one_line,
    version_or_none,
)
from depbot.github_api import ApiBudget, GitHubClient, GitHubSettings
from depbot.models import Advisory, AffectedRange, Lockfile, NormalizedName, canonicalize_name

__all__ = ["GitHubAlertsSource", "advisory_from_alert", "parse_range"]


class GitHubAlertsSource(AdvisorySource):
    """Open Dependabot alerts of the repository named by ``settings`` (None: not configured,
    which ``advisories`` reports as a failure naming what is missing)."""

    spec = "github"

    def __init__(
        self,
        settings: GitHubSettings | None,
        *,
        budget: ApiBudget | None = None,
        throttle: bool = True,
        retries: int = 6,
    ) -> None:
        self.settings = settings
        self._budget = budget
        self._throttle = throttle
        self._retries = retries

    def advisories(self, lockfiles: Sequence[Lockfile]) -> list[Advisory]:
        if self.settings is None:
            raise AdvisorySourceError(
                "github: needs GITHUB_TOKEN (or DEPBOT_GITHUB_TOKEN) and the repository"
                " (GITHUB_REPOSITORY, or an origin remote on a GitHub host)"
            )
        client = GitHubClient(
            self.settings, budget=self._budget, throttle=self._throttle, retries=self._retries
        )
        repo = client.repo
        alerts = client.call(
            "list Dependabot alerts (needs alerts enabled and a token allowed to read them)",
            lambda: [a.raw_data for a in repo.get_dependabot_alerts(state="open", ecosystem="pip")],
            AdvisorySourceError,
        )
        pinned: set[NormalizedName] = {p.name for lock in lockfiles for p in lock.pins}
        found: dict[tuple[str, str], Advisory] = {}
        for raw in alerts:
            advisory = advisory_from_alert(raw, self.spec)
            if advisory is not None and advisory.package in pinned:
                # one advisory may raise several alerts (one per manifest): keep one
                found.setdefault((advisory.id, advisory.package), advisory)
        return [found[key] for key in sorted(found)]


def advisory_from_alert(alert: Mapping[str, Any], source: str = "github") -> Advisory | None:
    """The advisory of one alert; None for another ecosystem, a withdrawn advisory, or an
    alert without an id or package. Raises AdvisorySourceError for a range it cannot read."""
    advisory = _mapping(alert.get("security_advisory"))
    vulnerability = _mapping(alert.get("security_vulnerability"))
    package = _mapping(vulnerability.get("package")) or _mapping(
        _mapping(alert.get("dependency")).get("package")
    )
    ghsa = advisory.get("ghsa_id")
    name = package.get("name")
    if package.get("ecosystem") != "pip" or advisory.get("withdrawn_at"):
        return None
    if not isinstance(ghsa, str) or not ghsa or not isinstance(name, str) or not name:
        return None
    aliases = {
        str(i.get("value"))
        for i in advisory.get("identifiers") or []
        if isinstance(i, Mapping) and i.get("value")
    }
    if isinstance(advisory.get("cve_id"), str) and advisory["cve_id"]:
        aliases.add(advisory["cve_id"])
    aliases.discard(ghsa)
    patched = version_or_none(
        _mapping(vulnerability.get("first_patched_version")).get("identifier")
    )
    raw_range = vulnerability.get("vulnerable_version_range")
    affected = parse_range(raw_range if isinstance(raw_range, str) else "", patched, ghsa)
    return Advisory(
        id=ghsa,
        package=canonicalize_name(name),
        aliases=frozenset(aliases),
        ranges=(affected,),
        summary=one_line(advisory.get("summary")),
        source=source,
    )


def parse_range(text: str, patched: Version | None, ghsa: str = "") -> AffectedRange:
    """GHSA's ``>= 2.0.0, < 2.0.2`` (or ``= 1.2``, ``<= 1.4``) as an affected range; the first
    patched version, when given, is the fix. ``> x`` is read as from ``x`` on (conservative)."""
    introduced = fixed = last = None
    exact: Version | None = None
    for clause in (c.strip() for c in text.split(",") if c.strip()):
        if clause.startswith("=") and not clause.startswith("=="):
            clause = "=" + clause  # GHSA's single "=" is "==" in PEP 440
        try:
            spec = Specifier(clause.replace(" ", ""))
        except InvalidSpecifier:
            raise AdvisorySourceError(
                f"github: alert {ghsa} has a vulnerable range depbot cannot read: {text!r}"
            ) from None
        version = Version(spec.version)
        if spec.operator in (">=", ">"):
            introduced = version
        elif spec.operator == "<":
            fixed = version
        elif spec.operator == "<=":
            last = version
        elif spec.operator == "==":
            exact = version
    if exact is not None:
        return AffectedRange(introduced=exact, last_affected=exact)
    if patched is not None:
        return AffectedRange(introduced=introduced, fixed=patched)
    return AffectedRange(introduced=introduced, fixed=fixed, last_affected=last)


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
