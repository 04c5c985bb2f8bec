"""How many test runs bisect spends after a failing batch, next to the lower bound.

Usage: python benchmarks/bisect.py [--trials N] [--seed S] [--skip-probe] [--json]

1. For n updates with k culprits at random places, a simulated suite fails exactly when a
   culprit is present. Goals: for k = 1 the worst case is at most ceil(log2 n) + 1 runs; for
   k = 2 and 3 the mean is within 1.5 times the information-theoretic lower bound
   ceil(log2 sum C(n, i)).
2. What one of those runs costs: the wall time of one probe (relock, sync, tests) with the
   pip-tools and the uv backends on the demo project, against a loopback index, with the ratio
   measured in the same run. The first probe creates the test environment; the second reuses
   it with another set of updates, as every later probe of a bisection does. Each backend gets
   its own empty pip and uv caches, so its first probe is cold and its second warm. Section 2
   reports figures only (no goal); --skip-probe leaves it out.

With --json the tables go to stderr and stdout gets only the ratios, for benchmark.yml:
``{"benchmark": "bisect", "ratios": [{"name", "value", "better": "lower" | null}]}`` (mean and
worst runs over the lower bound per row, lower is better; the probe's pip-tools/uv ratios are
figures without a direction).
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
import contextlib  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Mapping, Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import PurePosixPath  # noqa: E402

from depbot.lock.interface import LockBackend, LockIndex  # noqa: E402
from depbot.lock.requirements import parse_lockfile  # noqa: E402
from depbot.models import Kind, TestResult, Update  # noqa: E402
from depbot.stages.bisect import bisect  # noqa: E402
from depbot.stages.relock import relock  # noqa: E402
from depbot.stages.verify import TestEnv  # noqa: E402

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


Ratios = list[dict[str, object]]
"""What --json prints: ``{"name", "value", "better"}`` per ratio."""


def bisect_section(trials: int, seed: int, ratios: Ratios | None = None) -> bool:
    """Print the runs table (and add its ratios to ``ratios``); True when every goal is met."""
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
        if ratios is not None:
            row = f"n={c.n} k={c.k}"
            for what, value in (("mean", c.mean), ("worst", c.worst), ("prior mean", c.prior_mean)):
                ratios.append({"name": f"{row} {what}/LB", "value": value / lb, "better": "lower"})
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


# ---------------------------------------------------------------------------- section 2

TEST_COMMAND = "python -m unittest discover -s tests"
TEST_TIMEOUT = 120.0
STEPS = ("venv", "relock", "sync", "tests")


@dataclass(frozen=True)
class ProbeTimes:
    """Wall seconds of each step of one probe; ``venv`` is 0 when the probe reused one."""

    backend: str
    label: str
    updates: int
    venv: float
    relock: float
    sync: float
    tests: float
    passed: bool

    @property
    def total(self) -> float:
        return self.venv + self.relock + self.sync + self.tests


class _Clock:
    """Wall seconds since the previous lap."""

    def __init__(self) -> None:
        self.last = time.perf_counter()

    def lap(self) -> float:
        now = time.perf_counter()
        seconds, self.last = now - self.last, now
        return seconds


def probe_env(index_url: str, caches: Path) -> dict[str, str]:
    """This process's environment without pip's or uv's settings: the demo index only, and
    caches of its own, so that no earlier run warms them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_INDEX_URL=index_url,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_CACHE_DIR=str(caches / "pip"),
        UV_CACHE_DIR=str(caches / "uv"),
    )
    return env


def minor_updates(repo: Path, env: Mapping[str, str]) -> tuple[Update, ...]:
    """The updates of the demo's minor batch, as ``depbot plan`` batches them."""
    from depbot.app import plan_repo

    planned = plan_repo(repo, env)
    minor = [b for b in planned.plan.batches if b.kind == Kind.MINOR]
    if len(minor) != 1:
        raise SystemExit(f"the demo plan has {len(minor)} minor batches, expected 1")
    return minor[0].updates


