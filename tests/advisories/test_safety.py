"""SafetySource: its JSON report parsed from a literal fixture, the CLI faked by a callable."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from packaging.version import Version

from depbot.advisories.interface import AdvisorySourceError
from depbot.advisories.safety import SafetySource, parse_safety_report
from depbot.models import AffectedRange, Lockfile, LockHeader, Pin, canonicalize_name

V = Version

# the shape of `safety check --output json` (2.x/3.x), values written for this test
REPORT: dict[str, Any] = {
    "report_meta": {"safety_version": "3.2.0", "vulnerabilities_found": 3},
    "scanned_packages": {"django": {"name": "django", "version": "3.2.1"}},
    "vulnerabilities": [
        {
            "vulnerability_id": "48040",
            "package_name": "Django",
            "ignored": {},
            "vulnerable_spec": ">=3.0a1,<3.2.13",
            "all_vulnerable_specs": ["<2.2.28", ">=3.0a1,<3.2.13", ">=4.0a1,<4.0.4"],
            "analyzed_version": "3.2.1",
            "advisory": "Django before 3.2.13 has an injection\nin one query helper.",
            "fixed_versions": ["2.2.28", "3.2.13", "4.0.4"],
            "CVE": "CVE-2022-28347",
            "affected_versions": [],
            "more_info_url": "https://example.invalid/v/48040",
        },
        {
            "vulnerability_id": "25853",
            "package_name": "insecure-package",
            "ignored": {},
            "vulnerable_spec": ["<=0.1.9", "==0.3.0"],
            "analyzed_version": "0.1.0",
            "advisory": "",
            "CVE": {"name": "PVE-2021-25853", "cvssv2": None, "cvssv3": None},
            "affected_versions": ["0.1.0", "bogus"],
        },
        {
            "vulnerability_id": "11111",
            "package_name": "odd",
            "ignored": False,
            "all_vulnerable_specs": ["!=1.0", ">1.0,<2.0", "~=1.1"],
            "analyzed_version": "1.5",
            "CVE": None,
        },
        {
            "vulnerability_id": "22222",
            "package_name": "skipped-by-policy",
            "ignored": {"reason": "accepted risk"},
            "analyzed_version": "1.0",
        },
    ],
}


def test_parse_the_report() -> None:
    by_id = {a.id: a for a in parse_safety_report(REPORT)}
    assert set(by_id) == {"pyup.io-48040", "pyup.io-25853", "pyup.io-11111"}

    django = by_id["pyup.io-48040"]
    assert django.package == "django"
    assert django.aliases == {"CVE-2022-28347"}
    assert django.ranges == (
        AffectedRange(fixed=V("2.2.28")),
        AffectedRange(V("3.0a1"), V("3.2.13")),
        AffectedRange(V("4.0a1"), V("4.0.4")),
    )
    assert django.fixed == (V("2.2.28"), V("3.2.13"), V("4.0.4"))
    assert django.affects(V("3.2.1")) and not django.affects(V("3.2.13"))
    assert django.summary == "Django before 3.2.13 has an injection in one query helper."
    assert django.source == "safety"

    insecure = by_id["pyup.io-25853"]
    assert insecure.aliases == {"PVE-2021-25853"}
    assert insecure.ranges == (AffectedRange(last_affected=V("0.1.9")),)
    assert insecure.versions == {V("0.3.0"), V("0.1.0")}

    # specifiers that are not plain intervals give no range; the analysed version stays affected
    odd = by_id["pyup.io-11111"]
    assert odd.ranges == () and odd.versions == {V("1.5")}
    assert odd.aliases == frozenset()


@pytest.mark.parametrize("data", [{}, [], {"vulnerabilities": {}}, {"vulnerabilities": [1]}])
def test_malformed_report_is_an_error(data: Any) -> None:
    with pytest.raises(AdvisorySourceError):
        parse_safety_report(data)


def lockfile(path: str = "requirements.txt") -> Lockfile:
    return Lockfile(
        path=PurePosixPath(path),
        header=LockHeader("pip-compile", "3.11", ()),
        pins=(Pin(canonicalize_name("django"), V("3.2.1"), line=3),),
    )


class FakeSafety:
    def __init__(self, stdout: str, rc: int = 64, stderr: str = "") -> None:
        self.stdout, self.rc, self.stderr = stdout, rc, stderr
        self.commands: list[list[str]] = []

    def __call__(self, command: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        self.commands.append(command)
        return subprocess.CompletedProcess(command, self.rc, self.stdout, self.stderr)


def test_runs_safety_check_per_lockfile(tmp_path: Path) -> None:
    banner = "+====+\nDEPRECATED: this command (`check`) has been DEPRECATED\n+====+\n"
    run = FakeSafety(banner + json.dumps(REPORT) + "\n" + banner)
    source = SafetySource(tmp_path, {"SAFETY_API_KEY": "k"}, run=run, executable="/bin/safety")
    advisories = source.advisories([lockfile(), lockfile("dev.txt")])
    assert run.commands == [
        ["/bin/safety", "check", "-r", str(tmp_path / "requirements.txt"), "--output", "json"],
        ["/bin/safety", "check", "-r", str(tmp_path / "dev.txt"), "--output", "json"],
    ]
    assert len(advisories) == 6
    assert source.spec == "safety"


def test_nothing_found_is_rc_0(tmp_path: Path) -> None:
    run = FakeSafety(json.dumps({"vulnerabilities": []}), rc=0)
    assert SafetySource(tmp_path, {}, run=run, executable="safety").advisories([lockfile()]) == []


def test_safety_not_installed(tmp_path: Path) -> None:
    source = SafetySource(tmp_path, {"PATH": str(tmp_path)})
    with pytest.raises(AdvisorySourceError, match="safety is not installed"):
        source.advisories([lockfile()])


def test_missing_executable_at_run_time(tmp_path: Path) -> None:
    def run(command: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        raise FileNotFoundError(command[0])

    source = SafetySource(tmp_path, {}, run=run, executable="/nowhere/safety")
    with pytest.raises(AdvisorySourceError, match="safety is not installed"):
        source.advisories([lockfile()])


def test_failure_is_an_error_without_the_key(tmp_path: Path) -> None:
    run = FakeSafety("", rc=65, stderr="Invalid API key sk-secret-123 for this request\n")
    source = SafetySource(tmp_path, {"SAFETY_API_KEY": "sk-secret-123"}, run=run, executable="s")
    with pytest.raises(AdvisorySourceError, match="rc 65") as info:
        source.advisories([lockfile()])
    assert "sk-secret-123" not in str(info.value)
    assert "Invalid API key" in str(info.value)


@pytest.mark.parametrize("stdout", ["", "no json here", "{not json}"])
def test_unreadable_output_is_an_error(tmp_path: Path, stdout: str) -> None:
    source = SafetySource(tmp_path, {}, run=FakeSafety(stdout), executable="s")
    with pytest.raises(AdvisorySourceError, match="JSON"):
        source.advisories([lockfile()])
