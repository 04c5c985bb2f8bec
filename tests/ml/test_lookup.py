"""The check stage's ML lookups against the PyTorch-shaped loopback index."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest
from packaging.version import Version

from depbot.config import MLConfig, load_config
from depbot.errors import InputError
from depbot.index import build_index
from depbot.ml.lookup import VariantLookup
from depbot.ml.metadata import MetadataReader, http_fetch
from depbot.models import Lockfile, LockHeader, Pin, canonicalize_name
from tests.support.torch_index import TorchIndex, family, torch_index


def lockfile(index: TorchIndex | None, label: str = "cu118") -> Lockfile:
    pins = tuple(
        Pin(canonicalize_name(n), Version(f"{v}+{label}"), i)
        for i, (n, v) in enumerate((("torch", "2.0.1"), ("torchvision", "0.15.2")))
    )
    options = (("--extra-index-url", index.whl(label)),) if index else ()
    return Lockfile(
        PurePosixPath("requirements.txt"), LockHeader("pip-compile", "3.11", ()), pins, options
    )


def lookup(config: MLConfig | None = None) -> VariantLookup:
    return VariantLookup(
        config or MLConfig(),
        lambda url: build_index(url, (), (), None),
        MetadataReader(http_fetch()),
    )


def test_the_variant_and_the_one_to_move_to_are_looked_up(tmp_path: Path) -> None:
    dists = [*family("2.0.1", "cu118"), *family("2.7.1", "cu118"), *family("2.8.0", "cu126"),
             *family("2.8.0", None)]  # fmt: skip
    with torch_index(tmp_path, dists) as index:
        lf = lockfile(index)
        main = build_index(index.simple, (), (), None).releases(canonicalize_name("torch"))
        facts, held = lookup().facts([lf], {canonicalize_name("torch"): main})
        assert held == ()
        home = facts.homes["requirements.txt"]
        assert (home.label, home.url) == ("cu118", index.whl("cu118"))
        assert home.versions("torch") == (Version("2.0.1+cu118"), Version("2.7.1+cu118"))
        assert home.built_for == {
            (canonicalize_name("torchvision"), Version("0.22.1+cu118")): Version("2.7.1")
        }
        move = facts.moves["requirements.txt"]
        assert (move.label, move.url) == ("cu126", index.whl("cu126"))
        # a configured variant that lacks the newest torch is no move
        facts, _ = lookup(MLConfig(cuda="cu121")).facts([lf], {canonicalize_name("torch"): main})
        assert facts.moves == {}


def test_a_variant_without_an_index_is_held(tmp_path: Path) -> None:
    facts, held = lookup().facts([lockfile(None)], {})
    assert facts.homes == {}
    assert {s.name for s in held} == {"torch", "torchvision"}
    assert "[tool.depbot.ml] index-url is not set" in held[0].reason
    facts, held = lookup(MLConfig(enabled=False)).facts([lockfile(None)], {})
    assert (facts.homes, held) == ({}, ())


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ('cuda = "cuda12"', "ml.cuda"),
        ("cuda = 126", "ml.cuda"),
        ('index-url = "download.pytorch.org/whl"', "ml.index-url"),
        ('index-url = "https://x.example/whl?cu=118"', "ml.index-url"),
        ("enabled = 1", "ml.enabled"),
        ('gpu = "cu126"', "ml.gpu"),
    ],
)
def test_ml_settings_are_validated_naming_the_key(tmp_path: Path, table: str, key: str) -> None:
    (tmp_path / "depbot.toml").write_text(f"[ml]\n{table}\n", encoding="utf-8")
    with pytest.raises(InputError, match=f"'{key}'"):
        load_config(tmp_path, {})


def test_ml_settings_are_read(tmp_path: Path) -> None:
    text = '[ml]\ncuda = "cu126"\nindex-url = "https://dl.example/whl"\n'
    (tmp_path / "depbot.toml").write_text(text, encoding="utf-8")
    assert load_config(tmp_path, {}).ml == MLConfig(
        index_url="https://dl.example/whl", cuda="cu126"
    )
