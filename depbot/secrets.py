"""Secrets stay out of what depbot writes: one redaction, applied where output leaves depbot.

The boundaries are the command's output streams (every line printed, whatever renders it) and
the store (log tails and rollback details kept between runs); a secret that never entered a
tool's environment should not be in its output, and this is the net under that rule.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TextIO

__all__ = ["MASK", "RedactingStream", "redact"]

MASK = "***"
_MIN_LENGTH = 4
"""Shorter values are not treated as secrets: masking "1" would garble every number."""


def redact(text: str, secrets: Collection[str]) -> str:
    """``text`` with every value of ``secrets`` replaced by MASK (longest first, so a secret
    that contains another is replaced whole)."""
    for secret in sorted((s for s in secrets if len(s) >= _MIN_LENGTH), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


class RedactingStream:
    """A text stream that writes to ``target`` with ``secrets`` masked.

    Writes are buffered up to the next newline so a secret split across two ``write`` calls is
    still found; ``flush`` writes what is pending.
    """

    def __init__(self, target: TextIO, secrets: Collection[str]) -> None:
        self._target = target
        self._secrets = tuple(secrets)
        self._pending = ""

    def write(self, text: str) -> int:
        self._pending += text
        head, newline, tail = self._pending.rpartition("\n")
        if newline:
            self._target.write(redact(head + newline, self._secrets))
            self._pending = tail
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self._target.write(redact(self._pending, self._secrets))
            self._pending = ""
        self._target.flush()

    def isatty(self) -> bool:
        return self._target.isatty()

    def fileno(self) -> int:
        return self._target.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self._target, "encoding", None) or "utf-8"
