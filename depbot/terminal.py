"""Where a command writes: its output stream, its messages and the spinner of a long step.

Text output uses rich and degrades to plain lines when the stream is not a terminal (SPEC §7).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from rich.console import Console
    from rich.status import Status

__all__ = ["Context"]


@dataclass(frozen=True)
class Context:
    """What every command gets: the process environment and where to write."""

    env: Mapping[str, str]
    out: TextIO
    err: TextIO
    _status: list[Status] = field(default_factory=list, compare=False, repr=False)
    """The spinner of the long step under way, when stderr is a terminal."""

    def console(self) -> Console:
        from rich.console import Console

        return Console(file=self.out, highlight=False, soft_wrap=True)

    def progress(self, message: str) -> None:
        """What the long step under way is doing: a spinner's text on a terminal, a line on
        stderr otherwise."""
        if self._status:
            self._status[-1].update(f"depbot: {message}")
            return
        self.err.write(f"depbot: {message}\n")
        self.err.flush()

    @contextlib.contextmanager
    def activity(self) -> Iterator[None]:
        """Shows a rich spinner with the latest progress message while the block runs."""
        if not self.err.isatty():
            yield
            return
        from rich.console import Console

        with Console(file=self.err).status("depbot: starting") as status:
            self._status.append(status)
            try:
                yield
            finally:
                self._status.pop()
