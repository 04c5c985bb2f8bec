"""OSVDirSource over the hand-written fixtures (pypa layout) and over literal directories."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

import pytest
from packaging.version import Version

from depbot.advisories.interface import AdvisorySourceError
from depbot.advisories.osv_dir import OSVDirSource
from depbot.models import Lockfile, LockHeader, Pin, canonicalize_name
from tests.support.fresh_python import run_fresh

FIXTURES = Path(__file__).parent.parent / "fixtures" / "osv"

SCENARIO = {
    "requests": "2.19.1",
    "urllib3": "1.24.1",
    "jinja2": "2.10",
    "pillow": "8.0.0",
    "scikit-learn": "0.24.2",
    "torch": "1.13.0",
    "numpy": "1.21.0",
}


def lockfile(pins: dict[str, str]) -> Lockfile:
    return Lockfile(
        path=PurePosixPath("requirements.txt"),
        header=LockHeader("pip-compile", "3.11", ()),
        pins=tuple(
            Pin(canonicalize_name(n), Version(v), line=i) for i, (n, v) in enumerate(pins.items())
        ),
    )


def test_main_scenario_from_the_fixtures() -> None:
    source = OSVDirSource(FIXTURES)
    advisories = source.advisories([lockfile(SCENARIO)])
    assert source.spec == f"osv-dir:{FIXTURES}"
    ids = {a.package: set() for a in advisories}
    for a in advisories:
        ids[a.package].add(a.id)
    assert ids == {
        "requests": {"PYSEC-2018-28"},
        "urllib3": {"PYSEC-2019-132", "PYSEC-2019-133"},
        "jinja2": {"PYSEC-2019-217", "PYSEC-2021-66"},
        "pillow": {"CVE-2020-35653", "CVE-2021-25287", "CVE-2022-22817"},
        "scikit-learn": {"PYSEC-2020-108"},
        "torch": {"CVE-2025-32434"},
    }
    affecting = {a.id for a in advisories if a.affects(Version(SCENARIO[a.package]))}
    # scikit-learn's record is returned (classification decides) but 0.24.2 is past its fix
    assert "PYSEC-2020-108" not in affecting
    assert len(affecting) == 9
    by_id = {a.id: a for a in advisories}
    assert by_id["PYSEC-2018-28"].aliases == {"CVE-2018-18074", "GHSA-x84v-xcm2-53pg"}
    assert by_id["PYSEC-2018-28"].fixed == (Version("2.20.0"),)
    assert by_id["CVE-2022-22817"].fixed == (Version("9.0.0"),)
    assert all(a.source == source.spec for a in advisories)


def test_only_pinned_packages_are_returned() -> None:
    advisories = OSVDirSource(FIXTURES).advisories([lockfile({"Requests": "2.31.0"})])
    assert [a.id for a in advisories] == ["PYSEC-2018-28"]


def _record(rid: str, name: str, fixed: str) -> dict[str, object]:
    return {
        "id": rid,
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": name},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}
                ],
            }
        ],
    }


def test_json_yaml_and_yml_recursively_hidden_folders_skipped(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "X-1.json").write_text(json.dumps(_record("X-1", "alpha", "1.0")))
    (tmp_path / "a" / "X-2.yml").write_text(json.dumps(_record("X-2", "alpha", "2.0")))
    (tmp_path / "X-3.yaml").write_text(json.dumps(_record("X-3", "alpha", "3.0")))
    (tmp_path / "notes.txt").write_text("not a record")
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / ".github" / "workflows" / "ci.yml").write_text("on: [push]\njobs: {}\n")
    (tmp_path / "W-1.json").write_text(
        json.dumps({**_record("W-1", "alpha", "9"), "withdrawn": "2024-01-01T00:00:00Z"})
    )
    advisories = OSVDirSource(tmp_path).advisories([lockfile({"alpha": "0.5"})])
    assert sorted(a.id for a in advisories) == ["X-1", "X-2", "X-3"]


def test_missing_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(AdvisorySourceError, match="not a directory"):
        OSVDirSource(tmp_path / "absent").advisories([lockfile({"alpha": "1"})])


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.yaml", "id: [unclosed\n", "not valid YAML"),
        ("bad.json", "{", "not valid JSON"),
        ("bad.yaml", "- just\n- a list\n", "must be an object"),
        ("bad.json", json.dumps(_record("BAD-1", "alpha", "1.x")), "BAD-1"),
    ],
)
def test_malformed_file_is_an_error_naming_it(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    (tmp_path / "X-1.json").write_text(json.dumps(_record("X-1", "alpha", "1.0")))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / name).write_text(content)
    with pytest.raises(AdvisorySourceError, match=message) as info:
        OSVDirSource(tmp_path).advisories([lockfile({"alpha": "1"})])
    assert str(tmp_path / "sub" / name) in str(info.value)


def test_json_records_are_read_without_importing_yaml(tmp_path: Path) -> None:
    (tmp_path / "osv").mkdir()
    (tmp_path / "osv" / "X-1.json").write_text(json.dumps(_record("X-1", "alpha", "1.0")))
    code = (
        "from pathlib import Path\n"
        "from depbot.advisories.osv_dir import OSVDirSource\n"
        "print([a.id for a in OSVDirSource(Path('osv'))._load()])\n"
    )
    assert run_fresh(code, tmp_path, ["yaml"]) == (["['X-1']"], [])
