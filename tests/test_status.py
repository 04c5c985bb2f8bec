"""``depbot status`` after a real run: the open ``depbot/*`` branches with their state, and the
rolled-back updates with their age, those blocked for over a week flagged (SPEC §5, §7)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from depbot.forge.git import depbot_dir
from depbot.server.events import AdvisoryEvent
from depbot.server.queue import Queue, queue_path
from tests.support.tiny_project import TinyProject, build_template, release, tiny_project

pytestmark = pytest.mark.slow

# uv keeps this run short; the pipeline behind status is the same with either backend
CONFIG = 'lock-backend = "uv"\n'


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_template(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, template: Path) -> Iterator[TinyProject]:
    """A repository after one run that kept alpha 1.1 and rolled back beta 1.1, plus a
    rollback of delta 1.1 recorded eight days ago."""
    root = tmp_path_factory.mktemp("status")
    new = [release("alpha", "1.1"), release("beta", "1.1", breaks=True)]
    with tiny_project(root, template, *new, config=CONFIG) as tiny:
        code, doc, err = tiny.run()
        assert code == 0, err
        assert [(b["status"], b["test_runs"]) for b in doc["batches"]] == [("opened", 4)]
        eight_days_ago = datetime.now(timezone.utc) - timedelta(days=8)
        with tiny.store() as store:
            store.add_rollback("delta", "1.1", "tests-failed", "FAILED x", now=eight_days_ago)
        yield tiny


def status(project: TinyProject, fmt: str) -> str:
    code, out, err = project.depbot("status", "--format", fmt)
    assert (code, err) == (0, "")
    return out


def test_status_json_lists_open_batches_and_rollbacks_with_their_age(project: TinyProject) -> None:
    doc = json.loads(status(project, "json"))
    tip = project.git("rev-parse", "depbot/minor")
    assert doc["schema"] == 1
    assert doc["batches"] == [
        {
            "id": "minor",
            "branch": "depbot/minor",
            "status": "opened",
            "pr": tip,
            "commit": tip,
            "title": project.git("log", "-1", "--format=%s", "depbot/minor"),
        }
    ]
    today = datetime.now(timezone.utc).date()
    assert doc["rolled_back"] == [
        {
            "name": "delta",
            "version": "1.1",
            "reason": "tests-failed",
            "since": (today - timedelta(days=8)).isoformat(),
            "age_days": 8,
            "stale": True,
        },
        {
            "name": "beta",
            "version": "1.1",
            "reason": "tests-failed",
            "since": today.isoformat(),
            "age_days": 0,
            "stale": False,
        },
    ]


def test_status_text_flags_a_rollback_blocked_for_over_a_week(project: TinyProject) -> None:
    lines = status(project, "text").splitlines()
    title = project.git("log", "-1", "--format=%s", "depbot/minor")
    assert lines == [
        "Open batches",
        f"  depbot/minor  opened  {title}",
        "Rolled back",
        "  delta  1.1  tests-failed  8 days (blocked over a week)",
        "  beta  1.1  tests-failed  0 days",
    ]


def test_status_markdown(project: TinyProject) -> None:
    out = status(project, "markdown")
    title = project.git("log", "-1", "--format=%s", "depbot/minor")
    assert out.startswith("# depbot status\n")
    assert f"| `depbot/minor` | opened | {title} |" in out.splitlines()
    assert "| delta | 1.1 | tests-failed | 8 days (blocked over a week) |" in out.splitlines()
    assert "| beta | 1.1 | tests-failed | 0 days |" in out.splitlines()


def test_status_shows_a_branch_edited_by_someone_else(project: TinyProject) -> None:
    ours = project.git("rev-parse", "depbot/minor")
    tree = project.git("rev-parse", "depbot/minor^{tree}")
    human = project.git("commit-tree", tree, "-p", ours, "-m", "Pin beta by hand")
    project.git("update-ref", "refs/heads/depbot/minor", human, ours)
    try:
        [batch] = json.loads(status(project, "json"))["batches"]
        assert (batch["status"], batch["commit"], batch["title"]) == (
            "edited by someone else",
            human,
            "Pin beta by hand",
        )
    finally:
        project.git("update-ref", "refs/heads/depbot/minor", ours, human)


def test_status_of_a_repository_depbot_never_ran_on(tmp_path: Path, template: Path) -> None:
    with tiny_project(tmp_path, template) as fresh:
        assert status(fresh, "text") == "No open batches and no rolled-back updates.\n"
        assert json.loads(status(fresh, "json")) == {
            "schema": 1,
            "batches": [],
            "rolled_back": [],
            "jobs": [],
        }


def test_status_lists_the_webhooks_jobs_not_done(tmp_path: Path, template: Path) -> None:
    with tiny_project(tmp_path, template) as fresh:
        path = queue_path(depbot_dir(fresh.repo))
        with Queue(path) as queue:
            done = queue.enqueue(_event("d-1", "GHSA-aaaa-bbbb-cccc", "alpha"))
            failing = queue.enqueue(_event("d-2", "GHSA-dddd-eeee-ffff", "beta"))
            waiting = queue.enqueue(_event("d-3", "GHSA-gggg-hhhh-iiii", "gamma"))
            assert None not in (done, failing, waiting)
            queue.finish([done or 0])
            queue.claim_next(time.time())
            queue.fail([failing or 0], "baseline | fails")
        doc = json.loads(status(fresh, "json"))
        jobs = [(j["id"], j["state"], j["advisory"], j["packages"]) for j in doc["jobs"]]
        assert jobs == [
            (failing, "failed", "GHSA-dddd-eeee-ffff", ["beta"]),
            (waiting, "pending", "GHSA-gggg-hhhh-iiii", ["gamma"]),
        ]
        assert doc["jobs"][0]["last_error"] == "baseline | fails"
        text = status(fresh, "text")
        assert "Webhook jobs not done" in text and "GHSA-gggg-hhhh-iiii" in text
        assert "GHSA-aaaa-bbbb-cccc" not in text
        markdown = status(fresh, "markdown")
        assert (
            f"| {failing} | GHSA-dddd-eeee-ffff | beta | failed | baseline \\| fails |" in markdown
        )


def _event(delivery: str, advisory: str, package: str) -> AdvisoryEvent:
    return AdvisoryEvent(
        delivery=delivery,
        event="dependabot_alert",
        action="created",
        repository=None,
        packages=(canonicalize_name(package),),
        advisory_id=advisory,
        aliases=(),
        patched=(),
    )
