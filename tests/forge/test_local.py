"""The local forge against real git repositories: the user's checkout is never touched."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from depbot.forge.git import depbot_dir, git_common_dir
from depbot.forge.interface import ForgeError, PRRecord
from depbot.forge.local import BATCH_TRAILER, LocalForge

RECORD = PRRecord(
    "depbot: minor updates (2)", "| package | kind |\n| --- | --- |\n", ("dependencies",)
)
OLD = b"requests==2.31.0\nidna==3.6\n"
NEW = b"requests==2.32.3\nidna==3.7\n"


def git(repo: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", "-c", "user.name=Human", "-c", "user.email=human@example.org", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "requirements.txt").write_bytes(OLD)
    (root / "app.py").write_text("print('hi')\n")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "init")
    return root


def snapshot(repo: Path) -> dict[str, str]:
    """Everything of the user's checkout that publishing must leave byte-identical."""
    gitdir = repo / ".git"
    return {
        "head": (gitdir / "HEAD").read_text(),
        "main": git(repo, "rev-parse", "main"),
        # status first: it may refresh the index's stat cache, which is not publish's doing.
        "status": git(repo, "status", "--porcelain", "--untracked-files=all"),
        "index": hashlib.sha256((gitdir / "index").read_bytes()).hexdigest(),
        "requirements": (repo / "requirements.txt").read_text(),
        "app": (repo / "app.py").read_text(),
        "scratch": (repo / "scratch.txt").read_text(),
        "config": (gitdir / "config").read_text(),
    }


def test_publish_leaves_the_users_checkout_byte_identical(repo: Path) -> None:
    (repo / "app.py").write_text("print('work in progress')\n")
    git(repo, "add", "app.py")
    (repo / "requirements.txt").write_bytes(OLD + b"# edited by hand\n")
    (repo / "scratch.txt").write_text("untracked notes\n")
    before = snapshot(repo)

    published = LocalForge(repo).publish("minor", {"requirements.txt": NEW}, RECORD)

    assert published.status == "opened"
    assert snapshot(repo) == before
    assert git(repo, "show", "depbot/minor:requirements.txt") == NEW.decode().strip()
    # The staged change to app.py is the user's, not part of depbot's commit.
    assert git(repo, "show", "depbot/minor:app.py") == "print('hi')"
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1


