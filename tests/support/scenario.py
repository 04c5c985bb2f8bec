"""The acceptance scenario of ``depbot run``: a project built like the demo's, another mix.

Twenty minor updates (one of them a transitive pin) of which two break different tests, a
security fix announced by an OSV record committed with the project, a major that passes and a
major that breaks. The lockfile is compiled with the real pip-compile while only the old
releases are on the loopback index; :func:`publish_new_releases` then adds the new ones.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from depbot.demo.index_server import IndexServer
from depbot.demo.project import osv_record
from depbot.demo.wheels import Dist

__all__ = [
    "ADVISORY_ID",
    "BREAKS_FUNCTION",
    "BREAKS_RESULT",
    "CLEAN",
    "MAJOR_BREAKS",
    "MAJOR_PASSES",
    "SECURE",
    "TEST_COMMAND",
    "TRANSITIVE",
    "Scenario",
    "build_scenario",
    "git",
    "new_releases",
    "old_releases",
]

# (name, old, new): the minor updates that pass the tests
CLEAN = [
    ("acorn", "1.0.0", "1.0.4"),
    ("basil", "2.1.0", "2.4.0"),
    ("clove", "3.0.0", "3.0.1"),
    ("dill-weed", "1.0.0", "1.2.0"),  # transitive: clove needs it, the project does not name it
    ("ember", "0.4.1", "0.4.7"),  # 0.x: 0.4.7 is in 0.4.1's series
    ("flint", "1.2.0", "1.3.0"),
    ("garnet", "4.4.0", "4.4.2"),
    ("hazel", "1.0.0", "1.1.0"),
    ("indigo", "2.0.0", "2.0.9"),
    ("jasper", "1.5.0", "1.9.0"),
    ("kale", "6.1.0", "6.1.1"),
    ("linen", "1.0.0", "1.0.1"),
    ("maple", "3.3.0", "3.4.0"),
    ("nutmeg", "0.9.0", "0.9.2"),
    ("olive", "2.2.2", "2.2.3"),
    ("pepper", "1.0.0", "1.6.0"),
    ("rowan", "5.0.0", "5.0.5"),
    ("sorrel", "1.1.0", "1.2.0"),
]
TRANSITIVE = "dill-weed"
BREAKS_RESULT = ("quartz", "2.3.0", "2.4.0")
"""Its new release computes a wrong result: ``test_area`` fails."""
BREAKS_FUNCTION = ("prism", "1.1.0", "1.2.0")
"""Its new release removes a function: ``test_split`` errors."""
SECURE = ("shield", "1.0.0", "1.0.1")
MAJOR_PASSES = ("vault", "1.4.0", "2.0.0")
MAJOR_BREAKS = ("ravel", "1.2.0", "2.0.0")
ADVISORY_ID = "SCEN-2026-0042"
TEST_COMMAND = "python -m unittest discover -s tests"

OK = "def ok():\n    return True\n"


def _dist(name: str, version: str, body: str, requires: Sequence[str] = ()) -> Dist:
    module = name.replace("-", "_")
    source = f'__version__ = "{version}"\n{body}'
    return Dist(name, version, requires=requires, modules={f"{module}.py": source})


def _releases(new: bool) -> list[Dist]:
    def version(entry: tuple[str, str, str]) -> str:
        return entry[2] if new else entry[1]

    dists = []
    for entry in CLEAN:
        requires = [f"{TRANSITIVE}>=1.0"] if entry[0] == "clove" else []
        dists.append(_dist(entry[0], version(entry), OK, requires))
    # the new release "optimises" area and gets it wrong
    area = "w + h" if new else "w * h"
    body = f"def area(w, h):\n    return {area}\n"
    dists.append(_dist(BREAKS_RESULT[0], version(BREAKS_RESULT), body))
    # the new release removes split without a deprecation period
    split = "" if new else "def split(s):\n    return s.split(',')\n"
    dists.append(_dist(BREAKS_FUNCTION[0], version(BREAKS_FUNCTION), OK + split))
    body = "def escape(s):\n    return s\n"
    dists.append(_dist(SECURE[0], version(SECURE), body))
    # 2.0.0 drops an alias the project never used: this major passes the tests
    alias = "" if new else "store = put\n"
    body = "def put(k, v):\n    return {k: v}\n" + alias
    dists.append(_dist(MAJOR_PASSES[0], version(MAJOR_PASSES), body))
    # 2.0.0 renames join to concat: this major breaks test_slug
    body = f"def {'concat' if new else 'join'}(parts):\n    return '-'.join(parts)\n"
    dists.append(_dist(MAJOR_BREAKS[0], version(MAJOR_BREAKS), body))
    return dists


def old_releases() -> list[Dist]:
    return _releases(new=False)


def new_releases() -> list[Dist]:
    return _releases(new=True)


DIRECT = sorted(
    [n for n, *_ in CLEAN if n != TRANSITIVE]
    + [BREAKS_RESULT[0], BREAKS_FUNCTION[0], SECURE[0], MAJOR_PASSES[0], MAJOR_BREAKS[0]]
)

TESTS = f"""\
import unittest

