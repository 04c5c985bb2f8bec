"""depbot's command line: parse, call the app and the pipeline, render, exit code.

Thin: the collaborators are built by ``depbot.app``. This is the only module that reads the
process environment and the only place where errors become exit codes (SPEC §7: 0 done, 1 could
not do its job, 2 bad input).
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TextIO, cast

from depbot import __version__, app, pipeline, render
from depbot.errors import DepbotError, InputError
from depbot.secrets import RedactingStream
from depbot.terminal import Context

__all__ = ["main"]

FORMATS = ("text", "json", "markdown")
TRIGGERS = ("weekly", "security", "manual")
FORGES = ("local", "github", "auto")
_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="depbot",
        description="Dependency updates for pip-compile projects: tested, bisected, rolled back.",
    )
    parser.add_argument("--version", action="version", version=f"depbot {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--repo", type=Path, default=Path(), help="the repository (default: .)")
        p.add_argument("--format", choices=FORMATS, default="text", help="output format")

    common(sub.add_parser("plan", help="the dry run: discover, check, classify, batch"))
    run = sub.add_parser("run", help="the whole pipeline: relock, test, bisect, publish")
    common(run)
    run.add_argument("--trigger", choices=TRIGGERS, default="manual")
    run.add_argument("--forge", choices=FORGES, default="auto")
    run.add_argument("--dry-run", action="store_true", help="stop before publishing")
    run.add_argument(
        "--retry", action="store_true", help="try again the versions rolled back before"
    )
    run.add_argument(
        "--package",
        action="append",
        default=[],
        type=_package_name,
        metavar="NAME",
        help="with --trigger security: a package an advisory names; it is tested first",
    )
    run.add_argument(
        "--lock-timeout",
        type=_seconds,
        default=600.0,
        metavar="SECONDS",
        help="how long to wait for another run on this repository to finish (default: 600)",
    )
    status = sub.add_parser("status", help="open batches and rolled-back updates")
    common(status)
    status.add_argument("--forge", choices=FORGES, default="auto")
    demo = sub.add_parser("demo", help="the whole pipeline on a throwaway project, offline")
    demo.add_argument("--keep", type=Path, metavar="DIR", help="build the demo in DIR, keep it")
    demo.add_argument("--format", choices=FORMATS, default="text", help="output format")
    from depbot.server import add_serve_arguments  # stdlib-only: the web stack loads on use

    add_serve_arguments(sub.add_parser("serve", help="the security-advisory webhook receiver"))
    return parser


def _package_name(value: str) -> str:
    """A PEP 508 project name (argparse's ``type``: a bad one is exit 2 naming the option)."""
    if not _NAME.fullmatch(value):
        raise argparse.ArgumentTypeError(f"not a package name: {value!r}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}")
    return value


NOTHING_LOOKED_UP = "depbot: no package could be looked up on the index\n"


def cmd_plan(args: argparse.Namespace, ctx: Context) -> int:
    planned = app.plan_repo(app.repository(args.repo), ctx.env)
    result = planned.plan
    if args.format == "json":
        ctx.out.write(render.to_json(render.plan_json(result)) + "\n")
        for e in result.source_errors:
            ctx.err.write(f"depbot: advisory source failed: {e}\n")
    elif args.format == "markdown":
        ctx.out.write(render.plan_markdown(result))
    else:
        render.plan_text(result, ctx.console())
    if pipeline.nothing_looked_up(planned):
        ctx.err.write(NOTHING_LOOKED_UP)
        return 1
    return 1 if result.source_errors else 0


def _print_run(fmt: str, trigger: str, report: app.RunReport, ctx: Context) -> int:
    """Writes a run's outcomes and what it skipped in ``fmt``; its exit code."""
    outcomes, skipped = report.outcomes, report.plan.skipped
    if fmt == "json":
        ctx.out.write(render.to_json(render.run_json(trigger, outcomes, skipped)) + "\n")
    elif fmt == "markdown":
        ctx.out.write(render.run_markdown(trigger, outcomes, skipped))
    else:
        render.run_text(trigger, outcomes, ctx.console(), skipped)
    for e in report.source_errors:
        ctx.err.write(f"depbot: advisory source failed: {e}\n")
    if report.nothing_looked_up:
        ctx.err.write(NOTHING_LOOKED_UP)
    return 1 if report.failed else 0


def cmd_run(args: argparse.Namespace, ctx: Context) -> int:
    repo = app.repository(args.repo)
    with ctx.activity():
        report = app.run_repo(
            repo,
            ctx.env,
            trigger=args.trigger,
            forge_choice=args.forge,
            dry_run=args.dry_run,
            retry=args.retry,
            packages=args.package,
            progress=ctx.progress,
            lock_timeout=args.lock_timeout,
        )
    return _print_run(args.format, args.trigger, report, ctx)


def cmd_status(args: argparse.Namespace, ctx: Context) -> int:
    status = app.status_repo(app.repository(args.repo), ctx.env, forge_choice=args.forge)
    doc = render.status_json(
        status.open_batches, status.remembered, status.rollbacks, status.now, status.jobs
    )
    if args.format == "json":
        ctx.out.write(render.to_json(doc) + "\n")
    elif args.format == "markdown":
        ctx.out.write(render.status_markdown(doc))
    else:
        render.status_text(doc, ctx.console())
    return 0


def cmd_demo(args: argparse.Namespace, ctx: Context) -> int:
    from depbot.demo import run_demo  # the demo's builders are not needed by other commands

    return run_demo(args.keep, args.format, ctx)


def cmd_serve(args: argparse.Namespace, ctx: Context) -> int:
    from depbot.server import serve

    def run_security(repo: Path, packages: tuple[str, ...]) -> int:
        # the security batch holds every affected package; the event's lead it
        report = app.run_repo(
            repo, ctx.env, trigger="security", forge_choice="auto", packages=packages
        )
        return _print_run("text", "security", report, ctx)

    return serve(args, ctx.env, ctx.err, run_security)


COMMANDS: dict[str, Callable[[argparse.Namespace, Context], int]] = {
    "plan": cmd_plan,
    "run": cmd_run,
    "status": cmd_status,
    "demo": cmd_demo,
    "serve": cmd_serve,
}


def main(
    argv: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Runs one depbot command and returns its exit code (SPEC §7)."""
    _fewer_collections()
    environ = os.environ if env is None else env
    # the output boundary: whatever any step prints, no secret of the environment gets out
    hidden = app.secrets(environ)
    streams = (
        RedactingStream(sys.stdout if out is None else out, hidden),
        RedactingStream(sys.stderr if err is None else err, hidden),
    )
    ctx = Context(env=environ, out=cast(TextIO, streams[0]), err=cast(TextIO, streams[1]))
    try:
        return _dispatch(argv, ctx)
    finally:
        for stream in streams:
            stream.flush()


def _fewer_collections() -> None:
    """A plan allocates tens of thousands of small objects, nearly none in a cycle (a big
    page's files): with CPython's default of a collection every 700 allocations, the cycle
    collector took a sixth of a cold plan. Reference counting frees them; collections
    still run, every 100,000."""
    young, *older = gc.get_threshold()
    gc.set_threshold(max(young, 100_000), *older)


def _dispatch(argv: Sequence[str] | None, ctx: Context) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse's own exits: --help is 0, a usage error is 2
        return int(exc.code or 0)
    try:
        return COMMANDS[args.command](args, ctx)
    except InputError as exc:
        ctx.err.write(f"depbot: error: {exc}\n")
        return 2
    except DepbotError as exc:
        ctx.err.write(f"depbot: {exc}\n")
        return 1
    except KeyboardInterrupt:
        ctx.err.write("depbot: interrupted\n")
        return 130
