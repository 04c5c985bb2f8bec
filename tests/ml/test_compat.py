"""The built-in compatibility table against partner wheels' metadata, and the couplings."""

from __future__ import annotations

import contextlib
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from depbot.ml.compat import (
    ROWS,
    coupling_violations,
    partner_for,
    row_for,
    torch_for,
)
from depbot.ml.metadata import MetadataReader, http_fetch, torch_pin_of
from tests.support.torch_index import torch_index
from tests.support.wheels import Dist

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "ml" / "partner_metadata.txt"


def _wheels() -> list[tuple[str, str, str]]:
    found = []
    for line in FIXTURE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            wheel, requires = line.split("|")
            name, version = wheel.split()
            found.append((name, version, requires.strip()))
    return found


WHEELS = _wheels()


def test_the_table_agrees_with_the_partner_wheels_metadata_read_from_an_index(
    tmp_path: Path,
) -> None:
    # cu118 announces PEP 658 metadata files; cpu only serves the wheels, which are read
    dists = [Dist(n, f"{v}+cu118", (r,)) for n, v, r in WHEELS]
    dists += [Dist(n, f"{v}+cpu", (r,)) for n, v, r in WHEELS]
    with torch_index(tmp_path, dists) as index:
        reader = MetadataReader(http_fetch())
        for label in ("cu118", "cpu"):
            for name, version, requires in WHEELS:
                built = Version(f"{version}+{label}")
                derived = reader.torch_pin(index.whl(label), name, built)
                assert derived == Version(requires.partition("==")[2]), (name, version)
                assert torch_for(name, built) == derived, f"the table disagrees on {name}"
        metadata_reads = [p for p in index.hits if p.endswith(".metadata")]
        assert metadata_reads and all("/cu118/" in p for p in metadata_reads)
        assert any(p.startswith("/whl/cpu/") and p.endswith(".whl") for p in index.hits)


def test_an_unknown_wheel_or_index_answers_none(tmp_path: Path) -> None:
    with torch_index(tmp_path, [Dist("torchvision", "0.15.2+cu118", ("torch",))]) as index:
        reader = MetadataReader(http_fetch())
        # no exact pin, no such version, no such project, no such index
        assert reader.torch_pin(index.whl("cu118"), "torchvision", Version("0.15.2+cu118")) is None
        assert reader.torch_pin(index.whl("cu118"), "torchvision", Version("0.16.0+cu118")) is None
        assert reader.torch_pin(index.whl("cu118"), "torchaudio", Version("2.0.2+cu118")) is None
        assert reader.torch_pin("http://127.0.0.1:9/whl/", "torchaudio", Version("2.0.2")) is None


@pytest.mark.parametrize(
    ("metadata", "pin"),
    [
        ("Name: torchvision\nRequires-Dist: numpy\nRequires-Dist: torch==2.1.0\n", "2.1.0"),
        ("Name: x\nRequires-Dist: torch (==2.0.1)\n", "2.0.1"),
        ("Name: torchvision\nRequires-Dist: torch>=2.14.0\n", None),  # 0.29.1: not exact
        ("Name: torchaudio\n", None),  # 2.11.0 pins no torch
        ("Name: x\nRequires-Dist: torch==2.*\n", None),
        ("Name: x\nRequires-Dist: not a requirement!\n", None),
    ],
)
def test_torch_pin_of_metadata(metadata: str, pin: str | None) -> None:
    assert torch_pin_of(metadata) == (Version(pin) if pin else None)


def test_every_row_names_its_sources_and_ascends() -> None:
    assert [r.torch for r in ROWS] == sorted(r.torch for r in ROWS)
    assert all(r.source.startswith("S") for r in ROWS)
    assert row_for(Version("2.0.1+cu118")) is row_for(Version("2.0.1"))
    assert row_for(Version("9.9.9")) is None


def test_partners_follow_the_table() -> None:
    assert partner_for("TorchVision", Version("2.7.1+cu118")) == Version("0.22.1")
    assert partner_for("xformers", Version("2.0.1")) == Version("0.0.22")
    assert partner_for("torchaudio", Version("2.12.0")) is None  # no exact pin from 2.11
    assert partner_for("torchvision", Version("9.9")) is None
    assert torch_for("xformers", Version("0.0.20")) == Version("2.0.1")
    assert torch_for("triton", Version("3.3.1")) == Version("2.7.1")


def test_python_support_per_release() -> None:
    row = row_for(Version("2.0.1"))
    assert row is not None
    assert row.supports(Version("3.11")) and not row.supports(Version("3.12"))


@pytest.mark.parametrize(
    ("numpy", "torch", "broken"),
    [
        ("2.0.0", "2.1.0+cu118", True),
        ("2.1.0", "2.2.2", True),
        ("2.0.0", "2.3.0+cu121", False),
        ("1.26.4", "2.1.0", False),
        ("2.0.0rc1", "2.0.1", True),
    ],
)
def test_numpy_2_never_beside_torch_below_2_3(numpy: str, torch: str, broken: bool) -> None:
    pins = {canonicalize_name("numpy"): Version(numpy), canonicalize_name("torch"): Version(torch)}
    found = coupling_violations(pins)
    assert bool(found) is broken
    if broken:
        assert f"numpy {numpy} cannot be installed beside torch {torch}" in found[0]


def test_a_coupling_needs_both_packages() -> None:
    assert coupling_violations({canonicalize_name("numpy"): Version("2.0.0")}) == ()


class _Trickle(BaseHTTPRequestHandler):
    """Announces a big answer and sends it a few bytes at a time."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", "100000")
        self.end_headers()
        with contextlib.suppress(OSError):
            for _ in range(100):
                self.wfile.write(b"x" * 10)
                self.wfile.flush()
                time.sleep(0.05)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_wheel_sent_slowly_is_given_up_at_the_index_timeout() -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Trickle)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True).start()
    try:
        fetch = http_fetch(timeout=0.5)
        started = time.monotonic()
        with pytest.raises(OSError, match="index-timeout"):
            fetch(f"http://127.0.0.1:{httpd.server_address[1]}/x.whl", "*/*", 1 << 20)
        assert time.monotonic() - started < 2.0  # not the 5 s the server would take
    finally:
        httpd.shutdown()
        httpd.server_close()
