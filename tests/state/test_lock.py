"""The run lock: real files and processes, injected clocks, no sleeping."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from depbot.errors import RunError
from depbot.state.lock import RunLock

HOST = "".join(socket.gethostname().split())


def test_second_lock_holder_fails_after_its_timeout(tmp_path: Path) -> None:
    lock_path = tmp_path / "lock"
    now = [0.0]
    waited: list[float] = []

    def sleep(seconds: float) -> None:
        waited.append(seconds)
        now[0] += seconds

    said: list[str] = []
    with RunLock(lock_path):
        second = RunLock(
            lock_path, timeout=2.0, poll=0.5, clock=lambda: now[0], sleep=sleep, waiting=said.append
        )
        with pytest.raises(RunError) as raised:
            second.acquire()
    assert waited == [0.5, 0.5, 0.5, 0.5]
    holder = rf"\(pid {os.getpid()} on {re.escape(HOST)} since \d{{4}}-\d\d-\d\dT[\d:]+\+00:00\)"
    # said once, when the wait begins: who holds the lock and how long this run waits
    [message] = said
    assert re.fullmatch(
        rf"another depbot run holds the lock .*{holder}; waiting up to 2 s .*", message
    )
    assert re.fullmatch(
        rf"another depbot run holds the lock .*{holder}; gave up after waiting 2 s .*",
        str(raised.value),
    )


def test_lock_is_free_again_after_release(tmp_path: Path) -> None:
    lock_path = tmp_path / "lock"
    with RunLock(lock_path):
        pass
    with RunLock(lock_path) as again:
        pid, host, since = again.path.read_text().split()
        assert (int(pid), host) == (os.getpid(), HOST)
        assert datetime.fromisoformat(since).tzinfo is not None


def test_a_lock_file_left_by_a_crashed_run_does_not_block(tmp_path: Path) -> None:
    lock_path = tmp_path / "depbot" / "lock"
    lock_path.parent.mkdir()
    lock_path.write_text("99999\n")
    with RunLock(lock_path, timeout=0):
        assert lock_path.exists()


def test_a_lock_held_by_a_process_killed_with_sigkill_is_released(tmp_path: Path) -> None:
    lock_path = tmp_path / "lock"
    holder = (
        "import sys, pathlib\n"
        "from depbot.state.lock import RunLock\n"
        "lock = RunLock(pathlib.Path(sys.argv[1]))\n"
        "lock.acquire()\n"
        "print('locked', flush=True)\n"
        "sys.stdin.read()\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", holder, str(lock_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "locked"
        with pytest.raises(RunError, match=f"pid {child.pid}"):
            RunLock(lock_path).acquire()
    finally:
        child.kill()
        child.wait()
    with RunLock(lock_path, timeout=0):
        assert lock_path.read_text().split()[0] == str(os.getpid())


def test_a_lock_file_of_an_older_depbot_still_names_the_pid(tmp_path: Path) -> None:
    lock_path = tmp_path / "lock"
    with RunLock(lock_path):
        lock_path.write_text("4242\n")  # what depbot wrote before it said more
        with pytest.raises(RunError, match=r"\(pid 4242\); gave up"):
            RunLock(lock_path).acquire()
        lock_path.write_text("")  # a holder that has not written its line yet
        with pytest.raises(RunError, match=r"holds the lock \S+; gave up"):
            RunLock(lock_path).acquire()
