"""The ``osv-dir:PATH`` source: a directory of OSV records, such as a pypa/advisory-database clone.

Every ``*.json``, ``*.yaml`` and ``*.yml`` file below the directory is one record; hidden
folders (``.git``, ``.github``) are not read, so a clone works as it is. Air-gapped use and
tests rely on this source.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from depbot.advisories.interface import AdvisorySource, AdvisorySourceError
from depbot.advisories.osv_records import parse_osv
from depbot.models import Advisory, Lockfile

__all__ = ["OSVDirSource"]

_SUFFIXES = (".json", ".yaml", ".yml")


class OSVDirSource(AdvisorySource):
    """Advisories from the OSV records stored under ``path``, for every pinned package."""

    def __init__(self, path: Path, spec: str | None = None) -> None:
        self.path = path
        self.spec = spec if spec is not None else f"osv-dir:{path}"
        self._records: list[Advisory] | None = None

    def advisories(self, lockfiles: Sequence[Lockfile]) -> list[Advisory]:
        """Every advisory naming a package pinned in ``lockfiles``, whatever its version.

        Whether the pinned version is affected is the classifier's decision.
        """
        pinned = {pin.name for lock in lockfiles for pin in lock.pins}
        return [a for a in self._load() if a.package in pinned]

    def _load(self) -> list[Advisory]:
        if self._records is None:
            if not self.path.is_dir():
                raise AdvisorySourceError(f"{self.spec}: {self.path} is not a directory")
            records: list[Advisory] = []
            for file in _record_files(self.path):
                try:
                    records.extend(parse_osv(_read(file), self.spec))
                except AdvisorySourceError as exc:
                    raise AdvisorySourceError(f"{self.spec}: {file}: {exc}") from None
            self._records = records
        return self._records


def _record_files(root: Path) -> list[Path]:
    return sorted(
        p
        for p in root.rglob("*")
        if p.suffix in _SUFFIXES
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


def _read(file: Path) -> Any:
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AdvisorySourceError(f"cannot read: {exc}") from None
    if file.suffix == ".json":
        try:
            return json.loads(text)
        except ValueError as exc:
            raise AdvisorySourceError(f"not valid JSON: {exc}") from None
    # here: PyYAML costs more to import than a plan of JSON records (or none) takes to read
    import yaml

    # the C loader is ~10x faster on a full advisory-database clone; PyYAML may lack it
    loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader, chosen above
    except (ValueError, yaml.YAMLError) as exc:
        raise AdvisorySourceError(f"not valid {file.suffix[1:].upper()}: {exc}") from None
