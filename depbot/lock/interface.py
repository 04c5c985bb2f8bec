"""The lock seam: a tool that regenerates lockfiles and installs them (pip-tools or uv).

The seam's ABC, its errors and where a tool resolves; what every backend shares lives beside
it: ``replay`` (how a lockfile's own compile command is replayed) and ``tool`` (running one).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import NormalizedName
from packaging.version import Version

from depbot.errors import RunError
from depbot.models import Lockfile

__all__ = ["LockBackend", "LockError", "LockIndex", "Unresolvable"]


class LockError(RunError):
    """The lock tool could not do its job (not installed, index unreachable, bad command)."""


class Unresolvable(LockError):
    """The requested pins cannot be resolved together; ``message`` is the resolver's reason."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class LockIndex:
    """Where a lock tool resolves and installs when the lockfile names no index of its own."""

    index_url: str | None = None
    """None: as the tool is configured (pip's configuration for pip-tools, PyPI for uv)."""
    extra_index_urls: tuple[str, ...] = ()


class LockBackend(ABC):
    """Regenerates a lockfile with some pins moved, and builds environments from lockfiles.

    ``env`` is the complete environment of the tool's subprocesses; backends never read the
    process environment.
    """

    name: str
    """``"pip-tools"`` or ``"uv"``, as ``lock-backend`` spells it."""

    @abstractmethod
    def relock(
        self,
        repo: Path,
        lockfile: Lockfile,
        upgrades: Mapping[NormalizedName, Version],
        index: LockIndex,
        env: Mapping[str, str],
    ) -> str:
        """The new text of ``lockfile`` with ``upgrades`` applied and every other pin held.

        Runs the lockfile's own compile command in ``repo`` (a scratch copy: nothing there is
        written). Raises Unresolvable when the pins cannot be resolved, LockError otherwise.
        """

    @abstractmethod
    def create_venv(self, path: Path, env: Mapping[str, str]) -> Path:
        """Creates an empty virtual environment at ``path``; returns its interpreter."""

    @abstractmethod
    def sync(
        self,
        python: Path,
        lockfiles: Sequence[Path],
        index: LockIndex,
        env: Mapping[str, str],
    ) -> None:
        """Makes the environment of ``python`` hold exactly the pins of ``lockfiles``."""

    @abstractmethod
    def install_project(
        self, python: Path, project: Path, index: LockIndex, env: Mapping[str, str]
    ) -> None:
        """Installs ``project`` (editable, without dependencies) into the environment."""
