"""The lock seam: a tool that regenerates lockfiles and installs them (pip-tools or uv).

The parts every backend shares live here too: how a lockfile's header command is replayed
(which options are dropped, where its sources are), the validation of the ``name==version``
arguments before they reach any command (SPEC §9), and how the original lockfile's header and
option lines are kept while its requirements are replaced.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from depbot.errors import RunError
from depbot.models import Lockfile

__all__ = [
    "CompileCommand",
    "LockBackend",
    "LockError",
    "LockIndex",
    "Unresolvable",
    "compile_command",
    "compile_scratch",
    "index_arguments",
    "index_options",
    "keep_preamble",
    "output_tail",
    "pin_argument",
    "run_tool",
    "venv_python",
    "working_directory",
]


class LockError(RunError):
    """The lock tool could not do its job (not installed, index unreachable, bad command)."""


class Unresolvable(LockError):
    """The requested pins cannot be resolved together; ``message`` is the resolver's reason."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class LockIndex:
    """Where a lock tool resolves and installs when the lockfile names no index of its own."""

    index_url: str | None = None
    """None: as the tool is configured (pip's configuration for pip-tools, PyPI for uv)."""
    extra_index_urls: tuple[str, ...] = ()


class LockBackend(ABC):
    """Regenerates a lockfile with some pins moved, and builds environments from lockfiles.

    ``env`` is the complete environment of the tool's subprocesses; backends never read the
    process environment.
    """

    name: str
    """``"pip-tools"`` or ``"uv"``, as ``lock-backend`` spells it."""

    @abstractmethod
    def relock(
        self,
        repo: Path,
        lockfile: Lockfile,
        upgrades: Mapping[NormalizedName, Version],
        index: LockIndex,
        env: Mapping[str, str],
    ) -> str:
        """The new text of ``lockfile`` with ``upgrades`` applied and every other pin held.

        Runs the lockfile's own compile command in ``repo`` (a scratch copy: nothing there is
        written). Raises Unresolvable when the pins cannot be resolved, LockError otherwise.
        """

    @abstractmethod
    def create_venv(self, path: Path, env: Mapping[str, str]) -> Path:
        """Creates an empty virtual environment at ``path``; returns its interpreter."""

    @abstractmethod
    def sync(
        self,
        python: Path,
        lockfiles: Sequence[Path],
        index: LockIndex,
        env: Mapping[str, str],
    ) -> None:
        """Makes the environment of ``python`` hold exactly the pins of ``lockfiles``."""

    @abstractmethod
    def install_project(
        self, python: Path, project: Path, index: LockIndex, env: Mapping[str, str]
    ) -> None:
        """Installs ``project`` (editable, without dependencies) into the environment."""


# ---------------------------------------------------------------------------- arguments

# PEP 508 names, after PEP 503 normalisation
_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?$")


def pin_argument(name: str, version: Version | str) -> str:
    """``name==version`` for a command line, after checking both (PEP 508, PEP 440).

    Raises LockError for anything that is not a plain name and version, so no option or shell
    syntax can reach a command through a package name.
    """
    canonical = canonicalize_name(name)
    if not _NAME.match(canonical):
        raise LockError(f"invalid package name {name!r}")
    try:
        parsed = Version(str(version))
    except InvalidVersion:
        raise LockError(f"invalid version {version!r} for {canonical}") from None
    return f"{canonical}=={parsed}"


def index_options(index: LockIndex) -> list[str]:
    """``--index-url``/``--extra-index-url`` options for ``index``; none when it is unset."""
    # "--opt=value", so a value can never be read as another option
    args: list[str] = []
    if index.index_url:
        args.append(f"--index-url={index.index_url}")
    args += [f"--extra-index-url={url}" for url in index.extra_index_urls]
    return args


def index_arguments(lockfile: Lockfile, command: CompileCommand, index: LockIndex) -> list[str]:
    """The index options to add to a replayed command: the lockfile's own lines win.

    Nothing is added when the command names its index itself; otherwise the lockfile's index
    and find-links lines, or else the configured index.
    """
    if command.names_index:
        return []
    args: list[str] = []
    own_index = [(k, v) for k, v in lockfile.options if k in ("--index-url", "--extra-index-url")]
    if own_index:
        args += [f"{key}={value}" for key, value in own_index]
    else:
        args += index_options(index)
    if not any(f in command.arguments for f in ("-f", "--find-links")):
        for key, value in lockfile.options:
            if key == "--find-links":
                args.append(f"{key}={value}")
    if ("--no-index", "") in lockfile.options:
        args.append("--no-index")
    return args


