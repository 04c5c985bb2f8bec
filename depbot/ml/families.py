"""The built-in ML families: packages that must move together to versions that belong together.

Only membership lives here; which versions belong together (CUDA variants, compatibility
tables) is decided elsewhere.
"""

from __future__ import annotations

from collections.abc import Collection

from packaging.utils import canonicalize_name

__all__ = ["TORCH", "family_of"]

TORCH = "torch"
"""The family name of torch and the packages that pin or are pinned by it exactly."""

_TORCH_MEMBERS = frozenset({"torch", "torchvision", "torchaudio", "triton", "xformers"})


def family_of(name: str, alongside: Collection[str] = ()) -> str | None:
    """The family ``name`` belongs to, or None.

    ``alongside`` holds the normalised names moving in the same lockfile: an ``nvidia-*`` wheel
    joins the torch family only when torch is among them, since jax and others use the same
    wheels without torch.
    """
    normalized = canonicalize_name(name)
    if normalized in _TORCH_MEMBERS:
        return TORCH
    if normalized.startswith("nvidia-") and TORCH in alongside:
        return TORCH
    return None
