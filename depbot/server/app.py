"""The webhook receiver as an ASGI app (Starlette): ``POST /webhook`` and ``GET /healthz``.

``POST /webhook``, in this order (SPEC §8):

1. a ``Content-Length`` over ``max_body`` is 413 before a byte is read; a missing signature
   header is 401 before a byte is read;
2. the body is read from the ASGI stream up to ``max_body`` bytes (413 beyond, the rest never
   read) within ``read_timeout`` seconds in all (408 after: a slow-loris client holds a
   connection for that long at most);
3. ``X-Hub-Signature-256`` is checked against the raw bytes (401), before any parsing;
4. the event is parsed (400 naming the field or header);
5. what starts no run answers ``200 {"ignored": REASON}``; an accepted event is committed to the
   queue and only then answered ``202 {"job": ID}``; a delivery id the queue already holds is
   ``200 {"ignored": "duplicate"}``.

An error answered before the body was read in full closes the connection, so the unread rest
is never parsed as a next request.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from depbot.server import READ_TIMEOUT, signature
from depbot.server.events import AdvisoryEvent, Ignored, PayloadError, parse_event
from depbot.server.queue import Queue

__all__ = ["MAX_BODY", "READ_TIMEOUT", "build_app"]

MAX_BODY = 1024 * 1024
"""The largest body accepted (GitHub caps its payloads at 25 MB, but never sends an advisory
anywhere near 1 MiB)."""

_CLOSE = {"Connection": "close"}


class _TooLarge(Exception):
    pass


def _error(status: int, message: str, *, close: bool = False, **extra: str) -> Response:
    return JSONResponse({"error": message, **extra}, status, headers=_CLOSE if close else None)


async def _read_body(request: Request, limit: int, timeout: float) -> bytes:
    """The raw body, at most ``limit`` bytes (_TooLarge beyond), all of it within ``timeout``."""
    chunks: list[bytes] = []
    size = 0
    with anyio.fail_after(timeout):
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _TooLarge
            chunks.append(chunk)
    return b"".join(chunks)


def build_app(
    secret: bytes,
    queue: Queue,
    *,
    on_accept: Callable[[AdvisoryEvent, int], None],
    require_repository: bool = False,
    max_body: int = MAX_BODY,
    read_timeout: float = READ_TIMEOUT,
) -> Starlette:
    """The receiver; ``on_accept(event, job_id)`` runs after each job is committed.

    ``require_repository`` ignores events that name no repository (``"no repository"``): the
    dispatch mode has nowhere to send them.
    """
    if not secret:
        raise ValueError("the webhook secret is empty")

    async def webhook(request: Request) -> Response:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > max_body):
            return _error(413, f"the body is over {max_body} bytes", close=True)
        header = request.headers.get(signature.HEADER)
        if not header:
            return _error(401, f"missing {signature.HEADER}", close=True)
        try:
            body = await _read_body(request, max_body, read_timeout)
        except _TooLarge:
            return _error(413, f"the body is over {max_body} bytes", close=True)
        except TimeoutError:
            return _error(408, f"the body took over {read_timeout:g}s", close=True)
        except ClientDisconnect:
            return Response(status_code=400, headers=_CLOSE)
        if not signature.verify(secret, body, header):
            return _error(401, f"{signature.HEADER} does not match the body")
        event_name = request.headers.get("x-github-event")
        delivery = request.headers.get("x-github-delivery")
        if not event_name:
            return _error(400, "missing header X-GitHub-Event", field="X-GitHub-Event")
        if not delivery:
            return _error(400, "missing header X-GitHub-Delivery", field="X-GitHub-Delivery")
        try:
            parsed = parse_event(event_name, delivery, body)
        except PayloadError as exc:
            return _error(400, str(exc), field=exc.field)
        if isinstance(parsed, Ignored):
            return JSONResponse({"ignored": parsed.reason}, 200)
        if require_repository and parsed.repository is None:
            return JSONResponse({"ignored": "no repository"}, 200)
        job = await run_in_threadpool(queue.enqueue, parsed)
        if job is None:
            return JSONResponse({"ignored": "duplicate"}, 200)
        on_accept(parsed, job)
        return JSONResponse({"job": job}, 202)

    async def healthz(request: Request) -> Response:
        counts = await run_in_threadpool(queue.counts)
        depth = counts["pending"] + counts["running"]
        return JSONResponse({"status": "ok", "depth": depth, "jobs": dict(counts)})

    return Starlette(
        routes=[
            Route("/webhook", webhook, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )
