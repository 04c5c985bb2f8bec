"""``depbot run`` through its failure and edge paths, with the real pip-compile, git and venvs
(SPEC §5, §7, §9): the JSON document, the ``depbot/*`` branches and the store are checked."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from depbot.forge.git import depbot_dir
from depbot.lock.interpreters import current_version
from depbot.stages.verify import verdict_key as probe_key
from depbot.state.lock import RunLock
from tests.support.tiny_project import (
    TEST_COMMAND,
    TinyProject,
    build_template,
    release,
    tiny_project,
)

pytestmark = pytest.mark.slow

ALL_OLD = {"alpha": "1.0", "beta": "1.0", "gamma": "1.0", "delta": "1.0"}
# uv builds and syncs a test environment in a fraction of pip's time: the scenarios that are
# about verify, bisect or the forge use it, those about relocking use pip-compile
UV = 'lock-backend = "uv"\n'


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_template(tmp_path_factory.mktemp("tiny"))


def only_batch(doc: dict[str, Any]) -> dict[str, Any]:
    assert len(doc["batches"]) == 1, doc
    batch: dict[str, Any] = doc["batches"][0]
    return batch


def reasons(batch: dict[str, Any]) -> dict[str, str]:
    return {r["name"]: r["reason"] for r in batch["rolled_back"]}


def kept(batch: dict[str, Any]) -> dict[str, str]:
    return {k["name"]: k["target"] for k in batch["kept"]}


# ---------------------------------------------------------------------------- baseline


def test_a_failing_baseline_fails_the_batch_and_blames_no_update(
    tmp_path: Path, template: Path
) -> None:
    broken = "import unittest\n\nclass T(unittest.TestCase):\n    def test_old_bug(self):\n"
    broken += "        self.assertEqual(1, 2)\n"
    files = {"tests/test_old_bug.py": broken}
    with tiny_project(tmp_path, template, release("alpha", "1.1"), files=files) as project:
        code, out, _ = project.depbot("run")
        assert code == 1
        assert "minor: failed" in out
        assert "the current lockfiles fail the tests (baseline), so no update is blamed" in out
        # the log tail says which test fails
        assert "test_old_bug" in out
        assert "AssertionError: 1 != 2" in out
        assert project.branches() == []
        with project.store() as store:
            assert store.rollbacks() == ()

        # the failing baseline is remembered: the rerun fails again without a test run
        code, doc, _ = project.run()
        batch = only_batch(doc)
        assert code == 1
        assert (batch["status"], batch["kept"], batch["rolled_back"]) == ("failed", [], [])
        assert (batch["test_runs"], batch["branch"]) == (0, None)
        assert project.branches() == []
        with project.store() as store:
            assert store.batches() == ()

        # the maintainer fixes the test on HEAD: the baseline is tested again and passes
        (project.repo / "tests/test_old_bug.py").write_text(broken.replace("1, 2", "1, 1"))
        project.git("commit", "-qam", "Fix the old bug")
        code, doc, _ = project.run()
        batch = only_batch(doc)
        assert code == 0
        assert (batch["status"], batch["test_runs"]) == ("opened", 2)


# ---------------------------------------------------------------------------- relock


def test_an_unresolvable_update_is_rolled_back_and_the_rest_published(
    tmp_path: Path, template: Path
) -> None:
    new = [release("alpha", "1.1"), release("gamma", "1.1", requires=["nowhere-to-be-found>=1"])]
    with tiny_project(tmp_path, template, *new) as project:
        # a token without a GitHub remote: "auto" picks the local forge
        code, doc, _ = project.run("--forge", "auto", GITHUB_TOKEN="not-a-real-token")
        batch = only_batch(doc)
        assert code == 0
        assert batch["status"] == "opened"
        assert kept(batch) == {"alpha": "1.1"}
        assert batch["rolled_back"] == [
            {"name": "gamma", "current": "1.0", "target": "1.1", "reason": "unresolvable"}
        ]
        assert batch["test_runs"] == 2  # the baseline, then the batch passes at once
        assert project.branches() == ["depbot/minor"]
        assert project.pins("depbot/minor") == {**ALL_OLD, "alpha": "1.1"}
        assert batch["pr"] == project.git("rev-parse", "depbot/minor")
        with project.store() as store:
            [blocked] = store.rollbacks()
        assert (blocked.name, blocked.version, blocked.reason) == ("gamma", "1.1", "unresolvable")
        assert "nowhere-to-be-found" in blocked.detail


def test_the_uv_backend_publishes_the_same_pins_as_pip_tools(
    tmp_path: Path, template: Path
) -> None:
    new = [release("alpha", "1.1"), release("gamma", "1.1", requires=["nowhere-to-be-found>=1"])]
    with tiny_project(tmp_path, template, *new, config=UV) as project:
        code, doc, err = project.run("--forge", "local")
        batch = only_batch(doc)
        assert code == 0, err
        assert batch["status"] == "opened"
        assert kept(batch) == {"alpha": "1.1"}
        assert reasons(batch) == {"gamma": "unresolvable"}
        assert batch["test_runs"] == 2
        # the pip-tools run of the same scenario (test above) publishes exactly these pins
        assert project.pins("depbot/minor") == {**ALL_OLD, "alpha": "1.1"}


# ---------------------------------------------------------------------------- triggers


def test_dry_run_tests_but_publishes_nothing(tmp_path: Path, template: Path) -> None:
    with tiny_project(tmp_path, template, release("alpha", "1.1"), release("beta", "1.1")) as p:
        code, doc, _ = p.run("--dry-run")
        batch = only_batch(doc)
        assert code == 0
        assert batch["status"] == "planned"
        assert kept(batch) == {"alpha": "1.1", "beta": "1.1"}
        assert batch["test_runs"] == 2
        assert batch["pr"] is None
        assert p.branches() == []
        with p.store() as store:
            assert store.batches() == ()

        # the verdicts are kept: publishing the same batch afterwards needs no test run
        code, doc, _ = p.run()
        batch = only_batch(doc)
        assert (code, batch["status"], batch["test_runs"]) == (0, "opened", 0)
        assert p.branches() == ["depbot/minor"]


def test_the_security_trigger_runs_only_the_security_batch(tmp_path: Path, template: Path) -> None:
    new = [release("alpha", "1.1"), release("gamma", "1.0.1")]
    with tiny_project(tmp_path, template, *new) as project:
        record = {
            "id": "TINY-2026-0001",
            "modified": "2026-01-01T00:00:00Z",
            "affected": [
                {
                    "package": {"ecosystem": "PyPI", "name": "gamma"},
                    "ranges": [
                        {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.0.1"}]}
                    ],
                }
            ],
        }
        (tmp_path / "advisories" / "TINY-2026-0001.json").write_text(json.dumps(record))

        code, doc, _ = project.run("--trigger", "security")
        assert code == 0
        assert doc["trigger"] == "security"
        batch = only_batch(doc)
        assert (batch["id"], batch["kind"], batch["status"]) == ("security", "security", "opened")
        assert kept(batch) == {"gamma": "1.0.1"}
        assert project.branches() == ["depbot/security"]
        assert project.pins("depbot/security") == {**ALL_OLD, "gamma": "1.0.1"}


# ---------------------------------------------------------------------------- memory


def test_a_rolled_back_version_is_not_retried_until_a_newer_release_or_retry(
    tmp_path: Path, template: Path
) -> None:
    new = [release("alpha", "1.1"), release("beta", "1.1", breaks=True)]
    with tiny_project(tmp_path, template, *new) as project:
        code, doc, _ = project.run()
        batch = only_batch(doc)
        assert (code, batch["status"]) == (0, "opened")
        assert reasons(batch) == {"beta": "tests-failed"}
        assert kept(batch) == {"alpha": "1.1"}
        assert project.pins("depbot/minor")["beta"] == "1.0"

        # nothing new: beta 1.1 is reported as blocked and nothing is tested again
        code, doc, _ = project.run()
        batch = only_batch(doc)
        assert (code, batch["status"], batch["test_runs"]) == (0, "unchanged", 0)
        assert reasons(batch) == {"beta": "previously-failed"}

        # --retry forgets the block: beta 1.1 is tested again, and fails again
        code, doc, _ = project.run("--retry")
        batch = only_batch(doc)
        assert code == 0
        assert reasons(batch) == {"beta": "tests-failed"}
        assert batch["test_runs"] >= 1
        assert project.pins("depbot/minor")["beta"] == "1.0"

        # a newer release is a new candidate, not blocked by the old failure
        project.publish(release("beta", "1.2"))
        code, doc, _ = project.run()
        batch = only_batch(doc)
        assert (code, batch["status"]) == (0, "updated")
        assert kept(batch) == {"alpha": "1.1", "beta": "1.2"}
        assert batch["rolled_back"] == []
        assert batch["test_runs"] == 1  # the baseline is remembered; the batch passes at once
        assert project.pins("depbot/minor") == {**ALL_OLD, "alpha": "1.1", "beta": "1.2"}
        with project.store() as store:
            assert [(r.name, r.version) for r in store.rollbacks()] == [("beta", "1.1")]


# ---------------------------------------------------------------------------- publish


def test_a_branch_a_human_committed_to_is_not_overwritten(tmp_path: Path, template: Path) -> None:
    with tiny_project(tmp_path, template, release("alpha", "1.1"), config=UV) as project:
        code, doc, _ = project.run()
        assert (code, only_batch(doc)["status"]) == (0, "opened")
        ours = project.git("rev-parse", "depbot/minor")

        # a maintainer pushes a fix-up to depbot's branch, without checking it out
        tree = project.git("rev-parse", "depbot/minor^{tree}")
        human = project.git("commit-tree", tree, "-p", ours, "-m", "Fix up the lockfile by hand")
        project.git("update-ref", "refs/heads/depbot/minor", human, ours)

        project.publish(release("beta", "1.1"))
        code, doc, _ = project.run()
        batch = only_batch(doc)
        assert code == 1
        assert (batch["status"], batch["branch"]) == ("failed", "depbot/minor")
        assert kept(batch) == {"alpha": "1.1", "beta": "1.1"}
        assert project.git("rev-parse", "depbot/minor") == human
        assert project.git("rev-parse", "HEAD") == project.git("rev-parse", "main")


# ---------------------------------------------------------------------------- verify


@pytest.mark.parametrize("budget", [3, 5])
def test_the_test_run_budget_defers_what_it_cannot_decide(
    tmp_path: Path, template: Path, budget: int
) -> None:
    new = [
        release("alpha", "1.1"),
        release("beta", "1.1", breaks=True),
        release("gamma", "1.1"),
        release("delta", "1.1", breaks=True),
    ]
    config = UV + f"max-test-runs = {budget}\n"
    with tiny_project(tmp_path, template, *new, config=config) as project:
        code, doc, _ = project.run()
        batch = only_batch(doc)
        assert code == 0
        # the baseline and the whole batch count: with 3, bisect has one run to decide four
        assert batch["test_runs"] <= budget
        assert set(kept(batch)) | set(reasons(batch)) == {"alpha", "beta", "gamma", "delta"}
        if budget == 3:
            assert "not-tested" in reasons(batch).values()
        # a culprit is never published, and only an observed failure blames an update
        assert not {"beta", "delta"} & set(kept(batch))
        assert set(reasons(batch).values()) <= {"tests-failed", "not-tested"}
        with project.store() as store:
            # deferred updates are not blocked: they were never shown to fail
            blocked = {r.name for r in store.rollbacks()}
            assert blocked == {n for n, why in reasons(batch).items() if why == "tests-failed"}
            if batch["kept"]:
                # what was published passed a real run of the tests
                published = project.show("depbot/minor", "requirements.txt").encode()
                key = probe_key(
                    {"requirements.txt": published},
                    TEST_COMMAND,
                    tree=project.git("rev-parse", "HEAD^{tree}"),
                    python=current_version(),
                )
                verdict = store.get_probe(key)
                assert verdict is not None and verdict.passed
            else:
                assert (batch["status"], batch["branch"]) == ("rolled-back", None)
                assert project.branches() == []


def test_a_hanging_test_run_is_killed_and_counts_as_failing(tmp_path: Path, template: Path) -> None:
    new = [release("alpha", "1.1", hangs=True), release("beta", "1.1")]
    with tiny_project(tmp_path, template, *new, config=UV + "test-timeout = 3\n") as project:
        started = time.monotonic()
        code, doc, _ = project.run()
        elapsed = time.monotonic() - started
        batch = only_batch(doc)
        assert code == 0
        assert reasons(batch) == {"alpha": "tests-failed"}
        assert kept(batch) == {"beta": "1.1"}
        assert project.pins("depbot/minor") == {**ALL_OLD, "beta": "1.1"}
        # a few 3 s timeouts, never the 60 s sleep
        assert elapsed < 50
        with project.store() as store:
            [blocked] = store.rollbacks()
        assert "timed out after 3 s" in blocked.detail


# ---------------------------------------------------------------------------- plumbing


def test_a_second_run_waits_for_the_run_lock(tmp_path: Path, template: Path) -> None:
    with tiny_project(tmp_path, template) as project:
        results: list[tuple[int, dict[str, Any], str]] = []
        lock = RunLock(depbot_dir(project.repo) / "lock")
        lock.acquire()
        try:
            waiting = threading.Thread(target=lambda: results.append(project.run()))
            waiting.start()
            waiting.join(2.0)
            assert waiting.is_alive()
            with project.store() as store:
                assert store.runs() == ()  # it has not started yet
        finally:
            lock.release()
        waiting.join(60)
        assert not waiting.is_alive()
        [(code, doc, _)] = results
        assert (code, doc["batches"]) == (0, [])
        with project.store() as store:
            assert [r.status for r in store.runs()] == ["done"]


def test_the_github_forge_without_a_token_is_refused_before_anything_runs(
    tmp_path: Path, template: Path
) -> None:
    with tiny_project(tmp_path, template, release("alpha", "1.1")) as project:
        code, out, err = project.depbot("run", "--forge", "github", "--format", "json")
        assert (code, out) == (2, "")
        assert "--forge github needs GITHUB_TOKEN" in err
        assert project.branches() == []
        with project.store() as store:
            assert store.runs() == ()


def test_run_outside_a_git_repository_is_bad_input(tmp_path: Path, template: Path) -> None:
    with tiny_project(tmp_path, template) as project:
        plain = tmp_path / "plain"
        plain.mkdir()
        for name in ("depbot.toml", "requirements.in", "requirements.txt"):
            (plain / name).write_bytes((project.repo / name).read_bytes())
        for command in ("run", "status"):
            code, out, err = TinyProject(plain, project.index, project.cache).depbot(command)
            assert (code, out) == (2, "")
            assert err.startswith(f"depbot: error: {plain}: not a git repository")
        assert not (plain / ".git").exists()
