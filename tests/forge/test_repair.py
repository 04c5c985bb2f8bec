"""What a killed run leaves in the git directory, and how the next run's repair removes it.

Each leftover is made the way git itself leaves it when ``git worktree add`` or ``update-ref``
is killed part-way; the user's own worktrees, locked or missing, are never touched. A branch
written but not remembered is told as the forge has it (the forge is the truth).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from depbot import app, render
from depbot.forge.git import Git, depbot_dir, repair, scratch_checkout
from depbot.forge.interface import PRRecord
from depbot.forge.local import LocalForge
from depbot.state.store import Store, store_path
from tests.support.scenario import git

RECORD = PRRecord("depbot: minor updates (1)", "body\n", ("dependencies",))


def attempt(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A git command that may fail."""
    return subprocess.run(["git", *args], cwd=repo, check=False, capture_output=True, text=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "requirements.txt").write_text("idna==3.6\n")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "init")
    return root


def fsck(repo: Path) -> subprocess.CompletedProcess[str]:
    return attempt(repo, "fsck", "--no-progress")


def entries(repo: Path) -> list[str]:
    admin = repo / ".git" / "worktrees"
    return sorted(p.name for p in admin.iterdir()) if admin.is_dir() else []


def half_added(repo: Path, name: str, target: Path | None) -> Path:
    """An admin entry as a ``git worktree add`` killed early leaves it: locked
    ("initializing"), with a ``gitdir`` only when ``target`` is given, and no valid HEAD."""
    admin = repo / ".git" / "worktrees" / name
    admin.mkdir(parents=True)
    (admin / "locked").write_text("initializing")
    if target is not None:
        target.mkdir(parents=True, exist_ok=True)
        (admin / "gitdir").write_text(f"{target / '.git'}\n")
        (target / ".git").write_text(f"gitdir: {admin}\n")
        (admin / "HEAD").write_text("0" * 40 + "\n")
        (admin / "commondir").write_text("../..\n")
    return admin


def test_a_scratch_checkout_killed_in_worktree_add_is_removed(repo: Path) -> None:
    state = depbot_dir(repo)
    half_added(repo, "checkout", state / "work" / "checkout")
    assert fsck(repo).returncode != 0  # what the user's git sees until the next run
    assert attempt(repo, "worktree", "add", "--detach", str(state / "work" / "checkout")).returncode

    repair(repo, state)

    assert fsck(repo).returncode == 0, fsck(repo).stderr
    assert entries(repo) == []
    assert not (state / "work").exists()
    with scratch_checkout(repo, state / "work" / "checkout") as scratch:
        assert (scratch / "requirements.txt").read_text() == "idna==3.6\n"
    assert entries(repo) == []


@pytest.mark.parametrize("locked", [True, False])
def test_an_entry_killed_before_its_gitdir_was_written_is_removed(repo: Path, locked: bool) -> None:
    admin = half_added(repo, "checkout", None)
    if not locked:  # killed right after git made the folder
        (admin / "locked").unlink()

    repair(repo, depbot_dir(repo))

    assert entries(repo) == []
    assert fsck(repo).returncode == 0


@pytest.mark.parametrize("written", ["", "/tmp/pytest-of-root/pro"], ids=["empty", "cut-short"])
def test_an_entry_killed_while_its_gitdir_was_written_is_removed(repo: Path, written: str) -> None:
    admin = half_added(repo, "checkout", None)
    (admin / "gitdir").write_text(written)  # git writes the path and a line break

    repair(repo, depbot_dir(repo))

    assert entries(repo) == []
    assert fsck(repo).returncode == 0


def test_a_publishing_worktree_of_an_older_depbot_is_removed(repo: Path) -> None:
    state = depbot_dir(repo)
    leftover = state / "worktrees" / "minor"
    git(repo, "worktree", "add", "--detach", "--lock", str(leftover))
    (leftover / "junk.txt").write_text("half-written\n")

    repair(repo, state)

    assert entries(repo) == []
    assert not (state / "worktrees").exists()
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1


