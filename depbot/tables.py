"""Reading one TOML table key by key: types checked, unknown keys refused, errors naming the
file and the key (exit 2, SPEC §7)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from depbot.errors import InputError

__all__ = ["TableReader"]


class TableReader:
    """Takes keys out of one table, checking types, and reports what is left unknown."""

    def __init__(
        self, path: Path, table: Mapping[str, Any], known: Collection[str], prefix: str = ""
    ) -> None:
        """``known``: every key the file may hold, sub-table keys as ``prefix`` + key."""
        self.path = path
        self.table = dict(table)
        self.prefix = prefix
        for key in sorted(self.table):
            if f"{prefix}{key}" not in known:
                raise InputError(f"{path}: unknown key '{prefix}{key}'")

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
