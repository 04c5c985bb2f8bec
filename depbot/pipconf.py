"""pip's own index settings (its configuration files and ``PIP_*``), read as pip reads them.

depbot looks releases up where pip would resolve them, so a project configured for a mirror
or a private index is checked against that index (SPEC §2).
"""

from __future__ import annotations

import configparser
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

__all__ = ["PYPI_SIMPLE", "pip_index_urls"]

PYPI_SIMPLE = "https://pypi.org/simple/"


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
