"""Running a lock tool: its deadline kills the whole process group; pip's and uv's network
retries are bounded unless the environment says otherwise."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from depbot.lock.interface import LockError
from depbot.lock.tool import NETWORK_DEFAULTS, LockTimeout, run_tool

# a tool that starts a helper of its own, says so, then hangs (as pip-compile on a hung page)
HANGS = """\
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
open(sys.argv[1], "w").write(str(child.pid))
print("resolving...", file=sys.stderr, flush=True)
time.sleep(120)
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead too: it only waits for its parent (gone) to be reaped
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ", 1)[1].startswith("Z"))


@pytest.mark.skipif(sys.platform == "win32", reason="process groups are POSIX here")
def test_a_tool_past_its_deadline_is_killed_with_its_children(tmp_path: Path) -> None:
    marker = tmp_path / "child.pid"
    argv = [sys.executable, "-c", HANGS, str(marker)]
    with pytest.raises(LockTimeout) as raised:
        run_tool(argv, tmp_path, dict(os.environ), "pip-compile", timeout=6)
    # 6 s: time enough, on a loaded machine, for the tool to start its helper and speak
    message = str(raised.value)
    assert "pip-compile did not finish within 6 s (lock-timeout)" in message
    assert "resolving..." in message  # its last words say where it was
    assert isinstance(raised.value, LockError)  # the batch fails; nothing is blamed
    # the helper got its SIGKILL with the group; it dies as soon as the kernel gets to it
    helper = int(marker.read_text())
    waited = time.monotonic() + 5
    while alive(helper) and time.monotonic() < waited:
        time.sleep(0.05)
    assert not alive(helper)


def test_a_tool_within_its_deadline_runs_as_before(tmp_path: Path) -> None:
    code = "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"
    done = run_tool([sys.executable, "-c", code], tmp_path, dict(os.environ), "x", timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (3, "out\n", "err\n")


def test_network_retries_are_bounded_unless_the_environment_sets_them(tmp_path: Path) -> None:
    code = "import json, os; print(json.dumps({k: os.environ.get(k) for k in %r}))"
    argv = [sys.executable, "-c", code % sorted(NETWORK_DEFAULTS)]
    env = {k: v for k, v in os.environ.items() if k not in NETWORK_DEFAULTS}
    seen = json.loads(run_tool(argv, tmp_path, env, "x").stdout)
    assert seen == NETWORK_DEFAULTS
    assert int(seen["PIP_RETRIES"]) < 5 and int(seen["UV_HTTP_RETRIES"]) < 3  # below defaults
    seen = json.loads(run_tool(argv, tmp_path, {**env, "PIP_RETRIES": "7"}, "x").stdout)
    assert seen["PIP_RETRIES"] == "7"


def test_a_tool_that_cannot_start_is_a_lock_error(tmp_path: Path) -> None:
    with pytest.raises(LockError, match="cannot run pip-compile"):
        run_tool([str(tmp_path / "missing")], tmp_path, {}, "pip-compile")