def test_the_users_worktrees_are_left_alone_locked_or_missing(repo: Path, tmp_path: Path) -> None:
    mine = tmp_path / "checkout"  # named like depbot's scratch checkout, but the user's
    git(repo, "worktree", "add", "--lock", str(mine), "-b", "topic")
    gone = tmp_path / "on-a-usb-stick"
    git(repo, "worktree", "add", "--detach", str(gone))
    git(repo, "worktree", "lock", str(gone))
    subprocess.run(["rm", "-rf", str(gone)], check=True)
    before = entries(repo)

    repair(repo, depbot_dir(repo))

    assert entries(repo) == before == ["checkout", "on-a-usb-stick"]
    assert (mine / "requirements.txt").is_file()
    assert (repo / ".git" / "worktrees" / "on-a-usb-stick" / "locked").is_file()


def test_a_ref_lock_of_a_killed_update_ref_is_removed(repo: Path) -> None:
    state = depbot_dir(repo)
    refs = repo / ".git" / "refs" / "heads" / "depbot"
    refs.mkdir(parents=True)
    (refs / "minor.lock").write_text("")
    user = repo / ".git" / "refs" / "heads" / "main.lock"
    user.write_text("")  # the user's, whatever it is: not depbot's to remove
    forge = LocalForge(repo, state_dir=state)
    assert forge.publish("minor", {"requirements.txt": b"idna==3.7\n"}, RECORD).status == "conflict"

    repair(repo, state)

    assert user.exists()
    assert forge.publish("minor", {"requirements.txt": b"idna==3.7\n"}, RECORD).status == "opened"


def test_temporary_files_and_test_environments_are_cleared(repo: Path) -> None:
    state = depbot_dir(repo)
    (state / "tmp" / "depbot-relock-x").mkdir(parents=True)
    (state / "tmp" / "depbot-relock-x" / "requirements.txt").write_text("half\n")
    (state / "venvs" / ".test.trash-123" / "lib").mkdir(parents=True)  # a removal cut short
    (state / "venvs" / "test" / "bin").mkdir(parents=True)  # a whole one a kill left behind
    (state / "dashboard.md").write_text("kept\n")

    repair(repo, state)

    assert list((state / "tmp").iterdir()) == []
    assert not (state / "venvs").exists()
    assert (state / "dashboard.md").read_text() == "kept\n"


def test_an_inherited_index_file_is_not_written_by_the_scratch_checkout(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = repo / ".git" / "index"
    before = index.read_bytes()
    monkeypatch.setenv("GIT_INDEX_FILE", str(index))  # as inside a git hook

    with scratch_checkout(repo, depbot_dir(repo) / "work" / "checkout") as scratch:
        assert Git(repo).run("rev-parse", "HEAD") == Git(scratch).run("rev-parse", "HEAD")
        assert (scratch / "requirements.txt").is_file()

    assert index.read_bytes() == before


def test_status_tells_a_branch_published_but_not_remembered_as_opened(repo: Path) -> None:
    state = app.state_dir(repo)
    with Store(store_path(state)) as store:
        store.record_batch("minor", branch="depbot/minor", status="opened", key="k")
    # the kill came after update-ref, before the store write; and "minor" was closed likewise
    LocalForge(repo, state_dir=state).publish(
        "security", {"requirements.txt": b"idna==3.7\n"}, RECORD
    )

    report = app.status_repo(repo, {}, forge_choice="local")
    doc = render.status_json(report.open_batches, report.remembered, report.rollbacks, report.now)

    assert {b["id"]: b["status"] for b in doc["batches"]} == {
        "security": "opened",
        "minor": "closed",
    }
    with Store(store_path(state)) as store:  # status tells, the next run (under its lock) writes
        assert [(b.id, b.status) for b in store.batches()] == [("minor", "opened")]
