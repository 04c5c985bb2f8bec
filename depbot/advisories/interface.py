"""The advisory seam: sources of vulnerability records (SPEC §4)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from packaging.version import InvalidVersion, Version

from depbot.errors import RunError
from depbot.models import Advisory, Lockfile

__all__ = ["SUMMARY_LIMIT", "AdvisorySource", "AdvisorySourceError", "one_line", "version_or_none"]

SUMMARY_LIMIT = 200
"""Characters of an advisory's summary kept: a table cell, not the whole write-up."""


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


def version_or_none(raw: object) -> Version | None:
    """``raw`` as a PEP 440 version; None when it is not a string or not a valid version."""
    if not isinstance(raw, str):
        return None
    try:
        return Version(raw)
    except InvalidVersion:
        return None


def one_line(text: object, limit: int = SUMMARY_LIMIT) -> str:
    """``text`` with its white space folded, cut to ``limit`` characters; "" for a non-string."""
    if not isinstance(text, str):
        return ""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"
