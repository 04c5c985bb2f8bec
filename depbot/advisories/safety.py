"""The ``safety`` source: Safety's CLI (``safety check -r LOCKFILE --output json``).

``check`` is used rather than ``scan`` because it audits a requirements file and prints one
JSON document (``vulnerabilities[]``) without interactive prompts; Safety marks it deprecated
but still ships it. It needs the user's Safety account (``safety auth login``, or
``SAFETY_API_KEY`` in the environment passed in) and network access to Safety's servers.
Exit status 0 means nothing found and 64 means vulnerabilities found; anything else failed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from depbot.advisories.interface import (
    AdvisorySource,
    AdvisorySourceError,
    one_line,
    version_or_none,
)
from depbot.models import Advisory, AffectedRange, Lockfile

__all__ = ["SafetySource", "parse_safety_report"]

Runner = Callable[..., "subprocess.CompletedProcess[str]"]

_FOUND = 64
_TAIL_LINES = 15
_NOT_INSTALLED = "safety is not installed; pip install safety and log in"


class SafetySource(AdvisorySource):
    """Advisories for the pinned versions, as Safety's vulnerability database reports them."""

    spec = "safety"

    def __init__(
        self,
        repo: Path,
        env: Mapping[str, str],
        run: Runner = subprocess.run,
        executable: str | None = None,
        timeout: float = 600.0,
    ) -> None:
        self.repo = repo
        self.env = dict(env)
        self.run = run
        self.executable = executable
        self.timeout = timeout

    def advisories(self, lockfiles: Sequence[Lockfile]) -> list[Advisory]:
        """One ``safety check`` per lockfile; raises AdvisorySourceError when one fails."""
        executable = self.executable or shutil.which("safety", path=self.env.get("PATH"))
        if executable is None:
            raise AdvisorySourceError(_NOT_INSTALLED)
        found: list[Advisory] = []
        for lock in lockfiles:
            found.extend(self._check(executable, self.repo / lock.path))
        return found

    def _check(self, executable: str, lockfile: Path) -> list[Advisory]:
        command = [executable, "check", "-r", str(lockfile), "--output", "json"]
        try:
            done = self.run(
                command,
                cwd=self.repo,
                env=self.env,
                capture_output=True,
                text=True,
                timeout=self.timeout,
                check=False,
            )
        except FileNotFoundError:
            raise AdvisorySourceError(_NOT_INSTALLED) from None
        except subprocess.TimeoutExpired:
            raise AdvisorySourceError(f"safety did not finish within {self.timeout:.0f}s") from None
        if done.returncode not in (0, _FOUND):
            raise AdvisorySourceError(
                f"safety check failed on {lockfile.name} (rc {done.returncode}):"
                f" {self._tail(done.stderr or done.stdout)}"
            )
        return parse_safety_report(_json_document(done.stdout, lockfile.name))

    def _tail(self, text: str | None) -> str:
        lines = (text or "").strip().splitlines()
        tail = "\n".join(lines[-_TAIL_LINES:]) or "(no output)"
        key = self.env.get("SAFETY_API_KEY")
        return tail.replace(key, "***") if key else tail


def parse_safety_report(data: object, source: str = "safety") -> list[Advisory]:
    """Advisories from the JSON ``safety check --output json`` prints.

    Ranges come from ``all_vulnerable_specs`` (else ``vulnerable_spec``) where a specifier is a
    plain interval (``>=a,<b``, ``<=b``, ``==v``); the analysed version is always listed.
    """
    if not isinstance(data, Mapping) or not isinstance(data.get("vulnerabilities"), list):
        raise AdvisorySourceError("safety's report has no 'vulnerabilities' list")
    found: list[Advisory] = []
    for vuln in data["vulnerabilities"]:
        if not isinstance(vuln, Mapping):
            raise AdvisorySourceError("safety's report has a vulnerability that is not an object")
        if vuln.get("ignored"):
            continue  # the user's own Safety policy said so
        found.append(_advisory(vuln, source))
    return found


def _advisory(vuln: Mapping[str, Any], source: str) -> Advisory:
    name = vuln.get("package_name") or vuln.get("name")
    vid = vuln.get("vulnerability_id")
    if not isinstance(name, str) or not isinstance(vid, (str, int)):
        raise AdvisorySourceError("safety's report has a vulnerability without package or id")
    ranges: list[AffectedRange] = []
    versions: set[Version] = set()
    for spec in _specs(vuln):
        shape = _interval(spec)
        if isinstance(shape, AffectedRange):
            ranges.append(shape)
        elif isinstance(shape, Version):
            versions.add(shape)
    for raw in [vuln.get("analyzed_version"), *(vuln.get("affected_versions") or [])]:
        version = version_or_none(raw)
        if version is not None:
            versions.add(version)
    advisory_id = f"pyup.io-{vid}"
    return Advisory(
        id=advisory_id,
        package=canonicalize_name(name),
        aliases=frozenset(_cve(vuln.get("CVE"))) - {advisory_id},
        ranges=tuple(dict.fromkeys(ranges)),
        versions=frozenset(versions),
        summary=one_line(vuln.get("advisory")),
        source=source,
    )


def _specs(vuln: Mapping[str, Any]) -> list[str]:
    for key in ("all_vulnerable_specs", "vulnerable_spec"):
        value = vuln.get(key)
        if isinstance(value, str) and value:
            return [value]
        if isinstance(value, list) and value:
            return [v for v in value if isinstance(v, str)]
    return []


def _interval(spec: str) -> AffectedRange | Version | None:
    """The range a specifier describes, a single version for ``==v``, None when not an interval."""
    try:
        specifiers = list(SpecifierSet(spec))
    except InvalidSpecifier:
        return None
    kw: dict[str, Version] = {}
    for s in specifiers:
        version = version_or_none(s.version)
        key = {">=": "introduced", "<": "fixed", "<=": "last_affected", "==": "equal"}.get(
            s.operator
        )
        if version is None or key is None or key in kw:
            return None
        kw[key] = version
    if "equal" in kw:
        return kw["equal"] if len(kw) == 1 else None
    if not kw or ("fixed" in kw and "last_affected" in kw):
        return None
    return AffectedRange(**kw)


def _cve(value: object) -> list[str]:
    if isinstance(value, str) and value:
        return [value]
    if isinstance(value, Mapping) and isinstance(value.get("name"), str):
        return [value["name"]]
    return []


def _json_document(stdout: str | None, where: str) -> object:
    text = (stdout or "").strip()
    # Safety may print a deprecation banner around the document; the JSON is the outer braces
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        raise AdvisorySourceError(f"safety printed no JSON report for {where}")
    try:
        return json.loads(text[start : end + 1])
    except ValueError:
        raise AdvisorySourceError(f"safety printed a report that is not JSON for {where}") from None
