"""``depbot run --forge github`` end to end: the acceptance scenario published to a fake GitHub.

The scenario of test_run_scenario.py (real pip-compile, real venvs, a loopback index), with a
local bare repository as ``origin`` and the fake GitHub API on 127.0.0.1. After each run the
superseded batches are closed and the dashboard written. The first run opens one PR per
surviving batch with labels and evidence, and the dashboard issue; the rerun makes no write
call and pushes nothing; the token appears nowhere. The composition root selects the forge
(``--forge github``); only PyGithub's throttling is turned off, to keep the test fast.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any

import pytest

import depbot.forge.github
from depbot.cli import main
from depbot.demo.index_server import serve_index
from depbot.forge.github import GitHubForge
from depbot.github_api import basic_credential
from tests.conftest import clean_env
from tests.support.fake_github import FakeGitHub, Recorded, iter_bodies
from tests.support.scenario import build_scenario, git, new_releases, old_releases

pytestmark = pytest.mark.slow

TOKEN = "ghs_e2eSECRETtoken0123456789"


@dataclass(frozen=True)
class Run:
    code: int
    doc: dict[str, Any]
    out: str
    err: str
    requests: list[Recorded]
    seconds: float
    refs: str


@dataclass(frozen=True)
class World:
    repo: Path
    origin: Path
    api: FakeGitHub
    first: Run
    rerun: Run


def _run(repo: Path, origin: Path, api: FakeGitHub, env: Mapping[str, str]) -> Run:
    api.reset_log()
    start = time.perf_counter()
    out, err = StringIO(), StringIO()
    argv = ["run", "--repo", str(repo), "--forge", "github", "--format", "json"]
    code = main(argv, env=env, out=out, err=err)
    doc = json.loads(out.getvalue()) if out.getvalue().strip() else {}
    seconds = time.perf_counter() - start
    refs = git(origin, "for-each-ref")
    return Run(code, doc, out.getvalue(), err.getvalue(), list(api.requests), seconds, refs)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("github-scenario")
    with serve_index(root / "index", old_releases()) as index, pytest.MonkeyPatch.context() as mp:
        base = clean_env(index.url, DEPBOT_CACHE_DIR=str(root / "cache"))
        repo = build_scenario(root, index, base).repo
        origin = root / "origin.git"
        git(root, "init", "-q", "--bare", "-b", "main", str(origin))
        git(repo, "remote", "add", "origin", str(origin))
        git(repo, "push", "-q", "origin", "main")
        index.add(*new_releases())
        with FakeGitHub("octo/proj", token=TOKEN, bare=origin) as api:
            env = {
                **base,
                "GITHUB_TOKEN": TOKEN,
                "GITHUB_REPOSITORY": "octo/proj",
                "GITHUB_API_URL": api.api,
            }
            mp.setattr(
                depbot.forge.github, "GitHubForge", functools.partial(GitHubForge, throttle=False)
            )
            first = _run(repo, origin, api, env)
            rerun = _run(repo, origin, api, env)
            print(  # the figures of the closing note (pytest -s shows them)
                f"\nfirst run: {len(first.requests)} API calls"
                f" ({sum(r.write for r in first.requests)} writes), {first.seconds:.1f} s"
                f"\nrerun: {len(rerun.requests)} API calls"
                f" ({sum(r.write for r in rerun.requests)} writes), {rerun.seconds:.1f} s"
            )
            yield World(repo, origin, api, first, rerun)


def test_first_run_opens_one_pr_per_surviving_batch(world: World) -> None:
    assert world.first.code == 0, world.first.err
    statuses = {b["id"]: b["status"] for b in world.first.doc["batches"]}
    assert statuses == {
        "security": "opened",
        "minor": "opened",
        "major-vault": "opened",
        "major-ravel": "rolled-back",
    }
    pulls = {p["head"]["ref"]: p for p in world.api.pulls()}
    assert set(pulls) == {"depbot/security", "depbot/minor", "depbot/major-vault"}
    labels = {ref: [lb["name"] for lb in p["labels"]] for ref, p in pulls.items()}
    assert labels == {
        "depbot/security": ["dependencies", "security"],
        "depbot/minor": ["dependencies", "minor"],
        "depbot/major-vault": ["dependencies", "major"],
    }
    minor = pulls["depbot/minor"]
    assert minor["title"] == "Bump the minor batch with 18 updates"
    assert "### Rolled back" in minor["body"] and "<details>" in minor["body"]
    assert "### Test evidence" in minor["body"] and "To skip a version" in minor["body"]
    for batch in world.first.doc["batches"]:
        if batch["pr"]:
            assert batch["pr"] == pulls[batch["branch"]]["html_url"]
    for ref, pr in pulls.items():
        assert git(world.origin, "rev-parse", ref).strip() == pr["head"]["sha"]
        message = git(world.origin, "log", "-1", "--format=%B", ref)
        assert message.startswith("Bump ") and "updated-dependencies:" in message


def test_the_dashboard_issue_lists_the_rolled_back_updates(world: World) -> None:
    (issue,) = world.api.issues()
    assert issue["title"] == "depbot dashboard"
    assert f"dashboard: {issue['html_url']}" in world.first.err
    body = issue["body"]
    assert "## Open batches" in body and "`depbot/minor`" in body
    assert "## Rolled back" in body and "tests-failed" in body


def test_the_rerun_writes_nothing(world: World) -> None:
    assert world.rerun.code == 0, world.rerun.err
    statuses = {b["id"]: b["status"] for b in world.rerun.doc["batches"]}
    assert statuses["security"] == statuses["minor"] == statuses["major-vault"] == "unchanged"
    assert [r for r in world.rerun.requests if r.write] == []
    assert world.rerun.refs == world.first.refs
    assert "closed" not in world.rerun.err
    assert all(r.path != "/user" for r in world.first.requests + world.rerun.requests)


def test_the_token_is_nowhere(world: World) -> None:
    forms = (TOKEN, basic_credential(TOKEN))
    for run in (world.first, world.rerun):
        for form in forms:
            assert form not in run.out and form not in run.err
    for body in iter_bodies(world.api):
        assert all(form.encode() not in body for form in forms)
    for path in [*(world.repo / ".git").rglob("*"), *world.origin.rglob("*")]:
        if path.is_file():
            data = path.read_bytes()
            assert all(form.encode() not in data for form in forms), path
