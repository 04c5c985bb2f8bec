"""Reads and validates ``[tool.depbot]`` (or ``depbot.toml``): the only reader of configuration.

The default index is "as pip is configured" (SPEC §2): pip's settings are read by
``depbot.pipconf`` for this module, and no other module touches the environment for them.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name

from depbot.errors import InputError
from depbot.ml.variants import GPU_VARIANT
from depbot.pipconf import PYPI_SIMPLE, pip_index_urls
from depbot.tables import TableReader

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = [
    "KEYS",
    "PYPI_SIMPLE",
    "SECRET_VARIABLES",
    "Config",
    "IgnoreRule",
    "KeySpec",
    "MLConfig",
    "load_config",
    "pip_index_urls",
]

LOCK_BACKENDS = ("pip-tools", "uv")
SECRET_VARIABLES = (
    "GITHUB_TOKEN",
    "DEPBOT_GITHUB_TOKEN",
    "DEPBOT_WEBHOOK_SECRET",
    "SAFETY_API_KEY",
)
"""The variables of SPEC §8 (and Safety's key): never handed to a tool, never shown."""
ADVISORY_KINDS = ("pip-audit", "osv", "github", "safety")


@dataclass(frozen=True)
class KeySpec:
    """One key of ``[tool.depbot]`` (``ml.`` names a key of the ``[tool.depbot.ml]`` table)."""

    key: str
    type: str
    """The TOML type expected, as a person reads it."""
    default: str
    description: str


# fmt: off
KEYS: tuple[KeySpec, ...] = (
    KeySpec("test-command", "string", '"pytest -q"',
            "Run from the repository root inside the test environment."),
    KeySpec("test-timeout", "number", "1800",
            "Seconds before a test run is killed with its process group and counted as failing."),
    KeySpec("index-timeout", "number", "30",
            "Seconds one package's index page may take, every retry included; then skipped."),
    KeySpec("lock-timeout", "number", "600",
            "Seconds one lock-tool or installer call may take; then its batch fails, blaming no"
            " update."),
    KeySpec("advisories", "list of strings", '["pip-audit"]',
            "Advisory sources: pip-audit, osv, osv-dir:PATH, github, safety."),
    KeySpec("osv-url", "string (URL)", '"https://api.osv.dev/v1"', "The OSV API base."),
    KeySpec("index-url", "string (URL)", "as pip is configured, else PyPI",
            "Where releases are looked up and locks resolved."),
    KeySpec("extra-index-urls", "list of strings (URLs)", "as pip is configured, else []",
            "Further indexes searched beside index-url."),
    KeySpec("lockfiles", "list of strings (paths)", "[]",
            "Lockfiles to use beside the discovered ones, relative to the repository."),
    KeySpec("lock-backend", "string", '"pip-tools"',
            'How lockfiles are regenerated: "pip-tools" or "uv".'),
    KeySpec("max-test-runs", "integer", "sized from the batch",
            "Test runs one batch may spend, bisection included."),
    KeySpec("ignore", "list of strings", "[]",
            'Updates to skip: a name, or "name specifier" for some versions only.'),
    KeySpec("group", "table of lists of names", "{}",
            "Extra families of packages that move together as one update."),
    KeySpec("allow-prereleases", "boolean or list of names", "false",
            "Pre-releases allowed as targets: for every package (true) or for those named."),
    KeySpec("pythons", 'table of "X.Y" = path', "{}",
            "Interpreters for lockfiles compiled with another Python; else found on PATH."),
    KeySpec("environments", "list of lists of paths", "grouped by depbot",
            "Lockfiles installed together into one test environment."),
    KeySpec("pass-env", "list of strings", "[]",
            "Variables the lock tool and the tests see beside depbot's allow-list (no secrets)."),
    KeySpec("ml", "table", "{}", "ML pins (torch and its family), see the keys below."),
    KeySpec("ml.enabled", "boolean", "true", "Whether torch and its family move as one unit."),
    KeySpec("ml.index-url", "string (URL)", "the lockfile's index line",
            "Where the CUDA/CPU variant wheels live when no lockfile index line says."),
    KeySpec("ml.cuda", "string", "the newest variant that has the target",
            'The CUDA or ROCm variant to move to when the lockfile\'s ends ("cu126", "rocm6.3").'),
)
# fmt: on
"""Every key ``[tool.depbot]`` accepts: the unknown-key check and the docs read this table."""


@dataclass(frozen=True)
class IgnoreRule:
    """``name`` alone ignores every update of it; ``name specifier`` only matching targets."""

    name: NormalizedName
    specifier: SpecifierSet | None = None


@dataclass(frozen=True)
class MLConfig:
    """The ``[tool.depbot.ml]`` table (SPEC §6)."""

    enabled: bool = True
    index_url: str | None = None
    """The variant wheels' index when no lockfile line says (``…/whl/cu118`` or ``…/whl``)."""
    cuda: str | None = None
    """The variant to move to when the lockfile's own ends; None: the newest that has torch."""


@dataclass(frozen=True)
class Config:
    """depbot's settings for one repository, validated."""

    source: Path | None = None
    """The file the settings were read from; None when every value is a default."""
    test_command: str = "pytest -q"
    test_timeout: float = 1800.0
    """Seconds before a test run is killed with its process group and counted as failing."""
    advisories: tuple[str, ...] = ("pip-audit",)
    osv_url: str = "https://api.osv.dev/v1"
    index_url: str = PYPI_SIMPLE
    extra_index_urls: tuple[str, ...] = ()
    lockfiles: tuple[str, ...] = ()
    """Extra lockfiles to use beside the discovered ones (paths relative to the repository)."""
    lock_backend: str = "pip-tools"
    max_test_runs: int | None = None
    """Test runs per batch; None lets depbot size the budget from the batch size."""
    ignore: tuple[IgnoreRule, ...] = ()
    groups: Mapping[str, tuple[NormalizedName, ...]] = field(default_factory=dict)
    allow_prereleases: tuple[NormalizedName, ...] = ()
    ml: MLConfig = MLConfig()
    pythons: Mapping[str, str] = field(default_factory=dict)
    """``"X.Y"`` → an interpreter, for a lockfile's Python when ``pythonX.Y`` is not on PATH."""
    environments: tuple[tuple[str, ...], ...] = ()
    """Lockfiles installed together for the tests; empty: depbot groups them itself."""
    pass_env: tuple[str, ...] = ()
    """Variables the lock tool and the tests may see beside depbot's allow-list."""
    index_timeout: float = 30.0
    """Seconds one package's index page may take, every attempt included (``index-timeout``)."""
    lock_timeout: float = 600.0
    """Seconds one lock-tool call may take before it is killed (``lock-timeout``)."""

    def ignores(self, name: str, version: object) -> bool:
        """Whether an update of ``name`` to ``version`` is ignored by the configuration."""
        wanted = canonicalize_name(name)
        for rule in self.ignore:
            if rule.name != wanted:
                continue
            if rule.specifier is None or rule.specifier.contains(str(version), prereleases=True):
                return True
        return False


# ---------------------------------------------------------------------------- reading


def load_config(repo: Path, env: Mapping[str, str] | None = None) -> Config:
    """The configuration of ``repo``: ``depbot.toml`` if present, else ``[tool.depbot]``.

    ``env`` is the process environment (for pip's index settings); None reads ``os.environ``.
    Raises InputError naming the file and key when something is wrong.
    """
    env = os.environ if env is None else env
    index_url, extra = pip_index_urls(env)
    dedicated = repo / "depbot.toml"
    pyproject = repo / "pyproject.toml"
    if dedicated.is_file():
        path, table = dedicated, _read_toml(dedicated)
    elif pyproject.is_file():
        data = _read_toml(pyproject)
        tool = data.get("tool", {})
        raw = tool.get("depbot") if isinstance(tool, dict) else None
        if raw is None:
            return Config(index_url=index_url, extra_index_urls=extra)
        if not isinstance(raw, dict):
            raise InputError(f"{pyproject}: [tool.depbot] must be a table")
        path, table = pyproject, raw
    else:
        return Config(index_url=index_url, extra_index_urls=extra)
    return _parse(path, table, index_url, extra)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None


def _reader(path: Path, table: Mapping[str, Any], prefix: str = "") -> TableReader:
    return TableReader(path, table, {k.key for k in KEYS}, prefix)


def _parse(path: Path, table: Mapping[str, Any], index_url: str, extra: tuple[str, ...]) -> Config:
    r = _reader(path, table)
    kw: dict[str, Any] = {"source": path, "index_url": index_url, "extra_index_urls": extra}

    test_command = r.take("test-command", str, "a non-empty string")
    if test_command is not None:
        try:
            words = shlex.split(test_command)
        except ValueError as exc:  # an unbalanced quote: it would fail every test run
            raise r.fail("test-command", f"a command line depbot can split ({exc})") from None
        if not words:
            raise r.fail("test-command", "a non-empty string")
        kw["test_command"] = test_command

    sources = r.take_str_list("advisories", "a list of source specs")
    if sources is not None:
        for spec in sources:
            if not _valid_source(spec):
                raise r.fail(
                    "advisories",
                    "source specs among pip-audit, osv, osv-dir:PATH, github, safety"
                    f" (got {spec!r})",
                )
        kw["advisories"] = sources
    _take_url(r, kw, "osv-url", "osv_url")
    _take_url(r, kw, "index-url", "index_url")
    extra_urls = r.take_str_list("extra-index-urls", "a list of URLs")
    if extra_urls is not None:
        for url in extra_urls:
            if not _valid_url(url):
                raise r.fail("extra-index-urls", f"a list of URLs (got {url!r})")
        kw["extra_index_urls"] = extra_urls

    lockfiles = r.take_str_list("lockfiles", "a list of paths relative to the repository")
    if lockfiles is not None:
        for p in lockfiles:
            if Path(p).is_absolute() or ".." in Path(p).parts:
                raise r.fail("lockfiles", f"paths inside the repository (got {p!r})")
        kw["lockfiles"] = lockfiles
    backend = r.take("lock-backend", str, "one of " + ", ".join(map(repr, LOCK_BACKENDS)))
    if backend is not None:
        if backend not in LOCK_BACKENDS:
            raise r.fail("lock-backend", "one of " + ", ".join(map(repr, LOCK_BACKENDS)))
        kw["lock_backend"] = backend
    runs = r.take("max-test-runs", int, "an integer of at least 1")
    if runs is not None:
        if runs < 1:
            raise r.fail("max-test-runs", "an integer of at least 1")
        kw["max_test_runs"] = runs

    ignore = r.take_str_list("ignore", 'a list of names or "name specifier" strings')
    if ignore is not None:
        kw["ignore"] = tuple(_ignore_rule(r, item) for item in ignore)
    groups = r.take("group", dict, "a table of group name = list of package names")
    if groups is not None:
        kw["groups"] = _groups(r, groups)
    pre = r.take("allow-prereleases", (bool, list), "true, false or a list of package names")
    if pre is not None:
        kw["allow_prereleases"] = _prereleases(r, pre)
    ml = r.take("ml", dict, "a table")
    if ml is not None:
        kw["ml"] = _ml(path, ml)
    _take_run_settings(r, kw)
    _take_deadlines(r, kw)
    r.finish()
    return Config(**kw)


def _take_run_settings(r: TableReader, kw: dict[str, Any]) -> None:
    """``pythons``, ``environments`` and ``pass-env``: where and with what the tools run."""
    pythons = r.take("pythons", dict, 'a table of "X.Y" = "path to an interpreter"')
    if pythons is not None:
        for version, interpreter in pythons.items():
            parts = version.split(".")
            if len(parts) != 2 or not all(p.isdigit() for p in parts):
                raise r.fail("pythons", f'Python versions written "X.Y" (got {version!r})')
            if not isinstance(interpreter, str) or not interpreter.strip():
                raise r.fail(f"pythons.{version}", "the path of an interpreter")
        kw["pythons"] = dict(pythons)
    groups = r.take("environments", list, "a list of lists of lockfile paths")
    if groups is not None:
        expected = "a list of lists of lockfile paths"

        def is_group(g: object) -> bool:
            return isinstance(g, list) and bool(g) and all(isinstance(x, str) for x in g)

        if not all(is_group(g) for g in groups):
            raise r.fail("environments", expected)
        listed = [p for g in groups for p in g]
        if len(set(listed)) != len(listed):
            raise r.fail("environments", f"{expected}, each lockfile in one list only")
        kw["environments"] = tuple(tuple(g) for g in groups)
    names = r.take_str_list("pass-env", "a list of environment variable names")
    if names is not None:
        for name in names:
            if not name or not all(c.isalnum() or c == "_" for c in name):
                raise r.fail("pass-env", f"environment variable names (got {name!r})")
            if name.upper() in SECRET_VARIABLES:
                raise r.fail("pass-env", f"names other than depbot's secrets (got {name!r})")
        kw["pass_env"] = names


def _take_deadlines(r: TableReader, kw: dict[str, Any]) -> None:
    """``test-timeout``, ``index-timeout`` and ``lock-timeout``: positive numbers of seconds."""
    for key in ("test-timeout", "index-timeout", "lock-timeout"):
        seconds = r.take(key, (int, float), "a positive number of seconds")
        if seconds is not None and not 0 < seconds < float("inf"):
            raise r.fail(key, "a positive number of seconds")
        if seconds is not None:
            kw[key.replace("-", "_")] = float(seconds)


def _take_url(r: TableReader, kw: dict[str, Any], key: str, attr: str) -> None:
    url = r.take(key, str, "a URL")
    if url is not None:
        if not _valid_url(url):
            raise r.fail(key, f"an http(s) or file URL (got {url!r})")
        kw[attr] = url


def _valid_url(url: str) -> bool:
    return url.startswith(("http://", "https://", "file://")) and len(url) > len("file://")


def _valid_source(spec: str) -> bool:
    if spec.startswith("osv-dir:"):
        return bool(spec[len("osv-dir:") :].strip())
    return spec in ADVISORY_KINDS


def _ignore_rule(r: TableReader, item: str) -> IgnoreRule:
    try:
        req = Requirement(item)
    except InvalidRequirement:
        raise r.fail("ignore", f'names or "name specifier" strings (got {item!r})') from None
    if req.url or req.marker or req.extras:
        raise r.fail("ignore", f'names or "name specifier" strings (got {item!r})')
    spec = req.specifier if str(req.specifier) else None
    return IgnoreRule(canonicalize_name(req.name), spec)


def _names(r: TableReader, key: str, values: object) -> tuple[NormalizedName, ...]:
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise r.fail(key, "a non-empty list of package names")
    names = []
    for v in values:
        try:
            req = Requirement(v)
        except InvalidRequirement:
            raise r.fail(key, f"package names (got {v!r})") from None
        if str(req) != req.name:
            raise r.fail(key, f"package names (got {v!r})")
        names.append(canonicalize_name(v))
    return tuple(names)


def _groups(r: TableReader, table: Mapping[str, Any]) -> dict[str, tuple[NormalizedName, ...]]:
    groups: dict[str, tuple[NormalizedName, ...]] = {}
    for name, members in table.items():
        if not name or not all(c.isalnum() or c in "-_." for c in name):
            raise r.fail(f"group.{name}", "a group name of letters, digits, '-', '_' or '.'")
        groups[name] = _names(r, f"group.{name}", members)
    return groups


def _prereleases(r: TableReader, value: bool | list[Any]) -> tuple[NormalizedName, ...]:
    if isinstance(value, bool):
        return (canonicalize_name("*"),) if value else ()
    return _names(r, "allow-prereleases", value)


# ---------------------------------------------------------------------------- [tool.depbot.ml]


def _ml(path: Path, table: Mapping[str, Any]) -> MLConfig:
    """``[tool.depbot.ml]``: ``enabled``, ``index-url`` and ``cuda`` (SPEC §6)."""
    r = _reader(path, table, prefix="ml.")
    kw: dict[str, Any] = {}
    enabled = r.take("enabled", bool, "true or false")
    if enabled is not None:
        kw["enabled"] = enabled
    url = r.take("index-url", str, "a URL")
    if url is not None:
        if not _valid_url(url) or "?" in url or "#" in url:
            raise r.fail("index-url", f"an http(s) or file URL of an index (got {url!r})")
        kw["index_url"] = url
    expected = 'a CUDA or ROCm variant such as "cu126" or "rocm6.3"'
    cuda = r.take("cuda", str, expected)
    if cuda is not None and not GPU_VARIANT.match(cuda):
        raise r.fail("cuda", f"{expected} (got {cuda!r})")
    kw.update({"cuda": cuda} if cuda else {})
    r.finish()
    return MLConfig(**kw)
