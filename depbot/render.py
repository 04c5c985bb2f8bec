"""How plans and run outcomes look: JSON (stable fields, SPEC §7), Markdown, and terminal text.

Pure functions from values to strings or JSON-ready dicts; the CLI decides where they go.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from depbot.forge.interface import OpenBatch
from depbot.models import Advisory, BatchOutcome, Moved, Plan, Skipped, Update
from depbot.state.store import BatchRecord, RollbackRecord

if TYPE_CHECKING:
    from depbot.server.queue import Job

__all__ = [
    "moved_change",
    "plan_json",
    "plan_markdown",
    "plan_text",
    "run_json",
    "run_markdown",
    "run_text",
    "status_json",
    "status_markdown",
    "status_text",
    "to_json",
]

SCHEMA = 1


def to_json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=False)


def _advisory_json(a: Advisory) -> dict[str, Any]:
    return {"id": a.id, "aliases": sorted(a.aliases), "fixed": [str(v) for v in a.fixed]}


def _update_json(u: Update) -> dict[str, Any]:
    return {
        "name": u.name,
        "lockfiles": list(u.lockfiles),
        "current": str(u.current),
        "target": str(u.target),
        "kind": u.kind.value,
        "advisories": [_advisory_json(a) for a in u.advisories],
        "breaking": u.breaking,
    }


def _skipped_json(skipped: Sequence[Skipped]) -> list[dict[str, str]]:
    return [{"name": s.name, "reason": s.reason} for s in skipped]


def plan_json(plan: Plan) -> dict[str, Any]:
    """The stable ``plan`` document of SPEC §7, and nothing else."""
    return {
        "schema": SCHEMA,
        "updates": [_update_json(u) for u in plan.updates],
        "skipped": _skipped_json(plan.skipped),
        "batches": [
            {
                "id": b.id,
                "kind": b.kind.value,
                "updates": [{"name": u.name, "target": str(u.target)} for u in b.updates],
            }
            for b in plan.batches
        ],
        "notes": list(plan.notes),
    }


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _advisory_ids(u: Update) -> str:
    return ", ".join(a.id for a in u.advisories)


def _change(u: Update) -> str:
    return f"{u.current} → {u.target}" + (" (breaking)" if u.breaking else "")


def plan_markdown(plan: Plan) -> str:
    """The plan as GitHub-flavoured Markdown, for a CI step summary."""
    lines = ["# depbot plan", ""]
    if not plan.batches:
        lines.append("Everything is up to date.")
    for batch in plan.batches:
        lines += [f"## `{batch.branch}` ({batch.kind.value})", ""]
        lines += ["| package | change | advisories | lockfiles |", "| --- | --- | --- | --- |"]
        for u in batch.updates:
            files = ", ".join(u.lockfiles)
            lines.append(f"| {u.name} | {_change(u)} | {_advisory_ids(u)} | {files} |")
        lines.append("")
    lines += _problems_markdown(plan)
    return "\n".join(lines).rstrip() + "\n"


def _problems_markdown(plan: Plan) -> list[str]:
    lines: list[str] = []
    if plan.source_errors:
        lines += ["## Advisory sources that could not answer", ""]
        lines += [f"- **{e}**" for e in plan.source_errors] + [""]
    lines += _skipped_markdown(plan.skipped)
    if plan.notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in plan.notes] + [""]
    return lines


def _skipped_markdown(skipped: Sequence[Skipped]) -> list[str]:
    if not skipped:
        return []
    return ["## Skipped", "", *(f"- {s.name}: {s.reason}" for s in skipped), ""]


def plan_text(plan: Plan, console: Console) -> None:
    """The plan on a terminal: one table per batch; plain lines when not a terminal."""
    if not plan.batches:
        console.print("Everything is up to date.")
    for batch in plan.batches:
        title = f"{batch.branch} ({batch.kind.value}, {_count(len(batch.updates), 'update')})"
        rows = [
            (u.name, _change(u), _advisory_ids(u), ", ".join(u.lockfiles)) for u in batch.updates
        ]
        _table(console, title, ("package", "change", "advisories", "lockfiles"), rows)
    _problems_text(console, plan.source_errors, plan.skipped, plan.notes)


def _problems_text(
    console: Console, errors: Sequence[str], skipped: Sequence[Any], notes: Sequence[str]
) -> None:
    for e in errors:
        console.print(f"[bold red]ADVISORY SOURCE FAILED:[/] {escape(e)}", highlight=False)
    if skipped:
        console.print("Skipped:")
        for s in skipped:
            console.print(f"  {s.name}: {s.reason}", highlight=False, markup=False)
    for n in notes:
        console.print(f"Note: {n}", highlight=False, markup=False)


def _table(
    console: Console, title: str, header: Sequence[str], rows: Sequence[Sequence[str]]
) -> None:
    if not console.is_terminal:
        console.print(title, highlight=False, markup=False)
        for row in rows:
            console.print("  " + "  ".join(c for c in row if c), highlight=False, markup=False)
        return
    # what comes from outside (package names, messages) is text, never rich markup
    table = Table(title=escape(title), title_justify="left")
    for h in header:
        table.add_column(h)
    for row in rows:
        table.add_row(*(escape(c) for c in row))
    console.print(table)


# ---------------------------------------------------------------------------- run


def run_json(
    trigger: str, outcomes: Sequence[BatchOutcome], skipped: Sequence[Skipped] = ()
) -> dict[str, Any]:
    """The stable ``run`` document of SPEC §7, with the packages the run had to skip
    (``skipped``, as in ``plan``)."""
    return {
        "schema": SCHEMA,
        "trigger": trigger,
        "batches": [
            {
                "id": o.batch.id,
                "kind": o.batch.kind.value,
                "status": o.status,
                "branch": o.branch,
                "pr": o.pr,
                "kept": [
                    {"name": u.name, "current": str(u.current), "target": str(u.target)}
                    for u in o.kept
                ],
                "rolled_back": [
                    {
                        "name": r.update.name,
                        "current": str(r.update.current),
                        "target": str(r.update.target),
                        "reason": r.reason,
                    }
                    for r in o.rolled_back
                ],
                "moved": [
                    {
                        "name": m.name,
                        "current": _str_or_none(m.current),
                        "target": _str_or_none(m.target),
                        "required_by": m.required_by,
                    }
                    for m in o.moved
                ],
                "test_runs": o.test_runs,
            }
            for o in outcomes
        ],
        "skipped": _skipped_json(skipped),
    }


def _str_or_none(value: object) -> str | None:
    return None if value is None else str(value)


def moved_change(m: Moved) -> str:
    """``1.0 → 2.0``, ``added 2.0`` or ``removed 1.0``."""
    if m.current is None:
        return f"added {m.target}"
    if m.target is None:
        return f"removed {m.current}"
    return f"{m.current} → {m.target}"


def _outcome_rows(o: BatchOutcome) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = [(u.name, _change(u), "kept") for u in o.kept]
    for m in o.moved:
        pending = f"; pending in {m.pending}" if m.pending else ""
        rows.append((m.name, moved_change(m), f"moved, required by {m.required_by}{pending}"))
    rows += [(r.update.name, _change(r.update), f"rolled back: {r.reason}") for r in o.rolled_back]
    return rows


def run_text(
    trigger: str,
    outcomes: Sequence[BatchOutcome],
    console: Console,
    skipped: Sequence[Skipped] = (),
) -> None:
    """The run's outcome per batch on a terminal (plain lines when not a terminal), then the
    packages it had to skip."""
    if not outcomes:
        console.print(f"Nothing to do ({trigger}).")
    for o in outcomes:
        where = f" on {o.branch}" if o.branch else ""
        title = f"{o.batch.id}: {o.status}{where} ({_count(o.test_runs, 'test run')})"
        _table(console, title, ("package", "change", "result"), _outcome_rows(o))
        if o.message:
            console.print(o.message, highlight=False, markup=False)
    _problems_text(console, (), skipped, ())


def run_markdown(
    trigger: str, outcomes: Sequence[BatchOutcome], skipped: Sequence[Skipped] = ()
) -> str:
    """The run's outcome as Markdown, for a CI step summary, then what it had to skip."""
    lines = [f"# depbot run ({trigger})", ""]
    for o in outcomes:
        where = f" on `{o.branch}`" if o.branch else ""
        lines += [f"## {o.batch.id}: {o.status}{where}, {_count(o.test_runs, 'test run')}", ""]
        lines += ["| package | change | result |", "| --- | --- | --- |"]
        lines += [f"| {n} | {c} | {r} |" for n, c, r in _outcome_rows(o)]
        if o.message:
            lines += ["", "```", o.message, "```"]
        lines.append("")
    lines += _skipped_markdown(skipped)
    return "\n".join(lines).rstrip() + "\n"


