"""The one composition root: builds depbot's collaborators for a repository and runs them.

Configuration, the index, the advisory sources, the lock backend, the forge, the store and the
scratch checkout are built here and nowhere else; the CLI, the demo and the webhook worker all
call these functions. This module reads the environment mapping it is given (never
``os.environ``) and decides which part of it each tool may see.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from depbot import pipeline
from depbot.advisories import build_sources
from depbot.config import SECRET_VARIABLES, Config, load_config
from depbot.errors import InputError
from depbot.index import Index, build_index
from depbot.lock.interface import LockBackend, LockError, LockIndex
from depbot.ml.lookup import VariantLookup
from depbot.models import BatchOutcome, Lockfile, Plan

# What only `run` and `status` use is imported where they use it: `plan` starts without git,
# the lock backends or the run store.
if TYPE_CHECKING:
    from depbot.forge.interface import Forge, OpenBatch
    from depbot.server.queue import Job
    from depbot.stages.relock import BackendFor
    from depbot.state.store import BatchRecord, RollbackRecord

__all__ = [
    "PLAN_FRESHNESS",
    "RunReport",
    "StatusReport",
    "build_backends",
    "build_forge",
    "cache_dir",
    "plan_repo",
    "repository",
    "run_repo",
    "secrets",
    "state_dir",
    "status_repo",
    "tool_environment",
]

PLAN_FRESHNESS = 600.0
"""Seconds an index page is trusted by ``plan`` (PyPI serves its simple pages for as long)."""

Progress = Callable[[str], None]


def _quiet(_message: str) -> None:
    pass


# ---------------------------------------------------------------------------- where things are


def repository(path: Path) -> Path:
    """``path`` resolved; InputError when it is not a directory."""
    repo = path.resolve()
    if not repo.is_dir():
        raise InputError(f"{path}: --repo is not a directory")
    return repo


def cache_dir(env: Mapping[str, str]) -> Path:
    """The per-user cache (HTTP pages), following each platform's convention."""
    if env.get("DEPBOT_CACHE_DIR"):
        return Path(env["DEPBOT_CACHE_DIR"])
    if sys.platform == "win32" and env.get("LOCALAPPDATA"):
        return Path(env["LOCALAPPDATA"]) / "depbot" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "depbot"
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "depbot"


def state_dir(repo: Path) -> Path:
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


def secrets(env: Mapping[str, str]) -> tuple[str, ...]:
    """The secret values set in ``env``: what no output may show."""
    return tuple(env[n] for n in SECRET_VARIABLES if env.get(n))


# what a lock tool, an installer and a test suite need to work, and nothing that authenticates
_TOOL_VARIABLES = frozenset(
    {
        "PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TMP", "TEMP",
        "CI", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "PYENV_ROOT", "PYENV_VERSION",
        "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
        "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
        "SYSTEMROOT", "SYSTEMDRIVE", "COMSPEC", "PATHEXT", "WINDIR", "APPDATA", "LOCALAPPDATA",
        "USERPROFILE", "PROGRAMDATA",
    }
)  # fmt: skip
_TOOL_PREFIXES = ("LC_", "PIP_", "UV_")


def tool_environment(env: Mapping[str, str], pass_env: Sequence[str] = ()) -> dict[str, str]:
    """The environment of every tool depbot runs (pip-compile, uv, pip, the tests): an
    allow-list plus the names of ``pass-env``; never a secret of SPEC §8."""
    wanted = _TOOL_VARIABLES | {n.upper() for n in pass_env}
    secret = set(SECRET_VARIABLES)
    return {
        name: value
        for name, value in env.items()
        if name.upper() not in secret
        and (name.upper() in wanted or name.upper().startswith(_TOOL_PREFIXES))
    }


# ---------------------------------------------------------------------------- collaborators


def _lockfiles(repo: Path, config: Config) -> tuple[Lockfile, ...]:
    lockfiles = pipeline.discover_lockfiles(repo, config)
    if not lockfiles:
        raise InputError(
            f"{repo}: no pip-compile or uv lockfile found in the root, requirements/ or"
            " constraints/ (list others under 'lockfiles' in [tool.depbot])"
        )
    return lockfiles


