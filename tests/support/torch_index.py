"""A loopback index laid out like the PyTorch wheel index beside a PyPI-like one.

``/simple/<project>/`` is the main index (plain builds, numpy…); ``/whl/<variant>/<project>/``
holds the builds labelled ``+<variant>``, their files under ``/whl/<variant>/`` with the ``+``
URL-quoted (``torch-2.0.1%2Bcu118-…whl``), as the real one names them. Variants listed in
``metadata`` announce each wheel's core metadata (PEP 658/714) beside it; the others only serve
the wheels. The fake torch releases carry the same facts as the real ones: torchvision and
torchaudio pin the public torch version exactly, each release has its own Requires-Python, a
torch refuses to import beside numpy 2 below 2.3, and a partner refuses a torch of another
variant.

    with torch_index(tmp_path, [*family("2.0.1", "cu118"), numpy("1.26.4")]) as index:
        index.whl("cu118")  # http://127.0.0.1:PORT/whl/cu118/
"""

from __future__ import annotations

import hashlib
import html
import threading
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import quote, unquote

from packaging.utils import canonicalize_name
from packaging.version import Version

from depbot.demo.index_server import serving
from tests.support.wheels import Dist, build_wheel

__all__ = ["TorchIndex", "family", "numpy", "torch_index"]

# torch → (torchvision, torchaudio, Requires-Python): the real pairings (research note §1)
PAIRS = {
    "2.0.1": ("0.15.2", "2.0.2", ">=3.8.0"),
    "2.1.0": ("0.16.0", "2.1.0", ">=3.8.0"),
    "2.1.2": ("0.16.2", "2.1.2", ">=3.8.0"),
    "2.3.0": ("0.18.0", "2.3.0", ">=3.8.0"),
    "2.6.0": ("0.21.0", "2.6.0", ">=3.9.0"),
    "2.7.1": ("0.22.1", "2.7.1", ">=3.9.0"),
    "2.8.0": ("0.23.0", "2.8.0", ">=3.9.0"),
    "2.9.0": ("0.24.0", "2.9.0", ">=3.10"),
}
_CUDA = {"cu118": "11.8", "cu121": "12.1", "cu126": "12.6"}


def _torch_module(version: str) -> str:
    public, _, label = version.partition("+")
    cuda = _CUDA.get(label)
    below = tuple(int(p) for p in public.split(".")[:2]) < (2, 3)
    return (
        f"__version__ = {version!r}\n"
        "class version:\n"
        f"    cuda = {cuda!r}\n"
        "try:\n"
        "    import numpy\n"
        "except ImportError:\n"
        "    numpy = None\n"
        f"if numpy is not None and {below} and int(numpy.__version__.split('.')[0]) >= 2:\n"
        "    raise ImportError('A module that was compiled using NumPy 1.x cannot be run in'\n"
        f"                      ' NumPy ' + numpy.__version__ + ' (torch {version})')\n"
        "OK = True\n"
    )


def _partner_module(name: str, version: str) -> str:
    label = version.partition("+")[2]
    return (
        "import torch\n"
        f"__version__ = {version!r}\n"
        f"if torch.__version__.partition('+')[2] != {label!r}:\n"
        f"    raise ImportError('{name} {version} cannot run on torch ' + torch.__version__)\n"
        "OK = True\n"
    )


def family(torch: str, label: str | None, requires_python: str | None = None) -> list[Dist]:
    """torch, torchvision and torchaudio of one release, built ``+label`` (None: plain)."""
    vision, audio, python = PAIRS[torch]
    python = requires_python or python
    suffix = f"+{label}" if label else ""
    dists = [
        Dist(
            "torch",
            torch + suffix,
            (),
            python,
            {"torch/__init__.py": _torch_module(torch + suffix)},
        )
    ]
    for name, version in (("torchvision", vision), ("torchaudio", audio)):
        module = {f"{name}/__init__.py": _partner_module(name, version + suffix)}
        dists.append(Dist(name, version + suffix, (f"torch=={torch}",), python, module))
    return dists


