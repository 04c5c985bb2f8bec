"""The acceptance scenario's first run and its rerun with nothing new: wall time, test runs.

    python benchmarks/rerun.py                   # this checkout
    python benchmarks/rerun.py --src OTHER_DIR   # another depbot checkout, side by side

Builds the scenario of ``tests/support/scenario.py`` (20 minor updates, two culprits, a
security fix, a passing and a failing major) on a loopback index, then runs
``depbot run --forge local`` twice in a subprocess of each checkout named (this one first), and
prints per run the wall time and the test runs each batch spent. A rerun that finds its
branches already holding the batches should spend no test run and no relock.
"""

from __future__ import annotations

import sys
from pathlib import Path

# this folder holds a bisect.py: it must not shadow the standard library's
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from depbot.demo.index_server import serve_index  # noqa: E402
from tests.conftest import clean_env  # noqa: E402
from tests.support.scenario import build_scenario, new_releases, old_releases  # noqa: E402


def _run(src: Path, repo: Path, env: dict[str, str]) -> tuple[float, dict[str, int], str]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "depbot", "run", "--repo", str(repo), "--forge", "local",
         "--format", "json"],
        env={**env, "PYTHONPATH": str(src)},
        cwd=src,  # "-m" puts the working folder first on sys.path
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    wall = time.monotonic() - started
    doc = json.loads(done.stdout) if done.stdout.strip() else {"batches": []}
    runs = {b["id"]: b["test_runs"] for b in doc["batches"]}
    statuses = ",".join(f"{b['id']}={b['status']}" for b in doc["batches"])
    return wall, runs, statuses


def measure(src: Path) -> list[tuple[str, float, dict[str, int], str]]:
    root = Path(tempfile.mkdtemp(prefix="depbot-rerun-"))
    try:
        with serve_index(root / "index", old_releases()) as index:
            env = clean_env(index.url, DEPBOT_CACHE_DIR=str(root / "cache"))
            repo = build_scenario(root, index, env).repo
            index.add(*new_releases())
            first = _run(src, repo, env)
            rerun = _run(src, repo, env)
        return [("first run", *first), ("rerun", *rerun)]
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, action="append", default=[], help="another checkout")
    args = parser.parse_args()
    results = {}
    for src in [ROOT, *args.src]:
        results[str(src)] = measure(src.resolve())
    for src, rows in results.items():
        print(f"{src}:")
        for name, wall, runs, statuses in rows:
            print(f"  {name:9} {wall:6.1f} s  {sum(runs.values()):2d} test runs  {statuses}")
    if len(results) > 1:
        (_, mine), *others = results.items()
        for src, rows in others:
            ratio = rows[1][1] / max(mine[1][1], 1e-9)
            print(f"rerun: {src} takes {ratio:.1f}x this checkout's time")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    sys.exit(main())
