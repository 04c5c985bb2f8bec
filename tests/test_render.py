"""Rendering: the stable JSON fields of SPEC §7, and the rows of the Markdown and text views."""

from __future__ import annotations

import json
from io import StringIO

from packaging.version import Version
from rich.console import Console

from depbot.models import (
    Advisory,
    AffectedRange,
    Batch,
    BatchOutcome,
    Kind,
    Plan,
    RolledBack,
    Skipped,
    Update,
    canonicalize_name,
)
from depbot.render import (
    plan_json,
    plan_markdown,
    plan_text,
    run_json,
    run_markdown,
    run_text,
    to_json,
)

V = Version

PYSEC = Advisory(
    id="PYSEC-2018-28",
    package=canonicalize_name("requests"),
    aliases=frozenset({"GHSA-x84v-xcm2-53pg", "CVE-2018-18074"}),
    ranges=(AffectedRange(fixed=V("2.20.0")), AffectedRange(V("3.0"), fixed=V("3.0.1"))),
    summary="Authorization header kept on redirect",
    source="osv-dir:fixtures",
)
SECURITY = Update(
    canonicalize_name("requests"),
    V("2.19.1"),
    V("2.20.0"),
    Kind.SECURITY,
    ("requirements.txt", "requirements/dev.txt"),
    (PYSEC,),
)
MINOR = Update(
    canonicalize_name("requests"), V("2.19.1"), V("2.32.3"), Kind.MINOR, ("requirements.txt",)
)
MAJOR = Update(
    canonicalize_name("torch"),
    V("1.13.0+cu117"),
    V("2.5.1+cu117"),
    Kind.MAJOR,
    ("requirements.txt",),
    breaking=True,
    group="torch",
)
PLAN = Plan(
    updates=(SECURITY, MINOR, MAJOR),
    batches=(
        Batch("security", Kind.SECURITY, (SECURITY,)),
        Batch("minor", Kind.MINOR, (MINOR,)),
        Batch("major-torch", Kind.MAJOR, (MAJOR,)),
    ),
    skipped=(Skipped("pillow", "index answered 503 three times"),),
    source_errors=("pip-audit: pip-audit exited 1",),
    notes=("torch: the cu117 variant ends at 2.0.1",),
)

UPDATE_KEYS = {"name", "lockfiles", "current", "target", "kind", "advisories", "breaking"}


def terminal(width: int = 200) -> tuple[Console, StringIO]:
    buf = StringIO()
    return Console(file=buf, force_terminal=True, width=width, color_system=None), buf


def plain() -> tuple[Console, StringIO]:
    buf = StringIO()
    return Console(file=buf, highlight=False, soft_wrap=True), buf


# ---------------------------------------- plan: JSON


def test_plan_json_has_exactly_the_stable_fields() -> None:
    doc = plan_json(PLAN)
    assert set(doc) == {"schema", "updates", "skipped", "batches", "notes"}
    assert doc["schema"] == 1
    for u in doc["updates"]:
        assert set(u) == UPDATE_KEYS
        for a in u["advisories"]:
            assert set(a) == {"id", "aliases", "fixed"}
    for s in doc["skipped"]:
        assert set(s) == {"name", "reason"}
    for b in doc["batches"]:
        assert set(b) == {"id", "kind", "updates"}
        for u in b["updates"]:
            assert set(u) == {"name", "target"}


def test_plan_json_values() -> None:
    doc = plan_json(PLAN)
    assert doc["updates"][0] == {
        "name": "requests",
        "lockfiles": ["requirements.txt", "requirements/dev.txt"],
        "current": "2.19.1",
        "target": "2.20.0",
        "kind": "security",
        "advisories": [
            {
                "id": "PYSEC-2018-28",
                "aliases": ["CVE-2018-18074", "GHSA-x84v-xcm2-53pg"],
                "fixed": ["2.20.0", "3.0.1"],
            }
        ],
        "breaking": False,
    }
    assert doc["updates"][2]["current"] == "1.13.0+cu117"
    assert doc["updates"][2]["target"] == "2.5.1+cu117"
    assert doc["updates"][2]["breaking"] is True
    assert doc["skipped"] == [{"name": "pillow", "reason": "index answered 503 three times"}]
    assert doc["batches"] == [
        {
            "id": "security",
            "kind": "security",
            "updates": [{"name": "requests", "target": "2.20.0"}],
        },
        {"id": "minor", "kind": "minor", "updates": [{"name": "requests", "target": "2.32.3"}]},
        {
            "id": "major-torch",
            "kind": "major",
            "updates": [{"name": "torch", "target": "2.5.1+cu117"}],
        },
    ]


