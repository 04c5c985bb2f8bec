"""The values that flow between depbot's stages.

Every stage takes and returns these frozen dataclasses; none of them does I/O. Names are
normalised (PEP 503) at the boundary where they enter, so every comparison here is exact.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from depbot.installable import checker
from depbot.lockfiles import Environment, Include, Lockfile, LockHeader, Pin

__all__ = [
    "Advisory",
    "AffectedRange",
    "Batch",
    "BatchOutcome",
    "CheckResult",
    "DistFile",
    "Environment",
    "Include",
    "Kind",
    "LockHeader",
    "Lockfile",
    "MLFacts",
    "Moved",
    "NormalizedName",
    "Pin",
    "Plan",
    "Release",
    "RolledBack",
    "Skipped",
    "TestResult",
    "Update",
    "VariantIndex",
    "canonicalize_name",
]


class Kind(str, enum.Enum):
    """The kind of an update (SPEC §3); the value is what JSON and batch ids use."""

    SECURITY = "security"
    MINOR = "minor"
    MAJOR = "major"


# ---------------------------------------------------------------------------- index


class DistFile(NamedTuple):
    """One installable file of a release (a wheel or an sdist) as the index lists it.

    A tuple, not a dataclass: a big project lists thousands of files, and a warm plan reads
    them all from the cache.
    """

    filename: str
    """``torch-2.1.0+cu118-cp311-cp311-linux_x86_64.whl``, ``numpy-1.26.4.tar.gz``."""
    requires_python: str | None = None
    """As the index writes it (PEP 503 ``data-requires-python``, PEP 691 ``requires-python``);
    None: any Python."""
    yanked: bool = False

    def installable_on(self, python: Version) -> bool:
        """Whether pip would install this file on CPython ``python`` (some platform): its
        ``Requires-Python`` accepts it (an invalid one is ignored, as pip ignores it) and, for a
        wheel, one of its Python and ABI tags is one pip supports there; an sdist builds
        anywhere."""
        return checker(python).any_of((self,), include_yanked=True)


@dataclass(frozen=True)
class Release:
    """One version of a project as the index lists it, summarised over its files."""

    version: Version
    yanked: bool = False
    """True when every file of the version is yanked (PEP 592)."""
    requires_python: SpecifierSet | None = None
    """The most permissive ``Requires-Python`` among its non-yanked files; None means any."""
    files: Sequence[DistFile] = ()
    """Its wheels and sdists in the index's order (several indexes: the primary's first); a
    tuple, or an equal sequence decoded on first use. Empty for a release described by hand;
    then ``requires_python`` alone decides."""

    @classmethod
    def of(
        cls,
        version: Version,
        yanked: bool,
        requires_python: SpecifierSet | None,
        files: Sequence[DistFile],
    ) -> Release:
        """The release with these fields, made without the frozen ``__init__``'s four
        ``object.__setattr__`` calls: a page summary makes thousands."""
        release = object.__new__(cls)
        release.__dict__.update(
            version=version, yanked=yanked, requires_python=requires_python, files=files
        )
        return release

    def installable_on(self, python: Version | None) -> bool:
        """Whether pip would install some file of this release on ``python`` (None: no
        constraint known): one of its non-yanked files (any file, when the whole release is
        yanked and so installable only by an exact pin)."""
        if python is None:
            return True
        if not self.files:
            spec = self.requires_python
            return spec is None or spec.contains(python, prereleases=True)
        return checker(python).any_of(self.files, include_yanked=self.yanked)


@dataclass(frozen=True)
class Skipped:
    """A package the run could not handle, and why: a value, not an exception."""

    name: str
    reason: str


# ---------------------------------------------------------------------------- advisories


@dataclass(frozen=True)
class AffectedRange:
    """One OSV ``ECOSYSTEM`` range: affected from ``introduced`` up to ``fixed`` or
    ``last_affected``."""

    introduced: Version | None = None
    """None means "0", before every version."""
    fixed: Version | None = None
    last_affected: Version | None = None

    def contains(self, version: Version) -> bool:
        """OSV semantics: introduced <= v, and v < fixed, and v <= last_affected."""
        if self.introduced is not None and version < self.introduced:
            return False
        if self.fixed is not None and version >= self.fixed:
            return False
        return not (self.last_affected is not None and version > self.last_affected)


@dataclass(frozen=True)
class Advisory:
    """A vulnerability record for one package, from any advisory source."""

    id: str
    package: NormalizedName
    aliases: frozenset[str] = frozenset()
    ranges: tuple[AffectedRange, ...] = ()
    versions: frozenset[Version] = frozenset()
    """Explicitly listed affected versions (OSV ``versions``)."""
    summary: str = ""
    source: str = ""
    """The spec string of the source that reported it (``osv-dir:…``, ``pip-audit``…)."""

    def affects(self, version: Version) -> bool:
        """Whether ``version`` is affected: listed explicitly, or inside any range."""
        return version in self.versions or any(r.contains(version) for r in self.ranges)

    @property
    def fixed(self) -> tuple[Version, ...]:
        """Every fix version the record names, ascending."""
        return tuple(sorted({r.fixed for r in self.ranges if r.fixed is not None}))

    @property
    def names(self) -> frozenset[str]:
        """The id and its aliases: two advisories sharing any of these are the same."""
        return self.aliases | {self.id}


# ---------------------------------------------------------------------------- decisions


@dataclass(frozen=True)
class Update:
    """One proposed change of one package's pin, in every lockfile that pins it."""

    name: NormalizedName
    current: Version
    target: Version
    kind: Kind
    lockfiles: tuple[str, ...]
    """Paths (relative, forward slashes) of the lockfiles that pin ``current``."""
    advisories: tuple[Advisory, ...] = ()
    """For a security update: the advisories of ``current`` that ``target`` fixes."""
    breaking: bool = False
    """The target is in a newer series than the current version."""
    group: str | None = None
    """The family this update moves with (``torch``, a configured group); None: alone."""