def build_backends(config: Config, env: Mapping[str, str]) -> BackendFor:
    """The lock backend ``lock-backend`` names, for each Python a lockfile was compiled with
    (an interpreter of that version; pip-tools installed for it when it is not depbot's own).
    ``env`` is the tools' environment."""
    from depbot.lock.interface import MissingPython
    from depbot.lock.interpreters import Interpreters
    from depbot.lock.piptools import PipToolsBackend, tool_python
    from depbot.lock.uv import UvBackend

    interpreters = Interpreters(config.pythons, env)
    tools = cache_dir(env) / "tools"
    built: dict[str | None, LockBackend | LockError] = {}

    def backend_for(version: str | None) -> LockBackend:
        if version not in built:
            found = interpreters.find(version)
            try:
                if found is None:
                    raise MissingPython(version or "")
                if config.lock_backend == "uv":
                    built[version] = UvBackend(python=str(found.path), timeout=config.lock_timeout)
                else:
                    python = str(tool_python(found, tools, env))
                    built[version] = PipToolsBackend(python, timeout=config.lock_timeout)
            except LockError as exc:
                built[version] = exc
        result = built[version]
        if isinstance(result, LockError):
            raise result
        return result

    return backend_for


def build_forge(choice: str, repo: Path, env: Mapping[str, str]) -> Forge:
    """The forge ``--forge`` names (SPEC §8): ``github`` needs a token and the repository
    (InputError naming what is missing); ``auto`` is GitHub when a token and a GitHub ``origin``
    are present, else the local repository."""
    from depbot.forge.local import LocalForge

    if choice != "local":
        from depbot.forge.github import GitHubForge, github_settings, wants_github

        settings = github_settings(repo, env)
        if wants_github(choice, settings) and settings is not None:
            return GitHubForge(repo, settings, state_dir=state_dir(repo))
    return LocalForge(repo, state_dir=state_dir(repo))


# ---------------------------------------------------------------------------- commands


def plan_repo(
    repo: Path, env: Mapping[str, str], *, freshness: float = PLAN_FRESHNESS
) -> pipeline.Planned:
    """Discover, check, classify and batch ``repo`` as it is on disk (writes nothing).

    Index pages younger than ``freshness`` seconds are used without asking the index again.
    """
    config = load_config(repo, env)
    lockfiles = _lockfiles(repo, config)
    index = build_index(
        config.index_url,
        config.extra_index_urls,
        lockfiles,
        cache_dir(env) / "http",
        freshness=freshness,
        timeout=config.index_timeout,
    )
    sources = build_sources(config.advisories, repo, config.osv_url, env)
    return pipeline.plan(lockfiles, config, index, sources, ml=_ml_lookup(config, env, freshness))


def _ml_lookup(config: Config, env: Mapping[str, str], freshness: float) -> VariantLookup:
    """The torch family's variant indexes, cached like the main index's pages."""
    from depbot.ml.metadata import MetadataReader, http_fetch

    def index_for(url: str) -> Index:
        return build_index(
            url, (), (), cache_dir(env) / "http", freshness=freshness, timeout=config.index_timeout
        )

    fetch = http_fetch(timeout=config.index_timeout)
    return VariantLookup(config.ml, index_for, MetadataReader(fetch))


@dataclass(frozen=True)
class RunReport:
    """What ``run`` did: each batch's outcome, and the advisory sources that failed."""

    config: Config
    plan: Plan
    outcomes: tuple[BatchOutcome, ...]
    nothing_looked_up: bool = False
    """Every pinned package's lookup failed (``pipeline.nothing_looked_up``)."""

    @property
    def source_errors(self) -> tuple[str, ...]:
        return self.plan.source_errors

    @property
    def failed(self) -> bool:
        """Whether the run could not do its job (exit 1)."""
        failed = any(o.status == "failed" for o in self.outcomes)
        return bool(self.source_errors) or failed or self.nothing_looked_up


