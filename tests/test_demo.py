"""``depbot demo``: the whole pipeline on a throwaway project, offline, as a first-time user
runs it (no pip configuration of this machine reaches it; it builds its own index)."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from io import StringIO
from pathlib import Path
from typing import Any

import pytest

from depbot.cli import main
from depbot.demo.project import BREAKS_MAJOR, BREAKS_MINOR, CLEAN, SECURE

pytestmark = pytest.mark.slow


def _user_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    return env


def _demo(*argv: str) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    code = main(["demo", *argv], env=_user_env(), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def _changes(entries: list[dict[str, str]]) -> set[tuple[str, str, str]]:
    return {(e["name"], e["current"], e["target"]) for e in entries}


def test_demo_runs_the_pipeline_and_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the demo's temporary folder is made here, so its removal can be seen
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    code, out, err = _demo("--format", "json")

    assert code == 0, err
    doc: dict[str, Any] = json.loads(out)  # --format json prints only JSON
    batches = {b["id"]: b for b in doc["batches"]}
    assert {i: b["status"] for i, b in batches.items()} == {
        "security": "opened",
        "minor": "opened",
        "major-ravel": "rolled-back",
    }
    assert _changes(batches["security"]["kept"]) == {SECURE}
    minor = batches["minor"]
    assert _changes(minor["kept"]) == set(CLEAN)
    assert len(minor["kept"]) == 12
    assert [(r["name"], r["target"], r["reason"]) for r in minor["rolled_back"]] == [
        ("quartz", BREAKS_MINOR[2], "tests-failed")
    ]
    ravel = batches["major-ravel"]
    assert ravel["kept"] == []
    assert [(r["name"], r["target"], r["reason"]) for r in ravel["rolled_back"]] == [
        ("ravel", BREAKS_MAJOR[2], "tests-failed")
    ]
    assert f"in {tmp_path}" in err  # where it said it built the project
    assert list(tmp_path.iterdir()) == []


def test_demo_keep_leaves_the_project_to_look_at(tmp_path: Path) -> None:
    keep = tmp_path / "demo"

    code, out, err = _demo("--keep", str(keep))

    assert code == 0, err
    assert f"Kept in {keep}" in out
    project = keep / "project"
    refs = subprocess.run(
        ["git", "for-each-ref", "--format=%(refname:short)", "refs/heads/depbot/"],
        cwd=project, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert refs == ["depbot/minor", "depbot/security"]
    lockfile = subprocess.run(
        ["git", "show", "depbot/minor:requirements.txt"],
        cwd=project, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert f"quartz=={BREAKS_MINOR[1]}" in lockfile
    assert "amber==1.0.3" in lockfile

    # what the demo remembered is there for `depbot status` afterwards
    status_out, status_err = StringIO(), StringIO()
    status = main(
        ["status", "--repo", str(project), "--format", "json"],
        env=_user_env(),
        out=status_out,
        err=status_err,
    )
    assert status == 0, status_err.getvalue()
    rolled = {r["name"] for r in json.loads(status_out.getvalue())["rolled_back"]}
    assert rolled == {"quartz", "ravel"}


def test_demo_keep_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("mine\n")

    code, out, err = _demo("--keep", str(tmp_path), "--format", "json")

    assert code == 2
    assert out == ""
    assert "--keep" in err and str(tmp_path) in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["precious.txt"]
    assert (tmp_path / "precious.txt").read_text() == "mine\n"
