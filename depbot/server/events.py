"""GitHub's security webhook payloads, parsed into one value (SPEC §8).

Three events announce an advisory that touches a repository, in GitHub's documented shapes:

- ``dependabot_alert`` (actions ``created``, ``reopened``, ``reintroduced``): one package under
  ``alert.dependency.package``, handled when its ``ecosystem`` is ``"pip"``; the advisory under
  ``alert.security_advisory``, the fix under ``alert.security_vulnerability``.
- ``repository_vulnerability_alert`` (action ``create``): the older, flat alert:
  ``alert.affected_package_name``, ``alert.fixed_in``, ``alert.ghsa_id`` and
  ``alert.external_identifier`` (a CVE); it names no ecosystem.
- ``security_advisory`` (actions ``published``, ``updated``): a global advisory, its packages in
  ``security_advisory.vulnerabilities[]``, handled for those whose ecosystem is ``"pip"``; it
  usually names no repository.

Everything that reaches a log line, a URL or a dispatch payload is validated here: package
names (PEP 508), versions (PEP 440), advisory ids, the repository's full name, the delivery id.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from packaging.utils import InvalidName, NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from depbot.errors import InputError

__all__ = [
    "HANDLED",
    "AdvisoryEvent",
    "Ignored",
    "PayloadError",
    "parse_event",
    "valid_delivery",
]

HANDLED: Mapping[str, frozenset[str]] = {
    "dependabot_alert": frozenset({"created", "reopened", "reintroduced"}),
    "repository_vulnerability_alert": frozenset({"create"}),
    "security_advisory": frozenset({"published", "updated"}),
}
"""The events and actions that start a security run."""

PIP = "pip"
"""GitHub's name of the Python ecosystem in advisories and alerts."""

_GHSA = re.compile(r"GHSA(-[0-9a-z]{4}){3}", re.IGNORECASE)
_CVE = re.compile(r"CVE-\d{4}-\d{4,19}", re.IGNORECASE)
_REPOSITORY = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}")
_DELIVERY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


