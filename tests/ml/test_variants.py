"""Variant labels and indexes, and the PEP 440 local-label rules depbot relies on."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from depbot.lock.replay import pin_argument
from depbot.ml.variants import (
    folder_of,
    label_of,
    newer_variants,
    relabel_index_lines,
    sibling_url,
    variant_index_url,
)
from depbot.models import Lockfile, LockHeader

KNOWN = ("cpu", "cu117", "cu118", "cu121", "cu126", "cu128", "rocm5.6", "rocm6.2.4", "xpu")


def lockfile(*options: tuple[str, str]) -> Lockfile:
    return Lockfile(
        PurePosixPath("requirements.txt"), LockHeader("pip-compile", "3.11", ()), (), options
    )


@pytest.mark.parametrize(
    ("spec", "candidate", "matches"),
    [
        ("==2.1.0", "2.1.0+cu118", True),
        ("==2.1.0", "2.1.0+cpu", True),
        ("==2.1.0+cu118", "2.1.0+cu118", True),
        ("==2.1.0+cu118", "2.1.0+cu121", False),
        ("==2.1.0+cu118", "2.1.0", False),
        ("!=2.1.0", "2.1.0+cu118", False),
        (">=2.1.0", "2.1.0+cu118", True),
        (">2.1.0", "2.1.0+cu118", False),
        ("<2.1.1", "2.1.0+cu118", True),
        ("===2.1.0", "2.1.0+cu118", False),
    ],
)
def test_local_labels_match_as_pep_440_says(spec: str, candidate: str, matches: bool) -> None:
    assert SpecifierSet(spec).contains(Version(candidate)) is matches


@pytest.mark.parametrize(
    "spec", [">=2.1.0+cu118", "~=2.1.0+cu118", "<=2.1.0+cu118", "==2.1.*+cu118"]
)
def test_a_label_is_invalid_beside_an_ordering_operator(spec: str) -> None:
    with pytest.raises(InvalidSpecifier):
        SpecifierSet(spec)


def test_labelled_versions_order_after_their_public_version() -> None:
    order = ["2.1.0", "2.1.0+cpu", "2.1.0+cu118", "2.1.0+cu121", "2.1.0+cu121.with.pypi.cudnn",
             "2.1.0+rocm5.6", "2.1.0.post1", "2.1.1"]  # fmt: skip
    assert sorted(order, key=Version) == order


def test_the_only_specifier_depbot_writes_for_a_label_is_exact() -> None:
    # -P arguments carry the label on ==, which PEP 440 allows
    assert pin_argument("torch", Version("2.7.1+cu118")) == "torch==2.7.1+cu118"
    assert SpecifierSet("==2.7.1+cu118").contains(Version("2.7.1+cu118"))


def test_labels_and_folders() -> None:
    assert label_of(Version("2.0.1+cu118")) == "cu118"
    assert label_of(Version("2.0.1")) is None
    assert folder_of("cpu.cxx11.abi") == "cpu-cxx11-abi"
    assert folder_of("cu126") == "cu126"


def test_the_variant_index_is_the_index_line_ending_in_its_folder() -> None:
    lf = lockfile(("--index-url", "https://pypi.example/simple"),
                  ("--extra-index-url", "https://dl.example/whl/cu118"))  # fmt: skip
    assert variant_index_url(lf, "cu118", None) == "https://dl.example/whl/cu118/"
    assert variant_index_url(lf, "cpu", None) is None
    # configured: a variant's index (its sibling is used) or the folder above the variants
    assert (
        variant_index_url(lf, "cpu", "https://dl.example/whl/cu126")
        == "https://dl.example/whl/cpu/"
    )
    assert variant_index_url(lf, "cpu", "https://dl.example/whl") == "https://dl.example/whl/cpu/"
    assert variant_index_url(lockfile(), "cu118", "https://dl.example/whl/cpu-cxx11-abi/") == (
        "https://dl.example/whl/cu118/"
    )
    assert sibling_url("https://dl.example/whl/cu118/", "cu126") == "https://dl.example/whl/cu126/"


@pytest.mark.parametrize(
    ("label", "newer"),
    [
        ("cu118", ("cu128", "cu126", "cu121")),
        ("cu128", ()),
        ("rocm5.6", ("rocm6.2.4",)),
        ("cpu", ()),  # a CPU build never becomes a GPU one
        ("xpu", ()),
        ("cu117.with.pypi.cudnn", ()),
    ],
)
def test_newer_variants_of_the_same_kind_newest_first(label: str, newer: tuple[str, ...]) -> None:
    assert newer_variants(label, KNOWN) == newer


def test_relabelling_moves_only_the_variants_index_lines() -> None:
    text = (
        "# --extra-index-url https://dl.example/whl/cu118 (a comment)\n"
        "--index-url https://pypi.example/simple\n"
        "--extra-index-url https://dl.example/whl/cu118\r\n"
        "-i=https://dl.example/whl/cu118/\n"
        "--extra-index-url https://other.example/cu1180\n"
        "torch==2.7.1+cu118\n"
    )
    assert relabel_index_lines(text, "cu118", "cu126") == (
        "# --extra-index-url https://dl.example/whl/cu118 (a comment)\n"
        "--index-url https://pypi.example/simple\n"
        "--extra-index-url https://dl.example/whl/cu126\r\n"
        "-i=https://dl.example/whl/cu126/\n"
        "--extra-index-url https://other.example/cu1180\n"
        "torch==2.7.1+cu118\n"
    )
