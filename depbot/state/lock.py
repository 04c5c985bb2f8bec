"""The run lock: one depbot run at a time on one repository (SPEC §9).

The lock file says who holds it (``pid HOST STARTED``, the start in UTC ISO 8601), so a run
that finds it taken can say whom it waits for, and for how long it will.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from depbot.errors import RunError

__all__ = ["RunLock"]


class RunLock:
    """An exclusive lock on one repository's depbot state, held for a whole run.

    The operating system releases it when the holder dies (even by ``kill -9``), so a lock file
    left behind by a crashed run never blocks the next one. Waits up to ``timeout`` seconds,
    then raises RunError naming the holder; ``waiting`` is told once, when the wait begins.
    """

    def __init__(
        self,
        path: Path,
        *,
        timeout: float = 0.0,
        poll: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        waiting: Callable[[str], None] = lambda _message: None,
    ) -> None:
        self.path = path
        self._timeout = timeout
        self._poll = poll
        self._clock = clock
        self._sleep = sleep
        self._waiting = waiting
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            started, told = self._clock(), False
            while not _try_lock(fd):
                holder = _read_holder(fd)
                if self._clock() >= started + self._timeout:
                    raise RunError(
                        f"another depbot run holds the lock {self.path}{holder}; gave up after"
                        f" waiting {self._clock() - started:.0f} s (--lock-timeout)"
                    )
                if not told:
                    told = True
                    self._waiting(
                        f"another depbot run holds the lock {self.path}{holder}; waiting up to"
                        f" {self._timeout:g} s for it (--lock-timeout)"
                    )
                self._sleep(self._poll)
        except BaseException:
            os.close(fd)
            raise
        # Who holds it is only a hint for the messages above; the OS lock is what counts.
        since = datetime.now(timezone.utc).isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"{os.getpid()} {_host()} {since}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            _unlock(self._fd)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


if sys.platform == "win32":
    import msvcrt

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _host() -> str:
    """This machine's name as one word (the lock file's fields are split on spaces)."""
    return "".join(socket.gethostname().split()) or "unknown-host"


def _read_holder(fd: int) -> str:
    """`` (pid N on HOST since TIME)`` as the lock file says, or "" when it says nothing
    readable (a holder that has not written it yet, an older depbot's bare pid)."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        words = os.read(fd, 512).decode("utf-8", "replace").split()
    except OSError:
        return ""
    if not words or not words[0].isdigit():
        return ""
    if len(words) < 3:
        return f" (pid {words[0]})"
    return f" (pid {words[0]} on {words[1]} since {words[2]})"
