"""The GitHub forge against a fake GitHub API on 127.0.0.1 and a local bare repository as origin."""

from __future__ import annotations

import os
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from depbot.forge.github import CLOSED_MARK, DASHBOARD_TITLE, GitHubForge
from depbot.forge.interface import ForgeError, PRRecord
from depbot.github_api import ApiBudget, GitHubSettings, Secret, basic_credential
from tests.support.fake_github import FakeGitHub, iter_bodies

TOKEN = "ghs_fakeTOKEN1234567890abcdef"
OLD = b"requests==2.31.0\nidna==3.6\n"
NEW = b"requests==2.32.3\nidna==3.7\n"
NEWER = b"requests==2.32.4\nidna==3.7\n"


def record(title: str = "Bump idna from 3.6 to 3.7", kind: str = "minor") -> PRRecord:
    return PRRecord(
        title,
        f"| package | kind |\n| --- | --- |\n| idna | {kind} |\n",
        ("dependencies", kind),
        commit_message=f"{title}\n\n---\nupdated-dependencies:\n- dependency-name: idna\n...\n",
    )


def git(repo: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", "-c", "user.name=Human", "-c", "user.email=human@example.org", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


@dataclass
class World:
    repo: Path
    origin: Path
    api: FakeGitHub
    waits: list[float]

    def forge(self, **kw: object) -> GitHubForge:
        settings = GitHubSettings(Secret(TOKEN), "octo/proj", self.api.api, self.api.web, True)
        budget = ApiBudget(kw.pop("budget_seconds", 120.0), sleep=self.waits.append)  # type: ignore[arg-type]
        return GitHubForge(self.repo, settings, throttle=False, budget=budget, **kw)  # type: ignore[arg-type]

    def origin_sha(self, branch: str) -> str | None:
        done = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"],
            cwd=self.origin,
            capture_output=True,
            text=True,
            check=False,
        )
        return done.stdout.strip() or None


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    repo = tmp_path / "project"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "requirements.txt").write_bytes(OLD)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "init")
    git(repo, "remote", "add", "origin", str(origin))
    git(repo, "push", "-q", "origin", "main")
    with FakeGitHub("octo/proj", token=TOKEN, bare=origin) as api:
        yield World(repo, origin, api, [])


def test_first_publish_opens_a_labelled_pr_and_the_rerun_writes_nothing(world: World) -> None:
    forge = world.forge()
    published = forge.publish("minor", {"requirements.txt": NEW}, record())

    assert published.status == "opened"
    assert published.pr == f"{world.api.web}/octo/proj/pull/1"
    assert world.origin_sha("depbot/minor") == published.commit
    assert git(world.origin, "show", "depbot/minor:requirements.txt") == NEW.decode().strip()
    (pr,) = world.api.pulls()
    assert pr["title"] == "Bump idna from 3.6 to 3.7"
    assert pr["head"]["ref"] == "depbot/minor" and pr["base"]["ref"] == "main"
    assert [label["name"] for label in pr["labels"]] == ["dependencies", "minor"]
    assert world.api.repo.labels["dependencies"]["color"] == "0366d6"
    assert world.api.repo.labels["minor"]["description"]
    assert not any(r.path == "/user" for r in world.api.requests)

    world.api.reset_log()
    pushes_before = git(world.origin, "for-each-ref")
    again = world.forge().publish("minor", {"requirements.txt": NEW}, record())

    assert again.status == "unchanged"
    assert again.commit == published.commit and again.pr == published.pr
    assert world.api.writes() == []
    assert git(world.origin, "for-each-ref") == pushes_before


def test_new_content_updates_the_pr_in_place(world: World) -> None:
    first = world.forge().publish("minor", {"requirements.txt": NEW}, record())
    world.api.reset_log()

    second = world.forge().publish(
        "minor", {"requirements.txt": NEWER}, record("Bump the minor batch with 2 updates")
    )

    assert second.status == "updated"
    assert second.pr == first.pr and second.commit != first.commit
    assert world.origin_sha("depbot/minor") == second.commit
    writes = [(r.method, r.path) for r in world.api.writes()]
    assert writes == [("PATCH", "/repos/octo/proj/pulls/1")]
    assert world.api.pulls()[0]["title"] == "Bump the minor batch with 2 updates"
    assert len(world.api.pulls()) == 1