# ---------------------------------------------------------------------------- header command

# options of pip-compile and uv pip compile that take a value as the next word
_WITH_VALUE = frozenset(
    {
        "-o", "--output-file", "-P", "--upgrade-package", "-i", "--index-url",
        "--extra-index-url", "-f", "--find-links", "--cert", "--client-cert", "--trusted-host",
        "-c", "--constraint", "--constraints", "--cache-dir", "--pip-args", "--resolver",
        "--annotation-style", "--max-rounds", "--newline", "--unsafe-package", "--extra",
        "--build-deps-for", "--config", "--uploaded-prior-to", "-p", "--python",
        "--python-version", "--python-platform", "--exclude-newer", "--index-strategy",
        "--keyring-provider", "--resolution", "--prerelease", "--fork-strategy",
        "--torch-backend", "--index", "--default-index", "--custom-compile-command",
        "--no-binary", "--only-binary", "-C", "--config-setting", "--link-mode", "--override",
        "--overrides", "-b", "--build-constraint", "--build-constraints", "--format",
        "--no-emit-package", "--group", "--config-file", "--allow-insecure-host",
        "--refresh-package", "--color", "--directory", "--project",
    }
)  # fmt: skip
# what a replay never repeats: the output, the upgrade requests and a dry run are depbot's
_DROPPED = frozenset({"-o", "--output-file", "-P", "--upgrade-package"})
_DROPPED_FLAGS = frozenset({"-U", "--upgrade", "-n", "--dry-run"})
_INDEX_OPTIONS = frozenset(
    {"-i", "--index-url", "--extra-index-url", "--no-index", "--index", "--default-index"}
)


@dataclass(frozen=True)
class CompileCommand:
    """A lockfile's compile command, ready to be replayed with another output and upgrades."""

    tool: str
    """``"pip-compile"`` or ``"uv"``: whose options ``arguments`` are written in."""
    arguments: tuple[str, ...]
    """Options and sources in their original order, without output, upgrade or dry-run."""
    sources: tuple[str, ...]
    """The positional arguments (``.in`` files, ``pyproject.toml``) as written."""

    @property
    def names_index(self) -> bool:
        """Whether the command itself says where to resolve."""
        return any(a.split("=", 1)[0] in _INDEX_OPTIONS for a in self.arguments)


def _program(command: tuple[str, ...]) -> tuple[str, int] | None:
    """(tool, number of words naming the program) for a command depbot can replay."""
    if command and PurePosixPath(command[0]).name == "pip-compile":
        return "pip-compile", 1
    if command[:3] == ("uv", "pip", "compile"):
        return "uv", 3
    for i in range(len(command) - 1):
        if command[i : i + 2] in (("piptools", "compile"), ("pip-tools", "compile")):
            return "pip-compile", i + 2
    return None


def compile_command(repo: Path, lockfile: Lockfile) -> CompileCommand:
    """How ``lockfile`` is regenerated: its header's command, or its sibling ``.in`` file.

    A header written with a custom command (``make lock``) or no header at all falls back to
    ``<stem>.in`` beside the lockfile. Raises LockError when neither is known.
    """
    found = _program(lockfile.header.command)
    if found is None:
        sibling = lockfile.path.with_suffix(".in")
        if not (repo / sibling).is_file():
            shown = " ".join(lockfile.header.command) or "none"
            raise LockError(
                f"{lockfile.path}: cannot tell how it was compiled (header command: {shown}) "
                f"and there is no {sibling}"
            )
        hashed = ["--generate-hashes"] if any(p.hashes for p in lockfile.pins) else []
        tool = lockfile.header.tool or "pip-compile"
        return CompileCommand(tool, (*hashed, str(sibling)), (str(sibling),))
    tool, skip = found
    kept: list[str] = []
    sources: list[str] = []
    words = list(lockfile.header.command[skip:])
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        name = word.split("=", 1)[0] if word.startswith("--") else word
        takes_value = name in _WITH_VALUE and "=" not in word
        if name in _DROPPED or word[:2] in ("-o", "-P"):
            i += 1 if takes_value and word in _WITH_VALUE else 0
            continue
        if name in _DROPPED_FLAGS:
            continue
        kept.append(word)
        if takes_value and i < len(words):
            kept.append(words[i])
            i += 1
        elif not word.startswith("-") or word == "-":
            sources.append(word)
    return CompileCommand(tool, tuple(kept), tuple(sources))


