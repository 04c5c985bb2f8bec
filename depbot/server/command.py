"""``depbot serve``: the webhook receiver on uvicorn and its worker, in one process (SPEC §8).

    depbot serve [--host 127.0.0.1] [--port 8787] (--repo DIR | --dispatch) [--state PATH]

The server refuses to start without ``DEPBOT_WEBHOOK_SECRET`` (exit 2). SIGTERM or SIGINT stop
it: the receiver first, then the worker after its current job (exit 0). A job still running
then, or at a ``kill -9``, is resumed at the next start.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from functools import partial
from pathlib import Path
from typing import TextIO

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from depbot.server import SECRET_VARIABLE
from depbot.server.app import MAX_BODY, build_app
from depbot.server.dispatch import DEFAULT_API_URL, send_dispatch
from depbot.server.events import AdvisoryEvent
from depbot.server.queue import Queue, queue_path
from depbot.server.worker import Handler, RunSecurity, Worker, dispatch_handler, repo_handler

__all__ = ["serve"]

MAX_CONNECTIONS = 512
"""Connections (and requests under way) beyond which uvicorn answers 503, so a flood of idle
connections cannot exhaust the process's file descriptors."""
STOP_GRACE = 30.0
"""Seconds the worker is given, at shutdown, to finish the job under way."""


