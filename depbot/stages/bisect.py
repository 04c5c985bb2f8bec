"""Bisect a failing batch: find a passing subset by adaptive group testing (SPEC §5, bisect).

Verified-accumulate bisection (research/bisection.md §5): an accepted set P grows only by
probes that passed, so the published set has always passed a real run; a unit is rejected only
on an observed failure of P + {unit}, confirmed once; groups are halved, or sized after Hwang
when a prior failure rate predicts several culprits; the search stops at the run budget and
defers whatever it has not decided. The probe is a callable, so the logic runs without any
virtual environment.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from depbot.models import TestResult

__all__ = ["BisectResult", "Probe", "Rejection", "bisect", "default_budget"]

T = TypeVar("T", bound=Hashable)

Probe = Callable[[tuple[T, ...]], TestResult]
"""Tests the base plus the given units (in batch order) and returns the verdict."""


@dataclass(frozen=True)
class Rejection(Generic[T]):
    """A unit left out because the accepted set plus this unit failed, twice or consistently."""

    unit: T
    result: TestResult
    """The failing run that convicted it: the confirmation rerun when there was one."""


@dataclass(frozen=True)
class BisectResult(Generic[T]):
    """What bisect decided about every unit of the batch, and what it cost."""

    kept: tuple[T, ...]
    """A set that passed a real probe, in batch order (empty: the base alone)."""
    rejected: tuple[Rejection[T], ...]
    untested: tuple[T, ...]
    """Units left undecided when the budget ran out: neither kept nor blamed."""
    runs: int
    """Probe calls made by bisect; the ``full`` result handed in is not counted."""
    last_pass: TestResult | None
    """The passing run of exactly ``kept``; None when ``kept`` is empty."""


def default_budget(n: int) -> int:
    """Runs allowed after a failing batch of ``n`` units: k <= 2 with confirmations (§5.3)."""
    return 2 * (math.ceil(math.log2(max(n, 1))) + 2) + 1


def bisect(
    units: Sequence[T],
    probe: Probe[T],
    budget: int,
    full: TestResult | None = None,
    *,
    failure_rate: float = 0.0,
) -> BisectResult[T]:
    """Split ``units`` into kept, rejected and untested using at most ``budget`` probe calls.

    ``full`` is the observed result of the whole batch; when None, bisect probes it first.
    ``failure_rate`` is the prior chance that one unit breaks the tests; above 1.5 expected
    culprits it switches from halving to Hwang's smaller groups.
    """
    if not 0.0 <= failure_rate <= 1.0:
        raise ValueError(f"failure_rate must be within [0, 1], not {failure_rate}")
    order = tuple(dict.fromkeys(units))
    return _Search(order, probe, budget, failure_rate).run(full)


@dataclass(frozen=True)
class _Seen:
    result: TestResult
    run: int
    """Which probe call observed it; 0 for the ``full`` result handed in."""


class _Search(Generic[T]):
    def __init__(
        self, order: tuple[T, ...], probe: Probe[T], budget: int, failure_rate: float
    ) -> None:
        self._order = order
        self._failure_rate = failure_rate
        self._position = {u: i for i, u in enumerate(order)}
        self._probe = probe
        self._budget = budget
        self._runs = 0
        self._seen: dict[frozenset[T], _Seen] = {}
        self._accepted: list[T] = []
        self._last_pass: TestResult | None = None
        self._rejected: list[Rejection[T]] = []
        self._batch_run = 0
        self._batch_tests: frozenset[str] = frozenset()

    def run(self, full: TestResult | None) -> BisectResult[T]:
        if not self._order:
            return BisectResult((), (), (), 0, None)
        if full is None:
            seen = self._observe(self._order, again=False)
            if seen is None:
                return self._result(undecided=self._order)
        else:
            seen = _Seen(full, 0)
            self._seen[frozenset(self._order)] = seen
        if seen.result.passed:
            self._accept(self._order, seen.result)
            return self._result(undecided=())
        self._batch_run = seen.run
        self._batch_tests = frozenset(seen.result.failing_tests)
        return self._result(undecided=self._isolate(list(self._order)))

    # The main loop of §5.2: probe a group on top of P; accept it if it passes, otherwise
    # binary-search it for one culprit and put the rest of the group back in front.
    def _isolate(self, pending: list[T]) -> tuple[T, ...]:
        while pending:
            size = self._group_size(len(pending))
            group, rest = pending[:size], pending[size:]
            seen = self._observe(group, again=False)
            if seen is None:
                return tuple(pending)
            if seen.result.passed:
                self._accept(group, seen.result)
                pending = rest
                continue
            back: list[T] = []
            cur = group
            while len(cur) > 1:
                half = (len(cur) + 1) // 2
                left, right = cur[:half], cur[half:]
                probed = self._observe(left, again=False)
                if probed is None:
                    return (*cur, *back, *rest)
                if probed.result.passed:
                    self._accept(left, probed.result)
                    # P + right is exactly the set that failed before: no run needed.
                    cur = right
                else:
                    seen = probed
                    back = right + back
                    cur = left
            if not self._convict(cur[0], seen):
                return (cur[0], *back, *rest)
            pending = back + rest
        return ()

    def _group_size(self, pending: int) -> int:
        # Hwang's sizing: with about k culprits among m pending units, a group of
        # 2^floor(log2(m/k)) units passes about half the time. For k <= 1.5 the whole pending
        # set is the best probe: with one culprit it finishes in one run once the culprit is out.
        expected = self._failure_rate * pending
        if expected <= 1.5:
            return pending
        return 1 << math.floor(math.log2(pending / expected))

    def _convict(self, unit: T, evidence: _Seen) -> bool:
        """Reject ``unit`` if its failure is confirmed; accept it if a rerun passes.

        Returns False when the budget ran out before the verdict.
        """
        # Two failing runs that share a failing test are the confirmation: a flake rarely
        # repeats the batch's failure. The batch run cannot confirm itself, hence "independent".
        tests = frozenset(evidence.result.failing_tests)
        independent = evidence.run != self._batch_run
        if not (independent and tests & self._batch_tests):
            rerun = self._observe([unit], again=True)
            if rerun is None:
                return False
            if rerun.result.passed:
                self._accept([unit], rerun.result)
                return True
            evidence = rerun
        self._rejected.append(Rejection(unit, evidence.result))
        return True

    def _observe(self, extra: Sequence[T], *, again: bool) -> _Seen | None:
        """The verdict on P + extra: remembered unless ``again``; None when out of budget."""
        members = (*self._accepted, *extra)
        key = frozenset(members)
        if not again and key in self._seen:
            return self._seen[key]
        if self._runs >= self._budget:
            return None
        self._runs += 1
        ordered = tuple(sorted(members, key=self._position.__getitem__))
        seen = _Seen(self._probe(ordered), self._runs)
        self._seen[key] = seen
        return seen

    def _accept(self, units: Sequence[T], result: TestResult) -> None:
        self._accepted.extend(units)
        self._last_pass = result

    def _result(self, undecided: Sequence[T]) -> BisectResult[T]:
        kept = tuple(sorted(self._accepted, key=self._position.__getitem__))
        return BisectResult(
            kept=kept,
            rejected=tuple(self._rejected),
            untested=tuple(sorted(undecided, key=self._position.__getitem__)),
            runs=self._runs,
            last_pass=self._last_pass,
        )
