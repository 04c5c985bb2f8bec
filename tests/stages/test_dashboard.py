"""The dashboard document and the superseded-batch decision, with literal inputs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from depbot.forge.interface import OpenBatch
from depbot.models import Skipped
from depbot.stages.dashboard import DASHBOARD_LIMIT, dashboard_body, superseded

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Rolled:
    name: str
    version: str
    reason: str
    detail: str
    at: datetime


def test_dashboard_lists_batches_rollbacks_failures_and_skips() -> None:
    body = dashboard_body(
        open_batches=[
            OpenBatch(
                "security", "depbot/security", "b" * 40, "Bump requests", "https://gh/o/p/pull/7"
            ),
            OpenBatch("minor", "depbot/minor", "a" * 40, "Bump the minor batch", None, ours=False),
        ],
        rollbacks=[
            Rolled(
                "numpy",
                "2.0.0",
                "tests-failed",
                "x\nFAILED tests/test_np.py::t",
                NOW - timedelta(days=9),
            ),
            Rolled("six", "1.17.0", "unresolvable", "", NOW - timedelta(hours=3)),
        ],
        now=NOW,
        source_errors=["pip-audit: could not audit requirements.txt"],
        skipped=[Skipped("privpkg", "not found on the index")],
    )

    assert body.startswith("# depbot dashboard\n")
    assert "| `depbot/minor` (has commits not made by depbot) | — | Bump the minor batch |" in body
    assert "| `depbot/security` | [#7](https://gh/o/p/pull/7) | Bump requests |" in body
    assert body.index("depbot/minor") < body.index("depbot/security")
    assert "**1 dependency updates blocked > 1 week.**" in body
    assert "| numpy | 2.0.0 | tests-failed | 2026-11-23 (9 days) | blocked > 1 week |" in body
    assert "| six | 1.17.0 | unresolvable | 2026-12-02 (0 days) |  |" in body
    assert "<details><summary>numpy 2.0.0: tests-failed</summary>" in body
    assert "FAILED tests/test_np.py::t" in body
    assert "- pip-audit: could not audit requirements.txt" in body
    assert "- privpkg: not found on the index" in body


def test_an_empty_dashboard_says_so_and_is_deterministic() -> None:
    first = dashboard_body(open_batches=[], rollbacks=[], now=NOW)
    assert "No open batch." in first and "No update is rolled back." in first
    assert "failed" not in first
    assert first == dashboard_body(open_batches=[], rollbacks=[], now=NOW + timedelta(hours=1))


def test_huge_excerpts_shrink_to_fit() -> None:
    wide = "\n".join("z" * 300 for _ in range(30))
    rolled = [Rolled(f"p{i}", "1.0", "tests-failed", wide, NOW) for i in range(60)]
    body = dashboard_body(open_batches=[], rollbacks=rolled, now=NOW)
    assert len(body) <= DASHBOARD_LIMIT
    assert "| p59 | 1.0 |" in body


def test_superseded_batches() -> None:
    open_ids = ["major-numpy", "minor", "security", "major-torch"]
    statuses = {"minor": "rolled-back", "security": "unchanged"}

    full = superseded(open_ids, {"minor", "security", "major-torch"}, statuses, full_plan=True)
    partial = superseded(open_ids, {"security"}, {"security": "rolled-back"}, full_plan=False)

    assert [batch for batch, _ in full] == ["major-numpy", "minor"]
    assert "rolled back" in dict(full)["minor"]
    assert "no update is left" in dict(full)["major-numpy"]
    assert [batch for batch, _ in partial] == ["security"]
