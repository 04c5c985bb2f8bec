"""How many test runs bisect spends after a failing batch, next to the lower bound.

Usage: python benchmarks/bisect.py [--trials N] [--seed S]

For n updates with k culprits at random places, a simulated suite fails exactly when a culprit
is present. Goals: for k = 1 the worst case is at most ceil(log2 n) + 1 runs; for k = 2 and 3
the mean is within 1.5 times the information-theoretic lower bound ceil(log2 sum C(n, i)).
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, and its name would shadow the
# standard library's bisect (which random imports): put the repository root there instead.
_ROOT = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0] or ".").resolve() == _ROOT / "benchmarks":
    sys.path[0] = str(_ROOT)

import argparse  # noqa: E402
import math  # noqa: E402
import random  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402

from depbot.models import TestResult  # noqa: E402
from depbot.stages.bisect import bisect  # noqa: E402

SIZES = (8, 16, 32, 64)
CULPRITS = (1, 2, 3)


@dataclass(frozen=True)
class Cell:
    n: int
    k: int
    mean: float
    worst: int
    prior_mean: float
    """With the prior failure rate k/n, which switches bisect to Hwang's group sizes."""
    prior_worst: int

    @property
    def lower_bound(self) -> int:
        return math.ceil(math.log2(sum(math.comb(self.n, i) for i in range(1, self.k + 1))))

    @property
    def goal_met(self) -> bool:
        if self.k == 1:
            return self.worst <= math.ceil(math.log2(self.n)) + 1
        return self.mean <= 1.5 * self.lower_bound


def runs_for(n: int, culprits: frozenset[int], failure_rate: float) -> int:
    """Runs bisect spends after the failing full batch; checks that it found the culprits."""

    def probe(subset: tuple[int, ...]) -> TestResult:
        failing = tuple(f"test_u{c}" for c in subset if c in culprits)
        return TestResult(passed=not failing, failing_tests=failing)

    units = list(range(n))
    result = bisect(units, probe, 10 * n, probe(tuple(units)), failure_rate=failure_rate)
    if {r.unit for r in result.rejected} != culprits or result.untested:
        raise AssertionError(f"bisect missed the culprits {sorted(culprits)} among {n}")
    return result.runs


def measure(n: int, k: int, trials: int, rng: random.Random) -> Cell:
    plain: list[int] = []
    prior: list[int] = []
    for _ in range(trials):
        culprits = frozenset(rng.sample(range(n), k))
        plain.append(runs_for(n, culprits, 0.0))
        prior.append(runs_for(n, culprits, k / n))
    return Cell(n, k, sum(plain) / trials, max(plain), sum(prior) / trials, max(prior))


def bisect_section(trials: int, seed: int) -> bool:
    """Print the runs table; True when every goal is met."""
    rng = random.Random(seed)
    started = time.perf_counter()
    cells = [measure(n, k, trials, rng) for n in SIZES for k in CULPRITS]
    print(f"Bisect: test runs after the failing full batch ({trials} random placements per row)")
    header = (
        f"{'n':>3} {'k':>2} {'mean':>6} {'worst':>5} {'LB':>3} {'mean/LB':>7} {'worst/LB':>8}"
        f" {'one-per-update':>14} {'prior mean':>10} {'prior worst':>11}  goal"
    )
    print(header)
    print("-" * len(header))
    for c in cells:
        lb = c.lower_bound
        print(
            f"{c.n:>3} {c.k:>2} {c.mean:>6.2f} {c.worst:>5} {lb:>3} {c.mean / lb:>7.2f}"
            f" {c.worst / lb:>8.2f} {c.n:>14} {c.prior_mean:>10.2f} {c.prior_worst:>11}"
            f"  {_goal_text(c)}"
        )
    print(
        "goal: k=1 worst <= ceil(log2 n)+1; k>=2 mean <= 1.5 x LB (worst <= 1.5 x LB noted)."
        "\nprior: bisect told the failure rate k/n, so it sizes groups after Hwang."
        f"\n({time.perf_counter() - started:.1f} s)"
    )
    return all(c.goal_met for c in cells)


def _goal_text(c: Cell) -> str:
    met = "met" if c.goal_met else "MISSED"
    if c.k == 1:
        return f"{met} (worst <= {math.ceil(math.log2(c.n)) + 1})"
    worst = "worst also" if c.worst <= 1.5 * c.lower_bound else "worst not"
    return f"{met} ({worst} <= {1.5 * c.lower_bound:g})"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=2000, help="random placements per row")
    parser.add_argument("--seed", type=int, default=20261128)
    args = parser.parse_args(argv)
    ok = bisect_section(args.trials, args.seed)
    # Further sections go below, one function each that prints its own table and returns
    # whether its goals hold; they are combined into the exit status.
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
