"""``.ci/release_check.py``: release.yml's first job, run here on real and made-up trees."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
SCRIPT = ROOT / ".ci" / "release_check.py"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("release_check", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


rc = load()

CHANGELOG = """\
# Changelog

## [Unreleased]

- something not released yet

## [1.2.0] - 2026-11-30

### Added

- the thing

## [1.1.0] - 2026-10-01

- older

[Unreleased]: https://example.invalid/compare/v1.2.0...HEAD
[1.2.0]: https://example.invalid/releases/v1.2.0
"""


def tree(tmp_path: Path, version: str = "1.2.0", changelog: str | None = CHANGELOG) -> Path:
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "pyproject.toml").write_text(f'[project]\nname = "x"\nversion = "{version}"\n')
    if changelog is not None:
        (tmp_path / "CHANGELOG.md").write_text(changelog)
    return tmp_path


def test_the_matching_tag_gives_its_section(tmp_path: Path) -> None:
    notes = rc.check("v1.2.0", tree(tmp_path))
    assert notes == "### Added\n\n- the thing\n"
    assert rc.check("refs/tags/v1.2.0", tree(tmp_path)) == notes


@pytest.mark.parametrize("tag", ["v1.2.1", "1.2.0", "v1.2", "v1.2.0rc1"])
def test_a_tag_other_than_the_version_fails(tmp_path: Path, tag: str) -> None:
    with pytest.raises(rc.ReleaseError, match=re.escape("expected 'v1.2.0'")):
        rc.check(tag, tree(tmp_path))


def test_a_version_without_a_section_fails(tmp_path: Path) -> None:
    with pytest.raises(rc.ReleaseError, match=re.escape("no section for 1.3.0")):
        rc.check("v1.3.0", tree(tmp_path, version="1.3.0"))


def test_an_undated_or_empty_section_fails(tmp_path: Path) -> None:
    undated = CHANGELOG.replace("## [1.2.0] - 2026-11-30", "## [1.2.0]")
    with pytest.raises(rc.ReleaseError, match="no ' - YYYY-MM-DD' date"):
        rc.check("v1.2.0", tree(tmp_path, changelog=undated))
    empty = "## [1.2.0] - 2026-11-30\n\n[1.2.0]: https://example.invalid/v1.2.0\n"
    with pytest.raises(rc.ReleaseError, match="is empty"):
        rc.check("v1.2.0", tree(tmp_path, changelog=empty))


def test_missing_changelog_or_version(tmp_path: Path) -> None:
    with pytest.raises(rc.ReleaseError, match=re.escape("CHANGELOG.md is missing")):
        rc.check("v1.2.0", tree(tmp_path, changelog=None))
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\ndynamic = ["version"]\n')
    with pytest.raises(rc.ReleaseError, match="no static"):
        rc.check("v1.2.0", tmp_path)


def test_the_script_exits_and_writes_the_notes(tmp_path: Path) -> None:
    root = tree(tmp_path / "repo")
    notes = tmp_path / "notes.md"
    ok = subprocess.run(
        [sys.executable, str(SCRIPT), "v1.2.0", "--notes", str(notes), "--root", str(root)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert notes.read_text() == "### Added\n\n- the thing\n"
    bad = subprocess.run(
        [sys.executable, str(SCRIPT), "v9.9.9", "--root", str(root)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 1
    assert "does not match the package version" in bad.stderr


def test_this_repository_is_releasable_at_its_version() -> None:
    """The real pyproject version has its dated section in the real CHANGELOG.md."""
    version = rc.package_version(ROOT / "pyproject.toml")
    assert rc.check(f"v{version}").strip()
