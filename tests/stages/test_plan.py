from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.version import Version

from depbot.config import Config, MLConfig
from depbot.models import Batch, Kind, Skipped, Update, canonicalize_name
from depbot.stages.plan import assign_groups, make_plan, plan_batches

V = Version


def up(
    name: str,
    current: str,
    target: str,
    kind: Kind,
    lockfiles: tuple[str, ...] = ("requirements.txt",),
) -> Update:
    return Update(
        canonicalize_name(name),
        V(current),
        V(target),
        kind,
        lockfiles,
        breaking=kind is Kind.MAJOR,
    )


def layout(batches: tuple[Batch, ...]) -> list[tuple[str, str, list[tuple[str, str]]]]:
    return [(b.id, b.kind.value, [(u.name, str(u.target)) for u in b.updates]) for b in batches]


def test_batches_by_kind_and_order() -> None:
    updates = [
        up("zulu", "1.0", "2.0", Kind.MAJOR),
        up("bravo", "2.3.0", "3.0.0", Kind.MAJOR),
        up("bravo", "2.3.0", "2.3.1", Kind.MINOR),
        up("alpha", "1.0", "1.1", Kind.MINOR),
        up("charlie", "1.0", "1.0.1", Kind.SECURITY),
    ]
    assert layout(plan_batches(updates, Config())) == [
        ("security", "security", [("charlie", "1.0.1")]),
        ("minor", "minor", [("alpha", "1.1"), ("bravo", "2.3.1")]),
        ("major-bravo", "major", [("bravo", "3.0.0")]),
        ("major-zulu", "major", [("zulu", "2.0")]),
    ]


def test_empty_batches_are_left_out() -> None:
    assert plan_batches([], Config()) == ()
    only = plan_batches([up("alpha", "1.0", "2.0", Kind.MAJOR)], Config())
    assert [b.id for b in only] == ["major-alpha"]
    assert only[0].branch == "depbot/major-alpha"


def test_same_package_pinned_twice_shares_its_major_batch() -> None:
    batches = plan_batches(
        [
            up("alpha", "1.0", "2.0", Kind.MAJOR, ("a.txt",)),
            up("alpha", "1.5", "2.0", Kind.MAJOR, ("b.txt",)),
        ],
        Config(),
    )
    assert [(b.id, [u.lockfiles for u in b.updates]) for b in batches] == [
        ("major-alpha", [("a.txt",), ("b.txt",)])
    ]


def test_configured_group_moves_as_one_unit() -> None:
    config = Config(groups={"aws": (canonicalize_name("boto3"), canonicalize_name("botocore"))})
    batches = plan_batches(
        [
            up("boto3", "1.34.0", "1.35.0", Kind.MINOR),
            up("botocore", "1.34.0", "1.35.0", Kind.MINOR),
            up("requests", "2.31.0", "2.32.0", Kind.MINOR),
        ],
        config,
    )
    assert [b.id for b in batches] == ["minor"]
    units = [[u.name for u in unit] for unit in batches[0].units]
    assert units == [["boto3", "botocore"], ["requests"]]
    assert {u.group for u in batches[0].updates} == {"aws", None}


def test_group_with_a_major_also_keeps_its_minor_unit() -> None:
    config = Config(groups={"pair": (canonicalize_name("alpha"), canonicalize_name("beta"))})
    batches = plan_batches(
        [
            up("alpha", "1.0", "1.1", Kind.MINOR),
            up("alpha", "1.0", "2.0", Kind.MAJOR),
            up("beta", "3.0", "3.2", Kind.MINOR),
            up("gamma", "1.0", "1.1", Kind.MINOR),
        ],
        config,
    )
    assert layout(batches) == [
        ("minor", "minor", [("alpha", "1.1"), ("gamma", "1.1")]),
        ("major-pair", "major", [("alpha", "2.0"), ("beta", "3.2")]),
    ]
    assert len(batches[1].units) == 1


def test_torch_family_is_one_major_unit() -> None:
    # torch 2.3 -> 2.4 is minor by the series rule, torchvision 0.18 -> 0.19 is major
    updates = [
        up("torch", "2.3.1+cu121", "2.4.0+cu121", Kind.MINOR),
        up("torchvision", "0.18.1+cu121", "0.19.0+cu121", Kind.MAJOR),
        up("nvidia-cudnn-cu12", "8.9.2.26", "9.1.0.70", Kind.MAJOR),
        up("numpy", "1.26.4", "2.0.0", Kind.MAJOR),
    ]
    batches = plan_batches(updates, Config())
    assert layout(batches) == [
        ("major-numpy", "major", [("numpy", "2.0.0")]),
        (
            "major-torch",
            "major",
            [
                ("nvidia-cudnn-cu12", "9.1.0.70"),
                ("torch", "2.4.0+cu121"),
                ("torchvision", "0.19.0+cu121"),
            ],
        ),
    ]
    assert len(batches[1].units) == 1


