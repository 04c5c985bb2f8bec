"""CUDA/CPU variants of the torch family: local labels, their indexes and their order (SPEC §6).

A variant is a local version label (``2.1.0+cu118``). Its wheels live on a PEP 503 index whose
last path segment names it (``…/whl/cu118/``); the other variants live beside it
(``…/whl/cu126/``). A few folders are spelt otherwise than their label (S8).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from packaging.version import Version

from depbot.models import Lockfile

__all__ = [
    "GPU_VARIANT",
    "VARIANT_LABEL",
    "folder_of",
    "label_of",
    "newer_variants",
    "relabel_index_lines",
    "sibling_url",
    "variant_index_url",
]

VARIANT_LABEL = re.compile(r"^(cpu|xpu|cu\d{3}|rocm\d+(\.\d+){0,2})$")
"""The labels depbot can move between: ``cpu``, ``xpu``, ``cuXYZ``, ``rocmX.Y[.Z]``."""
GPU_VARIANT = re.compile(r"^(cu\d{3}|rocm\d+(\.\d+){1,2})$")
"""A variant a CUDA/ROCm lockfile can move to (``[tool.depbot.ml] cuda``)."""

# the folders of the PyTorch index whose name is not their label
_FOLDERS = {
    "cpu.cxx11.abi": "cpu-cxx11-abi",
    "cu117.with.pypi.cudnn": "cu117_pypi_cudnn",
    "cu121.with.pypi.cudnn": "cu121_pypi_cudnn",
}


def label_of(version: Version) -> str | None:
    """The variant of ``version``: its local label (``cu118``), or None for a plain build."""
    return version.local


def folder_of(label: str) -> str:
    """The index folder that holds the builds labelled ``label``."""
    return _FOLDERS.get(label, label)


def _last_segment(url: str) -> str:
    return url.rstrip("/").rpartition("/")[2]


def variant_index_url(lockfile: Lockfile, label: str, configured: str | None) -> str | None:
    """Where the ``label`` builds of ``lockfile`` come from: its index line whose last path
    segment is the variant's folder, else ``configured`` (``[tool.depbot.ml] index-url``: that
    variant's index, or the folder above the variants); None when neither says."""
    folder = folder_of(label)
    for url in lockfile.index_urls:
        if _last_segment(url) == folder:
            return url.rstrip("/") + "/"
    if configured is None:
        return None
    last = _last_segment(configured)
    if VARIANT_LABEL.match(last) or last in _FOLDERS.values():
        return sibling_url(configured, label)
    return configured.rstrip("/") + "/" + folder + "/"


def sibling_url(url: str, label: str) -> str:
    """The index of variant ``label`` beside the variant index ``url``."""
    parent = url.rstrip("/").rpartition("/")[0]
    return f"{parent}/{folder_of(label)}/"


def _order(label: str) -> tuple[int, ...]:
    """CUDA 11.8 < 12.6; ROCm 6.2.4 < 6.3; letters never compare across kinds."""
    digits = re.findall(r"\d+", label)
    return tuple(int(d) for d in digits)


def _kind(label: str) -> str:
    return re.sub(r"[\d.]+", "", label)


def newer_variants(label: str, known: Iterable[str]) -> tuple[str, ...]:
    """The variants of ``known`` of the same kind as ``label`` (CUDA for ``cu118``) that are
    newer than it, newest first; none for ``cpu`` (a CPU build never becomes a GPU one)."""
    if not VARIANT_LABEL.match(label) or label in ("cpu", "xpu"):
        return ()
    kind = _kind(label)
    wanted = {k for k in known if VARIANT_LABEL.match(k) and _kind(k) == kind}
    newer = [k for k in wanted if _order(k) > _order(label)]
    return tuple(sorted(newer, key=_order, reverse=True))


def known_labels(rows: Sequence[Sequence[str]]) -> tuple[str, ...]:
    """Every variant folder named in ``rows`` (each a release's variants), once, sorted."""
    return tuple(sorted({v for row in rows for v in row}))


_INDEX_LINE = re.compile(r"^(\s*(?:-i|--index-url|--extra-index-url)(?:\s+|\s*=\s*))(\S+)(.*)$")


def relabel_index_lines(text: str, old: str, new: str) -> str:
    """``text`` (a lockfile or a source) with each index line whose last path segment is the
    folder of variant ``old`` pointing at the folder of ``new`` beside it; nothing else moves."""
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        found = _INDEX_LINE.match(line.rstrip("\r\n"))
        if found and _last_segment(found.group(2)) == folder_of(old):
            url = found.group(2)
            moved = sibling_url(url, new) if url.endswith("/") else sibling_url(url, new)[:-1]
            ending = line[len(line.rstrip("\r\n")) :]
            lines[i] = f"{found.group(1)}{moved}{found.group(3)}{ending}"
    return "".join(lines)
