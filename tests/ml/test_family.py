"""The torch family decided as one unit per lockfile (classify with literal check results)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import PurePosixPath

from packaging.version import Version

from depbot.config import Config, MLConfig
from depbot.models import (
    Advisory,
    AffectedRange,
    CheckResult,
    Kind,
    Lockfile,
    LockHeader,
    MLFacts,
    Pin,
    Release,
    Update,
    VariantIndex,
    canonicalize_name,
)
from depbot.stages.classify import classify_all
from depbot.stages.plan import make_plan

CU118 = "https://dl.example/whl/cu118/"
CU126 = "https://dl.example/whl/cu126/"
PAIRS = {"2.0.1": ("0.15.2", "2.0.2"), "2.1.0": ("0.16.0", "2.1.0"), "2.1.2": ("0.16.2", "2.1.2"),
         "2.2.0": ("0.17.0", "2.2.0"), "2.6.0": ("0.21.0", "2.6.0"), "2.7.1": ("0.22.1", "2.7.1"),
         "2.8.0": ("0.23.0", "2.8.0")}  # fmt: skip


def lockfile(
    torch: str = "2.0.1", label: str = "cu118", python: str = "3.11",
    path: str = "requirements.txt", extra: tuple[tuple[str, str], ...] = (),
) -> Lockfile:  # fmt: skip
    vision, audio = PAIRS[torch]
    pins = [
        Pin(canonicalize_name("numpy"), Version("1.26.4"), 1),
        Pin(canonicalize_name("torch"), Version(f"{torch}+{label}"), 2),
        Pin(canonicalize_name("torchaudio"), Version(f"{audio}+{label}"), 3),
        Pin(canonicalize_name("torchvision"), Version(f"{vision}+{label}"), 4),
        *(Pin(canonicalize_name(n), Version(v), 5 + i) for i, (n, v) in enumerate(extra)),
    ]
    options = (("--extra-index-url", CU118 if label == "cu118" else CU126),)
    return Lockfile(
        PurePosixPath(path), LockHeader("pip-compile", python, ()), tuple(pins), options
    )


def variant(
    label: str, url: str, torches: list[str], missing: tuple[str, ...] = ()
) -> VariantIndex:
    releases: dict[str, list[Release]] = {"torch": [], "torchvision": [], "torchaudio": []}
    for t in torches:
        vision, audio = PAIRS[t]
        for name, version in (("torch", t), ("torchvision", vision), ("torchaudio", audio)):
            if f"{name}=={version}" not in missing:
                releases[name].append(Release(Version(f"{version}+{label}")))
    found = {canonicalize_name(n): tuple(r) for n, r in releases.items()}
    return VariantIndex(label, url, found)


def main(
    *torches: str, numpy: tuple[str, ...] = ("1.26.4", "2.1.0")
) -> dict[str, tuple[Release, ...]]:
    return {
        canonicalize_name("torch"): tuple(Release(Version(t)) for t in torches),
        canonicalize_name("numpy"): tuple(Release(Version(v)) for v in numpy),
    }


def check(
    lf: Lockfile, home: VariantIndex, move: VariantIndex | None = None,
    advisories: tuple[Advisory, ...] = (), torches: tuple[str, ...] = ("2.0.1", "2.7.1"),
) -> CheckResult:  # fmt: skip
    moves = {str(lf.path): move} if move else {}
    return CheckResult(main(*torches), advisories, ml=MLFacts({str(lf.path): home}, moves))


def changes(updates: tuple[Update, ...], kind: Kind) -> dict[str, str]:
    return {u.name: str(u.target) for u in updates if u.kind is kind}


def advisory(package: str, fixed: str) -> Advisory:
    ranges = (AffectedRange(Version("0"), Version(fixed)),)
    return Advisory(f"TEST-{package}", canonicalize_name(package), ranges=ranges)


def test_the_family_moves_as_one_minor_unit_whose_kind_is_torchs() -> None:
    lf = lockfile()
    home = variant("cu118", CU118, ["2.0.1", "2.1.0", "2.7.1"])
    found = classify_all([lf], check(lf, home), Config())
    minor = [u for u in found.updates if u.kind is Kind.MINOR]
    assert {u.name: str(u.target) for u in minor} == {
        "torch": "2.7.1+cu118", "torchaudio": "2.7.1+cu118", "torchvision": "0.22.1+cu118",
    }  # fmt: skip
    assert all(u.group == "torch" and not u.breaking for u in minor)
    plan = make_plan(found.updates, found.skipped, (), Config(), found.notes)
    assert [b.id for b in plan.batches] == ["minor"]
    # numpy 2 beside torch 2.0.1 is skipped, naming the reason
    assert [s.name for s in found.skipped] == ["numpy"]
    assert "beside torch 2.0.1+cu118" in found.skipped[0].reason


def test_a_torch_whose_partners_are_missing_is_no_target() -> None:
    lf = lockfile()
    home = variant("cu118", CU118, ["2.0.1", "2.6.0", "2.7.1"], missing=("torchvision==0.22.1",))
    found = classify_all([lf], check(lf, home), Config())
    assert changes(found.updates, Kind.MINOR)["torch"] == "2.6.0+cu118"


def test_the_partners_metadata_wins_over_the_table() -> None:
    lf = lockfile()
    home = variant("cu118", CU118, ["2.0.1", "2.7.1"])
    odd = Version("0.22.2+cu118")
    releases = {**home.releases, canonicalize_name("torchvision"): (
        *home.releases[canonicalize_name("torchvision")], Release(odd))}  # fmt: skip
    home = replace(
        home,
        releases=releases,
        built_for={(canonicalize_name("torchvision"), odd): Version("2.7.1")},
    )
    found = classify_all([lf], check(lf, home), Config())
    assert changes(found.updates, Kind.MINOR)["torchvision"] == "0.22.2+cu118"


def test_a_partners_security_fix_moves_the_family_to_the_lowest_clean_set() -> None:
    lf = lockfile()
    home = variant("cu118", CU118, ["2.0.1", "2.1.0", "2.1.2", "2.7.1"])
    found = classify_all(
        [lf], check(lf, home, advisories=(advisory("torchvision", "0.16.1"),)), Config()
    )
    assert changes(found.updates, Kind.SECURITY) == {
        "torch": "2.1.2+cu118", "torchaudio": "2.1.2+cu118", "torchvision": "0.16.2+cu118",
    }  # fmt: skip
    security = [u for u in found.updates if u.kind is Kind.SECURITY]
    assert [a.id for u in security for a in u.advisories] == ["TEST-torchvision"]
    assert changes(found.updates, Kind.MINOR)["torch"] == "2.7.1+cu118"
    plan = make_plan(found.updates, found.skipped, (), Config(), found.notes)
    assert [b.id for b in plan.batches] == ["security", "minor"]


def test_each_releases_python_support_is_honoured() -> None:
    # torch 2.1.2 is built for 3.8-3.11 only: on 3.12 the fix is 2.2.0
    lf = lockfile("2.1.0", python="3.12")
    home = variant("cu118", CU118, ["2.1.0", "2.1.2", "2.2.0"])
    result = check(lf, home, advisories=(advisory("torch", "2.1.2"),), torches=("2.1.0", "2.2.0"))
    found = classify_all([lf], result, Config())
    assert changes(found.updates, Kind.SECURITY)["torch"] == "2.2.0+cu118"


def test_the_end_of_a_variant_is_said_and_the_move_is_only_a_major() -> None:
    lf = lockfile()
    home = variant("cu118", CU118, ["2.0.1", "2.7.1"])
    move = variant("cu126", CU126, ["2.7.1", "2.8.0"])
    found = classify_all([lf], check(lf, home, move, torches=("2.0.1", "2.7.1", "2.8.0")), Config())
    assert changes(found.updates, Kind.MINOR)["torch"] == "2.7.1+cu118"
    assert changes(found.updates, Kind.MAJOR) == {
        "torch": "2.8.0+cu126", "torchaudio": "2.8.0+cu126", "torchvision": "0.23.0+cu126",
    }  # fmt: skip
    assert found.notes == (
        f"requirements.txt: the cu118 builds of torch end at 2.7.1 ({CU118} has no torch 2.8.0);"
        f" the move to cu126 ({CU126}, torch 2.8.0+cu126) is proposed only as major-torch,"
        " for manual review",
    )
    plan = make_plan(found.updates, found.skipped, (), Config(), found.notes)
    assert [b.id for b in plan.batches] == ["minor", "major-torch"]
    assert plan.notes == found.notes
    # without a variant to move to, the note says how to choose one
    alone = classify_all([lf], check(lf, home, torches=("2.0.1", "2.7.1", "2.8.0")), Config())
    assert changes(alone.updates, Kind.MAJOR) == {}
    assert "set [tool.depbot.ml] cuda" in alone.notes[0]


def test_followers_move_with_torch_and_have_no_update_of_their_own() -> None:
    lf = lockfile(extra=(("nvidia-cudnn-cu11", "8.5.0.96"),))
    home = variant("cu118", CU118, ["2.0.1", "2.7.1"])
    cudnn = {canonicalize_name("nvidia-cudnn-cu11"): (Release(Version("9.0")),)}
    result = replace(check(lf, home), releases={**main("2.0.1", "2.7.1"), **cudnn})
    found = classify_all([lf], result, Config())
    assert "nvidia-cudnn-cu11" not in {u.name for u in found.updates}


def test_two_lockfiles_with_the_same_family_share_its_updates() -> None:
    a, b = lockfile(), lockfile(path="requirements/gpu.txt")
    home = variant("cu118", CU118, ["2.0.1", "2.7.1"])
    result = CheckResult(
        main("2.0.1", "2.7.1"),
        (),
        ml=MLFacts({"requirements.txt": home, "requirements/gpu.txt": home}),
    )
    found = classify_all([a, b], result, Config())
    torch = [u for u in found.updates if u.name == "torch"]
    assert [u.lockfiles for u in torch] == [("requirements.txt", "requirements/gpu.txt")]


def test_without_ml_each_member_is_classified_alone() -> None:
    lf = lockfile()
    home = variant("cu118", CU118, ["2.0.1", "2.7.1"])
    releases = {**main("2.0.1", "2.7.1"), **home.releases}
    config = Config(ml=MLConfig(enabled=False))
    found = classify_all([lf], CheckResult(releases, ()), config)
    # torchvision 0.15 → 0.22 crosses a 0.x series on its own; numpy 2 stays a coupling
    assert changes(found.updates, Kind.MAJOR) == {"torchvision": "0.22.1+cu118"}


def test_a_hole_no_set_closes_is_reported_for_the_member_it_affects() -> None:
    lf = lockfile()
    home = variant("cu118", CU118, ["2.0.1", "2.7.1"])
    result = check(lf, home, advisories=(advisory("torchaudio", "9.0"),))
    found = classify_all([lf], result, Config())
    assert changes(found.updates, Kind.SECURITY) == {}
    assert [s.reason for s in found.skipped if s.name == "torchaudio"] == [
        "TEST-torchaudio affects 2.0.2+cu118; no installable release is free of it"
        " (fixed in 9.0; Python 3.11)"
    ]
