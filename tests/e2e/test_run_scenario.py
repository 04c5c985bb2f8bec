"""``depbot run --forge local`` end to end, as a new user runs it: the acceptance scenario.

A project like the demo's with another mix (tests/support/scenario.py): a security fix, twenty
minor updates of which two break different tests (one of them pulls in a transitive pin), a major
that passes and one that breaks. Real pip-compile, real git, real virtual environments, a real
index on 127.0.0.1. The user's checkout is dirty (staged, unstaged and untracked changes) and on
its own branch while depbot runs. The scenario runs once; each test reads one promise from it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any

import pytest

from depbot.cli import main
from depbot.demo.index_server import serve_index
from depbot.stages.bisect import default_budget
from tests.conftest import clean_env
from tests.support.scenario import (
    ADVISORY_ID,
    BREAKS_FUNCTION,
    BREAKS_RESULT,
    CLEAN,
    MAJOR_BREAKS,
    MAJOR_PASSES,
    SECURE,
    TRANSITIVE,
    build_scenario,
    git,
    new_releases,
    old_releases,
)

pytestmark = pytest.mark.slow

PUBLISHED = ("depbot/major-vault", "depbot/minor", "depbot/security")
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", re.MULTILINE)


@dataclass(frozen=True)
class Checkout:
    """What the user sees of their repository; none of it may change."""

    head: str
    branch: str
    porcelain: str
    index: bytes
    files: Mapping[str, bytes]
    worktrees: str


@dataclass(frozen=True)
class Invocation:
    """One depbot command: its exit code, its JSON document, its stderr."""

    code: int
    doc: dict[str, Any]
    err: str


@dataclass(frozen=True)
class Result:
    """Everything the scenario observed, in the order it happened."""

    repo: Path
    env: Mapping[str, str]
    old_lockfile: str
    before: Checkout
    after: Checkout
    first: Invocation
    tips: Mapping[str, str]
    rerun: Invocation
    tips_after_rerun: Mapping[str, str]
    after_rerun: Checkout
    status: Invocation


USER_FILES = ("README.md", "notes.txt", "requirements.in", "requirements.txt")


def _snapshot(repo: Path) -> Checkout:
    # the index is read before any git command of ours could refresh it
    index = (repo / ".git" / "index").read_bytes()
    return Checkout(
        head=git(repo, "rev-parse", "HEAD").strip(),
        branch=git(repo, "symbolic-ref", "HEAD").strip(),
        porcelain=git(repo, "status", "--porcelain=v1", "--untracked-files=all"),
        index=index,
        files={name: (repo / name).read_bytes() for name in USER_FILES},
        worktrees=git(repo, "worktree", "list", "--porcelain"),
    )


def _make_dirty(repo: Path) -> None:
    """The user is on their own branch, mid-work: staged, unstaged and untracked changes."""
    git(repo, "switch", "-q", "-c", "feature/plots")
    with (repo / "requirements.in").open("a") as f:
        f.write("# matplotlib, once the plots land\n")
    git(repo, "add", "requirements.in")
    with (repo / "README.md").open("a") as f:
        f.write("\nWork in progress: not committed.\n")
    (repo / "notes.txt").write_text("untracked notes\n")
    # files older than the index are never "racily clean", so no later git command has a
    # reason to rewrite the index: its bytes can be compared
    an_hour_ago = time.time() - 3600
    for path in repo.rglob("*"):
        if ".git" not in path.relative_to(repo).parts:
            os.utime(path, (an_hour_ago, an_hour_ago))
    git(repo, "update-index", "-q", "--refresh")
    git(repo, "status", "--porcelain")


def _depbot(env: Mapping[str, str], *argv: str) -> Invocation:
    out, err = StringIO(), StringIO()
    code = main(list(argv), env=env, out=out, err=err)
    text = out.getvalue()
    return Invocation(code, json.loads(text) if text.strip() else {}, err.getvalue())


def _tips(repo: Path) -> dict[str, str]:
    out = git(repo, "for-each-ref", "--format=%(refname:short) %(objectname)", "refs/heads/depbot/")
    return dict(line.split() for line in out.splitlines())


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Result]:
    root = tmp_path_factory.mktemp("run-scenario")
    with serve_index(root / "index", old_releases()) as index:
        env = clean_env(index.url, DEPBOT_CACHE_DIR=str(root / "cache"))
        repo = build_scenario(root, index, env).repo
        old_lockfile = (repo / "requirements.txt").read_text()
        index.add(*new_releases())
        _make_dirty(repo)
        before = _snapshot(repo)

        run = ("run", "--repo", str(repo), "--forge", "local", "--format", "json")
        first = _depbot(env, *run)
        after = _snapshot(repo)
        tips = _tips(repo)
        rerun = _depbot(env, *run)
        tips_after_rerun = _tips(repo)
        after_rerun = _snapshot(repo)
        status = _depbot(env, "status", "--repo", str(repo), "--format", "json")
        yield Result(
            repo, env, old_lockfile, before, after, first, tips, rerun, tips_after_rerun,
            after_rerun, status,
        )  # fmt: skip


def _batches(inv: Invocation) -> dict[str, dict[str, Any]]:
    return {b["id"]: b for b in inv.doc["batches"]}


def _changes(entries: list[dict[str, str]]) -> set[tuple[str, str, str]]:
    return {(e["name"], e["current"], e["target"]) for e in entries}


def _pins(lockfile: str) -> dict[str, str]:
    return dict(_PIN.findall(lockfile))


OLD_PINS = {
    name: old
    for name, old, _ in [*CLEAN, BREAKS_RESULT, BREAKS_FUNCTION, SECURE, MAJOR_PASSES, MAJOR_BREAKS]
}


# ---------------------------------------------------------------------------- the first run


def test_the_run_succeeds_and_reports_every_batch(scenario: Result) -> None:
    assert scenario.first.code == 0, scenario.first.err
    assert scenario.first.doc["schema"] == 1
    assert scenario.first.doc["trigger"] == "manual"
    batches = _batches(scenario.first)
    assert set(batches) == {"security", "minor", "major-vault", "major-ravel"}
    assert {i: b["status"] for i, b in batches.items()} == {
        "security": "opened",
        "minor": "opened",
        "major-vault": "opened",
        "major-ravel": "rolled-back",
    }


def test_the_security_batch_moves_to_the_fix(scenario: Result) -> None:
    security = _batches(scenario.first)["security"]
    assert security["kind"] == "security"
    assert security["branch"] == "depbot/security"
    assert _changes(security["kept"]) == {SECURE}
    assert security["rolled_back"] == []


def test_the_minor_batch_rolls_back_exactly_the_two_culprits(scenario: Result) -> None:
    minor = _batches(scenario.first)["minor"]
    assert minor["kind"] == "minor"
    assert _changes(minor["kept"]) == set(CLEAN)
    assert TRANSITIVE in {u["name"] for u in minor["kept"]}
    rolled = {(r["name"], r["current"], r["target"], r["reason"]) for r in minor["rolled_back"]}
    assert rolled == {(*BREAKS_RESULT, "tests-failed"), (*BREAKS_FUNCTION, "tests-failed")}
    # found by bisection, not by trying the twenty one at a time
    assert 2 <= minor["test_runs"] <= 1 + default_budget(20)


def test_the_majors_are_decided_one_by_one(scenario: Result) -> None:
    batches = _batches(scenario.first)
    assert _changes(batches["major-vault"]["kept"]) == {MAJOR_PASSES}
    assert batches["major-vault"]["rolled_back"] == []
    ravel = batches["major-ravel"]
    assert ravel["kept"] == []
    assert [(r["name"], r["target"], r["reason"]) for r in ravel["rolled_back"]] == [
        (MAJOR_BREAKS[0], MAJOR_BREAKS[2], "tests-failed")
    ]


def test_only_the_passing_batches_are_published(scenario: Result) -> None:
    assert sorted(scenario.tips) == sorted(PUBLISHED)
    for branch in PUBLISHED:
        # each proposal is one commit on the user's HEAD that touches the lockfile only
        parents = git(scenario.repo, "log", "-1", "--format=%P", branch).split()
        assert parents == [scenario.before.head]
        changed = git(scenario.repo, "diff", "--name-only", scenario.before.head, branch)
        assert changed.split() == ["requirements.txt"]


def test_the_published_minor_lockfile_holds_the_culprits_back(scenario: Result) -> None:
    lockfile = git(scenario.repo, "show", "depbot/minor:requirements.txt")
    expected = dict(OLD_PINS)
    expected.update({name: new for name, _, new in CLEAN})
    assert _pins(lockfile) == expected
    assert lockfile.count("--hash=sha256:") == len(expected)
    # the header pip-compile wrote is kept, so the user's next pip-compile agrees with it
    header = scenario.old_lockfile.split("\n\n", 1)[0]
    assert lockfile.startswith(header)


def test_the_other_published_lockfiles_move_only_their_batch(scenario: Result) -> None:
    security = _pins(git(scenario.repo, "show", "depbot/security:requirements.txt"))
    assert security == {**OLD_PINS, SECURE[0]: SECURE[2]}
    vault = _pins(git(scenario.repo, "show", "depbot/major-vault:requirements.txt"))
    assert vault == {**OLD_PINS, MAJOR_PASSES[0]: MAJOR_PASSES[2]}


def test_the_proposal_names_the_failing_test_of_each_culprit(scenario: Result) -> None:
    body = git(scenario.repo, "log", "-1", "--format=%B", "depbot/minor")
    culprits = body.split("Rolled back", 1)[1]
    quartz = culprits.split(f"**{BREAKS_RESULT[0]}**", 1)[1].split("- **", 1)[0]
    prism = culprits.split(f"**{BREAKS_FUNCTION[0]}**", 1)[1].split("- **", 1)[0]
    assert "test_area" in quartz and "test_split" not in quartz
    assert "test_split" in prism and "test_area" not in prism
    security = git(scenario.repo, "log", "-1", "--format=%B", "depbot/security")
    assert ADVISORY_ID in security and "CVE-2026-4242" in security


@pytest.mark.parametrize("branch", PUBLISHED)
def test_every_published_lockfile_passes_the_tests_when_installed_fresh(
    scenario: Result, branch: str, tmp_path: Path
) -> None:
    checkout = tmp_path / "checkout"
    for name in git(scenario.repo, "ls-tree", "-r", "--name-only", branch).split():
        path = checkout / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_show_bytes(scenario.repo, f"{branch}:{name}"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    # the outer pip installs into the new environment; a hashed lockfile is installed in
    # --require-hashes mode, so every pin and every hash is checked against the index
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
         "-r", "requirements.txt"],
        cwd=checkout, env=dict(scenario.env), capture_output=True, text=True,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr

    test_env = {k: v for k, v in scenario.env.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    listing = subprocess.run(
        [str(python), "-c", _LIST_DISTRIBUTIONS],
        cwd=checkout, env=test_env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    lockfile = (checkout / "requirements.txt").read_text()
    assert json.loads(listing.stdout) == _pins(lockfile)

    tests = subprocess.run(
        [str(python), "-m", "unittest", "discover", "-s", "tests"],
        cwd=checkout, env=test_env, capture_output=True, text=True,
    )  # fmt: skip
    assert tests.returncode == 0, tests.stderr
    assert "Ran 6 tests" in tests.stderr


_LIST_DISTRIBUTIONS = (
    "import importlib.metadata as m, json; "
    "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
)


def _show_bytes(repo: Path, spec: str) -> bytes:
    return subprocess.run(["git", "show", spec], cwd=repo, capture_output=True, check=True).stdout


# ---------------------------------------------------------------------------- the user's checkout


def test_the_users_checkout_is_unchanged(scenario: Result) -> None:
    before, after = scenario.before, scenario.after
    assert after.head == before.head
    assert after.branch == before.branch == "refs/heads/feature/plots"
    assert after.porcelain == before.porcelain
    assert sorted(before.porcelain.splitlines()) == [
        " M README.md",
        "?? notes.txt",
        "M  requirements.in",
    ]
    assert after.files == before.files
    assert after.index == before.index
    # no scratch checkout or publishing worktree is left registered
    assert after.worktrees == before.worktrees
    assert after.worktrees.count("worktree ") == 1


def test_the_staged_change_did_not_leak_into_the_proposals(scenario: Result) -> None:
    for branch in PUBLISHED:
        source = git(scenario.repo, "show", f"{branch}:requirements.in")
        assert "matplotlib" not in source


# ---------------------------------------------------------------------------- the rerun


def test_a_rerun_does_nothing(scenario: Result) -> None:
    assert scenario.rerun.code == 0, scenario.rerun.err
    batches = _batches(scenario.rerun)
    assert {i: b["status"] for i, b in batches.items()} == {
        "security": "unchanged",
        "minor": "unchanged",
        "major-vault": "unchanged",
        "major-ravel": "rolled-back",
    }
    assert {i: b["test_runs"] for i, b in batches.items()} == dict.fromkeys(batches, 0)
    assert scenario.tips_after_rerun == scenario.tips
    assert scenario.after_rerun == scenario.before


def test_a_rerun_does_not_retry_what_failed(scenario: Result) -> None:
    batches = _batches(scenario.rerun)
    assert _changes(batches["minor"]["kept"]) == set(CLEAN)
    held = {(r["name"], r["target"], r["reason"]) for r in batches["minor"]["rolled_back"]}
    assert held == {
        (BREAKS_RESULT[0], BREAKS_RESULT[2], "previously-failed"),
        (BREAKS_FUNCTION[0], BREAKS_FUNCTION[2], "previously-failed"),
    }
    ravel = batches["major-ravel"]["rolled_back"]
    assert [(r["name"], r["reason"]) for r in ravel] == [(MAJOR_BREAKS[0], "previously-failed")]


# ---------------------------------------------------------------------------- depbot status


def test_status_lists_the_open_batches(scenario: Result) -> None:
    assert scenario.status.code == 0, scenario.status.err
    batches = {b["id"]: b for b in scenario.status.doc["batches"]}
    assert set(batches) == {"security", "minor", "major-vault"}
    for batch_id, batch in batches.items():
        assert batch["branch"] == f"depbot/{batch_id}"
        assert batch["commit"] == scenario.tips[batch["branch"]]
        assert batch["status"] != "edited by someone else"
    assert batches["minor"]["title"] == "Bump the minor batch with 18 updates"


def test_status_lists_the_rolled_back_updates_as_fresh(scenario: Result) -> None:
    rolled = {
        (r["name"], r["version"], r["reason"], r["age_days"], r["stale"])
        for r in scenario.status.doc["rolled_back"]
    }
    # remembered once, with the reason of the run that convicted them
    assert rolled == {
        (BREAKS_RESULT[0], BREAKS_RESULT[2], "tests-failed", 0, False),
        (BREAKS_FUNCTION[0], BREAKS_FUNCTION[2], "tests-failed", 0, False),
        (MAJOR_BREAKS[0], MAJOR_BREAKS[2], "tests-failed", 0, False),
    }
