"""pip-tools and what it needs, as wheels for a loopback index: built in the test from the
distributions installed in the test environment, so depbot can install pip-tools for another
Python (a lockfile "compiled with Python 3.10") without the network.

tomli (needed below Python 3.11) is not installed on 3.11: a stand-in of it re-exports the
parser pip vendors, which every virtual environment has.
"""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
from pathlib import Path

from depbot.demo.wheels import Dist

__all__ = ["find_python", "installed_dist", "pip_tools_dists"]

_TOOLS = ("pip-tools", "build", "click", "pyproject_hooks", "wheel", "packaging")
_TYPING = "typing_extensions"

_TOMLI = '''"""A stand-in for tomli in the tests' tool environments: pip's vendored copy."""
from pip._vendor.tomli import TOMLDecodeError, load, loads

__all__ = ["TOMLDecodeError", "load", "loads"]
'''


def installed_dist(name: str) -> Dist:
    """The installed distribution ``name`` as a Dist: its importable files and requirements."""
    dist = importlib.metadata.distribution(name)
    modules: dict[str, str] = {}
    for file in dist.files or ():
        parts = file.parts
        if not parts or parts[0].endswith((".dist-info", ".data")) or "__pycache__" in parts:
            continue
        if parts[0] in ("..", "bin") or file.suffix in (".pyc", ".exe"):
            continue
        try:
            modules[str(file)] = file.read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError):
            continue
    return Dist(dist.metadata["Name"], dist.version, requires=dist.requires or (), modules=modules)


def pip_tools_dists() -> list[Dist]:
    """pip-tools at the installed version, its dependencies, and the tomli stand-in."""
    dists = [installed_dist(name) for name in (*_TOOLS, _TYPING)]
    return [*dists, Dist("tomli", "2.0.1", modules={"tomli/__init__.py": _TOMLI})]


def find_python(version: str) -> str | None:
    """An interpreter of ``version`` that runs here: ``pythonX.Y`` on PATH, or one of pyenv's
    (whose shims refuse versions that are not selected)."""
    candidates = [shutil.which(f"python{version}")]
    candidates += sorted(
        str(p) for p in Path.home().glob(f".pyenv/versions/{version}*/bin/python{version}")
    )
    for candidate in candidates:
        if not candidate:
            continue
        done = subprocess.run(
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode == 0 and done.stdout.strip() == version:
            return candidate
    return None