def run_repo(
    repo: Path,
    env: Mapping[str, str],
    *,
    trigger: str = "manual",
    forge_choice: str = "local",
    dry_run: bool = False,
    retry: bool = False,
    packages: Sequence[str] = (),
    progress: Progress = _quiet,
    lock_timeout: float = 600.0,
) -> RunReport:
    """The whole pipeline on ``repo`` under its run lock (waited for up to ``lock_timeout``
    seconds, saying so through ``progress``), in a scratch checkout of HEAD; ``packages`` (an
    advisory event's) lead the security batch."""
    from depbot.forge.git import Git, head_commit, repair, scratch_checkout, temp_dir
    from depbot.state.lock import RunLock
    from depbot.state.store import Store, store_path

    state = state_dir(repo)
    if not Git(repo).ok("rev-parse", "--verify", "--quiet", "HEAD^{commit}"):
        raise InputError(f"{repo}: the repository has no commit yet (depbot builds on HEAD)")
    forge = build_forge(forge_choice, repo, env)
    with (
        RunLock(state / "lock", timeout=lock_timeout, waiting=progress),
        Store(store_path(state), secrets=secrets(env)) as store,
    ):
        # under the lock, nothing of depbot's is in use: what a killed run left goes
        repair(repo, state)
        if retry:
            store.clear_rollbacks()
        run_id = store.start_run(trigger)
        with (
            _temporary_files_in(temp_dir(state)),
            scratch_checkout(repo, state / "work" / "checkout") as scratch,
        ):
            with _named_for_the_user(scratch, repo):
                config = load_config(scratch, env)
                progress("checking the index and the advisories")
                # a run acts on what it finds: every page is revalidated (a fix released a
                # minute ago, announced by the advisory webhook, must be seen)
                planned = plan_repo(scratch, env, freshness=0)
            tool_env = _in_temp_dir(tool_environment(env, config.pass_env), temp_dir(state))
            tools = pipeline.RunTools(
                backends=build_backends(config, tool_env),
                index=LockIndex(config.index_url, config.extra_index_urls),
                forge=forge,
                store=store,
                state_dir=state,
                env=tool_env,
                base=head_commit(scratch),
                tree=Git(scratch).run("rev-parse", "HEAD^{tree}"),
                progress=progress,
                secrets=secrets(env),
            )
            outcomes = pipeline.run(
                scratch, planned, config, tools, trigger=trigger, dry_run=dry_run, first=packages
            )
        report = RunReport(config, planned.plan, outcomes, pipeline.nothing_looked_up(planned))
        store.finish_run(run_id, "failed" if report.failed else "done")
    return report


def _in_temp_dir(env: Mapping[str, str], tmp: Path) -> dict[str, str]:
    """``env`` with the tools' temporary files (pip's, pip-compile's, the tests') in ``tmp``,
    which the next run clears whatever happens to this one."""
    return {**env, "TMPDIR": str(tmp), "TMP": str(tmp), "TEMP": str(tmp)}


@contextlib.contextmanager
def _temporary_files_in(tmp: Path) -> Iterator[None]:
    """depbot's own temporary files (captured tool output, pip-audit's folder) in ``tmp`` too:
    none is left in the system's temporary folder when the run is killed, not even the probe
    file Python writes there the first time it looks for that folder."""
    previous, tempfile.tempdir = tempfile.tempdir, str(tmp)
    try:
        yield
    finally:
        tempfile.tempdir = previous


@contextlib.contextmanager
def _named_for_the_user(scratch: Path, repo: Path) -> Iterator[None]:
    """Bad input found in the scratch checkout names the user's file, not depbot's copy."""
    try:
        yield
    except InputError as exc:
        raise InputError(str(exc).replace(str(scratch), str(repo))) from None


@dataclass(frozen=True)
class StatusReport:
    """What is open on the forge and what depbot remembers, at ``now``."""

    open_batches: tuple[OpenBatch, ...]
    remembered: Mapping[str, BatchRecord]
    rollbacks: tuple[RollbackRecord, ...]
    now: datetime
    jobs: tuple[Job, ...] = ()
    """The webhook's jobs for this repository not done yet (``depbot serve --repo``)."""


def status_repo(repo: Path, env: Mapping[str, str], *, forge_choice: str = "auto") -> StatusReport:
    """Open batches (and PRs) and rolled-back updates of ``repo`` (writes nothing but the store
    file)."""
    from depbot.state.store import Store, reconciled, store_path

    state = state_dir(repo)
    with Store(store_path(state)) as store:
        remembered = {b.id: b for b in store.batches()}
        rollbacks = store.rollbacks()
    from depbot.server.queue import queue_path, unfinished_jobs

    forge = build_forge(forge_choice, repo, env)
    published = forge.open_batches()
    # the forge is the truth (a run killed between publishing and remembering); told as it
    # is, not written: the next run, under the lock, writes it
    remembered.update({b.id: b for b in reconciled(remembered.values(), published)})
    jobs = unfinished_jobs(queue_path(state))
    return StatusReport(published, remembered, rollbacks, datetime.now(timezone.utc), jobs)
