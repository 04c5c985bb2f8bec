"""Which batches a trigger runs, and the advisory's packages leading the security batch."""

from __future__ import annotations

from io import StringIO

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from depbot.cli import main
from depbot.models import Batch, Kind, Plan, Update
from depbot.pipeline import batches_for


def _update(name: str, kind: Kind, group: str | None = None) -> Update:
    return Update(
        canonicalize_name(name), Version("1.0"), Version("1.1"), kind, ("requirements.txt",),
        group=group,
    )  # fmt: skip


SECURITY = Batch(
    "security",
    Kind.SECURITY,
    (
        _update("alpha", Kind.SECURITY),
        _update("torch", Kind.SECURITY, group="torch"),
        _update("torchvision", Kind.SECURITY, group="torch"),
        _update("Zeta_Pkg", Kind.SECURITY),
    ),
)
MINOR = Batch("minor", Kind.MINOR, (_update("beta", Kind.MINOR),))
PLAN = Plan(updates=(*SECURITY.updates, *MINOR.updates), batches=(SECURITY, MINOR))


def _names(batch: Batch) -> list[str]:
    return [str(u.name) for u in batch.updates]


def test_weekly_and_manual_run_every_batch_in_plan_order() -> None:
    for trigger in ("weekly", "manual"):
        assert batches_for(trigger, PLAN, first=["beta"]) == PLAN.batches


def test_security_runs_the_security_batch_in_plan_order_without_packages() -> None:
    (batch,) = batches_for("security", PLAN)
    assert batch == SECURITY


def test_the_advisorys_packages_lead_the_security_batch() -> None:
    (batch,) = batches_for("security", PLAN, first=["zeta-pkg"])
    assert _names(batch) == ["zeta-pkg", "alpha", "torch", "torchvision"]
    assert set(batch.updates) == set(SECURITY.updates)


def test_a_family_member_brings_its_whole_unit_forward() -> None:
    (batch,) = batches_for("security", PLAN, first=["TorchVision", "not-in-the-batch"])
    assert _names(batch) == ["torch", "torchvision", "alpha", "zeta-pkg"]
    assert batch.units[0] == SECURITY.units[1]


@pytest.mark.parametrize("bad", ["a;b", "$(x)", "-rf", "name==1.0", ""])
def test_a_package_that_is_not_a_name_is_bad_input(
    bad: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = StringIO()
    code = main(["run", "--trigger", "security", f"--package={bad}"], env={}, out=out)
    assert (code, out.getvalue()) == (2, "")
    assert f"argument --package: not a package name: {bad!r}" in capsys.readouterr().err
