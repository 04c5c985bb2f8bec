"""The only place the stages meet: discover → check → classify → plan (→ relock → verify → publish).

Every collaborator (index, advisory sources, backends, forge, store) is passed in; this module
decides the order of the stages and hands each one the previous one's value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from depbot.advisories.interface import AdvisorySource
from depbot.config import Config
from depbot.index.interface import Index
from depbot.models import Lockfile, Plan
from depbot.stages.check import check
from depbot.stages.classify import classify
from depbot.stages.discover import discover
from depbot.stages.plan import make_plan

__all__ = ["Planned", "discover_lockfiles", "plan"]


@dataclass(frozen=True)
class Planned:
    """The dry run's value and the lockfiles it was computed from."""

    lockfiles: tuple[Lockfile, ...]
    plan: Plan


def discover_lockfiles(repo: Path, config: Config) -> tuple[Lockfile, ...]:
    """Step 1: the project's lockfiles (SPEC §2)."""
    return discover(repo, config)


def plan(
    lockfiles: Sequence[Lockfile],
    config: Config,
    index: Index,
    sources: Sequence[AdvisorySource],
    pool_size: int = 16,
) -> Planned:
    """Steps 2–4: check every pin, classify the updates and batch them."""
    checked = check(lockfiles, index, sources, pool_size=pool_size)
    updates, skipped = classify(lockfiles, checked, config)
    result = make_plan(updates, (*checked.skipped, *skipped), checked.source_errors, config)
    return Planned(tuple(lockfiles), result)
