"""Code run in a fresh interpreter, to see which modules it imports (lazy imports stay lazy)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

_REPORT = (
    "\nimport sys as _s\nprint(sorted({m.split('.')[0] for m in _s.modules} & set(_s.argv[1:])))\n"
)


def run_fresh(code: str, cwd: Path, watched: Sequence[str]) -> tuple[list[str], list[str]]:
    """(the lines ``code`` printed, which of the ``watched`` top-level packages it imported)."""
    done = subprocess.run(
        [sys.executable, "-c", code + _REPORT, *watched],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    *printed, imported = done.stdout.splitlines()
    return printed, [name.strip("' ") for name in imported.strip("[]").split(",") if name.strip()]
