"""build_sources: spec strings (SPEC §4) to source objects."""

from __future__ import annotations

from pathlib import Path

import pytest

from depbot.advisories import (
    AdvisorySourceError,
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


@pytest.mark.parametrize(("spec", "message"), [("github", "not available yet"), ("x", "unknown")])
def test_unavailable_specs(tmp_path: Path, spec: str, message: str) -> None:
    with pytest.raises(AdvisorySourceError, match=message):
        build_sources([spec], tmp_path, "http://127.0.0.1:1/v1", {})
