#!/usr/bin/env python3
"""Sets up ``.venv`` from ``constraints/`` and runs depbot's demo or its checks.

    python3 dev.py demo [ARGS…]   set up, then ``depbot demo``
    python3 dev.py test [ARGS…]   set up, then ruff, mypy --strict and pytest with coverage

Needs only Python 3.10+ and git. Every step's failure is a non-zero exit.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
COVERAGE_MIN = 85


def venv_python() -> Path:
    if sys.platform == "win32":
        return VENV / "Scripts" / "python.exe"
    return VENV / "bin" / "python"


def run(*argv: str | Path) -> int:
    print("+", " ".join(str(a) for a in argv), flush=True)
    return subprocess.call([str(a) for a in argv], cwd=ROOT)


def ensure(extra: str) -> Path:
    """Creates the virtual environment and installs depbot (and ``extra``) when out of date."""
    lock = ROOT / "constraints" / ("test.txt" if extra == "test" else "runtime.txt")
    stamp = VENV / f".depbot-{extra}"
    digest = hashlib.sha256(lock.read_bytes() + (ROOT / "pyproject.toml").read_bytes()).hexdigest()
    python = venv_python()
    if not python.exists():
        print(f"+ creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True, upgrade_deps=False).create(VENV)
    if stamp.exists() and stamp.read_text() == digest:
        return python
    target = ".[test]" if extra == "test" else "."
    pip = (python, "-m", "pip", "install", "--disable-pip-version-check", "-q")
    if run(*pip, "--upgrade", "pip") or run(*pip, "-c", lock, "-e", target):
        sys.exit("dev.py: installing depbot failed")
    stamp.write_text(digest)
    return python


def demo(args: list[str]) -> int:
    python = ensure("runtime")
    return run(python, "-m", "depbot", "demo", *args)


def test(args: list[str]) -> int:
    python = ensure("test")
    steps = [
        ("ruff check", (python, "-m", "ruff", "check", ".")),
        ("ruff format", (python, "-m", "ruff", "format", "--check", ".")),
        ("mypy --strict", (python, "-m", "mypy", "--strict", "depbot")),
        (
            "pytest",
            (
                python, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                "--cov=depbot", "--cov-branch", "--cov-report=term",
                f"--cov-fail-under={COVERAGE_MIN}", *args,
            ),
        ),
    ]  # fmt: skip
    failed = []
    for name, argv in steps:
        rc = run(*argv)
        if rc != 0:  # pytest's 5 (no tests collected) is a failure too
            failed.append(f"{name} (exit {rc})")
    if failed:
        print("dev.py: FAILED: " + ", ".join(failed), flush=True)
        return 1
    print("dev.py: all checks passed", flush=True)
    return 0


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in ("demo", "test"):
        print(__doc__)
        return 2
    command, args = sys.argv[1], sys.argv[2:]
    return demo(args) if command == "demo" else test(args)


if __name__ == "__main__":
    sys.exit(main())
