"""API calls and time of publishing to GitHub: a first run and a rerun with nothing new.

Usage: python benchmarks/github_publish.py [--throttle] [--verbose]

Three batches (security, minor, major-numpy) and the dashboard are published through the
GitHub forge to the fake GitHub API of the tests (127.0.0.1) with a local bare repository as
origin; then a second forge (a new run) publishes the same content. Reported: requests seen by
the API (total and writes), pushes, and wall time of each. The goal: the rerun makes zero write
calls and pushes nothing. ``--throttle`` keeps PyGithub's pacing (0.25 s between requests, 1 s
between writes), as in production; without it the figures are depbot's own cost.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, where bisect.py would shadow the
# standard library's bisect: put the repository root there instead.
_ROOT = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0] or ".").resolve() == _ROOT / "benchmarks":
    sys.path[0] = str(_ROOT)

import argparse  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from depbot.forge.github import GitHubForge  # noqa: E402
from depbot.forge.interface import PRRecord  # noqa: E402
from depbot.github_api import GitHubSettings, Secret  # noqa: E402
from tests.support.fake_github import FakeGitHub  # noqa: E402

TOKEN = "ghs_benchmarkTOKEN"  # noqa: S105 - the fake API's own credential
BATCHES = {
    "security": (b"requests==2.32.4\nidna==3.6\nnumpy==1.26.4\n", "security"),
    "minor": (b"requests==2.31.0\nidna==3.10\nnumpy==1.26.4\n", "minor"),
    "major-numpy": (b"requests==2.31.0\nidna==3.6\nnumpy==2.1.0\n", "major"),
}


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=b", "-c", "user.email=b@example.org", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def _one_run(
    root: Path, api: FakeGitHub, throttle: bool, verbose: bool
) -> tuple[int, int, int, float]:
    settings = GitHubSettings(Secret(TOKEN), "octo/proj", api.api, api.web, True)
    origin = root / "origin.git"
    before = _git(origin, "for-each-ref")
    api.reset_log()
    start = time.perf_counter()
    forge = GitHubForge(root / "project", settings, throttle=throttle)
    statuses = []
    for batch_id, (content, kind) in BATCHES.items():
        record = PRRecord(f"Bump for {batch_id}", f"body of {batch_id}\n", ("dependencies", kind))
        statuses.append(forge.publish(batch_id, {"requirements.txt": content}, record).status)
    forge.dashboard("# depbot dashboard\n\nNo update is rolled back.\n")
    elapsed = time.perf_counter() - start
    pushed = int(_git(origin, "for-each-ref") != before)
    print(f"  statuses: {', '.join(statuses)}")
    if verbose:
        for r in api.requests:
            print(f"    {r.method} {r.path} {r.query}")
    return len(api.requests), len(api.writes()), pushed, elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--throttle", action="store_true")
    parser.add_argument("--verbose", action="store_true", help="list every request")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        origin = root / "origin.git"
        _git(root, "init", "-q", "--bare", "-b", "main", str(origin))
        project = root / "project"
        project.mkdir()
        _git(project, "init", "-q", "-b", "main")
        (project / "requirements.txt").write_bytes(b"requests==2.31.0\nidna==3.6\nnumpy==1.26.4\n")
        _git(project, "add", ".")
        _git(project, "commit", "-q", "-m", "init")
        _git(project, "remote", "add", "origin", str(origin))
        _git(project, "push", "-q", "origin", "main")
        with FakeGitHub("octo/proj", token=TOKEN, bare=origin) as api:
            for name in ("first run", "rerun"):
                print(f"{name}:")
                total, writes, pushed, elapsed = _one_run(root, api, args.throttle, args.verbose)
                print(
                    f"  API calls: {total} ({writes} writes), branches changed: {pushed},"
                    f" time: {elapsed:.2f} s"
                )
                if name == "rerun" and (writes or pushed):
                    print("FAIL: the rerun wrote")
                    return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
