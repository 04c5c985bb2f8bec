#!/usr/bin/env python3
"""Checks a release tag before anything is built: release.yml's first job, also ``dev.py``'s.

    python .ci/release_check.py TAG [--notes FILE]

TAG must be ``v`` plus the ``version`` of ``[project]`` in pyproject.toml, and CHANGELOG.md
(Keep a Changelog) must have a dated section ``## [VERSION] - YYYY-MM-DD`` with some text. With
``--notes`` the section's text is written to FILE (the GitHub release's notes). Exit 0 when
both hold, 1 with the reason on stderr otherwise.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
SECTION = re.compile(r"^## \[(?P<version>[^\]]+)\](?P<rest>.*)$", re.MULTILINE)
DATED = re.compile(r"^ - \d{4}-\d{2}-\d{2}$")


class ReleaseError(Exception):
    """The tag, the version and the changelog do not agree."""


def package_version(pyproject: Path) -> str:
    """``[project] version`` of ``pyproject``."""
    with pyproject.open("rb") as fh:
        data = tomllib.load(fh)
    version = data.get("project", {}).get("version")
    if not isinstance(version, str) or not version:
        raise ReleaseError(f"{pyproject}: no static [project] version")
    return version


def changelog_section(changelog: str, version: str) -> str:
    """The text of ``version``'s section in a Keep a Changelog file, without its heading."""
    headings = list(SECTION.finditer(changelog))
    for i, heading in enumerate(headings):
        if heading["version"] != version:
            continue
        if not DATED.match(heading["rest"]):
            raise ReleaseError(f"CHANGELOG.md: section [{version}] has no ' - YYYY-MM-DD' date")
        end = headings[i + 1].start() if i + 1 < len(headings) else len(changelog)
        # link references at the bottom ([0.1.0]: https://…) are not part of the notes
        body = re.sub(r"^\[[^\]]+\]: \S+$", "", changelog[heading.end() : end], flags=re.M)
        body = body.strip()
        if not body:
            raise ReleaseError(f"CHANGELOG.md: section [{version}] is empty")
        return body + "\n"
    raise ReleaseError(f"CHANGELOG.md: no section for {version} ('## [{version}] - DATE')")


def check(tag: str, root: Path = ROOT) -> str:
    """The release notes for ``tag``; raises ReleaseError when tag, version and changelog
    disagree."""
    version = package_version(root / "pyproject.toml")
    if tag.removeprefix("refs/tags/") != f"v{version}":
        raise ReleaseError(f"tag {tag!r} does not match the package version: expected 'v{version}'")
    try:
        changelog = (root / "CHANGELOG.md").read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReleaseError("CHANGELOG.md is missing") from None
    return changelog_section(changelog, version)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tag", help="the pushed tag, e.g. v0.1.0 (or refs/tags/v0.1.0)")
    parser.add_argument("--notes", type=Path, help="write the changelog section here")
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        notes = check(args.tag, args.root)
    except ReleaseError as exc:
        print(f"release check: {exc}", file=sys.stderr)
        return 1
    if args.notes:
        args.notes.write_text(notes, encoding="utf-8")
    print(f"release check: {args.tag} matches the package version and CHANGELOG.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
