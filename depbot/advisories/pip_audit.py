"""The ``pip-audit`` source: runs pip-audit on the pins and reads its JSON report.

pip-audit is given a temporary requirements file holding only ``name==version`` lines (so
editable installs, ``-r`` includes and hashes of a lockfile cannot trip ``--no-deps``), and is
run with ``--no-deps --disable-pip``: nothing is resolved or installed, no index is needed.
With an OSV URL it uses its ``osv`` service, else its default one.

A dependency pip-audit skipped is an error: pip-audit itself reports "no known
vulnerabilities" when it could not look (the default service skips on any 404).
pip-audit's rc is 1 both for "found" and for a crash, so only the report decides.

pip-audit names only the fix versions, not the affected ranges. The ranges built from them
(see ``ranges_from_fixes``) are an inference, which is why ``merge`` prefers OSV's own ranges.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from packaging.utils import canonicalize_name
from packaging.version import Version

from depbot.advisories.interface import (
    AdvisorySource,
    AdvisorySourceError,
    one_line,
    version_or_none,
)
from depbot.models import Advisory, AffectedRange, Lockfile, NormalizedName

__all__ = ["PUBLIC_OSV_API", "PipAuditSource", "Runner", "parse_report", "ranges_from_fixes"]

PUBLIC_OSV_API = "https://api.osv.dev/v1"
"""pip-audit's own OSV default: no ``--osv-url`` is passed for it (older pip-audit lacks it)."""

Runner = Callable[..., "subprocess.CompletedProcess[str]"]
"""``subprocess.run``'s signature, as far as depbot calls it."""

_TAIL_LINES = 5


class PipAuditSource(AdvisorySource):
    """Advisories for the pinned versions, as pip-audit reports them."""

    spec = "pip-audit"

    def __init__(
        self,
        repo: Path,
        osv_url: str | None,
        env: Mapping[str, str],
        run: Runner = subprocess.run,
        python: str = sys.executable,
        timeout: float = 600.0,
    ) -> None:
        self.repo = repo
        self.osv_url = osv_url.rstrip("/") if osv_url else None
        self.env = dict(env)
        self.run = run
        self.python = python
        self.timeout = timeout

    def advisories(self, lockfiles: Sequence[Lockfile]) -> list[Advisory]:
        """One pip-audit run per round of distinct pins (usually one run in all).

        Raises AdvisorySourceError when pip-audit fails, skips a dependency or writes no report.
        """
        found: list[Advisory] = []
        for pins in _rounds(lockfiles):
            found.extend(self._audit(pins))
        return found

    def _audit(self, pins: Mapping[NormalizedName, Version]) -> list[Advisory]:
        with tempfile.TemporaryDirectory(prefix="depbot-audit-") as tmp:
            requirements = Path(tmp) / "requirements.txt"
            requirements.write_text(
                "".join(f"{name}=={version}\n" for name, version in sorted(pins.items())),
                encoding="utf-8",
            )
            report = Path(tmp) / "report.json"
            try:
                done = self.run(
                    self._command(requirements, report),
                    cwd=self.repo,
                    env=self.env,
                    capture_output=True,
                    text=True,
                    timeout=self.timeout,
                    check=False,
                )
            except FileNotFoundError:
                raise AdvisorySourceError(f"pip-audit: cannot run {self.python}") from None
            except subprocess.TimeoutExpired:
                raise AdvisorySourceError(
                    f"pip-audit did not finish within {self.timeout:.0f}s"
                ) from None
            text = report.read_text(encoding="utf-8") if report.is_file() else ""
        if not text.strip():
            raise AdvisorySourceError(
                f"pip-audit wrote no report (rc {done.returncode}): {self._tail(done.stderr)}"
            )
        try:
            data = json.loads(text)
        except ValueError:
            raise AdvisorySourceError(
                f"pip-audit wrote a report that is not JSON (rc {done.returncode}):"
                f" {self._tail(done.stderr)}"
            ) from None
        return parse_report(data, pins)

    def _tail(self, stderr: str | None) -> str:
        lines = (stderr or "").strip().splitlines()
        tail = "\n".join(lines[-_TAIL_LINES:]) or "(no output on stderr)"
        # pip-audit's tracebacks repeat the OSV URL, credentials included
        if self.osv_url is not None:
            parts = urlsplit(self.osv_url)
            # a bare user part is how tokens are often passed; with a password, that is the secret
            secret = parts.password or parts.username
            if secret:
                tail = tail.replace(secret, "***")
        return tail

    def _command(self, requirements: Path, report: Path) -> list[str]:
        command = [self.python, "-m", "pip_audit", "-r", str(requirements), "--no-deps"]
        command += ["--disable-pip", "-f", "json", "-o", str(report), "--progress-spinner", "off"]
        command += ["--aliases", "on", "--desc", "on"]
        if self.osv_url is not None:
            command += ["-s", "osv"]
            if self.osv_url != PUBLIC_OSV_API:
                command += ["--osv-url", f"{self.osv_url}/query"]
        return command