def test_to_json_round_trips_and_keeps_field_order() -> None:
    text = to_json(plan_json(PLAN))
    assert json.loads(text) == plan_json(PLAN)
    assert list(json.loads(text)) == ["schema", "updates", "skipped", "batches", "notes"]
    assert text.startswith("{\n  ")


def test_empty_plan_json() -> None:
    assert plan_json(Plan((), ())) == {
        "schema": 1,
        "updates": [],
        "skipped": [],
        "batches": [],
        "notes": [],
    }


# ---------------------------------------- plan: Markdown and text


def test_plan_markdown_rows_and_problems() -> None:
    text = plan_markdown(PLAN)
    lines = text.splitlines()
    assert lines[0] == "# depbot plan"
    assert "## `depbot/security` (security)" in lines
    assert "## `depbot/major-torch` (major)" in lines
    assert (
        "| requests | 2.19.1 → 2.20.0 | PYSEC-2018-28 | requirements.txt, requirements/dev.txt |"
        in lines
    )
    assert "| requests | 2.19.1 → 2.32.3 |  | requirements.txt |" in lines
    assert "| torch | 1.13.0+cu117 → 2.5.1+cu117 (breaking) |  | requirements.txt |" in lines
    assert "## Advisory sources that could not answer" in lines
    assert "- **pip-audit: pip-audit exited 1**" in lines
    assert "- pillow: index answered 503 three times" in lines
    assert "- torch: the cu117 variant ends at 2.0.1" in lines
    assert text.endswith("\n") and not text.endswith("\n\n")


def test_empty_plan_markdown() -> None:
    assert plan_markdown(Plan((), ())) == "# depbot plan\n\nEverything is up to date.\n"


def test_plan_text_plain_lines_when_not_a_terminal() -> None:
    console, buf = plain()
    plan_text(PLAN, console)
    assert buf.getvalue().splitlines() == [
        "depbot/security (security, 1 update)",
        "  requests  2.19.1 → 2.20.0  PYSEC-2018-28  requirements.txt, requirements/dev.txt",
        "depbot/minor (minor, 1 update)",
        "  requests  2.19.1 → 2.32.3  requirements.txt",
        "depbot/major-torch (major, 1 update)",
        "  torch  1.13.0+cu117 → 2.5.1+cu117 (breaking)  requirements.txt",
        "ADVISORY SOURCE FAILED: pip-audit: pip-audit exited 1",
        "Skipped:",
        "  pillow: index answered 503 three times",
        "Note: torch: the cu117 variant ends at 2.0.1",
    ]


def test_plan_text_tables_on_a_terminal() -> None:
    console, buf = terminal()
    plan_text(PLAN, console)
    out = buf.getvalue()
    assert "depbot/security (security, 1 update)" in out
    assert "┃ package" in out or "│ package" in out
    row = next(line for line in out.splitlines() if "2.19.1 → 2.20.0" in line)
    assert "requests" in row and "PYSEC-2018-28" in row
    assert "ADVISORY SOURCE FAILED" in out


def test_markup_in_values_is_printed_as_written() -> None:
    plan = Plan((), (), skipped=(Skipped("weird", "[bold]not markup[/bold]"),), notes=("[x]",))
    console, buf = plain()
    plan_text(plan, console)
    assert buf.getvalue().splitlines() == [
        "Everything is up to date.",
        "Skipped:",
        "  weird: [bold]not markup[/bold]",
        "Note: [x]",
    ]


# ---------------------------------------- run

KEPT = Update(canonicalize_name("click"), V("8.1.7"), V("8.1.8"), Kind.MINOR, ("requirements.txt",))
ROLLED = RolledBack(
    Update(canonicalize_name("attrs"), V("23.1.0"), V("23.2.0"), Kind.MINOR, ("requirements.txt",)),
    "tests-failed",
    "FAILED tests/test_x.py::test_y",
)
OUTCOMES = (
    BatchOutcome(
        Batch("minor", Kind.MINOR, (KEPT, ROLLED.update)),
        "opened",
        kept=(KEPT,),
        rolled_back=(ROLLED,),
        test_runs=3,
        branch="depbot/minor",
        pr="https://forge.invalid/pr/1",
    ),
    BatchOutcome(
        Batch("security", Kind.SECURITY, (SECURITY,)),
        "failed",
        test_runs=1,
        message="the current lockfiles fail their tests",
    ),
)


