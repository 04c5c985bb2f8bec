"""Faults are loud and bounded (issue 11, SPEC §7 §9): ``plan`` and ``run`` against the tiny
project with a fault-injecting proxy in front of its index, and a run that finds the run lock
taken. Figures (the cost of one hanging page) are measured by benchmarks/faults.py."""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from depbot.forge.git import depbot_dir
from depbot.state.lock import RunLock
from tests.support.fault_proxy import Fault, FaultProxy, fault_proxy, route_through
from tests.support.tiny_project import NAMES, TinyProject, build_template, release, tiny_project

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_template(tmp_path_factory.mktemp("tiny"))


@contextmanager
def behind_proxy(
    root: Path, template: Path, *new: Any, config: str = ""
) -> Iterator[tuple[TinyProject, FaultProxy, dict[str, str]]]:
    with tiny_project(root, template, *new) as project, fault_proxy(project.index) as proxy:
        yield project, proxy, route_through(project, proxy, config)


def skipped(doc: dict[str, Any]) -> dict[str, str]:
    return {s["name"]: s["reason"] for s in doc["skipped"]}


def test_plan_reports_each_fault_for_what_it_is(tmp_path: Path, template: Path) -> None:
    with behind_proxy(tmp_path, template, config="index-timeout = 5\n") as (project, proxy, env):
        proxy.fault("alpha", "500")
        proxy.fault("beta", "garbage-html")
        proxy.fault("gamma", "truncated")
        proxy.fault("delta", "503", times=2)  # then the page: delta is looked up
        code, out, err = project.depbot("plan", "--format", "json", **env)
        assert code == 0, err
        reasons = skipped(json.loads(out))
        assert sorted(reasons) == ["alpha", "beta", "gamma"]
        assert "answered HTTP 500" in reasons["alpha"]
        assert "malformed page" in reasons["beta"]
        assert "truncated body" in reasons["gamma"]
        assert not any("not found" in r for r in reasons.values())
        assert proxy.page_hits("delta") == 3
        assert proxy.page_hits("beta") == 2  # a malformed page is read once more, not five times

        proxy.fault("delta", "garbage-json")
        shutil.rmtree(project.cache)  # plan trusts a page it read for ten minutes
        code, out, _ = project.depbot("plan", "--format", "json", **env)
        assert "malformed page" in skipped(json.loads(out))["delta"]


def test_plan_exits_1_when_every_page_hangs_and_waits_one_deadline(
    tmp_path: Path, template: Path
) -> None:
    with behind_proxy(tmp_path, template, config="index-timeout = 2\n") as (project, proxy, env):
        for name in NAMES:
            proxy.fault(name, "hang")
        started = time.monotonic()
        code, out, err = project.depbot("plan", "--format", "json", **env)
        elapsed = time.monotonic() - started
        assert code == 1
        assert "no package could be looked up on the index" in err
        reasons = skipped(json.loads(out))
        assert sorted(reasons) == sorted(NAMES)
        assert all("timed out" in r and "index-timeout is 2 s" in r for r in reasons.values())
        # the pages are looked up side by side, each within its deadline: generous slack
        assert elapsed < 2 + 10


