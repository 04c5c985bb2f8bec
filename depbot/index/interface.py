"""The index seam: where the releases of a project come from."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from depbot.errors import RunError
from depbot.models import NormalizedName, Release

__all__ = ["Index", "IndexLookupError"]


class IndexLookupError(RunError):
    """One project could not be looked up (after retries): the caller skips that package."""


class Index(ABC):
    """A source of releases for a project name."""

    @abstractmethod
    def releases(self, name: NormalizedName) -> Sequence[Release]:
        """Every release of ``name``, ascending by version; raises IndexLookupError."""

    def fresh(self, name: NormalizedName) -> Sequence[Release] | None:
        """What ``releases`` would answer from a cache young enough to trust, without asking
        the index; None when only the index can tell (the default)."""
        return None
