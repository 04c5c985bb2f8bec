"""publish: the PR record of a batch, as a pure function of its outcome (SPEC §5).

The record is deterministic (no clock, no run-specific paths), so a rerun that finds nothing new
renders the same text and the forge reports ``unchanged``. Values known to be secret are
replaced before anything from a test log reaches the body. The commit message follows the
ecosystem's convention (``Bump x from a to b``) and ends in an ``updated-dependencies:`` block
shaped like Dependabot's, so tools that read that block keep working on depbot's PRs.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from urllib.parse import urlsplit

import yaml
from packaging.version import Version

from depbot.forge.interface import PRRecord
from depbot.models import Advisory, Batch, Lockfile, Moved, RolledBack, TestResult, Update

__all__ = [
    "BODY_LIMIT",
    "EXCERPT_LINES",
    "OSV_URL",
    "direct_packages",
    "pr_record",
    "release_page",
    "update_type",
]

EXCERPT_LINES = 20
"""How many lines of a failing test's output a rolled-back update shows."""
OSV_URL = "https://osv.dev/vulnerability/"
BODY_LIMIT = 60_000
"""GitHub refuses PR bodies over 65536 characters; stay below with room for the forge's mark."""

_SHORTER_EXCERPTS = (EXCERPT_LINES, 5, 0)
_LINE_LIMIT = 300
_ADVISORY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*\Z")


def pr_record(
    batch: Batch,
    kept: Sequence[Update],
    rolled_back: Sequence[RolledBack] = (),
    *,
    test_command: str = "",
    test_runs: int = 0,
    passing: TestResult | None = None,
    secrets: Collection[str] = (),
    moved: Sequence[Moved] = (),
    index_url: str | None = None,
    direct: Collection[str] | None = None,
) -> PRRecord:
    """The title, Markdown body, labels and commit message that publish ``kept`` for ``batch``.

    ``passing`` is the verdict of the run the published lockfiles passed; ``test_runs`` is how
    many test runs the batch cost (only shown when positive, as cached reruns cost none).
    ``index_url`` links each target to its release page when the index has project pages;
    ``direct`` names the packages a source file asks for (None: unknown, all count as direct).
    """
    title = _title(batch, kept)
    body = ""
    for lines in _SHORTER_EXCERPTS:
        # Excerpts are what grows without bound; the table and evidence must stay.
        sections = [
            _updates_section(batch, kept, index_url) + _moved_section(moved),
            _rolled_back_section(rolled_back, lines),
            _evidence_section(test_command, test_runs, passing),
            _footer(kept),
        ]
        body = _redact(_render(sections), secrets)
        if len(body) <= BODY_LIMIT:
            break
    if len(body) > BODY_LIMIT:
        body = body[: BODY_LIMIT - 40].rstrip() + "\n\n… (truncated by depbot)\n"
    labels = ("dependencies", batch.kind.value)
    message = _commit_message(title, kept, rolled_back, direct)
    proposal = "\n".join(sorted(f"{u.name}=={u.target}" for u in kept))
    return PRRecord(
        title=_redact(title, secrets),
        body=body,
        labels=labels,
        commit_message=_redact(message, secrets),
        proposal=f"{batch.id}\n{proposal}",
    )


def direct_packages(lockfiles: Sequence[Lockfile]) -> frozenset[str] | None:
    """The packages a source file asks for; None when no lockfile says (no ``# via`` lines)."""
    pins = [p for lf in lockfiles for p in lf.pins]
    if not any(p.via for p in pins):
        return None
    return frozenset(p.name for p in pins if p.direct)


def update_type(current: Version, target: Version) -> str:
    """Dependabot's ``update-type``: ``version-update:semver-major|minor|patch``."""
    a, b = (*current.release, 0, 0), (*target.release, 0, 0)
    if current.epoch != target.epoch or a[0] != b[0]:
        return "version-update:semver-major"
    return "version-update:semver-minor" if a[1] != b[1] else "version-update:semver-patch"


def release_page(index_url: str | None, name: str, version: Version) -> str | None:
    """The release's project page when the index is a warehouse-style one (``…/simple``)."""
    if not index_url:
        return None
    parts = urlsplit(index_url)
    if parts.scheme != "https" or parts.path.rstrip("/") != "/simple" or parts.username:
        return None
    return f"https://{parts.netloc}/project/{name}/{version}/"


def _title(batch: Batch, kept: Sequence[Update]) -> str:
    if not kept:
        return f"depbot: the {batch.id} batch has no update left"
    if len(kept) == 1:
        (u,) = kept
        return f"Bump {u.name} from {u.current} to {u.target}"
    groups = {u.group for u in kept}
    if len(groups) == 1 and None not in groups:
        lead = _lead(kept)
        return (
            f"Bump {lead.name} from {lead.current} to {lead.target}"
            f" with its family ({len(kept)} updates)"
        )
    return f"Bump the {batch.kind.value} batch with {len(kept)} updates"


def _lead(updates: Sequence[Update]) -> Update:
    """The update that names a family: the one whose name is the group's, else the first."""
    return next((u for u in updates if u.group and u.name == u.group), updates[0])


