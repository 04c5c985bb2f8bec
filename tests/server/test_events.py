"""GitHub's security payloads, in their documented shapes, into one value (SPEC §8)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from depbot.server.events import AdvisoryEvent, Ignored, PayloadError, parse_event
from tests.support.serve import fixture

DELIVERY = "72d3162e-cc78-11e3-81ab-4c9367dc0958"


def parse(event: str, payload: object, delivery: str = DELIVERY) -> AdvisoryEvent | Ignored:
    return parse_event(event, delivery, json.dumps(payload).encode())


def accepted(event: str, payload: object) -> AdvisoryEvent:
    result = parse(event, payload)
    assert isinstance(result, AdvisoryEvent), result
    return result


def test_a_dependabot_alert_for_a_pip_package() -> None:
    event = accepted("dependabot_alert", fixture("dependabot_alert.created"))
    assert event == AdvisoryEvent(
        delivery=DELIVERY,
        event="dependabot_alert",
        action="created",
        repository="octo-lab/vision-kit",
        packages=("requests",),
        advisory_id="GHSA-9wx4-h78v-vm56",
        aliases=("CVE-2024-35195",),
        patched=(("requests", "2.32.0"),),
    )


@pytest.mark.parametrize("action", ["reopened", "reintroduced"])
def test_a_reopened_or_reintroduced_alert_starts_a_run_too(action: str) -> None:
    payload = fixture("dependabot_alert.created")
    payload["action"] = action
    assert accepted("dependabot_alert", payload).action == action


@pytest.mark.parametrize("action", ["dismissed", "fixed", "auto_dismissed"])
def test_other_alert_actions_are_ignored(action: str) -> None:
    payload = fixture("dependabot_alert.created")
    payload["action"] = action
    assert parse("dependabot_alert", payload) == Ignored("other action")


def test_an_alert_of_another_ecosystem_is_ignored() -> None:
    payload = fixture("dependabot_alert.created")
    payload["alert"]["dependency"]["package"]["ecosystem"] = "npm"
    assert parse("dependabot_alert", payload) == Ignored("other ecosystem")


def test_an_alert_without_a_fix_has_no_patched_version() -> None:
    payload = fixture("dependabot_alert.created")
    payload["alert"]["security_vulnerability"]["first_patched_version"] = None
    payload["alert"]["security_advisory"]["cve_id"] = None
    event = accepted("dependabot_alert", payload)
    assert (event.patched, event.aliases) == ((), ("CVE-2024-35195",))


def test_a_repository_vulnerability_alert() -> None:
    event = accepted(
        "repository_vulnerability_alert", fixture("repository_vulnerability_alert.create")
    )
    assert (event.repository, event.packages, event.advisory_id, event.aliases, event.patched) == (
        "octo-lab/vision-kit",
        ("urllib3",),
        "GHSA-34jh-p97f-mpxf",
        ("CVE-2024-37891",),
        (("urllib3", "2.2.2"),),
    )


def test_an_old_vulnerability_alert_without_a_ghsa_id_goes_by_its_cve() -> None:
    payload = fixture("repository_vulnerability_alert.create")
    del payload["alert"]["ghsa_id"]
    event = accepted("repository_vulnerability_alert", payload)
    assert (event.advisory_id, event.aliases) == ("CVE-2024-37891", ())
    payload["alert"]["external_identifier"] = "not-a-cve"
    with pytest.raises(PayloadError) as caught:
        parse("repository_vulnerability_alert", payload)
    assert caught.value.field == "alert.ghsa_id"


def test_a_dismissed_vulnerability_alert_is_ignored() -> None:
    payload = fixture("repository_vulnerability_alert.create")
    payload["action"] = "dismiss"
    assert parse("repository_vulnerability_alert", payload) == Ignored("other action")


def test_a_global_advisory_keeps_its_pip_packages_only() -> None:
    event = accepted("security_advisory", fixture("security_advisory.published"))
    assert event.repository is None
    assert event.packages == ("setup-tools-legacy", "setuptools")  # normalised; npm left out
    assert event.patched == (("setuptools", "70.0.0"),)  # the legacy package has no fix
    assert (event.advisory_id, event.aliases) == ("GHSA-cx63-2mw6-8hw5", ("CVE-2024-6345",))


def test_an_advisory_of_other_ecosystems_or_withdrawn_is_ignored() -> None:
    payload = fixture("security_advisory.published")
    for vulnerability in payload["security_advisory"]["vulnerabilities"]:
        vulnerability["package"]["ecosystem"] = "rubygems"
    assert parse("security_advisory", payload) == Ignored("other ecosystem")
    payload = fixture("security_advisory.published")
    payload["action"] = "updated"
    payload["security_advisory"]["withdrawn_at"] = "2026-11-30T10:00:00Z"
    assert parse("security_advisory", payload) == Ignored("withdrawn")
    payload["action"] = "performed"
    assert parse("security_advisory", payload) == Ignored("other action")


def test_ping_and_other_events_are_ignored() -> None:
    assert parse("ping", fixture("ping")) == Ignored("ping")
    assert parse("push", {"ref": "refs/heads/main"}) == Ignored("other event")


def _without(payload: dict[str, Any], path: str) -> dict[str, Any]:
    doc = copy.deepcopy(payload)
    *parents, last = path.split(".")
    node = doc
    for key in parents:
        node = node[key]
    del node[last]
    return doc


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("dependabot_alert.created", "action"),
        ("dependabot_alert.created", "alert"),
        ("dependabot_alert.created", "alert.dependency.package.name"),
        ("dependabot_alert.created", "alert.dependency.package.ecosystem"),
        ("dependabot_alert.created", "alert.security_advisory.ghsa_id"),
        ("dependabot_alert.created", "alert.security_vulnerability"),
        ("dependabot_alert.created", "repository.full_name"),
        ("repository_vulnerability_alert.create", "alert.affected_package_name"),
        ("repository_vulnerability_alert.create", "repository"),
        ("security_advisory.published", "security_advisory.vulnerabilities"),
        ("security_advisory.published", "security_advisory.ghsa_id"),
    ],
)
def test_a_missing_field_is_named(name: str, path: str) -> None:
    event = name.split(".")[0]
    with pytest.raises(PayloadError) as caught:
        parse(event, _without(fixture(name), path))
    assert caught.value.field == path
    assert path in str(caught.value)


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("alert.dependency.package.name", "requests; rm -rf /", "alert.dependency.package.name"),
        ("alert.security_advisory.ghsa_id", "GHSA-<script>", "alert.security_advisory.ghsa_id"),
        ("alert.security_advisory.cve_id", "CVE-x", "alert.security_advisory.cve_id"),
        (
            "alert.security_vulnerability.first_patched_version.identifier",
            "2.32.0 && true",
            "alert.security_vulnerability.first_patched_version.identifier",
        ),
        ("repository.full_name", "octo-lab/../../etc", "repository.full_name"),
        ("repository.full_name", 42, "repository.full_name"),
    ],
)
def test_hostile_values_are_refused_before_they_reach_a_url_or_a_log(
    path: str, value: object, field: str
) -> None:
    payload = fixture("dependabot_alert.created")
    *parents, last = path.split(".")
    node = payload
    for key in parents:
        node = node[key]
    node[last] = value
    with pytest.raises(PayloadError) as caught:
        parse("dependabot_alert", payload)
    assert caught.value.field == field


@pytest.mark.parametrize(
    "body",
    [b"{", b"[]", b'"text"', b"\xff\xfe", b"[" * 100_000, b'{"action": 1' + b"0" * 5000 + b"}"],
)
def test_a_body_that_is_not_a_json_object_is_refused(body: bytes) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_event("dependabot_alert", DELIVERY, body)
    assert caught.value.field == "body"


def test_a_malformed_delivery_id_is_refused() -> None:
    with pytest.raises(PayloadError) as caught:
        parse("ping", {}, delivery="x\r\nSet-Cookie: a")
    assert caught.value.field == "X-GitHub-Delivery"


def test_the_stored_form_round_trips() -> None:
    for event, name in [
        ("dependabot_alert", "dependabot_alert.created"),
        ("repository_vulnerability_alert", "repository_vulnerability_alert.create"),
        ("security_advisory", "security_advisory.published"),
    ]:
        value = accepted(event, fixture(name))
        assert AdvisoryEvent.from_json(value.to_json()) == value


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
        max_leaves=20,
    )
)
def test_any_json_is_an_event_an_ignore_or_a_named_field(doc: object) -> None:
    for event in ("dependabot_alert", "repository_vulnerability_alert", "security_advisory"):
        try:
            parse(event, doc)
        except PayloadError as exc:
            assert exc.field
