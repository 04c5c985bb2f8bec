"""``constraints/`` (SPEC §6): a constraints file that pip-compile wrote is relocked like any
lockfile, before the lockfiles reading it; a hand-written one is respected and never rewritten,
and an update it forbids is reported as skipped with the constraint named.

Real pip-compile, venvs and git on a loopback index.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.layouts import Compile, checks_modules, layout_project
from tests.support.tiny_project import release

pytestmark = pytest.mark.slow

OLD = [release(n, "1.0") for n in ("alpha", "beta", "gamma")]
HAND_WRITTEN = "# kept by hand: alpha 1.1 breaks our plugin\nalpha<1.1\n"


def test_constraints_files_are_respected_and_updated_like_lockfiles(tmp_path: Path) -> None:
    files = {
        "constraints/shared.in": "gamma\n",
        "constraints/pins.txt": HAND_WRITTEN,
        "requirements.in": "-c constraints/shared.txt\n-c constraints/pins.txt\nalpha\nbeta\n",
        "tests/__init__.py": "",
        "tests/test_app.py": checks_modules("alpha", "beta", "gamma"),
    }
    compiles = [
        Compile("constraints/shared.in", "constraints/shared.txt"),
        Compile("requirements.in", "requirements.txt"),
    ]
    with layout_project(tmp_path, OLD, files, compiles) as project:
        project.publish(release("alpha", "1.1"), release("beta", "1.1"), release("gamma", "1.1"))
        code, doc, err = project.run()
        assert code == 0, err
        [minor] = doc["batches"]
        assert minor["status"] == "opened", minor
        assert {k["name"]: k["target"] for k in minor["kept"]} == {"beta": "1.1", "gamma": "1.1"}
        assert project.pins("depbot/minor")["alpha"] == "1.0"
        assert "gamma==1.1" in project.show("depbot/minor", "constraints/shared.txt")
        assert project.show("depbot/minor", "constraints/pins.txt") == HAND_WRITTEN
        code, text, err = project.depbot("plan")
        assert code == 0, err
        assert "1.1 is forbidden in requirements.txt by constraints/pins.txt: alpha<1.1" in text
