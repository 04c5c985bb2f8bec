"""OSV records (JSON or YAML, already decoded) turned into Advisory values.

Only the ``PyPI`` ecosystem and ``ECOSYSTEM`` ranges are read: ``GIT`` and ``SEMVER`` ranges
name commits or semver strings that PEP 440 cannot order. A range's events are sorted by
version, as the OSV evaluation algorithm does, then walked::

    introduced  opens a range (a second one while open is redundant)
    fixed       closes it, exclusive
    last_affected  closes it, inclusive
    limit       ignored: it only narrows a range, so ignoring it over-reports, never hides
    (open at the end)  affected up to infinity
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from packaging.version import InvalidVersion, Version

from depbot.advisories.interface import AdvisorySourceError, one_line
from depbot.models import Advisory, AffectedRange, NormalizedName, canonicalize_name

__all__ = ["OSVRecordError", "parse_osv"]

_ECOSYSTEM = "PyPI"
_CLOSING = ("fixed", "last_affected")


class OSVRecordError(AdvisorySourceError):
    """A record that does not follow the OSV schema where depbot depends on it."""


def parse_osv(record: Mapping[str, Any], source: str) -> list[Advisory]:
    """One Advisory per PyPI package the record affects; [] for a withdrawn record.

    ``source`` is the spec string stored on each advisory. Raises OSVRecordError naming the
    record when its id, affected packages or range versions cannot be read.
    """
    if not isinstance(record, Mapping):
        raise OSVRecordError("an OSV record must be an object")
    rid = record.get("id")
    if not isinstance(rid, str) or not rid.strip():
        raise OSVRecordError("an OSV record has no 'id'")
    _check_schema_version(record, rid)
    if record.get("withdrawn"):
        return []
    aliases = frozenset(_strings(record.get("aliases"), rid, "aliases")) - {rid}
    summary = _summary(record)

    ranges: dict[NormalizedName, list[AffectedRange]] = {}
    versions: dict[NormalizedName, set[Version]] = {}
    affected = record.get("affected") or []
    if not isinstance(affected, list):
        raise OSVRecordError(f"{rid}: 'affected' must be a list")
    for entry in affected:
        if not isinstance(entry, Mapping):
            raise OSVRecordError(f"{rid}: each 'affected' entry must be an object")
        name = _pypi_name(entry, rid)
        if name is None:
            continue
        ranges.setdefault(name, []).extend(_ranges(entry.get("ranges"), rid))
        versions.setdefault(name, set()).update(_listed_versions(entry.get("versions"), rid))

    return [
        Advisory(
            id=rid,
            package=name,
            aliases=aliases,
            ranges=tuple(_unique(ranges[name])),
            versions=frozenset(versions[name]),
            summary=summary,
            source=source,
        )
        for name in ranges
    ]


def _check_schema_version(record: Mapping[str, Any], rid: str) -> None:
    # a new major schema version may change how ranges read; guessing could hide a vulnerability
    schema = record.get("schema_version")
    if schema is None:
        return
    if not isinstance(schema, str) or schema.split(".")[0] != "1":
        raise OSVRecordError(f"{rid}: unsupported OSV schema_version {schema!r}")


def _strings(value: object, rid: str, key: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise OSVRecordError(f"{rid}: '{key}' must be a list of strings")
    return list(value)


def _summary(record: Mapping[str, Any]) -> str:
    for key in ("summary", "details"):
        text = record.get(key)
        if isinstance(text, str) and text.strip():
            return one_line(text)
    return ""


def _pypi_name(entry: Mapping[str, Any], rid: str) -> NormalizedName | None:
    package = entry.get("package")
    if package is None:
        return None
    if not isinstance(package, Mapping):
        raise OSVRecordError(f"{rid}: 'affected[].package' must be an object")
    if package.get("ecosystem") != _ECOSYSTEM:
        return None
    name = package.get("name")
    if not isinstance(name, str) or not name.strip():
        raise OSVRecordError(f"{rid}: a PyPI package without a name")
    return canonicalize_name(name)


def _ranges(value: object, rid: str) -> list[AffectedRange]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise OSVRecordError(f"{rid}: 'ranges' must be a list")
    found: list[AffectedRange] = []
    for rng in value:
        if not isinstance(rng, Mapping):
            raise OSVRecordError(f"{rid}: each range must be an object")
        if rng.get("type") != "ECOSYSTEM":
            continue
        found.extend(_walk(_events(rng.get("events"), rid), rid))
    return found


def _events(value: object, rid: str) -> list[tuple[str, Version | None]]:
    if not isinstance(value, list) or not value:
        raise OSVRecordError(f"{rid}: an ECOSYSTEM range needs a non-empty 'events' list")
    events: list[tuple[str, Version | None]] = []
    for event in value:
        if not isinstance(event, Mapping) or len(event) != 1:
            raise OSVRecordError(f"{rid}: each event must hold exactly one key")
        ((kind, raw),) = event.items()
        if kind == "limit":
            continue
        if kind not in ("introduced", *_CLOSING):
            raise OSVRecordError(f"{rid}: unknown event {kind!r}")
        if not isinstance(raw, str):
            raise OSVRecordError(f"{rid}: event {kind!r} must be a version string")
        if kind == "introduced" and raw == "0":
            events.append((kind, None))
            continue
        try:
            events.append((kind, Version(raw)))
        except InvalidVersion:
            raise OSVRecordError(f"{rid}: {kind} {raw!r} is not a PEP 440 version") from None
    # OSV orders events by version before evaluating; "0" sorts first. The sort is stable, so
    # an introduced and a fixed at the same version keep the order the record gave them.
    events.sort(key=lambda e: (e[1] is not None, e[1] or Version("0")))
    return events


def _walk(events: Sequence[tuple[str, Version | None]], rid: str) -> list[AffectedRange]:
    ranges: list[AffectedRange] = []
    is_open = False
    start: Version | None = None
    for kind, version in events:
        if kind == "introduced":
            if not is_open:
                is_open, start = True, version
            continue
        if not is_open:
            continue  # a fix with nothing open before it affects nothing
        if kind == "fixed":
            ranges.append(AffectedRange(introduced=start, fixed=version))
        else:
            ranges.append(AffectedRange(introduced=start, last_affected=version))
        is_open = False
    if is_open:
        ranges.append(AffectedRange(introduced=start))
    if not ranges and not any(kind == "introduced" for kind, _ in events):
        raise OSVRecordError(f"{rid}: an ECOSYSTEM range without an 'introduced' event")
    return ranges


def _listed_versions(value: object, rid: str) -> set[Version]:
    found: set[Version] = set()
    for raw in _strings(value, rid, "versions"):
        try:
            found.add(Version(raw))
        except InvalidVersion:
            continue  # the list is informative; a legacy version string cannot be compared
    return found


def _unique(ranges: list[AffectedRange]) -> list[AffectedRange]:
    return list(dict.fromkeys(ranges))
