from __future__ import annotations

import pytest

from depbot.ml.families import TORCH, family_of


@pytest.mark.parametrize(
    ("name", "alongside", "family"),
    [
        ("torch", (), TORCH),
        ("TorchVision", (), TORCH),
        ("torchaudio", (), TORCH),
        ("triton", (), TORCH),
        ("xformers", (), TORCH),
        ("nvidia-cudnn-cu12", ("torch", "numpy"), TORCH),
        ("nvidia_nccl_cu12", ("torch",), TORCH),
        # jax uses the same CUDA wheels without torch
        ("nvidia-cudnn-cu12", ("jax", "jaxlib"), None),
        ("nvidia-cudnn-cu12", (), None),
        ("numpy", ("torch",), None),
        ("torchmetrics", ("torch",), None),
        ("pytorch-lightning", (), None),
    ],
)
def test_family_of(name: str, alongside: tuple[str, ...], family: str | None) -> None:
    assert family_of(name, alongside) == family