def numpy(version: str) -> Dist:
    return Dist(
        "numpy", version, (), ">=3.9", {"numpy/__init__.py": f"__version__ = {version!r}\n"}
    )


@dataclass
class TorchIndex:
    """The running index; tests may add releases between runs."""

    root: Path
    url: str = ""
    """``http://127.0.0.1:PORT``"""
    main: dict[str, list[Dist]] = field(default_factory=dict)
    variants: dict[str, dict[str, list[Dist]]] = field(default_factory=dict)
    metadata: frozenset[str] = frozenset({"cu118", "cu126"})
    """Variants whose pages announce PEP 658 metadata files."""
    hits: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def simple(self) -> str:
        return f"{self.url}/simple/"

    def whl(self, variant: str) -> str:
        return f"{self.url}/whl/{variant}/"

    def add(self, *dists: Dist) -> None:
        """Publishes ``dists``: a labelled version on its variant's index, the rest on main."""
        for d in dists:
            label = Version(d.version).local
            folder = self.root / (f"whl/{label}" if label else "files")
            build_wheel(d, folder)
            with self.lock:
                where = self.variants.setdefault(label, {}) if label else self.main
                where.setdefault(canonicalize_name(d.name), []).append(d)

    def page(self, variant: str | None, project: str) -> bytes | None:
        with self.lock:
            where = self.variants.get(variant, {}) if variant else self.main
            dists = list(where.get(project, ()))
        if not dists:
            return None
        links = []
        for d in dists:
            base = f"/whl/{variant}" if variant else "/files"
            data = (self.root / base.lstrip("/") / d.filename).read_bytes()
            attrs = f'href="{base}/{quote(d.filename)}#sha256={hashlib.sha256(data).hexdigest()}"'
            if d.requires_python:
                attrs += f' data-requires-python="{html.escape(d.requires_python)}"'
            if variant in self.metadata:
                digest = hashlib.sha256(_metadata(data)).hexdigest()
                attrs += f' data-dist-info-metadata="sha256={digest}"'
                attrs += f' data-core-metadata="sha256={digest}"'
            links.append(f"<a {attrs}>{html.escape(d.filename)}</a><br/>")
        return ("<!DOCTYPE html><html><body>\n" + "\n".join(links) + "\n</body></html>").encode()

    def file(self, path: str) -> bytes | None:
        """A wheel, or the core metadata beside it (``….whl.metadata``)."""
        wanted = self.root / path.lstrip("/")
        if path.endswith(".whl.metadata"):
            wheel = wanted.with_name(wanted.name[: -len(".metadata")])
            return _metadata(wheel.read_bytes()) if wheel.is_file() else None
        return wanted.read_bytes() if wanted.is_file() else None


def _metadata(wheel: bytes) -> bytes:
    import io

    with zipfile.ZipFile(io.BytesIO(wheel)) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        return zf.read(name)


def _handler(state: TorchIndex) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            path = unquote(self.path.split("?", 1)[0])
            with state.lock:
                state.hits[path] = state.hits.get(path, 0) + 1
            parts = [p for p in path.split("/") if p]
            body: bytes | None = None
            ctype = "text/html"
            if len(parts) == 2 and parts[0] == "simple":
                body = state.page(None, canonicalize_name(parts[1]))
            elif (
                len(parts) == 3
                and parts[0] == "whl"
                and not parts[2].endswith((".whl", ".metadata"))
            ):
                body = state.page(parts[1], canonicalize_name(parts[2]))
            elif parts[:1] in (["files"], ["whl"]):
                body, ctype = state.file(path), "application/octet-stream"
            if body is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@contextmanager
def torch_index(root: Path, dists: Iterable[Dist] = ()) -> Iterator[TorchIndex]:
    """Builds ``dists`` under ``root`` and serves them on 127.0.0.1 for the ``with`` block."""
    state = TorchIndex(root=root)
    state.add(*dists)
    with serving(_handler(state)) as port:
        state.url = f"http://127.0.0.1:{port}"
        yield state
