"""A project page of a simple index, read in one pass into what classification needs.

PEP 691 JSON: ``{"meta": {"api-version": "1.x"}, "files": [{"filename", "requires-python",
"yanked", …}, …]}``; PEP 503 HTML: one ``<a href="…/FILE#hash" data-requires-python="…"
data-yanked="…">`` per file. Of each file only its name, ``Requires-Python`` and yank are
kept (a ``DistFile``); its URL, hashes, size and dates are dropped as soon as it is read.
``by_version`` keeps the files pip would consider: wheels and sdists of this project with a
PEP 440 version; eggs, installers and other projects' files are dropped.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Iterator
from typing import Any, TypeAlias
from urllib.parse import unquote, urlsplit

import msgspec
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from depbot.models import DistFile

__all__ = [
    "JSON_TYPE",
    "FileFields",
    "MalformedPage",
    "UnsupportedPage",
    "by_version",
    "json_files",
    "parse_html",
    "parse_json",
]

JSON_TYPE = "application/vnd.pypi.simple.v1+json"

# the archive suffixes pip accepts for an sdist
_SDIST_SUFFIXES = (".tar.gz", ".tar.bz2", ".tar.xz", ".tar.lzma", ".tar.lz", ".tar", ".tgz",
                   ".tbz", ".txz", ".tlz", ".zip")  # fmt: skip
_ANCHOR = re.compile(r"<a\s([^>]*)>", re.IGNORECASE)
_ATTRIBUTE = re.compile(r"""([^\s=/>]+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s"'=<>`]+))?""")
_META_VERSION = re.compile(
    r"""<meta\s[^>]*name\s*=\s*["']pypi:repository-version["'][^>]*>""", re.IGNORECASE
)
_CONTENT = re.compile(r"""content\s*=\s*["']([^"']*)["']""", re.IGNORECASE)
_SEPARATORS = re.compile(r"[-_.]+")
_UNSEEN: Any = object()
# what an HTML project page without a single file still says about itself (PEP 503's example,
# PyPI, pypiserver, devpi, Artifactory, Nexus): an error or maintenance page says neither
_EMPTY_PAGE = re.compile(r"links\s+for|pypi:repository-version", re.IGNORECASE)


FileFields: TypeAlias = "tuple[str, str | None, bool]"
"""A file's name, ``Requires-Python`` and yank: a ``DistFile``'s fields."""


class MalformedPage(ValueError):
    """The page is not what its content type says (truncated, half written, not a page)."""


class UnsupportedPage(ValueError):
    """The page speaks a major API version this client does not know (PEP 629)."""


class _File(msgspec.Struct):
    """What is read of a PEP 691 file object; its URL, hashes, size and dates are skipped by
    the decoder, never built."""

    filename: str
    requires_python: Any = msgspec.field(default=None, name="requires-python")
    yanked: Any = False


class _Meta(msgspec.Struct):
    api_version: Any = msgspec.field(name="api-version")


class _Page(msgspec.Struct):
    meta: _Meta
    files: list[_File]


class _MetaOnly(msgspec.Struct):
    """The page's API version alone: a page that does not decode as a 1.x page may be a 2.x."""

    meta: _Meta


_PAGE = msgspec.json.Decoder(_Page)
_META_ONLY = msgspec.json.Decoder(_MetaOnly)


def parse_json(body: bytes) -> list[DistFile]:
    """The files of a PEP 691 page, in page order."""
    new = tuple.__new__
    return [new(DistFile, fields) for fields in json_files(body)]


def json_files(body: bytes) -> Iterator[FileFields]:
    """The (name, Requires-Python, yanked) of each file of a PEP 691 page, in page order; a
    page that is not one raises here, before the first file.

    The decoder reads only those three keys and skips the rest of each file object without
    building it: the page is never held as thousands of dicts.
    """
    try:
        page = _PAGE.decode(body)
    except msgspec.DecodeError as e:
        try:
            meta = _META_ONLY.decode(body).meta
        except msgspec.DecodeError:
            meta = None
        if meta is not None:
            _check_api_version(str(meta.api_version))  # a 2.x page is unsupported, not broken
        raise MalformedPage(f"not a PEP 691 project page ({e})") from e
    _check_api_version(str(page.meta.api_version))
    return _fields(page.files)


def _fields(files: list[_File]) -> Iterator[FileFields]:
    # one string object per distinct specifier, shared by the page's thousands of files
    specifiers: dict[str, str | None] = {}
    for f in files:
        rp = f.requires_python
        if rp.__class__ is not str:
            spec = None
        elif rp in specifiers:
            spec = specifiers[rp]
        else:
            spec = specifiers[rp] = rp.strip() or None
        yanked = f.yanked
        yield f.filename, spec, yanked is True or yanked.__class__ is str


