"""depbot's command line: parse, build the collaborators, call the pipeline, render, exit code.

This is the composition root: the only module that reads the process environment and the
only place where errors become exit codes (SPEC §7: 0 done, 1 could not do its job, 2 bad input).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from depbot import __version__, pipeline, render
from depbot.advisories import build_sources
from depbot.config import Config, load_config
from depbot.errors import DepbotError, InputError, RunError
from depbot.index import build_index
from depbot.lock.interface import LockBackend, LockIndex
from depbot.models import BatchOutcome, Lockfile

# What only `run` and `status` use is imported where they use it: `plan` starts without git,
# the lock backends or the run store.
if TYPE_CHECKING:
    from rich.console import Console
    from rich.status import Status

    from depbot.forge.local import LocalForge

__all__ = ["main"]

FORMATS = ("text", "json", "markdown")
TRIGGERS = ("weekly", "security", "manual")
PLAN_FRESHNESS = 600.0
"""Seconds an index page is trusted by ``plan`` (PyPI serves its simple pages for as long)."""


@dataclass(frozen=True)
class Context:
    """What every command gets: the environment and where to write."""

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

    def cache_dir(self) -> Path:
        """The per-user cache (HTTP pages), following each platform's convention."""
        if self.env.get("DEPBOT_CACHE_DIR"):
            return Path(self.env["DEPBOT_CACHE_DIR"])
        if sys.platform == "win32" and self.env.get("LOCALAPPDATA"):
            return Path(self.env["LOCALAPPDATA"]) / "depbot" / "Cache"
        if sys.platform == "darwin":
            return Path.home() / "Library" / "Caches" / "depbot"
        base = self.env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(base) / "depbot"


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
    run.add_argument("--forge", choices=("local", "github", "auto"), default="auto")
    run.add_argument("--dry-run", action="store_true", help="stop before publishing")
    run.add_argument(
        "--retry", action="store_true", help="try again the versions rolled back before"
    )
    common(sub.add_parser("status", help="open batches and rolled-back updates"))
    demo = sub.add_parser("demo", help="the whole pipeline on a throwaway project, offline")
    demo.add_argument("--keep", type=Path, metavar="DIR", help="build the demo in DIR, keep it")
    demo.add_argument("--format", choices=FORMATS, default="text", help="output format")
    from depbot.server import add_serve_arguments  # stdlib-only: the web stack loads on use

    add_serve_arguments(sub.add_parser("serve", help="the security-advisory webhook receiver"))
    return parser


def _repo(path: Path) -> Path:
    repo = path.resolve()
    if not repo.is_dir():
        raise InputError(f"{path}: --repo is not a directory")
    return repo


def _lockfiles(repo: Path, config: Config) -> tuple[Lockfile, ...]:
    lockfiles = pipeline.discover_lockfiles(repo, config)
    if not lockfiles:
        raise InputError(
            f"{repo}: no pip-compile or uv lockfile found in the root, requirements/ or"
            " constraints/ (list others under 'lockfiles' in [tool.depbot])"
        )
    return lockfiles


def plan_repo(repo: Path, ctx: Context, *, freshness: float = PLAN_FRESHNESS) -> pipeline.Planned:
    """Discover, check, classify and batch ``repo`` as it is on disk (writes nothing).

    Index pages younger than ``freshness`` seconds are used without asking the index again.
    """
    config = load_config(repo, ctx.env)
    lockfiles = _lockfiles(repo, config)
    index = build_index(
        config.index_url,
        config.extra_index_urls,
        lockfiles,
        ctx.cache_dir() / "http",
        freshness=freshness,
    )
    sources = build_sources(config.advisories, repo, config.osv_url, ctx.env)
    return pipeline.plan(lockfiles, config, index, sources)


def cmd_plan(args: argparse.Namespace, ctx: Context) -> int:
    planned = plan_repo(_repo(args.repo), ctx)
    lockfiles = planned.lockfiles
    result = planned.plan
    if args.format == "json":
        ctx.out.write(render.to_json(render.plan_json(result)) + "\n")
        for e in result.source_errors:
            ctx.err.write(f"depbot: advisory source failed: {e}\n")
    elif args.format == "markdown":
        ctx.out.write(render.plan_markdown(result))
    else:
        render.plan_text(result, ctx.console())
    names = {p.name for lf in lockfiles for p in lf.pins}
    if names and len({s.name for s in result.skipped} & names) == len(names):
        ctx.err.write("depbot: no package could be looked up on the index\n")
        return 1
    return 1 if result.source_errors else 0


def _state_dir(repo: Path) -> Path:
    """depbot's state directory in the git directory of ``repo``; InputError when ``repo`` is
    not a git repository (``run`` and ``status`` keep their branches and state in git)."""
    from depbot.forge.git import depbot_dir
    from depbot.forge.interface import ForgeError

    try:
        return depbot_dir(repo)
    except ForgeError as exc:
        if "not a git repository" not in str(exc):
            raise
        raise InputError(f"{repo}: not a git repository") from None


