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
import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote, urlsplit

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from depbot.models import DistFile

__all__ = [
    "JSON_TYPE",
    "MalformedPage",
    "UnsupportedPage",
    "by_version",
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
# what an HTML project page without a single file still says about itself (PEP 503's example,
# PyPI, pypiserver, devpi, Artifactory, Nexus): an error or maintenance page says neither
_EMPTY_PAGE = re.compile(r"links\s+for|pypi:repository-version", re.IGNORECASE)


class MalformedPage(ValueError):
    """The page is not what its content type says (truncated, half written, not a page)."""


class UnsupportedPage(ValueError):
    """The page speaks a major API version this client does not know (PEP 629)."""


def parse_json(body: bytes) -> list[DistFile]:
    """The files of a PEP 691 page, in page order.

    Each file object becomes a ``DistFile`` as soon as the decoder has read it, so its URL,
    hashes and dates are dropped at once: the page is never held as thousands of dicts.
    """
    specifiers: dict[str | None, str | None] = {None: None}
    new = tuple.__new__  # DistFile's own constructor parses its arguments: 3x slower

    def file_or_object(entry: dict[str, Any]) -> Any:
        filename = entry.get("filename")
        if filename is None:
            return entry  # the page, its "meta", a file's "hashes"
        if not isinstance(filename, str):
            raise TypeError(f"a file name is {type(filename).__name__}")
        rp = entry.get("requires-python")
        # one string object per distinct specifier, shared by the page's thousands of files
        if rp in specifiers:
            spec = specifiers[rp]
        else:
            spec = specifiers[rp] = (rp.strip() or None) if isinstance(rp, str) else None
        yanked = entry.get("yanked", False)
        return new(DistFile, (filename, spec, yanked is True or isinstance(yanked, str)))

    try:
        doc = json.loads(body, object_hook=file_or_object)
        _check_api_version(str(doc["meta"]["api-version"]))
        files = doc["files"]
        if not isinstance(files, list) or not set(map(type, files)) <= {DistFile}:
            raise TypeError("files is not a list of file objects")
        return files
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        if isinstance(e, UnsupportedPage):
            raise
        raise MalformedPage(f"not a PEP 691 project page ({type(e).__name__}: {e})") from e


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


def by_version(files: Iterable[DistFile], project: NormalizedName) -> dict[Version, list[DistFile]]:
    """The files pip would consider, grouped by their parsed version: wheels and sdists of
    ``project`` whose version is PEP 440, in page order (files of one version spelt two ways,
    ``1.0`` and ``1.0.0``, one spelling after the other). Each distinct name prefix and version
    string is looked at once: a version has dozens of wheels."""
    names: dict[str, bool] = {}
    spelt: dict[str, list[DistFile]] = {}
    for f in files:
        raw = _file_version(f[0], project, names)
        if raw is not None:
            group = spelt.get(raw)
            if group is None:
                spelt[raw] = [f]
            else:
                group.append(f)
    out: dict[Version, list[DistFile]] = {}
    for raw, group in spelt.items():
        version = _version(raw)
        if version is not None:
            out.setdefault(version, []).extend(group)
    return out


def _file_version(filename: str, project: NormalizedName, names: dict[str, bool]) -> str | None:
    """The version written in a wheel's or sdist's name, as pip reads it; None for other files
    and for files of another project. ``names`` remembers which wheel prefixes are ours."""
    if filename.endswith(".whl"):
        # NAME-VERSION(-BUILD)-PYTHON-ABI-PLATFORM.whl, split no further than needed
        name, _, rest = filename.partition("-")
        version, _, tags = rest.partition("-")
        if tags.count("-") < 2:
            return None
        ours = names.get(name)
        if ours is None:
            ours = names[name] = canonicalize_name(name) == project
        return version if ours else None
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