def parse_report(
    data: object, pins: Mapping[NormalizedName, Version], source: str = "pip-audit"
) -> list[Advisory]:
    """Advisories from a pip-audit JSON report about ``pins``.

    Raises AdvisorySourceError listing every skipped dependency, or when the report is not the
    shape pip-audit writes.
    """
    if not isinstance(data, Mapping) or not isinstance(data.get("dependencies"), list):
        raise AdvisorySourceError("pip-audit's report has no 'dependencies' list")
    skipped: list[str] = []
    found: list[Advisory] = []
    for dep in data["dependencies"]:
        if not isinstance(dep, Mapping) or not isinstance(dep.get("name"), str):
            raise AdvisorySourceError("pip-audit's report has a dependency without a name")
        name = canonicalize_name(dep["name"])
        if dep.get("skip_reason"):
            skipped.append(f"{name}: {dep['skip_reason']}")
            continue
        version = pins.get(name) or version_or_none(dep.get("version"))
        if version is None:
            raise AdvisorySourceError(f"pip-audit's report has no version for {name}")
        for vuln in dep.get("vulns") or []:
            found.append(_advisory(name, version, vuln, source))
    if skipped:
        raise AdvisorySourceError(
            f"pip-audit could not audit {len(skipped)} dependencies: " + "; ".join(skipped)
        )
    return found


def ranges_from_fixes(
    pinned: Version, fixes: Sequence[Version]
) -> tuple[tuple[AffectedRange, ...], frozenset[Version]]:
    """The ranges (and listed versions) inferred from pip-audit's fix versions for ``pinned``.

    - below the lowest fix is affected (pip-audit's own reading of a single fix);
    - each later fix (a backport line, 1.2.5 then 2.0.3) closes a range opened at the start
      of its minor series (2.0), or just after the previous fix when that is later;
    - ``pinned`` is affected: the range of the lowest fix above it is widened down to it, and
      with no fix above it everything from ``pinned`` on is affected (no fix known there).

    ``pinned`` is also listed explicitly, so it stays affected whatever the inference says.
    """
    ordered = sorted(set(fixes))
    ranges: list[AffectedRange] = []
    previous: Version | None = None
    for fix in ordered:
        start: Version | None = None
        if previous is not None:
            start = max(_minor_start(fix), _just_after(previous))
            if previous <= pinned < fix:
                start = min(start, pinned)
        ranges.append(AffectedRange(introduced=start, fixed=fix))
        previous = fix
    if not ordered:
        ranges.append(AffectedRange())
    elif pinned >= ordered[-1]:
        ranges.append(AffectedRange(introduced=pinned))
    return tuple(ranges), frozenset({pinned})


def _advisory(name: NormalizedName, pinned: Version, vuln: object, source: str) -> Advisory:
    if not isinstance(vuln, Mapping) or not isinstance(vuln.get("id"), str):
        raise AdvisorySourceError(f"pip-audit's report has a vulnerability of {name} without id")
    fixes = [
        v for v in (version_or_none(f) for f in vuln.get("fix_versions") or []) if v is not None
    ]
    ranges, versions = ranges_from_fixes(pinned, fixes)
    aliases = vuln.get("aliases") or []
    return Advisory(
        id=vuln["id"],
        package=name,
        aliases=frozenset(a for a in aliases if isinstance(a, str)) - {vuln["id"]},
        ranges=ranges,
        versions=versions,
        summary=one_line(vuln.get("description")),
        source=source,
    )


def _rounds(lockfiles: Sequence[Lockfile]) -> list[dict[NormalizedName, Version]]:
    # a requirements file holds one version per name: a package pinned at two versions in two
    # lockfiles needs a second run, every other package is audited once
    versions: dict[NormalizedName, list[Version]] = {}
    for lock in lockfiles:
        for pin in lock.pins:
            seen = versions.setdefault(pin.name, [])
            if pin.version not in seen:
                seen.append(pin.version)
    depth = max((len(v) for v in versions.values()), default=0)
    return [{n: vs[i] for n, vs in versions.items() if len(vs) > i} for i in range(depth)]


def _minor_start(version: Version) -> Version:
    return Version(f"{version.epoch}!{version.major}.{version.minor}")


def _just_after(version: Version) -> Version:
    # the smallest version PEP 440 orders after ``version`` that a release could plausibly be
    post = 0 if version.post is None else version.post + 1
    return Version(f"{version.base_version}.post{post}")