class _Server(uvicorn.Server):
    """uvicorn re-raises SIGTERM/SIGINT after its shutdown, which would kill the process before
    the worker is stopped; :func:`_signals` installs handlers that only ask it to exit."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.contextmanager
def _signals(server: uvicorn.Server) -> Iterator[None]:
    """SIGTERM and SIGINT stop ``server`` (in the main thread; elsewhere nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    wanted = (signal.SIGINT, signal.SIGTERM)
    previous = {s: signal.signal(s, server.handle_exit) for s in wanted}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _protocol(header_timeout: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol with a deadline on each request's headers.

    uvicorn bounds neither the wait for a first request nor headers sent a byte at a time
    (``timeout_keep_alive`` runs only between requests, and any byte cancels it): a connection
    whose next request's headers are not complete ``header_timeout`` seconds after it opened,
    or after the previous response, is closed. The body has its own deadline in the app.
    """

    class HeaderDeadline(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None

        def _arm(self) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(header_timeout, self._expire)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expire(self) -> None:
            self._deadline = None
            if self.conn.their_state is h11.IDLE:  # no complete request line and headers yet
                self.transport.close()

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return HeaderDeadline


class _Log:
    """One line per event on ``err``, with every secret replaced (the one output boundary)."""

    def __init__(self, err: TextIO, secrets: tuple[str, ...]) -> None:
        self._err = err
        self._secrets = tuple(s for s in secrets if s)
        self._lock = threading.Lock()

    def __call__(self, message: str) -> None:
        for secret in self._secrets:
            message = message.replace(secret, "***")
        with self._lock:
            self._err.write(f"depbot serve: {message}\n")
            self._err.flush()


def _default_state(args: argparse.Namespace, env: Mapping[str, str]) -> Path:
    if args.repo is not None:
        from depbot.forge.git import depbot_dir

        return queue_path(depbot_dir(args.repo))
    base = env.get("XDG_STATE_HOME") or str(Path(env.get("HOME") or ".") / ".local" / "state")
    return queue_path(Path(base) / "depbot")


def _usage(args: argparse.Namespace, env: Mapping[str, str], has_runner: bool) -> str | None:
    """What is wrong with the command line or the environment; None when nothing is."""
    if not env.get(SECRET_VARIABLE):
        return f"{SECRET_VARIABLE} is not set: serve refuses to start without the webhook secret"
    if (args.repo is None) == (not args.dispatch):
        return "serve needs exactly one of --repo DIR or --dispatch"
    if args.repo is not None and not args.repo.is_dir():
        return f"{args.repo}: --repo is not a directory"
    if args.repo is not None and not has_runner:
        return "serve --repo has no security run to call"
    if args.dispatch and not (env.get("GITHUB_TOKEN") or env.get("DEPBOT_GITHUB_TOKEN")):
        return "serve --dispatch needs GITHUB_TOKEN (or DEPBOT_GITHUB_TOKEN)"
    if not 0 <= args.port <= 65535:
        return f"--port {args.port}: not a port number"
    if args.read_timeout <= 0 or args.retry_delay <= 0 or args.workers < 1:
        return "--read-timeout and --retry-delay must be positive, --workers at least 1"
    return None


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP,
    # and without it each answer waits ~40 ms for a delayed ACK (Nagle)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
        sock.listen(1024)
    except OSError:
        sock.close()
        raise
    return sock


def serve(
    args: argparse.Namespace,
    env: Mapping[str, str],
    err: TextIO,
    run_security: RunSecurity | None,
) -> int:
    """Runs the receiver and its worker until SIGTERM/SIGINT; the exit code (SPEC §7).

    ``run_security(repo, packages) -> exit code`` does the work of ``--repo`` mode.
    """
    problem = _usage(args, env, run_security is not None)
    if problem is not None:
        err.write(f"depbot: error: {problem}\n")
        return 2
    secret = env[SECRET_VARIABLE]
    token = env.get("GITHUB_TOKEN") or env.get("DEPBOT_GITHUB_TOKEN") or ""
    log = _Log(err, (secret, token))
    handler: Handler
    if args.repo is not None:
        assert run_security is not None  # checked by _usage
        handler = repo_handler(args.repo.resolve(), run_security)
    else:
        api_url = env.get("GITHUB_API_URL") or DEFAULT_API_URL
        send = partial(send_dispatch, token=token, api_url=api_url)
        handler = dispatch_handler(send, threads=args.workers)
    try:
        state = args.state or _default_state(args, env)
        queue = Queue(state)
    except Exception as exc:  # an unusable state path or repository: bad input
        err.write(f"depbot: error: cannot open the queue: {exc}\n")
        return 2
    with queue:
        return _run(args, secret.encode("utf-8"), queue, handler, log)


def _run(args: argparse.Namespace, secret: bytes, queue: Queue, handler: Handler, log: _Log) -> int:
    resumed = queue.recover()
    pruned = queue.prune(time.time())
    worker = Worker(queue, handler, retry_delay=args.retry_delay, log=log)

    def accepted(event: AdvisoryEvent, job: int) -> None:
        where = event.repository or "-"
        log(f"job {job}: {event.event} {event.advisory_id} {where} {','.join(event.packages)}")
        worker.wake()

    app = build_app(
        secret,
        queue,
        on_accept=accepted,
        require_repository=bool(args.dispatch),
        max_body=MAX_BODY,
        read_timeout=args.read_timeout,
    )
    try:
        sock = _listen(args.host, args.port)
    except OSError as exc:
        log(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")
        return 1
    host, port = sock.getsockname()[:2]
    config = uvicorn.Config(
        app,
        http=_protocol(args.read_timeout),
        log_config=None,
        log_level="warning",
        access_log=False,  # a flood of bad signatures must not flood the log
        lifespan="off",
        server_header=False,
        timeout_keep_alive=5,
        limit_concurrency=MAX_CONNECTIONS,
    )
    server = _Server(config)
    with _signals(server):
        counts = queue.counts()
        log(
            f"listening on http://{host}:{port} (queue {queue.path}: {counts['pending']} pending,"
            f" {resumed} resumed, {counts['failed']} failed, {pruned} old done jobs pruned)"
        )
        worker.start()
        try:
            server.run(sockets=[sock])
        finally:
            sock.close()
            stopped = worker.stop(STOP_GRACE)
            log("stopped" if stopped else "stopped; the job under way resumes at the next start")
    return 0