def working_directory(repo: Path, lockfile: Lockfile, command: CompileCommand) -> Path:
    """Where the command was run: the root, or the lockfile's folder when its sources are there."""
    folder = repo / lockfile.path.parent
    sources = [s for s in command.sources if s != "-"]
    if all((repo / s).exists() for s in sources):
        return repo
    if all((folder / s).exists() for s in sources):
        return folder
    return repo


# ---------------------------------------------------------------------------- output

# option lines a compile tool writes between the header and the requirements
_OPTION_LINE = re.compile(
    r"^(-i|-f|--index-url|--extra-index-url|--find-links|--trusted-host|--no-index"
    r"|--no-binary|--only-binary|--prefer-binary|--pre)(\s|=|$)"
)


def _split_preamble(text: str) -> tuple[list[str], list[str]]:
    """(header, comment, blank and option lines before the first requirement; the rest)."""
    lines = text.splitlines(keepends=True)
    at = 0
    while at < len(lines):
        line = lines[at].strip()
        if line and not line.startswith("#") and not _OPTION_LINE.match(line):
            break
        at += 1
    return lines[:at], lines[at:]


def keep_preamble(original: str, regenerated: str) -> str:
    """``regenerated``'s requirements under ``original``'s header and option lines.

    The tools run without header and option lines, so neither this machine's pip
    configuration nor the interpreter running the tool leaks into the lockfile.
    """
    preamble, _ = _split_preamble(original)
    _, body = _split_preamble(regenerated)
    if preamble and body and preamble[-1].strip() and not preamble[-1].startswith("#"):
        # an option block is followed by one blank line before the requirements
        preamble.append("\n")
    return "".join(preamble + body)


# ---------------------------------------------------------------------------- running


ArgvFor = Callable[["CompileCommand", Path, list[str]], list[str]]
"""Builds a compile tool's argv from the lockfile's command, the output path and the -P pins."""


def compile_scratch(
    repo: Path,
    lockfile: Lockfile,
    upgrades: Mapping[NormalizedName, Version],
    env: Mapping[str, str],
    what: str,
    argv_for: ArgvFor,
) -> tuple[subprocess.CompletedProcess[str], str]:
    """Runs a compile tool on a scratch copy of ``lockfile`` (the tool reads the pins it holds
    from its output file) with ``-P name==version`` per upgrade.

    Returns the finished process and, when it succeeded, the new text under the original
    header and option lines; the user's file is never written.
    """
    command = compile_command(repo, lockfile)
    original = (repo / lockfile.path).read_text(encoding="utf-8")
    pins = [arg for n, v in sorted(upgrades.items()) for arg in ("-P", pin_argument(n, v))]
    with tempfile.TemporaryDirectory(prefix="depbot-relock-") as scratch:
        output = Path(scratch) / lockfile.path.name
        output.write_text(original, encoding="utf-8")
        cwd = working_directory(repo, lockfile, command)
        done = run_tool(argv_for(command, output, pins), cwd, env, what)
        if done.returncode != 0:
            return done, ""
        return done, keep_preamble(original, output.read_text(encoding="utf-8"))


def run_tool(
    argv: Sequence[str], cwd: Path, env: Mapping[str, str], what: str
) -> subprocess.CompletedProcess[str]:
    """Runs a tool without a shell, capturing its output; LockError when it cannot start."""
    try:
        return subprocess.run(
            list(argv),
            cwd=cwd,
            env=dict(env),
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError as exc:
        raise LockError(f"cannot run {what} ({argv[0]}): {exc.strerror or exc}") from None


def output_tail(text: str, lines: int = 15) -> str:
    """The last ``lines`` lines of a tool's output, for an error message."""
    return "\n".join(text.strip().splitlines()[-lines:])


def venv_python(venv: Path) -> Path:
    """The interpreter of the virtual environment at ``venv``."""
    windows = venv / "Scripts" / "python.exe"
    return windows if windows.exists() else venv / "bin" / "python"