class PayloadError(InputError):
    """The body is not JSON, or a field the event needs is missing or malformed (HTTP 400)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        """The dotted path of the offending field (``alert.dependency.package.name``)."""


@dataclass(frozen=True)
class Ignored:
    """A well-formed delivery that starts no run; ``reason`` is what the webhook answers."""

    reason: str


@dataclass(frozen=True)
class AdvisoryEvent:
    """One accepted delivery: which packages of which repository an advisory touches."""

    delivery: str
    """``X-GitHub-Delivery``: unique per delivery, repeated when GitHub redelivers."""
    event: str
    """``X-GitHub-Event``: one of :data:`HANDLED`."""
    action: str
    repository: str | None
    """``owner/name`` from the payload's ``repository.full_name``; None when it names none."""
    packages: tuple[NormalizedName, ...]
    """The affected pip packages, sorted, without repeats."""
    advisory_id: str
    """The GHSA id (a CVE id for an old alert that carries no GHSA id)."""
    aliases: tuple[str, ...]
    """The advisory's CVE ids, sorted."""
    patched: tuple[tuple[NormalizedName, str], ...]
    """(package, first patched version) for every fix the payload names, sorted."""

    def to_json(self) -> str:
        return json.dumps(
            {
                "delivery": self.delivery,
                "event": self.event,
                "action": self.action,
                "repository": self.repository,
                "packages": list(self.packages),
                "advisory_id": self.advisory_id,
                "aliases": list(self.aliases),
                "patched": [list(p) for p in self.patched],
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> AdvisoryEvent:
        """The inverse of :meth:`to_json` (for rows this module wrote)."""
        doc = json.loads(text)
        return cls(
            delivery=doc["delivery"],
            event=doc["event"],
            action=doc["action"],
            repository=doc["repository"],
            packages=tuple(NormalizedName(p) for p in doc["packages"]),
            advisory_id=doc["advisory_id"],
            aliases=tuple(doc["aliases"]),
            patched=tuple((NormalizedName(n), v) for n, v in doc["patched"]),
        )


def valid_delivery(delivery: str) -> bool:
    """Whether ``delivery`` looks like a delivery id (GitHub sends a GUID)."""
    return _DELIVERY.fullmatch(delivery) is not None


def parse_event(event: str, delivery: str, body: bytes) -> AdvisoryEvent | Ignored:
    """The advisory ``body`` announces, or why it is ignored; PayloadError when it is malformed.

    ``body`` must already be authenticated: it is parsed here.
    """
    if not valid_delivery(delivery):
        raise PayloadError("X-GitHub-Delivery", "not a delivery id")
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise PayloadError("body", "not a JSON document") from None
    if not isinstance(payload, dict):
        raise PayloadError("body", "not a JSON object")
    if event == "ping":
        return Ignored("ping")
    actions = HANDLED.get(event)
    if actions is None:
        return Ignored("other event")
    action = _str(payload, "action")
    if action not in actions:
        return Ignored("other action")
    if event == "dependabot_alert":
        return _dependabot_alert(delivery, action, payload)
    if event == "repository_vulnerability_alert":
        return _vulnerability_alert(delivery, action, payload)
    return _security_advisory(delivery, action, payload)


def _dependabot_alert(
    delivery: str, action: str, payload: dict[str, Any]
) -> AdvisoryEvent | Ignored:
    package = _obj(payload, "alert.dependency.package")
    if _str(package, "ecosystem", "alert.dependency.package.") != PIP:
        return Ignored("other ecosystem")
    name = _name(package, "alert.dependency.package.")
    advisory = _obj(payload, "alert.security_advisory")
    ghsa = _ghsa(advisory, "alert.security_advisory.")
    aliases = _cves(advisory, "alert.security_advisory.")
    cve = _optional_str(advisory, "cve_id", "alert.security_advisory.")
    if cve is not None:
        aliases.add(_match(_CVE, cve, "alert.security_advisory.cve_id").upper())
    vulnerability = _obj(payload, "alert.security_vulnerability")
    fixed = _patched(vulnerability, "alert.security_vulnerability.")
    return AdvisoryEvent(
        delivery=delivery,
        event="dependabot_alert",
        action=action,
        repository=_repository(payload, required=True),
        packages=(name,),
        advisory_id=ghsa,
        aliases=tuple(sorted(aliases)),
        patched=((name, fixed),) if fixed else (),
    )


def _vulnerability_alert(delivery: str, action: str, payload: dict[str, Any]) -> AdvisoryEvent:
    alert = _obj(payload, "alert")
    name = _name(alert, "alert.", key="affected_package_name")
    aliases = set()
    external = _optional_str(alert, "external_identifier", "alert.")
    if external is not None and _CVE.fullmatch(external):
        aliases.add(external.upper())
    ghsa_text = _optional_str(alert, "ghsa_id", "alert.")
    if ghsa_text is not None:
        advisory_id = _match(_GHSA, ghsa_text, "alert.ghsa_id")
    elif aliases:
        advisory_id = min(aliases)
    else:
        raise PayloadError("alert.ghsa_id", "missing (and no CVE in alert.external_identifier)")
    fixed = _optional_str(alert, "fixed_in", "alert.")
    return AdvisoryEvent(
        delivery=delivery,
        event="repository_vulnerability_alert",
        action=action,
        repository=_repository(payload, required=True),
        packages=(name,),
        advisory_id=advisory_id,
        aliases=tuple(sorted(aliases - {advisory_id})),
        patched=((name, _version(fixed, "alert.fixed_in")),) if fixed else (),
    )


def _security_advisory(
    delivery: str, action: str, payload: dict[str, Any]
) -> AdvisoryEvent | Ignored:
    advisory = _obj(payload, "security_advisory")
    if advisory.get("withdrawn_at") is not None:
        return Ignored("withdrawn")
    vulnerabilities = advisory.get("vulnerabilities")
    if not isinstance(vulnerabilities, list):
        raise PayloadError("security_advisory.vulnerabilities", "missing or not a list")
    names: set[NormalizedName] = set()
    patched: set[tuple[NormalizedName, str]] = set()
    for i, vulnerability in enumerate(vulnerabilities):
        where = f"security_advisory.vulnerabilities[{i}]."
        if not isinstance(vulnerability, dict):
            raise PayloadError(where.rstrip("."), "not an object")
        package = _obj(vulnerability, "package", where)
        if _str(package, "ecosystem", f"{where}package.") != PIP:
            continue
        name = _name(package, f"{where}package.")
        names.add(name)
        fixed = _patched(vulnerability, where)
        if fixed:
            patched.add((name, fixed))
    if not names:
        return Ignored("other ecosystem")
    return AdvisoryEvent(
        delivery=delivery,
        event="security_advisory",
        action=action,
        repository=_repository(payload, required=False),
        packages=tuple(sorted(names)),
        advisory_id=_ghsa(advisory, "security_advisory."),
        aliases=tuple(sorted(_cves(advisory, "security_advisory."))),
        patched=tuple(sorted(patched)),
    )


# ---------------------------------------------------------------------------- fields


def _obj(parent: dict[str, Any], path: str, prefix: str = "") -> dict[str, Any]:
    node: Any = parent
    walked = prefix
    for key in path.split("."):
        walked += key
        node = node.get(key) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            raise PayloadError(walked, "missing or not an object")
        walked += "."
    result: dict[str, Any] = node
    return result


def _str(parent: dict[str, Any], key: str, prefix: str = "") -> str:
    value = parent.get(key)
    if not isinstance(value, str) or not value:
        raise PayloadError(prefix + key, "missing or not a string")
    return value


def _optional_str(parent: dict[str, Any], key: str, prefix: str) -> str | None:
    value = parent.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise PayloadError(prefix + key, "not a string")
    return value


def _match(pattern: re.Pattern[str], value: str, field: str) -> str:
    if not pattern.fullmatch(value):
        raise PayloadError(field, "malformed")
    return value


def _name(parent: dict[str, Any], prefix: str, key: str = "name") -> NormalizedName:
    text = _str(parent, key, prefix)
    try:
        return canonicalize_name(text, validate=True)
    except InvalidName:
        raise PayloadError(prefix + key, "not a valid package name") from None


def _version(text: str, field: str) -> str:
    try:
        return str(Version(text))
    except InvalidVersion:
        raise PayloadError(field, "not a valid version") from None


def _patched(vulnerability: dict[str, Any], prefix: str) -> str | None:
    first = vulnerability.get("first_patched_version")
    if first is None:
        return None  # no fix yet: the run reports the advisory without one
    if not isinstance(first, dict):
        raise PayloadError(prefix + "first_patched_version", "not an object")
    text = _str(first, "identifier", prefix + "first_patched_version.")
    return _version(text, prefix + "first_patched_version.identifier")


def _ghsa(advisory: dict[str, Any], prefix: str) -> str:
    return _match(_GHSA, _str(advisory, "ghsa_id", prefix), prefix + "ghsa_id")


def _cves(advisory: dict[str, Any], prefix: str) -> set[str]:
    identifiers = advisory.get("identifiers", [])
    if not isinstance(identifiers, list):
        raise PayloadError(prefix + "identifiers", "not a list")
    found = set()
    for i, ident in enumerate(identifiers):
        if not isinstance(ident, dict):
            raise PayloadError(f"{prefix}identifiers[{i}]", "not an object")
        if ident.get("type") == "CVE":
            value = _str(ident, "value", f"{prefix}identifiers[{i}].")
            found.add(_match(_CVE, value, f"{prefix}identifiers[{i}].value").upper())
    return found


def _repository(payload: dict[str, Any], *, required: bool) -> str | None:
    if not required and "repository" not in payload:
        return None
    repository = _obj(payload, "repository")
    return _match(_REPOSITORY, _str(repository, "full_name", "repository."), "repository.full_name")
