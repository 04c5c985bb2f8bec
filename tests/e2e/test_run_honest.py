"""What ``depbot run`` remembers, and what it must not (SPEC §5, §9): an outage or a broken
source is never an update's fault; a fix on HEAD is re-tested; secrets reach no tool and no
output; a rerun with nothing new costs nothing; a batch no longer proposed is closed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.tiny_project import build_template, release, tiny_project

pytestmark = pytest.mark.slow

TOKEN = "ghp_" + "Q" * 36
WEBHOOK = "whsec-" + "k" * 20


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_template(tmp_path_factory.mktemp("tiny"))


def only_batch(doc: dict[str, Any]) -> dict[str, Any]:
    assert len(doc["batches"]) == 1, doc
    batch: dict[str, Any] = doc["batches"][0]
    return batch


def test_an_index_outage_during_relock_fails_the_batch_and_blocks_nothing(
    tmp_path: Path, template: Path
) -> None:
    with tiny_project(tmp_path, template, release("alpha", "1.1")) as project:
        project.index.down_for = ("pip/",)  # depbot's lookups work; pip-compile's do not
        code, doc, err = project.run(PIP_RETRIES="0", PIP_TIMEOUT="5")
        batch = only_batch(doc)
        assert code == 1, err
        assert (batch["status"], batch["kept"], batch["rolled_back"]) == ("failed", [], [])
        _, text, _ = project.depbot("run", "--dry-run", PIP_RETRIES="0", PIP_TIMEOUT="5")
        assert "does not compile even without updates" in text
        with project.store() as store:
            assert store.rollbacks() == ()

        project.index.down_for = ()  # the index is back
        code, doc, err = project.run()
        batch = only_batch(doc)
        assert code == 0, err
        assert (batch["status"], batch["kept"][0]["target"]) == ("opened", "1.1")


def test_a_broken_source_fails_the_batch_and_a_fix_is_picked_up(
    tmp_path: Path, template: Path
) -> None:
    # a line depbot can read but pip-compile cannot use: the include is missing
    broken = {"requirements.in": "alpha\nbeta\ngamma\ndelta\n-r missing.in\n"}
    new = (release("alpha", "1.1"), release("beta", "1.1"))
    with tiny_project(tmp_path, template, *new, files=broken) as project:
        code, doc, _ = project.run()
        batch = only_batch(doc)
        assert code == 1
        assert (batch["status"], batch["rolled_back"]) == ("failed", [])
        with project.store() as store:
            assert store.rollbacks() == ()

        (project.repo / "requirements.in").write_text("alpha\nbeta\ngamma\ndelta\n")
        project.git("commit", "-qam", "Fix requirements.in")
        code, doc, err = project.run()
        batch = only_batch(doc)
        assert code == 0, err
        assert {k["name"] for k in batch["kept"]} == {"alpha", "beta"}


def test_secrets_reach_no_tool_and_no_output(tmp_path: Path, template: Path) -> None:
    # the test suite prints its whole environment and a file that holds the token, then fails
    spy = (
        "import os, unittest\n\nclass T(unittest.TestCase):\n    def test_env(self):\n"
        "        print(sorted(os.environ.items()))\n"
        "        print(open('leaked.txt').read())\n"
        "        self.fail('see the environment above')\n"
    )
    files = {"tests/test_spy.py": spy, "leaked.txt": f"token={TOKEN}\n"}
    config = 'pass-env = ["DEPBOT_DEMO_SETTING"]\n'
    secrets = {
        "GITHUB_TOKEN": TOKEN,
        "DEPBOT_GITHUB_TOKEN": TOKEN,
        "DEPBOT_WEBHOOK_SECRET": WEBHOOK,
        "SAFETY_API_KEY": WEBHOOK + "x",
        "DEPBOT_DEMO_SETTING": "visible",
        "UNRELATED_VARIABLE": "hidden",
    }
    with tiny_project(
        tmp_path, template, release("alpha", "1.1"), files=files, config=config
    ) as project:
        code, out, err = project.depbot("run", "--forge", "local", **secrets)
        assert code == 1  # the baseline fails: the log tail is printed
        assert "see the environment above" in out
        assert "('DEPBOT_DEMO_SETTING', 'visible')" in out  # pass-env reaches the tests
        for name in (
            "GITHUB_TOKEN",
            "DEPBOT_WEBHOOK_SECRET",
            "SAFETY_API_KEY",
            "UNRELATED_VARIABLE",
        ):
            assert f"'{name}'" not in out  # never in the tools' environment
        for value in (TOKEN, WEBHOOK):
            assert value not in out and value not in err
        assert "token=***" in out  # what a test prints is masked at the output boundary
        store = next(project.repo.glob(".git/depbot/state.sqlite"))
        assert TOKEN.encode() not in store.read_bytes()

        code, _, err = project.depbot("plan", **secrets)
        assert TOKEN not in err


def test_a_secret_listed_in_pass_env_is_bad_input(tmp_path: Path, template: Path) -> None:
    with tiny_project(tmp_path, template, config='pass-env = ["GITHUB_TOKEN"]\n') as project:
        code, _, err = project.depbot("plan")
        assert code == 2
        assert "pass-env" in err


def test_a_rerun_with_nothing_new_neither_relocks_nor_tests(tmp_path: Path, template: Path) -> None:
    with tiny_project(tmp_path, template, release("alpha", "1.1")) as project:
        code, doc, _ = project.run()
        assert (code, only_batch(doc)["status"]) == (0, "opened")
        code, doc, err = project.run()
        batch = only_batch(doc)
        assert code == 0
        assert (batch["status"], batch["test_runs"]) == ("unchanged", 0)
        assert [k["name"] for k in batch["kept"]] == ["alpha"]
        assert "relocking" not in err and "testing" not in err

        # HEAD moves: the branch is rebuilt on it
        (project.repo / "NOTES").write_text("new\n")
        project.git("add", "NOTES")
        project.git("commit", "-qm", "notes")
        code, doc, err = project.run()
        batch = only_batch(doc)
        assert (code, batch["status"]) == (0, "updated")
        assert "relocking" in err


def test_a_batch_no_longer_proposed_is_closed(tmp_path: Path, template: Path) -> None:
    with tiny_project(tmp_path, template, release("alpha", "2.0")) as project:
        code, doc, _ = project.run()
        assert code == 0
        assert project.branches() == ["depbot/major-alpha"]
        # the maintainer merges it: nothing is proposed any more
        project.git("merge", "-q", "--ff-only", "depbot/major-alpha")
        code, doc, _ = project.run()
        assert (code, doc["batches"]) == (0, [])
        assert project.branches() == []
        code, out, _ = project.depbot("status", "--format", "json")
        [closed] = json.loads(out)["batches"]
        assert (closed["id"], closed["status"]) == ("major-alpha", "closed")