# ---------------------------------------------------------------------------- status


def status_json(
    open_batches: Sequence[OpenBatch],
    remembered: Mapping[str, BatchRecord],
    rollbacks: Sequence[RollbackRecord],
    now: datetime,
    jobs: Sequence[Job] = (),
) -> dict[str, Any]:
    """What ``depbot status`` reports: open batches, blocked (rolled-back) updates and the
    webhook's jobs not done yet (``depbot serve --repo``'s queue)."""
    batches = []
    for b in open_batches:
        record = remembered.get(b.id)
        state = record.status if record else "open"
        if not b.ours:
            state = "edited by someone else"
        batches.append(
            {
                "id": b.id,
                "branch": b.branch,
                "status": state,
                "pr": b.pr,
                "commit": b.commit,
                "title": b.title,
            }
        )
    shown = {b.id for b in open_batches}
    for record in remembered.values():
        if record.status == "closed" and record.id not in shown:
            # superseded: the branch is gone, the record says what happened to it
            closed = {"id": record.id, "branch": record.branch, "status": "closed"}
            batches.append({**closed, "pr": record.pr, "commit": None, "title": ""})
    rolled = [
        {
            "name": r.name,
            "version": r.version,
            "reason": r.reason,
            "since": r.at.date().isoformat(),
            "age_days": r.age(now).days,
            "stale": r.stale(now),
        }
        for r in rollbacks
    ]
    queued = [
        {
            "id": j.id,
            "state": j.state,
            "advisory": j.event.advisory_id,
            "packages": list(j.event.packages),
            "attempts": j.attempts,
            "last_error": j.last_error,
            "received": datetime.fromtimestamp(j.received, timezone.utc).isoformat(),
        }
        for j in jobs
    ]
    return {"schema": SCHEMA, "batches": batches, "rolled_back": rolled, "jobs": queued}