import {", ".join(n.replace("-", "_") for n, *_ in CLEAN)}
import prism
import quartz
import ravel
import shield
import vault


class TestApp(unittest.TestCase):
    def test_everything_imports(self):
        for mod in ({", ".join(n.replace("-", "_") for n, *_ in CLEAN)}, prism):
            self.assertTrue(mod.ok())

    def test_area(self):
        self.assertEqual(quartz.area(3, 4), 12)

    def test_split(self):
        self.assertEqual(prism.split("a,b"), ["a", "b"])

    def test_slug(self):
        self.assertEqual(ravel.join(["a", "b"]), "a-b")

    def test_escape(self):
        self.assertEqual(shield.escape("x"), "x")

    def test_put(self):
        self.assertEqual(vault.put("k", 1), {{"k": 1}})


if __name__ == "__main__":
    unittest.main()
"""

PYPROJECT = f"""\
[tool.depbot]
test-command = "{TEST_COMMAND}"
advisories = ["osv-dir:advisories"]
"""


def _advisory() -> dict[str, object]:
    name, _, fixed = SECURE
    summary = f"{name} does not escape its input before {fixed}"
    return osv_record(ADVISORY_ID, name, fixed, "CVE-2026-4242", summary, "2026-10-01T00:00:00Z")


def git(repo: Path, *args: str) -> str:
    """Runs git in ``repo`` as the project's maintainer; its stdout."""
    done = subprocess.run(
        ["git", "-c", "user.name=Scenario Maintainer", "-c", "user.email=m@example.invalid",
         "-c", "commit.gpgsign=false", *args],
        cwd=repo, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return done.stdout


@dataclass(frozen=True)
class Scenario:
    """Where the scenario's project is."""

    repo: Path
    index_url: str


def build_scenario(root: Path, index: IndexServer, env: Mapping[str, str]) -> Scenario:
    """Writes the project under ``root / "project"``, compiles its lockfile, commits it.

    ``index`` must serve the old releases only; ``env`` is a clean pip environment whose only
    index is ``index``.
    """
    repo = root / "project"
    (repo / "tests").mkdir(parents=True)
    (repo / "advisories").mkdir()
    (repo / "requirements.in").write_text("\n".join(DIRECT) + "\n")
    (repo / "tests" / "__init__.py").write_text("")
    (repo / "tests" / "test_app.py").write_text(TESTS)
    (repo / "pyproject.toml").write_text(PYPROJECT)
    (repo / "README.md").write_text("# scenario\n\nA project kept fresh by depbot.\n")
    (repo / ".gitignore").write_text("__pycache__/\n")
    (repo / "advisories" / f"{ADVISORY_ID}.json").write_text(json.dumps(_advisory(), indent=2))
    # pip-compile's own header, as a user who ran it by hand has it
    subprocess.run(
        [sys.executable, "-m", "piptools", "compile", "--quiet", "--generate-hashes",
         "--allow-unsafe", "--output-file=requirements.txt", "requirements.in"],
        cwd=repo, env=dict(env), check=True, capture_output=True,
    )  # fmt: skip
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "The project")
    return Scenario(repo=repo, index_url=index.url)
