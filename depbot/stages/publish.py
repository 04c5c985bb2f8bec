"""publish: the PR record of a batch, as a pure function of its outcome (SPEC §5).

The record is deterministic (no clock, no run-specific paths), so a rerun that finds nothing new
renders the same text and the forge reports ``unchanged``. Values known to be secret are
replaced before anything from a test log reaches the body.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

from depbot.forge.interface import PRRecord
from depbot.models import Advisory, Batch, Kind, Moved, RolledBack, TestResult, Update

__all__ = ["EXCERPT_LINES", "OSV_URL", "pr_record"]

EXCERPT_LINES = 20
"""How many lines of a failing test's output a rolled-back update shows."""
OSV_URL = "https://osv.dev/vulnerability/"

_BODY_LIMIT = 60_000
"""GitHub refuses PR bodies over 65536 characters; stay below with room for a footer."""
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
) -> PRRecord:
    """The title, Markdown body and labels of the PR that publishes ``kept`` for ``batch``.

    ``passing`` is the verdict of the run the published lockfiles passed; ``test_runs`` is how
    many test runs the batch cost (only shown when positive, as cached reruns cost none).
    """
    title = _title(batch, kept)
    sections = [
        _updates_section(batch, kept) + _moved_section(moved),
        _rolled_back_section(rolled_back, EXCERPT_LINES),
        _evidence_section(test_command, test_runs, passing),
    ]
    body = _render(sections)
    if len(body) > _BODY_LIMIT:
        # Excerpts are what grows without bound; the table and evidence must stay.
        sections[1] = _rolled_back_section(rolled_back, 0)
        body = _render(sections)
    body = _redact(body, secrets)[:_BODY_LIMIT]
    labels = ("dependencies", batch.kind.value)
    return PRRecord(title=_redact(title, secrets), body=body, labels=labels)


def _title(batch: Batch, kept: Sequence[Update]) -> str:
    kind = batch.kind.value
    if len(kept) == 1 or (batch.kind is Kind.MAJOR and kept):
        lead = _lead(kept)
        return f"depbot: {kind} update {lead.name} {lead.current} → {lead.target}"
    return f"depbot: {kind} updates ({len(kept)})"


def _lead(updates: Sequence[Update]) -> Update:
    """The update that names a family: the one whose name is the group's, else the first."""
    return next((u for u in updates if u.group and u.name == u.group), updates[0])


def _updates_section(batch: Batch, kept: Sequence[Update]) -> str:
    if not kept:
        return "No update survived verification."
    rows = ["| package | kind | from → to | advisories |", "| --- | --- | --- | --- |"]
    for u in kept:
        kind = u.kind.value + (" (breaking)" if u.breaking else "")
        group = f" ({u.group} family)" if u.group and u.group != u.name else ""
        advisories = ", ".join(_advisory(a) for a in u.advisories) or "—"
        rows.append(
            f"| {_cell(u.name)}{_cell(group)} | {kind} | {u.current} → {u.target} | {advisories} |"
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
    parts = ["### Rolled back"]
    for r in rolled_back:
        u = r.update
        parts.append(f"- **{u.name}** {u.current} → {u.target}: {r.reason}")
        excerpt = _tail(r.detail, excerpt_lines)
        if excerpt:
            parts.append(_fenced(excerpt, indent="  "))
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
