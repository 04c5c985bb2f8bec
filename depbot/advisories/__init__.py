"""The advisory seam: where vulnerability records come from (SPEC §4), and their merge.

Each source module is imported only when a spec names it (or its class is asked for here):
the OSV client alone pulls in ``requests``, which a plan over an OSV directory never needs.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from depbot.advisories.interface import AdvisorySource, AdvisorySourceError
from depbot.advisories.merge import merge

if TYPE_CHECKING:
    from depbot.advisories.github import GitHubAlertsSource
    from depbot.advisories.osv import OSVSource
    from depbot.advisories.osv_dir import OSVDirSource
    from depbot.advisories.pip_audit import PipAuditSource
    from depbot.advisories.safety import SafetySource

__all__ = [
    "AdvisorySource",
    "AdvisorySourceError",
    "GitHubAlertsSource",
    "OSVDirSource",
    "OSVSource",
    "PipAuditSource",
    "SafetySource",
    "build_sources",
    "merge",
]

_OSV_DIR = "osv-dir:"

_LAZY = {
    "GitHubAlertsSource": "depbot.advisories.github",
    "OSVSource": "depbot.advisories.osv",
    "OSVDirSource": "depbot.advisories.osv_dir",
    "PipAuditSource": "depbot.advisories.pip_audit",
    "SafetySource": "depbot.advisories.safety",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_sources(
    specs: Sequence[str], repo: Path, osv_url: str, env: Mapping[str, str]
) -> list[AdvisorySource]:
    """The sources named by ``specs``, in order; ``osv-dir:`` paths are relative to ``repo``.

    ``osv_url`` is the OSV API base (``…/v1``); pip-audit uses it too, so a private OSV mirror
    serves both. Raises AdvisorySourceError for a spec no source implements.
    """
    sources: list[AdvisorySource] = []
    for spec in specs:
        if spec.startswith(_OSV_DIR):
            from depbot.advisories.osv_dir import OSVDirSource

            path = Path(spec[len(_OSV_DIR) :].strip())
            sources.append(OSVDirSource(path if path.is_absolute() else repo / path, spec))
        elif spec == "osv":
            from depbot.advisories.osv import OSVSource

            sources.append(OSVSource(osv_url))
        elif spec == "pip-audit":
            from depbot.advisories.pip_audit import PipAuditSource

            sources.append(PipAuditSource(repo, osv_url, env))
        elif spec == "safety":
            from depbot.advisories.safety import SafetySource

            sources.append(SafetySource(repo, env))
        elif spec == "github":
            from depbot.advisories.github import GitHubAlertsSource
            from depbot.forge.interface import ForgeError
            from depbot.github_api import github_settings

            try:
                settings = github_settings(repo, env)
            except ForgeError:  # not a git repository: no origin to read the repository from
                settings = None
            sources.append(GitHubAlertsSource(settings))
        else:
            raise AdvisorySourceError(f"unknown advisory source {spec!r}")
    return sources
