"""The demo's sample project and its index: a security fix pending, a dozen clean minor
updates, one minor update that breaks a test, one major that breaks the build.

Everything is built here, offline: the wheels, the OSV record, the project's git repository
and its lockfile (compiled with the real pip-compile against the loopback index while only the
old releases are on it; the new releases are published afterwards).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from depbot.demo.index_server import IndexServer
from depbot.demo.wheels import Dist
from depbot.forge.git import Git
from depbot.lock.piptools import compile_new

__all__ = ["SampleProject", "build_project", "new_releases", "old_releases", "osv_record"]

MAINTAINER = {
    "GIT_AUTHOR_NAME": "Demo Maintainer",
    "GIT_AUTHOR_EMAIL": "maintainer@example.invalid",
    "GIT_COMMITTER_NAME": "Demo Maintainer",
    "GIT_COMMITTER_EMAIL": "maintainer@example.invalid",
}
"""Who commits the sample project (the demo never relies on the user's git identity)."""

# (name, old version, new version): the clean updates of the minor batch
CLEAN = [
    ("amber", "1.0.0", "1.0.3"),
    ("birch", "1.4.0", "1.6.2"),
    ("cedar", "2.1.0", "2.1.1"),
    ("dune", "1.0.0", "1.2.0"),  # transitive: cedar needs it, the project does not name it
    ("elm", "3.0.0", "3.0.1"),
    ("fern", "1.1.0", "1.3.0"),
    ("grove", "0.3.1", "0.3.9"),  # 0.x: 0.3.9 is in 0.3.1's series
    ("heath", "5.2.0", "5.2.4"),
    ("iris", "1.0.0", "1.0.1"),
    ("juniper", "2.2.0", "2.3.0"),
    ("kelp", "1.0.0", "1.1.0"),
    ("lotus", "4.0.0", "4.0.2"),
]
SECURE = ("safeurl", "1.0.0", "1.0.1")
BREAKS_MINOR = ("quartz", "2.3.0", "2.4.0")
BREAKS_MAJOR = ("ravel", "1.2.0", "2.0.0")
ADVISORY_ID = "DEMO-2026-0001"


def _module(name: str, version: str, body: str = "") -> dict[str, str]:
    return {f"{name}.py": f'__version__ = "{version}"\n{body}'}


def _dist(name: str, version: str, body: str = "", requires: Sequence[str] = ()) -> Dist:
    return Dist(name, version, requires=requires, modules=_module(name, version, body))


def _releases(which: int) -> list[Dist]:
    """Index 1 picks the old releases, 2 the new ones."""
    dists = []
    for name, *versions in CLEAN:
        requires = ["dune>=1.0"] if name == "cedar" else []
        dists.append(_dist(name, versions[which - 1], "def ok():\n    return True\n", requires))
    name, *versions = SECURE
    dists.append(_dist(name, versions[which - 1], "def quote(s):\n    return s\n"))
    name, *versions = BREAKS_MINOR
    # 2.4.0 "optimises" mul and gets it wrong: a test of the project catches it
    mul = "a * b" if which == 1 else "a + b"
    dists.append(_dist(name, versions[which - 1], f"def mul(a, b):\n    return {mul}\n"))
    name, *versions = BREAKS_MAJOR
    # 2.0.0 renames join to concat: the breaking change a major announces
    fn = "join" if which == 1 else "concat"
    body = f"def {fn}(parts):\n    return '-'.join(parts)\n"
    dists.append(_dist(name, versions[which - 1], body))
    return dists


def old_releases() -> list[Dist]:
    return _releases(1)


def new_releases() -> list[Dist]:
    return _releases(2)


@dataclass(frozen=True)
class SampleProject:
    """Where the demo put things."""

    repo: Path
    advisories: Path
    index_url: str


TESTS = """\
import unittest

import amber, birch, cedar, dune, elm, fern, grove, heath, iris, juniper, kelp, lotus
import quartz
import ravel
import safeurl


class TestApp(unittest.TestCase):
    def test_everything_imports(self):
        for mod in (amber, birch, cedar, dune, elm, fern, grove, heath, iris, juniper, kelp, lotus):
            self.assertTrue(mod.ok())

    def test_area(self):
        self.assertEqual(quartz.mul(3, 4), 12)

    def test_slug(self):
        self.assertEqual(ravel.join(["a", "b"]), "a-b")

    def test_quote(self):
        self.assertEqual(safeurl.quote("x"), "x")


if __name__ == "__main__":
    unittest.main()
"""


def osv_record(
    advisory_id: str, name: str, fixed: str, alias: str, summary: str, date: str
) -> dict[str, object]:
    """An OSV record: every version of ``name`` before ``fixed`` is affected."""
    return {
        "schema_version": "1.6.0",
        "id": advisory_id,
        "modified": date,
        "published": date,
        "aliases": [alias],
        "summary": summary,
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": name},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}
                ],
            }
        ],
    }


def build_project(root: Path, index: IndexServer, env: Mapping[str, str]) -> SampleProject:
    """Writes the sample project under ``root``, compiles its lockfile, commits it.

    ``index`` must serve the old releases only; ``env`` is a clean pip environment (no pip
    configuration of the machine) pointing at it.
    """
    repo = root / "project"
    repo.mkdir(parents=True)
    direct = [name for name, *_ in CLEAN if name != "dune"]
    direct += [SECURE[0], BREAKS_MINOR[0], BREAKS_MAJOR[0]]
    (repo / "requirements.in").write_text("\n".join(sorted(direct)) + "\n")
    (repo / "tests").mkdir()
    (repo / "tests" / "__init__.py").write_text("")
    (repo / "tests" / "test_app.py").write_text(TESTS)
    (repo / "depbot.toml").write_text(
        'test-command = "python -m unittest discover -s tests"\n'
        f'index-url = "{index.url}"\n'
        f'advisories = ["osv-dir:{(root / "advisories").as_posix()}"]\n'
    )
    (repo / ".gitignore").write_text("__pycache__/\n")
    options = ["--generate-hashes", "--strip-extras"]
    compile_new(repo, "requirements.in", "requirements.txt", options, env)
    maintainer = Git(repo, env={**env, **MAINTAINER})
    maintainer.run("init", "-q", "-b", "main")
    maintainer.run("add", ".")
    maintainer.run("commit", "-q", "-m", "Sample project")

    advisories = root / "advisories"
    advisories.mkdir()
    name, _, fixed = SECURE
    summary = f"{name} does not quote URLs before {fixed}"
    record = osv_record(ADVISORY_ID, name, fixed, "CVE-2026-0001", summary, "2026-11-01T00:00:00Z")
    (advisories / f"{ADVISORY_ID}.json").write_text(json.dumps(record, indent=2))
    return SampleProject(repo=repo, advisories=advisories, index_url=index.url)
