"""The security-advisory webhook receiver, ``depbot serve`` (SPEC §8).

Thin by design, one module each: :mod:`.signature` (HMAC over the raw body), :mod:`.events`
(GitHub's payloads into one value), :mod:`.queue` (the durable SQLite queue), :mod:`.app` (the
ASGI receiver), :mod:`.worker` (drains the queue through injected work), :mod:`.dispatch` (the
one GitHub call), :mod:`.command` (uvicorn and the worker in one process).

This package's top level imports only the standard library, so the CLI can build its parser
without loading the web stack; :func:`serve` loads it on use.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TextIO

__all__ = ["READ_TIMEOUT", "SECRET_VARIABLE", "add_serve_arguments", "serve"]

SECRET_VARIABLE = "DEPBOT_WEBHOOK_SECRET"  # noqa: S105 (a variable name, not a secret)
READ_TIMEOUT = 10.0
"""Seconds a client has, by default, to send its whole request body."""


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``depbot serve`` (SPEC §7), plus the receiver's tuning knobs."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8787, help="port (0: any free one)")
    parser.add_argument("--repo", type=Path, help="run the security trigger on this repository")
    parser.add_argument(
        "--dispatch", action="store_true", help="send repository_dispatch to the event's repo"
    )
    parser.add_argument("--state", type=Path, help="the queue's SQLite file")
    parser.add_argument(
        "--read-timeout",
        type=float,
        default=READ_TIMEOUT,
        metavar="SECONDS",
        help=f"time a client has for its request headers, then its body (default {READ_TIMEOUT:g})",
    )
    parser.add_argument(
        "--retry-delay",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="first wait before a failed job is retried, doubling up to 5 minutes (default 5)",
    )
    parser.add_argument(
        "--workers", type=int, default=4, help="repositories dispatched to at once (default 4)"
    )


def serve(
    args: argparse.Namespace,
    env: Mapping[str, str],
    err: TextIO,
    run_security: Callable[[Path, tuple[str, ...]], int] | None,
) -> int:
    """Runs the receiver and its worker until SIGTERM/SIGINT; the exit code (SPEC §7): 2 when
    ``DEPBOT_WEBHOOK_SECRET`` is missing or not exactly one of ``--repo``/``--dispatch`` is given.

    ``run_security(repo, packages) -> exit code`` does the work of ``--repo`` mode.
    """
    from depbot.server.command import serve as run_server

    return run_server(args, env, err, run_security)
