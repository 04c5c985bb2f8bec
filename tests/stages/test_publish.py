"""The PR record as a pure function: literal inputs, exact expectations."""

from __future__ import annotations

import re

import pytest
import yaml
from packaging.version import Version

from depbot.forge.interface import PRRecord
from depbot.models import Advisory, Batch, Kind, RolledBack, TestResult, Update, canonicalize_name
from depbot.stages.publish import BODY_LIMIT, EXCERPT_LINES, pr_record, release_page, update_type


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

    assert record.title == "Bump the security batch with 2 updates"
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
        "\n"
        "---\n"
        "<sub>depbot keeps this pull request up to date and never overwrites commits that"
        " someone else pushes to its branch. To skip a version, add it to `ignore` in"
        ' `[tool.depbot]` of `pyproject.toml`: `ignore = ["requests ==2.32.0"]`;'
        ' `ignore = ["requests"]` skips every update of the package.</sub>\n'
    )


def test_single_update_and_major_family_titles() -> None:
    one = (update("idna", "3.6", "3.7"),)
    torch = (
        update("torchvision", "0.14.0", "0.20.1", Kind.MAJOR, group="torch", breaking=True),
        update("torch", "1.13.0", "2.5.1", Kind.MAJOR, group="torch", breaking=True),
    )

    minor = pr_record(Batch("minor", Kind.MINOR, one), one)
    major = pr_record(Batch("major-torch", Kind.MAJOR, torch), torch)

    assert minor.title == "Bump idna from 3.6 to 3.7"
    assert major.title == "Bump torch from 1.13.0 to 2.5.1 with its family (2 updates)"
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
    assert (
        "- **numpy** 1.26.4 → 2.0.0: tests-failed\n"
        "  <details><summary>failing test output</summary>\n\n  ```text\n"
    ) in section
    assert section.rstrip().endswith("not-tested")
    assert "  ```\n\n  </details>\n" in section
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


def test_commit_message_carries_a_dependabot_style_trailer() -> None:
    kept = (
        update("idna", "3.6", "3.7"),
        update("requests", "2.31.0", "2.32.3"),
        update("numpy", "1.26.4", "2.0.0", Kind.MAJOR),
    )
    rolled = (RolledBack(update("six", "1.0", "1.1"), "tests-failed", "boom"),)
    record = pr_record(Batch("minor", Kind.MINOR, kept), kept, rolled, direct={"idna", "numpy"})

    message = record.message
    assert message.startswith(
        "Bump the minor batch with 3 updates\n\nBumps idna from 3.6 to 3.7.\n"
    )
    assert "Left out: six 1.1 (tests-failed)." in message
    # the pattern dependabot/fetch-metadata reads the block with
    found = re.search(r"^-{3}\n(?P<deps>[\S|\s]*?)\n^\.{3}\n", message, re.MULTILINE)
    assert found is not None
    assert yaml.safe_load(found.group("deps")) == {
        "updated-dependencies": [
            {
                "dependency-name": "idna",
                "dependency-version": "3.7",
                "dependency-type": "direct:production",
                "update-type": "version-update:semver-minor",
            },
            {
                "dependency-name": "requests",
                "dependency-version": "2.32.3",
                "dependency-type": "indirect",
                "update-type": "version-update:semver-minor",
            },
            {
                "dependency-name": "numpy",
                "dependency-version": "2.0.0",
                "dependency-type": "direct:production",
                "update-type": "version-update:semver-major",
            },
        ]
    }
    assert message.endswith("...\n")


@pytest.mark.parametrize(
    ("current", "target", "expected"),
    [
        ("1.2.3", "1.2.4", "patch"),
        ("1.2", "1.2.0.1", "patch"),
        ("1.2.3", "1.3.0", "minor"),
        ("1.2.3", "2.0.0", "major"),
        ("0.3.1", "0.4.0", "minor"),
        ("1!1.0", "2.0", "major"),
    ],
)
def test_update_type(current: str, target: str, expected: str) -> None:
    assert update_type(Version(current), Version(target)) == f"version-update:semver-{expected}"


def test_release_pages_come_from_a_warehouse_style_index_only() -> None:
    assert release_page("https://index.example/simple/", "idna", Version("3.7")) == (
        "https://index.example/project/idna/3.7/"
    )
    assert release_page("https://mirror.example/root/pypi/+simple/", "idna", Version("3.7")) is None
    assert release_page("http://index.example/simple", "idna", Version("3.7")) is None
    assert release_page("https://u:p@index.example/simple", "idna", Version("3.7")) is None
    assert release_page(None, "idna", Version("3.7")) is None

    kept = (update("idna", "3.6", "3.7"),)
    body = pr_record(
        Batch("minor", Kind.MINOR, kept), kept, index_url="https://index.example/simple"
    ).body
    assert "| 3.6 → [3.7](https://index.example/project/idna/3.7/) |" in body


def test_long_excerpts_are_shortened_before_they_are_dropped() -> None:
    kept = (update("idna", "3.6", "3.7"),)
    wide = "\n".join(f"{i:03d}" + "y" * 296 for i in range(20))
    rolled = tuple(
        RolledBack(update(f"pkg{i}", "1.0", "2.0"), "tests-failed", wide) for i in range(12)
    )

    body = pr_record(Batch("minor", Kind.MINOR, kept), kept, rolled).body

    assert len(body) <= BODY_LIMIT
    assert body.count("019yyy") == 12 and "015yyy" in body and "014yyy" not in body


def test_no_update_left_still_renders() -> None:
    record = pr_record(Batch("minor", Kind.MINOR, ()), ())
    assert record.title == "depbot: the minor batch has no update left"
    assert "No update survived verification." in record.body


def test_message_defaults_to_title_and_body_without_a_commit_message() -> None:
    record = PRRecord("t", "body\n")
    assert record.message == "t\n\nbody\n"


def test_a_one_line_reason_stays_on_its_line() -> None:
    kept = (update("idna", "3.6", "3.7"),)
    rolled = (
        RolledBack(update("six", "1.0", "1.1"), "previously-failed", "tests-failed on 2026-11-20"),
    )

    body = pr_record(Batch("minor", Kind.MINOR, kept), kept, rolled).body

    assert "- **six** 1.0 → 1.1: previously-failed (tests-failed on 2026-11-20)\n" in body
    assert "<details>" not in body