@dataclass(frozen=True)
class Batch:
    """The updates that are relocked, tested and published together on ``depbot/<id>``."""

    id: str
    kind: Kind
    updates: tuple[Update, ...]

    @property
    def branch(self) -> str:
        return f"depbot/{self.id}"

    @property
    def units(self) -> tuple[tuple[Update, ...], ...]:
        """The updates grouped into the units that are kept or rolled back together."""
        order: list[str] = []
        by_key: dict[str, list[Update]] = {}
        for u in self.updates:
            key = f"group:{u.group}" if u.group else f"name:{u.name}"
            if key not in by_key:
                order.append(key)
                by_key[key] = []
            by_key[key].append(u)
        return tuple(tuple(by_key[k]) for k in order)


@dataclass(frozen=True)
class VariantIndex:
    """The torch family's builds of one variant (SPEC §6), as its index lists them."""

    label: str
    """The local label of its builds: ``cu118``, ``cpu``."""
    url: str
    """``…/whl/cu118/``."""
    releases: Mapping[NormalizedName, Sequence[Release]]
    """The family members' releases on that index."""
    built_for: Mapping[tuple[NormalizedName, Version], Version] = field(default_factory=dict)
    """A partner release → the torch its wheel metadata pins exactly (``Requires-Dist:
    torch==X``), where the index let it be read; the built-in table covers the rest."""

    def versions(self, name: str) -> tuple[Version, ...]:
        return tuple(r.version for r in self.releases.get(canonicalize_name(name), ()))


@dataclass(frozen=True)
class MLFacts:
    """What the check stage learned about each lockfile's torch variant."""

    homes: Mapping[str, VariantIndex] = field(default_factory=dict)
    """Lockfile path → the variant its torch pin is built for, on that variant's index."""
    moves: Mapping[str, VariantIndex] = field(default_factory=dict)
    """Lockfile path → a newer variant that has the newest torch, when the lockfile's own has
    no build of it (the variant ended)."""


@dataclass(frozen=True)
class CheckResult:
    """What the check stage learned: releases per package and the advisories that apply."""

    releases: dict[NormalizedName, Sequence[Release]]
    advisories: tuple[Advisory, ...]
    skipped: tuple[Skipped, ...] = ()
    source_errors: tuple[str, ...] = ()
    """Advisory sources that could not answer, with the reason; the run must say so loudly."""
    ml: MLFacts = MLFacts()
    """The torch variants of the lockfiles (empty without ML lookups)."""


@dataclass(frozen=True)
class Plan:
    """The dry run's result: every update, what was skipped, and the batches."""

    updates: tuple[Update, ...]
    batches: tuple[Batch, ...]
    skipped: tuple[Skipped, ...] = ()
    source_errors: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())
    """Things the user should read that are not errors (an ML variant that ended…)."""


# ---------------------------------------------------------------------------- run


@dataclass(frozen=True)
class TestResult:
    """The verdict of one test run (a probe) on a set of candidate lockfiles."""

    __test__ = False  # not a pytest class

    passed: bool
    log_tail: str = ""
    """The last lines of the test command's output."""
    failing_tests: tuple[str, ...] = ()
    """Test ids the log names as failing (pytest ``FAILED x::y`` lines), when it names any."""
    duration: float = 0.0
    cached: bool = False
    """True when the verdict came from the store (same lockfile contents tested before)."""


@dataclass(frozen=True)
class RolledBack:
    """An update left out of its batch, and why."""

    update: Update
    reason: str
    """``unresolvable``, ``tests-failed``, ``previously-failed`` or ``not-tested`` (budget)."""
    detail: str = ""
    """The resolver's message or an excerpt of the failing test output."""


@dataclass(frozen=True)
class Moved:
    """A pin a relock changed beyond the batch's own updates, and the update that required it."""

    name: NormalizedName
    current: Version | None
    """None: the relock added the package."""
    target: Version | None
    """None: the relock removed the package."""
    required_by: NormalizedName
    lockfiles: tuple[str, ...] = ()
    pending: str | None = None
    """The batch id of a pending update of this package to ``target`` or beyond (a major)."""


@dataclass(frozen=True)
class BatchOutcome:
    """What ``run`` did with one batch."""

    batch: Batch
    status: str
    """``opened``, ``updated``, ``unchanged``, ``rolled-back``, ``failed`` or ``planned``."""
    kept: tuple[Update, ...] = ()
    rolled_back: tuple[RolledBack, ...] = ()
    moved: tuple[Moved, ...] = ()
    """Pins the published lockfiles change beyond ``kept`` (SPEC §5: every pin accounted for)."""
    test_runs: int = 0
    """Test runs actually spent (cached verdicts do not count)."""
    branch: str | None = None
    pr: str | None = None
    """The PR's URL (GitHub) or its record id (local forge)."""
    message: str = ""
    """Why a batch failed, for the user (a failing baseline shows its log tail)."""
