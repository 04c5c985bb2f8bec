"""``depbot plan`` on the loopback scenario's lockfile, against the real default index.

Only what stays true as new releases appear is asserted: the security targets (the lowest
release free of the fixture advisories) and the kinds; major and minor targets are only
required to be in the right series.
"""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from packaging.version import Version

from depbot.cli import main
from depbot.stages.classify import series
from tests.conftest import clean_env
from tests.e2e.test_plan_loopback import (
    JINJA2_REDOS,
    JINJA2_SANDBOX,
    PILLOW_IMAGEMATH,
    PILLOW_JPEG2000,
    PILLOW_PCX,
    REQUESTS_2018,
    TORCH_LOAD,
    URLLIB3_CERTS,
    URLLIB3_CRLF,
    make_repo,
)

pytestmark = pytest.mark.online

# name → (target, breaking, advisories): fixed by the advisories, not by the latest release
SECURITY: dict[str, tuple[str, bool, list[dict[str, Any]]]] = {
    "jinja2": ("2.11.3", False, [JINJA2_SANDBOX, JINJA2_REDOS]),
    "pillow": ("9.0.0", True, [PILLOW_PCX, PILLOW_JPEG2000, PILLOW_IMAGEMATH]),
    "requests": ("2.20.0", False, [REQUESTS_2018]),
    "torch": ("2.6.0", True, [TORCH_LOAD]),
    "urllib3": ("1.24.3", False, [URLLIB3_CRLF, URLLIB3_CERTS]),
}

# name → the series its minor target stays in (1.26.x for urllib3: the last 1.x line)
MINOR = {"requests": "2.19.1", "urllib3": "1.24.1"}

# name → the version its major target must be newer than, in a newer series
MAJOR = {
    "click": "7.1.2",
    "jinja2": "2.10",
    "pillow": "9.0.0",
    "scikit-learn": "0.24.2",
    "torch": "2.6.0",
    "urllib3": "1.26.20",
}


def test_plan_against_the_real_index(tmp_path: Path) -> None:
    out, err = StringIO(), StringIO()
    # index_url=None: pip's files are disabled, so the configuration's default index applies
    env = clean_env(index_url=None, DEPBOT_CACHE_DIR=str(tmp_path / "cache"))
    repo = make_repo(tmp_path)
    code = main(["plan", "--repo", str(repo), "--format", "json"], env=env, out=out, err=err)
    assert (code, err.getvalue()) == (0, "")
    doc = json.loads(out.getvalue())
    assert doc["skipped"] == []

    by_kind: dict[str, dict[str, dict[str, Any]]] = {}
    for u in doc["updates"]:
        assert u["lockfiles"] == ["requirements.txt"]
        assert u["name"] not in by_kind.setdefault(u["kind"], {}), u
        by_kind[u["kind"]][u["name"]] = u

    security = {
        n: (u["target"], u["breaking"], u["advisories"]) for n, u in by_kind["security"].items()
    }
    assert security == SECURITY

    assert set(by_kind["minor"]) == set(MINOR)
    for name, current in MINOR.items():
        target = Version(by_kind["minor"][name]["target"])
        assert series(target) == series(Version(current)), name
        assert target > Version(SECURITY[name][0])
        assert by_kind["minor"][name]["breaking"] is False

    # requests 3 may appear one day; every other major is already out
    assert set(by_kind["major"]) - {"requests"} == set(MAJOR)
    for name, floor in MAJOR.items():
        u = by_kind["major"][name]
        target = Version(u["target"])
        assert target > Version(floor), name
        assert series(target) != series(Version(u["current"])), name
        assert u["breaking"] is True
        assert u["advisories"] == []

    batches = {b["id"]: b for b in doc["batches"]}
    assert set(batches) - {"major-requests"} == {
        "security",
        "minor",
        *(f"major-{name}" for name in MAJOR),
    }
    assert [(u["name"], u["target"]) for u in batches["security"]["updates"]] == [
        (name, SECURITY[name][0]) for name in sorted(SECURITY)
    ]
    assert [u["name"] for u in batches["minor"]["updates"]] == sorted(MINOR)
    assert [u["name"] for u in batches["major-torch"]["updates"]] == ["torch"]
