"""The torch family's compatibility data: which versions were built for each other (SPEC §6).

One row per torch release, with the sources it was taken from (keys of
``shared/research/ml_pins.md``: S2 wheel metadata, S4 the torchvision README, S5 the torchaudio
matrix, S6 RELEASE.md, S7 the previous-versions page, S8 the saved index page, S9 cog's table,
S10 the release announcements). The table is the fallback: a partner wheel's own
``Requires-Dist: torch==X``, read from the index (``depbot.ml.metadata``), wins when the index
serves it. Couplings the resolver cannot see (no ``Requires-Dist`` says them) are data too.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

__all__ = [
    "COUPLINGS",
    "PARTNERS",
    "ROWS",
    "Coupling",
    "TorchRow",
    "coupling_violations",
    "partner_for",
    "row_for",
    "torch_for",
]

PARTNERS = ("torchvision", "torchaudio", "torchtext", "xformers", "triton")
"""The members whose version follows from torch's: each release is built for one torch."""


@dataclass(frozen=True)
class TorchRow:
    """One torch release and the versions built with it."""

    torch: Version
    partners: Mapping[str, Version]
    """``torchvision`` → 0.15.2 …; a partner without an exact pin for this torch is absent."""
    python: tuple[tuple[int, int], tuple[int, int]]
    """The lowest and highest CPython ``(3, X)`` its wheels are built for (wheel tags)."""
    variants: tuple[str, ...]
    """The variant folders of the PyTorch wheel index holding it (``cu118``, ``cpu``…)."""
    source: str

    def supports(self, python: Version) -> bool:
        """Whether a wheel of this release is built for CPython ``python``."""
        low, high = self.python
        return low <= (python.major, python.minor) <= high


