#!/usr/bin/env python3
"""Collects the benchmarks' ratios and fails when one regresses against a stored baseline.

    python .ci/bench_compare.py collect OUT INPUT…
    python .ci/bench_compare.py compare BASELINE CURRENT [--tolerance 0.05]

Inputs are what ``benchmarks/*.py`` print: the JSON of ``benchmarks/bisect.py --json``
(``{"benchmark": NAME, "ratios": [{"name", "value", "better": "lower"|"higher"|null}]}``), or
a text report whose goal lines read ``  LABEL >= BOUND   VALUE   PASS`` (``benchmarks/plan.py``):
``>=`` makes higher better, ``<=`` lower. ``collect`` writes one JSON object mapping
``benchmark: name`` to ``{"value", "better"}``. ``compare`` exits 1 when a ratio got worse by
more than ``tolerance`` (relative) than in the baseline; ratios without a direction, or absent
from either side, are reported and never fail. Ratios, not absolute times: both sides of each
ratio are measured in one run on one machine.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

GOAL_LINE = re.compile(
    r"^\s+(?P<label>.+?\s(?P<op>>=|<=)\s+[\d.]+)\s+(?P<value>[\d.]+)\s+(?:PASS|FAIL)\s*$"
)
DIRECTIONS = ("lower", "higher", None)


@dataclass(frozen=True)
class Ratio:
    value: float
    better: str | None
    """"lower", "higher", or None for a figure that is recorded but never gates."""


@dataclass(frozen=True)
class Change:
    name: str
    baseline: float
    current: float
    better: str | None

    @property
    def worse_by(self) -> float:
        """How much worse ``current`` is, relative to the baseline (negative: better)."""
        if self.better is None or self.baseline == 0:
            return 0.0
        change = (self.current - self.baseline) / abs(self.baseline)
        return change if self.better == "lower" else -change


def parse_report(text: str, source: str) -> dict[str, Ratio]:
    """The ratios in one benchmark's output (its JSON, or the goal lines of a text report)."""
    stripped = text.strip()
    if stripped.startswith("{"):
        data = json.loads(stripped)
        name = data["benchmark"]
        ratios: dict[str, Ratio] = {}
        for item in data["ratios"]:
            if item.get("better") not in DIRECTIONS:
                raise ValueError(f"{source}: {item['name']}: 'better' must be lower/higher/null")
            ratios[f"{name}: {item['name']}"] = Ratio(float(item["value"]), item.get("better"))
        return ratios
    ratios = {}
    for line in text.splitlines():
        found = GOAL_LINE.match(line)
        if found:
            better = "higher" if found["op"] == ">=" else "lower"
            ratios[f"{source}: {found['label']}"] = Ratio(float(found["value"]), better)
    if not ratios:
        raise ValueError(f"{source}: no ratios found (neither JSON nor goal lines)")
    return ratios


def load(path: Path) -> dict[str, Ratio]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return {k: Ratio(float(v["value"]), v["better"]) for k, v in data.items()}


def dump(ratios: Mapping[str, Ratio]) -> str:
    data = {k: {"value": r.value, "better": r.better} for k, r in sorted(ratios.items())}
    return json.dumps(data, indent=2) + "\n"


def compare(
    baseline: Mapping[str, Ratio], current: Mapping[str, Ratio], tolerance: float
) -> tuple[list[Change], list[Change], list[str]]:
    """(regressions beyond ``tolerance``, every change, names on one side only)."""
    changes = [
        Change(name, baseline[name].value, ratio.value, ratio.better)
        for name, ratio in sorted(current.items())
        if name in baseline
    ]
    regressions = [c for c in changes if c.worse_by > tolerance]
    unmatched = sorted(set(baseline) ^ set(current))
    return regressions, changes, unmatched


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    collect = sub.add_parser("collect")
    collect.add_argument("out", type=Path)
    collect.add_argument("inputs", type=Path, nargs="+")
    comp = sub.add_parser("compare")
    comp.add_argument("baseline", type=Path)
    comp.add_argument("current", type=Path)
    comp.add_argument("--tolerance", type=float, default=0.05)
    args = parser.parse_args(argv)
    if args.command == "collect":
        ratios: dict[str, Ratio] = {}
        for path in args.inputs:
            ratios.update(parse_report(path.read_text(encoding="utf-8"), path.stem))
        args.out.write_text(dump(ratios), encoding="utf-8")
        print(f"{len(ratios)} ratios written to {args.out}")
        return 0
    if not args.baseline.is_file():
        print(f"no baseline at {args.baseline}: nothing to compare against (first run)")
        return 0
    regressions, changes, unmatched = compare(
        load(args.baseline), load(args.current), args.tolerance
    )
    print(f"{'ratio':<60} {'baseline':>9} {'current':>9} {'worse by':>9}")
    for c in changes:
        flag = "  REGRESSED" if c in regressions else ""
        worse = f"{c.worse_by:+.1%}" if c.better else "n/a"
        print(f"{c.name:<60} {c.baseline:>9.3f} {c.current:>9.3f} {worse:>9}{flag}")
    for name in unmatched:
        print(f"{name}: only on one side, not compared")
    if regressions:
        print(f"{len(regressions)} ratio(s) regressed by more than {args.tolerance:.0%}")
        return 1
    print(f"no ratio regressed by more than {args.tolerance:.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
