"""How a lockfile's own compile command is replayed (SPEC §2: each lockfile is regenerated
with the options of its own header).

The header's words are read with pip-tools' own option parser (the ``pip-compile`` click
command), so every pip-compile option is known (a header of known options written plainly is
read with a table of them instead); ``uv pip compile`` headers add uv's options.
The replay drops what is depbot's to decide (output, upgrades, dry run), validates every
``name==version`` before it reaches a command (SPEC §9), and puts the original header and
option lines back over the regenerated requirements.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from depbot.lock.interface import LockError, LockIndex
from depbot.models import Lockfile

__all__ = [
    "CompileCommand",
    "compile_command",
    "index_arguments",
    "index_options",
    "keep_preamble",
    "pin_argument",
    "working_directory",
]


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
    if lockfile.index_urls:
        written = LockIndex(lockfile.index_url, lockfile.extra_index_urls)
        args += index_options(written)
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

# uv pip compile options pip-compile does not have, that take a value as the next word
_UV_WITH_VALUE = frozenset(
    {
        "-p", "--python", "--python-version", "--python-platform", "--exclude-newer",
        "--index-strategy", "--keyring-provider", "--resolution", "--prerelease",
        "--fork-strategy", "--torch-backend", "--index", "--default-index",
        "--custom-compile-command", "--no-binary", "--only-binary", "-C", "--config-setting",
        "--link-mode", "--override", "--overrides", "-b", "--build-constraint",
        "--build-constraints", "--format", "--no-emit-package", "--group", "--config-file",
        "--allow-insecure-host", "--refresh-package", "--color", "--directory", "--project",
        "--constraints",
    }
)  # fmt: skip
# what a replay never repeats: the output, the upgrade requests and a dry run are depbot's
_DROPPED = frozenset({"-o", "--output-file", "-P", "--upgrade-package"})
_DROPPED_FLAGS = frozenset({"-U", "--upgrade", "-n", "--dry-run"})
_INDEX_OPTIONS = frozenset(
    {"-i", "--index-url", "--extra-index-url", "--no-index", "--index", "--default-index"}
)


# pip-compile's options (pip-tools 7.6), the ones taking a value and the flags, as
# ``_pip_compile_options`` reads them from pip-tools (tests/lock/test_replay.py compares the two):
# a header that uses only these, each written plainly, is read without importing pip-tools, which
# brings pip with it (a quarter of a second and 30 MB, on every plan).
_KNOWN_WITH_VALUE = frozenset(
    {
        "--annotation-style", "--build-deps-for", "--cache-dir", "--cert", "--client-cert",
        "--config", "--constraint", "--extra", "--extra-index-url", "--find-links", "--index-url",
        "--max-rounds", "--newline", "--output-file", "--pip-args", "--resolver",
        "--trusted-host", "--unsafe-package", "--upgrade-package", "--uploaded-prior-to", "-P",
        "-c", "-f", "-i", "-o"
    }
)  # fmt: skip
_KNOWN_FLAGS = frozenset(
    {
        "--all-build-deps", "--all-extras", "--allow-unsafe", "--annotate", "--build-isolation",
        "--color", "--dry-run", "--emit-find-links", "--emit-index-url", "--emit-options",
        "--emit-trusted-host", "--generate-hashes", "--header", "--help", "--no-allow-unsafe",
        "--no-annotate", "--no-build-isolation", "--no-color", "--no-config",
        "--no-emit-find-links", "--no-emit-index-url", "--no-emit-options",
        "--no-emit-trusted-host", "--no-header", "--no-index", "--no-reuse-hashes",
        "--no-strip-extras", "--no-upgrade", "--only-build-deps", "--pre", "--quiet", "--rebuild",
        "--reuse-hashes", "--strip-extras", "--upgrade", "--verbose", "--version", "-U", "-h",
        "-n", "-p", "-q", "-r", "-v"
    }
)  # fmt: skip


def _plainly_known(words: list[str]) -> bool:
    """Whether pip-compile's parser accepts ``words`` for sure: every option is a known flag
    written alone, or a known value option with ``=value`` (long) or followed by its value."""
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if word == "-" or not word.startswith("-"):
            continue
        name, eq, _ = word.partition("=")
        if name in _KNOWN_FLAGS and not eq:
            continue
        if name in _KNOWN_WITH_VALUE and eq and name.startswith("--"):
            continue
        if name in _KNOWN_WITH_VALUE and not eq and i < len(words):
            i += 1  # its value, whatever it looks like
            continue
        return False
    return True


@functools.cache
def _pip_compile_options() -> dict[str, bool]:
    """Every option of pip-tools' ``pip-compile`` command → whether it takes a value."""
    import click
    from piptools.scripts.compile import cli

    options: dict[str, bool] = {}
    for param in cli.params:
        if isinstance(param, click.Option):
            for name in (*param.opts, *param.secondary_opts):
                options[name] = not (param.is_flag or param.count)
    return options


def _parse_pip_compile(words: list[str], where: PurePosixPath) -> None:
    """Checks ``words`` with pip-compile's own parser (no callbacks, no file checks)."""
    import click
    from piptools.scripts.compile import cli

    parser = cli.make_parser(click.Context(cli, info_name="pip-compile"))
    try:
        parser.parse_args(list(words))
    except click.UsageError as exc:
        raise LockError(
            f"{where}: the header's pip-compile command cannot be replayed: {exc.format_message()}"
        ) from None


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
    ``<stem>.in`` beside the lockfile. Raises LockError when neither is known, or when a
    pip-compile header is not a command pip-compile accepts.
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
    words = list(lockfile.header.command[skip:])
    with_value = _KNOWN_WITH_VALUE
    if tool == "uv":
        with_value |= _UV_WITH_VALUE
    elif not _plainly_known(words):
        _parse_pip_compile(words, lockfile.path)
        with_value = frozenset(name for name, takes in _pip_compile_options().items() if takes)
    kept: list[str] = []
    sources: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        name = word.split("=", 1)[0] if word.startswith("--") else word
        takes_value = name in with_value and "=" not in word
        if name in _DROPPED or word[:2] in ("-o", "-P"):
            i += 1 if takes_value and word in with_value else 0
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