def time_backend(
    backend: LockBackend,
    repo: Path,
    updates: Sequence[Update],
    index_url: str,
    env: Mapping[str, str],
    work: Path,
) -> list[ProbeTimes]:
    """The first probe (the whole batch, in a new environment) and a second one (its first
    half, as bisection's first step) in the same environment."""
    lockfile = parse_lockfile(
        PurePosixPath("requirements.txt"), (repo / "requirements.txt").read_text()
    )
    index = LockIndex(index_url)
    half = len(updates) // 2
    sets = [("first (whole batch)", updates), ("second (first half)", updates[:half])]
    times: list[ProbeTimes] = []
    clock = _Clock()
    with TestEnv(work / f"venv-{backend.name}", repo, backend, index, env) as test_env:
        venv = clock.lap()
        for label, subset in sets:
            relocked = relock(repo, [lockfile], subset, backend, index, env)
            relocking = clock.lap()
            if relocked.unresolvable:
                raise SystemExit(f"{backend.name}: unresolvable {relocked.unresolvable}")
            test_env.sync(relocked.files)
            syncing = clock.lap()
            result = test_env.run_tests(TEST_COMMAND, TEST_TIMEOUT)
            testing = clock.lap()
            first = not times
            times.append(
                ProbeTimes(
                    backend.name,
                    label,
                    len(subset),
                    venv if first else 0.0,
                    relocking,
                    syncing,
                    testing,
                    result.passed,
                )
            )
    return times


def probe_section(collected: Ratios | None = None) -> bool:
    """Print the per-step wall times of one probe for pip-tools and uv, and their ratio."""
    from depbot.demo.index_server import serve_index
    from depbot.demo.project import build_project, new_releases, old_releases
    from depbot.lock.piptools import PipToolsBackend
    from depbot.lock.uv import UvBackend, default_uv

    print("\nProbe: wall time of one probe on the demo project, pip-tools next to uv", flush=True)
    uv = default_uv()
    if shutil.which(uv) is None:
        print(
            f"skipped: the uv backend needs uv ({uv!r} is not installed). Install depbot's uv extra"
            " (pip install -c constraints/test.txt '.[uv]'), or pass --skip-probe."
        )
        return True
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="depbot-bench-probe-") as tmp:
        root = Path(tmp)
        with serve_index(root / "index", old_releases()) as index:
            env = probe_env(index.url, root / "caches" / "project")
            project = build_project(root, index, env)
            index.add(*new_releases())
            updates = minor_updates(
                project.repo, {**env, "DEPBOT_CACHE_DIR": str(root / "caches" / "depbot")}
            )
            backends: list[LockBackend] = [PipToolsBackend(), UvBackend()]
            results = {
                b.name: time_backend(
                    b, project.repo, updates, index.url, probe_env(index.url, root / b.name), root
                )
                for b in backends
            }
    piptools, uv = results["pip-tools"], results["uv"]
    print(f"{len(updates)} updates in the minor batch; times in seconds (wall)")
    header = f"{'probe':<21} {'backend':<9}" + "".join(f" {s:>7}" for s in (*STEPS, "total"))
    header += "  result"
    print(header)
    print("-" * len(header))
    for slow, fast in zip(piptools, uv, strict=True):
        for t in (slow, fast):
            verdict = "pass" if t.passed else "fail"
            cells = "".join(f" {v:>7.2f}" for v in _steps(t))
            print(f"{t.label:<21} {t.backend:<9}{cells}  {verdict}")
        ratios = "".join(
            f" {_ratio(a, b):>7}" for a, b in zip(_steps(slow), _steps(fast), strict=True)
        )
        print(f"{'':<21} {'ratio':<9}{ratios}")
        if collected is not None and fast.total > 0:
            name = f"{slow.label} pip-tools/uv total"
            collected.append({"name": name, "value": slow.total / fast.total, "better": None})
    print(
        "ratio: pip-tools / uv. venv: creating the test environment (first probe only);"
        " sync: installing\nthe candidate lockfiles; tests: the demo's unittest suite"
        " (the whole batch fails: quartz 2.4.0).\n"
        f"({time.perf_counter() - started:.1f} s, demo project and wheels included)"
    )
    return True


def _steps(t: ProbeTimes) -> tuple[float, ...]:
    return (t.venv, t.relock, t.sync, t.tests, t.total)


def _ratio(slow: float, fast: float) -> str:
    return f"{slow / fast:.1f}x" if fast > 0 else "-"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=2000, help="random placements per row")
    parser.add_argument("--seed", type=int, default=20261128)
    parser.add_argument(
        "--skip-probe", action="store_true", help="only section 1 (no venvs, no lock tools)"
    )
    parser.add_argument(
        "--json", action="store_true", help="only the ratios as JSON on stdout (tables: stderr)"
    )
    args = parser.parse_args(argv)
    ratios: Ratios | None = [] if args.json else None
    tables = contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext()
    with tables:
        ok = bisect_section(args.trials, args.seed, ratios)
        # Further sections go below, one function each that prints its own table and returns
        # whether its goals hold; they are combined into the exit status.
        if not args.skip_probe:
            ok = probe_section(ratios) and ok
    if ratios is not None:
        print(json.dumps({"benchmark": "bisect", "ratios": ratios}, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
