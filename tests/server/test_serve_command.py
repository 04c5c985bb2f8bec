"""``depbot serve``'s command line: refusals (exit 2) before anything listens, a clean stop on
SIGTERM (exit 0), a port already taken (exit 1)."""

from __future__ import annotations

import socket
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest

from depbot.cli import main
from tests.support.serve import SECRET, FakeGitHub, ServeProcess, serve_env


def serve(*argv: str, **env: str) -> tuple[int, str]:
    err = StringIO()
    code = main(["serve", "--port", "0", *argv], env, StringIO(), err)
    return code, err.getvalue()


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--dispatch"], {"GITHUB_TOKEN": "ghs_token"}, "DEPBOT_WEBHOOK_SECRET is not set"),
        ([], {"DEPBOT_WEBHOOK_SECRET": SECRET}, "exactly one of --repo DIR or --dispatch"),
        (
            ["--dispatch", "--repo", "."],
            {"DEPBOT_WEBHOOK_SECRET": SECRET, "GITHUB_TOKEN": "ghs_token"},
            "exactly one of --repo DIR or --dispatch",
        ),
        (["--dispatch"], {"DEPBOT_WEBHOOK_SECRET": SECRET}, "needs GITHUB_TOKEN"),
        (["--repo", "/nonexistent/dir"], {"DEPBOT_WEBHOOK_SECRET": SECRET}, "is not a directory"),
        (
            ["--dispatch", "--read-timeout", "0"],
            {"DEPBOT_WEBHOOK_SECRET": SECRET, "GITHUB_TOKEN": "ghs_token"},
            "must be positive",
        ),
    ],
)
def test_serve_refuses_to_start_with_a_message(
    argv: list[str], env: dict[str, str], message: str
) -> None:
    code, err = serve(*argv, **env)
    assert code == 2
    assert message in err
    assert SECRET not in err


def test_serve_refuses_a_repo_that_is_not_a_git_repository(tmp_path: Path) -> None:
    code, err = serve("--repo", str(tmp_path), DEPBOT_WEBHOOK_SECRET=SECRET)
    assert code == 2
    assert "cannot open the queue" in err


def test_the_process_refuses_without_the_secret_and_stops_cleanly_on_sigterm(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "depbot", "serve", "--dispatch"],
        env=serve_env(GITHUB_TOKEN="ghs_token") | {"DEPBOT_WEBHOOK_SECRET": ""},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "DEPBOT_WEBHOOK_SECRET is not set" in done.stderr
    with FakeGitHub() as github:
        server = ServeProcess.spawn("--dispatch", "--state", str(tmp_path / "q"), env=github.env())
        assert server.stop() == 0
        assert "stopped" in server.log


def test_a_port_already_taken_is_exit_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, err = serve(
            "--dispatch", "--port", str(port), "--state", str(tmp_path / "q"),
            DEPBOT_WEBHOOK_SECRET=SECRET, GITHUB_TOKEN="ghs_token",
        )  # fmt: skip
    assert code == 1
    assert "cannot listen" in err
