"""Projects laid out as real ones are: several lockfiles, ``-c`` layering, a ``requirements/``
folder, a lockfile for another Python. Each lockfile is compiled by the real pip-compile from
its own folder, as a maintainer would, on a loopback index; the project is a git repository.

    with layout_project(tmp_path, dists, sources, compiles) as project:
        code, doc, err = project.run()
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from depbot.demo.index_server import serve_index
from depbot.demo.wheels import Dist
from tests.conftest import clean_env
from tests.support.tiny_project import TinyProject

__all__ = ["Compile", "checks_modules", "layout_project"]


@dataclass(frozen=True)
class Compile:
    """``pip-compile SOURCE -o OUTPUT`` run in ``folder`` (relative to the repository)."""

    source: str
    output: str
    folder: str = "."


def checks_modules(*names: str) -> str:
    """A unittest module that imports ``names`` and fails when one says it is broken."""
    return (
        "import importlib\nimport unittest\n\n\nclass TestApp(unittest.TestCase):\n"
        "    def test_packages_work(self):\n"
        f"        for name in {list(names)!r}:\n"
        "            module = importlib.import_module(name)\n"
        "            self.assertTrue(module.OK, name + ' ' + module.__version__ + ' is broken')\n"
    )


def _compile(repo: Path, step: Compile, index_url: str) -> None:
    folder = repo / step.folder
    command = f"pip-compile --output-file={step.output} {step.source}"
    subprocess.run(
        [sys.executable, "-m", "piptools", "compile", "--quiet", "--no-emit-index-url",
         f"--output-file={step.output}", step.source],
        cwd=folder,
        env={**clean_env(index_url), "CUSTOM_COMPILE_COMMAND": command},
        check=True,
        capture_output=True,
        timeout=180,
    )  # fmt: skip


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=A Human", "-c", "user.email=human@example.invalid", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


@contextmanager
def layout_project(
    root: Path,
    dists: Sequence[Dist],
    files: Mapping[str, str],
    compiles: Sequence[Compile],
    *,
    config: str = "",
    test_command: str = "python -m unittest discover -s tests",
) -> Iterator[TinyProject]:
    """A repository under ``root`` with ``files``, lockfiles compiled in the order of
    ``compiles`` against an index serving ``dists``, and ``config`` in its ``depbot.toml``."""
    with serve_index(root / "index", dists) as index:
        repo = root / "project"
        for name, text in files.items():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            (repo / name).write_text(text, encoding="utf-8")
        for step in compiles:
            _compile(repo, step, index.url)
        advisories = root / "advisories"
        advisories.mkdir(exist_ok=True)
        settings = (
            f"test-command = {json.dumps(test_command)}\n"
            f"index-url = {json.dumps(index.url)}\n"
            f"advisories = [{json.dumps(f'osv-dir:{advisories}')}]\n"
        )
        (repo / "depbot.toml").write_text(settings + config, encoding="utf-8")
        (repo / ".gitignore").write_text("__pycache__/\n", encoding="utf-8")
        git(repo, "init", "-q", "-b", "main")
        git(repo, "add", ".")
        git(repo, "commit", "-q", "-m", "Project")
        yield TinyProject(repo, index, root / "cache")