def test_an_inherited_git_index_file_cannot_redirect_writes(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (repo / "scratch.txt").write_text("untracked notes\n")
    monkeypatch.setenv("GIT_INDEX_FILE", str(repo / ".git" / "index"))
    before = snapshot(repo)

    LocalForge(repo).publish("minor", {"requirements.txt": NEW}, RECORD)

    assert snapshot(repo) == before


def test_opened_then_unchanged_then_updated(repo: Path) -> None:
    forge = LocalForge(repo)
    first = forge.publish("minor", {"requirements.txt": NEW}, RECORD)
    again = forge.publish("minor", {"requirements.txt": NEW}, RECORD)
    newer = NEW.replace(b"idna==3.7", b"idna==3.8")
    third = forge.publish("minor", {"requirements.txt": newer}, RECORD)

    assert (first.status, again.status, third.status) == ("opened", "unchanged", "updated")
    assert first.branch == "depbot/minor"
    assert again.commit == first.commit
    assert third.commit != first.commit
    assert git(repo, "rev-parse", "depbot/minor") == third.commit
    # Replaced, not stacked: the branch is one commit on the user's HEAD.
    assert git(repo, "rev-parse", "depbot/minor^") == git(repo, "rev-parse", "main")
    assert "idna==3.8" in git(repo, "show", "depbot/minor:requirements.txt")


def test_commit_carries_the_record_and_depbot_identity(repo: Path) -> None:
    published = LocalForge(repo).publish("minor", {"requirements.txt": NEW}, RECORD)

    message = git(repo, "log", "-1", "--format=%B", "depbot/minor")
    assert message.startswith("depbot: minor updates (2)\n\n| package | kind |")
    assert message.endswith(f"{BATCH_TRAILER}: minor")
    assert git(repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>", "depbot/minor") == (
        "depbot <depbot@localhost>|depbot <depbot@localhost>"
    )
    assert published.pr == published.commit


def test_a_moved_head_rebuilds_the_branch_on_it(repo: Path) -> None:
    forge = LocalForge(repo)
    forge.publish("minor", {"requirements.txt": NEW}, RECORD)
    (repo / "app.py").write_text("print('v2')\n")
    git(repo, "commit", "-q", "-am", "user work")

    published = forge.publish("minor", {"requirements.txt": NEW}, RECORD)

    assert published.status == "updated"
    assert git(repo, "rev-parse", "depbot/minor^") == git(repo, "rev-parse", "main")
    assert git(repo, "show", "depbot/minor:app.py") == "print('v2')"


def test_a_branch_someone_else_committed_to_is_not_overwritten(repo: Path) -> None:
    forge = LocalForge(repo)
    forge.publish("minor", {"requirements.txt": NEW}, RECORD)
    human = git(
        repo, "commit-tree", "-p", "depbot/minor", "-m", "fix by hand", "depbot/minor^{tree}"
    )
    git(repo, "update-ref", "refs/heads/depbot/minor", human)

    published = forge.publish("minor", {"requirements.txt": b"requests==9\n"}, RECORD)

    assert published.status == "conflict"
    assert "not made by depbot" in published.message
    assert git(repo, "rev-parse", "depbot/minor") == human


def test_a_branch_checked_out_by_the_user_is_not_overwritten(repo: Path) -> None:
    forge = LocalForge(repo)
    forge.publish("minor", {"requirements.txt": NEW}, RECORD)
    git(repo, "checkout", "-q", "depbot/minor")
    tip = git(repo, "rev-parse", "HEAD")

    published = forge.publish("minor", {"requirements.txt": b"requests==9\n"}, RECORD)

    assert published.status == "conflict"
    assert git(repo, "rev-parse", "depbot/minor") == tip
    assert git(repo, "status", "--porcelain") == ""


def test_content_already_at_head_publishes_nothing(repo: Path) -> None:
    published = LocalForge(repo).publish("minor", {"requirements.txt": OLD}, RECORD)

    assert published.status == "unchanged"
    assert published.commit is None
    assert git(repo, "branch", "--list", "depbot/*") == ""


def test_a_new_file_and_a_nested_path_are_committed(repo: Path) -> None:
    files = {"requirements.txt": NEW, "constraints/torch.txt": b"torch==2.5.1\n"}

    LocalForge(repo).publish("major-torch", files, RECORD)

    assert git(repo, "show", "depbot/major-torch:constraints/torch.txt") == "torch==2.5.1"
    assert not (repo / "constraints").exists()


def test_publishing_needs_no_worktree_and_leaves_no_file_behind(repo: Path) -> None:
    (repo / "scratch.txt").write_text("untracked notes\n")
    state = depbot_dir(repo)

    published = LocalForge(repo).publish("minor", {"requirements.txt": NEW}, RECORD)

    assert published.status == "opened"
    assert not (repo / ".git" / "worktrees").exists()
    assert list((state / "tmp").iterdir()) == []
    assert not (state / "worktrees").exists()


def test_split_index_settings_write_nothing_beside_the_users_index(repo: Path) -> None:
    git(repo, "config", "core.splitIndex", "true")
    git(repo, "update-index", "--split-index")
    (repo / "scratch.txt").write_text("untracked notes\n")
    shared = sorted(p.name for p in (repo / ".git").glob("sharedindex.*"))
    before = snapshot(repo)

    LocalForge(repo).publish("minor", {"requirements.txt": NEW}, RECORD)

    assert sorted(p.name for p in (repo / ".git").glob("sharedindex.*")) == shared
    assert snapshot(repo) == before


def test_a_branch_written_before_a_crash_is_recognised_not_duplicated(repo: Path) -> None:
    forge = LocalForge(repo)
    first = forge.publish("security", {"requirements.txt": NEW}, RECORD)

    # A rerun after a crash that lost everything but the ref sees its own commit.
    rerun = LocalForge(repo).publish("security", {"requirements.txt": NEW}, RECORD)

    assert rerun.status == "unchanged"
    assert rerun.commit == first.commit
    assert git(repo, "branch", "--list", "depbot/*").split() == ["depbot/security"]


def test_open_batches_and_close(repo: Path) -> None:
    forge = LocalForge(repo)
    forge.publish("minor", {"requirements.txt": NEW}, RECORD)
    forge.publish("security", {"requirements.txt": NEW}, RECORD)
    human = git(repo, "commit-tree", "-p", "depbot/security", "-m", "mine", "HEAD^{tree}")
    git(repo, "update-ref", "refs/heads/depbot/security", human)

    batches = forge.open_batches()

    assert [(b.id, b.branch, b.ours) for b in batches] == [
        ("minor", "depbot/minor", True),
        ("security", "depbot/security", False),
    ]
    assert batches[0].title == RECORD.title
    assert forge.close("security", "superseded") is False
    assert forge.close("minor", "superseded") is True
    assert forge.close("minor", "superseded") is False
    assert [b.id for b in forge.open_batches()] == ["security"]


@pytest.mark.parametrize("batch_id", ["", "../x", "a..b", "x.lock", "a b", "-x"])
def test_invalid_batch_ids_are_refused(repo: Path, batch_id: str) -> None:
    with pytest.raises(ForgeError, match="invalid batch id"):
        LocalForge(repo).publish(batch_id, {"requirements.txt": NEW}, RECORD)


@pytest.mark.parametrize("path", ["/etc/passwd", "../outside.txt", ".git/config", "a\\b.txt"])
def test_paths_outside_the_repository_are_refused(repo: Path, path: str) -> None:
    with pytest.raises(ForgeError, match=r"relative|inside \.git"):
        LocalForge(repo).publish("minor", {path: NEW}, RECORD)
    assert git(repo, "branch", "--list", "depbot/*") == ""


def test_a_repository_without_commits_is_an_error(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    with pytest.raises(ForgeError, match="no commit"):
        LocalForge(tmp_path).publish("minor", {"requirements.txt": NEW}, RECORD)


def test_state_lives_in_the_common_git_dir_of_a_linked_worktree(repo: Path, tmp_path: Path) -> None:
    linked = tmp_path / "linked"
    git(repo, "worktree", "add", "-q", "--detach", str(linked), "HEAD")

    assert git_common_dir(linked) == (repo / ".git").resolve()
    assert depbot_dir(linked) == (repo / ".git" / "depbot").resolve()
    assert not (linked / "depbot").exists()


def test_not_a_repository_is_a_forge_error(tmp_path: Path) -> None:
    with pytest.raises(ForgeError, match="rev-parse failed"):
        git_common_dir(tmp_path)


def test_the_local_dashboard_is_a_file_rewritten_only_when_it_changes(repo: Path) -> None:
    forge = LocalForge(repo)

    where = forge.dashboard("# depbot dashboard\n")
    path = Path(where)
    assert path == depbot_dir(repo) / "dashboard.md"
    assert path.read_text() == "# depbot dashboard\n"
    inode = path.stat().st_ino

    assert forge.dashboard("# depbot dashboard\n") == where
    assert path.stat().st_ino == inode  # not replaced
    forge.dashboard("# depbot dashboard\n\nnumpy blocked\n")
    assert path.read_text().endswith("numpy blocked\n")
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".dashboard-")]
