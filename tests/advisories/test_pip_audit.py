"""PipAuditSource: the real pip-audit against the fake OSV server, and its report's edge cases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml
from packaging.version import Version

from depbot.advisories.interface import AdvisorySourceError
from depbot.advisories.pip_audit import PipAuditSource, ranges_from_fixes
from depbot.models import AffectedRange, Lockfile, LockHeader, Pin, canonicalize_name
from tests.support.osv_server import serve_osv

FIXTURES = Path(__file__).parent.parent / "fixtures" / "osv"
RECORDS: list[dict[str, Any]] = [
    yaml.safe_load(p.read_text()) for p in sorted(FIXTURES.rglob("*.yaml"))
]
V = Version


def lockfile(pins: dict[str, str], path: str = "requirements.txt") -> Lockfile:
    return Lockfile(
        path=PurePosixPath(path),
        header=LockHeader("pip-compile", "3.11", ()),
        pins=tuple(
            Pin(canonicalize_name(n), Version(v), line=i) for i, (n, v) in enumerate(pins.items())
        ),
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    # pip-audit never reaches an index here (--no-deps --disable-pip); keep pip's config out anyway
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path / "home"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_INDEX_URL": "http://127.0.0.1:9/simple/",
    }


# ------------------------------------------------------------------ the real pip-audit


def test_real_pip_audit_against_the_fake_osv_server(tmp_path: Path, env: dict[str, str]) -> None:
    pins = {"requests": "2.19.1", "urllib3": "1.24.1", "jinja2": "2.10", "scikit-learn": "0.24.2"}
    with serve_osv(RECORDS) as url:
        advisories = PipAuditSource(tmp_path, url, env).advisories([lockfile(pins)])
    by_id = {a.id: a for a in advisories}
    assert set(by_id) == {
        "PYSEC-2018-28",
        "PYSEC-2019-132",
        "PYSEC-2019-133",
        "PYSEC-2019-217",
        "PYSEC-2021-66",
    }
    requests_advisory = by_id["PYSEC-2018-28"]
    assert requests_advisory.package == "requests"
    assert requests_advisory.aliases == {"CVE-2018-18074", "GHSA-x84v-xcm2-53pg"}
    assert requests_advisory.fixed == (V("2.20.0"),)
    assert requests_advisory.source == "pip-audit"
    assert all(a.affects(V(pins[a.package])) for a in advisories)
    assert not by_id["PYSEC-2019-133"].affects(V("1.24.2"))


def test_real_pip_audit_crash_is_an_error_without_credentials(
    tmp_path: Path, env: dict[str, str]
) -> None:
    with serve_osv([]) as url:
        pass  # nothing listens on that port any more
    down = url.replace("http://", "http://depbot:s3cr3t-token@")
    with pytest.raises(AdvisorySourceError, match="pip-audit wrote no report") as info:
        PipAuditSource(tmp_path, down, env).advisories([lockfile({"requests": "2.19.1"})])
    assert "s3cr3t-token" not in str(info.value)


# ------------------------------------------------------------------ a fake pip-audit


class FakePipAudit:
    """Stands in for subprocess.run: records each command and writes a canned report."""

    def __init__(self, report: Any, stderr: str = "", rc: int = 1) -> None:
        self.report = report
        self.stderr = stderr
        self.rc = rc
        self.commands: list[list[str]] = []
        self.requirements: list[str] = []

    def __call__(self, command: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        assert kw["env"]["PIP_CONFIG_FILE"] == os.devnull
        self.commands.append(command)
        self.requirements.append(Path(command[command.index("-r") + 1]).read_text())
        if self.report is not None:
            out = Path(command[command.index("-o") + 1])
            text = self.report if isinstance(self.report, str) else json.dumps(self.report)
            out.write_text(text)
        return subprocess.CompletedProcess(command, self.rc, "", self.stderr)


def test_a_skipped_dependency_is_an_error_listing_it(tmp_path: Path, env: dict[str, str]) -> None:
    run = FakePipAudit(
        {
            "dependencies": [
                {"name": "requests", "version": "2.19.1", "vulns": []},
                {"name": "certifi", "skip_reason": "Dependency not found on PyPI"},
                {"name": "Idna", "skip_reason": "Dependency not found on PyPI"},
            ],
            "fixes": [],
        },
        rc=0,
    )
    source = PipAuditSource(tmp_path, None, env, run=run)
    pins = {"requests": "2.19.1", "certifi": "2024.2.2", "idna": "3.6"}
    with pytest.raises(AdvisorySourceError, match="could not audit 2 dependencies") as info:
        source.advisories([lockfile(pins)])
    assert "certifi: Dependency not found" in str(info.value)
    assert "idna: Dependency not found" in str(info.value)


@pytest.mark.parametrize("report", ["", "Traceback (most recent call last):", "[]"])
def test_no_usable_report_is_an_error_with_the_stderr_tail(
    tmp_path: Path, env: dict[str, str], report: str
) -> None:
    run = FakePipAudit(report or None, stderr="line 1\nConnectionError: boom\n")
    with pytest.raises(AdvisorySourceError) as info:
        PipAuditSource(tmp_path, None, env, run=run).advisories([lockfile({"a": "1"})])
    if report != "[]":
        assert "ConnectionError: boom" in str(info.value)


def test_pins_only_and_one_run_per_round_of_distinct_versions(
    tmp_path: Path, env: dict[str, str]
) -> None:
    run = FakePipAudit({"dependencies": [], "fixes": []}, rc=0)
    source = PipAuditSource(tmp_path, None, env, run=run, python="/py")
    source.advisories(
        [
            lockfile({"alpha": "1.0", "beta": "2.0"}),
            lockfile({"alpha": "1.1", "beta": "2.0"}, "dev.txt"),
        ]
    )
    assert run.requirements == ["alpha==1.0\nbeta==2.0\n", "alpha==1.1\n"]
    assert run.commands[0][:3] == ["/py", "-m", "pip_audit"]
    assert "--no-deps" in run.commands[0] and "--disable-pip" in run.commands[0]


@pytest.mark.parametrize(
    ("osv_url", "expected"),
    [
        (None, []),
        ("https://api.osv.dev/v1", ["-s", "osv"]),
        ("http://127.0.0.1:8000/v1/", ["-s", "osv", "--osv-url", "http://127.0.0.1:8000/v1/query"]),
    ],
)
def test_service_options(
    tmp_path: Path, env: dict[str, str], osv_url: str | None, expected: list[str]
) -> None:
    run = FakePipAudit({"dependencies": [], "fixes": []}, rc=0)
    PipAuditSource(tmp_path, osv_url, env, run=run).advisories([lockfile({"a": "1"})])
    command = run.commands[0]
    tail = command[command.index("-s") :] if "-s" in command else []
    assert tail == expected


def test_report_to_advisories_with_backported_fixes(tmp_path: Path, env: dict[str, str]) -> None:
    report = {
        "dependencies": [
            {
                "name": "Bravo",
                "version": "2.0.1",
                "vulns": [
                    {
                        "id": "PYSEC-2024-1",
                        "fix_versions": ["2.0.3", "1.2.5", "junk"],
                        "aliases": ["CVE-2024-1", "PYSEC-2024-1"],
                        "description": "A  long\ndescription",
                    }
                ],
            }
        ]
    }
    run = FakePipAudit(report)
    (advisory,) = PipAuditSource(tmp_path, None, env, run=run).advisories(
        [lockfile({"bravo": "2.0.1"})]
    )
    assert advisory.package == "bravo"
    assert advisory.aliases == {"CVE-2024-1"}
    assert advisory.summary == "A long description"
    assert advisory.fixed == (V("1.2.5"), V("2.0.3"))
    assert [advisory.affects(V(v)) for v in ("1.2.4", "1.2.5", "2.0.1", "2.0.3")] == [
        True,
        False,
        True,
        False,
    ]


# ------------------------------------------------------------------ the inferred ranges


@pytest.mark.parametrize(
    ("pinned", "fixes", "ranges"),
    [
        ("1.0", [], [AffectedRange()]),
        ("1.0", ["1.1"], [AffectedRange(None, V("1.1"))]),
        # backports: each later fix opens at its minor series
        (
            "1.2.0",
            ["2.0.3", "1.2.5"],
            [AffectedRange(None, V("1.2.5")), AffectedRange(V("2.0"), V("2.0.3"))],
        ),
        # the pin sits between two fixes: its range widens down to it
        (
            "1.5.0",
            ["1.2.5", "2.0.3"],
            [AffectedRange(None, V("1.2.5")), AffectedRange(V("1.5.0"), V("2.0.3"))],
        ),
        # two fixes in one minor series: the later range starts just after the earlier fix
        (
            "1.2.0",
            ["1.2.5", "1.2.9"],
            [AffectedRange(None, V("1.2.5")), AffectedRange(V("1.2.5.post0"), V("1.2.9"))],
        ),
        # no fix above the pin: affected from the pin on
        ("2.1.0", ["1.2.5"], [AffectedRange(None, V("1.2.5")), AffectedRange(V("2.1.0"))]),
    ],
)
def test_ranges_from_fixes(pinned: str, fixes: list[str], ranges: list[AffectedRange]) -> None:
    got, versions = ranges_from_fixes(V(pinned), [V(f) for f in fixes])
    assert list(got) == ranges
    assert versions == {V(pinned)}
    assert any(r.contains(V(pinned)) for r in got)
    assert not any(r.contains(V(f)) for r in got for f in fixes)


def test_the_venv_python_has_pip_audit() -> None:
    # the real-run tests above depend on it; say so plainly when it is missing
    done = subprocess.run(
        [sys.executable, "-m", "pip_audit", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
