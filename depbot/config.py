"""Reads and validates ``[tool.depbot]`` (or ``depbot.toml``): the only reader of configuration.

Also the only place that reads pip's configuration, so the default index is "as pip is
configured" (SPEC §2) without any other module touching the environment.
"""

from __future__ import annotations

import configparser
import os
import shlex
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name

from depbot.errors import InputError
from depbot.ml.variants import GPU_VARIANT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = [
    "PYPI_SIMPLE",
    "SECRET_VARIABLES",
    "Config",
    "IgnoreRule",
    "MLConfig",
    "load_config",
    "pip_index_urls",
]

PYPI_SIMPLE = "https://pypi.org/simple/"
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


class _Reader:
    """Takes keys out of one table, checking types, and reports what is left unknown."""

    def __init__(self, path: Path, table: Mapping[str, Any], prefix: str = "") -> None:
        self.path = path
        self.table = dict(table)
        self.prefix = prefix

    def fail(self, key: str, expected: str) -> InputError:
        return InputError(f"{self.path}: key '{self.prefix}{key}': expected {expected}")

    def take(self, key: str, kind: type | tuple[type, ...], expected: str) -> Any:
        if key not in self.table:
            return None
        value = self.table.pop(key)
        # bool is an int in Python; a TOML true is never a valid number here
        if isinstance(value, bool) and kind in (int, float, (int, float)):
            raise self.fail(key, expected)
        if not isinstance(value, kind):
            raise self.fail(key, expected)
        return value

    def take_str_list(self, key: str, expected: str) -> tuple[str, ...] | None:
        value = self.take(key, list, expected)
        if value is None:
            return None
        if not all(isinstance(v, str) for v in value):
            raise self.fail(key, expected)
        return tuple(value)

    def finish(self) -> None:
        if self.table:
            key = sorted(self.table)[0]
            raise InputError(f"{self.path}: unknown key '{self.prefix}{key}'")


def _parse(path: Path, table: Mapping[str, Any], index_url: str, extra: tuple[str, ...]) -> Config:
    r = _Reader(path, table)
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
    timeout = r.take("test-timeout", (int, float), "a positive number of seconds")
    if timeout is not None:
        if timeout <= 0:
            raise r.fail("test-timeout", "a positive number of seconds")
        kw["test_timeout"] = float(timeout)

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
    r.finish()
    return Config(**kw)


def _take_run_settings(r: _Reader, kw: dict[str, Any]) -> None:
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


def _take_url(r: _Reader, kw: dict[str, Any], key: str, attr: str) -> None:
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


def _ignore_rule(r: _Reader, item: str) -> IgnoreRule:
    try:
        req = Requirement(item)
    except InvalidRequirement:
        raise r.fail("ignore", f'names or "name specifier" strings (got {item!r})') from None
    if req.url or req.marker or req.extras:
        raise r.fail("ignore", f'names or "name specifier" strings (got {item!r})')
    spec = req.specifier if str(req.specifier) else None
    return IgnoreRule(canonicalize_name(req.name), spec)


def _names(r: _Reader, key: str, values: object) -> tuple[NormalizedName, ...]:
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


def _groups(r: _Reader, table: Mapping[str, Any]) -> dict[str, tuple[NormalizedName, ...]]:
    groups: dict[str, tuple[NormalizedName, ...]] = {}
    for name, members in table.items():
        if not name or not all(c.isalnum() or c in "-_." for c in name):
            raise r.fail(f"group.{name}", "a group name of letters, digits, '-', '_' or '.'")
        groups[name] = _names(r, f"group.{name}", members)
    return groups


def _prereleases(r: _Reader, value: bool | list[Any]) -> tuple[NormalizedName, ...]:
    if isinstance(value, bool):
        return (canonicalize_name("*"),) if value else ()
    return _names(r, "allow-prereleases", value)


# ---------------------------------------------------------------------------- [tool.depbot.ml]


def _ml(path: Path, table: Mapping[str, Any]) -> MLConfig:
    """``[tool.depbot.ml]``: ``enabled``, ``index-url`` and ``cuda`` (SPEC §6)."""
    r = _Reader(path, table, prefix="ml.")
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


# ---------------------------------------------------------------------------- pip's settings


def pip_index_urls(
    env: Mapping[str, str], home: Callable[[], Path] = Path.home
) -> tuple[str, tuple[str, ...]]:
    """The index URL and extra index URLs pip would use, from its config files and ``PIP_*``.

    Files are read in pip's order (global, user, site, ``PIP_CONFIG_FILE``), later ones
    winning; ``PIP_CONFIG_FILE=/dev/null`` disables every file, as it does for pip.
    """
    values: dict[str, str] = {}
    for path in _pip_config_files(env, home):
        parser = configparser.RawConfigParser()
        try:
            parser.read(path, encoding="utf-8")
        except (OSError, configparser.Error):
            continue
        for section in ("global", "install"):
            for key in ("index-url", "extra-index-url"):
                if parser.has_option(section, key):
                    values[key] = parser.get(section, key)
    if env.get("PIP_INDEX_URL"):
        values["index-url"] = env["PIP_INDEX_URL"]
    if env.get("PIP_EXTRA_INDEX_URL"):
        values["extra-index-url"] = env["PIP_EXTRA_INDEX_URL"]
    index = values.get("index-url", "").strip() or PYPI_SIMPLE
    extra = tuple(values.get("extra-index-url", "").split())
    return index, extra


def _pip_config_files(env: Mapping[str, str], home: Callable[[], Path]) -> list[Path]:
    explicit = env.get("PIP_CONFIG_FILE")
    if explicit == os.devnull:
        return []
    files: list[Path] = []
    xdg_dirs = env.get("XDG_CONFIG_DIRS", "/etc/xdg").split(os.pathsep)
    files += [Path(d) / "pip" / "pip.conf" for d in xdg_dirs if d]
    files.append(Path("/etc/pip.conf"))
    user = home()
    files.append(user / ".pip" / "pip.conf")
    files.append(Path(env.get("XDG_CONFIG_HOME", str(user / ".config"))) / "pip" / "pip.conf")
    files.append(Path(sys.prefix) / "pip.conf")
    if explicit:
        files.append(Path(explicit))
    return [f for f in files if f.is_file()]