def test_run_json_has_exactly_the_stable_fields() -> None:
    doc = run_json("weekly", OUTCOMES, (Skipped("delta", "delta: answered HTTP 503"),))
    assert set(doc) == {"schema", "trigger", "batches", "skipped"}
    assert (doc["schema"], doc["trigger"]) == (1, "weekly")
    assert doc["skipped"] == [{"name": "delta", "reason": "delta: answered HTTP 503"}]
    for b in doc["batches"]:
        assert set(b) == {
            "id",
            "kind",
            "status",
            "branch",
            "pr",
            "kept",
            "rolled_back",
            "moved",
            "test_runs",
        }
        for k in b["kept"]:
            assert set(k) == {"name", "current", "target"}
        for r in b["rolled_back"]:
            assert set(r) == {"name", "current", "target", "reason"}
    assert doc["batches"][0] == {
        "id": "minor",
        "kind": "minor",
        "status": "opened",
        "branch": "depbot/minor",
        "pr": "https://forge.invalid/pr/1",
        "kept": [{"name": "click", "current": "8.1.7", "target": "8.1.8"}],
        "rolled_back": [
            {"name": "attrs", "current": "23.1.0", "target": "23.2.0", "reason": "tests-failed"}
        ],
        "moved": [],
        "test_runs": 3,
    }
    assert doc["batches"][1] == {
        "id": "security",
        "kind": "security",
        "status": "failed",
        "branch": None,
        "pr": None,
        "kept": [],
        "rolled_back": [],
        "moved": [],
        "test_runs": 1,
    }
    empty = {"schema": 1, "trigger": "security", "batches": [], "skipped": []}
    assert run_json("security", ()) == empty


def test_run_markdown_rows() -> None:
    text = run_markdown("weekly", OUTCOMES)
    lines = text.splitlines()
    assert lines[0] == "# depbot run (weekly)"
    assert "## minor: opened on `depbot/minor`, 3 test runs" in lines
    assert "| click | 8.1.7 → 8.1.8 | kept |" in lines
    assert "| attrs | 23.1.0 → 23.2.0 | rolled back: tests-failed |" in lines
    assert "## security: failed, 1 test run" in lines
    at = lines.index("the current lockfiles fail their tests")
    assert lines[at - 1] == lines[at + 1] == "```"
    assert text.endswith("```\n")


def test_run_text_plain_lines() -> None:
    console, buf = plain()
    run_text("weekly", OUTCOMES, console)
    assert buf.getvalue().splitlines() == [
        "minor: opened on depbot/minor (3 test runs)",
        "  click  8.1.7 → 8.1.8  kept",
        "  attrs  23.1.0 → 23.2.0  rolled back: tests-failed",
        "security: failed (1 test run)",
        "the current lockfiles fail their tests",
    ]


def test_run_outputs_list_what_was_skipped_after_the_batches() -> None:
    skipped = (
        Skipped("delta", "delta: malformed page at http://i.invalid/simple/delta/ (read twice)"),
        Skipped("echo", "echo: http://i.invalid/simple/echo/ timed out (3 attempts in 30.0 s)"),
    )
    console, buf = plain()
    run_text("weekly", OUTCOMES, console, skipped)
    lines = buf.getvalue().splitlines()
    assert lines[lines.index("Skipped:") :] == [
        "Skipped:",
        f"  delta: {skipped[0].reason}",
        f"  echo: {skipped[1].reason}",
    ]
    assert lines.index("Skipped:") > lines.index("security: failed (1 test run)")
    markdown = run_markdown("weekly", OUTCOMES, skipped).splitlines()
    at = markdown.index("## Skipped")
    assert markdown[at + 2 :] == [f"- {s.name}: {s.reason}" for s in skipped]
    console, buf = plain()
    run_text("weekly", (), console, skipped)  # nothing to do, but something was skipped
    assert buf.getvalue().splitlines()[:2] == ["Nothing to do (weekly).", "Skipped:"]


def test_run_text_on_a_terminal_and_when_empty() -> None:
    console, buf = terminal()
    run_text("manual", OUTCOMES, console)
    out = buf.getvalue()
    assert "minor: opened on depbot/minor (3 test runs)" in out
    assert any("attrs" in line and "rolled back: tests-failed" in line for line in out.splitlines())
    console, buf = plain()
    run_text("security", (), console)
    assert buf.getvalue() == "Nothing to do (security).\n"


def test_text_from_outside_is_never_read_as_rich_markup() -> None:
    out = StringIO()
    console = Console(file=out, force_terminal=True, width=200, color_system=None)
    odd = Update(
        canonicalize_name("x"), Version("1.0"), Version("1.1"), Kind.MINOR, ("[red]r.txt",)
    )
    plan = Plan(
        (odd,), (Batch("minor", Kind.MINOR, (odd,)),), source_errors=("bad [bold]thing[/]",)
    )
    plan_text(plan, console)
    text = out.getvalue()
    assert "[red]r.txt" in text
    assert "bad [bold]thing[/]" in text