def test_a_human_push_is_left_alone_and_reported_once(world: World, tmp_path: Path) -> None:
    world.forge().publish("minor", {"requirements.txt": NEW}, record())
    clone = tmp_path / "human"
    git(tmp_path, "clone", "-q", "-b", "depbot/minor", str(world.origin), str(clone))
    (clone / "fix.txt").write_text("a human fix\n")
    git(clone, "add", "fix.txt")
    git(clone, "commit", "-q", "-m", "human fix")
    git(clone, "push", "-q", "origin", "depbot/minor")
    human = world.origin_sha("depbot/minor")

    for _ in range(2):
        result = world.forge().publish("minor", {"requirements.txt": NEWER}, record())
        assert result.status == "conflict"
        assert "not made by depbot" in result.message

    assert world.origin_sha("depbot/minor") == human
    comments = world.api.comments_on(1)
    assert len(comments) == 1 and "never overwrites" in comments[0]
    assert world.forge().close("minor", "superseded") is False
    assert world.origin_sha("depbot/minor") == human


def test_a_push_racing_depbot_is_refused_by_the_lease(world: World, tmp_path: Path) -> None:
    forge = world.forge()
    forge.publish("minor", {"requirements.txt": NEW}, record())
    forge._origin.tips()  # depbot's view of origin, as of now
    clone = tmp_path / "racer"
    git(tmp_path, "clone", "-q", "-b", "depbot/minor", str(world.origin), str(clone))
    git(clone, "commit", "-q", "--allow-empty", "-m", "racing commit")
    git(clone, "push", "-q", "origin", "depbot/minor")
    racer = world.origin_sha("depbot/minor")

    result = forge.publish("minor", {"requirements.txt": NEWER}, record())

    assert result.status == "conflict"
    assert world.origin_sha("depbot/minor") == racer


def test_superseded_pr_is_closed_with_a_comment_and_its_branch_deleted(world: World) -> None:
    world.forge().publish("major-numpy", {"requirements.txt": NEW}, record(kind="major"))

    assert world.forge().close("major-numpy", "numpy is already at 2.0.0 on main") is True

    (pr,) = world.api.pulls()
    assert pr["state"] == "closed" and CLOSED_MARK in pr["body"]
    assert world.api.comments_on(1) == [
        "depbot closed this pull request: numpy is already at 2.0.0 on main"
    ]
    assert world.origin_sha("depbot/major-numpy") is None
    assert world.forge().close("major-numpy", "again") is False

    # proposed again later: the closed PR is reopened, not duplicated
    again = world.forge().publish("major-numpy", {"requirements.txt": NEWER}, record(kind="major"))
    assert again.status == "opened" and again.pr == f"{world.api.web}/octo/proj/pull/1"
    assert world.api.pulls()[0]["state"] == "open"
    assert CLOSED_MARK not in world.api.pulls()[0]["body"]


def test_a_pr_closed_by_a_maintainer_is_not_reopened(world: World) -> None:
    world.forge().publish("minor", {"requirements.txt": NEW}, record())
    world.api.repo.items[1]["state"] = "closed"
    world.api.reset_log()

    same = world.forge().publish("minor", {"requirements.txt": NEW}, record())
    git(world.origin, "branch", "-D", "depbot/minor")  # "Delete branch" after closing
    still = world.forge().publish("minor", {"requirements.txt": NEW}, record())

    assert same.status == still.status == "unchanged"
    assert "closed by a maintainer" in same.message
    assert world.api.writes() == [] and world.origin_sha("depbot/minor") is None
    newer = world.forge().publish("minor", {"requirements.txt": NEWER}, record("Bump idna to 3.8"))
    assert newer.status == "opened" and newer.pr and newer.pr.endswith("/pull/2")


def test_open_batches_lists_branches_and_prs(world: World) -> None:
    world.forge().publish("minor", {"requirements.txt": NEW}, record())
    world.forge().publish("security", {"requirements.txt": NEWER}, record("Bump requests"))

    batches = world.forge().open_batches()

    assert [(b.id, b.title, b.ours) for b in batches] == [
        ("minor", "Bump idna from 3.6 to 3.7", True),
        ("security", "Bump requests", True),
    ]
    assert batches[0].pr and batches[0].pr.endswith("/pull/1")


