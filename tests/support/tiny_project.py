"""A tiny git project pinned with the real pip-compile, for running ``depbot run`` end to end.

Four packages (alpha, beta, gamma, delta) at 1.0 are compiled once into a template lockfile;
each test then gets its own loopback index, a copy of the template as a fresh git repository,
and publishes the new releases its scenario needs. A release's module says how it behaves under
the project's test: ``OK = False`` fails it, ``HANG = True`` makes it sleep for a minute.

    template = build_template(tmp_path_factory.mktemp("template"))
    with tiny_project(tmp_path, template, release("alpha", "1.1")) as project:
        code, doc, err = project.run("--format", "json")
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any

from depbot.cli import main
from depbot.demo.index_server import IndexServer, serve_index
from depbot.demo.wheels import Dist
from depbot.forge.git import depbot_dir
from depbot.state.store import Store, store_path
from tests.conftest import clean_env

__all__ = [
    "NAMES",
    "TEST_COMMAND",
    "TinyProject",
    "build_template",
    "release",
    "tiny_project",
]

NAMES = ("alpha", "beta", "gamma", "delta")
TEST_COMMAND = "python -m unittest discover -s tests"

PROJECT_TEST = f"""\
import time
import unittest

import {", ".join(NAMES)}


class TestApp(unittest.TestCase):
    def test_packages_work(self):
        for module in ({", ".join(NAMES)}):
            if module.HANG:
                time.sleep(60)
            self.assertTrue(module.OK, module.__name__ + " " + module.__version__ + " is broken")


if __name__ == "__main__":
    unittest.main()
"""

_COMPILE = "pip-compile --output-file=requirements.txt requirements.in"


def release(
    name: str,
    version: str,
    *,
    breaks: bool = False,
    hangs: bool = False,
    requires: Sequence[str] = (),
) -> Dist:
    """One release of a project package; ``breaks`` fails the project's test, ``hangs`` hangs it."""
    body = f'__version__ = "{version}"\nOK = {not breaks}\nHANG = {hangs}\n'
    return Dist(name, version, requires=requires, modules={f"{name}.py": body})


OLD = tuple(release(name, "1.0") for name in NAMES)


def build_template(root: Path) -> Path:
    """The project's files with ``requirements.txt`` compiled from the 1.0 releases."""
    template = root / "template"
    (template / "tests").mkdir(parents=True)
    (template / "requirements.in").write_text("\n".join(NAMES) + "\n", encoding="utf-8")
    (template / "tests" / "__init__.py").write_text("", encoding="utf-8")
    (template / "tests" / "test_app.py").write_text(PROJECT_TEST, encoding="utf-8")
    (template / ".gitignore").write_text("__pycache__/\n", encoding="utf-8")
    with serve_index(root / "index", OLD) as index:
        subprocess.run(
            [sys.executable, "-m", "piptools", "compile", "--quiet", "--no-emit-index-url",
             "--output-file=requirements.txt", "requirements.in"],
            cwd=template,
            env={**clean_env(index.url), "CUSTOM_COMPILE_COMMAND": _COMPILE},
            check=True,
            capture_output=True,
            timeout=120,
        )  # fmt: skip
    return template


@dataclass(frozen=True)
class TinyProject:
    """A git repository of the template and the loopback index it is configured with."""

    repo: Path
    index: IndexServer
    cache: Path

    def env(self, **extra: str) -> dict[str, str]:
        return clean_env(self.index.url, DEPBOT_CACHE_DIR=str(self.cache), **extra)

    def depbot(self, *argv: str, **env: str) -> tuple[int, str, str]:
        """``depbot ARGV`` on the repository: (exit code, stdout, stderr)."""
        out, err = StringIO(), StringIO()
        command, *rest = argv
        code = main([command, "--repo", str(self.repo), *rest], self.env(**env), out, err)
        return code, out.getvalue(), err.getvalue()

    def run(self, *argv: str, **env: str) -> tuple[int, dict[str, Any], str]:
        """``depbot run --format json ARGV``: (exit code, the JSON document, stderr)."""
        code, out, err = self.depbot("run", "--format", "json", *argv, **env)
        return code, json.loads(out), err

    def git(self, *args: str) -> str:
        done = subprocess.run(
            ["git", "-c", "user.name=A Human", "-c", "user.email=human@example.invalid", *args],
            cwd=self.repo,
            check=True,
            capture_output=True,
            text=True,
        )
        return done.stdout.strip()

    def publish(self, *dists: Dist) -> None:
        """New releases appear on the index, seen by the next run as if a day had passed: depbot
        trusts a looked-up index page for ten minutes, so its page cache is dropped."""
        self.index.add(*dists)
        shutil.rmtree(self.cache, ignore_errors=True)

    def show(self, rev: str, path: str) -> str:
        """The exact text of ``path`` at ``rev``."""
        done = subprocess.run(
            ["git", "show", f"{rev}:{path}"], cwd=self.repo, check=True, capture_output=True
        )
        return done.stdout.decode("utf-8")

    def branches(self) -> list[str]:
        out = self.git("for-each-ref", "--format=%(refname:short)", "refs/heads/depbot/")
        return out.splitlines()

    def pins(self, rev: str) -> dict[str, str]:
        """``name → version`` of ``requirements.txt`` at ``rev``."""
        text = self.show(rev, "requirements.txt")
        lines = [line.split("==") for line in text.splitlines() if "==" in line]
        return {name.strip(): version.strip() for name, version in lines}

    def store(self) -> Store:
        return Store(store_path(depbot_dir(self.repo)))


def _commit_all(project: TinyProject, message: str) -> None:
    project.git("init", "-q", "-b", "main")
    project.git("add", ".")
    project.git("commit", "-q", "-m", message)


@contextmanager
def tiny_project(
    root: Path, template: Path, *new: Dist, config: str = "", files: dict[str, str] | None = None
) -> Iterator[TinyProject]:
    """A fresh repository under ``root`` (``config`` appended to its ``depbot.toml``, ``files``
    added) and its index serving the 1.0 releases plus ``new``."""
    with serve_index(root / "index", [*OLD, *new]) as index:
        repo = root / "project"
        shutil.copytree(template, repo)
        advisories = root / "advisories"
        advisories.mkdir(exist_ok=True)
        settings = (
            f"test-command = {json.dumps(TEST_COMMAND)}\n"
            f"index-url = {json.dumps(index.url)}\n"
            f"advisories = [{json.dumps(f'osv-dir:{advisories}')}]\n"
        )
        files = {"depbot.toml": settings + config, **(files or {})}
        for name, text in files.items():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            (repo / name).write_text(text, encoding="utf-8")
        project = TinyProject(repo, index, root / "cache")
        _commit_all(project, "Tiny project")
        yield project
