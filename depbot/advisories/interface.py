"""The advisory seam: sources of vulnerability records (SPEC §4)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from depbot.errors import RunError
from depbot.models import Advisory, Lockfile

__all__ = ["AdvisorySource", "AdvisorySourceError"]


class AdvisorySourceError(RunError):
    """A source could not answer. Never to be read as "no vulnerabilities"."""


class AdvisorySource(ABC):
    """Answers which advisories concern the packages pinned in some lockfiles."""

    spec: str
    """The spec string this source was built from (``osv-dir:PATH``, ``pip-audit``…)."""

    @abstractmethod
    def advisories(self, lockfiles: Sequence[Lockfile]) -> list[Advisory]:
        """Advisories for the pinned packages, with full affected ranges where the source has them.

        Raises AdvisorySourceError when the source cannot answer for every pin.
        """