def test_dashboard_issue_is_created_once_and_updated_only_on_change(world: World) -> None:
    url = world.forge().dashboard("# depbot dashboard\n\nnothing blocked\n")
    world.api.reset_log()
    assert world.forge().dashboard("# depbot dashboard\n\nnothing blocked\n") == url
    assert world.api.writes() == []

    assert world.forge().dashboard("# depbot dashboard\n\nnumpy blocked\n") == url
    (issue,) = world.api.issues()
    assert issue["title"] == DASHBOARD_TITLE and issue["body"].endswith("numpy blocked\n")
    assert [(r.method, r.path) for r in world.api.writes()] == [
        ("PATCH", "/repos/octo/proj/issues/1")
    ]


def test_rate_limits_are_waited_out_then_the_call_succeeds(world: World) -> None:
    reset = str(int(time.time()) + 2)
    world.api.fail(
        "GET",
        r"/repos/octo/proj/pulls",
        (429, {"Retry-After": "3"}, {"message": "slow down", "documentation_url": "x"}),
        (
            403,
            {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset},
            {"message": "API rate limit exceeded for installation ID 1.", "documentation_url": "x"},
        ),
    )

    world.api.fail(
        "POST",
        r"/repos/octo/proj/pulls",
        (
            403,
            {"Retry-After": "5"},
            {
                "message": "You have exceeded a secondary rate limit. Please wait a few minutes.",
                "documentation_url": "x",
            },
        ),
    )

    published = world.forge().publish("minor", {"requirements.txt": NEW}, record())

    assert published.status == "opened"
    assert world.waits[0] == 3
    assert 0 < world.waits[1] <= 4
    assert world.waits[2] == 5
    assert len(world.api.pulls()) == 1


def test_server_errors_exhaust_the_retries_and_name_the_call(world: World) -> None:
    error = (502, {}, {"message": "Server Error", "documentation_url": "x"})
    world.api.fail("GET", r"/repos/octo/proj/pulls", *([error] * 10))

    with pytest.raises(ForgeError, match="find the pull request of depbot/minor") as caught:
        world.forge(retries=3).publish("minor", {"requirements.txt": NEW}, record())

    assert "retries exhausted (502 answers)" in str(caught.value)
    assert TOKEN not in str(caught.value)
    assert len(world.waits) == 3


def test_a_rate_limit_beyond_the_budget_fails_without_waiting(world: World) -> None:
    reset = str(int(time.time()) + 3600)
    world.api.fail(
        "GET",
        r"/repos/octo/proj/pulls",
        (
            403,
            {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset},
            {"message": "API rate limit exceeded for installation ID 1.", "documentation_url": "x"},
        ),
    )
    with pytest.raises(ForgeError, match=r"GitHub API .*find the pull request"):
        world.forge(budget_seconds=60.0).publish("minor", {"requirements.txt": NEW}, record())
    assert world.waits == []


