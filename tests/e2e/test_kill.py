"""``kill -9`` anywhere in ``depbot run``, then a rerun: everything ends consistent (SPEC §9).

The acceptance project (tests/support/scenario.py) on a loopback index, its checkout dirty and
on the user's own branch. ``depbot run --forge local`` runs as a subprocess in its own process
group, which is SIGKILLed at a moment of the run: when a marker path appears (the scratch
checkout's worktree admin folder, a relock copy, the test venv being built, a branch just
written...) or after a delay. After each kill the user's checkout is byte-identical (working
tree, index, HEAD), and a rerun exits 0, leaves the ``depbot/*`` branches holding the trees of
an uninterrupted run, ``git fsck`` clean, no worktree, admin entry, ref lock or temporary
folder behind, and ``status`` saying what was published.

The default run kills a security run (its one batch has every kind of on-disk step) at three
markers; the full sweep (marker ``kills``, ``DEPBOT_KILLS=1``) kills the whole run at
twenty-two moments, markers and delays spread over it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from depbot.demo.index_server import serve_index
from tests.conftest import clean_env
from tests.support.scenario import build_scenario, git, new_releases, old_releases

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
Marker = Callable[[Path], bool]


def _state(repo: Path) -> Path:
    return repo / ".git" / "depbot"


def _named(folder: Path, prefix: str) -> bool:
    try:
        return any(p.name.startswith(prefix) for p in folder.iterdir())
    except FileNotFoundError:
        return False


def _exists(relative: str) -> Marker:
    return lambda repo: (repo / relative).exists()


def _in(relative: str, prefix: str) -> Marker:
    return lambda repo: _named(repo / relative, prefix)


def _branch(name: str) -> Marker:
    return _exists(f".git/refs/heads/depbot/{name}")


def _after(first: Marker, then: Marker) -> Marker:
    """``then``, once ``first`` has been seen (the relock of a later batch)."""
    seen: list[bool] = []

    def marker(repo: Path) -> bool:
        if not seen and first(repo):
            seen.append(True)
        return bool(seen) and then(repo)

    return marker


def _site_packages(repo: Path) -> bool:
    """pip-sync is installing into the test environment."""
    return any((_state(repo) / "venvs" / "test").glob("lib/python*/site-packages/acorn*"))


@dataclass(frozen=True)
class Moment:
    """When to kill: at ``marker`` seen, or ``delay`` seconds (a share of an uninterrupted
    run's duration, ``share``) after the start."""

    name: str
    marker: Marker | None = None
    share: float | None = None
    trigger: str = "manual"


MARKERS = [
    ("worktree-admin", _exists(".git/worktrees/checkout")),
    ("scratch-populated", _exists(".git/depbot/work/checkout/requirements.txt")),
    ("relock-copy", _in(".git/depbot/tmp", "depbot-relock-")),
    ("venv-partial", _in(".git/depbot/venvs", ".test.partial-")),
    ("venv-in-place", _exists(".git/depbot/venvs/test/pyvenv.cfg")),
    ("venv-sync", _site_packages),
    ("publish-index", _in(".git/depbot/tmp", "tree-")),
    ("ref-written-security", _branch("security")),
    ("relock-copy-minor", _after(_branch("security"), _in(".git/depbot/tmp", "depbot-relock-"))),
    ("ref-written-minor", _branch("minor")),
    ("ref-written-major", _branch("major-vault")),
    ("venv-removal", _in(".git/depbot/venvs", ".test.trash-")),
]
SHARES = (0.03, 0.1, 0.18, 0.27, 0.36, 0.45, 0.55, 0.65, 0.75, 0.85)
SWEEP = [Moment(n, marker=m) for n, m in MARKERS] + [Moment(f"at-{s:.2f}", share=s) for s in SHARES]
FAST = [
    Moment(f"security-{n}", marker=m, trigger="security")
    for n, m in MARKERS
    if n in ("worktree-admin", "relock-copy", "ref-written-security")
]


def _user_checkout(repo: Path) -> str:
    """A digest of everything of the user's that no run may change: the working tree (but
    ``.git``), the index, HEAD and the user's branches, the repository's configuration."""
    digest = hashlib.sha256()
    gitdir = repo / ".git"
    for path in sorted(repo.rglob("*")):
        relative = path.relative_to(repo)
        if relative.parts[0] != ".git" and path.is_file():
            digest.update(f"{relative}\0".encode() + path.read_bytes() + b"\0")
    for name in ("index", "HEAD", "config", "refs/heads/main", "refs/heads/feature/plots"):
        digest.update(f"{name}\0".encode() + (gitdir / name).read_bytes() + b"\0")
    return digest.hexdigest()


def _make_dirty(repo: Path) -> None:
    """The user's own branch, a staged, an unstaged and an untracked change; files older than
    the index, so no git command has a reason to rewrite it."""
    git(repo, "switch", "-q", "-c", "feature/plots")
    with (repo / "requirements.in").open("a") as f:
        f.write("# plots, later\n")
    git(repo, "add", "requirements.in")
    with (repo / "README.md").open("a") as f:
        f.write("\nNot committed.\n")
    (repo / "notes.txt").write_text("untracked\n")


def _settle(repo: Path) -> None:
    an_hour_ago = time.time() - 3600
    for path in repo.rglob("*"):
        if ".git" not in path.relative_to(repo).parts:
            os.utime(path, (an_hour_ago, an_hour_ago))
    git(repo, "update-index", "-q", "--refresh")


@dataclass
class World:
    """The project as the user has it, the environment depbot runs in, what an uninterrupted
    run of each trigger publishes (branch → tree) and how long it took."""

    template: Path
    env: Mapping[str, str]
    references: dict[str, tuple[dict[str, str], float]] = field(default_factory=dict)
    seen: list[tuple[str, str]] = field(default_factory=list)

    def copy(self, where: Path) -> Path:
        repo = where / "project"
        shutil.copytree(self.template, repo, symlinks=True)
        _settle(repo)
        return repo

    def reference(self, trigger: str, where: Path) -> tuple[dict[str, str], float]:
        if trigger not in self.references:
            repo = self.copy(where / f"reference-{trigger}")
            start = time.monotonic()
            done = _depbot(repo, self.env, trigger)
            assert done.returncode == 0, done.stderr
            self.references[trigger] = (_trees(repo), time.monotonic() - start)
        return self.references[trigger]


def _argv(repo: Path, trigger: str) -> list[str]:
    return [
        sys.executable, "-m", "depbot", "run", "--repo", str(repo), "--forge", "local",
        "--trigger", trigger, "--format", "json",
    ]  # fmt: skip


def _depbot(repo: Path, env: Mapping[str, str], trigger: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _argv(repo, trigger), cwd=ROOT, env=dict(env), capture_output=True, text=True, check=False
    )


def _trees(repo: Path) -> dict[str, str]:
    out = git(repo, "for-each-ref", "--format=%(refname:short) %(tree)", "refs/heads/depbot/")
    return dict(line.split() for line in out.splitlines())


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("kill")
    with serve_index(root / "index", old_releases()) as index:
        env = clean_env(index.url, DEPBOT_CACHE_DIR=str(root / "cache"))
        template = build_scenario(root, index, env).repo
        index.add(*new_releases())
        _make_dirty(template)
        shown = World(template, env)
        yield shown
        if shown.seen:
            hit = sum(1 for _, how in shown.seen if how != "finished first")
            print(f"\nkills: {hit} of {len(shown.seen)} moments hit a running depbot")
            for name, how in shown.seen:
                print(f"  {name}: {how}")


def _kill_at(moment: Moment, repo: Path, env: Mapping[str, str], delay: float | None) -> str:
    """Runs depbot and SIGKILLs its process group at ``moment``; what happened."""
    process = subprocess.Popen(
        _argv(repo, moment.trigger),
        cwd=ROOT,
        env=dict(env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    start = time.monotonic()
    try:
        while process.poll() is None:
            elapsed = time.monotonic() - start
            if (delay is not None and elapsed >= delay) or (
                moment.marker is not None and moment.marker(repo)
            ):
                os.killpg(process.pid, signal.SIGKILL)
                break
            time.sleep(0.002)
    finally:
        code = process.wait()
    _wait_for_orphans(repo)
    if code == -signal.SIGKILL:
        return f"killed after {time.monotonic() - start:.1f} s"
    assert moment.marker is None, f"depbot exited {code} before {moment.name} was seen"
    return "finished first"


def _wait_for_orphans(repo: Path, patience: float = 30.0) -> None:
    """The test command runs in a process group of its own, which outlives depbot's; as a
    runner would, let it end (or kill it) before the rerun."""
    proc = Path("/proc")
    if not proc.is_dir():
        return
    inside = str(repo)
    deadline = time.monotonic() + patience
    while True:
        left = []
        for entry in proc.iterdir():
            try:
                if entry.name.isdigit() and str((entry / "cwd").readlink()).startswith(inside):
                    left.append(int(entry.name))
            except OSError:
                continue
        if not left:
            return
        if time.monotonic() > deadline:
            for pid in left:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


def _leftovers(repo: Path) -> list[str]:
    """What a run may leave only while it runs: anything found is a stray."""
    state, gitdir = _state(repo), repo / ".git"
    found = [str(p) for p in (gitdir / "refs").rglob("*.lock")]
    found += [str(p) for p in (gitdir / "worktrees").glob("*")]
    for folder in ("tmp", "work", "venvs", "worktrees"):  # empty, or absent, between runs
        found += [str(p) for p in (state / folder).glob("*")]
    worktrees = git(repo, "worktree", "list", "--porcelain")
    if worktrees.count("worktree ") != 1:
        found.append(worktrees)
    return found


def _check_kill(world: World, moment: Moment, tmp_path: Path) -> None:
    reference, duration = world.reference(moment.trigger, tmp_path)
    repo = world.copy(tmp_path)
    systmp = tmp_path / "system-tmp"
    systmp.mkdir()
    env = {**world.env, "TMPDIR": str(systmp)}
    user = _user_checkout(repo)

    delay = None if moment.share is None else moment.share * duration
    how = _kill_at(moment, repo, env, delay)
    world.seen.append((moment.name, how))
    assert _user_checkout(repo) == user, "the kill changed the user's checkout"

    rerun = _depbot(repo, env, moment.trigger)
    assert rerun.returncode == 0, rerun.stderr
    assert _trees(repo) == reference
    fsck = subprocess.run(
        ["git", "fsck", "--no-progress"], cwd=repo, capture_output=True, text=True, check=False
    )
    assert fsck.returncode == 0 and "error" not in fsck.stderr, fsck.stderr
    assert _leftovers(repo) == []
    assert sorted(p.name for p in systmp.iterdir()) == []  # nothing in the system's temp
    assert _user_checkout(repo) == user
    status = subprocess.run(
        [sys.executable, "-m", "depbot", "status", "--repo", str(repo), "--forge", "local",
         "--format", "json"],
        cwd=ROOT, env=dict(env), capture_output=True, text=True, check=True,
    )  # fmt: skip
    statuses = {b["branch"]: b["status"] for b in json.loads(status.stdout)["batches"]}
    # what the forge holds, as depbot published it (never "open": published, not remembered)
    assert {statuses.get(b) for b in reference} <= {"opened", "updated"}, statuses


@pytest.mark.parametrize("moment", FAST, ids=[m.name for m in FAST])
def test_a_kill_in_a_security_run_then_a_rerun_ends_consistent(
    world: World, moment: Moment, tmp_path: Path
) -> None:
    _check_kill(world, moment, tmp_path)


@pytest.mark.kills
@pytest.mark.parametrize("moment", SWEEP, ids=[m.name for m in SWEEP])
def test_a_kill_anywhere_in_a_run_then_a_rerun_ends_consistent(
    world: World, moment: Moment, tmp_path: Path
) -> None:
    _check_kill(world, moment, tmp_path)