def _job_rows(doc: Mapping[str, Any]) -> list[tuple[str, ...]]:
    return [
        (
            str(j["id"]),
            j["advisory"],
            ", ".join(j["packages"]),
            j["state"] + (f" after {j['attempts']} attempts" if j["attempts"] > 1 else ""),
            j["last_error"] or "",
        )
        for j in doc.get("jobs", ())
    ]


def _status_rows(doc: Mapping[str, Any]) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    batches: list[tuple[str, ...]] = [
        (b["branch"], b["status"], b["title"]) for b in doc["batches"]
    ]
    rolled: list[tuple[str, ...]] = [
        (
            r["name"],
            r["version"],
            r["reason"],
            f"{r['age_days']} days" + (" (blocked over a week)" if r["stale"] else ""),
        )
        for r in doc["rolled_back"]
    ]
    return batches, rolled


def status_text(doc: Mapping[str, Any], console: Console) -> None:
    batches, rolled = _status_rows(doc)
    jobs = _job_rows(doc)
    if not batches and not rolled and not jobs:
        console.print("No open batches and no rolled-back updates.")
        return
    if batches:
        _table(console, "Open batches", ("branch", "state", "title"), batches)
    if rolled:
        _table(console, "Rolled back", ("package", "version", "reason", "age"), rolled)
    if jobs:
        _table(console, "Webhook jobs not done", _JOB_COLUMNS, jobs)


def status_markdown(doc: Mapping[str, Any]) -> str:
    batches, rolled = _status_rows(doc)
    lines = ["# depbot status", "", "| branch | state | title |", "| --- | --- | --- |"]
    lines += [f"| `{b}` | {s} | {t} |" for b, s, t in batches]
    lines += ["", "| package | version | reason | age |", "| --- | --- | --- | --- |"]
    lines += [f"| {n} | {v} | {r} | {a} |" for n, v, r, a in rolled]
    jobs = _job_rows(doc)
    if jobs:
        lines += ["", "| " + " | ".join(_JOB_COLUMNS) + " |", "| --- " * len(_JOB_COLUMNS) + "|"]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in jobs]
    return "\n".join(lines) + "\n"


_JOB_COLUMNS = ("job", "advisory", "packages", "state", "last error")