def test_the_token_leaks_nowhere(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shim = tmp_path / "shim"
    shim.mkdir()
    log = tmp_path / "git-calls.log"
    real = subprocess.run(["which", "git"], capture_output=True, text=True, check=True).stdout
    script = shim / "git"
    # records each git child's argv as the kernel shows it, and whether the header came by env
    script.write_text(
        "#!/bin/sh\n"
        f'tr "\\000" " " < /proc/$$/cmdline >> "{log}"\n'
        f'if [ -n "$GIT_CONFIG_VALUE_1" ]; then echo " [env-header]" >> "{log}"; '
        f'else echo >> "{log}"; fi\n'
        f'exec {real.strip()} "$@"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{shim}{os.pathsep}{os.environ['PATH']}")

    forge = world.forge()
    forge.publish("minor", {"requirements.txt": NEW}, record())
    forge.publish("minor", {"requirements.txt": NEWER}, record())
    forge.close("minor", "superseded")
    forge.dashboard("body")

    calls = log.read_text()
    encoded = basic_credential(TOKEN)
    assert "push" in calls and "fetch" in calls
    network = [line for line in calls.splitlines() if " push " in line or " fetch " in line]
    local = [line for line in calls.splitlines() if line not in network]
    assert network and all(line.endswith("[env-header]") for line in network)
    # the token is handed to the push and fetch only, no other git command sees it
    assert local and not any("[env-header]" in line for line in local)
    for text in (calls, repr(forge.settings), str(forge.settings.token)):
        assert TOKEN not in text and encoded not in text
    for body in iter_bodies(world.api):
        assert TOKEN.encode() not in body and encoded.encode() not in body
    for path in (world.repo / ".git").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert TOKEN.encode() not in data and encoded.encode() not in data, path
    log_all = git(world.origin, "log", "--all", "--format=%B%an%ae%cn%ce")
    assert TOKEN not in log_all


def test_a_pr_that_already_exists_is_taken_over(world: World) -> None:
    world.forge().publish("minor", {"requirements.txt": NEW}, record())
    # the open PR is not found by the first query (as if the list lagged behind), so depbot
    # tries to create it and GitHub answers 422 "already exists"
    world.api.fail("GET", r"/repos/octo/proj/pulls", (200, {}, []), (200, {}, []))

    result = world.forge().publish("minor", {"requirements.txt": NEWER}, record("Bump again"))

    assert result.pr and result.pr.endswith("/pull/1")
    assert len(world.api.pulls()) == 1 and world.api.pulls()[0]["title"] == "Bump again"


def test_pull_requests_are_read_across_pages(world: World) -> None:
    for batch_id in ("major-a", "major-b", "major-c"):
        world.forge().publish(batch_id, {"requirements.txt": NEW}, record(f"Bump {batch_id}"))
    world.api.page_size_cap = 1
    world.api.reset_log()

    batches = world.forge().open_batches()

    assert [b.title for b in batches] == ["Bump major-a", "Bump major-b", "Bump major-c"]
    pages = [r for r in world.api.requests if r.path == "/repos/octo/proj/pulls"]
    assert [r.query.get("page") for r in pages] == [None, "2", "3"]


def test_an_unreachable_origin_is_a_forge_error_without_the_token(world: World) -> None:
    git(world.repo, "remote", "set-url", "origin", str(world.repo / "missing.git"))
    with pytest.raises(ForgeError, match="git fetch from origin failed") as caught:
        world.forge().publish("minor", {"requirements.txt": NEW}, record())
    assert TOKEN not in str(caught.value) and basic_credential(TOKEN) not in str(caught.value)


def test_a_422_is_reported_with_githubs_message(world: World) -> None:
    world.api.fail(
        "POST",
        r"/repos/octo/proj/pulls",
        (
            422,
            {},
            {
                "message": "Validation Failed",
                "errors": [{"resource": "PullRequest", "code": "custom", "message": "No commits"}],
                "documentation_url": "https://docs.github.com/rest",
            },
        ),
    )
    with pytest.raises(
        ForgeError, match=r"open the pull request .* 422 Validation Failed \(No commits\)"
    ):
        world.forge().publish("minor", {"requirements.txt": NEW}, record())


def test_evidence_alone_does_not_rewrite_the_body_of_an_unchanged_branch(world: World) -> None:
    first = PRRecord(
        "Bump idna", "- test runs: 3\n", ("dependencies", "minor"), proposal="idna==3.7"
    )
    world.forge().publish("minor", {"requirements.txt": NEW}, first)
    world.api.reset_log()

    cached = PRRecord("Bump idna", "- cached\n", ("dependencies", "minor"), proposal="idna==3.7")
    rerun = world.forge().publish("minor", {"requirements.txt": NEW}, cached)
    other = PRRecord("Bump idna", "- other\n", ("dependencies", "minor"), proposal="idna==3.8")
    changed = world.forge().publish("minor", {"requirements.txt": NEW}, other)

    assert rerun.status == "unchanged"
    assert changed.status == "updated"
    assert [(r.method, r.path) for r in world.api.writes()] == [
        ("PATCH", "/repos/octo/proj/pulls/1")
    ]
    assert world.api.pulls()[0]["body"].startswith("- other\n")