def _commit_message(
    title: str,
    kept: Sequence[Update],
    rolled_back: Sequence[RolledBack],
    direct: Collection[str] | None,
) -> str:
    lines = [title, ""]
    lines += [f"Bumps {u.name} from {u.current} to {u.target}." for u in kept]
    if rolled_back:
        lines.append("")
        lines += [f"Left out: {r.update.name} {r.update.target} ({r.reason})." for r in rolled_back]
    entries = [
        {
            "dependency-name": str(u.name),
            "dependency-version": str(u.target),
            "dependency-type": (
                "direct:production" if direct is None or u.name in direct else "indirect"
            ),
            "update-type": update_type(u.current, u.target),
        }
        for u in kept
    ]
    trailer = yaml.safe_dump(
        {"updated-dependencies": entries}, sort_keys=False, default_flow_style=False
    )
    return "\n".join([*lines, "", "---", trailer.rstrip("\n"), "...", ""])


def _updates_section(batch: Batch, kept: Sequence[Update], index_url: str | None) -> str:
    if not kept:
        return "No update survived verification."
    rows = ["| package | kind | from → to | advisories |", "| --- | --- | --- | --- |"]
    for u in kept:
        kind = u.kind.value + (" (breaking)" if u.breaking else "")
        group = f" ({u.group} family)" if u.group and u.group != u.name else ""
        advisories = ", ".join(_advisory(a) for a in u.advisories) or "—"
        page = release_page(index_url, str(u.name), u.target)
        target = f"[{u.target}]({page})" if page else str(u.target)
        rows.append(
            f"| {_cell(u.name)}{_cell(group)} | {kind} | {u.current} → {target} | {advisories} |"
        )
    lockfiles = sorted({path for u in kept for path in u.lockfiles})
    files = ", ".join(f"`{_cell(p)}`" for p in lockfiles)
    return (
        f"Updates the `depbot/{batch.id}` batch.\n\n" + "\n".join(rows) + f"\n\nLockfiles: {files}"
    )


def _moved_section(moved: Sequence[Moved]) -> str:
    """Pins the relock changed beyond the batch's updates: every changed pin is accounted for."""
    if not moved:
        return ""
    rows = ["", "", "Also moved, because an update requires it:", ""]
    rows += ["| package | from → to | required by |", "| --- | --- | --- |"]
    for m in moved:
        change = f"{m.current or 'added'} → {m.target or 'removed'}"
        pending = f" (itself proposed in `depbot/{m.pending}`)" if m.pending else ""
        rows.append(f"| {_cell(m.name)}{pending} | {change} | {_cell(m.required_by)} |")
    return "\n".join(rows)


def _advisory(advisory: Advisory) -> str:
    aliases = sorted(advisory.aliases - {advisory.id})
    also = f" ({', '.join(_cell(a) for a in aliases)})" if aliases else ""
    if _ADVISORY_ID.match(advisory.id):
        return f"[{advisory.id}]({OSV_URL}{advisory.id}){also}"
    return _cell(advisory.id) + also


def _rolled_back_section(rolled_back: Sequence[RolledBack], excerpt_lines: int) -> str:
    if not rolled_back:
        return ""
    parts = [
        "### Rolled back",
        "These updates are left out of this pull request; depbot tries each again when a newer"
        " release appears.",
        "",
    ]
    for r in rolled_back:
        u = r.update
        line = f"- **{_cell(u.name)}** {u.current} → {u.target}: {r.reason}"
        detail = r.detail.strip()
        if r.reason != "tests-failed" and detail and "\n" not in detail and len(detail) < 200:
            parts.append(f"{line} ({_cell(detail)})")
            continue
        parts.append(line)
        excerpt = _tail(r.detail, excerpt_lines)
        if excerpt:
            summary = "failing test output" if r.reason == "tests-failed" else "details"
            parts += [
                f"  <details><summary>{summary}</summary>",
                "",
                _fenced(excerpt, indent="  "),
                "",
                "  </details>",
            ]
    return "\n".join(parts)


def _evidence_section(test_command: str, test_runs: int, passing: TestResult | None) -> str:
    parts = ["### Test evidence"]
    if test_command:
        parts.append(f"- command: `{test_command.replace('`', '')}`")
    if test_runs > 0:
        parts.append(f"- test runs: {test_runs}")
    if passing is None:
        parts.append("- no passing test run is recorded for these lockfiles")
        return "\n".join(parts)
    parts.append(f"- last passing run: {passing.duration:.1f} s")
    tail = _tail(passing.log_tail, EXCERPT_LINES)
    if tail:
        parts.append("")
        parts.append(_fenced(tail))
    return "\n".join(parts)


def _footer(kept: Sequence[Update]) -> str:
    example = f"{kept[0].name} =={kept[0].target}" if kept else "name ==version"
    bare = str(kept[0].name) if kept else "name"
    return (
        "---\n"
        "<sub>depbot keeps this pull request up to date and never overwrites commits that"
        " someone else pushes to its branch. To skip a version, add it to `ignore` in"
        f' `[tool.depbot]` of `pyproject.toml`: `ignore = ["{example}"]`;'
        f' `ignore = ["{bare}"]` skips every update of the package.</sub>'
    )


def _render(sections: Sequence[str]) -> str:
    return "\n\n".join(s for s in sections if s) + "\n"


def _tail(text: str, lines: int) -> str:
    if lines <= 0:
        return ""
    kept = [line.rstrip()[:_LINE_LIMIT] for line in text.strip("\n").splitlines()[-lines:]]
    return "\n".join(kept).strip("\n")


def _fenced(text: str, indent: str = "") -> str:
    # A fence longer than any backtick run inside cannot be closed by the log itself.
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    lines = [f"{fence}text", *text.splitlines(), fence]
    return "\n".join(f"{indent}{line}" if line else line for line in lines)


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _redact(text: str, secrets: Collection[str]) -> str:
    # Longest first, so a secret containing another is replaced whole.
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text
