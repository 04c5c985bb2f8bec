from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from depbot.models import TestResult
from depbot.stages.bisect import BisectResult, bisect, default_budget

FLAKE = "tests/test_net.py::test_timeout"


@dataclass
class Oracle:
    """A simulated test suite: culprits break alone, pairs break only together."""

    culprits: frozenset[int] = frozenset()
    pairs: tuple[tuple[int, int], ...] = ()
    flaky_calls: frozenset[int] = frozenset()
    """1-based probe calls that fail spuriously on top of the real verdict."""
    calls: list[tuple[int, ...]] = field(default_factory=list)
    results: list[TestResult] = field(default_factory=list)

    def breaks(self, subset: Iterable[int]) -> tuple[str, ...]:
        present = set(subset)
        alone = [f"tests/test_u{c}.py::test_api" for c in sorted(present & self.culprits)]
        together = [f"tests/test_pair.py::test_{a}_{b}" for a, b in self.pairs if {a, b} <= present]
        return (*alone, *together)

    def verdict(self, subset: Iterable[int]) -> TestResult:
        failing = self.breaks(subset)
        return TestResult(passed=not failing, failing_tests=failing)

    def __call__(self, subset: tuple[int, ...]) -> TestResult:
        self.calls.append(subset)
        failing = self.breaks(subset)
        if len(self.calls) in self.flaky_calls:
            failing = (*failing, FLAKE)
        result = TestResult(passed=not failing, failing_tests=failing)
        self.results.append(result)
        return result


def assert_sound(
    result: BisectResult[int], oracle: Oracle, units: list[int], budget: int, full: TestResult
) -> None:
    """The invariants that hold whatever the probe does: I1 (kept passed), I3 (budget)."""
    assert result.runs == len(oracle.calls) <= budget
    rejected = [r.unit for r in result.rejected]
    decided = [*result.kept, *rejected, *result.untested]
    assert sorted(decided) == sorted(units)
    assert list(result.kept) == sorted(result.kept)
    assert all(not r.result.passed for r in result.rejected)
    if result.kept:
        assert result.last_pass is not None and result.last_pass.passed
        observed = [(full, tuple(units)), *zip(oracle.results, oracle.calls, strict=True)]
        assert any(r is result.last_pass and set(c) == set(result.kept) for r, c in observed)
    else:
        assert result.last_pass is None
    # Every probe is the batch order of some subset, and a set is probed twice only to confirm.
    assert all(list(c) == sorted(c) for c in oracle.calls)
    repeats = len(oracle.calls) - len({frozenset(c) for c in oracle.calls})
    assert repeats <= len(result.rejected) + len(result.kept)


def run(
    n: int,
    oracle: Oracle,
    budget: int | None = None,
    *,
    observed: bool = True,
    failure_rate: float = 0.0,
) -> BisectResult[int]:
    units = list(range(n))
    full = oracle.verdict(units)
    limit = 10 * n + 10 if budget is None else budget
    result = bisect(units, oracle, limit, full if observed else None, failure_rate=failure_rate)
    assert_sound(result, oracle, units, limit, full)
    return result


def batches(seed: int, count: int, max_n: int, max_k: int) -> Iterable[tuple[int, frozenset[int]]]:
    rng = random.Random(seed)
    for _ in range(count):
        n = rng.randint(1, max_n)
        k = rng.randint(1, min(max_k, n))
        yield n, frozenset(rng.sample(range(n), k))


# ---------------------------------------------------------------------------- edge cases


def test_empty_batch_spends_nothing() -> None:
    oracle = Oracle()
    result: BisectResult[int] = bisect([], oracle, 5)
    assert result == BisectResult((), (), (), 0, None)
    assert oracle.calls == []


def test_passing_batch_keeps_everything_without_a_run() -> None:
    oracle = Oracle()
    full = TestResult(passed=True)
    result = bisect([0, 1, 2], oracle, 5, full)
    assert result.kept == (0, 1, 2)
    assert (result.rejected, result.untested, result.runs) == ((), (), 0)
    assert result.last_pass is full


def test_without_full_the_batch_is_probed_first_and_counted() -> None:
    oracle = Oracle(culprits=frozenset({5}))
    result = run(8, oracle, observed=False)
    assert oracle.calls[0] == tuple(range(8))
    assert [r.unit for r in result.rejected] == [5]
    assert result.runs == len(oracle.calls) == 1 + 4


def test_no_budget_leaves_everything_untested() -> None:
    oracle = Oracle(culprits=frozenset({1}))
    assert run(4, oracle, budget=0, observed=False).untested == (0, 1, 2, 3)
    result = run(4, oracle, budget=0)
    assert (result.kept, result.untested, result.runs) == ((), (0, 1, 2, 3), 0)


def test_all_culprits_are_all_rejected() -> None:
    result = run(6, Oracle(culprits=frozenset(range(6))))
    assert [r.unit for r in result.rejected] == list(range(6))
    assert result.kept == ()
    assert result.last_pass is None


