"""A tiny pip-compile project and its loopback index, for the lock backends and their stages.

The lockfiles are compiled with the real pip-compile while only the old releases are on the
index; the new ones are published afterwards, so every test starts from real, held pins.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import clean_env
from tests.support.index_server import IndexServer, serve_index
from tests.support.wheels import Dist

__all__ = ["NEW", "OLD", "LockWorld", "lock_world", "write_files"]

OLD = [
    Dist("alpha", "1.0", ["beta>=1"]),
    Dist("beta", "1.0"),
    Dist("gamma", "1.0"),
    Dist("delta", "1.0"),
]
NEW = [
    Dist("alpha", "1.1", ["beta>=1"]),
    Dist("alpha", "2.0", ["beta>=9"]),  # no beta 9 exists: unresolvable
    Dist("beta", "1.2"),
    Dist("gamma", "1.5"),
    Dist("delta", "1.1"),
]

MAIN_COMMAND = "pip-compile --generate-hashes --output-file=requirements.txt requirements.in"
DEV_COMMAND = "pip-compile --output-file=requirements/dev.txt requirements/dev.in"


@dataclass(frozen=True)
class LockWorld:
    """The index and a template repository with two lockfiles compiled from old releases.

    ``requirements.txt`` has hashes and no index line; ``requirements/dev.txt`` has no hashes
    and the index line pip-compile wrote from ``PIP_INDEX_URL``.
    """

    index: IndexServer
    template: Path
    env: Mapping[str, str]
    """A pip environment whose only index is the loopback one."""

    def repo(self, where: Path) -> Path:
        """A fresh copy of the template repository."""
        shutil.copytree(self.template, where)
        return where


def write_files(root: Path, files: Mapping[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def _compile(repo: Path, env: Mapping[str, str], command: str, *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "piptools", "compile", "--quiet", *args],
        cwd=repo,
        env={**env, "CUSTOM_COMPILE_COMMAND": command},
        check=True,
        capture_output=True,
    )


@contextmanager
def lock_world(root: Path) -> Iterator[LockWorld]:
    """Serves the index under ``root`` and builds the template repository."""
    with serve_index(root / "index", OLD) as index:
        env = clean_env(index.url)
        template = root / "template"
        write_files(
            template,
            {"requirements.in": "alpha\ngamma\ndelta\n", "requirements/dev.in": "gamma\ndelta\n"},
        )
        _compile(
            template, env, MAIN_COMMAND, "--generate-hashes", "--no-emit-index-url",
            "--output-file=requirements.txt", "requirements.in",
        )  # fmt: skip
        _compile(
            template, env, DEV_COMMAND, "--output-file=requirements/dev.txt",
            "requirements/dev.in",
        )  # fmt: skip
        index.add(*NEW)
        yield LockWorld(index=index, template=template, env=env)