# torch|torchvision|torchaudio|torchtext|triton|Python (wheel tags)|variant folders|sources
# "-": no release, or no exact torch pin (torchaudio >= 2.11 works with several torch)
_TABLE = """
1.12.0|0.13.0|0.12.0|0.13.0|-|3.7-3.10|cpu cu102 cu113 cu116 rocm5.0 rocm5.1.1|S2 S7 S8
1.12.1|0.13.1|0.12.1|0.13.1|-|3.7-3.10|cpu cu102 cu113 cu116 rocm5.0 rocm5.1.1|S2 S7 S8
1.13.0|0.14.0|0.13.0|0.14.0|-|3.7-3.11|cpu cu116 cu117 rocm5.1.1 rocm5.2|S2 S7 S8
1.13.1|0.14.1|0.13.1|0.14.1|-|3.7-3.11|cpu cu116 cu117 rocm5.1.1 rocm5.2|S2 S7 S8
2.0.0|0.15.1|2.0.1|0.15.1|2.0.0|3.8-3.11|cpu cu117 cu118 rocm5.3 rocm5.4.2|S2 S7 S8
2.0.1|0.15.2|2.0.2|0.15.2|2.0.0|3.8-3.11|cpu cu117 cu118 rocm5.3 rocm5.4.2|S2 S7 S8
2.1.0|0.16.0|2.1.0|0.16.0|2.1.0|3.8-3.11|cpu cu118 cu121 rocm5.5 rocm5.6|S2 S7 S8
2.1.1|0.16.1|2.1.1|0.16.1|2.1.0|3.8-3.11|cpu cu118 cu121 rocm5.5 rocm5.6|S2 S7 S8
2.1.2|0.16.2|2.1.2|0.16.2|2.1.0|3.8-3.11|cpu cu118 cu121 rocm5.5 rocm5.6|S2 S7 S8
2.2.0|0.17.0|2.2.0|0.17.0|2.2.0|3.8-3.12|cpu cu118 cu121 rocm5.6 rocm5.7|S2 S7 S8
2.2.1|0.17.1|2.2.1|0.17.1|2.2.0|3.8-3.12|cpu cu118 cu121 rocm5.6 rocm5.7|S2 S7 S8
2.2.2|0.17.2|2.2.2|0.17.2|2.2.0|3.8-3.12|cpu cu118 cu121 rocm5.6 rocm5.7|S2 S7 S8
2.3.0|0.18.0|2.3.0|0.18.0|2.3.0|3.8-3.12|cpu cu118 cu121 rocm5.7 rocm6.0|S2 S7 S8
2.3.1|0.18.1|2.3.1|-|2.3.1|3.8-3.12|cpu cu118 cu121 rocm5.7 rocm6.0|S2 S7 S8
2.4.0|0.19.0|2.4.0|-|3.0.0|3.8-3.12|cpu cu118 cu121 cu124 rocm6.0 rocm6.1|S2 S8
2.4.1|0.19.1|2.4.1|-|3.0.0|3.8-3.12|cpu cu118 cu121 cu124 rocm6.0 rocm6.1|S2 S8
2.5.0|0.20.0|2.5.0|-|3.1.0|3.9-3.13|cpu cu118 cu121 cu124 rocm6.1 rocm6.2|S2 S8
2.5.1|0.20.1|2.5.1|-|3.1.0|3.9-3.13|cpu cu118 cu121 cu124 rocm6.1 rocm6.2|S2 S8
2.6.0|0.21.0|2.6.0|-|3.2.0|3.9-3.13|cpu cu118 cu124 cu126 rocm6.1 rocm6.2.4 xpu|S2 S7 S8
2.7.0|0.22.0|2.7.0|-|3.3.0|3.9-3.13|cpu cu118 cu126 cu128 rocm6.2.4 rocm6.3 xpu|S2 S8
2.7.1|0.22.1|2.7.1|-|3.3.1|3.9-3.13|cpu cu118 cu126 cu128 rocm6.2.4 rocm6.3 xpu|S2 S8
2.8.0|0.23.0|2.8.0|-|3.4.0|3.9-3.13|cpu cu126 cu128 cu129 rocm6.4|S2 S6 S9
2.9.0|0.24.0|2.9.0|-|3.5.0|3.10-3.14|cpu cu126 cu128 cu130 rocm6.4|S2 S7 S9
2.9.1|0.24.1|2.9.1|-|3.5.1|3.10-3.14|cpu cu126 cu128 cu130 rocm6.4|S2 S7 S9
2.10.0|0.25.0|2.10.0|-|3.6.0|3.10-3.14|cpu cu126 cu128 cu130|S2 S9 S13
2.11.0|0.26.0|-|-|3.6.0|3.10-3.14|cpu cu126 cu128 cu130|S2 S9 S10
2.12.0|0.27.0|-|-|3.7.0|3.10-3.14|cpu cu126 cu130 cu132|S2 S6 S9 S10
2.12.1|0.27.1|-|-|3.7.1|3.10-3.14|cpu cu126 cu130 cu132|S2 S6 S9 S10
2.13.0|0.28.0|-|-|3.7.1|3.10-3.14|cpu cu126 cu129 cu130 cu132|S2 S6 S10 S12
2.14.0|0.29.0|-|-|-|3.10-3.14|cu126 cu130 cu132|S2 S6 S10
"""

# xformers releases pin exactly one torch release up to 0.0.34 (S2, PyPI Linux wheels)
_XFORMERS = """
0.0.20 0.0.21 0.0.22 | 2.0.1
0.0.22.post7 | 2.1.0
0.0.23 | 2.1.1
0.0.23.post1 | 2.1.2
0.0.24 | 2.2.0
0.0.25 | 2.2.1
0.0.25.post1 | 2.2.2
0.0.26.post1 | 2.3.0
0.0.27 | 2.3.1
0.0.27.post1 0.0.27.post2 | 2.4.0
0.0.28 0.0.28.post1 | 2.4.1
0.0.28.post2 | 2.5.0
0.0.28.post3 0.0.29 0.0.29.post1 | 2.5.1
0.0.29.post2 0.0.29.post3 | 2.6.0
0.0.30 | 2.7.0
0.0.31 0.0.31.post1 | 2.7.1
0.0.32.post1 0.0.32.post2 | 2.8.0
0.0.33 0.0.33.post1 | 2.9.0
0.0.33.post2 | 2.9.1
0.0.34 | 2.10.0
"""


