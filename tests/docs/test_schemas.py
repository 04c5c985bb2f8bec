"""The JSON schemas of docs/schemas describe what depbot prints (SPEC §7's stable fields)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from depbot.render import plan_json, run_json
from tests.test_render import OUTCOMES, PLAN

jsonschema = pytest.importorskip("jsonschema", reason="the pipeline tools (constraints/tools.txt)")

ROOT = Path(__file__).resolve().parent.parent.parent
SCHEMAS = ROOT / "docs" / "schemas"


def validator(name: str) -> Any:
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_plan_output_matches_its_schema() -> None:
    doc = plan_json(PLAN)
    assert doc["updates"] and doc["batches"] and doc["skipped"]
    validator("plan").validate(doc)


def test_run_output_matches_its_schema() -> None:
    doc = run_json("weekly", OUTCOMES)
    assert doc["batches"]
    validator("run").validate(doc)


@pytest.mark.parametrize(
    ("name", "broken"),
    [
        ("plan", lambda d: d["updates"][0].pop("target")),
        ("plan", lambda d: d["batches"][0].update(kind="patch")),
        ("run", lambda d: d["batches"][0].update(status="done")),
        ("run", lambda d: d.update(schema=2)),
    ],
)
def test_the_schemas_reject_what_breaks_the_contract(name: str, broken: Any) -> None:
    doc = plan_json(PLAN) if name == "plan" else run_json("weekly", OUTCOMES)
    broken(doc)
    with pytest.raises(jsonschema.ValidationError):
        validator(name).validate(doc)


def test_status_output_of_a_new_repository_matches_its_schema(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    done = subprocess.run(
        [sys.executable, "-m", "depbot", "status", "--repo", str(tmp_path), "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PIP_CONFIG_FILE": "/dev/null"},
    )
    assert done.returncode == 0, done.stderr
    validator("status").validate(json.loads(done.stdout))
