"""A project pinning the torch family of one variant, compiled by the real pip-compile against
the PyTorch-shaped loopback index (``tests.support.torch_index``), as a git repository.

    with torch_project(tmp_path, "cu118") as project:
        project.publish(*family("2.7.1", "cu118"))
        code, doc, err = project.run()
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any

from depbot.cli import main
from tests.conftest import clean_env
from tests.support.layouts import git
from tests.support.torch_index import TorchIndex, family, numpy, torch_index
from tests.support.wheels import Dist

__all__ = ["PROJECT_TEST", "TorchProject", "torch_project"]

PROJECT_TEST = """\
import unittest

import numpy
import torch
import torchaudio
import torchvision


class TestModel(unittest.TestCase):
    def test_the_variant_is_the_one_pinned(self):
        label = torch.__version__.partition("+")[2]
        self.assertEqual(torchvision.__version__.partition("+")[2], label)
        self.assertEqual(torchaudio.__version__.partition("+")[2], label)
        self.assertEqual(torch.version.cuda is None, label in ("", "cpu"))

    def test_numpy_works_beside_torch(self):
        self.assertTrue(numpy.__version__)
"""


@dataclass(frozen=True)
class TorchProject:
    repo: Path
    index: TorchIndex
    cache: Path

    def env(self) -> dict[str, str]:
        return clean_env(self.index.simple, DEPBOT_CACHE_DIR=str(self.cache))

    def depbot(self, *argv: str) -> tuple[int, str, str]:
        out, err = StringIO(), StringIO()
        command, *rest = argv
        code = main([command, "--repo", str(self.repo), *rest], self.env(), out, err)
        return code, out.getvalue(), err.getvalue()

    def plan(self) -> tuple[int, dict[str, Any], str]:
        code, out, err = self.depbot("plan", "--format", "json")
        return code, json.loads(out), err

    def run(self, *argv: str) -> tuple[int, dict[str, Any], str]:
        code, out, err = self.depbot("run", "--forge", "local", "--format", "json", *argv)
        return code, json.loads(out), err

    def publish(self, *dists: Dist) -> None:
        self.index.add(*dists)
        shutil.rmtree(self.cache, ignore_errors=True)

    def show(self, rev: str, path: str = "requirements.txt") -> str:
        return git(self.repo, "show", f"{rev}:{path}")

    def pins(self, rev: str, path: str = "requirements.txt") -> dict[str, str]:
        lines = [line.split("==") for line in self.show(rev, path).splitlines() if "==" in line]
        return {name.strip(): version.strip() for name, version in lines}


@contextmanager
def torch_project(
    root: Path, label: str | None, torch: str = "2.0.1", config: str = ""
) -> Iterator[TorchProject]:
    """torch ``torch`` with its partners built ``+label`` and numpy 1.26.4, locked from an
    ``--extra-index-url`` line naming the variant's folder in ``requirements.in``."""
    old = [*family(torch, label), *family(torch, None), numpy("1.26.4")]
    with torch_index(root / "index", old) as index:
        repo = root / "project"
        (repo / "tests").mkdir(parents=True)
        extra = f"--extra-index-url {index.whl(label)}\n" if label else ""
        sources = {
            "requirements.in": f"{extra}torch\ntorchvision\ntorchaudio\nnumpy\n",
            "tests/__init__.py": "",
            "tests/test_model.py": PROJECT_TEST,
            ".gitignore": "__pycache__/\n",
        }
        for name, text in sources.items():
            (repo / name).write_text(text, encoding="utf-8")
        command = "pip-compile requirements.in"
        subprocess.run(
            [sys.executable, "-m", "piptools", "compile", "--quiet", "requirements.in"],
            cwd=repo,
            env={**clean_env(index.simple), "CUSTOM_COMPILE_COMMAND": command},
            check=True,
            capture_output=True,
            timeout=180,
        )
        advisories = root / "advisories"
        advisories.mkdir()
        settings = (
            'test-command = "python -m unittest discover -s tests"\n'
            f"advisories = [{json.dumps(f'osv-dir:{advisories}')}]\n"
        )
        (repo / "depbot.toml").write_text(settings + config, encoding="utf-8")
        git(repo, "init", "-q", "-b", "main")
        git(repo, "add", ".")
        git(repo, "commit", "-q", "-m", "Model project")
        yield TorchProject(repo, index, root / "cache")
