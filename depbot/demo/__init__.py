"""The offline demo: tiny wheels, a loopback index, a sample project, the whole pipeline.

``depbot demo`` builds everything in a temporary folder (or ``--keep DIR``), runs ``plan`` and
``run --forge local`` on it exactly as a user would on their repository, and shows what
happened: the update that broke a test rolled back, the rest published on branches.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from depbot import app, render
from depbot.demo.index_server import serve_index
from depbot.demo.project import build_project, new_releases, old_releases
from depbot.errors import InputError
from depbot.forge.git import Git

if TYPE_CHECKING:
    from depbot.terminal import Context

__all__ = ["run_demo"]


def _demo_env(ctx_env: dict[str, str], index_url: str, cache: Path) -> dict[str, str]:
    """The user's environment without pip's configuration: the demo's index is the only one."""
    env = {k: v for k, v in ctx_env.items() if not k.startswith(("PIP_", "UV_"))}
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_INDEX_URL=index_url,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        DEPBOT_CACHE_DIR=str(cache),
    )
    return env


def run_demo(keep: Path | None, fmt: str, ctx: Context) -> int:
    """Builds the demo under ``keep`` (or a temporary folder) and runs the pipeline on it."""
    if keep is not None and keep.exists() and any(keep.iterdir()):
        raise InputError(f"{keep}: --keep needs a new or empty folder")
    root = keep.resolve() if keep is not None else Path(tempfile.mkdtemp(prefix="depbot-demo-"))
    started = time.monotonic()
    say = ctx.console() if fmt == "text" else None
    try:
        with serve_index(root / "index", old_releases()) as index:
            env = _demo_env(dict(ctx.env), index.url, root / "cache")
            ctx.progress(f"building the sample project and its index in {root}")
            project = build_project(root, index, env)
            # what arrived since the lockfile was compiled
            index.add(*new_releases())

            if say:
                say.rule("depbot plan: what is new")
            planned = app.plan_repo(project.repo, env)
            if say:
                render.plan_text(planned.plan, say)
                say.rule("depbot run --forge local: relock, test, bisect, publish")
            with ctx.activity():
                report = app.run_repo(
                    project.repo, env, forge_choice="local", progress=ctx.progress
                )
            outcomes = report.outcomes
        if fmt == "json":
            ctx.out.write(render.to_json(render.run_json("manual", outcomes)) + "\n")
        elif fmt == "markdown":
            ctx.out.write(render.run_markdown("manual", outcomes))
        elif say:
            render.run_text("manual", outcomes, say)
            say.rule("the result")
            say.print(_branches(project.repo), markup=False, highlight=False)
            say.print(
                f"Done in {time.monotonic() - started:.0f} s. "
                + (
                    f"Kept in {root}: try `git -C {project.repo} log depbot/minor`."
                    if keep is not None
                    else "Run `depbot demo --keep DIR` to look around afterwards."
                ),
                markup=False,
                highlight=False,
            )
        return 1 if report.failed else 0
    finally:
        if keep is None:
            shutil.rmtree(root, ignore_errors=True)


def _branches(repo: Path) -> str:
    out = Git(repo).run(
        "for-each-ref", "--format=%(refname:short)  %(subject)", "refs/heads/depbot/"
    )
    return "Branches published:\n" + "".join(f"  {line}\n" for line in out.splitlines())