def test_single_unit_culprit_is_confirmed_by_a_rerun() -> None:
    oracle = Oracle(culprits=frozenset({0}))
    result = run(1, oracle)
    # The batch failure is the only evidence against it, so one rerun confirms it.
    assert oracle.calls == [(0,)]
    assert [r.unit for r in result.rejected] == [0]
    assert result.rejected[0].result is oracle.results[0]


def test_units_are_opaque_hashables_in_batch_order() -> None:
    units = [("torch", "torchvision"), ("requests",), ("idna",), ("urllib3",)]
    seen: list[tuple[tuple[str, ...], ...]] = []

    def probe(subset: tuple[tuple[str, ...], ...]) -> TestResult:
        seen.append(subset)
        broken = ("idna",) in subset
        return TestResult(passed=not broken, failing_tests=("t::idna",) if broken else ())

    result = bisect(units, probe, 10, TestResult(passed=False, failing_tests=("t::idna",)))
    assert result.kept == (("torch", "torchvision"), ("requests",), ("urllib3",))
    assert [r.unit for r in result.rejected] == [("idna",)]
    assert all(list(s) == sorted(s, key=units.index) for s in seen)


def test_duplicate_units_count_once() -> None:
    oracle = Oracle(culprits=frozenset({1}))
    result = bisect([0, 1, 1, 2], oracle, 10, oracle.verdict([0, 1, 2]))
    assert result.kept == (0, 2)
    assert [r.unit for r in result.rejected] == [1]


def test_default_budget_covers_two_culprits_with_confirmations() -> None:
    assert [default_budget(n) for n in (0, 1, 2, 8, 9, 16, 64)] == [5, 5, 7, 11, 13, 13, 17]


def test_failure_rate_outside_zero_one_is_refused() -> None:
    with pytest.raises(ValueError, match="failure_rate"):
        bisect([0], Oracle(), 3, failure_rate=1.5)


# ---------------------------------------------------------------------------- independent culprits


def test_every_culprit_is_isolated_over_many_batches() -> None:
    for n, culprits in batches(seed=1, count=600, max_n=40, max_k=6):
        oracle = Oracle(culprits=culprits)
        result = run(n, oracle)
        assert set(result.kept) == set(range(n)) - culprits
        assert {r.unit for r in result.rejected} == culprits
        assert result.untested == ()
        # Each conviction names the culprit's own failing test.
        for r in result.rejected:
            assert f"tests/test_u{r.unit}.py::test_api" in r.result.failing_tests
        # A set is probed again only to confirm the batch failure, which was handed in.
        assert len(oracle.calls) == len({frozenset(c) for c in oracle.calls})


@pytest.mark.parametrize("n", [*range(1, 34), 63, 64, 65, 100])
def test_one_culprit_costs_at_most_log2_n_plus_one_runs(n: int) -> None:
    bound = math.ceil(math.log2(n)) + 1
    for culprit in range(n):
        result = run(n, Oracle(culprits=frozenset({culprit})))
        assert [r.unit for r in result.rejected] == [culprit]
        assert result.runs <= bound


@pytest.mark.parametrize(("k", "worst"), [(2, 8), (3, 12)])
def test_worst_case_for_several_culprits_at_n8(k: int, worst: int) -> None:
    # research/bisection.md §2.4, BSR column: found by the same exhaustive enumeration.
    runs = [run(8, Oracle(culprits=frozenset(d))).runs for d in itertools.combinations(range(8), k)]
    assert max(runs) == worst


def test_a_failure_rate_prior_saves_runs_when_culprits_are_many() -> None:
    plain, sized = [], []
    for seed in range(200):
        culprits = frozenset(random.Random(seed).sample(range(32), 8))
        plain.append(run(32, Oracle(culprits=culprits)).runs)
        result = run(32, Oracle(culprits=culprits), failure_rate=0.25)
        assert {r.unit for r in result.rejected} == culprits
        sized.append(result.runs)
    assert sum(sized) < 0.9 * sum(plain)


# ---------------------------------------------------------------------------- interactions


def test_a_pair_that_fails_together_loses_its_later_member() -> None:
    for n in range(2, 20):
        for a, b in itertools.combinations(range(n), 2):
            oracle = Oracle(pairs=((a, b),))
            result = run(n, oracle)
            assert [r.unit for r in result.rejected] == [b]
            assert set(result.kept) == set(range(n)) - {b}


def test_pairs_and_culprits_end_in_a_maximal_passing_set() -> None:
    rng = random.Random(7)
    for _ in range(400):
        n = rng.randint(2, 30)
        culprits = frozenset(rng.sample(range(n), rng.randint(0, 2)))
        pairs = [(a, b) for a, b in (sorted(rng.sample(range(n), 2)) for _ in range(3))]
        oracle = Oracle(culprits=culprits, pairs=tuple(pairs[: rng.randint(1, 3)]))
        result = run(n, oracle)
        assert oracle.verdict(result.kept).passed
        assert not culprits & set(result.kept)
        # Maximal: putting any rejected unit back breaks the published set.
        for r in result.rejected:
            assert not oracle.verdict([*result.kept, r.unit]).passed


# ---------------------------------------------------------------------------- flaky tests