def _python_range(text: str) -> tuple[tuple[int, int], tuple[int, int]]:
    low, high = (tuple(int(p) for p in part.split(".")) for part in text.split("-"))
    return (low[0], low[1]), (high[0], high[1])


def _xformers() -> dict[Version, Version]:
    """xformers release → the torch it pins."""
    found: dict[Version, Version] = {}
    for line in _XFORMERS.strip().splitlines():
        versions, torch = line.split("|")
        found.update({Version(v): Version(torch) for v in versions.split()})
    return found


def _rows() -> tuple[TorchRow, ...]:
    names = ("torchvision", "torchaudio", "torchtext", "triton")
    rows = []
    for line in _TABLE.strip().splitlines():
        torch, *cells, python, variants, source = (c.strip() for c in line.split("|"))
        partners = {n: Version(c) for n, c in zip(names, cells, strict=True) if c != "-"}
        rows.append(
            TorchRow(Version(torch), partners, _python_range(python), tuple(variants.split()),
                     source)
        )  # fmt: skip
    xformers: dict[Version, list[Version]] = {}
    for release, pinned in _xformers().items():
        xformers.setdefault(pinned, []).append(release)
    out = []
    for row in rows:
        built = xformers.get(row.torch)
        if built:
            partners = {**row.partners, "xformers": max(built)}
            row = TorchRow(row.torch, partners, row.python, row.variants, row.source)
        out.append(row)
    return tuple(out)


ROWS: tuple[TorchRow, ...] = _rows()
"""The built-in table, ascending by torch version."""

_BY_TORCH = {row.torch: row for row in ROWS}


@functools.cache
def _torch_of() -> dict[tuple[str, Version], Version]:
    found = {(n, v): row.torch for row in ROWS for n, v in row.partners.items()}
    found.update({("xformers", v): torch for v, torch in _xformers().items()})
    return found


def _public(version: Version) -> Version:
    return Version(version.public) if version.local is not None else version


def row_for(torch: Version) -> TorchRow | None:
    """The table's row of ``torch`` (its local label ignored), if it has one."""
    return _BY_TORCH.get(_public(torch))


def torch_for(member: str, version: Version) -> Version | None:
    """The torch release ``member`` ``version`` was built for, by the table; None: unknown."""
    return _torch_of().get((canonicalize_name(member), _public(version)))


def partner_for(member: str, torch: Version) -> Version | None:
    """The ``member`` version the table says was built for ``torch``; None: unknown."""
    row = row_for(torch)
    return None if row is None else row.partners.get(canonicalize_name(member))


# ---------------------------------------------------------------------------- couplings


@dataclass(frozen=True)
class Coupling:
    """``package`` in ``forbidden`` must not be installed beside ``beside`` in ``when``: a
    break no ``Requires-Dist`` declares, so no resolver prevents it."""

    package: NormalizedName
    forbidden: SpecifierSet
    beside: NormalizedName
    when: SpecifierSet
    reason: str
    source: str


COUPLINGS: tuple[Coupling, ...] = (
    Coupling(
        canonicalize_name("numpy"),
        SpecifierSet(">=2.0.0.dev0"),  # the NumPy 2 pre-releases share its ABI
        canonicalize_name("torch"),
        SpecifierSet("<2.3"),
        "torch before 2.3 is built against NumPy 1.x (NumPy 2 support starts at torch 2.3.0)",
        "pytorch/pytorch#107302, #132179",
    ),
)


def coupling_violations(
    pins: Mapping[NormalizedName, Version], couplings: tuple[Coupling, ...] = COUPLINGS
) -> tuple[str, ...]:
    """What is wrong with installing ``pins`` together, one sentence per broken coupling."""
    found = []
    for c in couplings:
        package, beside = pins.get(c.package), pins.get(c.beside)
        if package is None or beside is None:
            continue
        if c.forbidden.contains(_public(package), prereleases=True) and c.when.contains(
            _public(beside), prereleases=True
        ):
            found.append(
                f"{c.package} {package} cannot be installed beside {c.beside} {beside}:"
                f" {c.reason} ({c.source})"
            )
    return tuple(found)
