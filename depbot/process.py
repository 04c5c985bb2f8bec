"""Running a command in its own process group, killed whole when it ends or hangs."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import IO

__all__ = ["run_in_group"]


def run_in_group(
    argv: list[str],
    cwd: Path,
    env: Mapping[str, str],
    log: IO[bytes],
    timeout: float | None,
    errors: IO[bytes] | None = None,
) -> tuple[bool, int]:
    """(timed out, exit code) of ``argv`` run in a new process group whose leftovers are
    killed when it ends; output goes to the file ``log`` (stderr too, unless ``errors`` is
    given), so a leftover holding it open cannot keep the run waiting. ``timeout`` None:
    no limit."""
    posix = os.name == "posix"
    flags = 0 if posix else getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT if errors is None else errors,
        start_new_session=posix,
        creationflags=flags,
    )
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        _kill_group(proc)
    return timed_out, proc.returncode


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    if os.name == "posix":
        # ProcessLookupError: the whole group has already ended
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    elif proc.poll() is None:
        proc.kill()
    proc.wait()
