"""The dashboard (SPEC §8) and which open batches are superseded: pure functions over values.

The dashboard is one Markdown document: open batches with their PRs, rolled-back updates with
their age, reason and an excerpt (those blocked for more than a week flagged), advisory
sources that failed, and packages skipped with their reason. Ages are whole days, so a rerun on
the same day renders the same text and the forge writes nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from depbot.forge.interface import Forge, OpenBatch
from depbot.models import Skipped

__all__ = [
    "BLOCKED_AFTER",
    "DASHBOARD_LIMIT",
    "Rollback",
    "Tidied",
    "dashboard_body",
    "superseded",
    "tidy",
]

BLOCKED_AFTER = timedelta(days=7)
"""A rolled-back update older than this is flagged: "dependency updates blocked > 1 week"."""
DASHBOARD_LIMIT = 60_000
_EXCERPTS = (10, 3, 0)


class Rollback(Protocol):
    """What the dashboard needs of a remembered rollback (the store's record has it)."""

    @property
    def name(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def reason(self) -> str: ...
    @property
    def detail(self) -> str: ...
    @property
    def at(self) -> datetime: ...


def dashboard_body(
    *,
    open_batches: Sequence[OpenBatch],
    rollbacks: Sequence[Rollback],
    now: datetime,
    source_errors: Sequence[str] = (),
    skipped: Sequence[Skipped] = (),
) -> str:
    """The dashboard's Markdown, deterministic for the same inputs on the same day."""
    body = ""
    for lines in _EXCERPTS:
        parts = [
            "# depbot dashboard",
            "depbot rewrites this issue on every run. Close the pull requests you do not want;"
            " to skip a version for good, add it to `ignore` in `[tool.depbot]`.",
            _batches(open_batches),
            _rollbacks(rollbacks, now, lines),
            _list("Advisory sources that failed", sorted(source_errors)),
            _list("Skipped packages", [f"{s.name}: {s.reason}" for s in sorted(skipped, key=_key)]),
        ]
        body = "\n\n".join(p for p in parts if p) + "\n"
        if len(body) <= DASHBOARD_LIMIT:
            return body
    return body[: DASHBOARD_LIMIT - 40].rstrip() + "\n\n… (truncated by depbot)\n"


def superseded(
    open_ids: Collection[str],
    planned: Collection[str],
    statuses: Mapping[str, str],
    *,
    full_plan: bool,
) -> tuple[tuple[str, str], ...]:
    """``(batch id, reason)`` for each open batch of depbot's to close.

    ``planned``: the batch ids of this run's plan; ``statuses``: the run's status per batch id;
    ``full_plan``: the run looked at every kind (``weekly``/``manual``), so a batch missing from
    the plan is gone rather than merely not run (``security`` runs only its own batch).
    """
    closing = []
    for batch_id in sorted(open_ids):
        if statuses.get(batch_id) == "rolled-back":
            closing.append((batch_id, "every update of this batch was rolled back in this run"))
        elif full_plan and batch_id not in planned:
            closing.append(
                (batch_id, "no update is left for this batch: it landed, or was withdrawn")
            )
    return tuple(closing)


@dataclass(frozen=True)
class Tidied:
    """What ``tidy`` did after a run."""

    closed: tuple[tuple[str, str], ...]
    """``(batch id, reason)`` of each batch closed as superseded."""
    dashboard: str | None
    """Where the dashboard lives (issue URL, file path)."""


def tidy(
    forge: Forge,
    *,
    planned: Collection[str],
    statuses: Mapping[str, str],
    full_plan: bool,
    rollbacks: Sequence[Rollback],
    now: datetime,
    source_errors: Sequence[str] = (),
    skipped: Sequence[Skipped] = (),
) -> Tidied:
    """After the batches are published: close depbot's superseded batches (``superseded``),
    then publish the dashboard of what stays open. The arguments are those of ``superseded``
    and ``dashboard_body``."""
    current = forge.open_batches()
    mine = [b.id for b in current if b.ours]
    closing = superseded(mine, planned, statuses, full_plan=full_plan)
    closed = tuple((batch_id, why) for batch_id, why in closing if forge.close(batch_id, why))
    gone = {batch_id for batch_id, _ in closed}
    body = dashboard_body(
        open_batches=[b for b in current if b.id not in gone],
        rollbacks=rollbacks,
        now=now,
        source_errors=source_errors,
        skipped=skipped,
    )
    return Tidied(closed, forge.dashboard(body))


def _batches(open_batches: Sequence[OpenBatch]) -> str:
    if not open_batches:
        return "## Open batches\n\nNo open batch."
    rows = ["## Open batches", "", "| batch | pull request | title |", "| --- | --- | --- |"]
    for b in sorted(open_batches, key=lambda b: b.id):
        pr = f"[{_pr_label(b.pr)}]({b.pr})" if b.pr and b.pr.startswith("http") else (b.pr or "—")
        note = "" if b.ours else " (has commits not made by depbot)"
        rows.append(f"| `{b.branch}`{note} | {pr} | {_cell(b.title)} |")
    return "\n".join(rows)


def _rollbacks(rollbacks: Sequence[Rollback], now: datetime, lines: int) -> str:
    if not rollbacks:
        return "## Rolled back\n\nNo update is rolled back."
    ordered = sorted(rollbacks, key=lambda r: (r.at, r.name, r.version))
    blocked = sum(1 for r in ordered if now - r.at > BLOCKED_AFTER)
    parts = ["## Rolled back"]
    if blocked:
        parts += ["", f"**{blocked} dependency updates blocked > 1 week.**"]
    parts += ["", "| package | version | reason | since | |", "| --- | --- | --- | --- | --- |"]
    for r in ordered:
        days = max((now - r.at).days, 0)
        flag = "blocked > 1 week" if now - r.at > BLOCKED_AFTER else ""
        since = f"{r.at:%Y-%m-%d} ({days} days)"
        parts.append(f"| {_cell(r.name)} | {_cell(r.version)} | {r.reason} | {since} | {flag} |")
    excerpts = [(r, _tail(r.detail, lines)) for r in ordered]
    for r, excerpt in excerpts:
        if excerpt:
            parts += [
                "",
                f"<details><summary>{_cell(r.name)} {_cell(r.version)}: {r.reason}</summary>",
                "",
                _fenced(excerpt),
                "",
                "</details>",
            ]
    return "\n".join(parts)


def _list(title: str, items: Sequence[str]) -> str:
    if not items:
        return ""
    return f"## {title}\n\n" + "\n".join(f"- {_cell(item)}" for item in items)


def _key(s: Skipped) -> tuple[str, str]:
    return (s.name, s.reason)


def _pr_label(url: str) -> str:
    tail = url.rstrip("/").rsplit("/", 1)[-1]
    return f"#{tail}" if tail.isdigit() else "pull request"


def _tail(text: str, lines: int) -> str:
    if lines <= 0:
        return ""
    return "\n".join(line.rstrip()[:300] for line in text.strip("\n").splitlines()[-lines:])


def _fenced(text: str) -> str:
    # a fence longer than any backtick run inside cannot be closed by the log itself
    fence = "`" * max(3, _longest_backticks(text) + 1)
    return f"{fence}text\n{text}\n{fence}"


def _longest_backticks(text: str) -> int:
    best = run = 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        best = max(best, run)
    return best


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
