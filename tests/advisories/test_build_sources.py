"""build_sources: spec strings (SPEC §4) to source objects."""

from __future__ import annotations

from pathlib import Path

import pytest

from depbot.advisories import (
    AdvisorySourceError,
    GitHubAlertsSource,
    OSVDirSource,
    OSVSource,
    PipAuditSource,
    SafetySource,
    build_sources,
)


def test_every_spec_maps_to_its_source(tmp_path: Path) -> None:
    absolute = tmp_path / "elsewhere"
    sources = build_sources(
        ["pip-audit", "osv", "osv-dir:advisories/db", f"osv-dir:{absolute}", "safety"],
        tmp_path,
        "http://127.0.0.1:1/v1",
        {"PATH": "/bin"},
    )
    kinds = [type(s) for s in sources]
    assert kinds == [PipAuditSource, OSVSource, OSVDirSource, OSVDirSource, SafetySource]
    assert [s.spec for s in sources] == [
        "pip-audit",
        "osv",
        "osv-dir:advisories/db",
        f"osv-dir:{absolute}",
        "safety",
    ]
    relative, explicit = sources[2], sources[3]
    assert isinstance(relative, OSVDirSource) and relative.path == tmp_path / "advisories/db"
    assert isinstance(explicit, OSVDirSource) and explicit.path == absolute
    osv = sources[1]
    assert isinstance(osv, OSVSource) and osv.api_url == "http://127.0.0.1:1/v1"
    audit = sources[0]
    assert isinstance(audit, PipAuditSource) and audit.osv_url == "http://127.0.0.1:1/v1"


def test_unknown_specs(tmp_path: Path) -> None:
    with pytest.raises(AdvisorySourceError, match="unknown"):
        build_sources(["x"], tmp_path, "http://127.0.0.1:1/v1", {})


def test_the_github_spec_reads_its_settings_from_the_environment(tmp_path: Path) -> None:
    env = {"GITHUB_TOKEN": "t", "GITHUB_REPOSITORY": "octo/proj"}
    (source,) = build_sources(["github"], tmp_path, "http://127.0.0.1:1/v1", env)
    assert isinstance(source, GitHubAlertsSource) and source.spec == "github"
    assert source.settings is not None and source.settings.repository == "octo/proj"

    (unset,) = build_sources(["github"], tmp_path, "http://127.0.0.1:1/v1", {})
    assert isinstance(unset, GitHubAlertsSource)
    with pytest.raises(AdvisorySourceError, match="GITHUB_TOKEN"):
        unset.advisories([])
