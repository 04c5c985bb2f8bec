"""Tiny pure-Python wheels built with the standard library, for the demo and the tests."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import canonicalize_name

__all__ = ["Dist", "build_wheel"]


@dataclass(frozen=True)
class Dist:
    """One release of one project, as a test wants it on the index."""

    name: str
    version: str
    requires: Sequence[str] = ()
    requires_python: str | None = None
    modules: Mapping[str, str] = field(default_factory=dict)
    """Extra module files ``{"pkg/__init__.py": source}``; default: one module named after it."""
    yanked: str | None = None
    """A yank reason (PEP 592); None when not yanked."""

    @property
    def filename(self) -> str:
        return f"{_wheel_name(self.name)}-{self.version}-py3-none-any.whl"


def _wheel_name(name: str) -> str:
    return canonicalize_name(name).replace("-", "_")


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode()


def build_wheel(dist: Dist, out: Path) -> Path:
    """Writes ``dist`` as a wheel into ``out`` and returns its path."""
    out.mkdir(parents=True, exist_ok=True)
    mod = _wheel_name(dist.name)
    info = f"{mod}-{dist.version}.dist-info"
    meta = [
        "Metadata-Version: 2.1",
        f"Name: {dist.name}",
        f"Version: {dist.version}",
    ]
    if dist.requires_python:
        meta.append(f"Requires-Python: {dist.requires_python}")
    meta += [f"Requires-Dist: {r}" for r in dist.requires]
    modules = dict(dist.modules) or {f"{mod}.py": f'__version__ = "{dist.version}"\n'}
    files: dict[str, bytes] = {path: src.encode() for path, src in modules.items()}
    files[f"{info}/METADATA"] = ("\n".join(meta) + "\n").encode()
    files[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: depbot-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = [f"{p},{_record_hash(d)},{len(d)}" for p, d in files.items()]
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    path = out / dist.filename
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            # a fixed timestamp keeps the bytes, and so the hashes, reproducible
            zf.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), data)
    return path
