"""depbot's one exception tree; the CLI maps each branch to an exit code (SPEC §7)."""

from __future__ import annotations

__all__ = ["DepbotError", "InputError", "RunError"]


class DepbotError(Exception):
    """Base of every error depbot raises on purpose."""


class InputError(DepbotError):
    """Bad input (configuration, lockfile, arguments): exit 2, naming file, line or key."""


class RunError(DepbotError):
    """The run could not do its job (baseline fails, index or forge unreachable): exit 1."""