def test_nvidia_alone_is_not_the_torch_family() -> None:
    updates = [
        up("torch", "2.3.1", "2.3.2", Kind.MINOR, ("gpu.txt",)),
        up("nvidia-cudnn-cu12", "9.1.0.70", "10.0.0", Kind.MAJOR, ("jax.txt",)),
    ]
    grouped = assign_groups(updates, Config())
    assert [u.group for u in grouped] == ["torch", None]
    assert [b.id for b in plan_batches(updates, Config())] == ["minor", "major-nvidia-cudnn-cu12"]


def test_ml_families_can_be_turned_off() -> None:
    grouped = assign_groups(
        [up("torch", "2.3.1", "2.4.0", Kind.MINOR)], Config(ml=MLConfig(enabled=False))
    )
    assert grouped[0].group is None


def test_configured_group_wins_over_the_family() -> None:
    config = Config(groups={"vision": (canonicalize_name("torchvision"),)})
    grouped = assign_groups([up("torchvision", "0.18.0", "0.19.0", Kind.MAJOR)], config)
    assert grouped[0].group == "vision"


def test_security_updates_stay_in_the_security_batch() -> None:
    batches = plan_batches(
        [
            up("torch", "2.3.0", "2.3.1", Kind.SECURITY),
            up("torchvision", "0.18.0", "0.19.0", Kind.MAJOR),
        ],
        Config(),
    )
    assert layout(batches) == [
        ("security", "security", [("torch", "2.3.1")]),
        ("major-torch", "major", [("torchvision", "0.19.0")]),
    ]


def test_make_plan_carries_everything() -> None:
    updates = [
        up("torchaudio", "2.3.0", "2.3.1", Kind.MINOR),
        up("alpha", "1.0", "1.1", Kind.MINOR),
    ]
    plan = make_plan(
        updates, [Skipped("beta", "GHSA-x affects 1.0 and has no fix")], ["osv: down"], Config()
    )
    assert [(u.name, u.group) for u in plan.updates] == [("alpha", None), ("torchaudio", "torch")]
    assert [b.id for b in plan.batches] == ["minor"]
    assert plan.batches[0].updates == plan.updates
    assert plan.skipped == (Skipped("beta", "GHSA-x affects 1.0 and has no fix"),)
    assert plan.source_errors == ("osv: down",)


_names = st.sampled_from(["alpha", "beta", "torch", "torchvision", "nvidia-nccl-cu12", "gamma"])
_updates = st.lists(
    st.builds(
        lambda n, k, lf: up(n, "1.0", "2.0" if k is Kind.MAJOR else "1.1", k, lf),
        _names,
        st.sampled_from(list(Kind)),
        st.sampled_from([("a.txt",), ("b.txt",), ("a.txt", "b.txt")]),
    ),
    max_size=10,
)


@settings(max_examples=200, deadline=None)
@given(updates=_updates, grouped=st.booleans())
def test_plan_properties(updates: list[Update], grouped: bool) -> None:
    config = Config(
        groups={"ab": (canonicalize_name("alpha"), canonicalize_name("beta"))} if grouped else {}
    )
    batches = plan_batches(updates, config)
    ids = [b.id for b in batches]
    assert len(ids) == len(set(ids))
    assert all(b.updates for b in batches)
    head = [i for i in ids if not i.startswith("major-")]
    assert head == [i for i in ("security", "minor") if i in ids]
    assert ids[len(head) :] == sorted(ids[len(head) :])
    for b in batches:
        assert [u.name for u in b.updates] == sorted(u.name for u in b.updates)
        groups = {u.group for u in b.updates if u.group}
        for g in groups:
            # a group is one unit of its batch and lives in one batch of each kind
            assert sum(1 for unit in b.units if unit[0].group == g) == 1
            if b.kind is Kind.MAJOR:
                assert b.id == f"major-{g}"
    placed = [u for b in batches for u in b.updates]
    for u in assign_groups(updates, config):
        if u.kind is not Kind.MINOR:
            assert u in placed
    security = [u for b in batches if b.kind is Kind.SECURITY for u in b.updates]
    assert all(u.kind is Kind.SECURITY for u in security)
