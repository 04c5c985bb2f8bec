"""``depbot run`` on repositories shaped like real ones (SPEC §2, §5): layered lockfiles, a
``requirements/`` folder, a lockfile of another Python, alternatives, moved pins.

Each test reproduces what was seen on such a layout; real pip-compile, git and venvs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.layouts import Compile, checks_modules, git, layout_project
from tests.support.tiny_project import TinyProject, release
from tests.support.tool_wheels import find_python, pip_tools_dists

pytestmark = pytest.mark.slow

OLD = [release(n, "1.0") for n in ("alpha", "beta", "gamma", "delta")]


def pins(project: TinyProject, rev: str, path: str) -> dict[str, str]:
    text = project.show(rev, path)
    pairs = [line.split(" ")[0].split("==") for line in text.splitlines() if "==" in line]
    return {name.strip(): version.strip() for name, version in pairs}


def batches(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["id"]: b for b in doc["batches"]}


def kept(batch: dict[str, Any]) -> dict[str, str]:
    return {k["name"]: k["target"] for k in batch["kept"]}


def reasons(batch: dict[str, Any]) -> dict[str, str]:
    return {r["name"]: r["reason"] for r in batch["rolled_back"]}


# ---------------------------------------------------------------------------- layering


def test_layered_lockfiles_are_relocked_in_order_and_tested_together(tmp_path: Path) -> None:
    # pip-tools' "workflow for layered requirements": dev.in is constrained by requirements.txt
    files = {
        "requirements.in": "alpha\nbeta\n",
        "dev.in": "-c requirements.txt\nalpha\ngamma\n",
        "tests/__init__.py": "",
        "tests/test_app.py": checks_modules("alpha", "beta", "gamma"),
    }
    compiles = [Compile("requirements.in", "requirements.txt"), Compile("dev.in", "dev.txt")]
    with layout_project(tmp_path, OLD, files, compiles) as project:
        project.publish(release("alpha", "1.1"))
        code, doc, err = project.run()
        minor = batches(doc)["minor"]
        assert code == 0, err
        assert (minor["status"], kept(minor), minor["rolled_back"]) == (
            "opened",
            {"alpha": "1.1"},
            [],
        )
        for path in ("requirements.txt", "dev.txt"):
            assert pins(project, "depbot/minor", path)["alpha"] == "1.1"
        # nothing was remembered against it
        with project.store() as store:
            assert store.rollbacks() == ()


def test_a_requirements_folder_with_relative_headers(tmp_path: Path) -> None:
    files = {
        "requirements/base.in": "alpha\n",
        "requirements/tests.in": "-c base.txt\nalpha\nbeta\n",
        "tests/__init__.py": "",
        "tests/test_app.py": checks_modules("alpha", "beta"),
    }
    compiles = [
        Compile("base.in", "base.txt", "requirements"),
        Compile("tests.in", "tests.txt", "requirements"),
    ]
    with layout_project(tmp_path, OLD, files, compiles) as project:
        header = project.show("HEAD", "requirements/tests.txt")
        assert "pip-compile --output-file=tests.txt tests.in" in header
        project.publish(release("alpha", "1.1"), release("beta", "1.1"))
        code, doc, err = project.run()
        minor = batches(doc)["minor"]
        assert code == 0, err
        assert kept(minor) == {"alpha": "1.1", "beta": "1.1"}
        assert pins(project, "depbot/minor", "requirements/base.txt") == {"alpha": "1.1"}
        assert pins(project, "depbot/minor", "requirements/tests.txt") == {
            "alpha": "1.1",
            "beta": "1.1",
        }
        # the header is kept byte for byte: still relative to its own folder
        assert project.show("depbot/minor", "requirements/tests.txt").startswith(
            header.split("alpha==")[0]
        )


def test_a_cycle_of_references_is_bad_input(tmp_path: Path) -> None:
    files = {"a.in": "-c b.txt\nalpha\n", "b.in": "beta\n"}
    compiles = [Compile("b.in", "b.txt"), Compile("a.in", "a.txt")]
    with layout_project(tmp_path, OLD, files, compiles) as project:
        (project.repo / "b.in").write_text("-c a.txt\nbeta\n", encoding="utf-8")
        code, _, err = project.depbot("plan")
        assert code == 2
        assert "cycle" in err and "a.txt" in err and "b.txt" in err


# ---------------------------------------------------------------------------- moved pins


def test_pins_a_relock_moves_beyond_the_batch_are_listed_with_their_update(
    tmp_path: Path,
) -> None:
    old = [
        release("alpha", "1.0"),
        release("beta", "1.0", requires=["delta"]),
        release("delta", "1.0"),
    ]
    files = {
        "requirements.in": "alpha\nbeta\n",
        "tests/__init__.py": "",
        "tests/test_app.py": checks_modules("alpha", "beta"),
    }
    with layout_project(
        tmp_path, old, files, [Compile("requirements.in", "requirements.txt")]
    ) as project:
        # alpha 2.0 (a major) needs delta 1.1, itself a pending minor
        project.publish(release("alpha", "2.0", requires=["delta>=1.1"]), release("delta", "1.1"))
        code, doc, err = project.run()
        assert code == 0, err
        major = batches(doc)["major-alpha"]
        assert kept(major) == {"alpha": "2.0"}
        assert major["moved"] == [
            {"name": "delta", "current": "1.0", "target": "1.1", "required_by": "alpha"}
        ]
        assert pins(project, "depbot/major-alpha", "requirements.txt")["delta"] == "1.1"
        record = git(project.repo, "log", "-1", "--format=%B", "depbot/major-alpha")
        assert "delta" in record
        assert batches(doc)["minor"]["moved"] == []


# ---------------------------------------------------------------------------- a lockfile's Python


def test_a_lockfile_of_another_python_is_relocked_and_tested_with_that_python(
    tmp_path: Path,
) -> None:
    python = find_python("3.10")
    if python is None:
        pytest.skip("no Python 3.10 here")
    backport = release("backport", "1.0")
    old = [
        release("alpha", "1.0", requires=['backport; python_version < "3.11"']),
        backport,
        *pip_tools_dists(),
    ]
    header = (
        "#\n# This file is autogenerated by pip-compile with Python 3.10\n"
        "# by the following command:\n#\n#    pip-compile --output-file=requirements.txt"
        " requirements.in\n#\n"
    )
    files = {
        "requirements.in": "alpha\n",
        "requirements.txt": header
        + "alpha==1.0\n    # via -r requirements.in\nbackport==1.0\n    # via alpha\n",
        "tests/__init__.py": "",
        "tests/test_app.py": checks_modules("alpha", "backport")
        + "\n    def test_python(self):\n        import sys\n"
        "        self.assertEqual(sys.version_info[:2], (3, 10))\n",
    }
    config = f'pythons = {{"3.10" = "{python}"}}\n'
    with layout_project(tmp_path, old, files, [], config=config) as project:
        project.publish(release("alpha", "1.1", requires=['backport; python_version < "3.11"']))
        code, doc, err = project.run()
        minor = batches(doc)["minor"]
        assert code == 0, err
        assert (minor["status"], kept(minor)) == ("opened", {"alpha": "1.1"})
        # the python_version < "3.11" dependency survives a relock from 3.11
        assert pins(project, "depbot/minor", "requirements.txt") == {
            "alpha": "1.1",
            "backport": "1.0",
        }
        assert "with Python 3.10" in project.show("depbot/minor", "requirements.txt")


def test_a_lockfile_whose_python_is_missing_is_skipped_with_the_reason(tmp_path: Path) -> None:
    files = {
        "requirements.in": "alpha\n",
        "legacy.in": "beta\n",
        "tests/__init__.py": "",
        "tests/test_app.py": checks_modules("alpha"),
    }
    compiles = [Compile("requirements.in", "requirements.txt"), Compile("legacy.in", "legacy.txt")]
    with layout_project(tmp_path, OLD, files, compiles) as project:
        legacy = (project.repo / "legacy.txt").read_text(encoding="utf-8")
        legacy = legacy.replace("pip-compile with Python 3.11", "pip-compile with Python 3.99")
        (project.repo / "legacy.txt").write_text(legacy, encoding="utf-8")
        git(project.repo, "commit", "-qam", "legacy is for 3.99")
        project.publish(release("alpha", "1.1"), release("beta", "1.1"))
        code, doc, err = project.run()
        minor = batches(doc)["minor"]
        assert code == 0, err
        assert kept(minor) == {"alpha": "1.1"}
        [skipped] = minor["rolled_back"]
        assert (skipped["name"], skipped["reason"]) == ("beta", "python-missing")
        _, text, _ = project.depbot("run", "--dry-run")
        assert "python-missing" in text
        with project.store() as store:
            assert store.rollbacks() == ()  # not the update's fault: never remembered


# ---------------------------------------------------------------------------- environments


def test_alternative_lockfiles_get_an_environment_each(tmp_path: Path) -> None:
    # two lockfiles that cannot be installed together (beta 1.0 in one, 1.1 in the other)
    old = [*OLD, release("beta", "1.1")]
    files = {
        "requirements.in": "alpha\nbeta==1.0\n",
        "next.in": "alpha\nbeta==1.1\n",
        "tests/__init__.py": "",
        "tests/test_app.py": checks_modules("alpha", "beta"),
    }
    compiles = [Compile("requirements.in", "requirements.txt"), Compile("next.in", "next.txt")]
    with layout_project(tmp_path, old, files, compiles) as project:
        project.publish(release("alpha", "1.1"))
        code, doc, err = project.run()
        minor = batches(doc)["minor"]
        assert code == 0, err
        assert (minor["status"], kept(minor)) == ("opened", {"alpha": "1.1"})
        # the baseline and the batch, each in two environments
        assert minor["test_runs"] == 4
        for path in ("requirements.txt", "next.txt"):
            assert pins(project, "depbot/minor", path)["alpha"] == "1.1"


def test_configured_environments_override_the_grouping(tmp_path: Path) -> None:
    old = [*OLD, release("beta", "1.1")]
    files = {
        "requirements.in": "alpha\nbeta==1.0\n",
        "next.in": "alpha\nbeta==1.1\n",
        "tests/__init__.py": "",
        "tests/test_app.py": checks_modules("alpha", "beta"),
    }
    compiles = [Compile("requirements.in", "requirements.txt"), Compile("next.in", "next.txt")]
    # forced together, they cannot be installed: the baseline fails and nothing is blamed
    config = 'environments = [["requirements.txt", "next.txt"]]\n'
    with layout_project(tmp_path, old, files, compiles, config=config) as project:
        project.publish(release("alpha", "1.1"))
        code, doc, _ = project.run()
        minor = batches(doc)["minor"]
        assert code == 1
        assert minor["status"] == "failed"
        # beta==1.0 is what requirements.in asks for; alpha is never blamed
        assert reasons(minor) == {"beta": "unresolvable"}
