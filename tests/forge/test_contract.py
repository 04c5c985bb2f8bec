"""The forge contract, run over every implementation: local, and GitHub against the fake API."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from depbot.forge.github import GitHubForge
from depbot.forge.interface import Forge, PRRecord
from depbot.forge.local import LocalForge
from depbot.github_api import ApiBudget, GitHubSettings, Secret
from depbot.stages.dashboard import tidy
from tests.support.fake_github import FakeGitHub

OLD = b"idna==3.6\n"
NEW = b"idna==3.7\n"
NEWER = b"idna==3.8\n"
RECORD = PRRecord("Bump idna from 3.6 to 3.7", "| idna | minor |\n", ("dependencies", "minor"))


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=H", "-c", "user.email=h@example.org", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.fixture(params=["local", "github"])
def make(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Forge]]:
    repo = tmp_path / "project"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "requirements.txt").write_bytes(OLD)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "init")
    if request.param == "local":
        yield lambda: LocalForge(repo)
        return
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    git(repo, "remote", "add", "origin", str(origin))
    git(repo, "push", "-q", "origin", "main")
    with FakeGitHub("octo/proj", token="t", bare=origin) as api:
        settings = GitHubSettings(Secret("t"), "octo/proj", api.api, api.web, True)
        yield lambda: GitHubForge(repo, settings, throttle=False, budget=ApiBudget(1))


def test_publish_rerun_update_list_close(make: Callable[[], Forge]) -> None:
    first = make().publish("minor", {"requirements.txt": NEW}, RECORD)
    again = make().publish("minor", {"requirements.txt": NEW}, RECORD)
    newer = make().publish("minor", {"requirements.txt": NEWER}, RECORD)

    assert (first.status, again.status, newer.status) == ("opened", "unchanged", "updated")
    assert first.branch == "depbot/minor" and again.commit == first.commit
    assert newer.commit not in (None, first.commit)
    (listed,) = make().open_batches()
    assert (listed.id, listed.commit, listed.ours) == ("minor", newer.commit, True)
    assert make().close("minor", "superseded") is True
    assert make().open_batches() == ()
    assert make().close("minor", "superseded") is False


def test_nothing_to_propose_is_unchanged(make: Callable[[], Forge]) -> None:
    result = make().publish("minor", {"requirements.txt": OLD}, RECORD)
    assert result.status == "unchanged" and result.commit is None


def test_tidy_closes_superseded_batches_and_writes_the_dashboard(
    make: Callable[[], Forge],
) -> None:
    make().publish("minor", {"requirements.txt": NEW}, RECORD)
    make().publish("major-idna", {"requirements.txt": NEWER}, RECORD)
    now = datetime(2026, 12, 2, tzinfo=timezone.utc)

    done = tidy(
        make(),
        planned={"minor"},
        statuses={"minor": "unchanged"},
        full_plan=True,
        rollbacks=[],
        now=now,
    )
    again = tidy(make(), planned={"minor"}, statuses={}, full_plan=True, rollbacks=[], now=now)

    assert [batch_id for batch_id, _ in done.closed] == ["major-idna"]
    assert again.closed == () and again.dashboard == done.dashboard
    assert [b.id for b in make().open_batches()] == ["minor"]
    assert done.dashboard