def _forge(choice: str, repo: Path, env: Mapping[str, str]) -> LocalForge:
    from depbot.forge.local import LocalForge

    token = env.get("GITHUB_TOKEN") or env.get("DEPBOT_GITHUB_TOKEN")
    if choice == "github" or (choice == "auto" and token and _has_github_remote(repo)):
        raise RunError("the GitHub forge is not available in this version; use --forge local")
    return LocalForge(repo)


def _has_github_remote(repo: Path) -> bool:
    from depbot.forge.git import remote_url

    return "github" in (remote_url(repo, "origin") or "")


def _backend(config: Config) -> LockBackend:
    from depbot.lock.piptools import PipToolsBackend
    from depbot.lock.uv import UvBackend

    return UvBackend() if config.lock_backend == "uv" else PipToolsBackend()


def execute_run(
    repo: Path,
    ctx: Context,
    *,
    trigger: str = "manual",
    forge_choice: str = "local",
    dry_run: bool = False,
    retry: bool = False,
) -> tuple[Config, tuple[BatchOutcome, ...], tuple[str, ...]]:
    """The whole pipeline on ``repo`` under its run lock; the outcomes and source errors."""
    from depbot.forge.git import scratch_checkout
    from depbot.stages.remember import RunLock, Store, store_path

    state = _state_dir(repo)
    forge = _forge(forge_choice, repo, ctx.env)
    with RunLock(state / "lock", timeout=600), Store(store_path(state)) as store:
        if retry:
            store.clear_rollbacks()
        run_id = store.start_run(trigger)
        with scratch_checkout(repo, state / "work" / "checkout") as scratch:
            config = load_config(scratch, ctx.env)
            ctx.progress("checking the index and the advisories")
            # a run acts on what it finds: every page is revalidated (a fix released a minute
            # ago, announced by the advisory webhook, must be seen)
            planned = plan_repo(scratch, ctx, freshness=0)
            tools = pipeline.RunTools(
                backend=_backend(config),
                index=LockIndex(config.index_url, config.extra_index_urls),
                forge=forge,
                store=store,
                state_dir=state,
                env=ctx.env,
                progress=ctx.progress,
                secrets=_secrets(ctx.env),
            )
            outcomes = pipeline.run(
                scratch, planned, config, tools, trigger=trigger, dry_run=dry_run
            )
        failed = any(o.status == "failed" for o in outcomes)
        store.finish_run(run_id, "failed" if failed else "done")
    return config, outcomes, planned.plan.source_errors


def _secrets(env: Mapping[str, str]) -> tuple[str, ...]:
    names = ("GITHUB_TOKEN", "DEPBOT_GITHUB_TOKEN", "DEPBOT_WEBHOOK_SECRET", "SAFETY_API_KEY")
    return tuple(env[n] for n in names if env.get(n))


def _print_run(
    fmt: str, trigger: str, outcomes: Sequence[BatchOutcome], errors: Sequence[str], ctx: Context
) -> int:
    if fmt == "json":
        ctx.out.write(render.to_json(render.run_json(trigger, outcomes)) + "\n")
    elif fmt == "markdown":
        ctx.out.write(render.run_markdown(trigger, outcomes))
    else:
        render.run_text(trigger, outcomes, ctx.console())
    for e in errors:
        ctx.err.write(f"depbot: advisory source failed: {e}\n")
    failed = any(o.status == "failed" for o in outcomes)
    return 1 if failed or errors else 0


def cmd_run(args: argparse.Namespace, ctx: Context) -> int:
    repo = _repo(args.repo)
    with ctx.activity():
        _, outcomes, errors = execute_run(
            repo,
            ctx,
            trigger=args.trigger,
            forge_choice=args.forge,
            dry_run=args.dry_run,
            retry=args.retry,
        )
    return _print_run(args.format, args.trigger, outcomes, errors, ctx)


def cmd_status(args: argparse.Namespace, ctx: Context) -> int:
    from depbot.forge.local import LocalForge
    from depbot.stages.remember import Store, store_path

    repo = _repo(args.repo)
    state = _state_dir(repo)
    with Store(store_path(state)) as store:
        remembered = {b.id: b for b in store.batches()}
        rollbacks = store.rollbacks()
    open_batches = LocalForge(repo).open_batches()
    now = datetime.now(timezone.utc)
    doc = render.status_json(open_batches, remembered, rollbacks, now)
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

    def run_security(repo: Path, packages: tuple[str, ...]) -> int:  # packages: app.py's job
        _, outcomes, errors = execute_run(repo, ctx, trigger="security", forge_choice="local")
        return _print_run("text", "security", outcomes, errors, ctx)

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
    ctx = Context(
        env=os.environ if env is None else env,
        out=sys.stdout if out is None else out,
        err=sys.stderr if err is None else err,
    )
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
