"""``.ci/bench_compare.py``: benchmark.yml's ratio collection and regression check."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
SCRIPT = ROOT / ".ci" / "bench_compare.py"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_compare", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_compare"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


bc = load()

# the goal lines benchmarks/plan.py prints (its own text format, read, not changed)
PLAN_REPORT = """\
  depbot plan, warm cache       0.210 s     0 page requests

  sequential / plan cold >= 8     12.40   PASS
  plan cold / limit <= 2           1.35   PASS
  plan cold / plan warm >= 5       4.10   FAIL
"""


def test_goal_lines_give_ratios_with_their_direction() -> None:
    ratios = bc.parse_report(PLAN_REPORT, "plan")
    assert ratios == {
        "plan: sequential / plan cold >= 8": bc.Ratio(12.40, "higher"),
        "plan: plan cold / limit <= 2": bc.Ratio(1.35, "lower"),
        "plan: plan cold / plan warm >= 5": bc.Ratio(4.10, "higher"),
    }


def test_a_report_without_ratios_is_an_error() -> None:
    with pytest.raises(ValueError, match="no ratios"):
        bc.parse_report("nothing here\n", "plan")
    bad = json.dumps({"benchmark": "b", "ratios": [{"name": "x", "value": 1, "better": "up"}]})
    with pytest.raises(ValueError, match="'better'"):
        bc.parse_report(bad, "b")


def test_regressions_beyond_the_tolerance_in_either_direction() -> None:
    base = {
        "lower": bc.Ratio(1.00, "lower"),
        "higher": bc.Ratio(10.0, "higher"),
        "figure": bc.Ratio(5.0, None),
        "gone": bc.Ratio(1.0, "lower"),
    }
    now = {
        "lower": bc.Ratio(1.06, "lower"),  # 6% worse
        "higher": bc.Ratio(9.6, "higher"),  # 4% worse: within 5%
        "figure": bc.Ratio(50.0, None),  # no direction: never gates
        "new": bc.Ratio(2.0, "lower"),
    }
    regressions, changes, unmatched = bc.compare(base, now, 0.05)
    assert [c.name for c in regressions] == ["lower"]
    assert {c.name for c in changes} == {"lower", "higher", "figure"}
    assert unmatched == ["gone", "new"]
    better = {"lower": bc.Ratio(0.5, "lower"), "higher": bc.Ratio(20.0, "higher")}
    assert bc.compare(base, better, 0.05)[0] == []
    assert bc.compare(base, {"higher": bc.Ratio(9.0, "higher")}, 0.05)[0][0].name == "higher"


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, str(SCRIPT), *map(str, args)]
    return subprocess.run(argv, capture_output=True, text=True, check=False, cwd=ROOT)


def test_bisect_benchmark_json_collected_and_compared(tmp_path: Path) -> None:
    """The real benchmarks/bisect.py --json (section 1, few trials) through collect/compare."""
    bench = subprocess.run(
        [sys.executable, "benchmarks/bisect.py", "--json", "--skip-probe", "--trials", "5"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    assert "Bisect:" in bench.stderr  # the table went to stderr
    doc = json.loads(bench.stdout)
    assert doc["benchmark"] == "bisect"
    assert len(doc["ratios"]) == 36  # 4 sizes x 3 culprit counts x 3 ratios
    assert all(r["better"] == "lower" and r["value"] >= 1.0 for r in doc["ratios"])
    (tmp_path / "bisect.json").write_text(bench.stdout)
    (tmp_path / "plan.txt").write_text(PLAN_REPORT)
    collected = run(
        "collect", tmp_path / "base.json", tmp_path / "bisect.json", tmp_path / "plan.txt"
    )
    assert collected.returncode == 0, collected.stderr
    base = bc.load(tmp_path / "base.json")
    assert len(base) == 39

    same = run("compare", tmp_path / "base.json", tmp_path / "base.json")
    assert same.returncode == 0 and "no ratio regressed" in same.stdout
    worse = dict(base)
    name = "bisect: n=16 k=1 worst/LB"
    worse[name] = bc.Ratio(base[name].value * 1.2, "lower")
    (tmp_path / "now.json").write_text(bc.dump(worse))
    regressed = run("compare", tmp_path / "base.json", tmp_path / "now.json")
    assert regressed.returncode == 1
    assert f"{name}" in regressed.stdout and "REGRESSED" in regressed.stdout
    first = run("compare", tmp_path / "missing.json", tmp_path / "now.json")
    assert first.returncode == 0 and "no baseline" in first.stdout
