"""The rules every workflow in .github/workflows (and action.yml) keeps, beyond what the
schemas and zizmor check: SHA pins with their version, least-privilege permissions, no
pull_request_target, no secret in a run line; and each dev.py gate a workflow calls exists."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
ACTIONS = [p for p in (ROOT / "action.yml", ROOT / "action.yaml") if p.is_file()]
OURS = ("ci.yml", "security.yml", "release.yml", "docs.yml", "benchmark.yml")
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40} # v\d+(\.\d+)*$")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>.+?)\s*$", re.MULTILINE)


def load(path: Path) -> dict[Any, Any]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(doc, dict), path
    return doc


def triggers(doc: dict[Any, Any]) -> dict[str, Any]:
    on = doc.get("on", doc.get(True))  # YAML 1.1 reads a bare `on` key as true
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return dict.fromkeys(on)
    assert isinstance(on, dict)
    return on


def steps(doc: dict[Any, Any]) -> list[dict[str, Any]]:
    if "runs" in doc:  # an action.yml
        return list(doc["runs"].get("steps", []))
    return [s for job in doc["jobs"].values() for s in job.get("steps", [])]


def test_the_five_workflows_exist() -> None:
    assert {p.name for p in WORKFLOWS} >= set(OURS)


@pytest.mark.parametrize("path", WORKFLOWS + ACTIONS, ids=lambda p: p.name)
def test_every_uses_is_a_sha_with_its_version(path: Path) -> None:
    refs = [m["ref"] for m in USES_LINE.finditer(path.read_text(encoding="utf-8"))]
    local = [r for r in refs if r.startswith(("./", "docker://"))]
    bad = [r for r in refs if r not in local and not PINNED.match(r)]
    assert not bad, f"{path.name}: pin to a 40-hex commit with '# vX.Y.Z' after it: {bad}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_permissions_are_set_for_the_workflow_and_each_job(path: Path) -> None:
    doc = load(path)
    assert "permissions" in doc, f"{path.name}: no workflow-level permissions"
    for name, job in doc["jobs"].items():
        assert "permissions" in job, f"{path.name}: job {name} has no permissions of its own"


@pytest.mark.parametrize("path", [p for p in WORKFLOWS if p.name in OURS], ids=lambda p: p.name)
def test_our_workflows_grant_nothing_at_the_top(path: Path) -> None:
    assert load(path)["permissions"] == {}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_no_pull_request_target(path: Path) -> None:
    assert "pull_request_target" not in triggers(load(path))


@pytest.mark.parametrize("path", WORKFLOWS + ACTIONS, ids=lambda p: p.name)
def test_no_secret_in_a_run_line(path: Path) -> None:
    for step in steps(load(path)):
        run = step.get("run", "")
        assert "secrets." not in run, f"{path.name}: a secret in run: {run!r} (pass it in env:)"


def test_each_dev_py_gate_a_workflow_calls_exists() -> None:
    gates = set(re.findall(r"^    python3 dev\.py ([\w-]+)", (ROOT / "dev.py").read_text(), re.M))
    called = {
        m
        for path in WORKFLOWS
        for step in steps(load(path))
        for m in re.findall(r"python3? dev\.py ([\w-]+)", step.get("run", ""))
    }
    assert called, "no workflow runs a dev.py gate"
    assert called <= gates, called - gates


def test_release_runs_only_on_version_tags_and_checks_them_first() -> None:
    doc = load(ROOT / ".github" / "workflows" / "release.yml")
    assert triggers(doc) == {"push": {"tags": ["v*.*.*"]}}
    first = doc["jobs"]["validate"]["steps"]
    assert any(".ci/release_check.py" in s.get("run", "") for s in first)
    needs = {name: job.get("needs") for name, job in doc["jobs"].items()}
    assert needs["build"] == "validate"
    publishing = [n for n, j in doc["jobs"].items() if "id-token" in j["permissions"]]
    assert set(publishing) == {"sign", "testpypi", "pypi"}
    assert doc["jobs"]["github-release"]["permissions"] == {"contents": "write"}