def parse_html(body: bytes) -> list[DistFile]:
    """The files of a PEP 503 page, in page order; a file's name is its URL's last segment.

    A page without a link is a project without files only when it says it is a project page
    ("Links for …" or the repository-version meta tag); any other text served as HTML (an error
    or maintenance page, garbage) is malformed, never "not found".
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise MalformedPage(f"not a PEP 503 project page: {e}") from e
    meta = _META_VERSION.search(text)
    if meta is not None:
        content = _CONTENT.search(meta.group(0))
        if content is not None:
            _check_api_version(content.group(1))
    specifiers: dict[str | None, str | None] = {}
    out = []
    for anchor in _ANCHOR.finditer(text):
        attributes = _attributes(anchor.group(1))
        href = attributes.get("href")
        if not href:
            continue
        filename = unquote(urlsplit(href).path.rpartition("/")[2])
        rp = attributes.get("data-requires-python")
        rp = specifiers.setdefault(rp, (rp.strip() or None) if rp is not None else None)
        out.append(DistFile(filename, rp, "data-yanked" in attributes))
    if not out and _EMPTY_PAGE.search(text) is None:
        raise MalformedPage(f"not a PEP 503 project page (no link in {_sample(text)!r})")
    return out


def _sample(text: str, limit: int = 60) -> str:
    """The start of ``text`` on one line, for a message."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit] + "…"


def _attributes(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for m in _ATTRIBUTE.finditer(text):
        value = m.group(2) or ""
        if value[:1] in ("'", '"'):
            value = value[1:-1]
        out.setdefault(m.group(1).lower(), html.unescape(value))
    return out


def _check_api_version(value: str) -> None:
    major = value.strip().partition(".")[0]
    if major != "1":
        raise UnsupportedPage(f"unsupported repository API version {value!r}")


def by_version(
    files: Iterable[FileFields], project: NormalizedName
) -> dict[Version, list[DistFile]]:
    """The files pip would consider, grouped by their parsed version, one per install shape:
    wheels and sdists of ``project`` whose version is PEP 440, in page order (files of one
    version spelt two ways, ``1.0`` and ``1.0.0``, one spelling after the other).

    Of the files of one version that installability cannot tell apart (same yank, same
    ``Requires-Python``, same wheel Python and ABI tags, or both sdists: one install shape),
    the first is kept: a version's wheels for a dozen platforms are one file here, and the
    rest are never built. Each distinct wheel prefix and version string is looked at once.
    """
    new = tuple.__new__  # DistFile's own constructor parses its arguments: 3x slower
    prefixes: dict[str, str | None] = {}
    spelt: dict[str, dict[tuple[object, ...], DistFile]] = {}
    wheels: set[tuple[str, str | None, bool]] = set()
    for fields in files:
        filename, requires_python, yanked = fields
        if filename.endswith(".whl"):
            # NAME-VERSION(-BUILD)-PYTHON-ABI-PLATFORM.whl (installable._tags reads the same split);
            # all but the platform decides, so the same wheel for another platform stops here
            head = filename[: filename.rfind("-")]
            seen = (head, requires_python, yanked)
            if seen in wheels:
                continue
            wheels.add(seen)
            parts = head.rsplit("-", 2)
            if len(parts) < 3 or "-" not in parts[0]:
                continue  # pip ignores it
            raw = prefixes.get(parts[0], _UNSEEN)
            if raw is _UNSEEN:
                raw = prefixes[parts[0]] = _wheel_version(parts[0], project)
            shape: tuple[object, ...] = (yanked, requires_python, parts[1], parts[2])
        else:
            raw = _sdist_version(filename, project)
            shape = (yanked, requires_python)
        if raw is None:
            continue
        group = spelt.get(raw)
        if group is None:
            group = spelt[raw] = {}
        if shape not in group:
            group[shape] = fields if fields.__class__ is DistFile else new(DistFile, fields)
    out: dict[Version, list[DistFile]] = {}
    for raw, group in spelt.items():
        version = _version(raw)
        if version is not None:
            out.setdefault(version, []).extend(group.values())
    return out


def _wheel_version(prefix: str, project: NormalizedName) -> str | None:
    """The version in a wheel's ``NAME-VERSION(-BUILD)`` prefix; None for another project's."""
    name, _, rest = prefix.partition("-")
    return rest.partition("-")[0] if canonicalize_name(name) == project else None


def _sdist_version(filename: str, project: NormalizedName) -> str | None:
    """The version in an sdist's name, as pip reads it; None for other files and for files
    of another project."""
    stem = _sdist_stem(filename)
    if stem is None:
        return None
    # "scikit-learn-1.5.0": the version follows the dash after which the prefix is the name
    for i, c in enumerate(stem):
        if c == "-" and _SEPARATORS.sub("-", stem[:i]).lower() == project:
            return stem[i + 1 :] or None
    return None


def _sdist_stem(filename: str) -> str | None:
    lowered = filename.lower()
    for suffix in _SDIST_SUFFIXES:
        if lowered.endswith(suffix):
            return filename[: -len(suffix)]
    return None


def _version(raw: str) -> Version | None:
    try:
        return Version(raw)
    except InvalidVersion:
        return None
