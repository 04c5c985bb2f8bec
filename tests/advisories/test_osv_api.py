"""OSVSource against a real HTTP server on 127.0.0.1 speaking the OSV API."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml
from packaging.version import Version

from depbot.advisories import osv
from depbot.advisories.interface import AdvisorySourceError
from depbot.advisories.osv import OSVSource
from depbot.models import Lockfile, LockHeader, Pin, canonicalize_name
from tests.support.osv_server import serve_osv

FIXTURES = Path(__file__).parent.parent / "fixtures" / "osv"
RECORDS: list[dict[str, Any]] = [
    yaml.safe_load(p.read_text()) for p in sorted(FIXTURES.rglob("*.yaml"))
]


def lockfile(pins: dict[str, str], path: str = "requirements.txt") -> Lockfile:
    return Lockfile(
        path=PurePosixPath(path),
        header=LockHeader("pip-compile", "3.11", ()),
        pins=tuple(
            Pin(canonicalize_name(n), Version(v), line=i) for i, (n, v) in enumerate(pins.items())
        ),
    )


def source(url: str, **kw: Any) -> OSVSource:
    return OSVSource(url, backoff=0.0, timeout=5.0, **kw)


def test_records_affecting_the_pins_come_back_in_full() -> None:
    log: list[tuple[str, str]] = []
    pins = {"requests": "2.19.1", "urllib3": "1.24.2", "jinja2": "2.11.0", "numpy": "1.0"}
    with serve_osv(RECORDS, log=log) as url:
        advisories = source(url).advisories([lockfile(pins)])
    by_id = {a.id: a for a in advisories}
    # urllib3 1.24.2 is past one fix only; jinja2 2.11.0 past one of its two
    assert set(by_id) == {"PYSEC-2018-28", "PYSEC-2019-132", "PYSEC-2021-66"}
    assert by_id["PYSEC-2018-28"].aliases == {"CVE-2018-18074", "GHSA-x84v-xcm2-53pg"}
    assert by_id["PYSEC-2019-132"].fixed == (Version("1.24.3"),)
    assert all(a.source == "osv" for a in advisories)
    assert log.count(("POST", "/v1/querybatch")) == 1
    assert sorted(p for m, p in log if m == "GET") == [
        "/v1/vulns/PYSEC-2018-28",
        "/v1/vulns/PYSEC-2019-132",
        "/v1/vulns/PYSEC-2021-66",
    ]


def test_same_pin_in_two_lockfiles_is_queried_once() -> None:
    log: list[tuple[str, str]] = []
    with serve_osv(RECORDS, log=log) as url:
        advisories = source(url).advisories(
            [lockfile({"torch": "1.13.0"}), lockfile({"torch": "1.13.0"}, "dev.txt")]
        )
    assert [a.id for a in advisories] == ["CVE-2025-32434"]
    assert log.count(("GET", "/v1/vulns/CVE-2025-32434")) == 1


def test_queries_are_chunked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(osv, "BATCH_LIMIT", 2)
    log: list[tuple[str, str]] = []
    pins = {"requests": "2.19.1", "urllib3": "1.24.1", "jinja2": "2.10", "torch": "1.13.0"}
    pins |= {"pillow": "8.0.0"}
    with serve_osv(RECORDS, log=log) as url:
        advisories = source(url).advisories([lockfile(pins)])
    assert log.count(("POST", "/v1/querybatch")) == 3
    assert len(advisories) == 9


def test_next_page_token_is_followed() -> None:
    log: list[tuple[str, str]] = []
    with serve_osv(RECORDS, log=log, page_size=1) as url:
        advisories = source(url).advisories([lockfile({"pillow": "8.0.0"})])
    assert {a.id for a in advisories} == {"CVE-2020-35653", "CVE-2021-25287", "CVE-2022-22817"}
    assert log.count(("POST", "/v1/querybatch")) == 3


def test_a_503_then_200_is_retried() -> None:
    log: list[tuple[str, str]] = []
    faults = {"/v1/querybatch": [503], "/v1/vulns/PYSEC-2018-28": [502, 500]}
    with serve_osv(RECORDS, log=log, faults=faults) as url:
        advisories = source(url).advisories([lockfile({"requests": "2.0.0"})])
    assert [a.id for a in advisories] == ["PYSEC-2018-28"]
    assert log.count(("POST", "/v1/querybatch")) == 2
    assert log.count(("GET", "/v1/vulns/PYSEC-2018-28")) == 3


def test_permanent_failure_is_an_error_without_credentials() -> None:
    log: list[tuple[str, str]] = []
    with serve_osv(RECORDS, log=log, faults={"/v1/querybatch": [503] * 10}) as url:
        secret_url = url.replace("http://", "http://depbot:s3cr3t-token@")
        with pytest.raises(AdvisorySourceError, match="503") as info:
            source(secret_url, retries=2).advisories([lockfile({"requests": "2.0.0"})])
    assert "s3cr3t-token" not in str(info.value)
    assert log.count(("POST", "/v1/querybatch")) == 3


def test_unreachable_api_is_an_error() -> None:
    with serve_osv([]) as url:
        pass  # the port is closed again: nothing listens there now
    with pytest.raises(AdvisorySourceError, match="did not answer"):
        source(url + "?key=s3cr3t", retries=1).advisories([lockfile({"requests": "2.0.0"})])


def test_missing_record_is_an_error() -> None:
    faults = {"/v1/vulns/PYSEC-2018-28": [404]}
    with serve_osv(RECORDS, faults=faults) as url, pytest.raises(AdvisorySourceError, match="404"):
        source(url).advisories([lockfile({"requests": "2.0.0"})])


def test_no_pins_no_requests() -> None:
    log: list[tuple[str, str]] = []
    with serve_osv(RECORDS, log=log) as url:
        assert source(url).advisories([lockfile({})]) == []
    assert log == []


def test_a_local_label_is_queried_as_its_public_version() -> None:
    # OSV lists PyPI's public versions: "2.1.0+cu118" is asked as "2.1.0", as classify compares
    record = {
        "id": "PYSEC-0000-1",
        "affected": [{"package": {"ecosystem": "PyPI", "name": "torch"}, "versions": ["2.1.0"]}],
    }
    with serve_osv([record]) as url:
        advisories = source(url).advisories([lockfile({"torch": "2.1.0+cu118"})])
    assert [a.id for a in advisories] == ["PYSEC-0000-1"]
