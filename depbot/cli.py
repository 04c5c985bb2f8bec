"""depbot's command line: parse, build the collaborators, call the pipeline, render, exit code.

This is the composition root: the only module that reads the process environment and the
only place where errors become exit codes (SPEC §7: 0 done, 1 could not do its job, 2 bad input).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from rich.console import Console

from depbot import __version__, pipeline, render
from depbot.advisories import build_sources
from depbot.config import Config, load_config
from depbot.errors import DepbotError, InputError
from depbot.index import build_index
from depbot.models import Lockfile

__all__ = ["main"]

FORMATS = ("text", "json", "markdown")


@dataclass(frozen=True)
class Context:
    """What every command gets: the environment and where to write."""

    env: Mapping[str, str]
    out: TextIO
    err: TextIO

    def console(self) -> Console:
        return Console(file=self.out, highlight=False, soft_wrap=True)

    def stderr(self) -> Console:
        return Console(file=self.err, highlight=False, soft_wrap=True)

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


def cmd_plan(args: argparse.Namespace, ctx: Context) -> int:
    repo = _repo(args.repo)
    config = load_config(repo, ctx.env)
    lockfiles = _lockfiles(repo, config)
    index = build_index(
        config.index_url, config.extra_index_urls, lockfiles, ctx.cache_dir() / "http"
    )
    sources = build_sources(config.advisories, repo, config.osv_url, ctx.env)
    planned = pipeline.plan(lockfiles, config, index, sources)
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


COMMANDS: dict[str, Callable[[argparse.Namespace, Context], int]] = {"plan": cmd_plan}


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