def test_a_flaky_batch_failure_keeps_everything() -> None:
    for n in (1, 2, 5, 8, 13, 16):
        oracle = Oracle()
        full = TestResult(passed=False, failing_tests=(FLAKE,))
        result = bisect(list(range(n)), oracle, 20, full)
        assert_sound(result, oracle, list(range(n)), 20, full)
        assert result.kept == tuple(range(n))
        assert result.rejected == ()
        assert result.runs <= math.ceil(math.log2(n)) + 1


def test_one_flaky_probe_never_rejects_a_good_unit() -> None:
    # Let the flake hit each probe in turn, for every culprit position and a few sizes.
    for n, culprits in [(8, {3}), (8, {0, 7}), (13, {2, 9, 10}), (16, set()), (5, {4})]:
        clean_runs = run(n, Oracle(culprits=frozenset(culprits))).runs
        for call in range(1, clean_runs + 3):
            oracle = Oracle(culprits=frozenset(culprits), flaky_calls=frozenset({call}))
            result = run(n, oracle)
            assert {r.unit for r in result.rejected} == culprits
            assert set(result.kept) == set(range(n)) - culprits


def test_a_flake_is_caught_by_its_unknown_signature() -> None:
    oracle = Oracle(culprits=frozenset({3}), flaky_calls=frozenset({1}))
    full = oracle.verdict(range(4))
    result = bisect([0, 1, 2, 3], oracle, 10, full)
    assert_sound(result, oracle, [0, 1, 2, 3], 10, full)
    # {0, 1} fails only the flaky test, which the batch did not fail: rerun, and it passes.
    assert oracle.calls == [(0, 1), (0,), (0, 1), (0, 1, 2), (0, 1, 2, 3)]
    assert [r.unit for r in result.rejected] == [3]
    assert result.kept == (0, 1, 2)


def test_without_batch_test_ids_every_rejection_is_rerun() -> None:
    oracle = Oracle(culprits=frozenset({0}))
    full = TestResult(passed=False)
    result = bisect([0, 1, 2, 3], oracle, 10, full)
    assert_sound(result, oracle, [0, 1, 2, 3], 10, full)
    assert oracle.calls == [(0, 1), (0,), (0,), (1, 2, 3)]
    assert result.rejected[0].result is oracle.results[2]
    assert result.kept == (1, 2, 3)


def test_a_unit_convicted_only_by_the_batch_is_rerun() -> None:
    oracle = Oracle(culprits=frozenset({3}))
    full = oracle.verdict(range(4))
    result = bisect([0, 1, 2, 3], oracle, 10, full)
    assert oracle.calls == [(0, 1), (0, 1, 2), (0, 1, 2, 3)]
    assert result.rejected[0].result is oracle.results[-1]


def test_random_flakes_never_publish_an_unpassed_set() -> None:
    rng = random.Random(11)
    for _ in range(500):
        n = rng.randint(1, 24)
        culprits = frozenset(rng.sample(range(n), rng.randint(0, min(3, n))))
        flaky = frozenset(i for i in range(1, 60) if rng.random() < 0.15)
        oracle = Oracle(culprits=culprits, flaky_calls=flaky)
        budget = rng.randint(0, 30)
        result = run(n, oracle, budget, observed=rng.random() < 0.5)
        assert not culprits & set(result.kept)


# ---------------------------------------------------------------------------- budget


def test_budget_exhaustion_defers_the_undecided() -> None:
    for n, culprits in batches(seed=3, count=300, max_n=32, max_k=4):
        full_runs = run(n, Oracle(culprits=culprits)).runs
        for budget in range(full_runs):
            oracle = Oracle(culprits=culprits)
            result = run(n, oracle, budget)
            assert result.runs == budget
            assert result.untested
            assert not culprits & set(result.kept)
            assert {r.unit for r in result.rejected} <= culprits


def test_confirmation_without_budget_defers_the_suspect() -> None:
    oracle = Oracle(culprits=frozenset({3}))
    full = oracle.verdict(range(4))
    result = bisect([0, 1, 2, 3], oracle, 2, full)
    assert result.kept == (0, 1, 2)
    assert result.rejected == ()
    assert result.untested == (3,)


# ---------------------------------------------------------------------------- properties


@settings(max_examples=300, deadline=None)
@given(
    data=st.data(),
    n=st.integers(min_value=1, max_value=24),
    budget=st.integers(min_value=0, max_value=40),
    observed=st.booleans(),
    failure_rate=st.sampled_from([0.0, 0.1, 0.3]),
)
def test_kept_never_holds_a_culprit_and_always_passes(
    data: st.DataObject, n: int, budget: int, observed: bool, failure_rate: float
) -> None:
    culprits = data.draw(st.frozensets(st.integers(min_value=0, max_value=n - 1)))
    pairs = data.draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=2))
    oracle = Oracle(culprits=culprits, pairs=tuple((a, b) for a, b in pairs if a < b))
    result = run(n, oracle, budget, observed=observed, failure_rate=failure_rate)
    assert not culprits & set(result.kept)
    assert oracle.verdict(result.kept).passed
    assert result.runs <= budget
