"""The PR record as a pure function: literal inputs, exact expectations."""

from __future__ import annotations

from packaging.version import Version

from depbot.models import Advisory, Batch, Kind, RolledBack, TestResult, Update, canonicalize_name
from depbot.stages.publish import EXCERPT_LINES, pr_record


def update(
    name: str,
    current: str,
    target: str,
    kind: Kind = Kind.MINOR,
    *,
    advisories: tuple[Advisory, ...] = (),
    group: str | None = None,
    breaking: bool = False,
) -> Update:
    return Update(
        canonicalize_name(name),
        Version(current),
        Version(target),
        kind,
        ("requirements.txt",),
        advisories=advisories,
        breaking=breaking,
        group=group,
    )


GHSA = Advisory(
    "GHSA-9wx4-h78v-vm56",
    canonicalize_name("requests"),
    aliases=frozenset({"CVE-2024-35195", "PYSEC-2024-1"}),
)
PASSING = TestResult(True, "collected 12 items\n12 passed in 3.21s\n", duration=3.214)


def test_security_batch_body() -> None:
    kept = (
        update("requests", "2.31.0", "2.32.0", Kind.SECURITY, advisories=(GHSA,)),
        update("jinja2", "3.1.3", "3.1.4", Kind.SECURITY),
    )
    record = pr_record(
        Batch("security", Kind.SECURITY, kept),
        kept,
        test_command="pytest -q",
        test_runs=2,
        passing=PASSING,
    )

    assert record.title == "depbot: security updates (2)"
    assert record.labels == ("dependencies", "security")
    assert record.body == (
        "Updates the `depbot/security` batch.\n"
        "\n"
        "| package | kind | from → to | advisories |\n"
        "| --- | --- | --- | --- |\n"
        "| requests | security | 2.31.0 → 2.32.0 | "
        "[GHSA-9wx4-h78v-vm56](https://osv.dev/vulnerability/GHSA-9wx4-h78v-vm56)"
        " (CVE-2024-35195, PYSEC-2024-1) |\n"
        "| jinja2 | security | 3.1.3 → 3.1.4 | — |\n"
        "\n"
        "Lockfiles: `requirements.txt`\n"
        "\n"
        "### Test evidence\n"
        "- command: `pytest -q`\n"
        "- test runs: 2\n"
        "- last passing run: 3.2 s\n"
        "\n"
        "```text\n"
        "collected 12 items\n"
        "12 passed in 3.21s\n"
        "```\n"
    )


def test_single_update_and_major_family_titles() -> None:
    one = (update("idna", "3.6", "3.7"),)
    torch = (
        update("torchvision", "0.14.0", "0.20.1", Kind.MAJOR, group="torch", breaking=True),
        update("torch", "1.13.0", "2.5.1", Kind.MAJOR, group="torch", breaking=True),
    )

    minor = pr_record(Batch("minor", Kind.MINOR, one), one)
    major = pr_record(Batch("major-torch", Kind.MAJOR, torch), torch)

    assert minor.title == "depbot: minor update idna 3.6 → 3.7"
    assert major.title == "depbot: major update torch 1.13.0 → 2.5.1"
    assert "| torchvision (torch family) | major (breaking) | 0.14.0 → 0.20.1 | — |" in major.body
    assert major.labels == ("dependencies", "major")


def test_rolled_back_updates_show_reason_and_a_trimmed_excerpt() -> None:
    kept = (update("idna", "3.6", "3.7"),)
    log = "\n".join(f"line {i}" for i in range(100)) + "\nFAILED tests/test_np.py::test_dtype\n"
    rolled = (
        RolledBack(update("numpy", "1.26.4", "2.0.0"), "tests-failed", log),
        RolledBack(update("scipy", "1.11.0", "1.14.0"), "not-tested"),
    )

    body = pr_record(
        Batch("minor", Kind.MINOR, kept + tuple(r.update for r in rolled)), kept, rolled
    ).body

    section = body[body.index("### Rolled back") : body.index("### Test evidence")]
    assert "- **numpy** 1.26.4 → 2.0.0: tests-failed\n  ```text\n" in section
    assert "FAILED tests/test_np.py::test_dtype" in section
    assert "line 80" not in section
    assert section.count("\n  line ") == EXCERPT_LINES - 1
    assert "- **scipy** 1.11.0 → 1.14.0: not-tested\n" in section
    assert "no passing test run is recorded" in body


def test_a_log_with_backticks_cannot_break_out_of_its_fence() -> None:
    kept = (update("idna", "3.6", "3.7"),)
    evil = TestResult(True, "```\n# injected heading\n````", duration=1.0)

    body = pr_record(Batch("minor", Kind.MINOR, kept), kept, passing=evil).body

    assert "\n`````text\n```\n# injected heading\n````\n`````\n" in body


def test_secrets_are_redacted_everywhere() -> None:
    kept = (update("idna", "3.6", "3.7"),)
    leaky = TestResult(True, "token=ghp_SECRET123 and ghp_SECRET123456", duration=1.0)
    rolled = (RolledBack(update("six", "1.0", "1.1"), "tests-failed", "auth ghp_SECRET123 failed"),)

    record = pr_record(
        Batch("minor", Kind.MINOR, kept),
        kept,
        rolled,
        test_command="pytest --token ghp_SECRET123",
        passing=leaky,
        secrets=["ghp_SECRET123", "ghp_SECRET123456", ""],
    )

    assert "SECRET" not in record.body
    assert "token=*** and ***" in record.body


def test_huge_excerpts_drop_out_before_the_body_gets_too_long() -> None:
    kept = (update("idna", "3.6", "3.7"),)
    wide = "\n".join("x" * 300 for _ in range(20))
    rolled = tuple(
        RolledBack(update(f"pkg{i}", "1.0", "2.0"), "tests-failed", wide) for i in range(40)
    )

    body = pr_record(Batch("minor", Kind.MINOR, kept), kept, rolled).body

    assert len(body) < 65_536
    assert "- **pkg39** 1.0 → 2.0: tests-failed" in body
    assert "xxxx" not in body


def test_markdown_table_cells_are_escaped_and_odd_ids_not_linked() -> None:
    odd = Advisory("weird id|x", canonicalize_name("idna"))
    kept = (update("idna", "3.6", "3.7", Kind.SECURITY, advisories=(odd,)),)

    body = pr_record(Batch("security", Kind.SECURITY, kept), kept).body

    assert "| weird id\\|x |" in body
    assert "osv.dev" not in body


def test_the_record_is_deterministic() -> None:
    kept = (update("idna", "3.6", "3.7"),)
    batch = Batch("minor", Kind.MINOR, kept)
    assert pr_record(batch, kept, passing=PASSING) == pr_record(batch, kept, passing=PASSING)


def test_message_is_title_blank_line_body() -> None:
    kept = (update("idna", "3.6", "3.7"),)
    record = pr_record(Batch("minor", Kind.MINOR, kept), kept)
    assert record.message == f"{record.title}\n\n{record.body}"
    assert record.message.endswith("\n")
    assert not record.message.endswith("\n\n")