def test_run_lists_skipped_packages_and_a_blind_run_closes_nothing(
    tmp_path: Path, template: Path
) -> None:
    new = (release("alpha", "1.1"), release("gamma", "1.1"))
    with behind_proxy(tmp_path, template, *new) as (project, proxy, env):
        proxy.fault("gamma", "garbage-json", agent="depbot/")  # pip-compile reads it fine
        code, out, err = project.depbot("run", "--format", "json", **env)
        doc = json.loads(out)
        assert code == 0, err
        [batch] = doc["batches"]
        assert (batch["status"], [k["name"] for k in batch["kept"]]) == ("opened", ["alpha"])
        assert list(skipped(doc)) == ["gamma"]
        assert "malformed page" in skipped(doc)["gamma"]

        code, out, _ = project.depbot("run", **env)  # nothing new: cheap, in text
        assert code == 0
        assert re.search(r"^Skipped:\n  gamma: gamma: malformed page", out, re.MULTILINE), out
        code, out, _ = project.depbot("run", "--format", "markdown", **env)
        assert "## Skipped\n\n- gamma: gamma: malformed page" in out

        # the index is down for depbot: nothing is proposed, and nothing is closed for it
        for name in NAMES:
            proxy.fault(name, "503", agent="depbot/")
        code, out, err = project.depbot("run", "--format", "json", **env)
        doc = json.loads(out)
        assert code == 1
        assert "no package could be looked up on the index" in err
        assert (doc["batches"], sorted(skipped(doc))) == ([], sorted(NAMES))
        assert "not closing minor" in err
        assert project.branches() == ["depbot/minor"]


def test_a_lock_tool_past_lock_timeout_fails_the_batch_and_blames_nothing(
    tmp_path: Path, template: Path
) -> None:
    config = "lock-timeout = 5\n"
    with behind_proxy(tmp_path, template, release("alpha", "1.1"), config=config) as (
        project,
        proxy,
        env,
    ):
        proxy.fault("beta", "hang", agent="pip/")  # depbot's lookups work; pip-compile hangs
        started = time.monotonic()
        # pip's own timeout is longer than the deadline: depbot's deadline stops it
        code, out, err = project.depbot("run", "--format", "json", PIP_TIMEOUT="120", **env)
        elapsed = time.monotonic() - started
        [batch] = json.loads(out)["batches"]
        assert code == 1, err
        assert (batch["status"], batch["kept"], batch["rolled_back"]) == ("failed", [], [])
        with project.store() as store:
            assert store.rollbacks() == ()
        assert proxy.faulted["/simple/beta/"] >= 1
        assert elapsed < 5 + 60  # generous: the deadline, git, a lookup, slack

        _, text, _ = project.depbot("run", "--dry-run", PIP_TIMEOUT="120", **env)
        assert "the lock tool timed out: pip-compile did not finish within 5 s" in text


def test_an_installer_past_lock_timeout_fails_the_batch_and_blames_nothing(
    tmp_path: Path, template: Path
) -> None:
    config = "lock-timeout = 20\n"
    with behind_proxy(tmp_path, template, release("alpha", "1.1"), config=config) as (
        project,
        proxy,
        env,
    ):
        # the new wheel hangs for pip after pip-compile read it: installing the candidate hangs
        wheel = "/files/alpha-1.1-py3-none-any.whl"
        proxy.faults[wheel] = Fault("hang", agent="pip/", after=1)
        code, out, err = project.depbot("run", PIP_TIMEOUT="120", **env)
        assert code == 1, err
        assert "minor: failed" in out
        assert "the lock tool timed out: pip-sync did not finish within 20 s" in out
        assert "rolled back" not in out
        with project.store() as store:
            assert store.rollbacks() == ()
        assert proxy.faulted[wheel] == 1


def test_a_run_that_finds_the_lock_taken_says_who_holds_it(tmp_path: Path, template: Path) -> None:
    with tiny_project(tmp_path, template) as project:
        with RunLock(depbot_dir(project.repo) / "lock"):
            started = time.monotonic()
            code, _, err = project.depbot("run", "--lock-timeout", "1")
            elapsed = time.monotonic() - started
        assert code == 1
        holder = r"\(pid \d+ on \S+ since \d{4}-\d\d-\d\dT[\d:]+\+00:00\)"
        assert re.search(rf"holds the lock \S+ {holder}; waiting up to 1 s", err), err
        assert re.search(rf"holds the lock \S+ {holder}; gave up after waiting 1 s", err), err
        assert elapsed < 1 + 20
        assert project.depbot("run", "--lock-timeout", "soon")[0] == 2
